/* test_io_hf.c: the real stories260K-hf folder (../shared/assets).
 *
 *  - It loads with the shape its model card gives (dim 64, 5 layers, 8
 *    heads, 4 KV heads, hidden 172, vocab 512, tied embeddings).
 *  - Its tensors equal the llama2.c stories260K.bin it was converted from,
 *    read here straight from the bytes by the layout in the assets README:
 *    byte-identical for every tensor, q/k after the standard HF row
 *    permutation (row h*hd + j*hd/2 + i of HF = row h*hd + 2i + j of .bin).
 *  - Copies of it, edited into each malformation (truncated, header length,
 *    header not JSON, offsets past the end, overlapping offsets, a hole,
 *    unknown or non-float dtype, shapes that disagree with config.json,
 *    config.json missing a field or with a wrong type, a sharded index that
 *    points at a missing shard), fail with one line naming the file.
 *  - Saving it as a folder and as a checkpoint and loading back is
 *    bit-exact; tokenizers attach (tok512.bin, the Llama 2 tokenizer.json)
 *    and a tokenizer larger than the model's vocabulary is refused.
 * Python's own reader is compared in test_io_hf_python.c. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_safetensors.h"
#include "rb_test.h"
#include "rb_tokenizer.h"

static const char *HF;  /* the asset folder */
static const char *BIN; /* stories260K.bin */

static const char *join(const char *dir, const char *name)
{
    static char buf[16][1024];
    static int k;
    char *p = buf[k++ % 16];
    char tmp[1024]; /* dir may live in buf itself */
    int n = snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < sizeof tmp);
    memcpy(p, tmp, sizeof tmp);
    return p;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

/* A private copy of the asset folder to edit. */
static const char *copy_folder(const char *name)
{
    const char *dir = join(rb_test_tmpdir(), name);
    ck_assert(mkdir(dir, 0755) == 0);
    const char *files[2] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        size_t n;
        unsigned char *b = read_all(join(HF, files[i]), &n);
        write_all(join(dir, files[i]), b, n);
        free(b);
    }
    return dir;
}

/* Rewrite dir/model.safetensors with its header text edited (from -> to,
 * first occurrence) and its length field set to the new length. */
static void edit_header(const char *dir, const char *from, const char *to)
{
    const char *path = join(dir, "model.safetensors");
    size_t n;
    unsigned char *b = read_all(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    char *h = strndup((const char *)b + 8, (size_t)hl);
    char *at = strstr(h, from);
    ck_assert_msg(at != NULL, "'%s' not in the header", from);
    size_t pre = (size_t)(at - h), nl = hl - strlen(from) + strlen(to);
    unsigned char *o = malloc(8 + nl + (n - 8 - hl));
    for (int i = 0; i < 8; i++) o[i] = (unsigned char)((uint64_t)nl >> (8 * i));
    memcpy(o + 8, h, pre);
    memcpy(o + 8 + pre, to, strlen(to));
    memcpy(o + 8 + pre + strlen(to), at + strlen(from), hl - pre - strlen(from));
    memcpy(o + 8 + nl, b + 8 + hl, n - 8 - hl);
    write_all(path, o, 8 + nl + (n - 8 - hl));
    free(o);
    free(h);
    free(b);
}

static void expect_fails(const char *dir, rb_status code, const char *file, const char *want)
{
    rb_loaded_model m;
    rb_error err = {0};
    rb_status rc = rb_load_hf_folder(dir, NULL, &m, &err);
    ck_assert_msg(rc == code, "%s: expected %s got %s: %s", dir, rb_status_name(code),
                  rb_status_name(rc), err.msg);
    ck_assert_msg(strstr(err.msg, file) != NULL, "message does not name %s: %s", file, err.msg);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message lacks '%s': %s", want, err.msg);
    ck_assert(strchr(err.msg, '\n') == NULL);
    ck_assert_ptr_null(m.params);
}

static rb_loaded_model load_asset(void)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(HF, NULL, &m, &err) == RB_OK, "%s", err.msg);
    return m;
}

/* ---------------- the real folder ---------------- */

