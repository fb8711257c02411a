/* hf_config.c: Hugging Face config.json <-> rb_config for LlamaForCausalLM
 * and Olmo2ForCausalLM.
 *
 * Reading follows transformers' meaning of each field. Required: the
 * architecture (architectures[0], or model_type when architectures is
 * absent), vocab_size, hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, max_position_embeddings, rms_norm_eps. Optional with
 * transformers' defaults: num_key_value_heads (= heads), head_dim
 * (= hidden/heads), rope_theta (10000), tie_word_embeddings (false),
 * rope_scaling / rope_parameters (none), bos/eos (none). RoPE may come from
 * rope_theta + rope_scaling (transformers 4.x) or rope_parameters
 * (transformers 5); when both are present they must agree. Settings that
 * change the computation in ways the engine does not implement (biases, an
 * activation other than SiLU, other RoPE scalings) are refused, never
 * ignored. Other keys (initializer_range, use_cache, ...) do not affect a
 * forward pass and are ignored. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define SUPPORTED "LlamaForCausalLM, Olmo2ForCausalLM"

/* What a value was, for messages: the number itself, else its JSON type. */
static const char *got(const cJSON *j, char *buf, size_t cap)
{
    if (cJSON_IsNumber(j)) {
        snprintf(buf, cap, "%g", j->valuedouble);
        return buf;
    }
    return rb_json_type_name(j);
}

typedef struct {
    const cJSON *root;
    const char *src;
    rb_error *err;
} ctx;

static rb_status need_int(ctx *c, const char *key, int lo, int *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->root, key);
    if (!j)
        return rb_fail(c->err, RB_EFORMAT, "%s: required field \"%s\" is missing", c->src, key);
    char b[64];
    if (!rb_json_is_int_in(j, lo, 2147483647.0))
        return rb_fail(c->err, RB_EFORMAT, "%s: field \"%s\" must be an integer >= %d (got %s)",
                       c->src, key, lo, got(j, b, sizeof b));
    *out = (int)j->valuedouble;
    return RB_OK;
}

/* Absent or null: *out keeps its value and *present = 0. */
static rb_status opt_int(ctx *c, const char *key, int lo, int *out, int *present)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->root, key);
    *present = 0;
    if (!j || cJSON_IsNull(j)) return RB_OK;
    char b[64];
    if (!rb_json_is_int_in(j, lo, 2147483647.0))
        return rb_fail(c->err, RB_EFORMAT, "%s: field \"%s\" must be an integer >= %d or null "
                       "(got %s)", c->src, key, lo, got(j, b, sizeof b));
    *out = (int)j->valuedouble;
    *present = 1;
    return RB_OK;
}

static rb_status positive_number(ctx *c, const cJSON *j, const char *key, double *out)
{
    char b[64];
    /* Stored as float: a value beyond float's range would become infinite. */
    if (!cJSON_IsNumber(j) || !(fabs(j->valuedouble) <= FLT_MAX) || !(j->valuedouble > 0))
        return rb_fail(c->err, RB_EFORMAT, "%s: field \"%s\" must be a positive number (got %s)",
                       c->src, key, got(j, b, sizeof b));
    *out = j->valuedouble;
    return RB_OK;
}

/* A boolean that, when true, asks for something the engine lacks. */
static rb_status refuse_true(ctx *c, const char *key, const char *why)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c->root, key);
    if (!j || cJSON_IsNull(j) || cJSON_IsFalse(j)) return RB_OK;
    if (!cJSON_IsBool(j))
        return rb_fail(c->err, RB_EFORMAT, "%s: field \"%s\" must be a boolean (got %s)", c->src,
                       key, rb_json_type_name(j));
    return rb_fail(c->err, RB_EUNSUPPORTED, "%s: \"%s\": true is not supported (%s)", c->src, key,
                   why);
}

typedef struct {
    rb_rope_scaling kind;
    double factor, low, high;
    int orig;
} scaling;

