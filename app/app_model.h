/* app_model.h: opening a model file for a command: load (any format),
 * create the backend and the model, upload the weights. Errors are printed
 * as one line naming the file and the problem. */
#ifndef RB_APP_MODEL_H
#define RB_APP_MODEL_H

#include "rb_backend.h"
#include "rb_io.h"
#include "rb_model.h"

typedef struct {
    rb_backend *be;
    rb_model *m;
    rb_loaded_model lm; /* config, host copy of the weights, tokenizer, plan */
} app_model;

/* Returns 0 on success; on failure prints "retrobench CMD: message" to
 * stderr and returns the exit status to use. need_tok: fail when no
 * tokenizer could be found, saying how to give one. */
int app_model_open(app_model *am, const char *cmd, const char *path, const char *tok_path,
                   int need_tok);
void app_model_close(app_model *am);

/* Open a tokenizer from a tokenizer file (tokenizer.json, tokenizer.bin)
 * or from any model file carrying one. *lm receives the model when one had
 * to be loaded (free with rb_loaded_model_free; it owns *tok then), else it
 * is zeroed and the caller frees *tok. Prints errors; returns 0 or the exit
 * status. */
int app_open_tokenizer(const char *cmd, const char *path, const char *tok_path, rb_tokenizer **tok,
                       rb_loaded_model *lm);

/* Decoding a small model one token at a time has too little work per
 * operation to share between threads: unless the user set OMP_NUM_THREADS,
 * use one thread for models under 20M parameters. Returns the thread count. */
int app_decode_threads(const rb_model *m);

/* Parse a non-negative integer option; prints an error naming the option. */
int app_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int app_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

#endif