START_TEST(test_loads_with_card_shape)
{
    ck_assert_int_eq(rb_detect_format(HF), RB_FORMAT_HF);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_model_file_load(HF, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.format, RB_FORMAT_HF);
    ck_assert_int_eq(m.cfg.dim, 64);
    ck_assert_int_eq(m.cfg.n_prelude, 5);
    ck_assert_int_eq(m.cfg.n_recur, 0);
    ck_assert_int_eq(m.cfg.n_coda, 0);
    ck_assert_int_eq(m.cfg.n_heads, 8);
    ck_assert_int_eq(m.cfg.n_kv_heads, 4);
    ck_assert_int_eq(m.cfg.head_dim, 8);
    ck_assert_int_eq(m.cfg.hidden_dim, 172);
    ck_assert_int_eq(m.cfg.vocab_size, 512);
    ck_assert_int_eq(m.cfg.max_seq_len, 512);
    ck_assert(m.cfg.tied_head);
    ck_assert(m.cfg.norm_eps == 1e-5f && m.cfg.rope_theta == 10000.0f);
    ck_assert_int_eq(m.cfg.rope_layout, RB_ROPE_HALF);
    ck_assert_int_eq(m.cfg.block, RB_BLOCK_LLAMA);
    ck_assert_int_eq(m.bos_id, 1);
    ck_assert(m.n_eos == 1 && m.eos_ids[0] == 2);
    ck_assert_ptr_null(m.tok); /* the folder has no tokenizer.json */
    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, &m.cfg, NULL), RB_OK);
    ck_assert_uint_eq(m.n_params, t.total);
    rb_param_table_free(&t);
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(test_equals_llama2c_bin)
{
    rb_loaded_model m = load_asset();
    size_t n;
    unsigned char *raw = read_all(BIN, &n);
    int32_t h[7];
    memcpy(h, raw, sizeof h);
    const int dim = h[0], hid = h[1], L = h[2], H = h[3], KV = h[4], V = h[5];
    ck_assert(dim == 64 && hid == 172 && L == 5 && H == 8 && KV == 4 && V == 512);
    const int hd = dim / H, kvd = KV * hd;
    const float *w = (const float *)(const void *)(raw + 28);
    const float *emb = w, *rms_att = emb + V * dim, *wq = rms_att + L * dim,
                *wk = wq + L * dim * dim, *wv = wk + L * kvd * dim, *wo = wv + L * kvd * dim,
                *rms_ffn = wo + L * dim * dim, *w1 = rms_ffn + L * dim, *w2 = w1 + L * hid * dim,
                *w3 = w2 + L * dim * hid, *rms_fin = w3 + L * hid * dim;
    ck_assert((const unsigned char *)(rms_fin + dim) <= raw + n);

    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, &m.cfg, NULL), RB_OK);
#define P(name) (m.params + t.items[rb_param_table_find(&t, name)].offset)
    ck_assert_int_eq(memcmp(P("model.embed_tokens.weight"), emb, (size_t)V * dim * 4), 0);
    ck_assert_int_eq(memcmp(P("model.norm.weight"), rms_fin, (size_t)dim * 4), 0);
    char name[128];
    for (int l = 0; l < L; l++) {
#define LAYER(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), P(name))
        ck_assert_int_eq(memcmp(LAYER("input_layernorm.weight"), rms_att + l * dim, dim * 4), 0);
        ck_assert_int_eq(memcmp(LAYER("post_attention_layernorm.weight"), rms_ffn + l * dim,
                                dim * 4), 0);
        ck_assert_int_eq(memcmp(LAYER("self_attn.v_proj.weight"), wv + l * kvd * dim,
                                (size_t)kvd * dim * 4), 0);
        ck_assert_int_eq(memcmp(LAYER("self_attn.o_proj.weight"), wo + l * dim * dim,
                                (size_t)dim * dim * 4), 0);
        ck_assert_int_eq(memcmp(LAYER("mlp.gate_proj.weight"), w1 + l * hid * dim,
                                (size_t)hid * dim * 4), 0);
        ck_assert_int_eq(memcmp(LAYER("mlp.down_proj.weight"), w2 + l * dim * hid,
                                (size_t)dim * hid * 4), 0);
        ck_assert_int_eq(memcmp(LAYER("mlp.up_proj.weight"), w3 + l * hid * dim,
                                (size_t)hid * dim * 4), 0);
        const float *q = LAYER("self_attn.q_proj.weight");
        const float *k = LAYER("self_attn.k_proj.weight");
        for (int head = 0; head < H; head++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < hd / 2; i++) {
                    int hf = head * hd + j * (hd / 2) + i, bin = head * hd + 2 * i + j;
                    ck_assert_int_eq(memcmp(q + hf * dim, wq + (l * dim + bin) * dim, dim * 4), 0);
                    if (head < KV)
                        ck_assert_int_eq(memcmp(k + hf * dim, wk + (l * kvd + bin) * dim, dim * 4),
                                         0);
                }
#undef LAYER
    }
