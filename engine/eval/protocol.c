/* protocol.c: the text side of the GSM8K protocol (EVAL.md): exemplars and
 * prompt rendering, stop strings, answer extraction, normalisation,
 * scoring, FLOPs per answer and the per-depth tally (see rb_eval.h). */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "rb_data.h"
#include "rb_eval.h"

/* EVAL.md, byte for byte. */
const rb_eval_exemplar rb_eval_gsm8k_exemplars[8] = {
    {"There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they "
     "are done, there will be 21 trees. How many trees did the grove workers plant today?",
     "There are 15 trees originally. Then there were 21 trees after some more were planted. So there "
     "must have been 21 - 15 = 6. The answer is 6."},
    {"If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking "
     "lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."},
    {"Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left "
     "in total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After "
     "eating 35, they had 74 - 35 = 39. The answer is 39."},
    {"Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many "
     "lollipops did Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 "
     "- 12 = 8. The answer is 8."},
    {"Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys "
     "does he have now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. "
     "5 + 4 = 9. The answer is 9."},
    {"There were nine computers in the server room. Five more computers were installed each day, from "
     "monday to thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = "
     "20 computers were added. 9 + 20 is 29. The answer is 29."},
    {"Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How "
     "many golf balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After "
     "losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33."},
    {"Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - "
     "15 dollars left. 23 - 15 is 8. The answer is 8."},
};

void rb_eval_config_default(rb_eval_config *c)
{
    static const int depth1 = 1;
    memset(c, 0, sizeof *c);
    c->question_template = "Q: {question}\nA: Let's think step by step.";
    c->exemplar_template = "Q: {question}\nA: Let's think step by step. {target}\n\n";
    c->exemplars = rb_eval_gsm8k_exemplars;
    c->n_exemplars = 8;
    c->shots = 1;
    c->add_bos = 1;
    c->max_length = 1024;
    c->max_new = 256;
    c->stops[0] = "Q:";
    c->stops[1] = "</s>";
    c->stops[2] = "<|im_end|>";
    c->n_stops = 3;
    c->rules[0] = (rb_extract_rule){"flexible-extract", RB_EXTRACT_FLEXIBLE, NULL, -1};
    c->rules[1] = (rb_extract_rule){"strict-match", RB_EXTRACT_STRICT, NULL, 0};
    c->n_rules = 2;
    c->depths = &depth1;
    c->n_depths = 1;
    c->batch = 32;
    c->seed = 0;
}

/* ---------------- rendering ---------------- */

typedef struct {
    const char *question, *target;
} render_ctx;

static const char *render_lookup(void *ctx, const char *name, size_t name_len, size_t *len, rb_error *err)
{
    const render_ctx *r = ctx;
    (void)name_len;
    const char *v = !strcmp(name, "question") ? r->question : !strcmp(name, "target") ? r->target : NULL;
    if (!v) {
        rb_fail(err, RB_EINVAL, "eval template: unknown field {%s}; use {question} (and {target} in "
                                "the exemplar template)", name);
        return NULL;
    }
    *len = strlen(v);
    return v;
}

static rb_status render_one(const char *tmpl, const char *what, const char *q, const char *t, char **out,
                            size_t *len, rb_error *err)
{
    rb_template *tp = NULL;
    rb_status st = rb_template_parse(&tp, tmpl, err);
    if (st != RB_OK) return rb_fail_prefix(err, "eval %s template: ", what);
    render_ctx rc = {q, t};
    st = rb_template_render(tp, render_lookup, &rc, out, len, err);
    rb_template_free(tp);
    return st;
}

