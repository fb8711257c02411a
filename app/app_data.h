/* app_data.h: checking token files against the model before a run. */
#ifndef RB_APP_DATA_H
#define RB_APP_DATA_H

#include "rb_io.h"
#include "rb_train.h"

/* Each source's header against lm: refuse (print one line, return the exit
 * status) data made by another tokenizer than lm's, naming both identities,
 * and old-format files whose vocabulary size differs from it; accept
 * old-format files of the same size with a warning; without a tokenizer in
 * lm, check only that the ids fit and warn. Returns 0 when all may be used. */
int app_check_data(const char *cmd, const rb_loaded_model *lm, const rb_train_source *src, int n);

/* The same check for one file without printing: returns 0 (msg holds a
 * warning, or is empty) or 1 (msg holds the error). For front ends that
 * report in their own way (the Lua host). */
int app_data_problem(const rb_loaded_model *lm, const char *path, char *msg, size_t cap);

#endif
