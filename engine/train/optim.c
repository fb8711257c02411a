/* optim.c: Muon and AdamW over the model's parameter table, with global
 * gradient-norm clipping (see rb_optim.h for the recipe). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "rb_optim.h"

/* One Muon matrix: a parameter, or a fused run of adjacent parameters. */
typedef struct {
    size_t offset;
    int rows, cols;
    double cost; /* Newton-Schulz multiply-adds, to hand out the largest first */
} muon_unit;

struct rb_optimizer {
    rb_model *m;
    rb_optim_config cfg;
    int64_t step;
    float *state;       /* backend [2 * total]: moment 1 / momentum, moment 2 */
    muon_unit *units;
    int n_units;
    unsigned char *is_muon; /* [table.count] */
    float *scratch;     /* backend: per lane U | X | Y (max unit), A | B (max r^2), Gram
                           scratch (3 max r^2); then max_r ones shared by all lanes */
    size_t max_r;
    size_t max_unit, max_r2, lane_floats;
    int lanes;          /* units orthogonalised at once (backend's concurrent_calls) */
    int *order;         /* unit indices, most expensive first */
};

void rb_optim_config_default(rb_optim_config *c, rb_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->muon_lr = 1e-3f;
    c->muon_momentum = 0.95f;
    c->muon_wd = 1e-4f;
    c->muon_nesterov = 1;
    c->ns_steps = 5;
    c->ns_a = 3.4445f;
    c->ns_b = -4.7750f;
    c->ns_c = 2.0315f;
    c->muon_fuse = 1;
    c->ns_bf16 = 1;
    c->ns_gram = 0;
    c->adam_lr = 5e-5f;
    c->adam_beta1 = 0.9f;
    c->adam_beta2 = 0.95f;
    c->adam_eps = kind == RB_OPTIM_MUON ? 1e-10f : 1e-8f;
    c->adam_wd = 1e-4f;
    c->clip_norm = 1.0f;
}

int rb_optim_default_fuse(const char *plan_kind)
{
    return !(plan_kind && !strcmp(plan_kind, "static-baseline"));
}

rb_status rb_optim_config_validate(const rb_optim_config *c, rb_error *err)
{
    if (c->kind != RB_OPTIM_MUON && c->kind != RB_OPTIM_ADAMW)
        return rb_fail(err, RB_EINVAL, "optimizer: unknown kind %d (muon, adamw)", (int)c->kind);
    if (!(c->adam_lr >= 0) || !(c->muon_lr >= 0))
        return rb_fail(err, RB_EINVAL, "optimizer: learning rates must be >= 0 (muon %g, adamw %g)",
                       (double)c->muon_lr, (double)c->adam_lr);
    if (!(c->adam_beta1 >= 0 && c->adam_beta1 < 1) || !(c->adam_beta2 >= 0 && c->adam_beta2 < 1))
        return rb_fail(err, RB_EINVAL, "optimizer: AdamW betas must be in [0, 1) (got %g, %g)",
                       (double)c->adam_beta1, (double)c->adam_beta2);
    if (!(c->muon_momentum >= 0 && c->muon_momentum < 1))
        return rb_fail(err, RB_EINVAL, "optimizer: Muon momentum must be in [0, 1) (got %g)",
                       (double)c->muon_momentum);
    if (!(c->adam_eps > 0))
        return rb_fail(err, RB_EINVAL, "optimizer: AdamW eps must be > 0 (got %g)", (double)c->adam_eps);
    if (c->ns_steps < 1 || c->ns_steps > 100)
        return rb_fail(err, RB_EINVAL, "optimizer: Newton-Schulz steps %d must be in 1..100", c->ns_steps);
    if (c->ns_gram && c->ns_bf16)
        return rb_fail(err, RB_EINVAL,
                       "optimizer: the Gram form of Newton-Schulz (ns_gram) needs fp32: in bf16 "
                       "the Gram matrix loses the small singular values (choose one)");
    if (!(c->muon_wd >= 0) || !(c->adam_wd >= 0))
        return rb_fail(err, RB_EINVAL, "optimizer: weight decay must be >= 0");
    return RB_OK;
}