rb_status rb_eval_render(const rb_eval_config *c, const char *question, char **text, rb_error *err)
{
    *text = NULL;
    if (c->shots < 0 || c->shots > c->n_exemplars)
        return rb_fail(err, RB_EINVAL, "eval: %d shots but only %d exemplars; use --shots 0..%d or "
                                       "give more exemplars", c->shots, c->n_exemplars, c->n_exemplars);
    size_t cap = 1024, used = 0;
    char *buf = malloc(cap);
    if (!buf) return rb_fail(err, RB_ENOMEM, "eval: out of memory");
    for (int i = 0; i <= c->shots; i++) {
        char *piece = NULL;
        size_t plen = 0;
        rb_status st = i < c->shots
                           ? render_one(c->exemplar_template, "exemplar", c->exemplars[i].question,
                                        c->exemplars[i].target, &piece, &plen, err)
                           : render_one(c->question_template, "question", question, "", &piece, &plen, err);
        if (st != RB_OK) {
            free(buf);
            return st;
        }
        if (used + plen + 1 > cap) {
            while (used + plen + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(piece);
                free(buf);
                return rb_fail(err, RB_ENOMEM, "eval: out of memory");
            }
            buf = nb;
        }
        memcpy(buf + used, piece, plen);
        used += plen;
        free(piece);
    }
    buf[used] = '\0';
    *text = buf;
    return RB_OK;
}

/* ---------------- stops ---------------- */

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    return memmem(h, hn, n, nn);
}

size_t rb_eval_cut_stops(char *text, size_t len, const char *const *stops, int n_stops)
{
    for (int i = 0; i < n_stops; i++) {
        /* Python: "abc".split("") raises; an empty stop string is never configured */
        if (!stops[i] || !stops[i][0]) continue;
        const char *p = find_bytes(text, len, stops[i], strlen(stops[i]));
        if (p) len = (size_t)(p - text);
    }
    text[len] = '\0';
    return len;
}

long rb_eval_find_stop(const char *text, size_t len, const char *const *stops, int n_stops)
{
    long best = -1;
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) continue;
        const char *p = find_bytes(text, len, stops[i], strlen(stops[i]));
        if (p && (best < 0 || p - text < best)) best = (long)(p - text);
    }
    return best;
}

/* ---------------- extraction ---------------- */

struct rb_extractor {
    rb_extract_rule rule;
    int compiled;
    regex_t re;
};

rb_status rb_extractor_create(rb_extractor **out, const rb_extract_rule *rule, rb_error *err)
{
    *out = NULL;
    if (rule->select != 0 && rule->select != -1)
        return rb_fail(err, RB_EINVAL, "eval rule %s: select must be 0 (first match) or -1 (last)",
                       rule->name ? rule->name : "?");
    rb_extractor *x = calloc(1, sizeof *x);
    if (!x) return rb_fail(err, RB_ENOMEM, "eval: out of memory");
    x->rule = *rule;
    if (rule->kind == RB_EXTRACT_POSIX) {
        if (!rule->pattern) {
            free(x);
            return rb_fail(err, RB_EINVAL, "eval rule %s: no pattern", rule->name ? rule->name : "?");
        }
        int rc = regcomp(&x->re, rule->pattern, REG_EXTENDED | REG_NEWLINE);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &x->re, msg, sizeof msg);
            free(x);
            return rb_fail(err, RB_EINVAL, "eval rule %s: pattern '%s' is not a POSIX extended "
                                           "regular expression: %s", rule->name ? rule->name : "?",
                           rule->pattern, msg);
        }
        x->compiled = 1;
    } else if (rule->kind != RB_EXTRACT_FLEXIBLE && rule->kind != RB_EXTRACT_STRICT) {
        free(x);
        return rb_fail(err, RB_EINVAL, "eval rule: unknown kind %d", (int)rule->kind);
    }
    *out = x;
    return RB_OK;
}

