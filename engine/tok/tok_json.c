/* tok_json.c: Hugging Face tokenizer.json (model.type "BPE") -> rb_tokenizer.
 *
 * Reads model.vocab, model.merges ("a b" strings split on U+0020 only, or
 * ["a","b"] pairs), byte_fallback / unk_token / fuse_unk / ignore_merges,
 * added_tokens, the normalizer (Prepend, Replace, Sequence), the
 * pre-tokenizer (ByteLevel, Split with the GPT-2 / Llama-3 / Qwen2 regex,
 * Digits, Metaspace, Sequence), the decoder (ByteLevel, Metaspace, Replace,
 * ByteFallback, Fuse, Strip, Sequence) and, from the post-processor, the
 * BOS that TemplateProcessing puts in front. Anything else fails with
 * RB_EUNSUPPORTED naming the field, rather than tokenizing differently. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

typedef struct {
    const char *src;
    rb_error *err;
    rb_tokenizer *t;
} jctx;

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static int jnull(const cJSON *x) { return !x || cJSON_IsNull(x); }

static rb_status jbool(jctx *c, const cJSON *o, const char *k, int def, int *out, const char *where)
{
    const cJSON *x = jget(o, k);
    *out = def;
    if (jnull(x)) return RB_OK;
    if (!cJSON_IsBool(x))
        return rb_fail(c->err, RB_EFORMAT, "%s: %s.%s must be true or false", c->src, where, k);
    *out = cJSON_IsTrue(x);
    return RB_OK;
}

/* Required string field. */
static rb_status jstr(jctx *c, const cJSON *o, const char *k, const char **out, const char *where)
{
    const cJSON *x = jget(o, k);
    *out = "";
    if (!cJSON_IsString(x) || !x->valuestring)
        return rb_fail(c->err, RB_EFORMAT, "%s: %s.%s must be a string", c->src, where, k);
    *out = x->valuestring;
    return RB_OK;
}

/* A non-negative integer id below the vocabulary limit. */
static rb_status jid(jctx *c, const cJSON *x, int *out, const char *what)
{
    *out = -1;
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0) || x->valuedouble >= RB_TOK_MAX_VOCAB ||
        x->valuedouble != floor(x->valuedouble))
        return rb_fail(c->err, RB_EFORMAT, "%s: %s must be an integer id in 0..%d", c->src, what,
                       RB_TOK_MAX_VOCAB - 1);
    *out = (int)x->valuedouble;
    return RB_OK;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static rb_status nomem(jctx *c) { return rb_fail(c->err, RB_ENOMEM, "%s: out of memory", c->src); }

/* ---------------- merges ---------------- */

static rb_status add_merge(jctx *c, const char *a, size_t al, const char *b, size_t bl, int rank)
{
    rb_tokenizer *t = c->t;
    int32_t ia = rb_tok_strmap_get(&t->vocab, a, al), ib = rb_tok_strmap_get(&t->vocab, b, bl);
    if (ia < 0 || ib < 0)
        return rb_fail(c->err, RB_EFORMAT, "%s: model.merges[%d]: piece \"%.*s\" is not in model.vocab",
                       c->src, rank, (int)(ia < 0 ? al : bl), ia < 0 ? a : b);
    char small[256];
    char *cat = al + bl <= sizeof small ? small : malloc(al + bl);
    if (!cat) return nomem(c);
    memcpy(cat, a, al);
    memcpy(cat + al, b, bl);
    int32_t m = rb_tok_strmap_get(&t->vocab, cat, al + bl);
    if (cat != small) free(cat);
    if (m < 0)
        return rb_fail(c->err, RB_EFORMAT, "%s: model.merges[%d]: the merged piece \"%.*s%.*s\" is not in "
                       "model.vocab", c->src, rank, (int)al, a, (int)bl, b);
    int fresh;
    return rb_tok_pairmap_put(&t->merges, ia, ib, rank, m, &fresh, c->err);
}

