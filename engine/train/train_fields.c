/* train_fields.c: the table of rb_train_config's settings and the
 * functions that read and set them by description (see rb_train_fields.h). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_train_fields.h"

/* Enums are stored in the struct and accessed here as int. */
_Static_assert(sizeof(rb_curric_shape) == sizeof(int), "enum size");
_Static_assert(sizeof(rb_depth_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(rb_optim_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(rb_lr_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(rb_lr_decay_shape) == sizeof(int), "enum size");

static const rb_train_choice curric_shapes[] = {
    {"1-sqrt", RB_CURRIC_1SQRT}, {"linear", RB_CURRIC_LINEAR}, {"constant", RB_CURRIC_CONSTANT}, {0, 0}};
static const rb_train_choice backprop_shapes[] = {
    {"constant", RB_CURRIC_CONSTANT}, {"linear", RB_CURRIC_LINEAR}, {"1-sqrt", RB_CURRIC_1SQRT}, {0, 0}};
static const rb_train_choice depth_modes[] = {
    {"sampled", RB_DEPTH_SAMPLED}, {"fixed", RB_DEPTH_FIXED_TRAIN}, {0, 0}};
static const rb_train_choice optim_kinds[] = {{"muon", RB_OPTIM_MUON}, {"adamw", RB_OPTIM_ADAMW}, {0, 0}};
static const rb_train_choice ns_precisions[] = {{"bf16", 1}, {"fp32", 0}, {0, 0}};
static const rb_train_choice lr_kinds[] = {{"wsd", RB_LR_WSD}, {"cosine", RB_LR_COSINE}, {0, 0}};
static const rb_train_choice lr_decays[] = {
    {"cosine", RB_LR_DECAY_COSINE}, {"linear", RB_LR_DECAY_LINEAR}, {"1-sqrt", RB_LR_DECAY_1SQRT}, {0, 0}};

#define OFF(m) offsetof(rb_train_config, m)
#define BIG 1099511627776.0 /* 2^40 */
#define R RB_TF_RECIPE

/* The order of the RB_TF_RECIPE rows is the order of the checkpoint
 * recipe's keys: keep it (checkpoints are compared byte for byte). */
static const rb_train_field fields[] = {
    {"sources", "data", "data", RB_TF_SOURCES, OFF(sources), 0, 0, NULL, "FILE[:WEIGHT]",
     "packed token file (.rbtok), repeatable; sampled in proportion to WEIGHT", RB_TF_REQUIRED},
    {"steps", "steps", "data", RB_TF_INT64, OFF(steps), 1, BIG, NULL, "N", "optimizer steps of this phase",
     RB_TF_REQUIRED},
    {"batch", "batch", "data", RB_TF_INT, OFF(batch), 1, 1 << 20, NULL, "B",
     "rows per micro-batch (over all data-parallel ranks)", R},
    {"grad_accum", "accum", "data", RB_TF_INT, OFF(grad_accum), 1, 1 << 20, NULL, "A",
     "micro-batches per optimizer step", R},
    {"dp_shards", "dp-shards", "data", RB_TF_INT, OFF(dp_shards), 0, 1 << 20, NULL, "S",
     "gradient shards per micro-batch (batch / S rows per forward), summed in shard order; the same S "
     "gives the same bits on any rank count dividing it (default: one per rank)", 0},
    {"val_fraction", "val-fraction", "data", RB_TF_DOUBLE, OFF(val_fraction), 0, 0.99, NULL, "F",
     "last rows of each source held out for validation", R},
    {"seed", "seed", "data", RB_TF_U64, OFF(seed), 0, 9223372036854775807.0, NULL, "S",
     "seed of the data order, the depth draws and the initial states", 0},
    {"rbar.shape", "curriculum", "depth", RB_TF_CHOICE, OFF(rbar.shape), 0, 0, curric_shapes, "SHAPE",
     "how the mean recurrence grows to its maximum", R},
    {"rbar.warmup_fraction", "curriculum-warmup", "depth", RB_TF_DOUBLE, OFF(rbar.warmup_fraction), 0, 1,
     NULL, "F", "fraction of training over which the mean recurrence grows", R},
    {"rbar.max", "rbar", "depth", RB_TF_INT, OFF(rbar.max_value), 1, 65536, NULL, "R",
     "mean recurrence at the end of the curriculum", R},
    {"rbar.min_ratio", NULL, "depth", RB_TF_DOUBLE, OFF(rbar.min_ratio), 0, 0.999999, NULL, "F",
     "start of the recurrence curriculum as a fraction of its maximum", R},
    {"rbar.step_offset", NULL, "depth", RB_TF_INT64, OFF(rbar.step_offset), 0, BIG, NULL, "N",
     "steps added before evaluating the recurrence curriculum", R},
    {"backprop.shape", "backprop-curriculum", "depth", RB_TF_CHOICE, OFF(backprop.shape), 0, 0,
     backprop_shapes, "SHAPE", "how the mean backprop depth grows", R},
    {"backprop.warmup_fraction", "backprop-warmup", "depth", RB_TF_DOUBLE, OFF(backprop.warmup_fraction), 0,
     1, NULL, "F", "fraction of training over which it grows (default 0.75 when it grows)", R},
    {"backprop.max", "backprop", "depth", RB_TF_INT, OFF(backprop.max_value), 1, 65536, NULL, "B",
     "mean backprop depth (iterations with gradient)", R},
    {"backprop.min_ratio", NULL, "depth", RB_TF_DOUBLE, OFF(backprop.min_ratio), 0, 0.999999, NULL, "F",
     "start of the backprop curriculum as a fraction of its maximum", R},
    {"backprop.step_offset", NULL, "depth", RB_TF_INT64, OFF(backprop.step_offset), 0, BIG, NULL, "N",
     "steps added before evaluating the backprop curriculum", R},
    {"depth.mode", "depth-mode", "depth", RB_TF_CHOICE, OFF(depth.mode), 0, 0, depth_modes, "MODE",
     "sampled: Poisson-lognormal draws; fixed: rbar iterations every step", R},
    {"depth.sigma", "sigma", "depth", RB_TF_DOUBLE, OFF(depth.sigma), 0, 1, NULL, "S",
     "spread of the lognormal depth draws", R},
    {"optim.kind", "optim", "optimizer", RB_TF_CHOICE, OFF(optim.kind), 0, 0, optim_kinds, "OPT",
     "muon: Muon on matrices + AdamW on the rest; adamw: AdamW everywhere (eps 1e-8)", R},
    {"optim.muon_lr", "lr-muon", "optimizer", RB_TF_FLOAT, OFF(optim.muon_lr), 0, 10, NULL, "X",
     "Muon learning rate", R | RB_TF_MUON},
    {"optim.muon_momentum", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.muon_momentum), 0, 1, NULL, "X",
     "Muon momentum", R | RB_TF_MUON},
    {"optim.muon_wd", "wd", "optimizer", RB_TF_FLOAT, OFF(optim.muon_wd), 0, 10, NULL, "X",
     "weight decay (Muon and AdamW)", R | RB_TF_MUON},
    {"optim.muon_nesterov", NULL, "optimizer", RB_TF_BOOL, OFF(optim.muon_nesterov), 0, 1, NULL, NULL,
     "Nesterov momentum for Muon", R | RB_TF_MUON},
    {"optim.ns_steps", NULL, "optimizer", RB_TF_INT, OFF(optim.ns_steps), 1, 100, NULL, "N",
     "Newton-Schulz iterations", R | RB_TF_MUON},
    {"optim.ns_a", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.ns_a), -100, 100, NULL, "X",
     "Newton-Schulz coefficient a", R | RB_TF_MUON},
    {"optim.ns_b", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.ns_b), -100, 100, NULL, "X",
     "Newton-Schulz coefficient b", R | RB_TF_MUON},
    {"optim.ns_c", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.ns_c), -100, 100, NULL, "X",
     "Newton-Schulz coefficient c", R | RB_TF_MUON},
    {"optim.muon_fuse", "no-fuse", "optimizer", RB_TF_BOOL, OFF(optim.muon_fuse), 0, 1, NULL, NULL,
     "orthogonalise q,k,v and gate,up separately (default: fused)", R | RB_TF_MUON | RB_TF_NEGATE},
    {"optim.ns_bf16", "ns-precision", "optimizer", RB_TF_CHOICE, OFF(optim.ns_bf16), 0, 0, ns_precisions,
     "P", "bf16: the paper's (GEMM operands rounded to bf16, fp32 sums); default fp32 with --ns-gram",
     R | RB_TF_MUON},
    {"optim.ns_gram", "ns-gram", "optimizer", RB_TF_BOOL, OFF(optim.ns_gram), 0, 1, NULL, NULL,
     "Newton-Schulz on the Gram matrix of wide matrices (fewer FLOPs, ~3e-4 relative rounding)",
     R | RB_TF_MUON},
    {"optim.adam_lr", "lr-adam", "optimizer", RB_TF_FLOAT, OFF(optim.adam_lr), 0, 10, NULL, "X",
     "AdamW learning rate", R},
    {"optim.adam_beta1", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.adam_beta1), 0, 0.999999, NULL, "X",
     "AdamW beta1", R},
    {"optim.adam_beta2", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.adam_beta2), 0, 0.999999, NULL, "X",
     "AdamW beta2", R},
    {"optim.adam_eps", NULL, "optimizer", RB_TF_FLOAT, OFF(optim.adam_eps), 0, 1, NULL, "X",
     "AdamW epsilon (1e-10 with Muon, 1e-8 AdamW-only)", R},
    {"optim.adam_wd", "wd", "optimizer", RB_TF_FLOAT, OFF(optim.adam_wd), 0, 10, NULL, "X",
     "weight decay (Muon and AdamW)", R},
    {"optim.clip_norm", "clip", "optimizer", RB_TF_FLOAT, OFF(optim.clip_norm), 0, 1e9, NULL, "X",
     "global gradient-norm clipping (0: off)", R},
    {"lr.kind", "schedule", "schedule", RB_TF_CHOICE, OFF(lr.kind), 0, 0, lr_kinds, "S",
     "wsd: warmup, stable, decay; cosine: warmup then decay", R},
    {"lr.decay", "decay", "schedule", RB_TF_CHOICE, OFF(lr.decay), 0, 0, lr_decays, "SHAPE",
     "shape of the decay", R},
    {"lr.warmup_fraction", "warmup-frac", "schedule", RB_TF_DOUBLE, OFF(lr.warmup_fraction), 0, 1, NULL,
     "F", "fraction of training spent warming up", R},
    {"lr.decay_fraction", "decay-frac", "schedule", RB_TF_DOUBLE, OFF(lr.decay_fraction), 0, 1, NULL, "F",
     "fraction of training spent decaying (wsd)", R},
    {"lr.min_ratio", "min-lr-ratio", "schedule", RB_TF_DOUBLE, OFF(lr.min_ratio), 0, 1, NULL, "F",
     "learning rate at the ends as a fraction of the peak", R},
    {"val_every", "val-every", "eval", RB_TF_INT, OFF(val_every), 0, 2147483647.0, NULL, "N",
     "steps between validations (0: once, at the end)", 0},
    {"val_depths", "val-depths", "eval", RB_TF_DEPTHS, OFF(val_depths), 1, 4096, NULL, "R,R,...",
     "test depths of validation", 0},
    {"val_rows", "val-rows", "eval", RB_TF_INT, OFF(val_rows), 0, 1 << 30, NULL, "N",
     "held-out rows per validation (0: all)", 0},
    {"max_bad_steps", NULL, "eval", RB_TF_INT, OFF(max_bad_steps), 1, 1000000, NULL, "N",
     "non-finite steps in a row before training stops", 0},
};

