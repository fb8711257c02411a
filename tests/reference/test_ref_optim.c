/* test_ref_optim.c: the optimizers (engine/train/optim.c) against PyTorch
 * (tests/reference/torch_optim.py, a float64 re-statement of METHOD.md
 * section 2 that uses torch.optim.AdamW and clip_grad_norm_ themselves).
 *
 * 1. rb_muon_orthogonalize on wide, tall, square and extreme shapes against
 *    the reference Newton-Schulz direction.
 * 2. One and three rb_optimizer_step calls on a small recurrent model with
 *    given random gradients, for Muon fused, Muon unfused and AdamW-only,
 *    with gradient clipping active and inactive and lr multipliers != 1:
 *    every parameter after the steps, every update (W_after - W_before), the
 *    optimizer state and the reported gradient norm and clip factor.
 * 3. The same engine results against deliberately different references
 *    (opposite fusion, no Nesterov, no clipping, no weight decay) must
 *    DIFFER, which shows that the comparisons above can fail.
 * 4. rb_optim_config_default for both recipes equals the reference's
 *    transcription of METHOD.md, value by value (weight decay at the
 *    paper's 1e-4 is below float32's resolution in any step, so only this
 *    check sees it).
 *
 * Metric everywhere: max |engine - reference| / max |reference quantity|,
 * per parameter tensor, tolerance 1e-5 (the engine is float32).
 *
 * Weights are set to small values (uniform +-1e-3, norms included): the
 * optimizer's arithmetic does not depend on their size except through
 * weight decay, and a float32 weight of size w can only show an update to
 * within w * 6e-8, so small weights let the update itself be checked to
 * 1e-5 rather than only the sum W + update. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rb_model.h"
#include "rb_optim.h"
#include "rb_test.h"

#define TOL 1e-5
/* bf16 Newton-Schulz (the default, as in the paper): rounding noise is
 * amplified by the iteration to a few percent of the direction (see
 * test_orthogonalize), so Muon updates in bf16 cases are held to 0.1 of the
 * largest update; AdamW parameters in those cases stay at TOL. */
#define TOL_BF16 0.1
#define MIN_DIFFER 1e-3 /* a wrong reference must miss by 100x the tolerance */
#define MAX_STEPS 3
#define W_SCALE 1e-3f /* initial weights uniform in +-W_SCALE */

static rb_backend *be;

static void run_reference(const char *mode, const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 /usr/bin/python3 %s %s %s",
             rb_test_source_path("tests/reference/torch_optim.py"), mode, dir);
    ck_assert_msg(system(cmd) == 0, "reference script failed: %s", cmd);
}

static char *case_dir(const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", rb_test_tmpdir(), name);
    mkdir(dir, 0755);
    return dir;
}

/* max |a - ref| over max |scale| (scale is ref itself, or the update) */
static double rel_err(const float *a, const double *ref, const double *scale, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= num)) num = d;
        den = fmax(den, fabs(scale[i]));
    }
    if (isnan(num)) return INFINITY;
    return den == 0 ? (num == 0 ? 0 : INFINITY) : num / den;
}

/* ------------------------------------------------------------------ */
/* 1. Newton-Schulz orthogonalisation alone                            */

static const int ortho_shapes[][2] = {{48, 80}, {80, 48}, {64, 64}, {3, 200}, {200, 3},
                                      {96, 32}, {32, 64}, {1, 16}, {130, 300}, {300, 130}};
#define N_ORTHO (int)(sizeof ortho_shapes / sizeof ortho_shapes[0])

