/* llama2c.c: Karpathy's llama2.c checkpoint (.bin, legacy "version 0"
 * export) as a retrobench model.
 *
 * Layout: seven little-endian int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; a negative vocab_size means the
 * classifier is stored separately), then float32 arrays: token embedding
 * [V, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
 * wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 (gate)
 * [L, hidden, dim], w2 (down) [L, dim, hidden], w3 (up) [L, hidden, dim],
 * rms_final [dim], two legacy RoPE tables [seq_len, head_size / 2] (skipped),
 * and the classifier [V, dim] only when unshared. The file has no other
 * framing, so its size must equal what the header implies; that is checked
 * before anything else is read. RoPE pairs adjacent rows, so q/k rows are
 * permuted to the half-split layout. RMSNorm eps 1e-5, theta 10000, BOS 1,
 * EOS 2 are the format's fixed conventions. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "rb_io.h"
#include "rb_llama2c.h"
#include "rb_model.h"

#define L2C_HEADER_BYTES 28
/* export.py version >= 1 files start with this uint32 ("ak42"). */
#define L2C_MAGIC_V1 0x616b3432u

typedef struct {
    int dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    int shared;
} l2c_header;

/* a * b into *r unless it overflows uint64. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
    if (b && a > UINT64_MAX / b) return 0;
    *r = a * b;
    return 1;
}

static rb_status read_header(const uint8_t *d, size_t size, const char *name, l2c_header *h,
                             uint64_t *expected, rb_error *err)
{
    if (size < L2C_HEADER_BYTES)
        return rb_fail(err, RB_EFORMAT,
                       "%s: llama2.c checkpoint is truncated: %zu bytes, shorter than the "
                       "28-byte header", name, size);
    if (rb_gguf_rd32(d) == L2C_MAGIC_V1)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "%s: this is a llama2.c export of version %u (magic \"ak42\"); only the "
                       "legacy version 0 layout is supported (export with --version 0)",
                       name, rb_gguf_rd32(d + 4));
    int32_t v[7];
    for (int i = 0; i < 7; i++) v[i] = (int32_t)rb_gguf_rd32(d + 4 * i);
    static const char *const field[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++)
        if (i == 5 ? (v[i] == 0 || v[i] == INT32_MIN) : v[i] <= 0)
            return rb_fail(err, RB_EFORMAT,
                           "%s: llama2.c header field %s = %d (offset %d) is invalid; it must be "
                           "positive%s; this is not a llama2.c checkpoint or it is corrupt",
                           name, field[i], v[i], 4 * i,
                           i == 5 ? " (negative for an unshared classifier)" : "");
    h->dim = v[0];
    h->hidden = v[1];
    h->n_layers = v[2];
    h->n_heads = v[3];
    h->n_kv_heads = v[4];
    h->shared = v[5] > 0;
    h->vocab = v[5] > 0 ? v[5] : -v[5];
    h->seq_len = v[6];
    if (h->dim % h->n_heads != 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: llama2.c header: n_heads = %d does not divide dim = %d; the file is "
                       "corrupt", name, h->n_heads, h->dim);
    if (h->n_kv_heads > h->n_heads || h->n_heads % h->n_kv_heads != 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: llama2.c header: n_kv_heads = %d does not divide n_heads = %d; the "
                       "file is corrupt", name, h->n_kv_heads, h->n_heads);
    const uint64_t hs = (uint64_t)(h->dim / h->n_heads);
    if (hs % 2 != 0)
        return rb_fail(err, RB_EFORMAT,
                       "%s: llama2.c header: head size %llu is odd; RoPE needs an even head size",
                       name, (unsigned long long)hs);

    /* Expected size in floats, with overflow checks (fields reach 2^31). */
    const uint64_t D = (uint64_t)h->dim, F = (uint64_t)h->hidden, L = (uint64_t)h->n_layers,
                   V = (uint64_t)h->vocab, KV = (uint64_t)h->n_kv_heads * hs,
                   S = (uint64_t)h->seq_len;
    uint64_t terms[7], total = 0;
    int ok = mul_ok(V, D, &terms[0]) &&                              /* embedding */
             mul_ok(L, D, &terms[1]) && mul_ok(terms[1], 2, &terms[1]) && /* rms_att + rms_ffn */
             mul_ok(D, 2 * D + 2 * KV, &terms[2]) && mul_ok(terms[2], L, &terms[2]) && /* q k v o */
             mul_ok(F, D, &terms[3]) && mul_ok(terms[3], 3, &terms[3]) &&
             mul_ok(terms[3], L, &terms[3]) &&                       /* w1 w2 w3 */
             mul_ok(S, hs, &terms[4]) &&                             /* two tables of hs/2 */
             mul_ok(h->shared ? 0 : V, D, &terms[5]);
    terms[6] = D; /* rms_final */
    for (int i = 0; ok && i < 7; i++) {
        if (total > UINT64_MAX - terms[i]) ok = 0;
        total += terms[i];
    }
    if (!ok || total > (UINT64_MAX - L2C_HEADER_BYTES) / 4)
        return rb_fail(err, RB_EFORMAT,
                       "%s: llama2.c header (dim %d, hidden %d, layers %d, vocab %d) describes an "
                       "impossibly large model; the file is corrupt",
                       name, h->dim, h->hidden, h->n_layers, h->vocab);
    *expected = L2C_HEADER_BYTES + 4 * total;
    if (*expected != (uint64_t)size) {
        const uint64_t cls = 4 * V * D;
        const char *hint = "";
        if (h->shared && (uint64_t)size == *expected + cls)
            hint = "; the size fits an unshared classifier, so vocab_size should be negative";
        else if (!h->shared && (uint64_t)size + cls == *expected)
            hint = "; the size fits a shared classifier, so vocab_size should be positive";
        return rb_fail(err, RB_EFORMAT,
                       "%s: llama2.c checkpoint has %zu bytes but its header (dim %d, hidden %d, "
                       "layers %d, heads %d, kv heads %d, vocab %d%s, seq_len %d) implies %llu; "
                       "the file is truncated, padded or not a llama2.c checkpoint%s",
                       name, size, h->dim, h->hidden, h->n_layers, h->n_heads, h->n_kv_heads,
                       h->vocab, h->shared ? "" : " unshared", h->seq_len,
                       (unsigned long long)*expected, hint);
    }
    return RB_OK;
}