void rb_extractor_free(rb_extractor *x)
{
    if (!x) return;
    if (x->compiled) regfree(&x->re);
    free(x);
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static int in_flex_class(char ch) { return is_digit(ch) || ch == '$' || ch == '.' || ch == ','; }
static int in_strict_class(char ch) { return is_digit(ch) || ch == '.' || ch == ','; }

static size_t run_of(const char *s, size_t n, size_t i, int (*cls)(char))
{
    size_t j = i;
    while (j < n && cls(s[j])) j++;
    return j - i;
}

/* Length of Python's match of (-?[$0-9.,]{2,})|(-?[0-9]+) starting at i
 * (0: none). Alternatives are tried in order; -? first takes the '-'. */
static size_t flex_match_at(const char *s, size_t n, size_t i)
{
    size_t dash = s[i] == '-';
    /* alternative 1 with '-' (or without when there is none; without the
     * '-' it cannot start on one, as '-' is not in the class) */
    size_t r = run_of(s, n, i + dash, in_flex_class);
    if (r >= 2) return dash + r;
    /* alternative 2 likewise */
    r = run_of(s, n, i + dash, is_digit);
    if (r >= 1) return dash + r;
    return 0;
}

/* Python's search for "The answer is (\-?[0-9\.\,]+)." from the start;
 * on success the group is [*g0, *g1). */
static int strict_search(const char *s, size_t n, size_t *g0, size_t *g1)
{
    static const char lit[] = "The answer is ";
    const size_t L = sizeof lit - 1;
    size_t from = 0;
    for (;;) {
        const char *p = find_bytes(s + from, n - from, lit, L);
        if (!p) return 0;
        size_t i = (size_t)(p - s), j = i + L;
        size_t dash = j < n && s[j] == '-';
        size_t r = run_of(s, n, j + dash, in_strict_class);
        if (r >= 1) {
            size_t end = j + dash + r;
            /* the final '.' takes one more character that is not '\n' */
            if (end < n && s[end] != '\n') {
                *g0 = j, *g1 = end;
                return 1;
            }
            /* else the run gives its last character back to the '.' (the
             * run's characters are never '\n') */
            if (r >= 2) {
                *g0 = j, *g1 = end - 1;
                return 1;
            }
            /* r == 1: dropping the '-' cannot help ('-' is not in the class) */
        }
        from = i + 1;
    }
}

static char *strip_dup(const char *s, size_t a, size_t b)
{
    /* Python's str.strip(): whitespace at both ends (ASCII whitespace and
     * the separators \x1c-\x1f; the extracted texts are ASCII) */
#define WS(ch) ((ch) == ' ' || ((ch) >= '\t' && (ch) <= '\r') || ((ch) >= '\x1c' && (ch) <= '\x1f'))
    while (a < b && WS(s[a])) a++;
    while (b > a && WS(s[b - 1])) b--;
#undef WS
    char *o = malloc(b - a + 1);
    if (!o) return NULL;
    memcpy(o, s + a, b - a);
    o[b - a] = '\0';
    return o;
}

static char *posix_extract(const rb_extractor *x, const char *text, size_t len)
{
    /* regexec needs a NUL-terminated string: work on a copy cut at the first NUL */
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, text, len);
    s[len] = '\0';
    len = strlen(s);
    const size_t ng = x->re.re_nsub;
    regmatch_t *m = calloc(ng + 1, sizeof *m);
    if (!m) {
        free(s);
        return NULL;
    }
    size_t pos = 0, best0 = 0, best1 = 0;
    int found = 0;
    while (pos <= len) {
        if (regexec(&x->re, s + pos, ng + 1, m, pos > 0 ? REG_NOTBOL : 0) != 0) break;
        /* the first non-empty group, or the whole match without groups */
        size_t a = (size_t)m[0].rm_so, b = (size_t)m[0].rm_eo;
        if (ng > 0) {
            a = b = (size_t)m[0].rm_so;
            for (size_t g = 1; g <= ng; g++)
                if (m[g].rm_so >= 0 && m[g].rm_eo > m[g].rm_so) {
                    a = (size_t)m[g].rm_so, b = (size_t)m[g].rm_eo;
                    break;
                }
        }
        best0 = pos + a, best1 = pos + b;
        found = 1;
        if (x->rule.select == 0) break;
        /* findall: continue after the match; an empty match moves one on */
        size_t adv = (size_t)m[0].rm_eo > 0 ? (size_t)m[0].rm_eo : 1;
        pos += adv;
    }
    char *out = found ? strip_dup(s, best0, best1) : strdup(RB_EVAL_INVALID);
    free(m);
    free(s);
    return out;
}

