/* io_util.c: small file, path, number and JSON helpers shared by the
 * engine/io loaders (declared in io/safetensors.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"

int rb_io_join(char *dst, size_t cap, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int n = (dl > 0 && dir[dl - 1] == '/') ? snprintf(dst, cap, "%s%s", dir, name)
                                            : snprintf(dst, cap, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int rb_io_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int rb_io_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

void rb_io_dirname(const char *path, char *dst, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dst, cap, ".");
    else if (slash == path)
        snprintf(dst, cap, "/");
    else
        snprintf(dst, cap, "%.*s", (int)(slash - path), path);
}

rb_status rb_io_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                          rb_error *err)
{
    *out = NULL;
    if (len) *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rb_fail(err, RB_EIO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rb_fail(err, RB_EIO, "%s: not a regular file", path);
    }
    /* Size from the file system, never from the contents. */
    if ((uint64_t)sb.st_size > max_bytes) {
        close(fd);
        return rb_fail(err, RB_EFORMAT, "%s: %lld bytes, more than the %zu this file may have",
                       path, (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return rb_fail(err, RB_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            free(buf);
            return rb_fail(err, RB_EIO, "%s: read failed at byte %zu (%s)", path, got,
                           e ? strerror(e) : "file shrank while reading");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return RB_OK;
}

void rb_io_format_float(char *buf, size_t cap, float x)
{
    if (!isfinite(x)) {
        /* JSON has no spelling for these; callers validate before writing. */
        snprintf(buf, cap, "%s", isnan(x) ? "NaN" : (x > 0 ? "Infinity" : "-Infinity"));
        return;
    }
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, cap, "%.*g", digits, (double)x);
        if ((float)strtod(buf, NULL) == x) return;
    }
    snprintf(buf, cap, "%.17g", (double)x);
}

const char *rb_json_type_name(const cJSON *j)
{
    if (!j) return "missing";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an unknown JSON value";
}

char *rb_json_take_text(cJSON *o, int ok, int pretty)
{
    char *text = ok && o ? (pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o)) : NULL;
    cJSON_Delete(o);
    if (!text) return NULL;
    char *copy = strdup(text);
    cJSON_free(text);
    return copy;
}

int rb_json_is_int_in(const cJSON *j, double lo, double hi)
{
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    return isfinite(v) && v == floor(v) && v >= lo && v <= hi;
}
