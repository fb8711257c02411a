/* gguf_load.c: a GGUF file of architecture "llama" as a retrobench model:
 * the configuration from the llama.* keys, every tensor converted to
 * float32 into the parameter table layout, q/k rows moved from the
 * adjacent-pair RoPE layout (llama.cpp's converter stores them that way) to
 * the half-split layout, and the embedded tokenizer.
 *
 * GGUF dims list the fastest-varying dimension first, so a [rows, cols]
 * matrix has ne = {cols, rows} and the same row-major bytes. Every tensor in
 * the file must be used: an unknown one (biases, MoE experts, ...) means a
 * variant this loader would silently get wrong. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "rb_io.h"
#include "rb_model.h"

#define RB_PI 3.14159265358979323846

/* A positive int key (required, or def when absent and def > 0). */
static rb_status get_dim(const rb_gguf *g, const char *key, int def, int *v, rb_error *err)
{
    if (rb_gguf_find_key(g, key) < 0) {
        if (def > 0) {
            *v = def;
            return RB_OK;
        }
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF metadata is missing the required key '%s' (llama architecture)",
                       g->path, key);
    }
    rb_gguf_type et;
    if (rb_gguf_get_array(g, key, &et, NULL, NULL) == RB_OK)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF key '%s' is a per-layer array; models whose layers differ in "
                       "shape are not supported",
                       g->path, key);
    int64_t x;
    rb_status st = rb_gguf_get_int(g, key, &x, err);
    if (st) return st;
    if (x <= 0 || x > INT32_MAX)
        return rb_fail(err, RB_EFORMAT, "%s: GGUF key '%s' = %lld; it must be a positive integer",
                       g->path, key, (long long)x);
    *v = (int)x;
    return RB_OK;
}

/* RoPE scaling: none, or Llama 3's frequency rescaling recognised from the
 * rope_freqs.weight factors (the converter writes the factors, not the
 * parameters, so the standard Llama 3.1 parameters are tried and verified). */
static rb_status read_rope_scaling(const rb_gguf *g, rb_config *c, int *uses_freqs,
                                   rb_error *err)
{
    rb_status st;
    *uses_freqs = 0;
    if (rb_gguf_find_key(g, "llama.rope.scaling.type") >= 0) {
        const char *s;
        size_t n;
        if ((st = rb_gguf_get_string(g, "llama.rope.scaling.type", &s, &n, err))) return st;
        char shown[80];
        if (!(n == 4 && !memcmp(s, "none", 4)))
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: GGUF llama.rope.scaling.type = \"%s\" is not supported "
                           "(retrobench handles no scaling and Llama 3 frequency scaling)",
                           g->path, rb_gguf_printable(s, n, shown, sizeof shown));
    }
    if (rb_gguf_find_key(g, "llama.rope.scale_linear") >= 0) {
        double f;
        if ((st = rb_gguf_get_float(g, "llama.rope.scale_linear", &f, err))) return st;
        if (f != 1.0)
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: GGUF llama.rope.scale_linear = %g: linear RoPE scaling is not "
                           "supported", g->path, f);
    }
    int64_t ti = rb_gguf_find_tensor(g, "rope_freqs.weight");
    if (ti < 0) return RB_OK;

    rb_gguf_tensor_info t;
    rb_gguf_tensor(g, ti, &t);
    const int half = c->head_dim / 2;
    if (t.n_dims != 1 || t.ne[0] != half || !rb_ggml_type_supported(t.type))
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF tensor 'rope_freqs.weight' has shape [%lld] of type %s; "
                       "expected [%d] of a supported type",
                       g->path, (long long)t.ne[0], rb_ggml_type_name(t.type), half);
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
    if ((st = rb_gguf_tensor_to_f32(g, ti, f, (size_t)half, err))) {
        free(f);
        return st;
    }
    double factor = 1.0;
    for (int i = 0; i < half; i++)
        if (f[i] > factor) factor = f[i];
    int orig = 8192;
    if (rb_gguf_find_key(g, "llama.rope.scaling.original_context_length") >= 0) {
        int64_t v;
        if ((st = rb_gguf_get_int(g, "llama.rope.scaling.original_context_length", &v, err))) {
            free(f);
            return st;
        }
        if (v > 0 && v <= INT32_MAX) orig = (int)v;
    }
    const double lo = 1.0, hi = 4.0; /* Meta's low/high frequency factors */
    const double lo_wav = orig / lo, hi_wav = orig / hi;
    int ok = factor > 1.0;
    for (int i = 0; i < half && ok; i++) {
        double freq = pow((double)c->rope_theta, -(2.0 * i) / c->head_dim);
        double wav = 2.0 * RB_PI / freq, want;
        if (wav < hi_wav) want = 1.0;
        else if (wav > lo_wav) want = factor;
        else {
            double smooth = (orig / wav - lo) / (hi - lo);
            want = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        if (fabs(f[i] - want) > 1e-4 * want) ok = 0;
    }
    free(f);
    if (!ok)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF tensor 'rope_freqs.weight' holds RoPE frequency factors that do "
                       "not match Llama 3 scaling (factor %g, low 1, high 4, original context "
                       "%d); other schemes are not supported",
                       g->path, factor, orig);
    c->rope_scaling = RB_ROPE_SCALING_LLAMA3;
    c->rope_factor = (float)factor;
    c->rope_low_freq_factor = (float)lo;
    c->rope_high_freq_factor = (float)hi;
    c->rope_original_max_pos = orig;
    *uses_freqs = 1;
    if ((st = rb_config_finalize(c, err))) return rb_fail_prefix(err, "%s: ", g->path);
    return RB_OK;
}