#undef R
#undef OFF

const rb_train_field *rb_train_fields(int *count)
{
    if (count) *count = (int)(sizeof fields / sizeof fields[0]);
    return fields;
}

const rb_train_field *rb_train_field_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].name, name)) return &fields[i];
    return NULL;
}

int rb_train_field_index(const rb_train_field *f) { return (int)(f - fields); }

static void *at(rb_train_config *c, const rb_train_field *f) { return (char *)c + f->offset; }
static const void *cat(const rb_train_config *c, const rb_train_field *f)
{
    return (const char *)c + f->offset;
}

/* "rbar.max (--rbar)" */
static const char *label(const rb_train_field *f, char *buf, size_t cap)
{
    if (f->flag) snprintf(buf, cap, "%s (--%s)", f->name, f->flag);
    else snprintf(buf, cap, "%s", f->name);
    return buf;
}

static int is_integer_type(rb_train_field_type t)
{
    return t == RB_TF_INT || t == RB_TF_INT64 || t == RB_TF_U64 || t == RB_TF_BOOL;
}

rb_status rb_train_field_set_number(rb_train_config *c, const rb_train_field *f, double v, rb_error *err)
{
    char lb[96];
    if (f->type == RB_TF_CHOICE) {
        for (const rb_train_choice *ch = f->choices; ch->name; ch++)
            if ((double)ch->value == v) {
                *(int *)at(c, f) = ch->value;
                return RB_OK;
            }
        return rb_fail(err, RB_EINVAL, "training setting %s: %g is not one of its choices",
                       label(f, lb, sizeof lb), v);
    }
    if (f->type == RB_TF_DEPTHS || f->type == RB_TF_SOURCES)
        return rb_fail(err, RB_EINVAL, "training setting %s is a list, not a number", label(f, lb, sizeof lb));
    if (!isfinite(v) || v < f->min || v > f->max || (is_integer_type(f->type) && v != floor(v))) {
        return rb_fail(err, RB_EINVAL, "training setting %s must be %s in [%.17g, %.17g], not %.17g",
                       label(f, lb, sizeof lb), is_integer_type(f->type) ? "an integer" : "a number",
                       f->min, f->max, v);
    }
    switch (f->type) {
    case RB_TF_INT:
    case RB_TF_BOOL: *(int *)at(c, f) = (int)v; break;
    case RB_TF_INT64: *(int64_t *)at(c, f) = (int64_t)v; break;
    case RB_TF_U64: *(uint64_t *)at(c, f) = (uint64_t)v; break;
    case RB_TF_DOUBLE: *(double *)at(c, f) = v; break;
    case RB_TF_FLOAT: *(float *)at(c, f) = (float)v; break;
    default: break;
    }
    return RB_OK;
}

