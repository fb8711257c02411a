/* fuzz_tokenizer_llama2c.c: libFuzzer target for the llama2.c tokenizer.bin
 * loader on arbitrary bytes (read with vocab_size 0, "until the end"). A
 * failure must come back as a status with a one-line message naming the
 * input; a vocabulary that loads must encode a few texts (or refuse them
 * cleanly), give ids inside the vocabulary, and stream-decode them to the
 * same bytes as the one-shot decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_tokenizer.h"

#define NAME "fuzz.bin"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_error err = {0};
    rb_tokenizer *t = NULL;
    rb_status st = rb_tokenizer_load_llama2c_mem(&t, data, size, 0, NAME, &err);
    if (st != RB_OK) {
        if (t || !strstr(err.msg, NAME) || strchr(err.msg, '\n')) abort();
        return 0;
    }
    static const char *texts[] = {"", "a", "Once upon a time", " x  y\n", "\xF0\x9F\x98\x80 caf\xC3\xA9", "<0x41><s>"};
    int n = rb_tokenizer_vocab_size(t);
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int32_t *ids = NULL;
        size_t nid = 0, len = 0, slen = 0;
        if (rb_tokenizer_encode(t, texts[k], strlen(texts[k]), 0, &ids, &nid, &err) != RB_OK) {
            if (ids || nid || strchr(err.msg, '\n')) abort();
            continue;
        }
        for (size_t i = 0; i < nid; i++)
            if (ids[i] < 0 || ids[i] >= n) abort();
        char *text = NULL, *streamed = NULL;
        if (rb_tokenizer_decode(t, ids, nid, &text, &len, &err) != RB_OK) abort();
        rb_detok *d;
        if (rb_detok_create(&d, t, &err) != RB_OK) abort();
        for (size_t i = 0; i < nid; i++)
            if (rb_detok_push(d, ids[i], &streamed, &slen, &err) != RB_OK) abort();
        if (rb_detok_flush(d, &streamed, &slen, &err) != RB_OK) abort();
        if (slen != len || memcmp(streamed, text, len) != 0) abort();
        rb_detok_free(d);
        free(streamed);
        free(text);
        free(ids);
    }
    rb_tokenizer_free(t);
    return 0;
}
