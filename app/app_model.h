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

/* Exit statuses, the same in every command (docs/cli.md). */
enum {
    APP_EXIT_OK = 0,
    APP_EXIT_INPUT = 1,  /* a file or prompt is wrong, or the work failed */
    APP_EXIT_USAGE = 2,  /* the command line itself is wrong */
    APP_EXIT_SIGINT = 130,
    APP_EXIT_SIGTERM = 143
};

/* What a command needs of a model. */
typedef enum {
    APP_LOAD_RUN = 0, /* the model on the backend; the host copy of the weights is freed
                         once uploaded, so one copy is held */
    APP_LOAD_HOST,    /* the weights in am->lm.params only (surgery, convert): no backend */
    APP_LOAD_HEADERS  /* configuration, tokenizer and plan: no weight is read (info) */
} app_load_mode;

/* APP_LOAD_RUN. Returns 0 on success; on failure prints "retrobench CMD:
 * message" to stderr and returns the exit status to use. need_tok: fail
 * when no tokenizer could be found, saying how to give one. */
int app_model_open(app_model *am, const char *cmd, const char *path, const char *tok_path,
                   int need_tok);
int app_model_load(app_model *am, const char *cmd, const char *path, const char *tok_path,
                   int need_tok, app_load_mode mode);
void app_model_close(app_model *am);

/* Open a tokenizer from a tokenizer file (tokenizer.json, tokenizer.bin)
 * or from any model file carrying one (read headers only: no weights).
 * With both a model and tok_path, the tokenizer must fit the model's
 * vocabulary. *lm receives the model when one had to be read (free with
 * rb_loaded_model_free; it owns *tok then), else it is zeroed and the caller
 * frees *tok. Prints errors; returns 0 or the exit status. */
int app_open_tokenizer(const char *cmd, const char *path, const char *tok_path, rb_tokenizer **tok,
                       rb_loaded_model *lm);

/* "512 pieces, identity ae099c6e72555faf" into buf. */
const char *app_tok_identity(const rb_tokenizer *t, char *buf, size_t cap);

/* The metadata a checkpoint written from am needs to be used on its own:
 * the embedded tokenizer (rb_tokenizer_embedding) and the special ids.
 * Appends to keys/vals (room for 3 more) and *n; *owned gets the malloc'd
 * value to free after saving. A model without a tokenizer adds only the
 * ids. Prints errors; returns 0 or the exit status. */
int app_checkpoint_meta(const char *cmd, const rb_loaded_model *lm, const char **keys,
                        const char **vals, int *n, char **owned);

/* A prompt from a file, or from standard input when file is "-": the bytes
 * as they are, except one final newline ("\n" or "\r\n"), which editors and
 * echo add, is dropped. *text is malloc'd and NUL-terminated. Prints errors;
 * returns 0 or the exit status. */
int app_read_prompt(const char *cmd, const char *file, char **text, size_t *len);

/* The one-line message for a getopt failure (unknown option, missing value);
 * returns APP_EXIT_USAGE. Commands set opterr = 0 and start their short
 * option string with ':' so that both cases are told apart. */
int app_bad_option(const char *cmd, int c, char **argv);

/* Decoding a small model one token at a time has too little work per
 * operation to share between threads: unless the user set OMP_NUM_THREADS,
 * use one thread for models under 20M parameters. Returns the thread count. */
int app_decode_threads(const rb_model *m);

/* Parse a non-negative integer option; prints an error naming the option. */
int app_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int app_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

#endif