static rb_status read_merges(jctx *c, const cJSON *merges)
{
    if (jnull(merges)) return RB_OK;
    if (!cJSON_IsArray(merges))
        return rb_fail(c->err, RB_EFORMAT, "%s: model.merges must be an array", c->src);
    int rank = 0;
    rb_status st = RB_OK;
    for (const cJSON *m = merges->child; m && !st; m = m->next, rank++) {
        if (cJSON_IsString(m) && m->valuestring) {
            /* split on U+0020 only: pieces may hold U+00A0 and other spaces */
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return rb_fail(c->err, RB_EFORMAT, "%s: model.merges[%d] = \"%s\" must hold exactly one "
                               "space between its two pieces", c->src, rank, s);
            st = add_merge(c, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            st = add_merge(c, a, strlen(a), b, strlen(b), rank);
        } else {
            return rb_fail(c->err, RB_EFORMAT, "%s: model.merges[%d] must be a \"a b\" string or an "
                           "[\"a\", \"b\"] pair", c->src, rank);
        }
    }
    return st;
}

/* ---------------- normalizer ---------------- */

static rb_status read_normalizer(jctx *c, const cJSON *n, const char *where)
{
    rb_tokenizer *t = c->t;
    if (jnull(n)) return RB_OK;
    const char *type;
    rb_status st = jstr(c, n, "type", &type, where);
    if (st) return st;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = jget(n, "normalizers");
        if (!cJSON_IsArray(list))
            return rb_fail(c->err, RB_EFORMAT, "%s: %s.normalizers must be an array", c->src, where);
        for (const cJSON *x = list->child; x && !st; x = x->next) st = read_normalizer(c, x, where);
        return st;
    }
    if (t->n_norm >= RB_TOK_MAX_STEPS)
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: %s has more than %d steps", c->src, where, RB_TOK_MAX_STEPS);
    rb_tok_norm_op *op = &t->norm[t->n_norm];
    if (strcmp(type, "Prepend") == 0) {
        const char *p;
        if ((st = jstr(c, n, "prepend", &p, where))) return st;
        op->kind = RB_TOK_NORM_PREPEND;
        op->a_len = strlen(p);
        if (!(op->a = dupn(p, op->a_len))) return nomem(c);
        t->n_norm++;
        return RB_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        const cJSON *pat = jget(n, "pattern");
        const char *from, *to;
        if (jget(pat, "Regex"))
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: %s Replace with a Regex pattern is not supported "
                           "(only {\"String\": ...})", c->src, where);
        if ((st = jstr(c, pat, "String", &from, "normalizer Replace.pattern"))) return st;
        if ((st = jstr(c, n, "content", &to, where))) return st;
        if (!from[0])
            return rb_fail(c->err, RB_EFORMAT, "%s: %s Replace has an empty pattern", c->src, where);
        op->kind = RB_TOK_NORM_REPLACE;
        op->a_len = strlen(from);
        op->b_len = strlen(to);
        op->a = dupn(from, op->a_len);
        op->b = dupn(to, op->b_len);
        t->n_norm++; /* counted before the check so that free() sees both */
        if (!op->a || !op->b) return nomem(c);
        return RB_OK;
    }
    return rb_fail(c->err, RB_EUNSUPPORTED, "%s: %s type \"%s\" is not supported (Prepend, Replace, "
                   "Sequence, or null)", c->src, where, type);
}

/* ---------------- pre-tokenizer ---------------- */

static rb_status metaspace_params(jctx *c, const cJSON *p, const char *where, char *repl,
                                  size_t *repl_len, int *scheme)
{
    const char *r;
    rb_status st = jstr(c, p, "replacement", &r, where);
    if (st) return st;
    size_t n = strlen(r), cl;
    if (n == 0 || n > 4 || rb_tok_utf8_invalid_at(r, n) != n || (rb_tok_utf8_next(r, n, &cl), cl != n))
        return rb_fail(c->err, RB_EFORMAT, "%s: %s.replacement must be one character", c->src, where);
    memcpy(repl, r, n + 1);
    *repl_len = n;
    const cJSON *ps = jget(p, "prepend_scheme");
    if (cJSON_IsString(ps)) {
        if (strcmp(ps->valuestring, "always") == 0) *scheme = RB_TOK_PREPEND_ALWAYS;
        else if (strcmp(ps->valuestring, "first") == 0) *scheme = RB_TOK_PREPEND_FIRST;
        else if (strcmp(ps->valuestring, "never") == 0) *scheme = RB_TOK_PREPEND_NEVER;
        else
            return rb_fail(c->err, RB_EFORMAT, "%s: %s.prepend_scheme \"%s\" is not always/first/never",
                           c->src, where, ps->valuestring);
    } else {
        int aps; /* older files: add_prefix_space */
        if ((st = jbool(c, p, "add_prefix_space", 1, &aps, where))) return st;
        *scheme = aps ? RB_TOK_PREPEND_ALWAYS : RB_TOK_PREPEND_NEVER;
    }
    return RB_OK;
}