static rb_status read_config(const rb_gguf *g, rb_config *c, int *uses_freqs, rb_error *err)
{
    rb_status st;
    const char *arch;
    size_t alen;
    if ((st = rb_gguf_get_string(g, "general.architecture", &arch, &alen, err))) return st;
    char shown[80];
    if (!(alen == 5 && !memcmp(arch, "llama", 5)))
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF general.architecture = \"%s\" is not supported (retrobench "
                       "reads \"llama\")",
                       g->path, rb_gguf_printable(arch, alen, shown, sizeof shown));
    if (rb_gguf_find_key(g, "llama.expert_count") >= 0) {
        int64_t ne;
        if ((st = rb_gguf_get_int(g, "llama.expert_count", &ne, err))) return st;
        if (ne > 0)
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: GGUF llama.expert_count = %lld: mixture-of-experts models are "
                           "not supported", g->path, (long long)ne);
    }
    rb_config_defaults(c);
    int n_layers, kl = 0, vl = 0;
    if ((st = get_dim(g, "llama.embedding_length", 0, &c->dim, err)) ||
        (st = get_dim(g, "llama.block_count", 0, &n_layers, err)) ||
        (st = get_dim(g, "llama.feed_forward_length", 0, &c->hidden_dim, err)) ||
        (st = get_dim(g, "llama.attention.head_count", 0, &c->n_heads, err)) ||
        (st = get_dim(g, "llama.attention.head_count_kv", c->n_heads, &c->n_kv_heads, err)) ||
        (st = get_dim(g, "llama.context_length", 0, &c->max_seq_len, err)))
        return st;
    /* Each llama block has 9 tensors: a block count the tensor list cannot
     * back is refused before a table is built for it. */
    if ((int64_t)n_layers * 9 + 2 > g->n_tensors)
        return rb_fail(err, RB_EFORMAT,
                       "%s: GGUF llama.block_count = %d, but the file holds only %lld tensors "
                       "(each llama block has 9); the file is corrupt or incomplete",
                       g->path, n_layers, (long long)g->n_tensors);
    c->n_prelude = n_layers;
    if (rb_gguf_find_key(g, "llama.attention.key_length") >= 0 &&
        (st = get_dim(g, "llama.attention.key_length", 0, &kl, err)))
        return st;
    if (rb_gguf_find_key(g, "llama.attention.value_length") >= 0 &&
        (st = get_dim(g, "llama.attention.value_length", 0, &vl, err)))
        return st;
    if (kl && vl && kl != vl)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: GGUF key_length %d differs from value_length %d; retrobench needs "
                       "one head size", g->path, kl, vl);
    c->head_dim = kl ? kl : vl;

    double eps;
    if ((st = rb_gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &eps, err)))
        return st;
    c->norm_eps = (float)eps;
    if (rb_gguf_find_key(g, "llama.rope.freq_base") >= 0) {
        double theta;
        if ((st = rb_gguf_get_float(g, "llama.rope.freq_base", &theta, err))) return st;
        c->rope_theta = (float)theta;
    }
    /* The vocabulary: the explicit key, else the embedding's rows. */
    int64_t ei = rb_gguf_find_tensor(g, "token_embd.weight");
    if (ei < 0)
        return rb_fail(err, RB_EFORMAT, "%s: GGUF file has no tensor 'token_embd.weight'",
                       g->path);
    if (rb_gguf_find_key(g, "llama.vocab_size") >= 0) {
        if ((st = get_dim(g, "llama.vocab_size", 0, &c->vocab_size, err))) return st;
    } else {
        rb_gguf_tensor_info t;
        rb_gguf_tensor(g, ei, &t);
        if (t.ne[1] > INT32_MAX)
            return rb_fail(err, RB_EFORMAT, "%s: token_embd.weight has %lld rows", g->path,
                           (long long)t.ne[1]);
        c->vocab_size = (int)t.ne[1];
    }
    c->tied_head = rb_gguf_find_tensor(g, "output.weight") < 0;
    c->rope_layout = RB_ROPE_HALF; /* after the row permutation below */
    if ((st = rb_config_finalize(c, err))) return rb_fail_prefix(err, "%s: ", g->path);

    if (rb_gguf_find_key(g, "llama.rope.dimension_count") >= 0) {
        int rd;
        if ((st = get_dim(g, "llama.rope.dimension_count", 0, &rd, err))) return st;
        if (rd != c->head_dim)
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: GGUF llama.rope.dimension_count = %d but the head size is %d: "
                           "partial rotary embeddings are not supported",
                           g->path, rd, c->head_dim);
    }
    return read_rope_scaling(g, c, uses_freqs, err);
}

