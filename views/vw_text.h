/* vw_text.h: UTF-8 text measured in terminal columns, for every pane.
 *
 * A codepoint's width comes from the C library's wcwidth (so it agrees with
 * ncursesw, which asks the same function): 2 for wide (CJK) characters, 0
 * for combining marks, 1 otherwise. Characters a terminal cannot show as
 * they are get a visible stand-in of width 1: control characters ('\n' as a
 * return arrow, others as '?'), invalid bytes as U+FFFD. In ASCII mode
 * (a locale that is not UTF-8) every non-ASCII character shows as '?'.
 *
 * UTF-8 mode needs a UTF-8 LC_CTYPE (setlocale), as wcwidth does. Pure
 * functions: no curses, no allocation. */
#ifndef VW_TEXT_H
#define VW_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decode the codepoint at s[0..len); returns the bytes it takes (>= 1 when
 * len >= 1, 0 when len == 0). Malformed input yields U+FFFD for one byte. */
int vw_utf8_next(const char *s, size_t len, uint32_t *cp);

/* Encode cp into out (4 bytes of room); returns the byte count. */
int vw_utf8_put(uint32_t cp, char *out);

/* The glyph a codepoint is shown as (UTF-8, NUL-terminated, <= 4 bytes) and
 * its width in columns (0, 1 or 2). */
int vw_glyph(uint32_t cp, int utf8, char out[5]);

/* Columns s[0..len) takes on screen. */
int vw_text_width(const char *s, size_t len, int utf8);

/* Length in bytes of the longest prefix of s that fits in `width` columns
 * (never splitting a character; combining marks stay with their base).
 * *cols (may be NULL) receives the columns that prefix takes. */
size_t vw_text_fit(const char *s, size_t len, int width, int utf8, int *cols);

/* Copy at most `width` columns of s into out (cap bytes, NUL-terminated),
 * ending with an ellipsis when s had to be cut. Returns the columns used. */
int vw_text_ellipsize(const char *s, int width, int utf8, char *out, size_t cap);

/* A line of wrapped text: bytes [begin, end) of the source. */
typedef struct {
    int begin, end;
} vw_span;

/* Break s into lines of at most `width` columns, at spaces where a word
 * fits, else inside the word. With nl_breaks, '\n' ends a line (and is not
 * part of it); without, it is shown as a glyph like any character. Stores
 * up to max_lines spans and returns the number of lines the whole text
 * needs (which may be larger). width < 1 gives 0 lines. */
int vw_text_wrap(const char *s, size_t len, int width, int utf8, int nl_breaks, vw_span *lines,
                 int max_lines);

/* Copy the UTF-8 text s into out (cap bytes) cut at a character boundary. */
void vw_copy_text(char *out, size_t cap, const char *s);

#endif