#undef P
    rb_param_table_free(&t);
    free(raw);
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(test_roundtrips_are_bit_exact)
{
    rb_loaded_model m = load_asset();
    rb_error err = {0};
    const char *dir = join(rb_test_tmpdir(), "resaved");
    ck_assert_msg(rb_hf_folder_save(dir, &m.cfg, m.params, NULL, m.bos_id, m.eos_ids[0], &err) ==
                      RB_OK, "%s", err.msg);
    rb_loaded_model b;
    ck_assert_msg(rb_load_hf_folder(dir, NULL, &b, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(&b.cfg, &m.cfg, sizeof m.cfg), 0);
    ck_assert_uint_eq(b.n_params, m.n_params);
    ck_assert_int_eq(memcmp(b.params, m.params, m.n_params * 4), 0);
    ck_assert_int_eq(b.bos_id, 1);
    ck_assert_int_eq(b.eos_ids[0], 2);
    rb_loaded_model_free(&b);

    const char *ck = join(rb_test_tmpdir(), "stories.safetensors");
    const char *k[1] = {"base"}, *v[1] = {"stories260K-hf"};
    ck_assert_msg(rb_checkpoint_save(ck, &m.cfg, m.params, NULL, k, v, 1, &err) == RB_OK, "%s",
                  err.msg);
    ck_assert_msg(rb_model_file_load(ck, NULL, &b, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(b.format, RB_FORMAT_CHECKPOINT);
    ck_assert_int_eq(memcmp(&b.cfg, &m.cfg, sizeof m.cfg), 0);
    ck_assert_int_eq(memcmp(b.params, m.params, m.n_params * 4), 0);
    rb_loaded_model_free(&b);
    rb_loaded_model_free(&m);
}
END_TEST

/* ---------------- malformed copies ---------------- */

START_TEST(test_malformed_weights)
{
    const char *d;
    size_t n;
    unsigned char *b;

    d = copy_folder("truncated");
    b = read_all(join(d, "model.safetensors"), &n);
    write_all(join(d, "model.safetensors"), b, n - 100);
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "past the end");
    free(b);

    d = copy_folder("hlen_big");
    b = read_all(join(d, "model.safetensors"), &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    uint64_t big = n; /* larger than what follows the 8 bytes */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(big >> (8 * i));
    write_all(join(d, "model.safetensors"), b, n);
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "exceeds");
    uint64_t more = hl + 64; /* swallows data bytes after the JSON */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(more >> (8 * i));
    write_all(join(d, "model.safetensors"), b, n);
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "after the header's JSON");
    free(b);

    d = copy_folder("notjson");
    edit_header(d, "\"dtype\":\"F32\"", "\"dtype\":F32");
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "not valid JSON");

    d = copy_folder("past_end");
    edit_header(d, "[1039872,1040128]", "[1039872,1040384]");
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "past the end");

    d = copy_folder("overlap");
    edit_header(d, "[131072,131328]", "[131000,131256]");
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "overlap");

    d = copy_folder("hole");
    edit_header(d, "\"shape\":[512,64],\"data_offsets\":[0,131072]",
                "\"shape\":[511,64],\"data_offsets\":[0,130816]");
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "belong to no tensor");

    d = copy_folder("dtype_unknown");
    edit_header(d, "\"F32\"", "\"F4\"");
    expect_fails(d, RB_EUNSUPPORTED, join(d, "model.safetensors"), "F4");

    d = copy_folder("dtype_int");
    edit_header(d, "\"F32\"", "\"I32\"");
    expect_fails(d, RB_EUNSUPPORTED, join(d, "model.safetensors"),
                 "'model.embed_tokens.weight' has dtype I32");

    d = copy_folder("shape_vs_config");
    edit_header(d, "\"shape\":[512,64]", "\"shape\":[256,128]");
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"),
                 "'model.embed_tokens.weight' has shape [256, 128], but");
}
END_TEST

