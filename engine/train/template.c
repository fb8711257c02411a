/* template.c: "Q: {question}\nA: {answer}" style document templates for
 * JSONL ingestion (and prompt building): literal text with {field}
 * substitutions, "{{" and "}}" for literal braces. */
#include "rb_data.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int is_field;
    char *text; /* literal text or field name, NUL-terminated */
    size_t len;
} segment;

struct rb_template {
    segment *seg;
    int n_seg;
    int n_fields;
    char **fields; /* points into seg[].text */
};

void rb_template_free(rb_template *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_seg; i++) free(t->seg[i].text);
    free(t->seg);
    free(t->fields);
    free(t);
}

static rb_status add_segment(rb_template *t, int is_field, const char *s, size_t len,
                             rb_error *err)
{
    segment *ns = realloc(t->seg, (size_t)(t->n_seg + 1) * sizeof *ns);
    if (!ns) return rb_fail(err, RB_ENOMEM, "template: out of memory");
    t->seg = ns;
    char *txt = malloc(len + 1);
    if (!txt) return rb_fail(err, RB_ENOMEM, "template: out of memory");
    memcpy(txt, s, len);
    txt[len] = '\0';
    t->seg[t->n_seg].is_field = is_field;
    t->seg[t->n_seg].text = txt;
    t->seg[t->n_seg].len = len;
    t->n_seg++;
    if (is_field) t->n_fields++;
    return RB_OK;
}

rb_status rb_template_parse(rb_template **out, const char *text, rb_error *err)
{
    if (!out || !text) return rb_fail(err, RB_EINVAL, "template: NULL argument");
    *out = NULL;
    rb_template *t = calloc(1, sizeof *t);
    size_t n = strlen(text);
    char *lit = malloc(n + 1); /* literal run being collected (braces unescaped) */
    if (!t || !lit) {
        free(t);
        free(lit);
        return rb_fail(err, RB_ENOMEM, "template: out of memory");
    }
    size_t lit_len = 0;
    rb_status st = RB_OK;
    size_t i = 0;
    while (i < n && st == RB_OK) {
        char c = text[i];
        if (c == '{' && i + 1 < n && text[i + 1] == '{') {
            lit[lit_len++] = '{';
            i += 2;
        } else if (c == '}' && i + 1 < n && text[i + 1] == '}') {
            lit[lit_len++] = '}';
            i += 2;
        } else if (c == '{') {
            const char *close = memchr(text + i + 1, '}', n - i - 1);
            const char *open2 = memchr(text + i + 1, '{', n - i - 1);
            if (!close || (open2 && open2 < close)) {
                st = rb_fail(err, RB_EINVAL,
                             "template: '{' at offset %zu has no closing '}' (write {{ for a "
                             "literal brace)",
                             i);
                break;
            }
            size_t name_len = (size_t)(close - (text + i + 1));
            if (name_len == 0) {
                st = rb_fail(err, RB_EINVAL, "template: empty field name {} at offset %zu", i);
                break;
            }
            if (lit_len > 0) st = add_segment(t, 0, lit, lit_len, err);
            lit_len = 0;
            if (st == RB_OK) st = add_segment(t, 1, text + i + 1, name_len, err);
            i += name_len + 2;
        } else if (c == '}') {
            st = rb_fail(err, RB_EINVAL,
                         "template: '}' at offset %zu closes nothing (write }} for a literal "
                         "brace)",
                         i);
        } else {
            lit[lit_len++] = c;
            i++;
        }
    }
    if (st == RB_OK && lit_len > 0) st = add_segment(t, 0, lit, lit_len, err);
    free(lit);
    if (st == RB_OK && t->n_fields > 0) {
        t->fields = malloc((size_t)t->n_fields * sizeof *t->fields);
        if (!t->fields) st = rb_fail(err, RB_ENOMEM, "template: out of memory");
        for (int s = 0, k = 0; st == RB_OK && s < t->n_seg; s++)
            if (t->seg[s].is_field) t->fields[k++] = t->seg[s].text;
    }
    if (st != RB_OK) {
        rb_template_free(t);
        return st;
    }
    *out = t;
    return RB_OK;
}

int rb_template_n_fields(const rb_template *t) { return t->n_fields; }

const char *rb_template_field(const rb_template *t, int i)
{
    return i >= 0 && i < t->n_fields ? t->fields[i] : NULL;
}

rb_status rb_template_render(const rb_template *t, rb_template_lookup_fn lookup, void *ctx,
                             char **text, size_t *len, rb_error *err)
{
    if (!t || !text) return rb_fail(err, RB_EINVAL, "template: NULL argument");
    *text = NULL;
    size_t cap = 256, used = 0;
    char *buf = malloc(cap);
    if (!buf) return rb_fail(err, RB_ENOMEM, "template: out of memory");
    for (int s = 0; s < t->n_seg; s++) {
        const char *piece = t->seg[s].text;
        size_t plen = t->seg[s].len;
        if (t->seg[s].is_field) {
            if (!lookup) {
                free(buf);
                return rb_fail(err, RB_EINVAL, "template: field {%s} but no lookup function",
                               t->seg[s].text);
            }
            piece = lookup(ctx, t->seg[s].text, t->seg[s].len, &plen, err);
            if (!piece) {
                free(buf);
                if (err && err->code == RB_OK) err->code = RB_EINVAL;
                return err ? err->code : RB_EINVAL;
            }
        }
        if (used + plen + 1 > cap) {
            while (used + plen + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return rb_fail(err, RB_ENOMEM, "template: out of memory");
            }
            buf = nb;
        }
        memcpy(buf + used, piece, plen);
        used += plen;
    }
    buf[used] = '\0';
    *text = buf;
    if (len) *len = used;
    return RB_OK;
}