char *rb_extract(const rb_extractor *x, const char *text, size_t len)
{
    if (x->rule.kind == RB_EXTRACT_POSIX) return posix_extract(x, text, len);
    if (x->rule.kind == RB_EXTRACT_STRICT) {
        size_t g0, g1;
        /* only the first match matters for select 0; for select -1 the
         * last: matches cannot overlap a later "The answer is " start, so
         * scan on */
        if (x->rule.select == 0) return strict_search(text, len, &g0, &g1) ? strip_dup(text, g0, g1)
                                                                          : strdup(RB_EVAL_INVALID);
        size_t from = 0, b0 = 0, b1 = 0;
        int found = 0;
        while (from < len && strict_search(text + from, len - from, &g0, &g1)) {
            b0 = from + g0, b1 = from + g1;
            found = 1;
            /* the match ends one character after the group (the '.') */
            size_t end = from + g1;
            end += end < len ? 1 : 0;
            while (end < len && ((unsigned char)text[end] & 0xC0) == 0x80) end++; /* whole code point */
            from = end;
        }
        return found ? strip_dup(text, b0, b1) : strdup(RB_EVAL_INVALID);
    }
    /* flexible: findall, left to right, non-overlapping */
    size_t i = 0, b0 = 0, b1 = 0;
    int found = 0;
    while (i < len) {
        size_t k = flex_match_at(text, len, i);
        if (k) {
            b0 = i, b1 = i + k;
            found = 1;
            if (x->rule.select == 0) break;
            i += k;
        } else {
            i++;
        }
    }
    return found ? strip_dup(text, b0, b1) : strdup(RB_EVAL_INVALID);
}

/* ---------------- gold, normalisation, scoring ---------------- */

char *rb_eval_gold(const char *answer)
{
    const char *p = answer, *q;
    while ((q = strstr(p, "####")) != NULL) p = q + 4;
    return strip_dup(p, 0, strlen(p));
}

char *rb_eval_normalize(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) /* re.sub(",", ""), then re.sub("\\$", "") */
        if (s[i] != ',' && s[i] != '$') o[k++] = s[i];
    o[k] = '\0';
    /* (?s).*#### : everything up to and including the last "#### " */
    const char *last = NULL, *p = o, *q;
    while ((q = strstr(p, "#### ")) != NULL) {
        last = q;
        p = q + 1;
    }
    if (last) {
        size_t cut = (size_t)(last - o) + 5;
        memmove(o, o + cut, k - cut + 1);
        k -= cut;
    }
    /* \.$ : a '.' at the very end, or just before a final newline */
    if (k >= 1 && o[k - 1] == '.') {
        o[--k] = '\0';
    } else if (k >= 2 && o[k - 1] == '\n' && o[k - 2] == '.') {
        o[k - 2] = '\n';
        o[--k] = '\0';
    }
    for (size_t i = 0; i < k; i++)
        if (o[i] >= 'A' && o[i] <= 'Z') o[i] = (char)(o[i] - 'A' + 'a');
    return o;
}

int rb_eval_correct(const char *pred, const char *gold)
{
    char *a = rb_eval_normalize(pred), *b = rb_eval_normalize(gold);
    int r = (a && b) ? strcmp(a, b) == 0 : -1;
    free(a);
    free(b);
    return r;
}

/* ---------------- FLOPs ---------------- */