/* The GGUF name of a parameter in the table (llama blocks only). */
static void gguf_name(const rb_param *p, char *out, size_t cap)
{
    static const struct {
        const char *hf, *gguf;
    } map[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    out[0] = '\0';
    if (!strcmp(p->name, "model.embed_tokens.weight")) snprintf(out, cap, "token_embd.weight");
    else if (!strcmp(p->name, "model.norm.weight")) snprintf(out, cap, "output_norm.weight");
    else if (!strcmp(p->name, "lm_head.weight")) snprintf(out, cap, "output.weight");
    else if (p->layer >= 0) {
        const char *suffix = strchr(p->name + strlen("model.layers."), '.');
        for (size_t i = 0; suffix && i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(suffix + 1, map[i].hf))
                snprintf(out, cap, "blk.%d.%s", p->layer, map[i].gguf);
    }
}

/* With params == NULL only check that every tensor exists with the right
 * shape and a convertible type (so nothing is allocated for a file that
 * cannot be loaded); otherwise convert them into params. */
static rb_status load_tensors(const rb_gguf *g, const rb_config *c, const rb_param_table *tab,
                              float *params, unsigned char *used, rb_error *err)
{
    char name[RB_PARAM_NAME_MAX + 16];
    for (int k = 0; k < tab->count; k++) {
        const rb_param *p = &tab->items[k];
        gguf_name(p, name, sizeof name);
        if (!name[0])
            return rb_fail(err, RB_EINVAL, "%s: no GGUF name for parameter %s", g->path, p->name);
        int64_t ti = rb_gguf_find_tensor(g, name);
        if (ti < 0)
            return rb_fail(err, RB_EFORMAT, "%s: GGUF file has no tensor '%s' (needed for %s)",
                           g->path, name, p->name);
        rb_gguf_tensor_info t;
        rb_gguf_tensor(g, ti, &t);
        /* expected ne = {cols, rows}; a vector has ne = {rows} */
        int64_t want0 = p->ndim == 2 ? p->cols : p->rows, want1 = p->ndim == 2 ? p->rows : 1;
        if (t.ne[0] != want0 || t.ne[1] != want1 || t.ne[2] != 1 || t.ne[3] != 1 ||
            t.n_dims > (p->ndim == 2 ? 2 : 1))
            return rb_fail(err, RB_EFORMAT,
                           "%s: GGUF tensor '%s' has dims [%lld, %lld, %lld, %lld] (fastest "
                           "first); the configuration needs [%lld, %lld]",
                           g->path, name, (long long)t.ne[0], (long long)t.ne[1],
                           (long long)t.ne[2], (long long)t.ne[3], (long long)want0,
                           (long long)want1);
        used[ti] = 1;
        if (!params) {
            if (!rb_ggml_type_supported(t.type))
                return rb_gguf_tensor_to_f32(g, ti, NULL, 0, err); /* names tensor and type */
            continue;
        }
        rb_status st = rb_gguf_tensor_to_f32(g, ti, params + p->offset, p->numel, err);
        if (st) return st;
        if (strstr(name, ".attn_q.weight"))
            rb_rope_rows_interleaved_to_half(params + p->offset, c->n_heads, c->head_dim, p->cols);
        else if (strstr(name, ".attn_k.weight"))
            rb_rope_rows_interleaved_to_half(params + p->offset, c->n_kv_heads, c->head_dim,
                                             p->cols);
    }
    return RB_OK;
}

static rb_status load_from(rb_gguf *g, const rb_load_opts *opts, rb_loaded_model *out,
                           rb_error *err)
{
    rb_config c;
    int uses_freqs = 0;
    rb_status st = read_config(g, &c, &uses_freqs, err);
    if (st) return st;
    rb_param_table tab;
    if ((st = rb_param_table_build(&tab, &c, err))) return st;

    float *params = NULL;
    int borrowed = 0;
    unsigned char *used = calloc((size_t)g->n_tensors + 1, 1);
    if (!used) {
        st = rb_fail(err, RB_ENOMEM, "%s: out of memory", g->path);
        goto fail;
    }
    if ((st = load_tensors(g, &c, &tab, NULL, used, err))) goto fail;
    if (uses_freqs) used[rb_gguf_find_tensor(g, "rope_freqs.weight")] = 1;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!used[i]) {
            st = rb_fail(err, RB_EUNSUPPORTED,
                         "%s: GGUF tensor '%s' is not part of a plain llama model; this variant "
                         "(biases, extra heads, ...) is not supported",
                         g->path, g->tensors[i].name);
            goto fail;
        }
    if (!(opts && opts->headers_only)) {
        if (!(params = rb_io_params_alloc(opts, &c, tab.total, g->path, &borrowed, err))) {
            st = err ? err->code : RB_ENOMEM;
            goto fail;
        }
        if ((st = load_tensors(g, &c, &tab, params, used, err))) goto fail;
    }

    out->cfg = c;
    out->params = params;
    out->params_borrowed = borrowed;
    out->n_params = tab.total;
    out->format = RB_FORMAT_GGUF;
    out->headers_only = opts && opts->headers_only;
    snprintf(out->source, sizeof out->source, "%s", g->path);
    params = NULL;
    if (opts && opts->tokenizer_path) {
        if ((st = rb_tokenizer_load_any(&out->tok, opts->tokenizer_path, err))) goto fail_out;
        snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s", opts->tokenizer_path);
        out->bos_id = rb_tokenizer_bos(out->tok);
        int eos = rb_tokenizer_eos(out->tok);
        out->n_eos = eos >= 0;
        out->eos_ids[0] = eos;
        if (rb_tokenizer_vocab_size(out->tok) > c.vocab_size) {
            st = rb_fail(err, RB_EFORMAT,
                         "%s: the tokenizer has %d ids, more than the %d rows of the embedding "
                         "of %s; it belongs to another model: use the model's own tokenizer",
                         opts->tokenizer_path, rb_tokenizer_vocab_size(out->tok), c.vocab_size,
                         g->path);
            goto fail_out;
        }
    } else if ((st = rb_gguf_build_tokenizer(g, c.vocab_size, &out->tok, &out->bos_id,
                                             &out->n_eos, out->eos_ids, err))) {
        goto fail_out;
    } else if (out->tok) { /* the embedded vocabulary: this file is the tokenizer's source */
        snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s", g->path);
    }
    rb_param_table_free(&tab);
    free(used);
    return RB_OK;

fail_out:
    if (!out->params_borrowed) free(out->params);
    if (out->tok) rb_tokenizer_free(out->tok);
    memset(out, 0, sizeof *out);
fail:
    rb_param_table_free(&tab);
    if (!borrowed) free(params);
    free(used);
    return st;
}

static void clear_out(rb_loaded_model *out)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
}

rb_status rb_load_gguf(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                       rb_error *err)
{
    clear_out(out);
    rb_gguf *g;
    rb_status st = rb_gguf_open(&g, path, err);
    if (st) return st;
    st = load_from(g, opts, out, err);
    rb_gguf_close(g);
    if (st) clear_out(out);
    return st;
}

rb_status rb_load_gguf_memory(const void *data, size_t size, const char *name,
                              const rb_load_opts *opts, rb_loaded_model *out, rb_error *err)
{
    clear_out(out);
    rb_gguf *g;
    rb_status st = rb_gguf_open_memory(&g, data, size, name, err);
    if (st) return st;
    st = load_from(g, opts, out, err);
    rb_gguf_close(g);
    if (st) clear_out(out);
    return st;
}
