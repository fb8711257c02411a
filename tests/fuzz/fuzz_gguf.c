/* fuzz_gguf.c: libFuzzer target for the GGUF reader on arbitrary bytes:
 * open and validate, walk every metadata entry and tensor through the
 * public accessors, convert small tensors, build the embedded tokenizer,
 * and load the whole file as a model. Any failure must come back as a
 * status with a one-line message naming the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_gguf.h"
#include "rb_io.h"
#include "rb_tokenizer.h"

#define NAME "fuzz.gguf"

static void check_message(rb_status st, const rb_error *err)
{
    if (st != RB_OK && (!strstr(err->msg, NAME) || strchr(err->msg, '\n'))) abort();
}

static void walk_metadata(const rb_gguf *g)
{
    char line[256];
    rb_error err;
    for (int64_t i = 0; i < rb_gguf_kv_count(g); i++) {
        const char *key = rb_gguf_kv_key(g, i);
        rb_gguf_kv_format(g, i, line, sizeof line);
        int64_t iv;
        double fv;
        int bv;
        const char *s;
        size_t n;
        rb_gguf_get_int(g, key, &iv, &err);
        rb_gguf_get_float(g, key, &fv, &err);
        rb_gguf_get_bool(g, key, &bv, &err);
        rb_gguf_get_string(g, key, &s, &n, &err);
        rb_gguf_type et;
        uint64_t cnt;
        if (rb_gguf_get_array(g, key, &et, &cnt, &err) != RB_OK || cnt == 0 || cnt > (1u << 20))
            continue;
        if (et == RB_GGUF_STRING) {
            const char **v = malloc(cnt * sizeof *v);
            size_t *l = malloc(cnt * sizeof *l);
            if (v && l) rb_gguf_get_string_array(g, key, v, l, cnt, &err);
            free(v);
            free(l);
        } else {
            float *f = malloc(cnt * sizeof *f);
            int32_t *k = malloc(cnt * sizeof *k);
            if (f) rb_gguf_get_f32_array(g, key, f, cnt, &err);
            if (k) rb_gguf_get_i32_array(g, key, k, cnt, &err);
            free(f);
            free(k);
        }
    }
}

static void walk_tensors(const rb_gguf *g)
{
    rb_error err;
    for (int64_t i = 0; i < rb_gguf_tensor_count(g); i++) {
        rb_gguf_tensor_info t;
        if (rb_gguf_tensor(g, i, &t) != 0) abort();
        if (rb_gguf_find_tensor(g, t.name) != i) abort();
        if (t.n_elements > (1 << 22)) continue;
        float *x = malloc((size_t)t.n_elements * sizeof *x);
        if (x) rb_gguf_tensor_to_f32(g, i, x, (size_t)t.n_elements, &err);
        free(x);
    }
}

static void use_tokenizer(const rb_gguf *g)
{
    rb_error err;
    rb_tokenizer *t = NULL;
    if (rb_gguf_tokenizer(g, &t, &err) != RB_OK || !t) return;
    static const char text[] = "Once upon a time, \xc3\xa9t\xc3\xa9 42!";
    int32_t *ids = NULL;
    size_t n = 0;
    if (rb_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &n, &err) == RB_OK) {
        char *back = NULL;
        size_t len = 0;
        if (rb_tokenizer_decode(t, ids, n, &back, &len, &err) == RB_OK) free(back);
        free(ids);
    }
    rb_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_error err = {0};
    rb_gguf *g = NULL;
    rb_status st = rb_gguf_open_memory(&g, data, size, NAME, &err);
    check_message(st, &err);
    if (st == RB_OK) {
        walk_metadata(g);
        walk_tensors(g);
        use_tokenizer(g);
        rb_gguf_close(g);
    }
    rb_loaded_model m;
    st = rb_load_gguf_memory(data, size, NAME, NULL, &m, &err);
    check_message(st, &err);
    if (st == RB_OK) rb_loaded_model_free(&m);
    return 0;
}
