/* lua_data.c: training data from Lua: rb.pack tokenizes text or JSONL
 * (with a template) with a model's tokenizer and packs it into rows of
 * T + 1 ids, exactly as `retrobench data` does (the same file, byte for
 * byte); rb.data_info reads a token file's header. Mixtures and phases are
 * recipe settings (data = {{path, weight}, ...}, phases = {...}). */
#include "lua_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rb_data.h"
#include "rb_tokenizer.h"

typedef struct {
    rb_tokenizer *own;   /* a tokenizer file read here */
    rb_loaded_model lm;  /* a model file read for its tokenizer (headers only) */
    rb_packer *pk;
} pack_res;

static int pack_gc(lua_State *L)
{
    pack_res *r = lua_touserdata(L, 1);
    if (r->pk) rb_packer_abort(r->pk);
    r->pk = NULL;
    rb_tokenizer_free(r->own);
    r->own = NULL;
    rb_loaded_model_free(&r->lm);
    return 0;
}

/* The tokenizer of a model userdata, or of a file: a tokenizer file
 * (tokenizer.json, tokenizer.bin) or any model file carrying one. */
static const rb_tokenizer *tokenizer_arg(lua_State *L, const char *fn, int idx, pack_res *r)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        lh_model *mm = lh_check_model(L, idx, fn);
        const rb_tokenizer *t = lh_model_tok(mm);
        if (!t) lh_error(L, "%s: the model carries no tokenizer; load it with tokenizer = FILE", fn);
        return t;
    }
    const char *path = lua_tostring(L, idx);
    rb_error err = {0};
    struct stat sb;
    if (stat(path, &sb) != 0) lh_error(L, "%s: %s: no such file or folder", fn, path);
    rb_model_format f = rb_detect_format(path);
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && f == RB_FORMAT_LLAMA2C &&
        rb_tokenizer_load_llama2c(&r->own, path, 0, NULL) == RB_OK) {
        rb_tokenizer_set_special(r->own, 1, 2);
        return r->own;
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && f == RB_FORMAT_UNKNOWN) {
        if (rb_tokenizer_load_file(&r->own, path, &err) != RB_OK) lh_engine_error(L, fn, &err);
        return r->own;
    }
    rb_load_opts lo = {.headers_only = 1};
    if (rb_model_file_load(path, &lo, &r->lm, &err) != RB_OK) lh_engine_error(L, fn, &err);
    if (!r->lm.tok) lh_error(L, "%s: %s carries no tokenizer; give a tokenizer file", fn, path);
    return r->lm.tok;
}

static rb_status encode_cb(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, rb_error *err)
{
    return rb_tokenizer_encode((const rb_tokenizer *)ctx, text, len, 0, ids, n, err);
}

typedef struct {
    lua_State *L;
    double last;
    const char *what;
} progress_ctx;

static int progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    progress_ctx *p = ctx;
    double t = lh_now();
    if (t - p->last >= 0.2 || done == total) {
        p->last = t;
        lh_progress(p->L, "rb.pack: %s %.1f%% of %.1f MiB", p->what, total ? 100.0 * (double)done / (double)total : 100.0,
                    (double)total / 1048576.0);
    }
    return lh_stop_value(p->L) != 0; /* Ctrl-C or a budget: ingestion stops, nothing is written */
}

