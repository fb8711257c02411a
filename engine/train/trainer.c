/* trainer.c: one optimizer step at a time, with recurrence sampling,
 * curricula, gradient accumulation, clipping, skipping of non-finite steps,
 * and validation at several test depths (see rb_train.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rb_rng.h"
#include "trainer_internal.h"

void rb_train_config_default(rb_train_config *c, int rbar_max)
{
    memset(c, 0, sizeof *c);
    c->val_fraction = 0.05;
    c->batch = 8;
    c->grad_accum = 1;
    c->steps = 1000;
    rb_curriculum_rbar_default(&c->rbar, rbar_max);
    c->backprop.shape = RB_CURRIC_CONSTANT;
    c->backprop.max_value = RB_DEPTH_BACKPROP_DEFAULT;
    rb_depth_opts_default(&c->depth);
    rb_optim_config_default(&c->optim, RB_OPTIM_MUON);
    rb_lr_schedule_default(&c->lr);
    c->val_every = 0;
    c->val_depths[0] = 1;
    c->val_depths[1] = 2;
    c->val_depths[2] = 4;
    c->val_depths[3] = 8;
    c->n_val_depths = 4;
    c->val_rows = 0;
    c->seed = 1;
    c->max_bad_steps = 3;
}

rb_status rb_train_config_validate(const rb_train_config *c, rb_error *err)
{
    if (c->n_sources < 1 || c->n_sources > RB_TRAIN_MAX_SOURCES)
        return rb_fail(err, RB_EINVAL, "training: %d data sources; give 1..%d", c->n_sources,
                       RB_TRAIN_MAX_SOURCES);
    for (int i = 0; i < c->n_sources; i++)
        if (!(c->sources[i].weight > 0) || !isfinite(c->sources[i].weight))
            return rb_fail(err, RB_EINVAL, "training: source %s has weight %g; weights must be > 0",
                           c->sources[i].path, c->sources[i].weight);
    if (c->batch < 1) return rb_fail(err, RB_EINVAL, "training: batch %d must be >= 1", c->batch);
    if (c->grad_accum < 1)
        return rb_fail(err, RB_EINVAL, "training: grad_accum %d must be >= 1", c->grad_accum);
    if (c->steps < 1) return rb_fail(err, RB_EINVAL, "training: steps %lld must be >= 1", (long long)c->steps);
    if (!(c->val_fraction >= 0 && c->val_fraction < 1))
        return rb_fail(err, RB_EINVAL, "training: val_fraction %g must be in [0, 1)", c->val_fraction);
    if (c->val_every < 0) return rb_fail(err, RB_EINVAL, "training: val_every must be >= 0");
    if (c->n_val_depths < 0 || c->n_val_depths > RB_TRAIN_MAX_VAL_DEPTHS)
        return rb_fail(err, RB_EINVAL, "training: %d validation depths (at most %d)", c->n_val_depths,
                       RB_TRAIN_MAX_VAL_DEPTHS);
    for (int i = 0; i < c->n_val_depths; i++)
        if (c->val_depths[i] < 1 || c->val_depths[i] > 4096)
            return rb_fail(err, RB_EINVAL, "training: validation depth %d must be in 1..4096",
                           c->val_depths[i]);
    if (c->max_bad_steps < 1)
        return rb_fail(err, RB_EINVAL, "training: max_bad_steps must be >= 1");
    rb_status st = rb_curriculum_check(&c->rbar, c->steps, err);
    if (st != RB_OK) return rb_fail_prefix(err, "training: recurrence curriculum: ");
    st = rb_curriculum_check(&c->backprop, c->steps, err);
    if (st != RB_OK) return rb_fail_prefix(err, "training: backprop-depth curriculum: ");
    st = rb_lr_schedule_check(&c->lr, c->steps, err);
    if (st != RB_OK) return rb_fail_prefix(err, "training: learning-rate schedule: ");
    return rb_optim_config_validate(&c->optim, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix64(uint64_t a, uint64_t b, uint64_t c)
{
    rb_rng r;
    rb_rng_seed2(&r, a, b * 0x9E3779B97F4A7C15ull ^ c);
    return rb_rng_u64(&r);
}

static rb_status open_data(rb_trainer *t, rb_error *err)
{
    const rb_train_config *c = &t->cfg;
    rb_mix_source src[RB_TRAIN_MAX_SOURCES];
    uint32_t row_len = 0;
    for (int i = 0; i < c->n_sources; i++) {
        rb_status st = rb_tokfile_open(&t->files[i], c->sources[i].path, 0, err);
        if (st != RB_OK) return st;
        const rb_tokfile_info *in = rb_tokfile_get_info(t->files[i]);
        if (in->row_len < 2)
            return rb_fail(err, RB_EINVAL, "training data %s: the file is not packed into rows (row "
                                           "length %u); pack it with a row length of T + 1",
                           c->sources[i].path, in->row_len);
        if (i > 0 && in->row_len != row_len)
            return rb_fail(err, RB_EINVAL, "training data %s: row length %u differs from %s's %u; "
                                           "all sources need the same T", c->sources[i].path,
                           in->row_len, c->sources[0].path, row_len);
        if ((int)in->vocab_size > t->m->cfg.vocab_size)
            return rb_fail(err, RB_EINVAL, "training data %s: vocabulary %u is larger than the "
                                           "model's %d; tokenize with the model's tokenizer",
                           c->sources[i].path, in->vocab_size, t->m->cfg.vocab_size);
        row_len = in->row_len;
        uint64_t n_train = 0, n_val = 0;
        st = rb_split_rows(in->n_rows, c->val_fraction, &n_train, &n_val, err);
        if (st != RB_OK) return rb_fail_prefix(err, "training data %s: ", c->sources[i].path);
        if (n_train == 0)
            return rb_fail(err, RB_EINVAL, "training data %s: no training rows (%llu rows, %.0f%% "
                                           "held out)", c->sources[i].path,
                           (unsigned long long)in->n_rows, c->val_fraction * 100);
        src[i] = (rb_mix_source){t->files[i], c->sources[i].weight, 0, n_train};
        t->n_train_rows[i] = n_train;
        t->val_first[i] = n_train;
        t->val_count[i] = n_val;
    }
    t->T = (int)row_len - 1;
    if (t->T > t->m->cfg.max_seq_len)
        return rb_fail(err, RB_EINVAL, "training data: rows of %d tokens exceed the model's "
                                       "max_seq_len %d", t->T, t->m->cfg.max_seq_len);
    return rb_mixture_create(&t->mix, src, c->n_sources, c->seed, err);
}

/* A tabulated curriculum's values belong to the caller: the trainer keeps
 * its own copy, so the caller may free them once the trainer exists. */
