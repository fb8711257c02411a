/* lua_results.c: results and files from Lua, under the project's output
 * rules (rb_output.h): rb.write_json, rb.write_csv and rb.write_text write
 * a whole file atomically (a temporary beside it, fsync, rename: an
 * interrupted script leaves the old file or the new one, never half);
 * rb.append_jsonl adds one line with one write; the readers read JSON,
 * JSONL and text; rb.mkdir, rb.exists, rb.log, rb.json, rb.time. The
 * script gets no io library (lua_env.c), so these are its files. */
#include "lua_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_output.h"

/* the whole file, as a Lua string on the stack */
static void push_file(lua_State *L, const char *fn, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) lh_error(L, "%s: %s: %s", fn, path, errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(sb.st_mode)) lh_error(L, "%s: %s is a folder, not a file", fn, path);
    FILE *f = fopen(path, "rb");
    if (!f) lh_error(L, "%s: cannot read %s: %s", fn, path, strerror(errno));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) lh_error(L, "%s: reading %s failed", fn, path);
    luaL_pushresult(&b);
}

static char *encode(lua_State *L, int idx, const char *fn, int pretty)
{
    cJSON *j = lh_to_json(L, idx, fn);
    char *text = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) lh_error(L, "%s: out of memory", fn);
    return text;
}

static int l_write_json(lua_State *L)
{
    const char *fn = "rb.write_json";
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    static const char *const known[] = {"pretty", NULL};
    lh_check_keys(L, 3, fn, known);
    int pretty = lh_opt_bool(L, 3, fn, "pretty", 1);
    char *text = encode(L, 2, fn, pretty);
    lua_pushfstring(L, "%s\n", text);
    free(text);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    lh_write_file(L, fn, path, s, n);
    return 0;
}

static int l_json(lua_State *L)
{
    luaL_checkany(L, 1);
    char *text = encode(L, 1, "rb.json", lua_toboolean(L, 2));
    lua_pushstring(L, text);
    free(text);
    return 1;
}

static int l_parse_json(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j) lh_error(L, "rb.parse_json: not JSON (at byte %lld)", (long long)(end ? end - s : 0));
    lh_push_json(L, j);
    cJSON_Delete(j);
    return 1;
}

static int l_read_json(lua_State *L)
{
    const char *fn = "rb.read_json";
    const char *path = luaL_checkstring(L, 1);
    push_file(L, fn, path);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j) {
        long long line = 1;
        for (const char *p = s; end && p < end; p++) line += *p == '\n';
        lh_error(L, "%s: %s is not JSON (line %lld)", fn, path, line);
    }
    lh_push_json(L, j);
    cJSON_Delete(j);
    return 1;
}