/* One RoPE description: rope_scaling (4.x) or rope_parameters (5.x). */
static rb_status parse_scaling(ctx *c, const cJSON *o, const char *field, int type_optional,
                               scaling *s)
{
    memset(s, 0, sizeof *s);
    s->kind = RB_ROPE_SCALING_NONE;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "rope_type");
    if (!ty) ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!ty) {
        /* transformers 5 keys rope_parameters by layer type for models that
         * mix attention kinds: nothing of that shape is supported here. */
        for (const cJSON *x = o->child; x; x = x->next)
            if (cJSON_IsObject(x))
                return rb_fail(c->err, RB_EUNSUPPORTED, "%s: \"%s\" holds per-layer-type "
                               "settings (\"%s\"), which retrobench does not support", c->src,
                               field, x->string);
        if (type_optional) return RB_OK;
        return rb_fail(c->err, RB_EFORMAT, "%s: \"%s\" has no \"rope_type\"", c->src, field);
    }
    if (!cJSON_IsString(ty))
        return rb_fail(c->err, RB_EFORMAT, "%s: %s.rope_type must be a string (got %s)", c->src,
                       field, rb_json_type_name(ty));
    if (!strcmp(ty->valuestring, "default")) return RB_OK;
    if (strcmp(ty->valuestring, "llama3") != 0)
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: %s.rope_type \"%.40s\" is not supported "
                       "(supported: default, llama3)", c->src, field, ty->valuestring);
    s->kind = RB_ROPE_SCALING_LLAMA3;
    static const char *keys[3] = {"factor", "low_freq_factor", "high_freq_factor"};
    double *dst[3] = {&s->factor, &s->low, &s->high};
    char name[96];
    for (int i = 0; i < 3; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        snprintf(name, sizeof name, "%s.%s", field, keys[i]);
        if (!j)
            return rb_fail(c->err, RB_EFORMAT, "%s: required field \"%s\" is missing (llama3 "
                           "RoPE scaling needs it)", c->src, name);
        rb_status rc = positive_number(c, j, name, dst[i]);
        if (rc != RB_OK) return rc;
    }
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "original_max_position_embeddings");
    if (!j)
        return rb_fail(c->err, RB_EFORMAT, "%s: required field \"%s.original_max_position_"
                       "embeddings\" is missing (llama3 RoPE scaling needs it)", c->src, field);
    if (!rb_json_is_int_in(j, 1, 2147483647.0))
        return rb_fail(c->err, RB_EFORMAT, "%s: %s.original_max_position_embeddings must be a "
                       "positive integer (got %s)", c->src, field, rb_json_type_name(j));
    s->orig = (int)j->valuedouble;
    return RB_OK;
}

static rb_status parse_rope(ctx *c, rb_config *cfg)
{
    rb_status rc;
    double theta = 10000.0; /* transformers' default for both classes */
    int have_theta = 0;
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(c->root, "rope_theta");
    if (jt && !cJSON_IsNull(jt)) {
        if ((rc = positive_number(c, jt, "rope_theta", &theta)) != RB_OK) return rc;
        have_theta = 1;
    }
    scaling s = {.kind = RB_ROPE_SCALING_NONE}, s2;
    int have_params = 0;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(c->root, "rope_parameters");
    if (rp && !cJSON_IsNull(rp)) {
        if (!cJSON_IsObject(rp))
            return rb_fail(c->err, RB_EFORMAT, "%s: \"rope_parameters\" must be an object or "
                           "null (got %s)", c->src, rb_json_type_name(rp));
        if ((rc = parse_scaling(c, rp, "rope_parameters", 1, &s)) != RB_OK) return rc;
        have_params = 1;
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(rp, "rope_theta");
        if (pt) {
            double t2 = 0;
            if ((rc = positive_number(c, pt, "rope_parameters.rope_theta", &t2)) != RB_OK)
                return rc;
            if (have_theta && t2 != theta)
                return rb_fail(c->err, RB_EFORMAT, "%s: rope_theta = %g disagrees with "
                               "rope_parameters.rope_theta = %g; keep one", c->src, theta, t2);
            theta = t2;
        }
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c->root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        if (!cJSON_IsObject(rs))
            return rb_fail(c->err, RB_EFORMAT, "%s: \"rope_scaling\" must be an object or null "
                           "(got %s)", c->src, rb_json_type_name(rs));
        if ((rc = parse_scaling(c, rs, "rope_scaling", 0, &s2)) != RB_OK) return rc;
        if (have_params && memcmp(&s, &s2, sizeof s) != 0)
            return rb_fail(c->err, RB_EFORMAT, "%s: \"rope_scaling\" and \"rope_parameters\" "
                           "describe different RoPE scalings; keep one", c->src);
        s = s2;
    }
    cfg->rope_theta = (float)theta;
    cfg->rope_scaling = s.kind;
    if (s.kind == RB_ROPE_SCALING_LLAMA3) {
        cfg->rope_factor = (float)s.factor;
        cfg->rope_low_freq_factor = (float)s.low;
        cfg->rope_high_freq_factor = (float)s.high;
        cfg->rope_original_max_pos = s.orig;
    }
    return RB_OK;
}