/* Copy n floats from the stream into parameter `name` (must exist, exact size). */
static void take(const uint8_t **src, float *params, const rb_param_table *t, const char *name,
                 size_t n)
{
    int i = rb_param_table_find(t, name);
    memcpy(params + t->items[i].offset, *src, n * sizeof(float));
    *src += n * sizeof(float);
}

/* The per-layer arrays: for each layer, copy n floats into layers.<l>.<suffix>. */
static void take_layers(const uint8_t **src, float *params, const rb_param_table *t,
                        const char *suffix, int L, size_t n)
{
    char name[RB_PARAM_NAME_MAX];
    for (int l = 0; l < L; l++) {
        snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
        take(src, params, t, name, n);
    }
}

static int readable(const char *p) { return access(p, R_OK) == 0; }

/* opts->tokenizer_path, else tokenizer.bin or tok<V>.bin beside the model
 * (dir may be NULL: look nowhere). *tok stays NULL when none is found. */
static rb_status load_tokenizer(const char *dir, int vocab, const rb_load_opts *opts,
                                rb_tokenizer **tok, char *path, size_t path_cap, rb_error *err)
{
    *tok = NULL;
    path[0] = 0;
    if (opts && opts->tokenizer_path) {
        size_t n = strlen(opts->tokenizer_path);
        snprintf(path, path_cap, "%s", opts->tokenizer_path);
        if (n >= 5 && !strcmp(opts->tokenizer_path + n - 5, ".json"))
            return rb_tokenizer_load_file(tok, opts->tokenizer_path, err);
        if (rb_detect_format(opts->tokenizer_path) == RB_FORMAT_GGUF) /* a GGUF's vocabulary */
            return rb_tokenizer_load_any(tok, opts->tokenizer_path, err);
        /* a tokenizer.bin: ids past the model's vocabulary are refused below */
        rb_status st = rb_tokenizer_load_llama2c(tok, path, 0, err);
        if (st == RB_OK) rb_tokenizer_set_special(*tok, 1, 2);
        return st;
    } else {
        if (!dir) return RB_OK;
        snprintf(path, path_cap, "%s/tokenizer.bin", dir);
        if (!readable(path)) {
            snprintf(path, path_cap, "%s/tok%d.bin", dir, vocab);
            if (!readable(path)) {
                path[0] = 0;
                return RB_OK;
            }
        }
    }
    rb_status st = rb_tokenizer_load_llama2c(tok, path, vocab, err);
    if (st) return st;
    rb_tokenizer_set_special(*tok, 1, 2);
    return RB_OK;
}