static rb_status build_units(rb_optimizer *o, rb_error *err)
{
    const rb_param_table *t = &o->m->table;
    o->units = calloc((size_t)t->count + 1, sizeof *o->units);
    o->is_muon = calloc((size_t)t->count + 1, 1);
    if (!o->units || !o->is_muon) return rb_fail(err, RB_ENOMEM, "optimizer: out of memory");
    if (o->cfg.kind != RB_OPTIM_MUON) return RB_OK;
    for (int i = 0; i < t->count; i++) {
        const rb_param *p = &t->items[i];
        if (p->kind != RB_PARAM_MATRIX) continue;
        o->is_muon[i] = 1;
        muon_unit *prev = o->n_units ? &o->units[o->n_units - 1] : NULL;
        int fuse = o->cfg.muon_fuse && p->fuse_group >= 0 && i > 0 &&
                   t->items[i - 1].fuse_group == p->fuse_group && prev &&
                   prev->offset + (size_t)prev->rows * prev->cols == p->offset && prev->cols == p->cols;
        if (fuse) {
            prev->rows += (int)p->rows;
        } else {
            o->units[o->n_units++] = (muon_unit){p->offset, (int)p->rows, (int)p->cols, 0};
        }
    }
    o->order = calloc((size_t)o->n_units + 1, sizeof *o->order);
    if (!o->order) return rb_fail(err, RB_ENOMEM, "optimizer: out of memory");
    for (int u = 0; u < o->n_units; u++) {
        muon_unit *mu = &o->units[u];
        size_t n = (size_t)mu->rows * mu->cols;
        size_t r = (size_t)(mu->rows < mu->cols ? mu->rows : mu->cols);
        if (n > o->max_unit) o->max_unit = n;
        if (r * r > o->max_r2) o->max_r2 = r * r;
        if (r > o->max_r) o->max_r = r;
        mu->cost = (double)r * r * (2.0 * (double)n / r + r);
        /* insertion by descending cost; ties keep table order */
        int q = u;
        while (q > 0 && o->units[o->order[q - 1]].cost < mu->cost) {
            o->order[q] = o->order[q - 1];
            q--;
        }
        o->order[q] = u;
    }
    o->lane_floats = 3 * o->max_unit + 5 * o->max_r2;
    return RB_OK;
}

/* r ones at dst (the Gram form builds identities from them) */
static rb_status fill_ones(rb_backend *be, float *dst, size_t r, rb_error *err)
{
    float *h = malloc((r ? r : 1) * sizeof(float));
    if (!h) return rb_fail(err, RB_ENOMEM, "optimizer: out of memory");
    for (size_t i = 0; i < r; i++) h[i] = 1.0f;
    rb_status st = be->upload(be, dst, h, r * sizeof(float), err);
    free(h);
    return st;
}

rb_status rb_optimizer_create(rb_optimizer **out, rb_model *m, const rb_optim_config *cfg,
                              rb_error *err)
{
    *out = NULL;
    rb_status st = rb_optim_config_validate(cfg, err);
    if (st != RB_OK) return st;
    if (cfg->kind == RB_OPTIM_MUON && cfg->ns_bf16 && !m->be->gemm_bf16)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "optimizer: backend %s has no bf16 GEMM for Newton-Schulz; use fp32 "
                       "(--ns-precision fp32)", m->be->name);
    if (!m->grads) return rb_fail(err, RB_EINVAL, "optimizer: the model has no gradients enabled");
    rb_optimizer *o = calloc(1, sizeof *o);
    if (!o) return rb_fail(err, RB_ENOMEM, "optimizer: out of memory");
    o->m = m;
    o->cfg = *cfg;
    rb_backend *be = m->be;
    st = build_units(o, err);
    o->lanes = be->concurrent_calls > 1 ? be->concurrent_calls : 1;
    if (o->lanes > o->n_units) o->lanes = o->n_units > 0 ? o->n_units : 1;
    if (st == RB_OK) st = be->alloc(be, (void **)&o->state, 2 * m->table.total * sizeof(float), err);
    if (st == RB_OK && o->n_units > 0)
        st = be->alloc(be, (void **)&o->scratch,
                       ((size_t)o->lanes * o->lane_floats + o->max_r) * sizeof(float), err);
    if (st == RB_OK && o->n_units > 0)
        st = fill_ones(be, o->scratch + (size_t)o->lanes * o->lane_floats, o->max_r, err);
    if (st != RB_OK) {
        rb_optimizer_destroy(o);
        return st;
    }
    be->zero(be, o->state, 2 * m->table.total * sizeof(float));
    *out = o;
    return RB_OK;
}