static rb_status parse_arch(ctx *c, rb_hf_config *out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c->root, "architectures");
    const char *name = NULL;
    if (a && !cJSON_IsNull(a)) {
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || !cJSON_IsString(a->child))
            return rb_fail(c->err, RB_EFORMAT, "%s: \"architectures\" must be a non-empty list "
                           "of strings", c->src);
        name = a->child->valuestring;
    } else {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c->root, "model_type");
        if (!cJSON_IsString(mt))
            return rb_fail(c->err, RB_EFORMAT, "%s: required field \"architectures\" is missing "
                           "(and there is no \"model_type\" to go by)", c->src);
        if (!strcmp(mt->valuestring, "llama"))
            name = "LlamaForCausalLM";
        else if (!strcmp(mt->valuestring, "olmo2"))
            name = "Olmo2ForCausalLM";
        else
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: model_type \"%.60s\" is not supported "
                           "(supported: llama, olmo2)", c->src, mt->valuestring);
    }
    if (!strcmp(name, "LlamaForCausalLM"))
        out->cfg.block = RB_BLOCK_LLAMA;
    else if (!strcmp(name, "Olmo2ForCausalLM"))
        out->cfg.block = RB_BLOCK_OLMO2;
    else
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: architecture \"%.60s\" is not supported "
                       "(supported: " SUPPORTED ")", c->src, name);
    snprintf(out->architecture, sizeof out->architecture, "%s", name);
    return RB_OK;
}

static rb_status parse_special(ctx *c, rb_hf_config *out)
{
    int present;
    rb_status rc = opt_int(c, "bos_token_id", 0, &out->bos_id, &present);
    if (rc != RB_OK) return rc;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(c->root, "eos_token_id");
    if (!e || cJSON_IsNull(e)) return RB_OK;
    if (cJSON_IsArray(e)) {
        if (cJSON_GetArraySize(e) > RB_MAX_EOS_IDS)
            return rb_fail(c->err, RB_EUNSUPPORTED, "%s: \"eos_token_id\" lists %d ids; at most "
                           "%d are supported", c->src, cJSON_GetArraySize(e), RB_MAX_EOS_IDS);
        for (const cJSON *x = e->child; x; x = x->next) {
            if (!rb_json_is_int_in(x, 0, 2147483647.0))
                return rb_fail(c->err, RB_EFORMAT, "%s: \"eos_token_id\" must hold non-negative "
                               "integers (found %s)", c->src, rb_json_type_name(x));
            out->eos_ids[out->n_eos++] = (int)x->valuedouble;
        }
        return RB_OK;
    }
    if (!rb_json_is_int_in(e, 0, 2147483647.0))
        return rb_fail(c->err, RB_EFORMAT, "%s: \"eos_token_id\" must be an integer, a list of "
                       "integers or null (got %s)", c->src, rb_json_type_name(e));
    out->eos_ids[0] = (int)e->valuedouble;
    out->n_eos = 1;
    return RB_OK;
}