double rb_train_field_number(const rb_train_config *c, const rb_train_field *f)
{
    switch (f->type) {
    case RB_TF_INT:
    case RB_TF_BOOL:
    case RB_TF_CHOICE: return (double)*(const int *)cat(c, f);
    case RB_TF_INT64: return (double)*(const int64_t *)cat(c, f);
    case RB_TF_U64: return (double)*(const uint64_t *)cat(c, f);
    case RB_TF_DOUBLE: return *(const double *)cat(c, f);
    case RB_TF_FLOAT: return (double)*(const float *)cat(c, f);
    default: return 0;
    }
}

/* A whole number in [lo, hi] from text, exactly (no double rounding for
 * 64-bit values). */
static int parse_integer(const char *s, double lo, double hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || (double)v < lo || (double)v > hi) return -1;
    *out = v;
    return 0;
}

static rb_status parse_depths(rb_train_config *c, const rb_train_field *f, const char *text, rb_error *err)
{
    char lb[96];
    int depths[RB_TRAIN_MAX_VAL_DEPTHS], n = 0;
    const char *p = text;
    if (!*p) return rb_fail(err, RB_EINVAL, "training setting %s: empty list; give depths like 1,2,4,8",
                            label(f, lb, sizeof lb));
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        long long v;
        if (len == 0 || len >= sizeof item)
            return rb_fail(err, RB_EINVAL, "training setting %s: '%s' is not a list like 1,2,4,8",
                           label(f, lb, sizeof lb), text);
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_integer(item, f->min, f->max, &v))
            return rb_fail(err, RB_EINVAL, "training setting %s: '%s' is not a depth in [%g, %g]",
                           label(f, lb, sizeof lb), item, f->min, f->max);
        if (n >= RB_TRAIN_MAX_VAL_DEPTHS)
            return rb_fail(err, RB_EINVAL, "training setting %s: at most %d depths",
                           label(f, lb, sizeof lb), RB_TRAIN_MAX_VAL_DEPTHS);
        depths[n++] = (int)v;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p)
                return rb_fail(err, RB_EINVAL, "training setting %s: '%s' ends with a comma",
                               label(f, lb, sizeof lb), text);
        }
    }
    memcpy(c->val_depths, depths, sizeof(int) * (size_t)n);
    c->n_val_depths = n;
    return RB_OK;
}