void rb_optimizer_destroy(rb_optimizer *o)
{
    if (!o) return;
    rb_backend *be = o->m->be;
    if (o->state) be->free(be, o->state);
    if (o->scratch) be->free(be, o->scratch);
    free(o->units);
    free(o->order);
    free(o->is_muon);
    free(o);
}

/* Newton-Schulz through the Gram matrix. Every step multiplies X by
 * Q = aI + bA + cA^2, a polynomial in A = X X^T, so all the Q's and A's
 * commute and A_{t+1} = Q_t^2 A_t: the iteration can run on r x r matrices,
 * with X multiplied once at the end by M = Q_{n-1} ... Q_0. For r << c this
 * costs 2 r^2 c + ~8 n r^3 instead of n (4 r^2 c + 2 r^3). Exact in real
 * arithmetic; in fp32 the small eigenvalues of A carry less relative
 * precision than the small singular values of X (the paper runs NS in bf16,
 * which is coarser still). g holds three r x r scratch matrices (M, T, I);
 * ones holds at least r ones. */
static void newton_schulz_gram(rb_backend *be, float **X, float **Y, float *A, float *B, float *g,
                               const float *ones, int r, int c, const rb_optim_config *cfg)
{
    const size_t rr = (size_t)r * r;
    float *M = g, *T = g + rr, *I = g + 2 * rr;
    be->zero(be, I, rr * sizeof(float));
    be->copy2d(be, I, r + 1, ones, 1, r, 1); /* the diagonal: every (r+1)-th element */
    be->gemm(be, 0, 1, r, r, c, 1.0f, *X, c, *X, c, 0.0f, A, r); /* A = X X^T */
    be->copy(be, M, I, rr * sizeof(float));                       /* M = I */
    for (int it = 0; it < cfg->ns_steps; it++) {
        /* B = Q = a I + b A + c A^2 */
        be->gemm(be, 0, 0, r, r, r, cfg->ns_c, A, r, A, r, 0.0f, B, r);
        be->axpy(be, B, cfg->ns_b, A, rr);
        be->axpy(be, B, cfg->ns_a, I, rr);
        /* M = Q M */
        be->gemm(be, 0, 0, r, r, r, 1.0f, B, r, M, r, 0.0f, T, r);
        be->copy(be, M, T, rr * sizeof(float));
        if (it + 1 < cfg->ns_steps) { /* A = Q (Q A) */
            be->gemm(be, 0, 0, r, r, r, 1.0f, B, r, A, r, 0.0f, T, r);
            be->gemm(be, 0, 0, r, r, r, 1.0f, B, r, T, r, 0.0f, A, r);
        }
    }
    be->gemm(be, 0, 0, r, c, r, 1.0f, M, r, *X, c, 0.0f, *Y, c); /* X = M X */
    float *t = *X;
    *X = *Y;
    *Y = t;
}

/* Newton-Schulz on X[r, c] (r <= c) in place; Y, A, B are scratch, and g
 * (3 r^2 floats) and ones (r floats) for the Gram form, or NULL. */
static void newton_schulz(rb_backend *be, float **X, float **Y, float *A, float *B, float *g,
                          const float *ones, int r, int c, const rb_optim_config *cfg)
{
    double nrm = sqrt(be->sumsq(be, *X, (size_t)r * c));
    be->scale(be, *X, (float)(1.0 / (nrm + 1e-7)), (size_t)r * c);
    if (cfg->ns_gram && g && c >= 2 * r) {
        newton_schulz_gram(be, X, Y, A, B, g, ones, r, c, cfg);
        return;
    }
    for (int it = 0; it < cfg->ns_steps; it++) {
        /* A = X X^T;  B = b A + c A A;  X = a X + B X */
        be->gemm(be, 0, 1, r, r, c, 1.0f, *X, c, *X, c, 0.0f, A, r);
        be->gemm(be, 0, 0, r, r, r, cfg->ns_c, A, r, A, r, 0.0f, B, r);
        be->axpy(be, B, cfg->ns_b, A, (size_t)r * r);
        be->copy(be, *Y, *X, (size_t)r * c * sizeof(float));
        be->gemm(be, 0, 0, r, c, r, 1.0f, B, r, *X, c, cfg->ns_a, *Y, c);
        float *t = *X;
        *X = *Y;
        *Y = t;
    }
}

