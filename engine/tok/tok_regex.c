/* tok_regex.c: the GPT-2 and Llama-3 split regexes as hand-written scanners.
 *
 * Both patterns are an ordered alternation that matches at every position,
 * so splitting a text is: match at 0, then at the end of that match, and so
 * on. Each function below tries the alternatives in the pattern's order and
 * returns where the first one that succeeds ends, reproducing the regex
 * engine's backtracking for the two look-ahead/backtracking cases
 * (\s+(?!\S) and \s*[\r\n]+). */
#include <string.h>

#include "tok/tok_internal.h"

static const char PAT_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char PAT_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *rb_tok_regex_pattern(rb_tok_regex kind)
{
    switch (kind) {
    case RB_TOK_RE_GPT2: return PAT_GPT2;
    case RB_TOK_RE_LLAMA3: return PAT_LLAMA3;
    case RB_TOK_RE_QWEN2: return PAT_QWEN2;
    }
    return "";
}

rb_tok_regex rb_tok_regex_from_pattern(const char *pattern)
{
    if (!pattern) return 0;
    if (strcmp(pattern, PAT_GPT2) == 0) return RB_TOK_RE_GPT2;
    if (strcmp(pattern, PAT_LLAMA3) == 0) return RB_TOK_RE_LLAMA3;
    if (strcmp(pattern, PAT_QWEN2) == 0) return RB_TOK_RE_QWEN2;
    return 0;
}

/* Code point at p (or -1 at the end) and its byte count. */
static int64_t cp_at(const char *s, size_t len, size_t p, size_t *n)
{
    if (p >= len) { *n = 0; return -1; }
    return rb_tok_utf8_next(s + p, len - p, n);
}

static int is_L(int64_t c) { return c >= 0 && rb_tok_is_letter((uint32_t)c); }
static int is_N(int64_t c) { return c >= 0 && rb_tok_is_number((uint32_t)c); }
static int is_S(int64_t c) { return c >= 0 && rb_tok_is_space((uint32_t)c); }
/* [^\s\p{L}\p{N}] */
static int is_other(int64_t c) { return c >= 0 && !is_S(c) && !is_L(c) && !is_N(c); }

/* End of the run of characters of class cls starting at p. */
static size_t run_of(int (*cls)(int64_t), const char *s, size_t len, size_t p)
{
    size_t n;
    while (p < len && cls(cp_at(s, len, p, &n))) p += n;
    return p;
}

/* Case folding for (?i:...): ASCII letters, and U+017F LATIN SMALL LETTER
 * LONG S, which Unicode folds to 's' (Oniguruma, and so Hugging Face,
 * match an apostrophe + U+017F as the contraction "'s"). */
static uint32_t fold(uint32_t c, int icase)
{
    if (!icase) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, optionally ignoring case (the Llama-3 (?i:...)).
 * Returns the match end, or 0. */
static size_t contraction(const char *s, size_t len, size_t pos, int icase)
{
    if (s[pos] != '\'' || pos + 1 >= len) return 0;
    size_t na, nb = 0;
    uint32_t a = fold(rb_tok_utf8_next(s + pos + 1, len - pos - 1, &na), icase);
    uint32_t b = 0;
    if (pos + 1 + na < len) b = fold(rb_tok_utf8_next(s + pos + 1 + na, len - pos - 1 - na, &nb), icase);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 1 + na;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 1 + na + nb;
    return 0;
}

/* \s+(?!\S) then \s+: at a whitespace run, keep its last character for the
 * next match when a non-space follows (so " word" stays together), unless
 * the run is a single character. */
static size_t whitespace_tail(const char *s, size_t len, size_t pos)
{
    size_t p = pos, last = pos, n;
    while (p < len && is_S(cp_at(s, len, p, &n))) {
        last = p;
        p += n;
    }
    if (p >= len) return p;          /* run reaches the end: \s+(?!\S) takes it all */
    if (last > pos) return last;     /* backtrack one character */
    return p;                        /* single whitespace char before a non-space: \s+ */
}

static size_t match_gpt2(const char *s, size_t len, size_t pos)
{
    size_t n0, n1, e;
    int64_t c0 = cp_at(s, len, pos, &n0);
    if ((e = contraction(s, len, pos, 0))) return e;
    int64_t c1 = cp_at(s, len, pos + n0, &n1);
    size_t start = (c0 == ' ') ? pos + n0 : pos; /* the optional leading space */
    int64_t cs = (c0 == ' ') ? c1 : c0;
    if (is_L(cs)) return run_of(is_L, s, len, start);
    if (is_L(c0)) return run_of(is_L, s, len, pos);
    if (is_N(cs)) return run_of(is_N, s, len, start);
    if (is_other(cs)) return run_of(is_other, s, len, start);
    if (is_S(c0)) return whitespace_tail(s, len, pos);
    return pos + n0; /* unreachable: every character is L, N, S or other */
}

static size_t match_llama3(const char *s, size_t len, size_t pos, int max_digits)
{
    size_t n0, n1, e;
    int64_t c0 = cp_at(s, len, pos, &n0);
    if ((e = contraction(s, len, pos, 1))) return e;
    int64_t c1 = cp_at(s, len, pos + n0, &n1);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0 != '\r' && c0 != '\n' && !is_L(c0) && !is_N(c0) && is_L(c1))
        return run_of(is_L, s, len, pos + n0);
    if (is_L(c0)) return run_of(is_L, s, len, pos);
    /* \p{N}{1,max} */
    if (is_N(c0)) {
        size_t p = pos, n;
        for (int k = 0; k < max_digits && p < len && is_N(cp_at(s, len, p, &n)); k++) p += n;
        return p;
    }
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    size_t start = (c0 == ' ' && is_other(c1)) ? pos + n0 : pos;
    if (is_other(cp_at(s, len, start, &n1))) {
        size_t p = run_of(is_other, s, len, start);
        while (p < len && (s[p] == '\r' || s[p] == '\n')) p++;
        return p;
    }
    if (is_S(c0)) {
        /* \s*[\r\n]+: the whitespace run up to and including its last newline */
        size_t p = pos, n, after_nl = 0;
        while (p < len && is_S(cp_at(s, len, p, &n))) {
            if (s[p] == '\r' || s[p] == '\n') after_nl = p + 1;
            p += n;
        }
        if (after_nl) return after_nl;
        return whitespace_tail(s, len, pos);
    }
    return pos + n0;
}

size_t rb_tok_regex_match(rb_tok_regex kind, const char *s, size_t len, size_t pos)
{
    switch (kind) {
    case RB_TOK_RE_LLAMA3: return match_llama3(s, len, pos, 3);
    case RB_TOK_RE_QWEN2: return match_llama3(s, len, pos, 1);
    default: return match_gpt2(s, len, pos);
    }
}