static rb_status parse_root(ctx *c, rb_hf_config *out)
{
    rb_config *cfg = &out->cfg;
    rb_status rc;
    int n_layers = 0, present;
    if ((rc = parse_arch(c, out)) != RB_OK) return rc;
    if ((rc = need_int(c, "vocab_size", 1, &cfg->vocab_size)) != RB_OK) return rc;
    if ((rc = need_int(c, "hidden_size", 1, &cfg->dim)) != RB_OK) return rc;
    if ((rc = need_int(c, "intermediate_size", 1, &cfg->hidden_dim)) != RB_OK) return rc;
    if ((rc = need_int(c, "num_hidden_layers", 1, &n_layers)) != RB_OK) return rc;
    if ((rc = need_int(c, "num_attention_heads", 1, &cfg->n_heads)) != RB_OK) return rc;
    if ((rc = need_int(c, "max_position_embeddings", 1, &cfg->max_seq_len)) != RB_OK) return rc;
    cfg->n_kv_heads = cfg->n_heads;
    if ((rc = opt_int(c, "num_key_value_heads", 1, &cfg->n_kv_heads, &present)) != RB_OK)
        return rc;
    cfg->head_dim = 0;
    if ((rc = opt_int(c, "head_dim", 1, &cfg->head_dim, &present)) != RB_OK) return rc;

    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c->root, "rms_norm_eps");
    if (!eps)
        return rb_fail(c->err, RB_EFORMAT, "%s: required field \"rms_norm_eps\" is missing",
                       c->src);
    double v = 0;
    if ((rc = positive_number(c, eps, "rms_norm_eps", &v)) != RB_OK) return rc;
    cfg->norm_eps = (float)v;

    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(c->root, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie))
        return rb_fail(c->err, RB_EFORMAT, "%s: field \"tie_word_embeddings\" must be a boolean "
                       "(got %s)", c->src, rb_json_type_name(tie));
    cfg->tied_head = tie && cJSON_IsTrue(tie);

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c->root, "hidden_act");
    if (act && !cJSON_IsNull(act) && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return rb_fail(c->err, RB_EUNSUPPORTED, "%s: hidden_act %s%.40s%s is not supported (the "
                       "engine's MLP is SwiGLU with SiLU)", c->src, cJSON_IsString(act) ? "\"" : "",
                       cJSON_IsString(act) ? act->valuestring : rb_json_type_name(act),
                       cJSON_IsString(act) ? "\"" : "");
    if ((rc = refuse_true(c, "attention_bias", "the engine's projections have no bias")) != RB_OK)
        return rc;
    if ((rc = refuse_true(c, "mlp_bias", "the engine's MLP has no bias")) != RB_OK) return rc;
    if ((rc = parse_rope(c, cfg)) != RB_OK) return rc;
    if ((rc = parse_special(c, out)) != RB_OK) return rc;

    /* HF checkpoints use the half-split RoPE layout: no permutation. */
    cfg->rope_layout = RB_ROPE_HALF;
    cfg->n_prelude = n_layers;
    cfg->n_recur = 0;
    cfg->n_coda = 0;
    rc = rb_config_finalize(cfg, c->err);
    if (rc != RB_OK) rb_fail_prefix(c->err, "%s: ", c->src);
    return rc;
}

rb_status rb_hf_config_parse(const char *json, size_t len, const char *source, rb_hf_config *out,
                             rb_error *err)
{
    memset(out, 0, sizeof *out);
    rb_config_defaults(&out->cfg);
    out->bos_id = -1;
    const char *src = source ? source : "config.json";
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return rb_fail(err, RB_EFORMAT, "%s: not valid JSON; a Hugging Face config.json is one "
                       "JSON object", src);
    ctx c = {root, src, err};
    rb_status rc;
    if (!cJSON_IsObject(root))
        rc = rb_fail(err, RB_EFORMAT, "%s: the top level is %s, expected a JSON object", src,
                     rb_json_type_name(root));
    else
        rc = parse_root(&c, out);
    cJSON_Delete(root);
    if (rc != RB_OK) {
        memset(out, 0, sizeof *out);
        out->bos_id = -1;
    }
    return rc;
}

/* ---------------- writing ---------------- */