/* Newton-Schulz at the paper's bf16 precision on X[rows, cols] in place,
 * in either orientation without transposing: wide (rows <= cols) iterates
 * X <- a X + B X with A = X X^T; tall iterates X <- a X + X B with
 * A = X^T X, which is the same iteration on X^T. A and A A = A A^T are
 * symmetric, so both come from syrk_bf16 (half the blocks); the product
 * with X writes over X itself (gemm_bf16 reads its operands first), so a X
 * is added in fp32 with a exact and nothing is copied. A, B: r x r. */
static void newton_schulz_bf16(rb_backend *be, float *X, float *A, float *B, int rows, int cols,
                               const rb_optim_config *cfg)
{
    const size_t n = (size_t)rows * cols;
    const int tall = rows > cols, r = tall ? cols : rows, k = tall ? rows : cols;
    double nrm = sqrt(be->sumsq(be, X, n));
    be->scale(be, X, (float)(1.0 / (nrm + 1e-7)), n);
    for (int it = 0; it < cfg->ns_steps; it++) {
        be->syrk_bf16(be, tall, r, k, 1.0f, X, cols, A, r); /* A = X X^T or X^T X */
        be->syrk_bf16(be, 0, r, r, cfg->ns_c, A, r, B, r);  /* B = c A A */
        be->axpy(be, B, cfg->ns_b, A, (size_t)r * r);
        if (tall)
            be->gemm_bf16(be, 0, 0, rows, cols, cols, 1.0f, X, cols, B, r, cfg->ns_a, X, cols);
        else
            be->gemm_bf16(be, 0, 0, rows, cols, rows, 1.0f, B, r, X, cols, cfg->ns_a, X, cols);
    }
}

static void orthogonalize(rb_backend *be, const float *U, float *out, int rows, int cols,
                          float *sx, float *sy, float *A, float *B, float *g, const float *ones,
                          const rb_optim_config *cfg)
{
    const size_t n = (size_t)rows * cols;
    float *X = sx, *Y = sy;
    const float s = sqrtf(fmaxf(1.0f, (float)rows / (float)cols));
    if (cfg->ns_bf16) {
        be->copy(be, out, U, n * sizeof(float));
        newton_schulz_bf16(be, out, A, B, rows, cols, cfg);
        be->scale(be, out, s, n);
        return;
    }
    int transposed = rows > cols;
    if (transposed) be->transpose(be, X, U, rows, cols); /* X [cols, rows] */
    else be->copy(be, X, U, n * sizeof(float));
    int r = transposed ? cols : rows, c = transposed ? rows : cols;
    newton_schulz(be, &X, &Y, A, B, g, ones, r, c, cfg);
    if (transposed) be->transpose(be, out, X, cols, rows);
    else be->copy(be, out, X, n * sizeof(float));
    be->scale(be, out, s, n);
}

rb_status rb_muon_orthogonalize(rb_backend *be, float *X, int rows, int cols,
                                const rb_optim_config *cfg, rb_error *err)
{
    size_t n = (size_t)rows * cols, r = (size_t)(rows < cols ? rows : cols);
    float *scratch = NULL;
    rb_status st = rb_optim_config_validate(cfg, err);
    if (st != RB_OK) return st;
    if (cfg->ns_bf16 && !be->gemm_bf16)
        return rb_fail(err, RB_EUNSUPPORTED, "optimizer: backend %s has no bf16 GEMM", be->name);
    st = be->alloc(be, (void **)&scratch, (2 * n + 5 * r * r + r) * sizeof(float), err);
    if (st == RB_OK) st = fill_ones(be, scratch + 2 * n + 5 * r * r, r, err);
    if (st != RB_OK) {
        if (scratch) be->free(be, scratch);
        return st;
    }
    float *A = scratch + 2 * n, *B = A + r * r, *g = B + r * r, *ones = g + 3 * r * r;
    orthogonalize(be, X, X, rows, cols, scratch, scratch + n, A, B, g, ones, cfg);
    st = be->sync(be, err);
    be->free(be, scratch);
    return st;
}