static rb_status copy_table(rb_curriculum *c, int32_t **owned, rb_error *err)
{
    if (c->shape != RB_CURRIC_TABLE) return RB_OK;
    *owned = malloc((size_t)c->table_len * sizeof(int32_t));
    if (!*owned) return rb_fail(err, RB_ENOMEM, "training: out of memory for the curriculum table");
    memcpy(*owned, c->table, (size_t)c->table_len * sizeof(int32_t));
    c->table = *owned;
    return RB_OK;
}

rb_status rb_trainer_create(rb_trainer **out, rb_model *m, const rb_train_config *c,
                            const atomic_int *stop, rb_error *err)
{
    *out = NULL;
    rb_status st = rb_train_config_validate(c, err);
    if (st != RB_OK) return st;
    rb_trainer *t = calloc(1, sizeof *t);
    if (!t) return rb_fail(err, RB_ENOMEM, "training: out of memory");
    t->m = m;
    t->cfg = *c;
    t->stop = stop;
    t->lr_scale = 1;
    st = copy_table(&t->cfg.rbar, &t->rbar_table, err);
    if (st == RB_OK) st = copy_table(&t->cfg.backprop, &t->backprop_table, err);
    if (st == RB_OK && !c->score_only) st = rb_model_enable_grads(m, err);
    if (st == RB_OK) st = open_data(t, err);
    if (st == RB_OK) {
        int kmax = 0;
        if (rb_config_is_recurrent(&m->cfg) && !c->score_only) {
            kmax = c->backprop.max_value < c->rbar.max_value ? c->backprop.max_value : c->rbar.max_value;
            if (c->depth.mode == RB_DEPTH_FIXED_EVAL) kmax = 0;
            if (kmax < 1 && c->depth.mode != RB_DEPTH_FIXED_EVAL) kmax = 1;
        }
        st = rb_workspace_create(&t->ws, m, c->batch, t->T, kmax, err);
    }
    if (st == RB_OK && !c->score_only) st = rb_optimizer_create(&t->opt, m, &c->optim, err);
    if (st == RB_OK) {
        size_t rows = (size_t)c->batch;
        t->rowbuf = malloc(rows * (size_t)(t->T + 1) * sizeof(int32_t));
        t->inputs = malloc(rows * (size_t)t->T * sizeof(int32_t));
        t->targets = malloc(rows * (size_t)t->T * sizeof(int32_t));
        if (!t->rowbuf || !t->inputs || !t->targets) st = rb_fail(err, RB_ENOMEM, "training: out of memory");
    }
    if (st != RB_OK) {
        rb_trainer_destroy(t);
        return st;
    }
    rb_param_counts pc;
    rb_model_param_counts(m, &pc);
    t->p_prelude = pc.prelude;
    t->p_core = pc.recur - pc.adapter; /* METHOD.md: the adapter is ignored */
    t->p_coda = pc.coda;
    t->p_nonembed = pc.total - pc.embed - pc.head;
    *out = t;
    return RB_OK;
}