static int add_raw_float(cJSON *o, const char *key, float x)
{
    char buf[40];
    rb_io_format_float(buf, sizeof buf, x);
    return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static int add_id(cJSON *o, const char *key, int id)
{
    return (id >= 0 ? cJSON_AddNumberToObject(o, key, id) : cJSON_AddNullToObject(o, key)) != NULL;
}

char *rb_hf_config_to_json(const rb_config *cfg_in, int bos_id, int eos_id, rb_error *err)
{
    rb_config cfg = *cfg_in;
    if (rb_config_finalize(&cfg, err) != RB_OK) {
        rb_fail_prefix(err, "writing config.json: ");
        return NULL;
    }
    if (cfg.n_recur > 0) {
        rb_fail(err, RB_EUNSUPPORTED, "writing config.json: the model has a recurrent block "
                "(%d layers); Hugging Face has no recurrent architecture, save it as a "
                "retrobench checkpoint instead", cfg.n_recur);
        return NULL;
    }
    if (cfg.rope_layout != RB_ROPE_HALF) {
        rb_fail(err, RB_EUNSUPPORTED, "writing config.json: the weights use the interleaved "
                "RoPE layout; Hugging Face expects the half-split layout (permute the q/k rows "
                "with rb_rope_rows_interleaved_to_half first)");
        return NULL;
    }
    const int olmo = cfg.block == RB_BLOCK_OLMO2;
    cJSON *o = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    int ok = o && arch;
    if (ok) cJSON_AddItemToArray(arch, cJSON_CreateString(olmo ? "Olmo2ForCausalLM"
                                                               : "LlamaForCausalLM"));
    ok = ok && cJSON_AddStringToObject(o, "model_type", olmo ? "olmo2" : "llama");
    ok = ok && cJSON_AddStringToObject(o, "hidden_act", "silu");
    ok = ok && cJSON_AddNumberToObject(o, "vocab_size", cfg.vocab_size);
    ok = ok && cJSON_AddNumberToObject(o, "hidden_size", cfg.dim);
    ok = ok && cJSON_AddNumberToObject(o, "intermediate_size", cfg.hidden_dim);
    ok = ok && cJSON_AddNumberToObject(o, "num_hidden_layers", rb_config_n_layers(&cfg));
    ok = ok && cJSON_AddNumberToObject(o, "num_attention_heads", cfg.n_heads);
    ok = ok && cJSON_AddNumberToObject(o, "num_key_value_heads", cfg.n_kv_heads);
    ok = ok && cJSON_AddNumberToObject(o, "head_dim", cfg.head_dim);
    ok = ok && cJSON_AddNumberToObject(o, "max_position_embeddings", cfg.max_seq_len);
    ok = ok && add_raw_float(o, "rms_norm_eps", cfg.norm_eps);
    ok = ok && add_raw_float(o, "rope_theta", cfg.rope_theta);
    if (ok && cfg.rope_scaling == RB_ROPE_SCALING_LLAMA3) {
        cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
        ok = rs && cJSON_AddStringToObject(rs, "rope_type", "llama3") &&
             add_raw_float(rs, "factor", cfg.rope_factor) &&
             add_raw_float(rs, "low_freq_factor", cfg.rope_low_freq_factor) &&
             add_raw_float(rs, "high_freq_factor", cfg.rope_high_freq_factor) &&
             cJSON_AddNumberToObject(rs, "original_max_position_embeddings",
                                     cfg.rope_original_max_pos);
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "rope_scaling") != NULL;
    }
    ok = ok && cJSON_AddBoolToObject(o, "tie_word_embeddings", cfg.tied_head);
    ok = ok && add_id(o, "bos_token_id", bos_id);
    ok = ok && add_id(o, "eos_token_id", eos_id);
    ok = ok && cJSON_AddBoolToObject(o, "attention_bias", 0);
    if (!olmo) ok = ok && cJSON_AddBoolToObject(o, "mlp_bias", 0);
    ok = ok && cJSON_AddStringToObject(o, "torch_dtype", "float32");
    char *text = rb_json_take_text(o, ok, 1);
    if (!text) rb_fail(err, RB_ENOMEM, "writing config.json: out of memory");
    return text;
}