static rb_status read_pretok(jctx *c, const cJSON *p)
{
    static const char *where = "pre_tokenizer";
    rb_tokenizer *t = c->t;
    if (jnull(p)) return RB_OK;
    const char *type;
    rb_status st = jstr(c, p, "type", &type, where);
    if (st) return st;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = jget(p, "pretokenizers");
        if (!cJSON_IsArray(list))
            return rb_fail(c->err, RB_EFORMAT, "%s: pre_tokenizer.pretokenizers must be an array", c->src);
        for (const cJSON *x = list->child; x && !st; x = x->next) st = read_pretok(c, x);
        return st;
    }
    if (t->n_pre >= RB_TOK_MAX_STEPS)
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: pre_tokenizer has more than %d steps", c->src, RB_TOK_MAX_STEPS);
    rb_tok_pre_step *s = &t->pre[t->n_pre];
    memset(s, 0, sizeof *s);
    if (strcmp(type, "ByteLevel") == 0) {
        s->kind = RB_TOK_PRE_BYTELEVEL;
        if ((st = jbool(c, p, "add_prefix_space", 1, &s->add_prefix_space, where))) return st;
        if ((st = jbool(c, p, "use_regex", 1, &s->use_regex, where))) return st;
    } else if (strcmp(type, "Split") == 0) {
        const cJSON *pat = jget(p, "pattern");
        const char *re, *behavior;
        int invert;
        if ((st = jstr(c, pat, "Regex", &re, "pre_tokenizer Split.pattern")))
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: pre_tokenizer Split needs a {\"Regex\": ...} pattern",
                           c->src);
        if ((st = jstr(c, p, "behavior", &behavior, where))) return st;
        if ((st = jbool(c, p, "invert", 0, &invert, where))) return st;
        s->kind = RB_TOK_PRE_SPLIT;
        s->regex = rb_tok_regex_from_pattern(re);
        if (!s->regex)
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: pre_tokenizer Split regex \"%s\" is not one of the "
                           "known ones (GPT-2, Llama-3, Qwen2)", c->src, re);
        if (strcmp(behavior, "Isolated") != 0 || invert)
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: pre_tokenizer Split with behavior \"%s\"%s is not "
                           "supported (Isolated, invert false)", c->src, behavior, invert ? " inverted" : "");
    } else if (strcmp(type, "Digits") == 0) {
        s->kind = RB_TOK_PRE_DIGITS;
        if ((st = jbool(c, p, "individual_digits", 0, &s->individual, where))) return st;
    } else if (strcmp(type, "Metaspace") == 0) {
        s->kind = RB_TOK_PRE_METASPACE;
        if ((st = metaspace_params(c, p, where, s->repl, &s->repl_len, &s->prepend_scheme))) return st;
        if ((st = jbool(c, p, "split", 1, &s->split, where))) return st;
    } else {
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported (ByteLevel, "
                       "Split, Digits, Metaspace, Sequence, or null)", c->src, type);
    }
    t->n_pre++;
    return RB_OK;
}

/* ---------------- decoder ---------------- */

static rb_status add_dec_replace(jctx *c, const char *from, const char *to)
{
    rb_tokenizer *t = c->t;
    if (t->n_dec_replace >= RB_TOK_MAX_STEPS)
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: decoder has more than %d replacements", c->src, RB_TOK_MAX_STEPS);
    rb_tok_replace *r = &t->dec_replace[t->n_dec_replace++];
    r->from_len = strlen(from);
    r->to_len = strlen(to);
    r->from = dupn(from, r->from_len);
    r->to = dupn(to, r->to_len);
    if (!r->from || !r->to) return nomem(c);
    return RB_OK;
}

