/* trainer_dp.c: what the data-parallel group adds to the trainer besides
 * the step itself (trainer.c): the status agreement every step and every
 * validation round ends with, and rb_trainer_sync, which checks that all
 * ranks were started alike and gives them rank 0's state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_train_fields.h"
#include "trainer_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

rb_comm *rb_trainer_comm(const rb_trainer *t) { return t->comm; }
int rb_trainer_shards(const rb_trainer *t) { return t->shards; }

/* The report layout: [loss, stop, bad, failed, who + 1, code, slots...].
 * Counts and rank numbers are small integers, exact in a double sum; who
 * and code are meaningful when exactly one rank failed. */
enum { A_LOSS, A_STOP, A_BAD, A_FAILED, A_WHO, A_CODE, A_N };

rb_status rb_dp_agree(rb_trainer *t, rb_status local_st, double loss, int stop, int bad, double slot_value,
                      double *slots, rb_dp_verdict *v, double *seconds, rb_error *err)
{
    double *w = t->agree_buf;
    const int failed = local_st != RB_OK;
    w[A_LOSS] = loss;
    w[A_STOP] = stop ? 1 : 0;
    w[A_BAD] = bad ? 1 : 0;
    w[A_FAILED] = failed;
    w[A_WHO] = failed ? t->rank + 1 : 0;
    w[A_CODE] = failed ? (double)local_st : 0;
    int n = A_N;
    if (slots) {
        for (int r = 0; r < t->world; r++) w[A_N + r] = 0;
        w[A_N + t->rank] = slot_value;
        n += t->world;
    }
    if (t->comm) {
        const double t0 = now_s();
        rb_error e2 = {0};
        rb_status st = t->comm->allreduce_host(t->comm, w, n, &e2);
        if (seconds) *seconds += now_s() - t0;
        if (st != RB_OK) {
            /* the group is broken: this rank's own error comes first */
            if (failed) return local_st;
            if (err) *err = e2;
            return rb_fail_prefix(err, "training: the %s group failed: ", t->comm->name);
        }
    }
    v->loss = w[A_LOSS];
    v->stop = (int)w[A_STOP];
    v->bad = (int)w[A_BAD];
    v->failed = (int)w[A_FAILED];
    v->who = v->failed == 1 ? (int)w[A_WHO] - 1 : -1;
    v->code = v->failed == 1 ? (rb_status)(int)w[A_CODE] : RB_EIO;
    if (v->code == RB_OK || v->code == RB_EINTERRUPTED) v->code = RB_EIO;
    if (slots) memcpy(slots, w + A_N, (size_t)t->world * sizeof(double));
    return RB_OK;
}

rb_status rb_dp_remote_failure(const rb_trainer *t, const rb_dp_verdict *v, const char *during, rb_error *err)
{
    if (v->who >= 0)
        return rb_fail(err, v->code, "%s: rank %d of %d failed (its own message says why); every rank stops",
                       during, v->who, t->world);
    return rb_fail(err, v->code, "%s: %d of %d ranks failed (their own messages say why); every rank stops", during,
                   v->failed, t->world);
}

/* ---- rb_trainer_sync ---- */

/* What every rank must share, as numbers, with a name for each (the
 * settings table's fields, then what the trainer derived from the data). */
#define FP_MAX 160
typedef struct {
    double v[FP_MAX];
    char name[FP_MAX][48];
    int n;
} fingerprint;

static void fp_add(fingerprint *f, const char *name, double v)
{
    if (f->n >= FP_MAX) return;
    f->v[f->n] = v;
    snprintf(f->name[f->n], sizeof f->name[0], "%s", name);
    f->n++;
}

static void fingerprint_of(const rb_trainer *t, fingerprint *f)
{
    const rb_train_config *c = &t->cfg;
    memset(f, 0, sizeof *f);
    int nf;
    const rb_train_field *fl = rb_train_fields(&nf);
    for (int i = 0; i < nf; i++) {
        if (fl[i].type == RB_TF_SOURCES || fl[i].type == RB_TF_DEPTHS) continue;
        if (!strcmp(fl[i].name, "dp_shards")) continue; /* compared resolved, below */
        fp_add(f, fl[i].name, rb_train_field_number(c, &fl[i]));
    }
    fp_add(f, "dp_shards (resolved)", t->shards);
    fp_add(f, "the number of validation depths", c->n_val_depths);
    for (int i = 0; i < c->n_val_depths; i++) fp_add(f, "a validation depth", c->val_depths[i]);
    fp_add(f, "the number of data sources", c->n_sources);
    for (int i = 0; i < c->n_sources; i++) {
        char nm[48];
        snprintf(nm, sizeof nm, "source %d's weight", i + 1);
        fp_add(f, nm, c->sources[i].weight);
        snprintf(nm, sizeof nm, "source %d's training rows", i + 1);
        fp_add(f, nm, (double)t->n_train_rows[i]);
        snprintf(nm, sizeof nm, "source %d's held-out rows", i + 1);
        fp_add(f, nm, (double)t->val_count[i]);
    }
    fp_add(f, "the row length T", t->T);
    fp_add(f, "the model's parameter count", (double)t->m->table.total);
    fp_add(f, "the model's width", t->m->cfg.dim);
    fp_add(f, "the model's recurrent layers", t->m->cfg.n_recur);
}

