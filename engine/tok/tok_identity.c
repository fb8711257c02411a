/* tok_identity.c: the identity of a vocabulary, so that token files and
 * checkpoints can say which tokenizer made their ids.
 *
 * The identity is a 64-bit FNV-1a hash over
 *     u32le(n)  then, for every id 0..n-1:  u32le(len) piece bytes
 * where n is the vocabulary size and each piece is spelled canonically: the
 * way a Hugging Face tokenizer.json spells it. Most sources already do
 * (tokenizer.json, GGUF "llama" and "gpt2" vocabularies); llama2.c's
 * tokenizer.bin export differs in two ways that are undone here: it writes
 * SentencePiece's U+2581 as a plain space, and it writes BOS and EOS as
 * "\n<s>\n" and "\n</s>\n". So one vocabulary read from any of the three
 * formats has one identity, and two vocabularies with any piece moved,
 * changed, added or removed have different ones. Merge ranks and scores are
 * not part of it (two tokenizers that differ only there share an identity).
 *
 * FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) is not a
 * cryptographic hash: it catches mix-ups, not forgeries. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static const char META[] = "\xE2\x96\x81"; /* U+2581 */

size_t rb_tok_canonical_piece(const rb_tokenizer *t, int32_t id, char *out)
{
    const char *p = t->piece[id] ? t->piece[id] : "";
    size_t n = t->piece_len[id];
    if (t->model != RB_TOK_MODEL_SPM_SCORE || t->spm_meta) {
        memcpy(out, p, n);
        out[n] = 0;
        return n;
    }
    /* llama2.c's tokenizer.bin: "\n<s>\n" -> "<s>" for control pieces */
    if (t->type[id] == RB_TOKTYPE_CONTROL && n > 2 && p[0] == '\n' && p[n - 1] == '\n') {
        p++;
        n -= 2;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ') {
            memcpy(out + k, META, 3);
            k += 3;
        } else {
            out[k++] = p[i];
        }
    }
    out[k] = 0;
    return k;
}

typedef struct {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        f->h ^= p[i];
        f->h *= 0x100000001b3ull;
    }
}

static void fnv_u32(fnv *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fnv_bytes(f, b, 4);
}

uint64_t rb_tokenizer_identity(const rb_tokenizer *t)
{
    if (!t) return 0;
    fnv f = {0xcbf29ce484222325ull};
    fnv_u32(&f, (uint32_t)t->n);
    /* a canonical piece is at most 3x its raw bytes (space -> U+2581) */
    char small[3 * 256 + 1];
    char *buf = small;
    size_t cap = sizeof small;
    for (int i = 0; i < t->n; i++) {
        size_t need = 3 * (size_t)t->piece_len[i] + 1;
        if (need > cap) {
            char *nb = buf == small ? malloc(need) : realloc(buf, need);
            if (!nb) { /* pieces are at most 64 KiB: only a failing heap gets here */
                if (buf != small) free(buf);
                return 0;
            }
            buf = nb;
            cap = need;
        }
        size_t len = rb_tok_canonical_piece(t, i, buf);
        fnv_u32(&f, (uint32_t)len);
        fnv_bytes(&f, buf, len);
    }
    if (buf != small) free(buf);
    /* 0 means "unknown" in token files; a hash of 0 is moved off it */
    return f.h ? f.h : 1;
}