static rb_status read_decoder(jctx *c, const cJSON *d)
{
    static const char *where = "decoder";
    rb_tokenizer *t = c->t;
    if (jnull(d)) return RB_OK;
    const char *type;
    rb_status st = jstr(c, d, "type", &type, where);
    if (st) return st;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = jget(d, "decoders");
        if (!cJSON_IsArray(list))
            return rb_fail(c->err, RB_EFORMAT, "%s: decoder.decoders must be an array", c->src);
        for (const cJSON *x = list->child; x && !st; x = x->next) st = read_decoder(c, x);
        return st;
    }
    if (strcmp(type, "ByteLevel") == 0) { t->dec_bytelevel = 1; return RB_OK; }
    if (strcmp(type, "ByteFallback") == 0) { t->dec_bytes = 1; return RB_OK; }
    if (strcmp(type, "Fuse") == 0) return RB_OK; /* our output is one string anyway */
    if (strcmp(type, "Replace") == 0) {
        const char *from, *to;
        if ((st = jstr(c, jget(d, "pattern"), "String", &from, "decoder Replace.pattern")))
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: decoder Replace needs a {\"String\": ...} pattern", c->src);
        if ((st = jstr(c, d, "content", &to, where))) return st;
        if (!from[0]) return rb_fail(c->err, RB_EFORMAT, "%s: decoder Replace has an empty pattern", c->src);
        return add_dec_replace(c, from, to);
    }
    if (strcmp(type, "Strip") == 0) {
        const char *content;
        const cJSON *start = jget(d, "start"), *stop = jget(d, "stop");
        if ((st = jstr(c, d, "content", &content, where))) return st;
        if (strcmp(content, " ") != 0 || !cJSON_IsNumber(start) || !cJSON_IsNumber(stop) ||
            stop->valuedouble != 0 || start->valuedouble < 0 || start->valuedouble > 16)
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: decoder Strip is supported only for content \" \", "
                           "start 0..16 and stop 0", c->src);
        t->dec_strip = (int)start->valuedouble;
        return RB_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        char repl[8];
        size_t rl;
        int scheme;
        if ((st = metaspace_params(c, d, where, repl, &rl, &scheme))) return st;
        if (scheme != RB_TOK_PREPEND_NEVER) t->dec_strip = 1;
        return add_dec_replace(c, repl, " ");
    }
    return rb_fail(c->err, RB_EUNSUPPORTED, "%s: decoder type \"%s\" is not supported (ByteLevel, Metaspace, "
                   "Replace, ByteFallback, Fuse, Strip, Sequence, or null)", c->src, type);
}

/* ---------------- post-processor: BOS ---------------- */

static void read_post(jctx *c, const cJSON *p)
{
    rb_tokenizer *t = c->t;
    const cJSON *type = jget(p, "type");
    if (!cJSON_IsString(type)) return;
    if (strcmp(type->valuestring, "Sequence") == 0) {
        const cJSON *list = jget(p, "processors");
        if (cJSON_IsArray(list))
            for (const cJSON *x = list->child; x; x = x->next) read_post(c, x);
        return;
    }
    if (strcmp(type->valuestring, "TemplateProcessing") != 0) return;
    const cJSON *single = jget(p, "single");
    if (!cJSON_IsArray(single) || !single->child) return;
    const cJSON *first = jget(single->child, "SpecialToken");
    const cJSON *name = jget(first, "id");
    if (!cJSON_IsString(name)) return;
    const cJSON *entry = jget(jget(p, "special_tokens"), name->valuestring);
    const cJSON *ids = jget(entry, "ids");
    int id;
    if (cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == 1 && jid(c, ids->child, &id, "bos") == RB_OK &&
        id < t->n) {
        t->bos = id;
        t->add_bos = 1;
    }
}

/* ---------------- added tokens ---------------- */