static void sets(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}
static void seti(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static int l_pack(lua_State *L)
{
    const char *fn = "rb.pack";
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    static const char *const known[] = {"tokenizer", "out", "seq", "text", "jsonl", "separator", "field",
                                        "template", "max_docs", "strip", "pad", NULL};
    lh_check_keys(L, 1, fn, known);
    const char *out = lh_opt_str(L, 1, fn, "out", NULL);
    const lua_Integer seq = lh_opt_int(L, 1, fn, "seq", 0, 1, 1 << 22);
    const char *text = lh_opt_str(L, 1, fn, "text", NULL);
    const char *jsonl = lh_opt_str(L, 1, fn, "jsonl", NULL);
    const char *sep = lh_opt_str(L, 1, fn, "separator", NULL);
    const char *field = lh_opt_str(L, 1, fn, "field", NULL);
    const char *templ = lh_opt_str(L, 1, fn, "template", NULL);
    const lua_Integer max_docs = lh_opt_int(L, 1, fn, "max_docs", 0, 0, INT64_MAX);
    const int strip = lh_opt_bool(L, 1, fn, "strip", 1);
    const int pad = lh_opt_bool(L, 1, fn, "pad", 0);
    if (!out) lh_error(L, "%s: give out = FILE.rbtok", fn);
    if (!seq) lh_error(L, "%s: give seq = T (tokens per row; rows hold T + 1 ids)", fn);
    if (!!text == !!jsonl) lh_error(L, "%s: give exactly one of text = FILE or jsonl = FILE", fn);
    if (jsonl && !!field == !!templ)
        lh_error(L, "%s: jsonl needs exactly one of field = NAME or template = \"Q: {question}\\nA: {answer}\"", fn);
    if (text && (field || templ)) lh_error(L, "%s: field and template apply to jsonl files", fn);
    if (jsonl && sep) lh_error(L, "%s: separator splits text files; JSONL has one document per line", fn);
    lua_getfield(L, 1, "tokenizer");
    if (lua_isnil(L, -1)) lh_error(L, "%s: give tokenizer = a model or a tokenizer file", fn);
    pack_res *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, pack_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    const int res_idx = lua_gettop(L);
    const rb_tokenizer *tok = tokenizer_arg(L, fn, res_idx - 1, r);
    rb_error err = {0};
    /* the end-of-text marker the text uses, unless told (as `retrobench data`) */
    char eos_text[256] = "";
    if (text && !sep) {
        const char *ep = rb_tokenizer_eos(tok) >= 0 ? rb_tokenizer_piece(tok, rb_tokenizer_eos(tok)) : NULL;
        if (ep) {
            size_t a = strspn(ep, "\n"), b = strlen(ep);
            while (b > a && ep[b - 1] == '\n') b--;
            if (b - a < sizeof eos_text) snprintf(eos_text, sizeof eos_text, "%.*s", (int)(b - a), ep + a);
        }
        const char *cand[2] = {"<|endoftext|>", eos_text[0] && strcmp(eos_text, "<|endoftext|>") ? eos_text : NULL};
        uint64_t best = 0;
        for (int i = 0; i < 2 && cand[i]; i++) {
            uint64_t n = 0;
            if (rb_text_count(text, cand[i], &n, &err) != RB_OK) lh_engine_error(L, fn, &err);
            if (n > best) {
                best = n;
                sep = cand[i];
            }
        }
        if (sep)
            lh_log(L, LH_LOG_INFO, "%s: %s holds \"%s\" %llu times: splitting documents there (separator = \"\" keeps "
                                   "the file whole)", fn, text, sep, (unsigned long long)best);
        else
            lh_log(L, LH_LOG_INFO, "%s: %s holds no end-of-text marker: it is one document; give separator = S to "
                                   "split it", fn, text);
    }
    rb_pack_opts po = {.vocab_size = (uint32_t)rb_tokenizer_vocab_size(tok),
                       .row_len = (uint32_t)seq + 1,
                       .bos_id = rb_tokenizer_bos(tok),
                       .eos_id = rb_tokenizer_eos(tok),
                       .tail = pad ? RB_PACK_PAD : RB_PACK_DROP,
                       .pad_id = rb_tokenizer_eos(tok),
                       .tok_identity = rb_tokenizer_identity(tok)};
    progress_ctx pc = {L, 0, text ? text : jsonl};
    rb_ingest_opts io;
    rb_ingest_opts_default(&io);
    io.encode = encode_cb;
    io.encode_ctx = (void *)tok;
    io.progress = progress_cb;
    io.progress_ctx = &pc;
    io.separator = sep && sep[0] ? sep : NULL;
    io.field = field;
    io.templ = templ;
    io.strip = strip;
    io.max_docs = (uint64_t)max_docs;
    rb_ingest_stats is;
    rb_pack_stats ps;
    memset(&is, 0, sizeof is);
    rb_status st = rb_packer_open(&r->pk, out, &po, &err);
    if (st == RB_OK) st = text ? rb_ingest_text(text, &io, r->pk, &is, &err) : rb_ingest_jsonl(jsonl, &io, r->pk, &is, &err);
    lh_progress_end(L);
    if (st != RB_OK && r->pk) { /* the temporary file goes now; the output is untouched */
        rb_packer_abort(r->pk);
        r->pk = NULL;
    }
    if (st == RB_EINTERRUPTED && lh_stop_value(L)) lh_raise_stop(L, " during rb.pack (nothing was written)");
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    rb_packer_get_stats(r->pk, &ps);
    uint64_t rows = ps.stream_tokens / po.row_len + (pad && ps.stream_tokens % po.row_len ? 1 : 0);
    const char *in = text ? text : jsonl;
    if (rows == 0) {
        rb_packer_abort(r->pk);
        r->pk = NULL;
        if (is.bytes == 0) lh_error(L, "%s: %s is empty: no documents, no rows; nothing was written", fn, in);
        if (is.docs == 0)
            lh_error(L, "%s: %s: all %llu documents are empty (after stripping whitespace): no rows; nothing was "
                        "written", fn, in, (unsigned long long)is.skipped);
        lh_error(L, "%s: %s: its %llu tokens (%llu documents with BOS and EOS) do not fill one row of %lld ids: no "
                    "rows, nothing was written; use seq = %llu or less, more text, or pad = true", fn, in,
                 (unsigned long long)ps.stream_tokens, (unsigned long long)is.docs, (long long)seq + 1,
                 (unsigned long long)(ps.stream_tokens > 1 ? ps.stream_tokens - 1 : 1));
    }
    rb_packer *pk = r->pk;
    r->pk = NULL;
    if (rb_packer_finish(pk, &ps, &err) != RB_OK) lh_engine_error(L, fn, &err);
    char id[32];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)rb_tokenizer_identity(tok));
    lh_log(L, LH_LOG_INFO, "%s: %llu documents, %llu tokens -> %llu rows of %lld in %s", fn, (unsigned long long)is.docs,
           (unsigned long long)ps.stream_tokens, (unsigned long long)ps.rows, (long long)seq + 1, out);
    lua_createtable(L, 0, 10);
    sets(L, "path", out);
    seti(L, "rows", (lua_Integer)ps.rows);
    seti(L, "seq", seq);
    seti(L, "tokens", (lua_Integer)ps.written_tokens);
    seti(L, "docs", (lua_Integer)is.docs);
    seti(L, "skipped", (lua_Integer)is.skipped);
    seti(L, "dropped_tokens", (lua_Integer)ps.dropped_tokens);
    seti(L, "pad_tokens", (lua_Integer)ps.pad_tokens);
    seti(L, "vocab_size", po.vocab_size);
    sets(L, "identity", id);
    return 1;
}

/* rb.data_info(path): a token file's header */
static int l_data_info(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    rb_tokfile_info in;
    rb_error err = {0};
    if (rb_tokfile_read_info(path, &in, &err) != RB_OK) lh_engine_error(L, "rb.data_info", &err);
    char id[32];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)in.tok_identity);
    lua_createtable(L, 0, 8);
    sets(L, "path", path);
    seti(L, "version", in.version);
    seti(L, "vocab_size", in.vocab_size);
    seti(L, "row_len", in.row_len);
    seti(L, "seq", in.row_len ? in.row_len - 1 : 0);
    seti(L, "tokens", (lua_Integer)in.n_tokens);
    seti(L, "rows", (lua_Integer)in.n_rows);
    sets(L, "identity", in.tok_identity ? id : "unknown");
    return 1;
}

void lh_open_data(lua_State *L)
{
    static const luaL_Reg fns[] = {{"pack", l_pack}, {"data_info", l_data_info}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