static void set_config_field(const char *dir, const char *key, const char *raw)
{
    size_t n;
    unsigned char *b = read_all(join(dir, "config.json"), &n);
    cJSON *o = cJSON_Parse((const char *)b);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (raw) cJSON_AddItemToObject(o, key, cJSON_Parse(raw));
    char *s = cJSON_Print(o);
    write_all(join(dir, "config.json"), s, strlen(s));
    free(s);
    cJSON_Delete(o);
    free(b);
}

START_TEST(test_malformed_config)
{
    const char *d = copy_folder("cfg_missing");
    set_config_field(d, "hidden_size", NULL);
    expect_fails(d, RB_EFORMAT, join(d, "config.json"), "\"hidden_size\" is missing");
    d = copy_folder("cfg_type");
    set_config_field(d, "num_key_value_heads", "\"4\"");
    expect_fails(d, RB_EFORMAT, join(d, "config.json"), "num_key_value_heads");
    d = copy_folder("cfg_arch");
    set_config_field(d, "architectures", "[\"Qwen2ForCausalLM\"]");
    expect_fails(d, RB_EUNSUPPORTED, join(d, "config.json"), "Qwen2ForCausalLM");
    /* Untied per config: lm_head.weight is then required. */
    d = copy_folder("cfg_untied");
    set_config_field(d, "tie_word_embeddings", "false");
    expect_fails(d, RB_EFORMAT, join(d, "model.safetensors"), "'lm_head.weight' is missing");
}
END_TEST

/* Shard the real file: everything goes to shard 1 (the renamed file) except
 * the tensors listed after `split`, which the index puts in shard 2. */
static void make_index(const char *dir, int split_at)
{
    ck_assert_int_eq(rename(join(dir, "model.safetensors"),
                            join(dir, "model-00001-of-00002.safetensors")), 0);
    rb_safetensors *st;
    rb_error err = {0};
    ck_assert_int_eq(rb_st_open(&st, join(dir, "model-00001-of-00002.safetensors"), &err), RB_OK);
    cJSON *o = cJSON_CreateObject();
    cJSON *wm = cJSON_AddObjectToObject(o, "weight_map");
    for (int i = 0; i < rb_st_count(st); i++)
        cJSON_AddStringToObject(wm, rb_st_at(st, i)->name,
                                i < split_at ? "model-00001-of-00002.safetensors"
                                             : "model-00002-of-00002.safetensors");
    char *s = cJSON_Print(o);
    write_all(join(dir, "model.safetensors.index.json"), s, strlen(s));
    free(s);
    cJSON_Delete(o);
    rb_st_close(st);
}

START_TEST(test_sharded_index)
{
    rb_loaded_model ref = load_asset();
    /* Every tensor in one shard named by an index: loads the same. */
    const char *d = copy_folder("index_ok");
    make_index(d, 1 << 30);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(d, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(m.params, ref.params, ref.n_params * 4), 0);
    rb_loaded_model_free(&m);
    /* The index sends half of the tensors to a shard that is not there. */
    d = copy_folder("index_missing");
    make_index(d, 20);
    expect_fails(d, RB_EIO, join(d, "model.safetensors.index.json"),
                 "model-00002-of-00002.safetensors");
    rb_loaded_model_free(&ref);
}
END_TEST

/* ---------------- tokenizers ---------------- */

