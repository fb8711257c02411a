/* surgery.c: model surgery (see rb_surgery.h). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_model.h"
#include "rb_rng.h"
#include "rb_surgery.h"

/* Resolve the spec into one list of source layers (prelude, recur, coda). */
static rb_status resolve(const rb_config *base, const rb_surgery_spec *sp, int *P, int *R, int *C,
                         int **src, rb_error *err)
{
    const int L = rb_config_n_layers(base);
    int explicit_lists = sp->prelude_layers || sp->recur_layers || sp->coda_layers;
    if (explicit_lists) {
        *P = sp->n_prelude_layers;
        *R = sp->n_recur_layers;
        *C = sp->n_coda_layers;
    } else {
        *P = sp->n_prelude;
        *R = sp->n_recur;
        *C = sp->n_coda;
    }
    if (*P < 0 || *R < 1 || *C < 0)
        return rb_fail(err, RB_EINVAL, "surgery: (P,R,C) = (%d,%d,%d); the recurrent block needs at "
                                       "least one layer and no part may be negative", *P, *R, *C);
    if (!explicit_lists && *P + *R + *C > L)
        return rb_fail(err, RB_EINVAL, "surgery: (P,R,C) = (%d,%d,%d) needs %d layers but the base "
                                       "model has %d; choose smaller parts", *P, *R, *C,
                       *P + *R + *C, L);
    int n = *P + *R + *C;
    int *s = malloc(sizeof(int) * (size_t)n);
    if (!s) return rb_fail(err, RB_ENOMEM, "surgery: out of memory");
    if (explicit_lists) {
        const int *lists[3] = {sp->prelude_layers, sp->recur_layers, sp->coda_layers};
        int counts[3] = {*P, *R, *C}, k = 0;
        const char *names[3] = {"prelude", "recurrent", "coda"};
        for (int part = 0; part < 3; part++)
            for (int i = 0; i < counts[part]; i++) {
                int v = lists[part] ? lists[part][i] : -1;
                if (v < 0 || v >= L) {
                    free(s);
                    return rb_fail(err, RB_EINVAL, "surgery: %s layer %d is not a layer of the base "
                                                   "model (it has layers 0..%d)", names[part], v, L - 1);
                }
                s[k++] = v;
            }
    } else {
        int k = 0;
        for (int i = 0; i < *P; i++) s[k++] = i;
        for (int i = 0; i < *R; i++) s[k++] = L - *C - *R + i;
        for (int i = 0; i < *C; i++) s[k++] = L - *C + i;
    }
    *src = s;
    return RB_OK;
}

rb_status rb_surgery(const rb_config *base_cfg, const float *base_params, const rb_surgery_spec *sp,
                     rb_config *out_cfg, float **out_params, rb_retrofit_plan *plan, rb_error *err)
{
    *out_params = NULL;
    memset(plan, 0, sizeof *plan);
    if (base_cfg->n_recur > 0)
        return rb_fail(err, RB_EINVAL, "surgery: the base model is already recurrent (%d recurrent "
                                       "layers); surgery starts from a plain model",
                       base_cfg->n_recur);
    if (sp->static_model < RB_STATIC_NONE || sp->static_model > RB_STATIC_BASELINE)
        return rb_fail(err, RB_EINVAL, "surgery: unknown static baseline kind %d", sp->static_model);
    int P, R, C, *src = NULL;
    rb_status st;
    if (sp->static_model == RB_STATIC_BASELINE) {
        /* every layer of the base model, in order; no layer choice applies */
        if (sp->prelude_layers || sp->recur_layers || sp->coda_layers)
            return rb_fail(err, RB_EINVAL, "surgery: the static baseline is the whole base model; "
                                           "explicit layer lists apply to a retrofit or to the "
                                           "surgery-layers ablation");
        P = rb_config_n_layers(base_cfg), R = C = 0;
        if (!(src = malloc(sizeof(int) * (size_t)(P > 0 ? P : 1))))
            return rb_fail(err, RB_ENOMEM, "surgery: out of memory");
        for (int i = 0; i < P; i++) src[i] = i;
    } else if ((st = resolve(base_cfg, sp, &P, &R, &C, &src, err)) != RB_OK) {
        return st;
    }

    rb_config cfg = *base_cfg;
    cfg.n_prelude = P;
    cfg.n_recur = R;
    cfg.n_coda = C;
    if (sp->static_model) { /* the listed layers once each, in sequence, no adapter */
        cfg.n_prelude = P + R + C;
        cfg.n_recur = cfg.n_coda = 0;
    }
    cfg.tied_head = 0;
    rb_param_table bt, nt;
    st = rb_config_finalize(&cfg, err);
    if (st == RB_OK) st = rb_param_table_build(&bt, base_cfg, err);
    if (st != RB_OK) {
        free(src);
        return st;
    }
    st = rb_param_table_build(&nt, &cfg, err);
    if (st != RB_OK) {
        rb_param_table_free(&bt);
        free(src);
        return st;
    }
    float *out = malloc(nt.total * sizeof(float));
    if (!out) {
        st = rb_fail(err, RB_ENOMEM, "surgery: out of memory for %zu parameters", nt.total);
        goto done;
    }
    const int h = cfg.dim;
    for (int i = 0; i < nt.count; i++) {
        const rb_param *p = &nt.items[i];
        char name[RB_PARAM_NAME_MAX];
        if (p->layer >= 0) {
            /* model.layers.<dst>.<rest> <- model.layers.<src>.<rest> */
            const char *rest = strchr(p->name + strlen("model.layers."), '.');
            snprintf(name, sizeof name, "model.layers.%d%s", src[p->layer], rest);
        } else if (!strcmp(p->name, "lm_head.weight") && base_cfg->tied_head) {
            snprintf(name, sizeof name, "model.embed_tokens.weight");
        } else {
            snprintf(name, sizeof name, "%s", p->name);
        }
        if (!strcmp(p->name, "model.adapter.weight")) {
            float *w = out + p->offset;
            if (sp->adapter_init == RB_ADAPTER_IDENTITY) {
                memset(w, 0, p->numel * sizeof(float));
                for (int r = 0; r < h; r++) w[(size_t)r * 2 * h + h + r] = 1.0f;
            } else {
                rb_rng rng;
                rb_rng_seed2(&rng, sp->seed, 0xADA97E5ull);
                double bound = 1.0 / sqrt(2.0 * h);
                for (size_t j = 0; j < p->numel; j++)
                    w[j] = (float)((2.0 * rb_rng_uniform(&rng) - 1.0) * bound);
            }
            continue;
        }
        int bi = rb_param_table_find(&bt, name);
        if (bi < 0 || bt.items[bi].numel != p->numel) {
            st = rb_fail(err, RB_EINVAL, "surgery: base parameter %s not found for %s", name, p->name);
            goto done;
        }
        memcpy(out + p->offset, base_params + bt.items[bi].offset, p->numel * sizeof(float));
    }
    plan->n_src_layers = rb_config_n_layers(base_cfg);
    plan->n_blocks = P + R + C;
    plan->src_layer = src;
    src = NULL;
    snprintf(plan->adapter_init, sizeof plan->adapter_init, "%s",
             sp->static_model ? "none" : sp->adapter_init == RB_ADAPTER_IDENTITY ? "identity" : "uniform");
    snprintf(plan->base_model, sizeof plan->base_model, "%s", sp->base_name ? sp->base_name : "");
    snprintf(plan->kind, sizeof plan->kind, "%s",
             sp->static_model == RB_STATIC_BASELINE         ? RB_PLAN_KIND_STATIC_BASELINE
             : sp->static_model == RB_STATIC_SURGERY_LAYERS ? RB_PLAN_KIND_STATIC_SURGERY_LAYERS
                                                            : "");
    *out_cfg = cfg;
    *out_params = out;
    out = NULL;
done:
    free(out);
    free(src);
    rb_param_table_free(&bt);
    rb_param_table_free(&nt);
    return st;
}

