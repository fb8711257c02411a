/* run_metrics.h: a run's metrics file, OUT/metrics.jsonl: one JSON object
 * per optimizer step ({"phase":P,"step":S,"loss":...}) and one per depth of
 * a phase's final validation ({"phase":P,"step":S,"final_val_loss":{...}}),
 * appended and flushed line by line so a killed run loses at most a torn
 * last line. */
#ifndef RB_APP_RUN_METRICS_H
#define RB_APP_RUN_METRICS_H

#include <stdio.h>

#include "rb_train.h"

typedef struct {
    FILE *f;
    char path[4200];
    int failed;      /* a write failed; errno_saved says why */
    int errno_saved;
} run_metrics;

/* Open DIR/metrics.jsonl for appending (append = 1) or truncated. The path
 * must be absent or a regular file (rb_output.h). Returns 0, or -1 with
 * the reason in why. */
int run_metrics_open(run_metrics *mf, const char *dir, int append, char *why, size_t cap);
void run_metrics_close(run_metrics *mf);

void run_metrics_step(run_metrics *mf, int phase, const rb_train_metrics *mt, double elapsed);
void run_metrics_final(run_metrics *mf, int phase, long long step, int depth, double loss);
/* Returns 0, or -1 when a write or the flush failed (errno set). */
int run_metrics_flush(run_metrics *mf);

/* On resume, drop the lines that an interrupted run wrote after its last
 * checkpoint (the resumed run writes those steps again) and a line torn by
 * a kill, so the file holds each (phase, step) once; drop_final also drops
 * the final-validation lines of (phase, step) (an interrupted final
 * validation that is run again). When something is dropped the file is
 * rewritten beside itself, renamed over, and reopened for appending;
 * otherwise it is not touched. Returns the number of lines dropped, or -1
 * (errno set). */
long run_metrics_rewind(run_metrics *mf, int phase, long long step, int drop_final);
/* How many final-validation lines (phase, step) has. */
int run_metrics_count_final(run_metrics *mf, int phase, long long step);

#endif