static rb_status load(const uint8_t *d, size_t size, const char *name, const char *dir,
                      const rb_load_opts *opts, rb_loaded_model *out, rb_error *err)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
    l2c_header h = {0};
    uint64_t expected = 0;
    rb_status st = read_header(d, size, name, &h, &expected, err);
    if (st) return st;

    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = h.vocab;
    c.dim = h.dim;
    c.hidden_dim = h.hidden;
    c.n_heads = h.n_heads;
    c.n_kv_heads = h.n_kv_heads;
    c.max_seq_len = h.seq_len;
    c.n_prelude = h.n_layers;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.rope_layout = RB_ROPE_HALF; /* after the permutation below */
    c.tied_head = h.shared;
    if ((st = rb_config_finalize(&c, err))) return rb_fail_prefix(err, "%s: ", name);

    rb_param_table t;
    if ((st = rb_param_table_build(&t, &c, err))) return st;
    const int headers_only = opts && opts->headers_only;
    int borrowed = 0;
    float *p = headers_only ? NULL : rb_io_params_alloc(opts, &c, t.total, name, &borrowed, err);
    if (!p && !headers_only) {
        rb_param_table_free(&t);
        return err ? err->code : RB_ENOMEM;
    }
    if (headers_only) goto tokenizer; /* the size was checked against the header */
    const size_t D = (size_t)c.dim, F = (size_t)c.hidden_dim, V = (size_t)c.vocab_size;
    const size_t KV = (size_t)rb_config_kv_dim(&c), hs = (size_t)c.head_dim;
    const int L = h.n_layers;
    const uint8_t *s = d + L2C_HEADER_BYTES;
    take(&s, p, &t, "model.embed_tokens.weight", V * D);
    take_layers(&s, p, &t, "input_layernorm.weight", L, D);
    take_layers(&s, p, &t, "self_attn.q_proj.weight", L, D * D);
    take_layers(&s, p, &t, "self_attn.k_proj.weight", L, KV * D);
    take_layers(&s, p, &t, "self_attn.v_proj.weight", L, KV * D);
    take_layers(&s, p, &t, "self_attn.o_proj.weight", L, D * D);
    take_layers(&s, p, &t, "post_attention_layernorm.weight", L, D);
    take_layers(&s, p, &t, "mlp.gate_proj.weight", L, F * D);
    take_layers(&s, p, &t, "mlp.down_proj.weight", L, D * F);
    take_layers(&s, p, &t, "mlp.up_proj.weight", L, F * D);
    take(&s, p, &t, "model.norm.weight", D);
    s += 2 * (size_t)c.max_seq_len * (hs / 2) * sizeof(float); /* legacy RoPE tables */
    if (!h.shared) take(&s, p, &t, "lm_head.weight", V * D);

    char nm[RB_PARAM_NAME_MAX];
    for (int l = 0; l < L; l++) {
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.q_proj.weight", l);
        rb_rope_rows_interleaved_to_half(p + t.items[rb_param_table_find(&t, nm)].offset,
                                         c.n_heads, c.head_dim, (int64_t)D);
        snprintf(nm, sizeof nm, "model.layers.%d.self_attn.k_proj.weight", l);
        rb_rope_rows_interleaved_to_half(p + t.items[rb_param_table_find(&t, nm)].offset,
                                         c.n_kv_heads, c.head_dim, (int64_t)D);
    }

tokenizer:;
    rb_tokenizer *tok = NULL;
    char tok_path[1200];
    if ((st = load_tokenizer(dir, h.vocab, opts, &tok, tok_path, sizeof tok_path, err))) {
        if (!borrowed) free(p);
        rb_param_table_free(&t);
        return st;
    }
    out->cfg = c;
    out->params = p;
    out->params_borrowed = borrowed;
    out->n_params = t.total;
    out->format = RB_FORMAT_LLAMA2C;
    out->headers_only = headers_only;
    out->tok = tok;
    snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s", tok ? tok_path : "");
    out->bos_id = 1;
    out->n_eos = 1;
    out->eos_ids[0] = 2;
    snprintf(out->source, sizeof out->source, "%s", name);
    rb_param_table_free(&t);
    return RB_OK;
}

rb_status rb_load_llama2c(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                          rb_error *err)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
    rb_mapped_file m;
    rb_status st = rb_map_file(&m, path, err);
    if (st) return st;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    st = load(m.data, m.size, path, dir, opts, out, err);
    rb_unmap_file(&m);
    return st;
}

rb_status rb_load_llama2c_memory(const void *data, size_t size, const char *name,
                                 const rb_load_opts *opts, rb_loaded_model *out, rb_error *err)
{
    const char *nm = name ? name : "<memory>";
    if (!data) {
        memset(out, 0, sizeof *out);
        out->bos_id = -1;
        return rb_fail(err, RB_EFORMAT, "%s: no data", nm);
    }
    return load(data, size, nm, NULL, opts, out, err);
}