void rb_trainer_destroy(rb_trainer *t)
{
    if (!t) return;
    rb_optimizer_destroy(t->opt);
    rb_workspace_destroy(t->ws);
    rb_mixture_free(t->mix);
    for (int i = 0; i < RB_TRAIN_MAX_SOURCES; i++) rb_tokfile_close(t->files[i]);
    free(t->rowbuf);
    free(t->inputs);
    free(t->targets);
    free(t->rbar_table);
    free(t->backprop_table);
    for (int i = 0; i < t->n_written; i++) free(t->written[i]);
    free(t->written);
    free(t);
}

int64_t rb_trainer_step_count(const rb_trainer *t) { return t->step; }
int rb_trainer_done(const rb_trainer *t) { return t->step >= t->cfg.steps; }
int rb_trainer_seq_len(const rb_trainer *t) { return t->T; }

void rb_trainer_set_progress(rb_trainer *t, rb_train_progress_fn fn, void *user)
{
    t->progress = fn;
    t->progress_user = user;
}

rb_status rb_trainer_set_lr_scale(rb_trainer *t, double lr_scale, rb_error *err)
{
    if (!(lr_scale > 0) || !isfinite(lr_scale))
        return rb_fail(err, RB_EINVAL, "training: learning-rate scale %g must be > 0", lr_scale);
    t->lr_scale = lr_scale;
    return RB_OK;
}

rb_status rb_trainer_set_rbar(rb_trainer *t, int rbar, rb_error *err)
{
    if (rbar < 0 || rbar > RB_DEPTH_RBAR_MAX)
        return rb_fail(err, RB_EINVAL, "training: rbar %d must be in 1..%d (0: the curriculum)", rbar,
                       RB_DEPTH_RBAR_MAX);
    t->rbar_override = rbar;
    return RB_OK;
}

double rb_trainer_lr_scale(const rb_trainer *t) { return t->lr_scale; }
int rb_trainer_rbar_override(const rb_trainer *t) { return t->rbar_override; }

/* Split B rows of T + 1 tokens into inputs and next-token targets. */
static void split_rows(rb_trainer *t, int rows)
{
    const int T = t->T;
    for (int r = 0; r < rows; r++) {
        const int32_t *row = t->rowbuf + (size_t)r * (T + 1);
        memcpy(t->inputs + (size_t)r * T, row, (size_t)T * sizeof(int32_t));
        memcpy(t->targets + (size_t)r * T, row + 1, (size_t)T * sizeof(int32_t));
    }
}