/* FILE or FILE:WEIGHT (a colon followed by something that is not a number
 * belongs to the file name). */
static rb_status parse_source(rb_train_config *c, const rb_train_field *f, const char *spec, rb_error *err)
{
    char lb[96];
    if (c->n_sources >= RB_TRAIN_MAX_SOURCES)
        return rb_fail(err, RB_EINVAL, "training setting %s: at most %d data sources",
                       label(f, lb, sizeof lb), RB_TRAIN_MAX_SOURCES);
    rb_train_source *s = &c->sources[c->n_sources];
    const char *colon = strrchr(spec, ':');
    double w = 1;
    size_t len = strlen(spec);
    if (colon && colon[1]) {
        char *end;
        w = strtod(colon + 1, &end);
        if (*end == '\0') len = (size_t)(colon - spec);
        else w = 1;
    }
    if (len == 0 || len >= sizeof s->path || !(w > 0) || !isfinite(w))
        return rb_fail(err, RB_EINVAL, "training setting %s: bad data source '%s' (FILE or "
                                       "FILE:WEIGHT with WEIGHT > 0)", label(f, lb, sizeof lb), spec);
    memcpy(s->path, spec, len);
    s->path[len] = '\0';
    s->weight = w;
    c->n_sources++;
    return RB_OK;
}