static rb_status read_added(jctx *c, const cJSON *list, int *max_id)
{
    if (jnull(list)) return RB_OK;
    if (!cJSON_IsArray(list)) return rb_fail(c->err, RB_EFORMAT, "%s: added_tokens must be an array", c->src);
    int n = cJSON_GetArraySize(list);
    rb_tokenizer *t = c->t;
    t->added = calloc((size_t)(n ? n : 1), sizeof *t->added);
    if (!t->added) return nomem(c);
    int i = 0;
    rb_status st = RB_OK;
    for (const cJSON *x = list->child; x && !st; x = x->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        const char *content;
        int id, special, normalized, lstrip, rstrip, single_word;
        if (!cJSON_IsObject(x)) return rb_fail(c->err, RB_EFORMAT, "%s: %s must be an object", c->src, where);
        if ((st = jid(c, jget(x, "id"), &id, where))) return st;
        if ((st = jstr(c, x, "content", &content, where))) return st;
        if ((st = jbool(c, x, "special", 0, &special, where))) return st;
        if ((st = jbool(c, x, "normalized", !special, &normalized, where))) return st;
        if ((st = jbool(c, x, "lstrip", 0, &lstrip, where))) return st;
        if ((st = jbool(c, x, "rstrip", 0, &rstrip, where))) return st;
        if ((st = jbool(c, x, "single_word", 0, &single_word, where))) return st;
        rb_tok_added *a = &t->added[t->n_added++];
        a->len = strlen(content);
        if (!(a->content = dupn(content, a->len))) return nomem(c);
        a->id = id;
        a->special = (uint8_t)special;
        a->normalized = (uint8_t)normalized;
        a->lstrip = (uint8_t)lstrip;
        a->rstrip = (uint8_t)rstrip;
        a->single_word = (uint8_t)single_word;
        if (id > *max_id) *max_id = id;
    }
    return st;
}

/* Normalized contents for the normalized added tokens: run the normalizer
 * over a tiny tokenizer-less text by reusing the encode-time rules. */
static rb_status normalize_added(jctx *c)
{
    rb_tokenizer *t = c->t;
    for (int i = 0; i < t->n_added; i++) {
        rb_tok_added *a = &t->added[i];
        size_t n = a->len;
        char *cur = dupn(a->content, n);
        if (!cur) return nomem(c);
        for (int k = 0; k < t->n_norm && a->normalized; k++) {
            const rb_tok_norm_op *op = &t->norm[k];
            size_t cap = op->kind == RB_TOK_NORM_PREPEND ? n + op->a_len : n * (op->b_len + 1) + 1;
            char *nx = malloc(cap + 1);
            if (!nx) { free(cur); return nomem(c); }
            size_t m = 0;
            if (op->kind == RB_TOK_NORM_PREPEND) {
                if (n) { memcpy(nx, op->a, op->a_len); m = op->a_len; }
                memcpy(nx + m, cur, n);
                m += n;
            } else {
                for (size_t p = 0; p < n;) {
                    if (p + op->a_len <= n && memcmp(cur + p, op->a, op->a_len) == 0) {
                        memcpy(nx + m, op->b, op->b_len);
                        m += op->b_len;
                        p += op->a_len;
                    } else {
                        nx[m++] = cur[p++];
                    }
                }
            }
            nx[m] = 0;
            free(cur);
            cur = nx;
            n = m;
        }
        a->norm = cur;
        a->norm_len = n;
    }
    return RB_OK;
}

/* ---------------- the whole file ---------------- */

static const int NO_ID = -1;

static int find_added(const rb_tokenizer *t, const char *const *names, int special_only)
{
    for (int k = 0; names[k]; k++)
        for (int i = 0; i < t->n_added; i++)
            if ((!special_only || t->added[i].special) && strcmp(t->added[i].content, names[k]) == 0)
                return t->added[i].id;
    return NO_ID;
}

