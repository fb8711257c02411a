/* fuzz_llama2c.c: libFuzzer target for the llama2.c checkpoint reader on
 * arbitrary bytes. Any failure must come back as a status with a one-line
 * message naming the input; a success must describe a consistent model. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_llama2c.h"

#define NAME "fuzz.bin"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_error err = {0};
    rb_loaded_model m;
    rb_status st = rb_load_llama2c_memory(data, size, NAME, NULL, &m, &err);
    if (st != RB_OK) {
        if (!strstr(err.msg, NAME) || strchr(err.msg, '\n') || m.params) abort();
        return 0;
    }
    /* the parameters came from the file: never more floats than it holds */
    if (!m.params || m.n_params * sizeof(float) > size) abort();
    rb_loaded_model_free(&m);
    return 0;
}
