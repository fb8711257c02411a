/* trainer.c: one optimizer step at a time, with recurrence sampling,
 * curricula, gradient accumulation, clipping, skipping of non-finite steps,
 * and validation at several test depths (see rb_train.h); on one process or
 * as one rank of a data-parallel group (the single gradient reduction of a
 * step is here; trainer_dp.c holds the group's agreement and state sync). */
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
    if (c->dp_shards < 0)
        return rb_fail(err, RB_EINVAL, "training: dp_shards %d must be >= 0 (0: one shard per rank)", c->dp_shards);
    if (c->dp_shards > 0 && c->batch % c->dp_shards != 0)
        return rb_fail(err, RB_EINVAL, "training: batch %d cannot be cut into %d equal shards (--dp-shards); use a "
                                       "batch that is a multiple of the shard count", c->batch, c->dp_shards);
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
    return rb_trainer_create_comm(out, m, c, stop, NULL, err);
}

rb_status rb_trainer_create_comm(rb_trainer **out, rb_model *m, const rb_train_config *c,
                                 const atomic_int *stop, rb_comm *comm, rb_error *err)
{
    *out = NULL;
    rb_status st = rb_train_config_validate(c, err);
    if (st != RB_OK) return st;
    const int world = comm ? comm->size : 1;
    const int shards = c->dp_shards > 0 ? c->dp_shards : world;
    if (comm && (comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size))
        return rb_fail(err, RB_EINVAL, "training: rank %d of a group of %d", comm->rank, comm->size);
    if (shards % world != 0)
        return rb_fail(err, RB_EINVAL, "training: %d shards (--dp-shards) cannot be spread evenly over %d ranks; "
                                       "use a multiple of %d", shards, world, world);
    if (c->batch % shards != 0)
        return rb_fail(err, RB_EINVAL, "training: batch %d (rows per micro-batch over all ranks) cannot be cut "
                                       "into %d equal shards%s; use a multiple of %d", c->batch, shards,
                       c->dp_shards > 0 ? "" : ", one per rank", shards);
    if (c->score_only && comm)
        return rb_fail(err, RB_EINVAL, "training: a scoring-only trainer runs on one process");
    rb_trainer *t = calloc(1, sizeof *t);
    if (!t) return rb_fail(err, RB_ENOMEM, "training: out of memory");
    t->m = m;
    t->cfg = *c;
    t->stop = stop;
    t->lr_scale = 1;
    t->comm = comm;
    t->world = world;
    t->rank = comm ? comm->rank : 0;
    t->shards = shards;
    t->rows = c->batch / shards;
    t->my_shards = shards / world;
    t->first_shard = t->rank * t->my_shards;
    st = copy_table(&t->cfg.rbar, &t->rbar_table, err);
    if (st == RB_OK) st = copy_table(&t->cfg.backprop, &t->backprop_table, err);
    if (st == RB_OK && !c->score_only) st = rb_model_enable_grads(m, err);
    if (st == RB_OK) st = open_data(t, err);
    const int recurrent = rb_config_is_recurrent(&m->cfg);
    if (st == RB_OK) {
        int kmax = 0;
        if (recurrent && !c->score_only) {
            kmax = c->backprop.max_value < c->rbar.max_value ? c->backprop.max_value : c->rbar.max_value;
            if (c->depth.mode == RB_DEPTH_FIXED_EVAL) kmax = 0;
            if (kmax < 1 && c->depth.mode != RB_DEPTH_FIXED_EVAL) kmax = 1;
        }
        st = rb_workspace_create(&t->ws, m, t->rows, t->T, kmax, err);
    }
    if (st == RB_OK && !c->score_only) st = rb_optimizer_create(&t->opt, m, &c->optim, err);
    if (st == RB_OK && !c->score_only && t->my_shards > 1)
        st = m->be->alloc(m->be, (void **)&t->acc, m->table.total * sizeof(float), err);
    if (st == RB_OK) {
        size_t rows = (size_t)t->rows;
        size_t picks = (size_t)c->grad_accum * (size_t)c->batch;
        t->rowbuf = malloc(rows * (size_t)(t->T + 1) * sizeof(int32_t));
        t->inputs = malloc(rows * (size_t)t->T * sizeof(int32_t));
        t->targets = malloc(rows * (size_t)t->T * sizeof(int32_t));
        t->pick_src = malloc(picks * sizeof(int));
        t->pick_row = malloc(picks * sizeof(uint64_t));
        t->agree_buf = malloc((size_t)(6 + world) * sizeof(double));
        if (recurrent) t->s0 = malloc(rows * (size_t)t->T * (size_t)m->cfg.dim * sizeof(float));
        if (!t->rowbuf || !t->inputs || !t->targets || !t->pick_src || !t->pick_row || !t->agree_buf ||
            (recurrent && !t->s0))
            st = rb_fail(err, RB_ENOMEM, "training: out of memory");
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
    if (t->acc) t->m->be->free(t->m->be, t->acc);
    free(t->rowbuf);
    free(t->inputs);
    free(t->targets);
    free(t->pick_src);
    free(t->pick_row);
    free(t->agree_buf);
    free(t->s0);
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

/* Initial states s_0 [rows * T, h] for rows first .. first + rows - 1 of a
 * batch: each row from its own seed (key, row), so a row's state does not
 * depend on which rank or forward computes it. */
static void draw_states(rb_trainer *t, uint64_t key, uint64_t first, int rows)
{
    const size_t per_row = (size_t)t->T * (size_t)t->m->cfg.dim;
    for (int r = 0; r < rows; r++)
        rb_draw_initial_state(t->s0 + (size_t)r * per_row, per_row, t->m->cfg.state_sigma,
                              mix64(key, 0x53305F524F57ull /* "S0_ROW" */, first + (uint64_t)r));
}

/* Load `rows` rows of the step's picks from index `first` into rowbuf. */
static rb_status load_picks(rb_trainer *t, size_t first, int rows, rb_error *err)
{
    const int T = t->T;
    for (int r = 0; r < rows; r++) {
        rb_status st = rb_tokfile_row(t->files[t->pick_src[first + (size_t)r]], t->pick_row[first + (size_t)r],
                                      t->rowbuf + (size_t)r * (T + 1), err);
        if (st != RB_OK) return st;
    }
    split_rows(t, rows);
    return RB_OK;
}

/* This rank's part of a step: for each of its shards, the forward and
 * backward of that shard's rows of every micro-batch, accumulating the
 * shard's gradient from zero (several shards: summed into acc in shard
 * order, then moved to the gradient). Stops at the first stop request,
 * non-finite loss or error; *loss gets the sum over shards of each shard's
 * sum of micro-batch losses, the order one process with the same shards
 * uses too. */
static rb_status local_passes(rb_trainer *t, const rb_depth *draws, int *stopped, int *bad, double *loss,
                              rb_error *err)
{
    const rb_train_config *c = &t->cfg;
    rb_model *m = t->m;
    rb_backend *be = m->be;
    const int recurrent = rb_config_is_recurrent(&m->cfg);
    const size_t P = m->table.total;
    const int64_t step = t->step;
    *loss = 0;
    for (int j = 0; j < t->my_shards; j++) {
        const int shard = t->first_shard + j;
        double shard_loss = 0;
        if (j > 0) {
            rb_status st = rb_model_zero_grads(m, err);
            if (st != RB_OK) return st;
        }
        for (int micro = 0; micro < c->grad_accum; micro++) {
            if (rb_trainer_stopping(t)) {
                *stopped = 1;
                return RB_OK;
            }
            const uint64_t first_row = (uint64_t)shard * (uint64_t)t->rows; /* within the micro-batch */
            rb_status st = load_picks(t, (size_t)micro * (size_t)c->batch + first_row, t->rows, err);
            if (st != RB_OK) return st;
            const uint64_t key = mix64(c->seed, (uint64_t)step, (uint64_t)micro);
            rb_step_opts so = {.grad = 1, .seed = key};
            if (recurrent) {
                so.n_nograd = draws[micro].n;
                so.n_grad = draws[micro].k;
                if (m->cfg.state_init != RB_STATE_ZERO) { /* a zero s_0 needs no draw */
                    draw_states(t, key, first_row, t->rows);
                    so.state0 = t->s0;
                }
            }
            double l = 0;
            st = rb_forward(m, t->ws, t->inputs, t->targets, &so, &l, err);
            if (st != RB_OK) return st;
            if (!isfinite(l)) {
                *bad = 1;
                *loss = l;
                return RB_OK;
            }
            st = rb_backward(m, t->ws, err);
            if (st != RB_OK) return st;
            shard_loss += l;
        }
        *loss += shard_loss;
        if (t->my_shards > 1) {
            if (j == 0) be->copy(be, t->acc, m->grads, P * sizeof(float));
            else be->add(be, t->acc, t->acc, m->grads, P);
        }
    }
    if (t->my_shards > 1) be->copy(be, m->grads, t->acc, P * sizeof(float));
    return RB_OK;
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
    const int A = c->grad_accum, T = t->T;
    mt->ranks = t->world;
    mt->rbar = !recurrent ? 0
               : t->rbar_override > 0 ? t->rbar_override
                                      : rb_curriculum_value(&c->rbar, step, c->steps);
    mt->backprop = recurrent ? rb_curriculum_value(&c->backprop, step, c->steps) : 0;
    mt->lr_mult = rb_lr_multiplier(&c->lr, step, c->steps);
    if (t->lr_scale != 1) mt->lr_mult *= t->lr_scale;
    mt->lr_adam = c->optim.adam_lr * mt->lr_mult;
    mt->lr_muon = c->optim.kind == RB_OPTIM_MUON ? c->optim.muon_lr * mt->lr_mult : 0;

    /* What every rank computes alike: the step's rows in the global data
     * order (each rank walks all of them and reads only its own) and one
     * depth draw per micro-batch. Until the agreement below, nothing may
     * return early: the other ranks would wait for this one forever. */
    rb_depth small[64];
    rb_depth *dr = A <= 64 ? small : malloc((size_t)A * sizeof *dr);
    rb_error lerr = {0};
    rb_status st = dr ? RB_OK : rb_fail(&lerr, RB_ENOMEM, "training: out of memory");
    const size_t picks = (size_t)A * (size_t)c->batch;
    for (size_t i = 0; st == RB_OK && i < picks; i++)
        st = rb_mixture_next(t->mix, &t->pick_src[i], &t->pick_row[i], &lerr);
    for (int micro = 0; st == RB_OK && micro < A; micro++) {
        dr[micro] = (rb_depth){0, 0, 0};
        if (recurrent) {
            rb_depth_opts dopt = c->depth;
            dopt.backprop_depth = mt->backprop;
            st = rb_depth_sample(&dopt, c->seed, step, micro, mt->rbar, &dr[micro], &lerr);
        }
        if (st != RB_OK) break;
        mt->n = dr[micro].n;
        mt->k = dr[micro].k;
        mt->n_sum += dr[micro].n;
        mt->k_sum += dr[micro].k;
        mt->tokens += (double)c->batch * T;
        mt->flops += step_flops(t, dr[micro].n, dr[micro].k, (double)c->batch * T);
    }
    if (st == RB_OK) st = rb_model_zero_grads(m, &lerr);
    int stopped = 0, bad = 0;
    double loss_local = 0;
    if (st == RB_OK) st = local_passes(t, dr, &stopped, &bad, &loss_local, &lerr);
    if (dr != small) free(dr);

    /* the agreement: every rank learns what happened to all of them */
    rb_dp_verdict v;
    rb_status ast = rb_dp_agree(t, st, loss_local, stopped, bad, 0, NULL, &v, &mt->wait_seconds, &lerr);
    if (st != RB_OK || ast != RB_OK) {
        if (err) *err = lerr;
        return st != RB_OK ? st : ast;
    }
    if (v.failed) return rb_dp_remote_failure(t, &v, "training", err);
    if (v.stop) {
        rb_mixture_seek(t->mix, pos0, NULL);
        return rb_fail(err, RB_EINTERRUPTED, "training: interrupted during step %lld (not applied)%s",
                       (long long)step + 1, stopped || t->world == 1 ? "" : "; another rank was asked to stop");
    }
    bad = v.bad > 0;
    const double loss_sum = v.loss;
    if (!bad) {
        /* the one gradient reduction of the step, before scaling and clipping */
        if (t->comm) {
            const double r0 = now_s();
            st = t->comm->allreduce_sum(t->comm, m->be, m->grads, m->table.total, err);
            mt->reduce_seconds = now_s() - r0;
            if (st != RB_OK) return rb_fail_prefix(err, "training: the gradient all-reduce (%s) failed: ",
                                                  t->comm->name);
        }
        const int passes = A * t->shards;
        if (passes > 1) m->be->scale(m->be, m->grads, 1.0f / (float)passes, m->table.total);
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
    mt->loss = bad ? loss_sum : loss_sum / ((double)A * t->shards);
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

/* Held-out row g (0 .. total - 1, the sources' held-out rows one after the
 * other) as (source, row of its file). */
static void val_row(const rb_trainer *t, uint64_t g, int *src, uint64_t *row)
{
    int s = 0;
    while (s < t->cfg.n_sources - 1 && g >= t->val_count[s]) g -= t->val_count[s++];
    *src = s;
    *row = t->val_first[s] + g;
}

/* The loss sum over one validation batch (rows first .. first + rows - 1),
 * every position a target: mean loss times positions. */
static rb_status val_batch(rb_trainer *t, int depth, uint64_t first, int rows, double *sum, rb_error *err)
{
    const int B = t->rows, T = t->T;
    for (int r = 0; r < rows; r++) {
        int src;
        uint64_t row;
        val_row(t, first + (uint64_t)r, &src, &row);
        rb_status st = rb_tokfile_row(t->files[src], row, t->rowbuf + (size_t)r * (T + 1), err);
        if (st != RB_OK) return st;
    }
    split_rows(t, rows);
    for (int r = rows; r < B; r++) { /* padding rows: ignored targets */
        memcpy(t->inputs + (size_t)r * T, t->inputs, (size_t)T * sizeof(int32_t));
        for (int j = 0; j < T; j++) t->targets[(size_t)r * T + j] = -1;
    }
    const uint64_t key = mix64(t->cfg.seed, 0x7A11D, 0);
    rb_step_opts so = {.n_nograd = depth, .seed = key};
    if (rb_config_is_recurrent(&t->m->cfg) && t->m->cfg.state_init != RB_STATE_ZERO) {
        /* fixed per held-out row, so that evaluations are comparable and
         * do not depend on the batch a row falls in */
        draw_states(t, key, first, rows);
        if (rows < B) memset(t->s0 + (size_t)rows * T * t->m->cfg.dim, 0,
                             (size_t)(B - rows) * T * t->m->cfg.dim * sizeof(float));
        so.state0 = t->s0;
    }
    double l = 0;
    rb_status st = rb_forward(t->m, t->ws, t->inputs, t->targets, &so, &l, err);
    if (st != RB_OK) return st;
    *sum = l * (double)rows * T;
    return RB_OK;
}

/* Batches of `rows` held-out rows; with a group, round q gives batch
 * q W + r to rank r, and one agreement per round hands every rank all W
 * batch sums, which each adds in batch order: the same sum, bit for bit,
 * as one process with the same batch size. */
rb_status rb_trainer_validate(rb_trainer *t, int depth, double *loss, rb_error *err)
{
    const rb_train_config *c = &t->cfg;
    const int B = t->rows, T = t->T, W = t->world;
    const uint64_t total = rb_trainer_val_rows(t);
    if (total == 0)
        return rb_fail(err, RB_EINVAL, "validation: no held-out rows (val_fraction %g)", c->val_fraction);
    const uint64_t n_batches = (total + (uint64_t)B - 1) / (uint64_t)B;
    double sum = 0, slots_small[8];
    double *slots = W <= 8 ? slots_small : malloc((size_t)W * sizeof(double));
    if (!slots) return rb_fail(err, RB_ENOMEM, "validation: out of memory");
    uint64_t count = 0, done = 0;
    rb_status out = RB_OK;
    for (uint64_t base = 0; base < n_batches; base += (uint64_t)W) {
        const uint64_t mine = base + (uint64_t)t->rank;
        rb_error lerr = {0};
        rb_status st = RB_OK;
        int stopped = 0;
        double my_sum = 0;
        if (mine < n_batches) {
            const uint64_t first = mine * (uint64_t)B;
            const int rows = (int)(total - first < (uint64_t)B ? total - first : (uint64_t)B);
            if (rb_trainer_stopping(t)) stopped = 1;
            else st = val_batch(t, depth, first, rows, &my_sum, &lerr);
        }
        rb_dp_verdict v;
        rb_status ast = rb_dp_agree(t, st, 0, stopped, 0, my_sum, slots, &v, NULL, &lerr);
        if (st != RB_OK || ast != RB_OK) {
            if (err) *err = lerr;
            out = st != RB_OK ? st : ast;
            break;
        }
        if (v.failed) {
            out = rb_dp_remote_failure(t, &v, "validation", err);
            break;
        }
        if (v.stop) {
            out = rb_fail(err, RB_EINTERRUPTED, "validation at depth %d interrupted after %llu of %llu rows", depth,
                          (unsigned long long)done, (unsigned long long)total);
            break;
        }
        for (int q = 0; q < W && base + (uint64_t)q < n_batches; q++) {
            const uint64_t first = (base + (uint64_t)q) * (uint64_t)B;
            const uint64_t rows = total - first < (uint64_t)B ? total - first : (uint64_t)B;
            sum += slots[q];
            count += rows * (uint64_t)T;
            done += rows;
        }
        if (t->progress) t->progress(t->progress_user, done, total);
    }
    if (slots != slots_small) free(slots);
    if (out == RB_OK) *loss = sum / (double)count;
    return out;
}
