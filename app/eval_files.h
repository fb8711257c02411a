/* eval_files.h: the files of `retrobench eval` (see cmd_eval.c): problems
 * and exemplars in, per-answer JSONL (with resume), settings, and the JSON
 * and CSV summaries out. Functions print their own one-line errors
 * ("retrobench eval: FILE: ...") and return 0 or an exit status. */
#ifndef RB_APP_EVAL_FILES_H
#define RB_APP_EVAL_FILES_H

#include <stdint.h>
#include <stdio.h>

#include "rb_eval.h"

typedef struct {
    rb_eval_problem *items;
    int64_t count;
    char *storage; /* owns the strings */
    char **strings;
    int64_t n_strings;
} evf_problems;

/* Lines of a JSONL file with string fields qf and af; ids are 0-based line
 * numbers of the file. Keeps lines [skip, skip + limit) (limit < 0: all). */
int evf_load_problems(const char *path, const char *qf, const char *af, int64_t skip, int64_t limit,
                      evf_problems *out);
void evf_problems_free(evf_problems *p);

/* Exemplars from a JSONL file with "question" and "target" fields. */
int evf_load_exemplars(const char *path, rb_eval_exemplar **out, int *n, char ***strings);

/* Answers already written: (id, depth) pairs, sorted. */
typedef struct {
    uint64_t *keys;
    int64_t count, cap;
} evf_done;

int evf_done_has(const evf_done *d, int64_t id, int depth);
void evf_done_free(evf_done *d);

/* Read OUT/answers.jsonl (if present): the answers' (id, depth) into done
 * and their scores into the tally (rules named as in c). A torn last line
 * (an interrupted write) is cut off the file; any other bad line is an
 * error naming it. *n_read receives the answers kept. */
int evf_resume(const char *path, const rb_eval_config *c, evf_done *done, rb_eval_tally *t,
               int64_t *n_read);

/* One answer as one JSON line, written with a single write and flushed. */
int evf_write_record(FILE *f, const char *path, const rb_eval_record *r, const rb_eval_config *c);

/* The settings an answer depends on; compared with OUT/run.json on resume
 * (written when absent). depths, limit and batch may change between runs. */
int evf_check_settings(const char *path, const char *model, const char *data, const char *qf,
                       const char *af, int64_t skip, const rb_eval_config *c);

typedef struct {
    const char *model, *data;
    int64_t first, count;     /* problems evaluated: ids [first, first + count) */
    int64_t answers_this_run, tokens_this_run;
    double seconds_this_run;
    int complete;             /* every requested answer is in the file */
} evf_run_info;

/* OUT/summary.json and OUT/summary.csv (written atomically), and the table
 * on stdout when print is set. */
int evf_write_summary(const char *dir, const rb_eval_config *c, const rb_eval_tally *t,
                      const evf_run_info *info, int print);

/* Write buf to path through a temporary file, fsync and rename. */
int evf_write_atomic(const char *path, const char *buf, size_t n);

#endif