rb_status rb_train_field_parse(rb_train_config *c, const rb_train_field *f, const char *text, rb_error *err)
{
    char lb[96];
    if (!text) text = "";
    switch (f->type) {
    case RB_TF_DEPTHS: return parse_depths(c, f, text, err);
    case RB_TF_SOURCES: return parse_source(c, f, text, err);
    case RB_TF_CHOICE: {
        for (const rb_train_choice *ch = f->choices; ch->name; ch++)
            if (!strcmp(ch->name, text)) {
                *(int *)at(c, f) = ch->value;
                return RB_OK;
            }
        char names[160] = "";
        for (const rb_train_choice *ch = f->choices; ch->name; ch++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     ch == f->choices ? "" : ch[1].name ? ", " : " or ", ch->name);
        return rb_fail(err, RB_EINVAL, "training setting %s must be %s, not '%s'", label(f, lb, sizeof lb),
                       names, text);
    }
    case RB_TF_BOOL:
        if (!strcmp(text, "1") || !strcmp(text, "true")) return rb_train_field_set_number(c, f, 1, err);
        if (!strcmp(text, "0") || !strcmp(text, "false")) return rb_train_field_set_number(c, f, 0, err);
        return rb_fail(err, RB_EINVAL, "training setting %s must be true or false, not '%s'",
                       label(f, lb, sizeof lb), text);
    case RB_TF_INT:
    case RB_TF_INT64:
    case RB_TF_U64: {
        long long v;
        if (parse_integer(text, f->min, f->max, &v))
            return rb_fail(err, RB_EINVAL, "training setting %s expects an integer in [%.17g, %.17g], "
                                           "got '%s'", label(f, lb, sizeof lb), f->min, f->max, text);
        if (f->type == RB_TF_INT64) *(int64_t *)at(c, f) = v;
        else if (f->type == RB_TF_U64) *(uint64_t *)at(c, f) = (uint64_t)v;
        else *(int *)at(c, f) = (int)v;
        return RB_OK;
    }
    case RB_TF_DOUBLE:
    case RB_TF_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (*text == '\0' || *end != '\0' || errno || !isfinite(v) || v < f->min || v > f->max)
            return rb_fail(err, RB_EINVAL, "training setting %s expects a number in [%g, %g], got '%s'",
                           label(f, lb, sizeof lb), f->min, f->max, text);
        return rb_train_field_set_number(c, f, v, err);
    }
    }
    return rb_fail(err, RB_EINVAL, "training setting %s: unknown type", f->name);
}

