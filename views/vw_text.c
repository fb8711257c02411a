/* vw_text.c: see vw_text.h. */
#define _GNU_SOURCE /* wcwidth */
#include "vw_text.h"

#include <string.h>
#include <wchar.h>

int vw_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    if (len == 0) {
        *cp = 0;
        return 0;
    }
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if ((size_t)n > len) {
        *cp = 0xFFFD;
        return 1;
    }
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return n;
}

int vw_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int vw_glyph(uint32_t cp, int utf8, char out[5])
{
    if (cp == '\n') { /* a line break inside an answer stays visible */
        if (utf8) out[vw_utf8_put(0x21B5, out)] = '\0';
        else strcpy(out, "~");
        return 1;
    }
    if (cp == '\t') {
        strcpy(out, " ");
        return 1;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
        strcpy(out, "?");
        return 1;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = '\0';
        return 1;
    }
    if (!utf8) {
        strcpy(out, "?");
        return 1;
    }
    int w = wcwidth((wchar_t)cp);
    if (w < 0) { /* not printable here: the replacement character */
        out[vw_utf8_put(0xFFFD, out)] = '\0';
        return 1;
    }
    out[vw_utf8_put(cp, out)] = '\0';
    return w > 2 ? 2 : w;
}

int vw_text_width(const char *s, size_t len, int utf8)
{
    int w = 0;
    char g[5];
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)vw_utf8_next(s + i, len - i, &cp);
        w += vw_glyph(cp, utf8, g);
    }
    return w;
}

size_t vw_text_fit(const char *s, size_t len, int width, int utf8, int *cols)
{
    size_t i = 0;
    int w = 0;
    char g[5];
    while (i < len) {
        uint32_t cp;
        int n = vw_utf8_next(s + i, len - i, &cp);
        int cw = vw_glyph(cp, utf8, g);
        if (w + cw > width) break;
        w += cw;
        i += (size_t)n;
    }
    if (cols) *cols = w;
    return i;
}

int vw_text_ellipsize(const char *s, int width, int utf8, char *out, size_t cap)
{
    if (cap == 0) return 0;
    out[0] = '\0';
    if (width <= 0) return 0;
    size_t len = strlen(s);
    int cols;
    size_t n = vw_text_fit(s, len, width, utf8, &cols);
    if (n == len) {
        if (n >= cap) n = vw_text_fit(s, cap - 1, width, utf8, &cols);
        memcpy(out, s, n);
        out[n] = '\0';
        return cols;
    }
    /* cut: keep width - 1 columns and an ellipsis */
    const char *ell = utf8 ? "\xE2\x80\xA6" : "~";
    size_t el = strlen(ell);
    n = vw_text_fit(s, len, width - 1, utf8, &cols);
    if (n + el + 1 > cap) n = cap > el + 1 ? vw_text_fit(s, cap - el - 1, width - 1, utf8, &cols) : 0;
    memcpy(out, s, n);
    if (n + el + 1 <= cap) {
        memcpy(out + n, ell, el);
        n += el;
        cols += 1;
    }
    out[n] = '\0';
    return cols;
}

int vw_text_wrap(const char *s, size_t len, int width, int utf8, int nl_breaks, vw_span *lines,
                 int max_lines)
{
    if (width < 1) return 0;
    int count = 0;
    size_t i = 0;
    char g[5];
    while (i < len || count == 0) {
        size_t begin = i, brk = 0; /* brk: byte index of the last space on this line (0: none) */
        int w = 0, has_brk = 0;
        size_t end = i, next = i;
        for (;;) {
            if (i >= len) {
                end = next = i;
                break;
            }
            uint32_t cp;
            int n = vw_utf8_next(s + i, len - i, &cp);
            if (cp == '\n' && nl_breaks) {
                end = i;
                next = i + (size_t)n;
                break;
            }
            int cw = vw_glyph(cp, utf8, g);
            if (w + cw > width && i > begin) {
                if (has_brk && cp != ' ') {
                    end = brk;
                    next = brk + 1; /* the breaking space is dropped */
                } else {
                    end = i;
                    next = cp == ' ' ? i + 1 : i;
                }
                break;
            }
            if (cp == ' ' && i > begin) {
                brk = i;
                has_brk = 1;
            }
            w += cw;
            i += (size_t)n;
        }
        if (count < max_lines) {
            lines[count].begin = (int)begin;
            lines[count].end = (int)end;
        }
        count++;
        i = next;
        if (i >= len) break; /* a text ending in '\n' gets no empty last line */
    }
    return count;
}

void vw_copy_text(char *out, size_t cap, const char *s)
{
    if (cap == 0) return;
    size_t len = strlen(s), n = 0;
    while (n < len) {
        uint32_t cp;
        int k = vw_utf8_next(s + n, len - n, &cp);
        if (n + (size_t)k > cap - 1) break;
        n += (size_t)k;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}
