/* test_io_gguf_parse.c: the GGUF reader on small files built here byte by
 * byte from the format specification: a valid tiny llama model loads with
 * the right configuration and RoPE row order, and every kind of malformed
 * file (bad magic, versions 1 and 99, absurd counts, lengths past the end,
 * bad offsets, unknown types, too many dims, duplicates, missing or
 * mistyped keys, unsupported architectures and tensor types) fails with
 * a one-line error naming the file. Also the block formats on hand-made
 * blocks and the RoPE row permutation on a case worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dequant.h"
#include "rb_gguf.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"

/* ------------------------------------------------------------------ */
/* A growable byte buffer and GGUF encoders                            */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
        ck_assert_ptr_nonnull(o->b);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put_u32(buf *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(o, b, 4);
}
static void put_u64(buf *o, uint64_t v)
{
    put_u32(o, (uint32_t)v);
    put_u32(o, (uint32_t)(v >> 32));
}
static void put_str(buf *o, const char *s)
{
    put_u64(o, strlen(s));
    put(o, s, strlen(s));
}
static void put_f32(buf *o, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(o, u);
}

/* ------------------------------------------------------------------ */
/* A model description that tests corrupt before serialising           */

#define MAXT 24
typedef struct {
    char name[64];
    int n_dims;
    uint64_t ne[8];  /* room for the too-many-dims case */
    uint32_t type;
    int64_t offset; /* -1: next aligned position */
    const float *data; /* F32 contents, or NULL for tensor_value() */
} tspec;

typedef struct {
    uint32_t version;
    uint64_t nt_override, nkv_override; /* UINT64_MAX: the real counts */
    buf kvs;
    int nkv;
    tspec t[MAXT];
    int nt;
    uint32_t align;       /* alignment used to place data */
    size_t truncate_to;   /* 0: keep the whole file */
} gspec;

static void kv_key(gspec *s, const char *key, uint32_t type)
{
    put_str(&s->kvs, key);
    put_u32(&s->kvs, type);
    s->nkv++;
}
static void kv_u32(gspec *s, const char *key, uint32_t v)
{
    kv_key(s, key, RB_GGUF_UINT32);
    put_u32(&s->kvs, v);
}
static void kv_f32(gspec *s, const char *key, float v)
{
    kv_key(s, key, RB_GGUF_FLOAT32);
    put_f32(&s->kvs, v);
}
static void kv_str(gspec *s, const char *key, const char *v)
{
    kv_key(s, key, RB_GGUF_STRING);
    put_str(&s->kvs, v);
}

static void add_tensor(gspec *s, const char *name, int nd, uint64_t ne0, uint64_t ne1)
{
    tspec *t = &s->t[s->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = nd;
    t->ne[0] = ne0;
    t->ne[1] = nd > 1 ? ne1 : 1;
    t->ne[2] = t->ne[3] = 1;
    t->type = RB_GGML_F32;
    t->offset = -1;
}

static tspec *find_t(gspec *s, const char *name)
{
    for (int i = 0; i < s->nt; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    ck_abort_msg("no tensor %s in spec", name);
    return NULL;
}

/* Shapes of the tiny model: dim 8, 2 heads of 4, 1 KV head, hidden 16, 1 layer, vocab 6. */
enum { D = 8, H = 2, KVH = 1, HD = 4, F = 16, V = 6 };

static void tiny_model(gspec *s, int with_arch_keys)
{
    memset(s, 0, sizeof *s);
    s->version = 3;
    s->nt_override = s->nkv_override = UINT64_MAX;
    s->align = 32;
    kv_str(s, "general.architecture", "llama");
    if (with_arch_keys) {
        kv_u32(s, "llama.embedding_length", D);
        kv_u32(s, "llama.block_count", 1);
        kv_u32(s, "llama.feed_forward_length", F);
        kv_u32(s, "llama.attention.head_count", H);
        kv_u32(s, "llama.attention.head_count_kv", KVH);
        kv_u32(s, "llama.context_length", 32);
        kv_f32(s, "llama.attention.layer_norm_rms_epsilon", 1e-6f);
        kv_f32(s, "llama.rope.freq_base", 500000.0f);
    }
    add_tensor(s, "token_embd.weight", 2, D, V);
    add_tensor(s, "blk.0.attn_norm.weight", 1, D, 1);
    add_tensor(s, "blk.0.attn_q.weight", 2, D, H * HD);
    add_tensor(s, "blk.0.attn_k.weight", 2, D, KVH * HD);
    add_tensor(s, "blk.0.attn_v.weight", 2, D, KVH * HD);
    add_tensor(s, "blk.0.attn_output.weight", 2, H * HD, D);
    add_tensor(s, "blk.0.ffn_norm.weight", 1, D, 1);
    add_tensor(s, "blk.0.ffn_gate.weight", 2, D, F);
    add_tensor(s, "blk.0.ffn_up.weight", 2, D, F);
    add_tensor(s, "blk.0.ffn_down.weight", 2, F, D);
    add_tensor(s, "output_norm.weight", 1, D, 1);
}

/* Element j of tensor i holds 1000 i + j (exact in float32). */
static float tensor_value(int i, uint64_t j) { return (float)(1000 * i + (int)j); }

static uint64_t nbytes_of(const tspec *t)
{
    const rb_ggml_type_traits *tr = rb_ggml_traits(t->type);
    uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (!tr) return n * 4;
    return n / (uint64_t)tr->block_size * (uint64_t)tr->type_size;
}

static buf serialize(const gspec *s)
{
    buf o = {0};
    put(&o, "GGUF", 4);
    put_u32(&o, s->version);
    put_u64(&o, s->nt_override != UINT64_MAX ? s->nt_override : (uint64_t)s->nt);
    put_u64(&o, s->nkv_override != UINT64_MAX ? s->nkv_override : (uint64_t)s->nkv);
    put(&o, s->kvs.b, s->kvs.n);
    uint64_t offs[MAXT], pos = 0;
    for (int i = 0; i < s->nt; i++) {
        const tspec *t = &s->t[i];
        put_str(&o, t->name);
        put_u32(&o, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&o, t->ne[d]);
        put_u32(&o, t->type);
        offs[i] = t->offset >= 0 ? (uint64_t)t->offset : pos;
        put_u64(&o, offs[i]);
        /* a deliberately misplaced tensor takes no room in the data */
        if (t->offset < 0) pos = (offs[i] + nbytes_of(t) + s->align - 1) / s->align * s->align;
    }
    while (o.n % s->align) put(&o, "", 1);
    size_t data = o.n;
    for (int i = 0; i < s->nt; i++) {
        const tspec *t = &s->t[i];
        if (t->offset >= 0) continue; /* deliberately misplaced: no data written */
        while (o.n < data + offs[i]) put(&o, "", 1);
        if (t->type == RB_GGML_F32) {
            uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            for (uint64_t j = 0; j < n; j++) put_f32(&o, t->data ? t->data[j] : tensor_value(i, j));
        } else {
            for (uint64_t j = 0; j < nbytes_of(t); j++) put(&o, "", 1);
        }
    }
    while (o.n % s->align) put(&o, "", 1);
    if (s->truncate_to && s->truncate_to < o.n) o.n = s->truncate_to;
    return o;
}

static const char *write_spec(const gspec *s, const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", rb_test_tmpdir(), name);
    buf o = serialize(s);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(o.b, 1, o.n, f), o.n);
    fclose(f);
    free(o.b);
    return path;
}

/* Open must fail with code and a message naming the file and containing word. */
static void expect_open_fail(const gspec *s, const char *name, rb_status code, const char *word)
{
    const char *path = write_spec(s, name);
    rb_gguf *g = (rb_gguf *)0x1;
    rb_error err = {0};
    rb_status st = rb_gguf_open(&g, path, &err);
    if (getenv("RB_TEST_VERBOSE")) printf("%s\n", err.msg);
    ck_assert_msg(st == code, "%s: expected %s, got %s: %s", name, rb_status_name(code),
                  rb_status_name(st), err.msg);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, word) != NULL, "message lacks '%s': %s", word, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
}

