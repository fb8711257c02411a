/* fuzz_tokenizer_json.c: libFuzzer target for the tokenizer.json loader on
 * arbitrary bytes. A failure must come back as a status with a one-line
 * message naming the input and no tokenizer; a tokenizer that loads must
 * encode and decode a few texts without crashing, give ids inside its
 * vocabulary, and stream-decode to the same bytes as the one-shot decode;
 * writing it back as tokenizer.json (rb_tokenizer_to_json) must not crash.
 * With RB_FUZZ_STRICT=1 in the environment the written file must also read
 * back with the same size and identity, unless two ids share one piece (a
 * malformed file whose second id is unreachable and is left out). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_tokenizer.h"

#define NAME "fuzz.json"

static void exercise(const rb_tokenizer *t)
{
    static const char *texts[] = {"", "Hello world", " a  b\n\n12345 don't I'M", "\xF0\x9F\x98\x80 caf\xC3\xA9 \xE4\xBD\xA0",
                                  "<s>x</s><|endoftext|> \xE2\x96\x81 <0x41>", "\t\r\n  \xC2\xA0"};
    int n = rb_tokenizer_vocab_size(t);
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        rb_error err = {0};
        int32_t *ids = NULL;
        size_t nid = 0;
        if (rb_tokenizer_encode(t, texts[k], strlen(texts[k]), k & 1, &ids, &nid, &err) != RB_OK) {
            if (ids || nid || strchr(err.msg, '\n')) abort();
            continue;
        }
        for (size_t i = 0; i < nid; i++)
            if (ids[i] < 0 || ids[i] >= n) abort();
        char *text = NULL, *streamed = NULL;
        size_t len = 0, slen = 0;
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
    /* every id decodes (up to a bound, to keep iterations fast) */
    for (int32_t id = 0; id < n && id < 512; id++) {
        rb_error err = {0};
        char *text;
        size_t len;
        if (rb_tokenizer_decode(t, &id, 1, &text, &len, &err) != RB_OK) abort();
        free(text);
        if (!rb_tokenizer_piece(t, id)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_error err = {0};
    rb_tokenizer *t = NULL;
    rb_status st = rb_tokenizer_load_json_mem(&t, (const char *)data, size, NAME, &err);
    if (st != RB_OK) {
        if (t || !strstr(err.msg, NAME) || strchr(err.msg, '\n')) abort();
        return 0;
    }
    exercise(t);
    char *json = NULL;
    size_t jl = 0;
    if (rb_tokenizer_to_json(t, &json, &jl, &err) == RB_OK) {
        if (!json || strlen(json) != jl) abort();
        rb_tokenizer *back = NULL;
        if (rb_tokenizer_load_json_mem(&back, json, jl, NAME, &err) == RB_OK && getenv("RB_FUZZ_STRICT") &&
            (rb_tokenizer_vocab_size(back) != rb_tokenizer_vocab_size(t) ||
             rb_tokenizer_identity(back) != rb_tokenizer_identity(t))) {
            int dup = 0, n = rb_tokenizer_vocab_size(t);
            for (int i = 0; i < n && !dup && n < 2000; i++)
                for (int j = i + 1; j < n && !dup; j++)
                    dup = rb_tokenizer_piece(t, i)[0] && !strcmp(rb_tokenizer_piece(t, i), rb_tokenizer_piece(t, j));
            if (!dup) abort();
        }
        rb_tokenizer_free(back);
    }
    free(json);
    rb_tokenizer_free(t);
    return 0;
}
