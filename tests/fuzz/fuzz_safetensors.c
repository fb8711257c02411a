/* fuzz_safetensors.c: libFuzzer target for the safetensors reader. The
 * input is a whole file: it must either be refused with an error or yield
 * tensors that can all be looked up and converted without touching memory
 * outside the input. A "config" metadata entry (retrobench checkpoints) is
 * fed to rb_config_from_json, and an accepted config must survive
 * rb_config_to_json -> rb_config_from_json unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_safetensors *st = NULL;
    rb_error err = {0};
    if (rb_st_open_memory(&st, data, size, "fuzz", &err) != RB_OK) {
        if (!err.msg[0]) abort(); /* every refusal says why */
        return 0;
    }
    for (int i = 0; i < rb_st_count(st); i++) {
        const rb_st_tensor *t = rb_st_at(st, i);
        if (rb_st_find(st, t->name) != t) abort();
        if (t->end > t->begin && t->numel * rb_st_dtype_size(t->dtype) != t->end - t->begin)
            abort();
        /* Touch every byte the reader hands out. */
        const uint8_t *p = rb_st_data(st, t);
        uint8_t sum = 0;
        for (uint64_t k = t->begin; k < t->end; k++) sum ^= p[k - t->begin];
        __asm__ volatile("" : : "r"(sum)); /* keep the reads */
        if (t->numel <= ((uint64_t)1 << 24)) {
            float *f = malloc(t->numel * sizeof *f + 1);
            if (f) {
                rb_status rc = rb_st_read_f32(st, t, f, &err);
                if (rc == RB_OK && t->dtype != RB_ST_F32 && t->dtype != RB_ST_F16 &&
                    t->dtype != RB_ST_BF16)
                    abort();
                free(f);
            }
        }
        (void)rb_st_f32_view(st, t);
    }
    for (int i = 0; i < rb_st_metadata_count(st); i++) {
        const char *k = rb_st_metadata_key(st, i);
        if (rb_st_metadata_get(st, k) == NULL) abort();
    }
    const char *cj = rb_st_metadata_get(st, "config");
    rb_config c, back;
    if (cj && rb_config_from_json(cj, &c, "fuzz", &err) == RB_OK) {
        char *j = rb_config_to_json(&c);
        if (!j) abort();
        if (rb_config_from_json(j, &back, "fuzz", &err) != RB_OK) abort();
        if (memcmp(&c, &back, sizeof c) != 0) abort();
        free(j);
    }
    rb_st_close(st);
    return 0;
}