static rb_status build(jctx *c, const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return rb_fail(c->err, RB_EFORMAT, "%s: the top level must be a JSON object", c->src);
    const cJSON *model = jget(root, "model");
    if (!cJSON_IsObject(model))
        return rb_fail(c->err, RB_EFORMAT, "%s: no \"model\" object; not a Hugging Face tokenizer.json", c->src);
    const cJSON *mtype = jget(model, "type");
    const cJSON *vocab = jget(model, "vocab");
    if (cJSON_IsString(mtype) && strcmp(mtype->valuestring, "BPE") != 0)
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: model.type \"%s\" is not supported; retrobench reads "
                       "BPE tokenizers", c->src, mtype->valuestring);
    if (!jnull(mtype) && !cJSON_IsString(mtype))
        return rb_fail(c->err, RB_EFORMAT, "%s: model.type must be a string", c->src);
    if (jnull(mtype) && !jget(model, "merges"))
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: model has no \"type\" and no \"merges\"; only BPE "
                       "tokenizers are supported", c->src);
    if (!cJSON_IsObject(vocab))
        return rb_fail(c->err, RB_EFORMAT, "%s: model.vocab must be an object mapping pieces to ids", c->src);

    /* ids first: their range sizes everything */
    int n_vocab = 0, max_id = -1;
    for (const cJSON *x = vocab->child; x; x = x->next, n_vocab++) {
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0) || x->valuedouble >= RB_TOK_MAX_VOCAB ||
            x->valuedouble != floor(x->valuedouble))
            return rb_fail(c->err, RB_EFORMAT, "%s: model.vocab[\"%.40s\"] must be an integer id in 0..%d",
                           c->src, x->string ? x->string : "", RB_TOK_MAX_VOCAB - 1);
        int id = (int)x->valuedouble;
        if (id > max_id) max_id = id;
    }
    if (n_vocab == 0) return rb_fail(c->err, RB_EFORMAT, "%s: model.vocab is empty", c->src);

    /* a placeholder tokenizer holds the added tokens until the size is known */
    rb_tokenizer tmp;
    memset(&tmp, 0, sizeof tmp);
    c->t = &tmp;
    int max_added = -1;
    rb_status st = read_added(c, jget(root, "added_tokens"), &max_added);
    int n = (max_id > max_added ? max_id : max_added) + 1;
    if (!st && (size_t)n > 2 * ((size_t)n_vocab + (size_t)tmp.n_added) + 1024)
        st = rb_fail(c->err, RB_EFORMAT, "%s: ids reach %d but only %d pieces are defined; the vocabulary "
                     "would be mostly holes", c->src, n - 1, n_vocab + tmp.n_added);
    rb_tokenizer *t = NULL;
    if (!st) st = rb_tok_alloc(&t, n, c->src, c->err);
    if (st) {
        for (int i = 0; i < tmp.n_added; i++) free(tmp.added[i].content);
        free(tmp.added);
        c->t = NULL;
        return st;
    }
    t->added = tmp.added;
    t->n_added = tmp.n_added;
    c->t = t;
    t->model = RB_TOK_MODEL_BPE;

    /* pieces: vocabulary, then added tokens' contents for their ids */
    uint8_t *in_vocab = calloc((size_t)n, 1);
    if (!in_vocab) return nomem(c);
    for (const cJSON *x = vocab->child; x && !st; x = x->next) {
        int id = (int)x->valuedouble;
        const char *key = x->string ? x->string : "";
        if (in_vocab[id])
            st = rb_fail(c->err, RB_EFORMAT, "%s: model.vocab gives id %d to both \"%s\" and \"%s\"", c->src,
                         id, t->piece[id], key);
        else
            st = rb_tok_set_piece(t, id, key, strlen(key), c->err);
        in_vocab[id] = 1;
    }
    for (int i = 0; i < t->n_added && !st; i++) {
        rb_tok_added *a = &t->added[i];
        if (!in_vocab[a->id] || strcmp(t->piece[a->id], a->content) != 0)
            st = rb_tok_set_piece(t, a->id, a->content, a->len, c->err);
        t->type[a->id] = a->special ? RB_TOKTYPE_CONTROL : RB_TOKTYPE_USER_DEFINED;
    }
    for (int i = 0; i < n && !st; i++)
        if (in_vocab[i]) st = rb_tok_strmap_put(&t->vocab, t->piece[i], t->piece_len[i], i, NULL, c->err);
    for (int i = 0; i < n && !st; i++)
        if (!in_vocab[i] && t->type[i] == RB_TOKTYPE_NORMAL) t->type[i] = RB_TOKTYPE_UNUSED; /* a hole */
    free(in_vocab);
    if (st) return st;

    /* model options */
    const cJSON *x;
    if ((st = jbool(c, model, "byte_fallback", 0, &t->byte_fallback, "model"))) return st;
    if ((st = jbool(c, model, "fuse_unk", 0, &t->fuse_unk, "model"))) return st;
    if ((st = jbool(c, model, "ignore_merges", 0, &t->ignore_merges, "model"))) return st;
    x = jget(model, "dropout");
    if (!jnull(x) && !(cJSON_IsNumber(x) && x->valuedouble == 0))
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: model.dropout is set; BPE dropout is random and not "
                       "supported (set it to null)", c->src);
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        x = jget(model, affix[k]);
        if (!jnull(x) && !(cJSON_IsString(x) && x->valuestring[0] == 0))
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: model.%s is set; subword affixes are not supported",
                           c->src, affix[k]);
    }
    x = jget(model, "unk_token");
    if (cJSON_IsString(x)) {
        t->unk_id = rb_tok_strmap_get(&t->vocab, x->valuestring, strlen(x->valuestring));
        if (t->unk_id < 0)
            return rb_fail(c->err, RB_EFORMAT, "%s: model.unk_token \"%s\" is not in model.vocab", c->src,
                           x->valuestring);
        if (t->type[t->unk_id] == RB_TOKTYPE_NORMAL) t->type[t->unk_id] = RB_TOKTYPE_UNKNOWN;
    } else if (!jnull(x)) {
        return rb_fail(c->err, RB_EFORMAT, "%s: model.unk_token must be a string or null", c->src);
    }
    if (t->byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            int id = rb_tok_strmap_get(&t->vocab, name, 6);
            t->byte_id[b] = id;
            if (id >= 0 && t->type[id] == RB_TOKTYPE_NORMAL) t->type[id] = RB_TOKTYPE_BYTE;
        }
    }
    if ((st = read_merges(c, jget(model, "merges")))) return st;
    if ((st = read_normalizer(c, jget(root, "normalizer"), "normalizer"))) return st;
    if ((st = read_pretok(c, jget(root, "pre_tokenizer")))) return st;
    if ((st = read_decoder(c, jget(root, "decoder")))) return st;
    if ((st = normalize_added(c))) return st;
    rb_tok_finish_added(t);

    /* BOS from the post-processor template; otherwise the usual names */
    read_post(c, jget(root, "post_processor"));
    static const char *bos_names[] = {"<s>", "<|begin_of_text|>", "<|endoftext|>", NULL};
    static const char *eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", NULL};
    if (t->bos < 0) t->bos = find_added(t, bos_names, 1);
    t->eos = find_added(t, eos_names, 1);
    return RB_OK;
}