static double step_flops(const rb_trainer *t, int n, int k, double tokens)
{
    if (!rb_config_is_recurrent(&t->m->cfg)) return tokens * rb_flops_per_token_static(t->p_nonembed);
    return tokens * rb_flops_per_token_sampled(t->p_prelude, t->p_core, t->p_coda, n, k);
}

rb_status rb_trainer_step(rb_trainer *t, rb_train_metrics *mt, rb_error *err)
{
    const rb_train_config *c = &t->cfg;
    rb_model *m = t->m;
    rb_train_metrics local;
    if (!mt) mt = &local;
    memset(mt, 0, sizeof *mt);
    if (!t->opt)
        return rb_fail(err, RB_EINVAL, "training: this trainer was made for scoring only (score_only)");
    if (rb_trainer_done(t))
        return rb_fail(err, RB_EINVAL, "training: all %lld steps are done", (long long)c->steps);
    const double t0 = now_s();
    const int64_t step = t->step;
    const uint64_t pos0 = rb_mixture_position(t->mix);
    const int recurrent = rb_config_is_recurrent(&m->cfg);
    const int B = c->batch, T = t->T;
    mt->rbar = !recurrent ? 0
               : t->rbar_override > 0 ? t->rbar_override
                                      : rb_curriculum_value(&c->rbar, step, c->steps);
    mt->backprop = recurrent ? rb_curriculum_value(&c->backprop, step, c->steps) : 0;
    mt->lr_mult = rb_lr_multiplier(&c->lr, step, c->steps);
    if (t->lr_scale != 1) mt->lr_mult *= t->lr_scale;
    mt->lr_adam = c->optim.adam_lr * mt->lr_mult;
    mt->lr_muon = c->optim.kind == RB_OPTIM_MUON ? c->optim.muon_lr * mt->lr_mult : 0;

    rb_status st = rb_model_zero_grads(m, err);
    if (st != RB_OK) return st;
    int bad = 0;
    double loss_sum = 0;
    for (int micro = 0; micro < c->grad_accum; micro++) {
        if (rb_trainer_stopping(t)) {
            rb_mixture_seek(t->mix, pos0, NULL);
            return rb_fail(err, RB_EINTERRUPTED, "training: interrupted during step %lld (not "
                                                 "applied)", (long long)step + 1);
        }
        for (int r = 0; r < B; r++) {
            st = rb_mixture_next_row(t->mix, t->rowbuf + (size_t)r * (T + 1), NULL, err);
            if (st != RB_OK) return st;
        }
        split_rows(t, B);
        rb_step_opts so = {.grad = 1, .seed = mix64(c->seed, (uint64_t)step, (uint64_t)micro)};
        if (recurrent) {
            rb_depth_opts dopt = c->depth;
            dopt.backprop_depth = mt->backprop;
            rb_depth d;
            st = rb_depth_sample(&dopt, c->seed, step, micro, mt->rbar, &d, err);
            if (st != RB_OK) return st;
            so.n_nograd = d.n;
            so.n_grad = d.k;
            mt->n = d.n;
            mt->k = d.k;
            mt->n_sum += d.n;
            mt->k_sum += d.k;
        }
        double loss = 0;
        st = rb_forward(m, t->ws, t->inputs, t->targets, &so, &loss, err);
        if (st != RB_OK) return st;
        if (!isfinite(loss)) {
            bad = 1;
            loss_sum = loss;
            break;
        }
        st = rb_backward(m, t->ws, err);
        if (st != RB_OK) return st;
        loss_sum += loss;
        mt->tokens += (double)B * T;
        mt->flops += step_flops(t, so.n_nograd, so.n_grad, (double)B * T);
    }
    if (!bad) {
        if (c->grad_accum > 1)
            m->be->scale(m->be, m->grads, 1.0f / (float)c->grad_accum, m->table.total);
        rb_optim_step_info info;
        rb_error oerr = {0};
        st = rb_optimizer_step(t->opt, (float)mt->lr_mult, &info, &oerr);
        mt->grad_norm = info.grad_norm;
        if (st == RB_ENUMERIC) bad = 1;
        else if (st != RB_OK) {
            if (err) *err = oerr;
            return st;
        }
    }
    t->step++;
    mt->step = t->step;
    mt->loss = bad ? loss_sum : loss_sum / c->grad_accum;
    if (bad) {
        mt->skipped = 1;
        t->bad_in_row++;
    } else {
        t->bad_in_row = 0;
    }
    mt->bad_in_row = t->bad_in_row;
    t->flops_total += mt->flops;
    mt->flops_total = t->flops_total;
    if (t->bad_in_row >= c->max_bad_steps)
        return rb_fail(err, RB_ENUMERIC, "training: %d steps in a row had a non-finite loss or "
                                         "gradient (last at step %lld); stopping, the last "
                                         "checkpoint is untouched", t->bad_in_row, (long long)t->step);
    if (c->val_every > 0 && (t->step % c->val_every == 0 || t->step == c->steps)) {
        for (int i = 0; i < c->n_val_depths; i++) {
            int depth = recurrent ? c->val_depths[i] : 1;
            st = rb_trainer_validate(t, depth, &mt->val_loss[i], err);
            if (st == RB_EINTERRUPTED) { /* the update stays; the validation is dropped */
                mt->n_val = 0;
                mt->val_interrupted = 1;
                break;
            }
            if (st != RB_OK) return st;
            mt->val_depth[i] = depth;
            mt->n_val = i + 1;
            if (!recurrent) break;
        }
    }
    mt->seconds = now_s() - t0;
    return RB_OK;
}