/* One part: "a,b-c,d" (possibly empty) -> ints. */
static rb_status parse_part(const char *s, const char *end, int *out, int cap, int *n, rb_error *err)
{
    *n = 0;
    while (s < end) {
        while (s < end && isspace((unsigned char)*s)) s++;
        if (s == end) break;
        char *e;
        long a = strtol(s, &e, 10);
        if (e == s || a < 0 || a > 100000)
            return rb_fail(err, RB_EINVAL, "surgery layers: expected a layer number at '%.*s'",
                           (int)(end - s), s);
        long b = a;
        s = e;
        if (s < end && *s == '-') {
            b = strtol(s + 1, &e, 10);
            if (e == s + 1 || b < a || b > 100000)
                return rb_fail(err, RB_EINVAL, "surgery layers: bad range ending at '%.*s'",
                               (int)(end - s), s);
            s = e;
        }
        for (long v = a; v <= b; v++) {
            if (*n >= cap) return rb_fail(err, RB_EINVAL, "surgery layers: too many layers listed");
            out[(*n)++] = (int)v;
        }
        while (s < end && isspace((unsigned char)*s)) s++;
        if (s < end && *s != ',')
            return rb_fail(err, RB_EINVAL, "surgery layers: unexpected '%c' (use e.g. 0-3|10-17|18-21)", *s);
        if (s < end) s++;
    }
    return RB_OK;
}

rb_status rb_surgery_parse_layers(const char *text, rb_surgery_spec *sp, int **storage, rb_error *err)
{
    *storage = NULL;
    const char *bar1 = strchr(text, '|');
    const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
    if (!bar1 || !bar2 || strchr(bar2 + 1, '|'))
        return rb_fail(err, RB_EINVAL, "surgery layers '%s': expected prelude|recurrent|coda, for "
                                       "example 0|2,3|4 or 0-3|10-17|18-21", text);
    const int cap = 4096;
    int *buf = malloc(sizeof(int) * 3 * cap);
    if (!buf) return rb_fail(err, RB_ENOMEM, "surgery layers: out of memory");
    int np, nr, nc;
    rb_status st = parse_part(text, bar1, buf, cap, &np, err);
    if (st == RB_OK) st = parse_part(bar1 + 1, bar2, buf + cap, cap, &nr, err);
    if (st == RB_OK) st = parse_part(bar2 + 1, bar2 + 1 + strlen(bar2 + 1), buf + 2 * cap, cap, &nc, err);
    if (st == RB_OK && nr == 0)
        st = rb_fail(err, RB_EINVAL, "surgery layers '%s': the recurrent part is empty", text);
    if (st != RB_OK) {
        free(buf);
        return st;
    }
    sp->prelude_layers = buf;
    sp->n_prelude_layers = np;
    sp->recur_layers = buf + cap;
    sp->n_recur_layers = nr;
    sp->coda_layers = buf + 2 * cap;
    sp->n_coda_layers = nc;
    *storage = buf;
    return RB_OK;
}