rb_status rb_tokenizer_load_json_mem(rb_tokenizer **out, const char *data, size_t len,
                                     const char *source, rb_error *err)
{
    if (!out) return rb_fail(err, RB_EINVAL, "rb_tokenizer_load_json_mem: out is NULL");
    *out = NULL;
    if (!source) source = "(tokenizer.json in memory)";
    if (!data || !len) return rb_fail(err, RB_EFORMAT, "%s: empty input; not a tokenizer.json", source);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        size_t off = (end && end >= data && end <= data + len) ? (size_t)(end - data) : 0;
        return rb_fail(err, RB_EFORMAT, "%s: JSON syntax error at byte offset %zu", source, off);
    }
    jctx c = {source, err, NULL};
    rb_status st = build(&c, root);
    cJSON_Delete(root);
    if (st) {
        rb_tokenizer_free(c.t);
        rb_tok_clean_msg(err);
        return st;
    }
    *out = c.t;
    return RB_OK;
}

rb_status rb_tokenizer_load_json(rb_tokenizer **out, const char *path, rb_error *err)
{
    if (!out || !path) return rb_fail(err, RB_EINVAL, "rb_tokenizer_load_json: NULL argument");
    *out = NULL;
    char *data;
    size_t len;
    rb_status st = rb_tok_read_file(path, &data, &len, err);
    if (st) return st;
    st = rb_tokenizer_load_json_mem(out, data, len, path, err);
    free(data);
    return st;
}