uint64_t rb_trainer_val_rows(const rb_trainer *t)
{
    const rb_train_config *c = &t->cfg;
    uint64_t total = 0;
    for (int i = 0; i < c->n_sources; i++) total += t->val_count[i];
    if (c->val_rows > 0 && total > (uint64_t)c->val_rows) total = (uint64_t)c->val_rows;
    return total;
}

rb_status rb_trainer_validate(rb_trainer *t, int depth, double *loss, rb_error *err)
{
    const rb_train_config *c = &t->cfg;
    const int B = c->batch, T = t->T;
    const uint64_t total = rb_trainer_val_rows(t);
    if (total == 0)
        return rb_fail(err, RB_EINVAL, "validation: no held-out rows (val_fraction %g)", c->val_fraction);
    double sum = 0;
    uint64_t count = 0, done = 0;
    int src = 0;
    uint64_t row = 0;
    for (int64_t batch = 0; done < total; batch++) {
        if (rb_trainer_stopping(t))
            return rb_fail(err, RB_EINTERRUPTED, "validation at depth %d interrupted after %llu of "
                                                 "%llu rows", depth, (unsigned long long)done,
                           (unsigned long long)total);
        int rows = 0;
        while (rows < B && done < total) {
            while (row >= t->val_count[src]) {
                src++;
                row = 0;
            }
            rb_status st = rb_tokfile_row(t->files[src], t->val_first[src] + row,
                                          t->rowbuf + (size_t)rows * (T + 1), err);
            if (st != RB_OK) return st;
            row++;
            rows++;
            done++;
        }
        split_rows(t, rows);
        for (int r = rows; r < B; r++) { /* padding rows: ignored targets */
            memcpy(t->inputs + (size_t)r * T, t->inputs, (size_t)T * sizeof(int32_t));
            for (int j = 0; j < T; j++) t->targets[(size_t)r * T + j] = -1;
        }
        rb_step_opts so = {.n_nograd = depth, .seed = mix64(c->seed, 0x7A11D, (uint64_t)batch)};
        double l = 0;
        rb_status st = rb_forward(t->m, t->ws, t->inputs, t->targets, &so, &l, err);
        if (st != RB_OK) return st;
        sum += l * (double)rows * T;
        count += (uint64_t)rows * T;
        if (t->progress) t->progress(t->progress_user, done, total);
    }
    *loss = sum / (double)count;
    return RB_OK;
}