/* The full model load must fail likewise. */
static void expect_load_fail(const gspec *s, const char *name, rb_status code, const char *word)
{
    const char *path = write_spec(s, name);
    rb_loaded_model m;
    rb_error err = {0};
    rb_status st = rb_load_gguf(path, NULL, &m, &err);
    if (getenv("RB_TEST_VERBOSE")) printf("%s\n", err.msg);
    ck_assert_msg(st == code, "%s: expected %s, got %s: %s", name, rb_status_name(code),
                  rb_status_name(st), err.msg);
    ck_assert_ptr_null(m.params);
    ck_assert_ptr_null(m.tok);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, word) != NULL, "message lacks '%s': %s", word, err.msg);
}

static void free_spec(gspec *s) { free(s->kvs.b); }

/* ------------------------------------------------------------------ */

START_TEST(valid_tiny_model_loads)
{
    gspec s;
    tiny_model(&s, 1);
    const char *path = write_spec(&s, "tiny.gguf");
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.cfg.dim, D);
    ck_assert_int_eq(m.cfg.n_heads, H);
    ck_assert_int_eq(m.cfg.n_kv_heads, KVH);
    ck_assert_int_eq(m.cfg.head_dim, HD);
    ck_assert_int_eq(m.cfg.hidden_dim, F);
    ck_assert_int_eq(m.cfg.vocab_size, V);
    ck_assert_int_eq(m.cfg.max_seq_len, 32);
    ck_assert_int_eq(rb_config_n_layers(&m.cfg), 1);
    ck_assert_int_eq(m.cfg.n_recur, 0);
    ck_assert(m.cfg.norm_eps == 1e-6f);
    ck_assert(m.cfg.rope_theta == 500000.0f);
    ck_assert_int_eq(m.cfg.rope_layout, RB_ROPE_HALF);
    ck_assert_int_eq(m.cfg.tied_head, 1);
    ck_assert_int_eq(m.format, RB_FORMAT_GGUF);
    ck_assert_ptr_null(m.tok); /* the file has no tokenizer.ggml.* keys */

    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, &m.cfg, NULL), RB_OK);
    ck_assert_uint_eq(m.n_params, t.total);
    /* embedding: tensor 0 unchanged */
    const rb_param *e = &t.items[rb_param_table_find(&t, "model.embed_tokens.weight")];
    for (size_t j = 0; j < e->numel; j++) ck_assert(m.params[e->offset + j] == tensor_value(0, j));
    /* q (tensor 2): per head of 4 rows, half-split row r comes from adjacent row 0,2,1,3 */
    const int src_row[4] = {0, 2, 1, 3};
    const rb_param *q = &t.items[rb_param_table_find(&t, "model.layers.0.self_attn.q_proj.weight")];
    for (int h = 0; h < H; h++)
        for (int r = 0; r < HD; r++)
            for (int c = 0; c < D; c++)
                ck_assert(m.params[q->offset + (size_t)((h * HD + r) * D + c)] ==
                          tensor_value(2, (uint64_t)((h * HD + src_row[r]) * D + c)));
    const rb_param *k = &t.items[rb_param_table_find(&t, "model.layers.0.self_attn.k_proj.weight")];
    for (int r = 0; r < HD; r++)
        for (int c = 0; c < D; c++)
            ck_assert(m.params[k->offset + (size_t)(r * D + c)] ==
                      tensor_value(3, (uint64_t)(src_row[r] * D + c)));
    /* v (tensor 4) is not permuted; down (tensor 9) is [D, F] */
    const rb_param *v = &t.items[rb_param_table_find(&t, "model.layers.0.self_attn.v_proj.weight")];
    for (size_t j = 0; j < v->numel; j++) ck_assert(m.params[v->offset + j] == tensor_value(4, j));
    const rb_param *dn = &t.items[rb_param_table_find(&t, "model.layers.0.mlp.down_proj.weight")];
    ck_assert_int_eq(dn->rows, D);
    for (size_t j = 0; j < dn->numel; j++) ck_assert(m.params[dn->offset + j] == tensor_value(9, j));
    rb_param_table_free(&t);
    free(m.params);
    free_spec(&s);
}
END_TEST

