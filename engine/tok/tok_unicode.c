/* tok_unicode.c: the Unicode classes the split regexes need.
 * \p{L} and \p{N} come from generated range tables (tok_unicode_tables.h,
 * see tests/data/tok/gen_unicode_tables.py); \s is the White_Space property,
 * a short fixed list that regex engines (Oniguruma, Python's regex) use. */
#include "tok/tok_internal.h"
#include "tok/tok_unicode_tables.h"

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int rb_tok_is_letter(uint32_t cp)
{
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return in_ranges(rb_tok_letter_ranges, sizeof rb_tok_letter_ranges / sizeof rb_tok_letter_ranges[0], cp);
}

int rb_tok_is_number(uint32_t cp)
{
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(rb_tok_number_ranges, sizeof rb_tok_number_ranges / sizeof rb_tok_number_ranges[0], cp);
}

int rb_tok_is_space(uint32_t cp)
{
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return 0;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

const char *rb_tok_unicode_version(void)
{
    return RB_TOK_UNICODE_VERSION;
}