/* _i = 0: fp32 Newton-Schulz; 1: bf16 (the default) */
START_TEST(test_orthogonalize)
{
    if (!rb_test_torch_available()) return;
    rb_error err = {0};
    rb_optim_config cfg;
    rb_optim_config_default(&cfg, RB_OPTIM_MUON);
    const int bf16 = _i;
    cfg.ns_bf16 = bf16;
    size_t off[N_ORTHO], total = 0;
    for (int i = 0; i < N_ORTHO; i++) {
        off[i] = total;
        total += (size_t)ortho_shapes[i][0] * ortho_shapes[i][1];
    }
    float *in = malloc(total * sizeof(float)), *out = malloc(total * sizeof(float));
    ck_assert(in && out);
    for (int i = 0; i < N_ORTHO; i++) {
        size_t n = (size_t)ortho_shapes[i][0] * ortho_shapes[i][1];
        rb_test_fill_uniform(in + off[i], n, 1.0f, 500 + (uint64_t)i);
    }
    const char *dir = case_dir(bf16 ? "ortho_bf16" : "ortho_fp32");
    char path[1024];
    snprintf(path, sizeof path, "%s/ortho.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fprintf(f, "{\"ns_bf16\": %s, \"mats\": [", bf16 ? "true" : "false");
    for (int i = 0; i < N_ORTHO; i++)
        fprintf(f, "%s{\"rows\": %d, \"cols\": %d, \"offset\": %zu}", i ? ", " : "",
                ortho_shapes[i][0], ortho_shapes[i][1], off[i]);
    fprintf(f, "]}\n");
    fclose(f);
    rb_test_write_file(dir, "ortho_in.bin", in, total * sizeof(float));
    run_reference("ortho", dir);
    double *ref = rb_test_read_doubles(dir, "ortho_ref.bin", total);
    double *f32 = rb_test_read_doubles(dir, "ortho_f32.bin", total);
    double *pbf = rb_test_read_doubles(dir, "ortho_bf16.bin", total);
    double *emu = bf16 ? rb_test_read_doubles(dir, "ortho_emu.bin", total) : NULL;
    snprintf(path, sizeof path, "%s/ortho_info.txt", dir);
    FILE *info = fopen(path, "r");
    ck_assert(info != NULL);

    float *dev = NULL;
    ck_assert(be->alloc(be, (void **)&dev, total * sizeof(float), &err) == RB_OK);
    for (int i = 0; i < N_ORTHO; i++) {
        const int r = ortho_shapes[i][0], c = ortho_shapes[i][1];
        const size_t n = (size_t)r * c;
        ck_assert(be->upload(be, dev, in + off[i], n * sizeof(float), &err) == RB_OK);
        ck_assert_msg(rb_muon_orthogonalize(be, dev, r, c, &cfg, &err) == RB_OK, "%s", err.msg);
        ck_assert(be->download(be, out + off[i], dev, n * sizeof(float), &err) == RB_OK);
        double e = rel_err(out + off[i], ref + off[i], ref + off[i], n);
        /* torch's own float32 run of the same recipe: the float32 floor */
        float *t32 = malloc(n * sizeof(float));
        ck_assert(t32 != NULL);
        for (size_t j = 0; j < n; j++) t32[j] = (float)f32[off[i] + j];
        double e32 = rel_err(t32, ref + off[i], ref + off[i], n);
        for (size_t j = 0; j < n; j++) t32[j] = (float)pbf[off[i] + j];
        double epb = rel_err(t32, ref + off[i], ref + off[i], n);
        double eemu = 0;
        if (emu) {
            for (size_t j = 0; j < n; j++) t32[j] = (float)emu[off[i] + j];
            eemu = rel_err(t32, ref + off[i], ref + off[i], n);
        }
        free(t32);
        int ir, ic;
        double smin, smax;
        ck_assert(fscanf(info, "%d %d %lf %lf", &ir, &ic, &smin, &smax) == 4);
        ck_assert(ir == r && ic == c);
        printf("orthogonalize %s %3dx%-3d engine rel %.2e  torch-fp32 rel %.2e  torch-bf16-operands rel "
               "%.2e  paper-all-bf16 rel %.2e  sv(X/|X|_F) in [%.2e, %.2e]\n",
               bf16 ? "bf16" : "fp32", r, c, e, e32, eemu, epb, smin, smax);
        if (!bf16) {
            ck_assert_msg(e <= TOL, "orthogonalize %dx%d differs from the reference by %.3e (torch in "
                          "float32: %.3e)", r, c, e, e32);
        } else {
            /* Newton-Schulz multiplies small singular directions by ~a = 3.4 per
             * step, so bf16 rounding noise (2^-9) grows to a few percent of the
             * result, and two equally valid roundings (engine, torch) differ by
             * that much: bf16 results are compared by their distance from the
             * exact recipe. The engine must be about as close as torch with the
             * same operand rounding, closer than the paper's all-bf16 code, and
             * visibly rounded (an fp32 engine would sit at ~2e-6). */
            ck_assert_msg(e <= 2.0 * eemu + 5e-3, "orthogonalize %dx%d (bf16) is %.3e from the exact "
                          "recipe; torch with bf16 operands is %.3e", r, c, e, eemu);
            ck_assert_msg(e <= epb, "orthogonalize %dx%d (bf16) is %.3e from the exact recipe, worse than "
                          "the paper's all-bf16 form (%.3e)", r, c, e, epb);
            ck_assert_msg(e > 1e-4 || r * c < 64, "orthogonalize %dx%d in bf16 matches the exact recipe "
                          "(%.3e): no rounding happened", r, c, e);
        }
    }
    fclose(info);
    be->free(be, dev);
    free(ref);
    free(f32);
    free(pbf);
    free(emu);
    free(in);
    free(out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. and 3. Whole optimizer steps                                     */

typedef struct {
    const char *name;
    rb_optim_kind kind;
    int fuse;
    int steps;
    double grad_norm[MAX_STEPS]; /* the raw gradient is scaled to this global norm */
    float lr_mult[MAX_STEPS];
    /* knobs changed from the paper's values (0: keep), set identically in
     * the engine config and, as "overrides", in the reference */
    float wd;
    float clip;
    int bf16; /* Newton-Schulz in bf16 (the paper's and the default); 0: fp32 */
} step_case;

static const step_case step_cases[] = {
    {"muon_fused_1step_clipped", RB_OPTIM_MUON, 1, 1, {3.0}, {1}, 0, 0, 0},
    {"muon_fused_3steps", RB_OPTIM_MUON, 1, 3, {2.5, 0.6, 4.0}, {1, 1, 1}, 0, 0, 0},
    {"muon_unfused_1step_unclipped", RB_OPTIM_MUON, 0, 1, {0.6}, {1}, 0, 0, 0},
    {"muon_unfused_3steps", RB_OPTIM_MUON, 0, 3, {0.4, 3.0, 0.8}, {1, 1, 1}, 0, 0, 0},
    {"adamw_1step_unclipped", RB_OPTIM_ADAMW, 0, 1, {0.7}, {1}, 0, 0, 0},
    {"adamw_3steps", RB_OPTIM_ADAMW, 0, 3, {5.0, 0.3, 2.0}, {1, 1, 1}, 0, 0, 0},
    /* lr multipliers, a different clip threshold, and a weight decay far
     * above the paper's so that the decoupled decay term (lr * wd * W, with
     * W ~ 1e-3 here) is a visible part of the update; at the paper's values
     * lr * wd (5e-9 AdamW, 1e-7 Muon) is below or at float32's resolution
     * next to 1, so 1 - lr * wd barely differs from 1 in any float32 code. */
    {"muon_fused_3steps_lrmult_wd_clip2", RB_OPTIM_MUON, 1, 3, {3.0, 1.5, 0.5}, {0.25f, 1.7f, 0.6f}, 5.0f, 2.0f, 0},
    {"adamw_3steps_lrmult_wd", RB_OPTIM_ADAMW, 0, 3, {4.0, 0.5, 1.5}, {2.0f, 0.5f, 1.3f}, 5.0f, 0, 0},
    /* the default precision of Newton-Schulz */
    {"muon_fused_3steps_bf16", RB_OPTIM_MUON, 1, 3, {2.5, 0.6, 4.0}, {1, 1, 1}, 0, 0, 1},
    {"muon_unfused_3steps_lrmult_wd_clip2_bf16", RB_OPTIM_MUON, 0, 3, {3.0, 1.5, 0.5}, {0.25f, 1.7f, 0.6f}, 5.0f, 2.0f, 1},
};
#define N_STEP_CASES (int)(sizeof step_cases / sizeof step_cases[0])

static rb_model *small_model(void)
{
    rb_error err = {0};
    rb_config cfg;
    rb_config_defaults(&cfg);
    cfg.vocab_size = 61;
    cfg.dim = 32;
    cfg.n_heads = 4;
    cfg.n_kv_heads = 2;
    cfg.head_dim = 8;
    cfg.hidden_dim = 48;
    cfg.max_seq_len = 64;
    cfg.block = RB_BLOCK_LLAMA;
    cfg.tied_head = 0;
    cfg.n_prelude = 1;
    cfg.n_recur = 1;
    cfg.n_coda = 1;
    rb_model *m = NULL;
    ck_assert_msg(rb_model_create(&m, &cfg, be, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_model_init_random(m, 1234, 0.02f, &err) == RB_OK);
    ck_assert(rb_model_enable_grads(m, &err) == RB_OK);
    return m;
}

static void write_step_json(const char *dir, const rb_model *m, const step_case *sc)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/case.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fprintf(f, "{\"recipe\": \"%s\", \"fuse\": %s, \"ns_bf16\": %s, \"lr_mult\": [",
            sc->kind == RB_OPTIM_MUON ? "muon" : "adamw", sc->fuse ? "true" : "false",
            sc->bf16 ? "true" : "false");
    for (int s = 0; s < sc->steps; s++) fprintf(f, "%s%.9g", s ? ", " : "", (double)sc->lr_mult[s]);
    fprintf(f, "],\n\"overrides\": {");
    const char *sep = "";
    if (sc->wd > 0) {
        if (sc->kind == RB_OPTIM_MUON) {
            fprintf(f, "\"muon_wd\": %.9g", (double)sc->wd);
            sep = ", ";
        }
        fprintf(f, "%s\"adam_wd\": %.9g", sep, (double)sc->wd);
        sep = ", ";
    }
    if (sc->clip > 0) fprintf(f, "%s\"clip\": %.9g", sep, (double)sc->clip);
    fprintf(f, "},\n\"params\": [\n");
    for (int i = 0; i < m->table.count; i++) {
        const rb_param *p = &m->table.items[i];
        fprintf(f, "  {\"name\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"offset\": %zu}%s\n",
                p->name, (long long)p->rows, (long long)p->cols, p->offset,
                i + 1 < m->table.count ? "," : "");
    }
    fprintf(f, "]}\n");
    fclose(f);
}

/* worst per-tensor error of the engine's weights against one reference,
 * over every tensor (matrices < 0), or only the 2-D block matrices (1) or
 * only the rest (0) */
static double worst_param_err_of(const rb_model *m, const float *w, const double *ref, const float *w0,
                                 int by_update, int matrices, const char **which)
{
    const size_t total = m->table.total;
    double *scale = malloc(total * sizeof *scale);
    ck_assert(scale != NULL);
    for (size_t j = 0; j < total; j++) scale[j] = by_update ? ref[j] - (double)w0[j] : ref[j];
    double worst = 0;
    for (int i = 0; i < m->table.count; i++) {
        const rb_param *p = &m->table.items[i];
        if (matrices >= 0 && (p->kind == RB_PARAM_MATRIX) != matrices) continue;
        double e = rel_err(w + p->offset, ref + p->offset, scale + p->offset, p->numel);
        if (!(e <= worst)) {
            worst = e;
            if (which) *which = p->name;
        }
    }
    free(scale);
    return worst;
}

static double worst_param_err(const rb_model *m, const float *w, const double *ref, const float *w0,
                              int by_update, const char **which)
{
    return worst_param_err_of(m, w, ref, w0, by_update, -1, which);
}

static void run_step_case(const step_case *sc)
{
    rb_error err = {0};
    rb_model *m = small_model();
    const size_t total = m->table.total;
    float *w0 = malloc(total * sizeof(float)), *g = malloc(total * sizeof(float));
    float *w = malloc(total * sizeof(float));
    ck_assert(w0 && g && w);
    /* every parameter small, norms included (see the top of the file) */
    rb_test_fill_uniform(w0, total, W_SCALE, 31);
    ck_assert(rb_model_set_params(m, w0, &err) == RB_OK);

    rb_optim_config oc;
    rb_optim_config_default(&oc, sc->kind);
    oc.muon_fuse = sc->fuse;
    oc.ns_bf16 = sc->bf16;
    if (sc->wd > 0) oc.muon_wd = oc.adam_wd = sc->wd;
    if (sc->clip > 0) oc.clip_norm = sc->clip;
    rb_optimizer *opt = NULL;
    ck_assert_msg(rb_optimizer_create(&opt, m, &oc, &err) == RB_OK, "%s", err.msg);

    const char *dir = case_dir(sc->name);
    write_step_json(dir, m, sc);
    rb_test_write_file(dir, "params0.bin", w0, total * sizeof(float));
    rb_optim_step_info info[MAX_STEPS];
    for (int s = 0; s < sc->steps; s++) {
        rb_test_fill_uniform(g, total, 1.0f, 1000 + 17 * (uint64_t)s);
        /* a heavier tail in a few tensors so that Adam's per-element
         * normalisation and Muon's spectrum both see uneven gradients */
        for (size_t j = 0; j < total; j += 7) g[j] *= 3.0f;
        double ss = 0;
        for (size_t j = 0; j < total; j++) ss += (double)g[j] * g[j];
        const float k = (float)(sc->grad_norm[s] / sqrt(ss));
        for (size_t j = 0; j < total; j++) g[j] *= k;
        char name[64];
        snprintf(name, sizeof name, "grads_%d.bin", s);
        rb_test_write_file(dir, name, g, total * sizeof(float));
        ck_assert(be->upload(be, m->grads, g, total * sizeof(float), &err) == RB_OK);
        ck_assert_msg(rb_optimizer_step(opt, sc->lr_mult[s], &info[s], &err) == RB_OK, "%s", err.msg);
        ck_assert(!info[s].skipped);
    }
    ck_assert(rb_optimizer_step_count(opt) == sc->steps);
    ck_assert(rb_model_get_params(m, w, &err) == RB_OK);
    float *state = malloc(rb_optimizer_state_floats(opt) * sizeof(float));
    int64_t st_step = 0;
    ck_assert(state != NULL);
    ck_assert(rb_optimizer_get_state(opt, state, &st_step, &err) == RB_OK);
    ck_assert(st_step == sc->steps);

    run_reference("step", dir);

    /* gradient norm and clip factor: clip_grad_norm_'s total norm, and its
     * coefficient max_norm / (norm + 1e-6) clamped to 1 */
    char path[1024];
    snprintf(path, sizeof path, "%s/norms.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert(f != NULL);
    const double clip = sc->clip > 0 ? sc->clip : 1.0;
    for (int s = 0; s < sc->steps; s++) {
        double rn = 0;
        ck_assert(fscanf(f, "%lf", &rn) == 1);
        double coef = fmin(1.0, clip / (rn + 1e-6));
        ck_assert_msg(fabs(info[s].grad_norm - rn) <= 1e-6 * rn, "%s step %d: grad norm %.9g vs torch %.9g",
                      sc->name, s + 1, info[s].grad_norm, rn);
        ck_assert_msg(fabs(info[s].clip_scale - coef) <= 1e-6 * coef,
                      "%s step %d: clip factor %.9g vs torch %.9g", sc->name, s + 1,
                      info[s].clip_scale, coef);
    }
    fclose(f);

    /* 2. the recipe: weights, updates and state */
    double *ref = rb_test_read_doubles(dir, "after_main.bin", total);
    const char *wp = "", *wu = "";
    double ep = worst_param_err(m, w, ref, w0, 0, &wp);
    double eu = worst_param_err(m, w, ref, w0, 1, &wu);
    double *rstate = rb_test_read_doubles(dir, "state_main.bin", 2 * total);
    double es = 0;
    for (int i = 0; i < m->table.count; i++) {
        const rb_param *p = &m->table.items[i];
        for (int b = 0; b < 2; b++) {
            const size_t o = (size_t)b * total + p->offset;
            double e = rel_err(state + o, rstate + o, rstate + o, p->numel);
            ck_assert_msg(e <= TOL, "%s: optimizer state %d of %s differs from torch by %.3e",
                          sc->name, b, p->name, e);
            es = fmax(es, e);
        }
    }
    printf("%-36s weights rel %.2e (%s)  updates rel %.2e (%s)  state rel %.2e\n", sc->name, ep,
           wp, eu, wu, es);
    if (!sc->bf16) {
        ck_assert_msg(ep <= TOL, "%s: weights of %s differ from the reference by %.3e", sc->name, wp, ep);
        ck_assert_msg(eu <= TOL, "%s: update of %s differs from the reference by %.3e", sc->name, wu, eu);
    } else { /* Muon's matrices at bf16's noise, everything else exactly */
        const char *wm = "", *wa = "";
        double em = worst_param_err_of(m, w, ref, w0, 1, 1, &wm);
        double ea = worst_param_err_of(m, w, ref, w0, 1, 0, &wa);
        printf("%-36s   Muon matrices updates rel %.2e (%s)  AdamW tensors %.2e (%s)\n", "", em, wm, ea, wa);
        ck_assert_msg(em <= TOL_BF16, "%s: bf16 Muon update of %s differs from the reference by %.3e",
                      sc->name, wm, em);
        ck_assert_msg(ea <= TOL, "%s: update of %s differs from the reference by %.3e", sc->name, wa, ea);
    }

    /* 3. the same engine result against references that are wrong on
     * purpose must miss by far more than the tolerance */
    const char *alts[4] = {NULL, NULL, NULL, NULL};
    int n_alt = 0;
    if (sc->kind == RB_OPTIM_MUON) alts[n_alt++] = "alt_fuse";
    int clipped = 0;
    for (int s = 0; s < sc->steps; s++) clipped |= info[s].clip_scale < 1.0;
    /* Step 1 alone is invariant to the gradient's scale (Adam divides by
     * sqrt(v), Muon by the Frobenius norm) and, from zero momentum, Nesterov
     * only rescales U; so clipping and Nesterov show from step 2 on. */
    if (sc->kind == RB_OPTIM_MUON && sc->steps > 1) alts[n_alt++] = "alt_nonest";
    if (sc->steps > 1 && clipped) alts[n_alt++] = "alt_noclip";
    /* (in bf16 cases the decay term, ~1e-2 of the update here, is below
     * the rounding noise; the fp32 cases check it) */
    if (sc->wd > 0 && !sc->bf16) alts[n_alt++] = "alt_nowd";
    for (int a = 0; a < n_alt; a++) {
        char name[64];
        snprintf(name, sizeof name, "after_%s.bin", alts[a]);
        double *alt = rb_test_read_doubles(dir, name, total);
        const char *wa = "";
        double d = worst_param_err(m, w, alt, w0, 1, &wa);
        printf("%-36s   vs %-10s  updates rel %.2e (%s): differs as it must\n", "", alts[a], d, wa);
        ck_assert_msg(d >= (sc->bf16 ? 2 * TOL_BF16 : MIN_DIFFER), "%s: the engine also matches the %s reference (%.3e); the "
                      "comparison cannot tell them apart", sc->name, alts[a], d);
        free(alt);
    }

    free(ref);
    free(rstate);
    free(state);
    free(w0);
    free(g);
    free(w);
    rb_optimizer_destroy(opt);
    rb_model_destroy(m);
}

START_TEST(test_step)
{
    if (!rb_test_torch_available()) return;
    run_step_case(&step_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 4. The defaults are the recipe                                      */

/* value of "recipe key" in the reference's list; fails when absent */
static double recipe_value(const char *path, const char *recipe, const char *key)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char r[64], k[64];
    double v;
    int found = 0;
    while (!found && fscanf(f, "%63s %63s %lf", r, k, &v) == 3)
        found = !strcmp(r, recipe) && !strcmp(k, key);
    fclose(f);
    ck_assert_msg(found, "the reference lists no %s %s", recipe, key);
    return v;
}

/* the engine's float32 default must be the reference's value rounded to float */
static void expect_default(const char *path, const char *recipe, const char *key, double engine)
{
    double ref = recipe_value(path, recipe, key);
    printf("%-6s %-12s engine %-12.9g reference (METHOD.md) %.9g\n", recipe, key, engine, ref);
    ck_assert_msg(engine == (double)(float)ref, "%s recipe: %s defaults to %.9g; METHOD.md (via the "
                  "reference) says %.9g", recipe, key, engine, ref);
}

START_TEST(test_defaults_are_the_recipe)
{
    if (!rb_test_torch_available()) return;
    const char *dir = case_dir("recipe");
    char path[1024];
    snprintf(path, sizeof path, "%s/recipe.txt", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s recipe %s",
             rb_test_source_path("tests/reference/torch_optim.py"), path);
    ck_assert_msg(system(cmd) == 0, "reference script failed: %s", cmd);
    for (int r = 0; r < 2; r++) {
        rb_optim_config c;
        rb_optim_config_default(&c, r == 0 ? RB_OPTIM_MUON : RB_OPTIM_ADAMW);
        const char *name = r == 0 ? "muon" : "adamw";
        expect_default(path, name, "adam_lr", c.adam_lr);
        expect_default(path, name, "adam_betas1", c.adam_beta1);
        expect_default(path, name, "adam_betas2", c.adam_beta2);
        expect_default(path, name, "adam_wd", c.adam_wd);
        expect_default(path, name, "adam_eps", c.adam_eps);
        expect_default(path, name, "clip", c.clip_norm);
        if (r == 0) {
            expect_default(path, name, "muon_lr", c.muon_lr);
            expect_default(path, name, "muon_wd", c.muon_wd);
            expect_default(path, name, "momentum", c.muon_momentum);
            expect_default(path, name, "nesterov", c.muon_nesterov);
            expect_default(path, name, "ns_a", c.ns_a);
            expect_default(path, name, "ns_b", c.ns_b);
            expect_default(path, name, "ns_c", c.ns_c);
            expect_default(path, name, "ns_steps", c.ns_steps);
            expect_default(path, name, "ns_bf16", c.ns_bf16);
            expect_default(path, name, "muon_fuse", c.muon_fuse);
        }
    }
}
END_TEST

int main(void)
{
    if (!rb_test_torch_available()) {
        printf("SKIP: /usr/bin/python3 cannot import torch and numpy (install python3-torch)\n");
        return RB_TEST_SKIP;
    }
    be = rb_test_cpu_backend();
    Suite *s = suite_create("reference_optim");
    TCase *tc = tcase_create("torch");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_orthogonalize, 0, 2);
    tcase_add_loop_test(tc, test_step, 0, N_STEP_CASES);
    tcase_add_test(tc, test_defaults_are_the_recipe);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    return rc;
}
