/* rb_llama2c.h: the llama2.c checkpoint reader over bytes in memory, for
 * fuzzing and tests (rb_load_llama2c in rb_io.h reads files). */
#ifndef RB_LLAMA2C_H
#define RB_LLAMA2C_H

#include <stddef.h>

#include "rb_error.h"
#include "rb_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* rb_load_llama2c over size bytes at data; name is the source in messages.
 * No tokenizer is looked for beside it; opts->tokenizer_path still applies. */
rb_status rb_load_llama2c_memory(const void *data, size_t size, const char *name,
                                 const rb_load_opts *opts, rb_loaded_model *out, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