static int l_read_jsonl(lua_State *L)
{
    const char *fn = "rb.read_jsonl";
    const char *path = luaL_checkstring(L, 1);
    push_file(L, fn, path);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    lua_newtable(L);
    lua_Integer k = 0, line = 0;
    for (const char *p = s; p < s + n;) {
        const char *nl = memchr(p, '\n', (size_t)(s + n - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(s + n - p);
        line++;
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r')) i++;
        if (i < len) {
            cJSON *j = cJSON_ParseWithLength(p, len);
            if (!j) lh_error(L, "%s: %s: line %lld is not JSON", fn, path, (long long)line);
            lh_push_json(L, j);
            cJSON_Delete(j);
            lua_rawseti(L, -2, ++k);
        }
        p += len + (nl ? 1 : 0);
    }
    return 1;
}

static int l_append_jsonl(lua_State *L)
{
    const char *fn = "rb.append_jsonl";
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    char *text = encode(L, 2, fn, 0);
    lua_pushfstring(L, "%s\n", text);
    free(text);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    rb_error err = {0};
    if (rb_output_check(path, &err) != RB_OK) lh_engine_error(L, fn, &err);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) lh_error(L, "%s: cannot open %s: %s", fn, path, strerror(errno));
    /* one write: a line is whole in the file or absent */
    ssize_t w;
    do w = write(fd, s, n);
    while (w < 0 && errno == EINTR);
    int e = w < 0 ? errno : 0;
    close(fd);
    if (e || (size_t)w != n)
        lh_error(L, "%s: writing %s failed (%s%s%s)", fn, path, e ? strerror(e) : "short write",
                 e && rb_output_errno_hint(e)[0] ? ": " : "", e ? rb_output_errno_hint(e) : "");
    return 0;
}

static int l_write_text(lua_State *L)
{
    size_t n;
    const char *path = luaL_checkstring(L, 1);
    const char *s = luaL_checklstring(L, 2, &n);
    lh_write_file(L, "rb.write_text", path, s, n);
    return 0;
}

static int l_read_text(lua_State *L)
{
    push_file(L, "rb.read_text", luaL_checkstring(L, 1));
    return 1;
}

/* one CSV field as a string pushed on the stack (empty for nil) */
static void push_csv(lua_State *L, int idx, const char *fn, const char *col)
{
    char num[64];
    switch (lua_type(L, idx)) {
    case LUA_TNIL: lua_pushliteral(L, ""); return;
    case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false"); return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, idx));
        else lh_format_number(lua_tonumber(L, idx), num, sizeof num);
        lua_pushstring(L, num);
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        int quote = strpbrk(s, ",\"\n\r") != NULL || (n > 0 && (s[0] == ' ' || s[n - 1] == ' '));
        if (!quote) {
            lua_pushvalue(L, idx);
            return;
        }
        luaL_Buffer b; /* nothing else touches the stack while it is open */
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '"');
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"') luaL_addchar(&b, '"');
            luaL_addchar(&b, s[i]);
        }
        luaL_addchar(&b, '"');
        luaL_pushresult(&b);
        return;
    }
    default:
        lh_error(L, "%s: column %s holds a %s; CSV cells are numbers, strings or booleans", fn, col,
                 luaL_typename(L, idx));
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* rb.write_csv(path, rows [, {columns = {...}}]) */
static int l_write_csv(lua_State *L)
{
    const char *fn = "rb.write_csv";
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"columns", NULL};
    lh_check_keys(L, 3, fn, known);
    lua_settop(L, 3);
    lua_Integer nrows = luaL_len(L, 2);
    /* the columns: given, or every key of every row, sorted */
    lua_newtable(L);
    const int cols = lua_gettop(L);
    int ncol = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "columns");
        if (lua_istable(L, -1)) {
            lua_Integer n = luaL_len(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                if (lua_type(L, -1) != LUA_TSTRING) lh_error(L, "%s: columns[%lld] must be a string", fn, (long long)i);
                lua_rawseti(L, cols, ++ncol);
            }
        } else if (!lua_isnil(L, -1)) {
            lh_error(L, "%s: columns must be a list of column names", fn);
        }
        lua_pop(L, 1);
    }
    if (ncol == 0) {
        lua_newtable(L); /* set of names */
        const int seen = lua_gettop(L);
        const char *names[512];
        for (lua_Integer r = 1; r <= nrows; r++) {
            lua_rawgeti(L, 2, r);
            if (!lua_istable(L, -1)) lh_error(L, "%s: rows[%lld] must be a table (one row)", fn, (long long)r);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pop(L, 1);
                if (lua_type(L, -1) != LUA_TSTRING) lh_error(L, "%s: rows[%lld] has a key that is not a column name", fn, (long long)r);
                lua_pushvalue(L, -1);
                if (lua_rawget(L, seen) == LUA_TNIL) {
                    if (ncol == 512) lh_error(L, "%s: more than 512 columns", fn);
                    lua_pushvalue(L, -2);
                    lua_pushboolean(L, 1);
                    lua_rawset(L, seen);
                    names[ncol++] = lua_tostring(L, -2);
                }
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        qsort(names, (size_t)ncol, sizeof *names, cmp_str);
        for (int i = 0; i < ncol; i++) {
            lua_pushstring(L, names[i]);
            lua_rawseti(L, cols, i + 1);
        }
        lua_pop(L, 1);
    }
    /* the cells and separators as a list of strings, joined at the end */
    lua_newtable(L);
    const int parts = lua_gettop(L);
    lua_Integer np = 0;
    for (int c = 1; c <= ncol; c++) {
        lua_rawgeti(L, cols, c);
        push_csv(L, lua_gettop(L), fn, "header");
        lua_rawseti(L, parts, ++np);
        lua_pop(L, 1);
        lua_pushstring(L, c < ncol ? "," : "\n");
        lua_rawseti(L, parts, ++np);
    }
    for (lua_Integer r = 1; r <= nrows; r++) {
        lua_rawgeti(L, 2, r);
        if (!lua_istable(L, -1)) lh_error(L, "%s: rows[%lld] must be a table (one row)", fn, (long long)r);
        for (int c = 1; c <= ncol; c++) {
            lua_rawgeti(L, cols, c);
            const char *col = lua_tostring(L, -1);
            lua_pushvalue(L, -1);
            lua_gettable(L, -3);
            push_csv(L, lua_gettop(L), fn, col);
            lua_rawseti(L, parts, ++np);
            lua_pop(L, 2);
            lua_pushstring(L, c < ncol ? "," : "\n");
            lua_rawseti(L, parts, ++np);
        }
        lua_pop(L, 1);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; i <= np; i++) {
        lua_rawgeti(L, parts, i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    lh_write_file(L, fn, path, s, n);
    return 0;
}

/* mkdir -p */
static int l_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[4096];
    if (strlen(path) >= sizeof buf) lh_error(L, "rb.mkdir: the path is too long");
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            struct stat sb;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                lh_error(L, "rb.mkdir: cannot create %s: %s", buf, strerror(errno));
            if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
                lh_error(L, "rb.mkdir: %s exists and is not a folder", buf);
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

static int l_exists(lua_State *L)
{
    struct stat sb;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &sb) == 0);
    return 1;
}

static int l_log(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lh_log(L, LH_LOG_INFO, "%s", lua_tostring(L, -1));
    return 0;
}

static int l_time(lua_State *L)
{
    lua_pushnumber(L, lh_now());
    return 1;
}

void lh_open_results(lua_State *L)
{
    static const luaL_Reg fns[] = {{"write_json", l_write_json},   {"read_json", l_read_json},
                                   {"append_jsonl", l_append_jsonl}, {"read_jsonl", l_read_jsonl},
                                   {"write_csv", l_write_csv},     {"write_text", l_write_text},
                                   {"read_text", l_read_text},     {"json", l_json},
                                   {"parse_json", l_parse_json},   {"mkdir", l_mkdir},
                                   {"exists", l_exists},           {"log", l_log},
                                   {"time", l_time},               {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
