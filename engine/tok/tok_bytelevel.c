/* tok_bytelevel.c: GPT-2's byte <-> code point alphabet.
 * Byte-level BPE vocabularies spell every byte as a printable character:
 * bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves (as code
 * points), and the remaining 68 bytes map, in increasing order, to
 * U+0100, U+0101, ... (so a space is U+0120 'Ġ', a newline U+010A 'Ċ'). */
#include "tok/tok_internal.h"

static int printable_byte(int b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* Code point for byte b. The non-printable bytes are 0x00-0x20 (33 of
 * them), 0x7F-0xA0 (34) and 0xAD (1): numbered in that order from U+0100. */
static uint32_t byte_cp(unsigned char b)
{
    if (printable_byte(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33u + (uint32_t)(b - 0x7F);
    return 256u + 67u; /* 0xAD */
}

size_t rb_tok_bytelevel_encode(unsigned char b, char *out)
{
    return rb_tok_utf8_put(byte_cp(b), out);
}

int rb_tok_bytelevel_decode(uint32_t cp)
{
    if (cp < 256) return printable_byte((int)cp) ? (int)cp : -1;
    uint32_t k = cp - 256;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + (k - 33));
    if (k == 67) return 0xAD;
    return -1;
}