START_TEST(untied_output_and_accessors)
{
    gspec s;
    tiny_model(&s, 1);
    add_tensor(&s, "output.weight", 2, D, V);
    kv_key(&s, "general.name", RB_GGUF_STRING);
    put_str(&s.kvs, "tiny");
    kv_key(&s, "test.i16_array", RB_GGUF_ARRAY);
    put_u32(&s.kvs, RB_GGUF_INT16);
    put_u64(&s.kvs, 3);
    put(&s.kvs, "\x01\x00\xff\xff\x02\x00", 6);
    kv_key(&s, "test.nested", RB_GGUF_ARRAY); /* array of 2 arrays of uint8 */
    put_u32(&s.kvs, RB_GGUF_ARRAY);
    put_u64(&s.kvs, 2);
    for (int i = 0; i < 2; i++) {
        put_u32(&s.kvs, RB_GGUF_UINT8);
        put_u64(&s.kvs, 2);
        put(&s.kvs, "\x05\x06", 2);
    }
    kv_key(&s, "test.flag", RB_GGUF_BOOL);
    put(&s.kvs, "\x01", 1);
    kv_key(&s, "test.big", RB_GGUF_UINT64);
    put_u64(&s.kvs, UINT64_MAX);
    const char *path = write_spec(&s, "untied.gguf");

    rb_gguf *g;
    rb_error err = {0};
    ck_assert_msg(rb_gguf_open(&g, path, &err) == RB_OK, "%s", err.msg);
    ck_assert_uint_eq(rb_gguf_version(g), 3);
    ck_assert_uint_eq(rb_gguf_alignment(g), 32);
    ck_assert_uint_eq(rb_gguf_data_offset(g) % 32, 0);
    ck_assert_int_eq(rb_gguf_tensor_count(g), 12);
    int64_t v;
    ck_assert_int_eq(rb_gguf_get_int(g, "llama.embedding_length", &v, &err), RB_OK);
    ck_assert_int_eq(v, D);
    const char *str;
    size_t len;
    ck_assert_int_eq(rb_gguf_get_string(g, "general.name", &str, &len, &err), RB_OK);
    ck_assert_uint_eq(len, 4);
    ck_assert(!memcmp(str, "tiny", 4));
    int b;
    ck_assert_int_eq(rb_gguf_get_bool(g, "test.flag", &b, &err), RB_OK);
    ck_assert_int_eq(b, 1);
    rb_gguf_type et;
    uint64_t n;
    ck_assert_int_eq(rb_gguf_get_array(g, "test.i16_array", &et, &n, &err), RB_OK);
    ck_assert_int_eq(et, RB_GGUF_INT16);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(rb_gguf_get_array(g, "test.nested", &et, &n, &err), RB_OK);
    ck_assert_int_eq(et, RB_GGUF_ARRAY);
    ck_assert_uint_eq(n, 2);
    char line[128];
    ck_assert_str_eq(rb_gguf_kv_format(g, rb_gguf_find_key(g, "test.i16_array"), line, sizeof line),
                     "array[3] of int16");
    ck_assert_str_eq(rb_gguf_kv_format(g, rb_gguf_find_key(g, "general.name"), line, sizeof line),
                     "\"tiny\"");
    ck_assert_int_eq(rb_gguf_find_key(g, "no.such.key"), -1);

    /* typed failures name the key and both types */
    ck_assert_int_eq(rb_gguf_get_int(g, "general.name", &v, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "general.name"));
    ck_assert_ptr_nonnull(strstr(err.msg, "string"));
    ck_assert_int_eq(rb_gguf_get_int(g, "test.big", &v, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    ck_assert_int_eq(rb_gguf_get_float(g, "missing.key", &(double){0}, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.key"));
    ck_assert_ptr_nonnull(strstr(err.msg, path));

    rb_gguf_tensor_info ti;
    int64_t oi = rb_gguf_find_tensor(g, "output.weight");
    ck_assert_int_ge(oi, 0);
    ck_assert_int_eq(rb_gguf_tensor(g, oi, &ti), 0);
    ck_assert_int_eq(ti.ne[0], D);
    ck_assert_int_eq(ti.ne[1], V);
    ck_assert_int_eq(ti.n_elements, D * V);
    ck_assert_uint_eq(ti.nbytes, 4 * D * V);
    ck_assert_uint_eq(ti.offset % 32, 0);
    ck_assert_int_eq(rb_gguf_tensor(g, 99, &ti), -1);
    float out[D * V];
    ck_assert_int_eq(rb_gguf_tensor_to_f32(g, oi, out, D * V, &err), RB_OK);
    for (int j = 0; j < D * V; j++) ck_assert(out[j] == tensor_value(11, (uint64_t)j));
    ck_assert_int_eq(rb_gguf_tensor_to_f32(g, oi, out, 3, &err), RB_EINVAL);
    rb_gguf_close(g);

    rb_loaded_model m;
    ck_assert_msg(rb_load_gguf(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.cfg.tied_head, 0);
    rb_param_table t;
    rb_param_table_build(&t, &m.cfg, NULL);
    const rb_param *h = &t.items[rb_param_table_find(&t, "lm_head.weight")];
    for (size_t j = 0; j < h->numel; j++) ck_assert(m.params[h->offset + j] == tensor_value(11, j));
    rb_param_table_free(&t);
    free(m.params);
    free_spec(&s);
}
END_TEST

START_TEST(header_errors)
{
    gspec s;
    tiny_model(&s, 1);
    s.version = 1;
    expect_open_fail(&s, "v1.gguf", RB_EUNSUPPORTED, "version 1");
    s.version = 99;
    expect_open_fail(&s, "v99.gguf", RB_EUNSUPPORTED, "version 99");
    s.version = 3u << 24;
    expect_open_fail(&s, "bigendian.gguf", RB_EUNSUPPORTED, "big-endian");
    s.version = 3;
    s.nt_override = 1ull << 60;
    expect_open_fail(&s, "many_tensors.gguf", RB_EFORMAT, "1152921504606846976");
    s.nt_override = UINT64_MAX - 1;
    expect_open_fail(&s, "max_tensors.gguf", RB_EFORMAT, "tensors");
    s.nt_override = UINT64_MAX;
    s.nkv_override = 1ull << 60;
    expect_open_fail(&s, "many_kv.gguf", RB_EFORMAT, "metadata");
    s.nkv_override = (uint64_t)s.nkv + 1; /* one more entry than present: runs into tensor infos */
    expect_open_fail(&s, "one_more_kv.gguf", RB_EFORMAT, "GGUF");
    free_spec(&s);

    /* wrong magic, and a file shorter than the magic */
    char path[512];
    snprintf(path, sizeof path, "%s/dummy.gguf", rb_test_tmpdir());
    FILE *f = fopen(path, "wb");
    fputs("GGML\x03\0\0\0", f);
    fclose(f);
    rb_gguf *g;
    rb_error err = {0};
    ck_assert_int_eq(rb_gguf_open(&g, path, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "magic"));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    f = fopen(path, "wb");
    fputs("GG", f);
    fclose(f);
    ck_assert_int_eq(rb_gguf_open(&g, path, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    f = fopen(path, "wb");
    fclose(f);
    ck_assert_int_eq(rb_gguf_open(&g, path, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
    ck_assert_int_eq(rb_gguf_open(&g, "/nonexistent/x.gguf", &err), RB_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.gguf"));
}
END_TEST

START_TEST(metadata_errors)
{
    gspec s;
    /* a key whose length runs past the end of the file */
    tiny_model(&s, 1);
    put_u64(&s.kvs, 1ull << 40);
    put(&s.kvs, "abc", 3);
    s.nkv++;
    expect_open_fail(&s, "keylen.gguf", RB_EFORMAT, "1099511627776");
    free_spec(&s);

    /* a string value whose length runs past the end */
    tiny_model(&s, 1);
    kv_key(&s, "general.name", RB_GGUF_STRING);
    put_u64(&s.kvs, 1ull << 33);
    expect_open_fail(&s, "strlen.gguf", RB_EFORMAT, "general.name");
    free_spec(&s);

    /* an array claiming 2^60 uint32 elements, and 2^61 strings */
    tiny_model(&s, 1);
    kv_key(&s, "test.arr", RB_GGUF_ARRAY);
    put_u32(&s.kvs, RB_GGUF_UINT32);
    put_u64(&s.kvs, 1ull << 60);
    expect_open_fail(&s, "arrlen.gguf", RB_EFORMAT, "test.arr");
    free_spec(&s);
    tiny_model(&s, 1);
    kv_key(&s, "tokenizer.ggml.tokens", RB_GGUF_ARRAY);
    put_u32(&s.kvs, RB_GGUF_STRING);
    put_u64(&s.kvs, 1ull << 61);
    expect_open_fail(&s, "strarr.gguf", RB_EFORMAT, "tokenizer.ggml.tokens");
    free_spec(&s);

    /* unknown value type, bad bool, empty key, duplicate key */
    tiny_model(&s, 1);
    kv_key(&s, "test.odd", 13);
    put_u32(&s.kvs, 0);
    expect_open_fail(&s, "vtype.gguf", RB_EFORMAT, "unknown value type 13");
    free_spec(&s);
    tiny_model(&s, 1);
    kv_key(&s, "test.flag", RB_GGUF_BOOL);
    put(&s.kvs, "\x02", 1);
    expect_open_fail(&s, "bool.gguf", RB_EFORMAT, "boolean");
    free_spec(&s);
    tiny_model(&s, 1);
    kv_u32(&s, "", 1);
    expect_open_fail(&s, "emptykey.gguf", RB_EFORMAT, "empty");
    free_spec(&s);
    tiny_model(&s, 1);
    kv_u32(&s, "llama.block_count", 1);
    expect_open_fail(&s, "dupkey.gguf", RB_EFORMAT, "llama.block_count");
    free_spec(&s);

    /* names reach one-line messages: control bytes are refused */
    tiny_model(&s, 1);
    kv_u32(&s, "bad\nkey", 1);
    expect_open_fail(&s, "ctlkey.gguf", RB_EFORMAT, "control byte 0x0a");
    free_spec(&s);
    tiny_model(&s, 1);
    snprintf(find_t(&s, "output_norm.weight")->name, 64, "output\rnorm");
    expect_open_fail(&s, "ctlname.gguf", RB_EFORMAT, "control byte 0x0d");
    free_spec(&s);
    /* and string values are escaped when shown */
    tiny_model(&s, 0);
    s.kvs.n = 0;
    s.nkv = 0;
    kv_str(&s, "general.architecture", "ll\nama");
    expect_load_fail(&s, "ctlarch.gguf", RB_EUNSUPPORTED, "\"ll\\x0aama\"");
    free_spec(&s);

    /* arrays nested deeper than the limit */
    tiny_model(&s, 1);
    kv_key(&s, "test.deep", RB_GGUF_ARRAY);
    for (int i = 0; i < 20; i++) {
        put_u32(&s.kvs, RB_GGUF_ARRAY);
        put_u64(&s.kvs, 1);
    }
    put_u32(&s.kvs, RB_GGUF_UINT8);
    put_u64(&s.kvs, 0);
    expect_open_fail(&s, "deep.gguf", RB_EFORMAT, "nests");
    free_spec(&s);

    /* general.alignment: not a power of two, wrong type; a valid 64 is honoured */
    tiny_model(&s, 1);
    kv_u32(&s, "general.alignment", 48);
    expect_open_fail(&s, "align48.gguf", RB_EFORMAT, "power of two");
    free_spec(&s);
    tiny_model(&s, 1);
    kv_f32(&s, "general.alignment", 32.0f);
    expect_open_fail(&s, "alignf.gguf", RB_EFORMAT, "general.alignment");
    free_spec(&s);
    tiny_model(&s, 1);
    kv_u32(&s, "general.alignment", 64);
    s.align = 64;
    const char *path = write_spec(&s, "align64.gguf");
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert(m.params[0] == tensor_value(0, 0));
    free(m.params);
    free_spec(&s);
}
END_TEST

START_TEST(tensor_info_errors)
{
    gspec s;
    tiny_model(&s, 1);
    find_t(&s, "blk.0.attn_q.weight")->offset = 1ull << 40;
    expect_open_fail(&s, "offset_past_end.gguf", RB_EFORMAT, "blk.0.attn_q.weight");
    free_spec(&s);

    tiny_model(&s, 1);
    find_t(&s, "blk.0.attn_q.weight")->offset = 4; /* inside the data, but not aligned */
    expect_open_fail(&s, "misaligned.gguf", RB_EFORMAT, "not a multiple of the alignment");
    free_spec(&s);

    tiny_model(&s, 1);
    find_t(&s, "output_norm.weight")->type = 4; /* Q4_2: removed from ggml */
    expect_open_fail(&s, "type4.gguf", RB_EFORMAT, "unknown tensor type number 4");
    free_spec(&s);
    tiny_model(&s, 1);
    find_t(&s, "output_norm.weight")->type = 1000;
    expect_open_fail(&s, "type1000.gguf", RB_EFORMAT, "1000");
    free_spec(&s);

    tiny_model(&s, 1);
    tspec *t = find_t(&s, "blk.0.ffn_norm.weight");
    t->n_dims = 5;
    t->ne[0] = 8;
    t->ne[1] = t->ne[2] = t->ne[3] = 1;
    expect_open_fail(&s, "ndims5.gguf", RB_EFORMAT, "n_dims = 5");
    free_spec(&s);
    tiny_model(&s, 1);
    find_t(&s, "blk.0.ffn_norm.weight")->n_dims = 0;
    expect_open_fail(&s, "ndims0.gguf", RB_EFORMAT, "n_dims = 0");
    free_spec(&s);

    tiny_model(&s, 1);
    find_t(&s, "blk.0.ffn_norm.weight")->ne[0] = 0;
    expect_open_fail(&s, "dim0.gguf", RB_EFORMAT, "blk.0.ffn_norm.weight");
    free_spec(&s);
    tiny_model(&s, 1);
    t = find_t(&s, "blk.0.ffn_gate.weight");
    t->ne[0] = 1ull << 40;
    t->ne[1] = 1ull << 40;
    expect_open_fail(&s, "overflow.gguf", RB_EFORMAT, "blk.0.ffn_gate.weight");
    free_spec(&s);

    tiny_model(&s, 1);
    add_tensor(&s, "blk.0.attn_q.weight", 2, D, H * HD);
    expect_open_fail(&s, "duptensor.gguf", RB_EFORMAT, "appears more than once");
    free_spec(&s);

    tiny_model(&s, 1);
    find_t(&s, "output_norm.weight")->offset = 0; /* on top of token_embd.weight */
    expect_open_fail(&s, "overlap.gguf", RB_EFORMAT, "overlap");
    free_spec(&s);

    /* Q8_0 needs rows that are a multiple of 32 */
    tiny_model(&s, 1);
    find_t(&s, "blk.0.ffn_gate.weight")->type = RB_GGML_Q8_0;
    expect_open_fail(&s, "q8rows.gguf", RB_EFORMAT, "block size 32");
    free_spec(&s);

    /* the file cut inside the tensor data */
    tiny_model(&s, 1);
    buf whole = serialize(&s);
    s.truncate_to = whole.n - 4;
    free(whole.b);
    expect_open_fail(&s, "cut_data.gguf", RB_EFORMAT, "output_norm.weight");
    free_spec(&s);
}
END_TEST

START_TEST(model_errors)
{
    gspec s;
    /* missing required key */
    tiny_model(&s, 0);
    kv_u32(&s, "llama.block_count", 1);
    expect_load_fail(&s, "nokeys.gguf", RB_EFORMAT, "llama.embedding_length");
    free_spec(&s);

    /* a key of the wrong type */
    tiny_model(&s, 0);
    kv_u32(&s, "llama.embedding_length", D);
    kv_str(&s, "llama.block_count", "one");
    kv_u32(&s, "llama.feed_forward_length", F);
    kv_u32(&s, "llama.attention.head_count", H);
    kv_u32(&s, "llama.context_length", 32);
    kv_f32(&s, "llama.attention.layer_norm_rms_epsilon", 1e-6f);
    expect_load_fail(&s, "keytype.gguf", RB_EFORMAT, "llama.block_count");
    free_spec(&s);

    /* eps stored as an integer */
    tiny_model(&s, 0);
    kv_u32(&s, "llama.embedding_length", D);
    kv_u32(&s, "llama.block_count", 1);
    kv_u32(&s, "llama.feed_forward_length", F);
    kv_u32(&s, "llama.attention.head_count", H);
    kv_u32(&s, "llama.context_length", 32);
    kv_u32(&s, "llama.attention.layer_norm_rms_epsilon", 0);
    expect_load_fail(&s, "epstype.gguf", RB_EFORMAT, "layer_norm_rms_epsilon");
    free_spec(&s);

    /* another architecture */
    memset(&s, 0, sizeof s);
    s.version = 3;
    s.nt_override = s.nkv_override = UINT64_MAX;
    s.align = 32;
    kv_str(&s, "general.architecture", "qwen2");
    expect_load_fail(&s, "qwen.gguf", RB_EUNSUPPORTED, "qwen2");
    free_spec(&s);

    /* a missing tensor, an extra tensor, a wrong shape */
    tiny_model(&s, 1);
    snprintf(find_t(&s, "output_norm.weight")->name, 64, "output_norm.bias");
    expect_load_fail(&s, "missing_tensor.gguf", RB_EFORMAT, "no tensor 'output_norm.weight'");
    free_spec(&s);
    tiny_model(&s, 1);
    s.nt--; /* too few tensors for the block count */
    expect_load_fail(&s, "few_tensors.gguf", RB_EFORMAT, "block_count");
    free_spec(&s);
    tiny_model(&s, 1);
    add_tensor(&s, "blk.0.attn_q.bias", 1, H * HD, 1);
    expect_load_fail(&s, "extra_tensor.gguf", RB_EUNSUPPORTED, "blk.0.attn_q.bias");
    free_spec(&s);
    tiny_model(&s, 1);
    find_t(&s, "blk.0.ffn_down.weight")->ne[0] = D;
    find_t(&s, "blk.0.ffn_down.weight")->ne[1] = F;
    expect_load_fail(&s, "shape.gguf", RB_EFORMAT, "blk.0.ffn_down.weight");
    free_spec(&s);

    /* an unsupported tensor type is named with the tensor (rows of 256 for Q4_K) */
    tiny_model(&s, 0);
    kv_u32(&s, "llama.embedding_length", 256);
    kv_u32(&s, "llama.block_count", 1);
    kv_u32(&s, "llama.feed_forward_length", 32);
    kv_u32(&s, "llama.attention.head_count", 64);
    kv_u32(&s, "llama.context_length", 8);
    kv_f32(&s, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    s.nt = 0;
    add_tensor(&s, "token_embd.weight", 2, 256, 2);
    add_tensor(&s, "blk.0.attn_norm.weight", 1, 256, 1);
    add_tensor(&s, "blk.0.attn_q.weight", 2, 256, 256);
    s.t[s.nt - 1].type = 12; /* Q4_K */
    add_tensor(&s, "blk.0.attn_k.weight", 2, 256, 256);
    add_tensor(&s, "blk.0.attn_v.weight", 2, 256, 256);
    add_tensor(&s, "blk.0.attn_output.weight", 2, 256, 256);
    add_tensor(&s, "blk.0.ffn_norm.weight", 1, 256, 1);
    add_tensor(&s, "blk.0.ffn_gate.weight", 2, 256, 32);
    add_tensor(&s, "blk.0.ffn_up.weight", 2, 256, 32);
    add_tensor(&s, "blk.0.ffn_down.weight", 2, 32, 256);
    add_tensor(&s, "output_norm.weight", 1, 256, 1);
    expect_load_fail(&s, "q4k.gguf", RB_EUNSUPPORTED, "'blk.0.attn_q.weight' has type Q4_K");
    free_spec(&s);
}
END_TEST

START_TEST(memory_open_matches_file)
{
    gspec s;
    tiny_model(&s, 1);
    buf o = serialize(&s);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf_memory(o.b, o.n, "mem.gguf", NULL, &m, &err) == RB_OK, "%s",
                  err.msg);
    ck_assert_str_eq(m.source, "mem.gguf");
    const char *path = write_spec(&s, "mem_as_file.gguf");
    rb_loaded_model m2;
    ck_assert_int_eq(rb_load_gguf(path, NULL, &m2, &err), RB_OK);
    ck_assert_uint_eq(m.n_params, m2.n_params);
    ck_assert(!memcmp(m.params, m2.params, m.n_params * sizeof(float)));
    free(m.params);
    free(m2.params);
    /* every proper prefix of the file must fail cleanly */
    for (size_t cut = 0; cut < o.n; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, o.b, cut);
        rb_status st = rb_load_gguf_memory(p, cut, "cut.gguf", NULL, &m, &err);
        ck_assert_msg(st == RB_EFORMAT, "cut at %zu: %s", cut, err.msg);
        ck_assert_ptr_nonnull(strstr(err.msg, "cut.gguf"));
        free(p);
    }
    free(o.b);
    free_spec(&s);
}
END_TEST

/* Llama 3 RoPE scaling arrives as per-frequency factors (rope_freqs.weight);
 * they are recognised by recomputing Meta's published rule (factor 32, low 1,
 * high 4, original context 8192) and anything else is refused. */
static void llama3_model(gspec *s, float *freqs, const char *scaling_type)
{
    enum { D3 = 16, H3 = 2, HD3 = 8, F3 = 16, V3 = 4 };
    memset(s, 0, sizeof *s);
    s->version = 3;
    s->nt_override = s->nkv_override = UINT64_MAX;
    s->align = 32;
    kv_str(s, "general.architecture", "llama");
    kv_u32(s, "llama.embedding_length", D3);
    kv_u32(s, "llama.block_count", 1);
    kv_u32(s, "llama.feed_forward_length", F3);
    kv_u32(s, "llama.attention.head_count", H3);
    kv_u32(s, "llama.attention.head_count_kv", H3);
    kv_u32(s, "llama.context_length", 131072);
    kv_u32(s, "llama.rope.dimension_count", HD3);
    kv_f32(s, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    kv_f32(s, "llama.rope.freq_base", 500000.0f);
    if (scaling_type) kv_str(s, "llama.rope.scaling.type", scaling_type);
    add_tensor(s, "token_embd.weight", 2, D3, V3);
    add_tensor(s, "rope_freqs.weight", 1, HD3 / 2, 1);
    s->t[s->nt - 1].data = freqs;
    add_tensor(s, "blk.0.attn_norm.weight", 1, D3, 1);
    add_tensor(s, "blk.0.attn_q.weight", 2, D3, H3 * HD3);
    add_tensor(s, "blk.0.attn_k.weight", 2, D3, H3 * HD3);
    add_tensor(s, "blk.0.attn_v.weight", 2, D3, H3 * HD3);
    add_tensor(s, "blk.0.attn_output.weight", 2, H3 * HD3, D3);
    add_tensor(s, "blk.0.ffn_norm.weight", 1, D3, 1);
    add_tensor(s, "blk.0.ffn_gate.weight", 2, D3, F3);
    add_tensor(s, "blk.0.ffn_up.weight", 2, D3, F3);
    add_tensor(s, "blk.0.ffn_down.weight", 2, F3, D3);
    add_tensor(s, "output_norm.weight", 1, D3, 1);
}

START_TEST(llama3_rope_factors)
{
    /* Meta's rule: wavelength 2 pi / freq below 8192/4 keeps its frequency,
     * above 8192/1 is divided by 32, in between interpolates smoothly. */
    float f[4];
    for (int i = 0; i < 4; i++) {
        double freq = pow(500000.0, -(2.0 * i) / 8.0), wav = 2.0 * 3.14159265358979323846 / freq;
        if (wav < 8192.0 / 4) f[i] = 1.0f;
        else if (wav > 8192.0) f[i] = 32.0f;
        else {
            double sm = (8192.0 / wav - 1.0) / (4.0 - 1.0);
            f[i] = (float)(1.0 / ((1.0 - sm) / 32.0 + sm));
        }
    }
    ck_assert(f[0] == 1.0f && f[3] == 32.0f && f[2] > 1.0f && f[2] < 32.0f); /* all three regimes */
    gspec s;
    llama3_model(&s, f, NULL);
    const char *path = write_spec(&s, "llama3.gguf");
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.cfg.rope_scaling, RB_ROPE_SCALING_LLAMA3);
    ck_assert(m.cfg.rope_factor == 32.0f);
    ck_assert(m.cfg.rope_low_freq_factor == 1.0f);
    ck_assert(m.cfg.rope_high_freq_factor == 4.0f);
    ck_assert_int_eq(m.cfg.rope_original_max_pos, 8192);
    ck_assert_int_eq(m.cfg.max_seq_len, 131072);
    free(m.params);
    free_spec(&s);

    f[2] *= 1.01f; /* not Meta's rule */
    llama3_model(&s, f, NULL);
    expect_load_fail(&s, "llama3_odd.gguf", RB_EUNSUPPORTED, "rope_freqs.weight");
    free_spec(&s);
    f[2] /= 1.01f;
    llama3_model(&s, f, "yarn");
    expect_load_fail(&s, "yarn.gguf", RB_EUNSUPPORTED, "yarn");
    free_spec(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* block formats on blocks built by hand from the spec                 */

START_TEST(fp16_known_values)
{
    ck_assert(rb_fp16_to_f32(0x3c00) == 1.0f);
    ck_assert(rb_fp16_to_f32(0xc000) == -2.0f);
    ck_assert(rb_fp16_to_f32(0x7bff) == 65504.0f);
    ck_assert(rb_fp16_to_f32(0x0400) == 0x1p-14f);  /* smallest normal */
    ck_assert(rb_fp16_to_f32(0x0001) == 0x1p-24f);  /* smallest subnormal */
    ck_assert(rb_fp16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    ck_assert(rb_fp16_to_f32(0x3555) == 0x1.554p-2f);
    ck_assert(isinf(rb_fp16_to_f32(0x7c00)) && rb_fp16_to_f32(0x7c00) > 0);
    ck_assert(isnan(rb_fp16_to_f32(0x7e00)));
    ck_assert(signbit(rb_fp16_to_f32(0x8000)) && rb_fp16_to_f32(0x8000) == 0.0f);
    ck_assert(rb_bf16_to_f32(0x3f80) == 1.0f);
    ck_assert(rb_bf16_to_f32(0xc0a0) == -5.0f);
}
END_TEST

START_TEST(block_formats)
{
    uint8_t blk[34];
    float out[32];
    /* Q8_0: d = 0.5 (fp16 0x3800), q_j = j - 16 */
    blk[0] = 0x00;
    blk[1] = 0x38;
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)(j - 16);
    rb_dequantize(RB_GGML_Q8_0, blk, out, 32);
    for (int j = 0; j < 32; j++) ck_assert(out[j] == 0.5f * (float)(j - 16));
    /* Q4_0: d = 2 (0x4000); byte j: low nibble j (element j), high nibble 15 - j (element j+16) */
    blk[0] = 0x00;
    blk[1] = 0x40;
    for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    rb_dequantize(RB_GGML_Q4_0, blk, out, 32);
    for (int j = 0; j < 16; j++) {
        ck_assert(out[j] == 2.0f * (float)(j - 8));
        ck_assert(out[j + 16] == 2.0f * (float)(15 - j - 8));
    }
    /* Q4_1: d = 0.25 (0x3400), m = -1 (0xbc00) */
    blk[0] = 0x00;
    blk[1] = 0x34;
    blk[2] = 0x00;
    blk[3] = 0xbc;
    for (int j = 0; j < 16; j++) blk[4 + j] = (uint8_t)(j | ((15 - j) << 4));
    rb_dequantize(RB_GGML_Q4_1, blk, out, 32);
    for (int j = 0; j < 16; j++) {
        ck_assert(out[j] == 0.25f * (float)j - 1.0f);
        ck_assert(out[j + 16] == 0.25f * (float)(15 - j) - 1.0f);
    }
    ck_assert_str_eq(rb_ggml_type_name(12), "Q4_K");
    ck_assert_str_eq(rb_ggml_type_name(4), "unknown");
    ck_assert(rb_ggml_type_supported(RB_GGML_BF16));
    ck_assert(!rb_ggml_type_supported(12));
}
END_TEST

/* ------------------------------------------------------------------ */
/* RoPE row permutation                                                */

START_TEST(rope_permutation)
{
    /* head_dim 8: half-split rows are adjacent rows 0,2,4,6,1,3,5,7 */
    enum { NH = 3, HDIM = 8, C = 5 };
    float w[NH * HDIM * C], orig[NH * HDIM * C];
    for (int i = 0; i < NH * HDIM * C; i++) w[i] = orig[i] = (float)i;
    rb_rope_rows_interleaved_to_half(w, NH, HDIM, C);
    const int src[HDIM] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int h = 0; h < NH; h++)
        for (int r = 0; r < HDIM; r++)
            for (int c = 0; c < C; c++)
                ck_assert(w[(h * HDIM + r) * C + c] == orig[(h * HDIM + src[r]) * C + c]);
    rb_rope_rows_half_to_interleaved(w, NH, HDIM, C);
    ck_assert(!memcmp(w, orig, sizeof w));

    /* against the definition for many head sizes, round trip included */
    for (int d = 2; d <= 256; d += 2) {
        const int nh = 2, cols = 3;
        size_t n = (size_t)nh * d * cols;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)i;
        rb_rope_rows_interleaved_to_half(a, nh, d, cols);
        for (int h = 0; h < nh; h++)
            for (int r = 0; r < d; r++) {
                int s2 = r < d / 2 ? 2 * r : 2 * (r - d / 2) + 1;
                for (int c = 0; c < cols; c++)
                    ck_assert(a[((size_t)h * d + r) * cols + c] == b[((size_t)h * d + s2) * cols + c]);
            }
        rb_rope_rows_half_to_interleaved(a, nh, d, cols);
        ck_assert(!memcmp(a, b, n * sizeof *a));
        free(a);
        free(b);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_gguf_parse");
    TCase *tc = tcase_create("gguf");
    tcase_add_test(tc, valid_tiny_model_loads);
    tcase_add_test(tc, untied_output_and_accessors);
    tcase_add_test(tc, header_errors);
    tcase_add_test(tc, metadata_errors);
    tcase_add_test(tc, tensor_info_errors);
    tcase_add_test(tc, model_errors);
    tcase_add_test(tc, memory_open_matches_file);
    tcase_add_test(tc, llama3_rope_factors);
    tcase_add_test(tc, fp16_known_values);
    tcase_add_test(tc, block_formats);
    tcase_add_test(tc, rope_permutation);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