/* The state rank 0 gives everyone (the weights and moments follow it). */
typedef struct {
    int64_t step, position, opt_step;
    double flops_total, lr_scale;
    int32_t bad_in_row, rbar_override;
} sync_head;

rb_status rb_trainer_sync(rb_trainer *t, rb_error *err)
{
    if (!t->comm) return RB_OK;
    if (!t->opt) return rb_fail(err, RB_EINVAL, "training: a scoring-only trainer has no state to share");
    rb_comm *cm = t->comm;
    rb_error local = {0};
    rb_status st = RB_OK;

    /* 1. the same settings, model and data everywhere: a rank started
     * otherwise would train another recipe, or hang in a collective of a
     * size the others never make */
    fingerprint *mine = malloc(sizeof *mine), *root = malloc(sizeof *root);
    if (!mine || !root) {
        free(mine);
        free(root);
        return rb_fail(err, RB_ENOMEM, "training: out of memory");
    }
    fingerprint_of(t, mine);
    memcpy(root, mine, sizeof *root);
    st = cm->bcast_host(cm, root->v, sizeof root->v, &local);
    if (st == RB_OK) {
        for (int i = 0; i < mine->n; i++) {
            /* NaN never equals itself: compare the bits of unequal values */
            if (mine->v[i] == root->v[i] || (isnan(mine->v[i]) && isnan(root->v[i]))) continue;
            st = rb_fail(&local, RB_EINVAL, "training: rank %d has %s = %.9g but rank 0 has %.9g; start every "
                                            "rank with the same settings, model and data", t->rank,
                         mine->name[i], mine->v[i], root->v[i]);
            break;
        }
    }
    free(mine);
    free(root);
    rb_dp_verdict v;
    rb_status ast = rb_dp_agree(t, st, 0, 0, 0, 0, NULL, &v, NULL, &local);
    if (ast != RB_OK || v.failed) {
        if (st != RB_OK || ast != RB_OK) {
            if (err) *err = local;
            return st != RB_OK ? st : ast;
        }
        return rb_dp_remote_failure(t, &v, "training: the ranks disagree", err);
    }

    /* 2. rank 0's state: step, data position, weights, optimizer state */
    const size_t total = t->m->table.total;
    float *host = malloc(3 * total * sizeof(float));
    sync_head h;
    memset(&h, 0, sizeof h);
    if (!host) st = rb_fail(&local, RB_ENOMEM, "training: out of memory for the state of %zu parameters", total);
    if (st == RB_OK && t->rank == 0) {
        h.step = t->step;
        h.position = (int64_t)rb_mixture_position(t->mix);
        h.flops_total = t->flops_total;
        h.lr_scale = t->lr_scale;
        h.bad_in_row = t->bad_in_row;
        h.rbar_override = t->rbar_override;
        st = rb_model_get_params(t->m, host, &local);
        if (st == RB_OK) st = rb_optimizer_get_state(t->opt, host + total, &h.opt_step, &local);
    }
    ast = rb_dp_agree(t, st, 0, 0, 0, 0, NULL, &v, NULL, &local);
    if (ast != RB_OK || v.failed) {
        free(host);
        if (st != RB_OK || ast != RB_OK) {
            if (err) *err = local;
            return st != RB_OK ? st : ast;
        }
        return rb_dp_remote_failure(t, &v, "training: sharing rank 0's state", err);
    }
    st = cm->bcast_host(cm, &h, sizeof h, &local);
    if (st == RB_OK) st = cm->bcast_host(cm, host, 3 * total * sizeof(float), &local);
    if (st == RB_OK && t->rank != 0) {
        st = rb_mixture_seek(t->mix, (uint64_t)h.position, &local);
        if (st == RB_OK) st = rb_model_set_params(t->m, host, &local);
        if (st == RB_OK) st = rb_optimizer_set_state(t->opt, host + total, h.opt_step, &local);
        if (st == RB_OK) {
            t->step = h.step;
            t->flops_total = h.flops_total;
            t->lr_scale = h.lr_scale;
            t->bad_in_row = h.bad_in_row;
            t->rbar_override = h.rbar_override;
        }
    }
    free(host);
    ast = rb_dp_agree(t, st, 0, 0, 0, 0, NULL, &v, NULL, &local);
    if (ast != RB_OK || v.failed) {
        if (st != RB_OK || ast != RB_OK) {
            if (err) *err = local;
            return st != RB_OK ? st : ast;
        }
        return rb_dp_remote_failure(t, &v, "training: taking rank 0's state", err);
    }
    return RB_OK;
}