START_TEST(test_tokenizer_bin_attaches)
{
    const char *tok = rb_test_asset("stories260K/tok512.bin");
    if (!tok) return; /* reported by main */
    rb_load_opts o = {.tokenizer_path = tok};
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(HF, &o, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), 512);
    ck_assert_int_eq(rb_tokenizer_bos(m.tok), 1);
    ck_assert_int_eq(rb_tokenizer_eos(m.tok), 2);
    ck_assert_str_eq(m.tokenizer_path, tok);

    /* A checkpoint naming its tokenizer in __metadata__: an absolute path,
     * and a path relative to the checkpoint's folder. */
    size_t n;
    unsigned char *tb = read_all(tok, &n);
    write_all(join(rb_test_tmpdir(), "tok_beside.bin"), tb, n);
    free(tb);
    const char *vals[2] = {tok, "tok_beside.bin"};
    for (int i = 0; i < 2; i++) {
        const char *ck = join(rb_test_tmpdir(), "with_tok.safetensors");
        const char *k[1] = {"tokenizer"};
        ck_assert_msg(rb_checkpoint_save(ck, &m.cfg, m.params, NULL, k, &vals[i], 1, &err) ==
                          RB_OK, "%s", err.msg);
        rb_loaded_model c;
        ck_assert_msg(rb_load_checkpoint(ck, NULL, &c, &err) == RB_OK, "%s", err.msg);
        ck_assert_ptr_nonnull(c.tok);
        ck_assert_int_eq(rb_tokenizer_vocab_size(c.tok), 512);
        ck_assert_str_eq(c.tokenizer_path, i == 0 ? tok : join(rb_test_tmpdir(), "tok_beside.bin"));
        ck_assert_int_eq(c.bos_id, 1);
        ck_assert(c.n_eos == 1 && c.eos_ids[0] == 2);
        rb_loaded_model_free(&c);
    }
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(test_tokenizer_json_attaches_and_size_checked)
{
    const char *tj = rb_test_asset("tokenizers/llama2/tokenizer.json");
    if (!tj) return;
    /* Too big for stories260K's 512-row embedding. */
    rb_load_opts o = {.tokenizer_path = tj};
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_int_eq(rb_load_hf_folder(HF, &o, &m, &err), RB_EFORMAT);
    ck_assert_msg(strstr(err.msg, tj) && strstr(err.msg, "32000") && strstr(err.msg, "512"), "%s",
                  err.msg);
    /* A model of the right vocabulary, saved with the tokenizer copied in:
     * tokenizer.json in the folder is picked up without being asked for. */
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 32000;
    c.dim = 8;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.hidden_dim = 16;
    c.max_seq_len = 32;
    c.tied_head = 1;
    c.n_prelude = 1;
    ck_assert_int_eq(rb_config_finalize(&c, NULL), RB_OK);
    rb_param_table t;
    rb_param_table_build(&t, &c, NULL);
    float *p = calloc(t.total, sizeof *p);
    const char *dir = join(rb_test_tmpdir(), "with_llama2_tok");
    ck_assert_msg(rb_hf_folder_save(dir, &c, p, tj, 1, 2, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_load_hf_folder(dir, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), 32000);
    ck_assert_str_eq(m.tokenizer_path, join(dir, "tokenizer.json"));
    ck_assert_int_eq(m.bos_id, 1);
    rb_loaded_model_free(&m);
    rb_param_table_free(&t);
    free(p);
}
END_TEST

int main(void)
{
    HF = rb_test_asset_or_skip("stories260K-hf/config.json");
    HF = strndup(HF, strlen(HF) - strlen("/config.json"));
    rb_test_asset_or_skip("stories260K-hf/model.safetensors");
    BIN = strdup(rb_test_asset_or_skip("stories260K/stories260K.bin"));
    if (!rb_test_asset("stories260K/tok512.bin"))
        printf("NOTE: tok512.bin absent: its tokenizer check does nothing\n");
    if (!rb_test_asset("tokenizers/llama2/tokenizer.json"))
        printf("NOTE: llama2 tokenizer.json absent: its checks do nothing\n");
    Suite *s = suite_create("io_hf_assets");
    TCase *tc = tcase_create("stories260K-hf");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_loads_with_card_shape);
    tcase_add_test(tc, test_equals_llama2c_bin);
    tcase_add_test(tc, test_roundtrips_are_bit_exact);
    tcase_add_test(tc, test_malformed_weights);
    tcase_add_test(tc, test_malformed_config);
    tcase_add_test(tc, test_sharded_index);
    suite_add_tcase(s, tc);
    TCase *tk = tcase_create("tokenizers");
    tcase_set_timeout(tk, 120);
    tcase_add_test(tk, test_tokenizer_bin_attaches);
    tcase_add_test(tk, test_tokenizer_json_attaches_and_size_checked);
    suite_add_tcase(s, tk);
    return rb_test_run_suite(s);
}