void rb_train_field_format(const rb_train_config *c, const rb_train_field *f, char *buf, size_t cap)
{
    if (cap == 0) return;
    buf[0] = '\0';
    switch (f->type) {
    case RB_TF_DEPTHS:
        for (int i = 0; i < c->n_val_depths; i++)
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s%d", i ? "," : "", c->val_depths[i]);
        break;
    case RB_TF_SOURCES:
        for (int i = 0; i < c->n_sources; i++)
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s:%g", i ? " " : "", c->sources[i].path,
                     c->sources[i].weight);
        break;
    case RB_TF_CHOICE: {
        int v = *(const int *)cat(c, f);
        for (const rb_train_choice *ch = f->choices; ch->name; ch++)
            if (ch->value == v) {
                snprintf(buf, cap, "%s", ch->name);
                return;
            }
        snprintf(buf, cap, "%d", v);
        break;
    }
    case RB_TF_BOOL: snprintf(buf, cap, "%s", *(const int *)cat(c, f) ? "true" : "false"); break;
    case RB_TF_INT64: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)cat(c, f)); break;
    case RB_TF_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)cat(c, f)); break;
    default: snprintf(buf, cap, "%g", rb_train_field_number(c, f)); break;
    }
}

void rb_train_config_resolve(rb_train_config *c, const unsigned char *given)
{
#define GIVEN(name) (given && given[rb_train_field_index(rb_train_field_find(name))])
    if (c->optim.kind == RB_OPTIM_ADAMW) {
        /* the paper's AdamW-only comparison: the Muon settings do not apply
         * and take their defaults; eps 1e-8 unless given */
        rb_optim_config o = c->optim;
        rb_optim_config_default(&c->optim, RB_OPTIM_ADAMW);
        c->optim.adam_lr = o.adam_lr;
        c->optim.adam_beta1 = o.adam_beta1;
        c->optim.adam_beta2 = o.adam_beta2;
        c->optim.adam_wd = o.adam_wd;
        c->optim.clip_norm = o.clip_norm;
        if (GIVEN("optim.adam_eps")) c->optim.adam_eps = o.adam_eps;
        if (GIVEN("optim.ns_bf16")) c->optim.ns_bf16 = o.ns_bf16;
    }
    if (!GIVEN("optim.ns_bf16")) c->optim.ns_bf16 = !c->optim.ns_gram;
    if (c->backprop.shape != RB_CURRIC_CONSTANT && !GIVEN("backprop.warmup_fraction"))
        c->backprop.warmup_fraction = 0.75;
#undef GIVEN
}
