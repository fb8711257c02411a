/* safetensors.h (internal to engine/io): helpers shared by the safetensors
 * reader/writer, the Hugging Face folder loader and the retrobench
 * checkpoint: file and path utilities, JSON field access with one-line
 * errors, exact float formatting, and matching a set of stored tensors
 * against the parameter table. */
#ifndef RB_IO_SAFETENSORS_INTERNAL_H
#define RB_IO_SAFETENSORS_INTERNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_safetensors.h"

#define RB_IO_PATH_MAX 4096

/* ---- files and paths (io_util.c) ---- */

/* dir + "/" + name into dst; nonzero when it does not fit. */
int rb_io_join(char *dst, size_t cap, const char *dir, const char *name);
int rb_io_is_dir(const char *path);
int rb_io_is_file(const char *path);
/* Read a whole regular file (at most max_bytes) into a NUL-terminated
 * malloc'd buffer. */
rb_status rb_io_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                          rb_error *err);
/* The folder part of path ("." when there is none). */
void rb_io_dirname(const char *path, char *dst, size_t cap);

/* ---- numbers and JSON ---- */

/* The shortest decimal (at most 9 significant digits, else 17) that reads
 * back through strtod + float conversion to exactly x. */
void rb_io_format_float(char *buf, size_t cap, float x);

const char *rb_json_type_name(const cJSON *j);
/* j is a JSON number holding an integer in [lo, hi]. */
int rb_json_is_int_in(const cJSON *j, double lo, double hi);
/* o printed (compact, or indented when pretty) into malloc'd text, or NULL
 * when ok is 0 or memory runs out; o is deleted either way. The text is the
 * caller's to free(), whichever allocator cJSON was built with. */
char *rb_json_take_text(cJSON *o, int ok, int pretty);

/* ---- parameters from stored tensors (safetensors_params.c) ---- */

/* One stored tensor available to a loader (from one file or a shard). */
typedef struct {
    const char *name;
    const rb_safetensors *st;
    const rb_st_tensor *t;
    int used;
} rb_st_entry;

/* Sort entries by name; a name present twice fails (what names the set). */
rb_status rb_st_entries_sort(rb_st_entry *e, int n, const char *what, rb_error *err);
rb_st_entry *rb_st_entries_find(rb_st_entry *e, int n, const char *name);

/* For every table parameter find its tensor (missing: error), check its
 * shape ([rows, cols] for matrices, [rows] for vectors) and dtype (F32,
 * F16 or BF16), mark it used and record it in match[i]. what names the
 * set in messages, expect names where the expectation comes from. Checked
 * before any allocation, so the table's sizes are then bounded by the
 * real files. */
rb_status rb_st_match_table(const rb_param_table *tab, rb_st_entry *e, int n,
                            rb_st_entry **match, const char *what, const char *expect,
                            rb_error *err);
/* Convert every matched tensor into params (table layout). */
rb_status rb_st_copy_table(const rb_param_table *tab, rb_st_entry *const *match, float *params,
                           rb_error *err);

/* ---- the loaded model (load.c) ---- */

/* Load the tokenizer at path (json != 0: as tokenizer.json, else by its
 * file name), check that its ids fit the model's vocabulary and reconcile
 * the special ids: ids the model file gave win and are set on the
 * tokenizer, missing ones are taken from it. */
/* The parameter buffer of a loader: opts->params_alloc's when given
 * (*borrowed = 1), else malloc'd. NULL with err filled on failure. */
float *rb_io_params_alloc(const rb_load_opts *opts, const rb_config *cfg, size_t n_floats,
                          const char *src, int *borrowed, rb_error *err);
/* The same for a tokenizer already loaded (taken over: freed on failure);
 * what names it in messages. tokenizer_path is left as it is. */
rb_status rb_io_adopt_tokenizer(rb_loaded_model *out, rb_tokenizer *t, const char *what,
                                rb_error *err);
rb_status rb_io_attach_tokenizer(rb_loaded_model *out, const char *path, int json,
                                 rb_error *err);

#endif