rb_status rb_optimizer_step(rb_optimizer *o, float lr_mult, rb_optim_step_info *info, rb_error *err)
{
    rb_model *m = o->m;
    rb_backend *be = m->be;
    const rb_optim_config *c = &o->cfg;
    const size_t total = m->table.total;
    rb_optim_step_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);

    double norm = sqrt(be->sumsq(be, m->grads, total));
    info->grad_norm = norm;
    info->clip_scale = 1.0;
    if (!isfinite(norm)) {
        info->skipped = 1;
        return rb_fail(err, RB_ENUMERIC, "optimizer: gradient norm is %g; step %lld skipped",
                       norm, (long long)o->step + 1);
    }
    if (c->clip_norm > 0 && norm > c->clip_norm) {
        /* PyTorch clip_grad_norm_: coefficient max_norm / (norm + 1e-6) */
        info->clip_scale = c->clip_norm / (norm + 1e-6);
        be->scale(be, m->grads, (float)info->clip_scale, total);
    }
    o->step++;
    const float bc1 = 1.0f - powf(c->adam_beta1, (float)o->step);
    const float bc2 = 1.0f - powf(c->adam_beta2, (float)o->step);
    const float adam_lr = c->adam_lr * lr_mult, muon_lr = c->muon_lr * lr_mult;
    float *m1 = o->state, *m2 = o->state + total;

    for (int i = 0; i < m->table.count; i++) {
        if (o->is_muon[i]) continue;
        const rb_param *p = &m->table.items[i];
        be->adamw(be, m->params + p->offset, m->grads + p->offset, m1 + p->offset, m2 + p->offset,
                  p->numel, adam_lr, c->adam_beta1, c->adam_beta2, c->adam_eps, c->adam_wd, bc1, bc2);
    }
    /* Units are independent: with a backend that takes calls from several
     * host threads (the CPU: each call then runs on its caller's thread),
     * they are shared out, largest first, with no fork/join per operation;
     * every unit is computed the same way whichever lane runs it. */
    const float *ones = o->scratch + (size_t)o->lanes * o->lane_floats;
#pragma omp parallel for schedule(dynamic, 1) num_threads(o->lanes) if (o->lanes > 1)
    for (int q = 0; q < o->n_units; q++) {
        const muon_unit *mu = &o->units[o->order[q]];
        const size_t n = (size_t)mu->rows * mu->cols;
        float *U = o->scratch + (size_t)(o->lanes > 1 ? omp_get_thread_num() : 0) * o->lane_floats;
        float *X = U + o->max_unit, *Y = X + o->max_unit;
        float *A = Y + o->max_unit, *B = A + o->max_r2, *g = B + o->max_r2;
        be->muon_momentum(be, m1 + mu->offset, U, m->grads + mu->offset, n, c->muon_momentum,
                          c->muon_nesterov);
        float *W = m->params + mu->offset;
        be->scale(be, W, 1.0f - muon_lr * c->muon_wd, n);
        if (c->ns_bf16) { /* in place on U, the shape scale folded into the step */
            newton_schulz_bf16(be, U, A, B, mu->rows, mu->cols, c);
            be->axpy(be, W, -muon_lr * sqrtf(fmaxf(1.0f, (float)mu->rows / (float)mu->cols)), U, n);
        } else {
            orthogonalize(be, U, U, mu->rows, mu->cols, X, Y, A, B, g, ones, c);
            be->axpy(be, W, -muon_lr, U, n);
        }
    }
    return be->sync(be, err);
}

int64_t rb_optimizer_step_count(const rb_optimizer *o) { return o->step; }
const rb_optim_config *rb_optimizer_config(const rb_optimizer *o) { return &o->cfg; }
size_t rb_optimizer_state_floats(const rb_optimizer *o) { return 2 * o->m->table.total; }

rb_status rb_optimizer_get_state(const rb_optimizer *o, float *host, int64_t *step, rb_error *err)
{
    if (step) *step = o->step;
    return o->m->be->download(o->m->be, host, o->state, 2 * o->m->table.total * sizeof(float), err);
}

rb_status rb_optimizer_set_state(rb_optimizer *o, const float *host, int64_t step, rb_error *err)
{
    if (step < 0) return rb_fail(err, RB_EINVAL, "optimizer: negative step count %lld", (long long)step);
    o->step = step;
    return o->m->be->upload(o->m->be, o->state, host, 2 * o->m->table.total * sizeof(float), err);
}