double rb_eval_answer_flops(const rb_config *c, int depth, int prompt_tokens, int new_tokens)
{
    const double h = c->dim, F = c->hidden_dim, Dq = rb_config_q_dim(c), Dqkv = rb_config_qkv_dim(c);
    const double block = Dqkv * h + Dq * h + 3.0 * F * h; /* qkv, o, gate|up, down */
    const int r = rb_config_is_recurrent(c) ? depth : 0;
    const double blocks = (double)c->n_prelude + (double)r * c->n_recur + c->n_coda;
    const double adapter = rb_config_is_recurrent(c) ? 2.0 * h * h * r : 0.0;
    const double per_token = 2.0 * (blocks * block + adapter);
    /* tokens run through the model: the prompt and every new token but the last */
    const int fed = prompt_tokens + (new_tokens > 0 ? new_tokens - 1 : 0);
    double att = 0;
    for (int p = 0; p < fed; p++) att += 4.0 * (p + 1) * Dq * blocks;
    return per_token * fed + att + 2.0 * (double)c->vocab_size * h * new_tokens;
}

/* ---------------- tally ---------------- */

typedef struct {
    int depth;
    int64_t n;
    int64_t correct[RB_EVAL_MAX_RULES];
    double new_tokens, prompt_tokens, flops;
} tally_row;

struct rb_eval_tally {
    int n_rules, count, cap;
    tally_row *rows;
};

rb_eval_tally *rb_eval_tally_create(int n_rules)
{
    if (n_rules < 0 || n_rules > RB_EVAL_MAX_RULES) return NULL;
    rb_eval_tally *t = calloc(1, sizeof *t);
    if (t) t->n_rules = n_rules;
    return t;
}

void rb_eval_tally_free(rb_eval_tally *t)
{
    if (!t) return;
    free(t->rows);
    free(t);
}

rb_status rb_eval_tally_add(rb_eval_tally *t, int depth, const int *correct, int new_tokens,
                            int prompt_tokens, double flops, rb_error *err)
{
    int i = 0;
    while (i < t->count && t->rows[i].depth < depth) i++;
    if (i == t->count || t->rows[i].depth != depth) {
        if (t->count == t->cap) {
            int nc = t->cap ? 2 * t->cap : 8;
            tally_row *nr = realloc(t->rows, (size_t)nc * sizeof *nr);
            if (!nr) return rb_fail(err, RB_ENOMEM, "eval tally: out of memory");
            t->rows = nr;
            t->cap = nc;
        }
        memmove(t->rows + i + 1, t->rows + i, (size_t)(t->count - i) * sizeof *t->rows);
        memset(&t->rows[i], 0, sizeof t->rows[i]);
        t->rows[i].depth = depth;
        t->count++;
    }
    tally_row *r = &t->rows[i];
    r->n++;
    for (int k = 0; k < t->n_rules; k++) r->correct[k] += correct[k] ? 1 : 0;
    r->new_tokens += new_tokens;
    r->prompt_tokens += prompt_tokens;
    r->flops += flops;
    return RB_OK;
}

int rb_eval_tally_count(const rb_eval_tally *t) { return t->count; }

void rb_eval_tally_get(const rb_eval_tally *t, int i, rb_eval_depth_summary *out)
{
    memset(out, 0, sizeof *out);
    if (i < 0 || i >= t->count) return;
    const tally_row *r = &t->rows[i];
    const double n = (double)r->n;
    out->depth = r->depth;
    out->n = r->n;
    for (int k = 0; k < t->n_rules; k++) {
        double p = n > 0 ? (double)r->correct[k] / n : NAN;
        out->accuracy[k] = p;
        /* sample variance of 0/1 scores with mean p: n p (1 - p) / (n - 1) */
        out->se[k] = n >= 2 ? sqrt(n * p * (1 - p) / (n - 1)) / sqrt(n) : NAN;
    }
    out->mean_new_tokens = n > 0 ? r->new_tokens / n : NAN;
    out->mean_prompt_tokens = n > 0 ? r->prompt_tokens / n : NAN;
    out->mean_flops = n > 0 ? r->flops / n : NAN;
}
