/* base64.c: RFC 4648 base64 (standard alphabet, '=' padding), used to keep
 * binary tokenizer files inside a checkpoint's __metadata__, whose values
 * must be JSON strings. */
#include <stdlib.h>
#include <string.h>

#include "io/tok_embed.h"

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *rb_base64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t out_len = (n + 2) / 3 * 4;
    char *o = malloc(out_len + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        o[k++] = ALPHA[v >> 18 & 63];
        o[k++] = ALPHA[v >> 12 & 63];
        o[k++] = i + 1 < n ? ALPHA[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? ALPHA[v & 63] : '=';
    }
    o[k] = 0;
    return o;
}

static int val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

rb_status rb_base64_decode(const char *s, unsigned char **out, size_t *n, const char *what,
                           rb_error *err)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(s);
    if (len % 4 != 0)
        return rb_fail(err, RB_EFORMAT, "%s: base64 text of %zu characters, not a multiple of 4; "
                       "the checkpoint's metadata is damaged", what, len);
    unsigned char *o = malloc(len / 4 * 3 + 1);
    if (!o) return rb_fail(err, RB_ENOMEM, "%s: out of memory decoding %zu base64 characters", what, len);
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        int a = val((unsigned char)s[i]), b = val((unsigned char)s[i + 1]);
        int last = i + 4 == len;
        int c = s[i + 2] == '=' && last ? -2 : val((unsigned char)s[i + 2]);
        int d = s[i + 3] == '=' && last ? -2 : val((unsigned char)s[i + 3]);
        if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2)) {
            free(o);
            return rb_fail(err, RB_EFORMAT, "%s: byte %zu is not base64; the checkpoint's metadata "
                           "is damaged", what, i);
        }
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
                     (uint32_t)(d < 0 ? 0 : d);
        o[k++] = (unsigned char)(v >> 16);
        if (c >= 0) o[k++] = (unsigned char)(v >> 8);
        if (d >= 0) o[k++] = (unsigned char)v;
    }
    *out = o;
    *n = k;
    return RB_OK;
}
