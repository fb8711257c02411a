/* run_metrics.c: the metrics file of a run (see run_metrics.h). */
#include "run_metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int run_metrics_open(run_metrics *mf, const char *dir, int append)
{
    memset(mf, 0, sizeof *mf);
    snprintf(mf->path, sizeof mf->path, "%s/metrics.jsonl", dir);
    mf->f = fopen(mf->path, append ? "a" : "w");
    return mf->f ? 0 : -1;
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
    fprintf(f, "}\n");
    run_metrics_flush(mf);
}

void run_metrics_final(run_metrics *mf, int phase, long long step, int depth, double loss)
{
    fprintf(mf->f, "{\"phase\":%d,\"step\":%lld,\"final_val_loss\":{\"%d\":%.6g}}\n", phase, step, depth,
            loss);
}

long run_metrics_rewind(run_metrics *mf, int phase, long long step)
{
    const char *path = mf->path;
    fflush(mf->f);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "r"), *out = in ? fopen(tmp, "w") : NULL;
    if (!in || !out) {
        if (in) fclose(in);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long dropped = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        int ph = 0;
        long long st = 0;
        const int complete = len >= 2 && line[len - 1] == '\n' && line[len - 2] == '}';
        const int later = sscanf(line, "{\"phase\":%d,\"step\":%lld", &ph, &st) == 2 &&
                          (ph > phase || (ph == phase && st > step));
        if (!complete || later) {
            dropped++;
            continue;
        }
        fwrite(line, 1, (size_t)len, out);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    FILE *nf = freopen(path, "a", mf->f);
    if (!nf) return -1;
    mf->f = nf;
    return dropped;
}
