/* run_metrics.c: the metrics file of a run (see run_metrics.h). */
#include "run_metrics.h"

#include "rb_output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

int run_metrics_open(run_metrics *mf, const char *dir, int append, char *why, size_t cap)
{
    rb_error err = {0};
    memset(mf, 0, sizeof *mf);
    snprintf(mf->path, sizeof mf->path, "%s/metrics.jsonl", dir);
    if (rb_output_check(mf->path, &err) != RB_OK) {
        snprintf(why, cap, "%s", err.msg);
        return -1;
    }
    mf->f = fopen(mf->path, append ? "ae" : "we");
    if (!mf->f) {
        snprintf(why, cap, "cannot write %s: %s", mf->path, strerror(errno));
        return -1;
    }
    return 0;
}

void run_metrics_close(run_metrics *mf)
{
    if (mf->f) fclose(mf->f);
    mf->f = NULL;
}

int run_metrics_flush(run_metrics *mf)
{
    if (!mf->failed && (fflush(mf->f) != 0 || ferror(mf->f))) {
        mf->failed = 1;
        mf->errno_saved = errno ? errno : EIO;
    }
    if (mf->failed) errno = mf->errno_saved;
    return mf->failed ? -1 : 0;
}

void run_metrics_step(run_metrics *mf, int phase, const rb_train_metrics *mt, double elapsed)
{
    FILE *f = mf->f;
    fprintf(f, "{\"phase\":%d,\"step\":%lld,\"loss\":%.6g,\"lr_mult\":%.6g,\"lr_muon\":%.6g,"
               "\"lr_adam\":%.6g,\"rbar\":%d,\"backprop\":%d,\"n\":%d,\"k\":%d,\"grad_norm\":%.6g,"
               "\"tokens_per_s\":%.1f,\"flops\":%.6g,\"skipped\":%s,\"time\":%.3f",
            phase, (long long)mt->step, mt->loss, mt->lr_mult, mt->lr_muon, mt->lr_adam, mt->rbar,
            mt->backprop, mt->n, mt->k, mt->grad_norm, mt->seconds > 0 ? mt->tokens / mt->seconds : 0,
            mt->flops_total, mt->skipped ? "true" : "false", elapsed);
    if (mt->n_val > 0) {
        fprintf(f, ",\"val_loss\":{");
        for (int i = 0; i < mt->n_val; i++)
            fprintf(f, "%s\"%d\":%.6g", i ? "," : "", mt->val_depth[i], mt->val_loss[i]);
        fprintf(f, "}");
    }
    if (mt->val_interrupted) fprintf(f, ",\"val_interrupted\":true");
    if (mt->ranks > 1) /* a data-parallel group: its size and the step's time in collectives */
        fprintf(f, ",\"ranks\":%d,\"reduce_s\":%.6f,\"wait_s\":%.6f", mt->ranks, mt->reduce_seconds,
                mt->wait_seconds);
    fprintf(f, "}\n");
    run_metrics_flush(mf);
}

void run_metrics_final(run_metrics *mf, int phase, long long step, int depth, double loss)
{
    fprintf(mf->f, "{\"phase\":%d,\"step\":%lld,\"final_val_loss\":{\"%d\":%.6g}}\n", phase, step, depth,
            loss);
}

/* (phase, step) of a line, and whether it is a final-validation line;
 * 0 when the line is not one of ours */
static int parse_line(const char *line, int *ph, long long *st, int *final)
{
    if (sscanf(line, "{\"phase\":%d,\"step\":%lld", ph, st) != 2) return 0;
    *final = strstr(line, "\"final_val_loss\"") != NULL;
    return 1;
}

int run_metrics_count_final(run_metrics *mf, int phase, long long step)
{
    fflush(mf->f);
    FILE *in = fopen(mf->path, "re");
    if (!in) return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, ph, fin;
    long long st;
    while (getline(&line, &cap, in) > 0)
        if (parse_line(line, &ph, &st, &fin) && fin && ph == phase && st == step) n++;
    free(line);
    fclose(in);
    return n;
}

/* whether a line goes: torn, or after (phase, step), or a final line to redo */
static int drops(const char *line, ssize_t len, int phase, long long step, int drop_final)
{
    int ph = 0, fin = 0;
    long long st = 0;
    const int complete = len >= 2 && line[len - 1] == '\n' && line[len - 2] == '}';
    if (!complete) return 1;
    if (!parse_line(line, &ph, &st, &fin)) return 0;
    if (ph > phase || (ph == phase && st > step)) return 1;
    return drop_final && fin && ph == phase && st == step;
}

long run_metrics_rewind(run_metrics *mf, int phase, long long step, int drop_final)
{
    const char *path = mf->path;
    fflush(mf->f);
    FILE *in = fopen(path, "re");
    if (!in) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long dropped = 0;
    while ((len = getline(&line, &cap, in)) > 0) dropped += drops(line, len, phase, step, drop_final);
    if (dropped == 0) { /* nothing to drop: the file is left as it is */
        free(line);
        fclose(in);
        return 0;
    }
    rewind(in);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct stat sb; /* a leftover of a killed rewind is replaced; anything else is not */
    if (lstat(tmp, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        free(line);
        fclose(in);
        errno = EEXIST;
        return -1;
    }
    FILE *out = fopen(tmp, "we");
    if (!out) {
        free(line);
        fclose(in);
        return -1;
    }
    int slot = rb_output_tmp_register(tmp);
    while ((len = getline(&line, &cap, in)) > 0)
        if (!drops(line, len, phase, step, drop_final)) fwrite(line, 1, (size_t)len, out);
    free(line);
    fclose(in);
    int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        rb_output_tmp_unregister(slot);
        errno = e;
        return -1;
    }
    rb_output_tmp_unregister(slot);
    FILE *nf = freopen(path, "ae", mf->f);
    mf->f = nf;
    if (!nf) return -1;
    return dropped;
}
