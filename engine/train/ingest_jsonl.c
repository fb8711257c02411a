/* ingest_jsonl.c: JSONL files into the packer: one object per line, the
 * document being one string field or a template over the line's fields. */
#include "train/ingest_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path;
    uint64_t line;
    const cJSON *obj;
} lookup_ctx;

/* String value of field `name` in the current line's object. */
static const char *field_value(const lookup_ctx *c, const char *name, size_t *len,
                               rb_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->obj, name);
    if (!v) {
        rb_fail(err, RB_EFORMAT, "%s: line %llu: field \"%s\" is missing", c->path,
                (unsigned long long)c->line, name);
        return NULL;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        rb_fail(err, RB_EFORMAT, "%s: line %llu: field \"%s\" is not a string", c->path,
                (unsigned long long)c->line, name);
        return NULL;
    }
    *len = strlen(v->valuestring);
    return v->valuestring;
}

static const char *template_lookup(void *ctx, const char *name, size_t name_len, size_t *len,
                                   rb_error *err)
{
    (void)name_len; /* template field names are NUL-terminated */
    return field_value(ctx, name, len, err);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

rb_status rb_ingest_jsonl(const char *path, const rb_ingest_opts *opts, rb_packer *pk,
                          rb_ingest_stats *stats, rb_error *err)
{
    rb_status st = rb_ingest_check_opts(path, opts, pk, err);
    if (st != RB_OK) return st;
    int has_field = opts->field && opts->field[0];
    int has_templ = opts->templ && opts->templ[0];
    if (has_field == has_templ)
        return rb_fail(err, RB_EINVAL,
                       "%s: JSONL ingestion needs exactly one of a field name or a template", path);
    rb_template *tpl = NULL;
    if (has_templ) {
        st = rb_template_parse(&tpl, opts->templ, err);
        if (st != RB_OK) {
            if (err) rb_fail_prefix(err, "%s: ", path);
            return st;
        }
    }
    const char *data;
    size_t size;
    st = rb_ingest_map(path, &data, &size, err);
    if (st != RB_OK) {
        rb_template_free(tpl);
        return st;
    }

    rb_ingest_run run = {.path = path, .o = opts, .pk = pk, .total = size};
    char *line = NULL; /* NUL-terminated copy for cJSON */
    size_t line_cap = 0;
    size_t pos = 0;
    uint64_t line_no = 0;
    char what[64];
    while (st == RB_OK && pos < size && !run.done) {
        const char *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - pos;
        line_no++;
        if (!blank(data + pos, len)) {
            if (len + 1 > line_cap) {
                size_t cap = line_cap ? line_cap : 4096;
                while (cap < len + 1) cap *= 2;
                char *nb = realloc(line, cap);
                if (!nb) {
                    st = rb_fail(err, RB_ENOMEM, "%s: line %llu: out of memory (%zu bytes)",
                                 path, (unsigned long long)line_no, len);
                    break;
                }
                line = nb;
                line_cap = cap;
            }
            memcpy(line, data + pos, len);
            line[len] = '\0';
            const char *parse_end = NULL;
            cJSON *obj = cJSON_ParseWithOpts(line, &parse_end, 1);
            if (!obj) {
                size_t at = parse_end ? (size_t)(parse_end - line) : 0;
                st = rb_fail(err, RB_EFORMAT, "%s: line %llu: invalid JSON near column %zu",
                             path, (unsigned long long)line_no, at + 1);
                break;
            }
            if (!cJSON_IsObject(obj)) {
                cJSON_Delete(obj);
                st = rb_fail(err, RB_EFORMAT, "%s: line %llu: not a JSON object", path,
                             (unsigned long long)line_no);
                break;
            }
            lookup_ctx lc = {.path = path, .line = line_no, .obj = obj};
            snprintf(what, sizeof what, "line %llu", (unsigned long long)line_no);
            if (has_field) {
                size_t vlen = 0;
                const char *v = field_value(&lc, opts->field, &vlen, err);
                st = v ? rb_ingest_emit(&run, v, vlen, what, err) : (err ? err->code : RB_EFORMAT);
            } else {
                char *doc = NULL;
                size_t dlen = 0;
                st = rb_template_render(tpl, template_lookup, &lc, &doc, &dlen, err);
                if (st == RB_OK) st = rb_ingest_emit(&run, doc, dlen, what, err);
                free(doc);
            }
            cJSON_Delete(obj);
        }
        pos = nl ? end + 1 : size;
        if (st == RB_OK) st = rb_ingest_progress(&run, pos, 0, err);
    }
    if (st == RB_OK) st = rb_ingest_progress(&run, run.done ? pos : size, 1, err);
    free(line);
    rb_ingest_unmap(data, size);
    rb_template_free(tpl);
    if (stats) *stats = run.st;
    return st;
}
