/* test_io_safetensors_hf.c: Hugging Face config.json parsing and model
 * folders (single file and sharded) built here.
 *
 * The config texts follow real published configs (Llama 3.2 with llama3
 * RoPE scaling and an eos list, OLMo 2, transformers 5's rope_parameters);
 * every required field is removed in turn and must be named in the error.
 * Folders written by rb_hf_folder_save must load back to the same config
 * and bit-identical parameters, also after splitting into shards; broken
 * folders (missing shard, index/shard disagreements, unknown or missing or
 * misshapen tensors, a head that contradicts tie_word_embeddings) must
 * fail with one line naming the file. The real stories260K-hf folder and
 * the outside reader are in tests/integration/test_io_hf*.c. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_safetensors.h"
#include "rb_test.h"

static const char *join(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    char tmp[1024]; /* dir may live in buf itself */
    int n = snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < sizeof tmp);
    memcpy(p, tmp, sizeof tmp);
    return p;
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(s, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

/* ---------------- config.json ---------------- */

/* meta-llama/Llama-3.2-1B's config.json (fields that matter here). */
static const char *LLAMA32 =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, "
    "\"attention_dropout\": 0.0, \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, "
    "128009], \"head_dim\": 64, \"hidden_act\": \"silu\", \"hidden_size\": 2048, "
    "\"initializer_range\": 0.02, \"intermediate_size\": 8192, \"max_position_embeddings\": "
    "131072, \"mlp_bias\": false, \"model_type\": \"llama\", \"num_attention_heads\": 32, "
    "\"num_hidden_layers\": 16, \"num_key_value_heads\": 8, \"pretraining_tp\": 1, "
    "\"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0, "
    "\"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, \"rope_type\": "
    "\"llama3\"}, \"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"torch_dtype\": "
    "\"bfloat16\", \"transformers_version\": \"4.45.0.dev0\", \"use_cache\": true, "
    "\"vocab_size\": 128256}";

/* allenai/OLMo-2-0425-1B-style config (no head_dim, no kv heads given). */
static const char *OLMO2 =
    "{\"architectures\": [\"Olmo2ForCausalLM\"], \"attention_bias\": false, "
    "\"bos_token_id\": null, \"eos_token_id\": 100257, \"hidden_act\": \"silu\", "
    "\"hidden_size\": 2048, \"intermediate_size\": 8192, \"max_position_embeddings\": 4096, "
    "\"model_type\": \"olmo2\", \"num_attention_heads\": 16, \"num_hidden_layers\": 16, "
    "\"pad_token_id\": 100277, \"rms_norm_eps\": 1e-06, \"rope_scaling\": null, "
    "\"rope_theta\": 500000, \"vocab_size\": 100352}";

static rb_status parse(const char *json, rb_hf_config *hc, rb_error *err)
{
    return rb_hf_config_parse(json, strlen(json), "DIR/config.json", hc, err);
}

START_TEST(test_hf_config_llama32)
{
    rb_hf_config hc;
    rb_error err = {0};
    ck_assert_msg(parse(LLAMA32, &hc, &err) == RB_OK, "%s", err.msg);
    const rb_config *c = &hc.cfg;
    ck_assert_str_eq(hc.architecture, "LlamaForCausalLM");
    ck_assert_int_eq(c->block, RB_BLOCK_LLAMA);
    ck_assert_int_eq(c->vocab_size, 128256);
    ck_assert_int_eq(c->dim, 2048);
    ck_assert_int_eq(c->hidden_dim, 8192);
    ck_assert_int_eq(c->n_prelude, 16);
    ck_assert_int_eq(c->n_recur + c->n_coda, 0);
    ck_assert_int_eq(c->n_heads, 32);
    ck_assert_int_eq(c->n_kv_heads, 8);
    ck_assert_int_eq(c->head_dim, 64);
    ck_assert_int_eq(c->max_seq_len, 131072);
    ck_assert(c->norm_eps == 1e-5f);
    ck_assert(c->rope_theta == 500000.0f);
    ck_assert_int_eq(c->rope_layout, RB_ROPE_HALF);
    ck_assert_int_eq(c->rope_scaling, RB_ROPE_SCALING_LLAMA3);
    ck_assert(c->rope_factor == 32.0f && c->rope_low_freq_factor == 1.0f &&
              c->rope_high_freq_factor == 4.0f);
    ck_assert_int_eq(c->rope_original_max_pos, 8192);
    ck_assert(c->tied_head);
    ck_assert_int_eq(hc.bos_id, 128000);
    ck_assert_int_eq(hc.n_eos, 3);
    ck_assert(hc.eos_ids[0] == 128001 && hc.eos_ids[1] == 128008 && hc.eos_ids[2] == 128009);
}
END_TEST

START_TEST(test_hf_config_olmo2)
{
    rb_hf_config hc;
    rb_error err = {0};
    ck_assert_msg(parse(OLMO2, &hc, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(hc.cfg.block, RB_BLOCK_OLMO2);
    ck_assert_int_eq(hc.cfg.n_kv_heads, 16); /* absent: = heads */
    ck_assert_int_eq(hc.cfg.head_dim, 128);  /* absent: hidden / heads */
    ck_assert(!hc.cfg.tied_head);            /* absent: false */
    ck_assert_int_eq(hc.cfg.rope_scaling, RB_ROPE_SCALING_NONE);
    ck_assert(hc.cfg.norm_eps == 1e-6f);
    ck_assert_int_eq(hc.bos_id, -1);
    ck_assert_int_eq(hc.n_eos, 1);
    ck_assert_int_eq(hc.eos_ids[0], 100257);
}
END_TEST

/* LLAMA32 with key set to raw JSON value (NULL: removed). */
static char *variant(const char *base, const char *key, const char *raw)
{
    cJSON *o = cJSON_Parse(base);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (raw) cJSON_AddItemToObject(o, key, cJSON_Parse(raw));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void expect_config_fails(const char *json, rb_status code, const char *want1,
                                const char *want2)
{
    rb_hf_config hc;
    rb_error err = {0};
    rb_status rc = parse(json, &hc, &err);
    ck_assert_msg(rc == code, "expected %s got %s: %s for %s", rb_status_name(code),
                  rb_status_name(rc), err.msg, json);
    ck_assert_msg(strstr(err.msg, "DIR/config.json") && strstr(err.msg, want1) &&
                      (!want2 || strstr(err.msg, want2)),
                  "%s", err.msg);
}

START_TEST(test_hf_config_rope_variants)
{
    rb_hf_config hc;
    rb_error err = {0};
    /* transformers 5: rope_parameters replaces rope_theta + rope_scaling. */
    char *a = variant(LLAMA32, "rope_theta", NULL);
    char *b = variant(a, "rope_scaling", NULL);
    char *c = variant(b, "rope_parameters",
                      "{\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 8.0, "
                      "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                      "\"original_max_position_embeddings\": 8192}");
    ck_assert_msg(parse(c, &hc, &err) == RB_OK, "%s", err.msg);
    ck_assert(hc.cfg.rope_theta == 500000.0f && hc.cfg.rope_factor == 8.0f);
    ck_assert_int_eq(hc.cfg.rope_scaling, RB_ROPE_SCALING_LLAMA3);
    char *d = variant(b, "rope_parameters", "{\"rope_theta\": 10000.0, \"rope_type\": \"default\"}");
    ck_assert_msg(parse(d, &hc, &err) == RB_OK, "%s", err.msg);
    ck_assert(hc.cfg.rope_theta == 10000.0f);
    ck_assert_int_eq(hc.cfg.rope_scaling, RB_ROPE_SCALING_NONE);
    /* Disagreement between the two spellings. */
    char *e = variant(LLAMA32, "rope_parameters", "{\"rope_theta\": 10000.0, \"rope_type\": \"default\"}");
    expect_config_fails(e, RB_EFORMAT, "rope_theta", NULL);
    /* Old spelling "type", and null scaling. */
    char *f = variant(LLAMA32, "rope_scaling",
                      "{\"type\": \"llama3\", \"factor\": 2, \"low_freq_factor\": 1, "
                      "\"high_freq_factor\": 4, \"original_max_position_embeddings\": 2048}");
    ck_assert_msg(parse(f, &hc, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(hc.cfg.rope_original_max_pos, 2048);
    char *g = variant(LLAMA32, "rope_scaling", "null");
    ck_assert_msg(parse(g, &hc, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(hc.cfg.rope_scaling, RB_ROPE_SCALING_NONE);
    /* Unknown scalings and incomplete llama3 settings. */
    char *h = variant(LLAMA32, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}");
    expect_config_fails(h, RB_EUNSUPPORTED, "yarn", "llama3");
    char *i = variant(LLAMA32, "rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 4.0}");
    expect_config_fails(i, RB_EFORMAT, "rope_scaling.low_freq_factor", NULL);
    char *j = variant(LLAMA32, "rope_scaling", "\"llama3\"");
    expect_config_fails(j, RB_EFORMAT, "rope_scaling", NULL);
    char *k = variant(LLAMA32, "rope_theta", NULL); /* transformers' default 10000 */
    char *k2 = variant(k, "rope_scaling", NULL);
    ck_assert_msg(parse(k2, &hc, &err) == RB_OK, "%s", err.msg);
    ck_assert(hc.cfg.rope_theta == 10000.0f);
    char *all[] = {a, b, c, d, e, f, g, h, i, j, k, k2};
    for (size_t n = 0; n < sizeof all / sizeof all[0]; n++) free(all[n]);
}
END_TEST

START_TEST(test_hf_config_missing_fields)
{
    const char *required[] = {"vocab_size", "hidden_size", "intermediate_size",
                              "num_hidden_layers", "num_attention_heads",
                              "max_position_embeddings", "rms_norm_eps"};
    for (size_t n = 0; n < sizeof required / sizeof required[0]; n++) {
        char *s = variant(LLAMA32, required[n], NULL);
        expect_config_fails(s, RB_EFORMAT, required[n], "missing");
        free(s);
    }
    /* Without architectures the model_type decides; with neither, error. */
    char *a = variant(LLAMA32, "architectures", NULL);
    rb_hf_config hc;
    rb_error err = {0};
    ck_assert_msg(parse(a, &hc, &err) == RB_OK, "%s", err.msg);
    char *b = variant(a, "model_type", NULL);
    expect_config_fails(b, RB_EFORMAT, "architectures", "missing");
    free(a);
    free(b);
}
END_TEST

START_TEST(test_hf_config_wrong_types_and_unsupported)
{
    struct {
        const char *key, *raw;
        rb_status code;
        const char *want;
    } cases[] = {
        {"hidden_size", "\"2048\"", RB_EFORMAT, "hidden_size"},
        {"num_hidden_layers", "16.5", RB_EFORMAT, "num_hidden_layers"},
        {"vocab_size", "-5", RB_EFORMAT, "vocab_size"},
        {"rms_norm_eps", "0", RB_EFORMAT, "rms_norm_eps"},
        {"tie_word_embeddings", "1", RB_EFORMAT, "tie_word_embeddings"},
        {"eos_token_id", "\"</s>\"", RB_EFORMAT, "eos_token_id"},
        {"eos_token_id", "[1, \"x\"]", RB_EFORMAT, "eos_token_id"},
        {"num_key_value_heads", "5", RB_EINVAL, "n_kv_heads"},
        {"architectures", "[\"MistralForCausalLM\"]", RB_EUNSUPPORTED, "MistralForCausalLM"},
        {"architectures", "\"LlamaForCausalLM\"", RB_EFORMAT, "architectures"},
        {"attention_bias", "true", RB_EUNSUPPORTED, "attention_bias"},
        {"hidden_act", "\"gelu\"", RB_EUNSUPPORTED, "gelu"},
    };
    for (size_t n = 0; n < sizeof cases / sizeof cases[0]; n++) {
        char *s = variant(LLAMA32, cases[n].key, cases[n].raw);
        expect_config_fails(s, cases[n].code, cases[n].want, NULL);
        free(s);
    }
    char *s = variant(LLAMA32, "architectures", "[\"GPT2LMHeadModel\"]");
    expect_config_fails(s, RB_EUNSUPPORTED, "GPT2LMHeadModel", "LlamaForCausalLM, Olmo2ForCausalLM");
    free(s);
    expect_config_fails("[1, 2]", RB_EFORMAT, "object", NULL);
    expect_config_fails("{\"vocab_size\": ", RB_EFORMAT, "JSON", NULL);
}
END_TEST

START_TEST(test_hf_config_writer_roundtrip)
{
    rb_hf_config hc, back;
    rb_error err = {0};
    ck_assert_int_eq(parse(LLAMA32, &hc, &err), RB_OK);
    char *j = rb_hf_config_to_json(&hc.cfg, 128000, 128001, &err);
    ck_assert_msg(j != NULL, "%s", err.msg);
    ck_assert_msg(parse(j, &back, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(&back.cfg, &hc.cfg, sizeof hc.cfg), 0);
    ck_assert_int_eq(back.bos_id, 128000);
    ck_assert(back.n_eos == 1 && back.eos_ids[0] == 128001);
    /* Human-readable floats, not float noise. */
    ck_assert_msg(strstr(j, "1e-05") != NULL, "%s", j);
    free(j);
    rb_config rec = hc.cfg;
    rec.n_prelude = 4;
    rec.n_recur = 8;
    rec.n_coda = 4;
    ck_assert_ptr_null(rb_hf_config_to_json(&rec, -1, -1, &err));
    ck_assert(strstr(err.msg, "recurrent") && strstr(err.msg, "checkpoint"));
}
END_TEST

/* ---------------- folders ---------------- */

static rb_config small_cfg(rb_block_kind kind, int tied)
{
    rb_config c;
    rb_config_defaults(&c);
    c.block = kind;
    c.vocab_size = 41;
    c.dim = 16;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.hidden_dim = 28;
    c.max_seq_len = 64;
    c.norm_eps = 1e-6f;
    c.rope_theta = 123456.0f;
    c.tied_head = tied;
    c.n_prelude = 3;
    ck_assert_int_eq(rb_config_finalize(&c, NULL), RB_OK);
    return c;
}

static float *params_for(const rb_config *c, size_t *n, uint64_t seed)
{
    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, c, NULL), RB_OK);
    *n = t.total;
    float *p = malloc(t.total * sizeof *p);
    rb_test_fill_uniform(p, t.total, 1.0f, seed);
    p[5] = -0.0f;
    p[6] = 1e-40f;
    rb_param_table_free(&t);
    return p;
}

/* A fresh folder holding a saved model; returns its path. */
static const char *saved_folder(const char *name, const rb_config *c, const float *p)
{
    const char *dir = rb_test_tmp_path(name);
    rb_error err = {0};
    ck_assert_msg(rb_hf_folder_save(dir, c, p, NULL, 1, 2, &err) == RB_OK, "%s", err.msg);
    return dir;
}

static void expect_folder_fails(const char *dir, rb_status code, const char *name_in_msg,
                                const char *want)
{
    rb_loaded_model m;
    rb_error err = {0};
    rb_status rc = rb_load_hf_folder(dir, NULL, &m, &err);
    ck_assert_msg(rc == code, "%s: expected %s got %s: %s", dir, rb_status_name(code),
                  rb_status_name(rc), err.msg);
    ck_assert_msg(strstr(err.msg, name_in_msg) && strstr(err.msg, want), "%s", err.msg);
    ck_assert(strchr(err.msg, '\n') == NULL);
    ck_assert_ptr_null(m.params);
}

START_TEST(test_folder_roundtrip)
{
    for (int v = 0; v < 3; v++) {
        rb_config c = small_cfg(v == 2 ? RB_BLOCK_OLMO2 : RB_BLOCK_LLAMA, v == 1);
        size_t n;
        float *p = params_for(&c, &n, 77 + (uint64_t)v);
        char name[32];
        snprintf(name, sizeof name, "rt%d", v);
        const char *dir = saved_folder(name, &c, p);
        ck_assert_int_eq(rb_detect_format(dir), RB_FORMAT_HF);
        rb_loaded_model m;
        rb_error err = {0};
        ck_assert_msg(rb_model_file_load(dir, NULL, &m, &err) == RB_OK, "%s", err.msg);
        ck_assert_int_eq(m.format, RB_FORMAT_HF);
        ck_assert_int_eq(memcmp(&m.cfg, &c, sizeof c), 0);
        ck_assert_uint_eq(m.n_params, n);
        ck_assert_int_eq(memcmp(m.params, p, n * sizeof *p), 0);
        ck_assert_int_eq(m.bos_id, 1);
        ck_assert(m.n_eos == 1 && m.eos_ids[0] == 2);
        ck_assert_ptr_null(m.tok);
        ck_assert_ptr_null(m.metadata_json);
        rb_loaded_model_free(&m);
        /* The weights file alone: named by the table, F32, "format": "pt". */
        rb_safetensors *st;
        ck_assert_int_eq(rb_st_open(&st, join(dir, "model.safetensors"), &err), RB_OK);
        ck_assert_str_eq(rb_st_metadata_get(st, "format"), "pt");
        ck_assert((rb_st_find(st, "lm_head.weight") == NULL) == (v == 1));
        rb_st_close(st);
        free(p);
    }
}
END_TEST

START_TEST(test_folder_save_refusals_and_tokenizer_copy)
{
    rb_config c = small_cfg(RB_BLOCK_LLAMA, 0);
    c.n_prelude = 1;
    c.n_recur = 1;
    c.n_coda = 1;
    size_t n;
    float *p = params_for(&c, &n, 3);
    rb_error err = {0};
    const char *dir = rb_test_tmp_path("recurrent_hf");
    ck_assert_int_eq(rb_hf_folder_save(dir, &c, p, NULL, -1, -1, &err), RB_EUNSUPPORTED);
    ck_assert(strstr(err.msg, "checkpoint") != NULL);
    free(p);

    c = small_cfg(RB_BLOCK_LLAMA, 1);
    p = params_for(&c, &n, 4);
    const char *tok = rb_test_tmp_path("some_tokenizer.json");
    write_text(tok, "{\"not\": \"really a tokenizer\"}");
    dir = rb_test_tmp_path("with_tok");
    ck_assert_msg(rb_hf_folder_save(dir, &c, p, tok, -1, -1, &err) == RB_OK, "%s", err.msg);
    char *a = read_text(tok), *b = read_text(join(dir, "tokenizer.json"));
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    /* null ids are written as null and read back as absent. */
    unlink(join(dir, "tokenizer.json"));
    rb_loaded_model m;
    ck_assert_msg(rb_load_hf_folder(dir, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.bos_id, -1);
    ck_assert_int_eq(m.n_eos, 0);
    rb_loaded_model_free(&m);
    free(p);
}
END_TEST

/* Rewrite dir/model.safetensors keeping tensors for which keep() is true,
 * renaming/reshaping via edit(), and adding one extra tensor if given. */
typedef struct {
    const char *drop;
    const char *extra_name;
    int extra_copy_embed; /* extra tensor = embedding bytes (else zeros [3]) */
    const char *reshape;  /* swap the two dims of this tensor */
} weights_edit;

static void rewrite_weights(const char *dir, weights_edit e, float flip_first)
{
    const char *path = join(dir, "model.safetensors");
    rb_safetensors *st;
    rb_error err = {0};
    ck_assert_int_eq(rb_st_open(&st, path, &err), RB_OK);
    int n = rb_st_count(st), k = 0;
    rb_st_write_tensor *w = calloc((size_t)n + 2, sizeof *w);
    static float zeros[3];
    float *embed_copy = NULL;
    for (int i = 0; i < n; i++) {
        const rb_st_tensor *t = rb_st_at(st, i);
        if (e.drop && !strcmp(t->name, e.drop)) continue;
        w[k] = (rb_st_write_tensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                                    .data = rb_st_data(st, t)};
        memcpy(w[k].shape, t->shape, sizeof t->shape);
        if (e.reshape && !strcmp(t->name, e.reshape)) {
            w[k].shape[0] = t->shape[1];
            w[k].shape[1] = t->shape[0];
        }
        if (e.extra_copy_embed && !strcmp(t->name, "model.embed_tokens.weight")) {
            embed_copy = malloc(t->numel * sizeof(float));
            memcpy(embed_copy, rb_st_data(st, t), t->numel * sizeof(float));
            embed_copy[0] += flip_first;
            w[n + 1] = w[k];
            w[n + 1].data = embed_copy;
        }
        k++;
    }
    if (e.extra_name) {
        if (e.extra_copy_embed) {
            w[k] = w[n + 1];
        } else {
            w[k] = (rb_st_write_tensor){.dtype = RB_ST_F32, .ndim = 1, .shape = {3},
                                        .data = zeros};
        }
        w[k].name = e.extra_name;
        k++;
    }
    /* Write beside, then replace: the source is still mapped. */
    const char *tmp = join(dir, "rewrite.tmp");
    ck_assert_msg(rb_st_write(tmp, w, k, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_st_close(st);
    ck_assert_int_eq(rename(tmp, path), 0);
    free(embed_copy);
    free(w);
}

START_TEST(test_folder_tensor_problems)
{
    rb_config c = small_cfg(RB_BLOCK_LLAMA, 1);
    size_t n;
    float *p = params_for(&c, &n, 9);

    const char *d = saved_folder("missing_t", &c, p);
    rewrite_weights(d, (weights_edit){.drop = "model.layers.1.self_attn.v_proj.weight"}, 0);
    expect_folder_fails(d, RB_EFORMAT, "model.safetensors",
                        "'model.layers.1.self_attn.v_proj.weight' is missing");

    d = saved_folder("shape_t", &c, p);
    rewrite_weights(d, (weights_edit){.reshape = "model.layers.2.mlp.down_proj.weight"}, 0);
    expect_folder_fails(d, RB_EFORMAT, "model.safetensors",
                        "down_proj.weight' has shape [28, 16], but");

    d = saved_folder("unknown_t", &c, p);
    rewrite_weights(d, (weights_edit){.extra_name = "model.layers.0.self_attn.q_proj.bias"}, 0);
    expect_folder_fails(d, RB_EFORMAT, "model.safetensors", "q_proj.bias");

    /* Harmless leftovers are ignored. */
    d = saved_folder("invfreq_t", &c, p);
    rewrite_weights(d, (weights_edit){.extra_name = "model.layers.0.self_attn.rotary_emb.inv_freq"},
                    0);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(d, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(m.params, p, n * sizeof *p), 0);
    rb_loaded_model_free(&m);

    /* A head stored beside tied embeddings: fine when equal, else error. */
    d = saved_folder("samehead_t", &c, p);
    rewrite_weights(d, (weights_edit){.extra_name = "lm_head.weight", .extra_copy_embed = 1}, 0);
    ck_assert_msg(rb_load_hf_folder(d, NULL, &m, &err) == RB_OK, "%s", err.msg);
    rb_loaded_model_free(&m);
    d = saved_folder("diffhead_t", &c, p);
    rewrite_weights(d, (weights_edit){.extra_name = "lm_head.weight", .extra_copy_embed = 1},
                    0.5f);
    expect_folder_fails(d, RB_EFORMAT, "model.safetensors", "tie_word_embeddings");

    /* An untied model needs its head. */
    rb_config u = small_cfg(RB_BLOCK_LLAMA, 0);
    float *pu = params_for(&u, &n, 10);
    d = saved_folder("nohead_t", &u, pu);
    rewrite_weights(d, (weights_edit){.drop = "lm_head.weight"}, 0);
    expect_folder_fails(d, RB_EFORMAT, "model.safetensors", "'lm_head.weight' is missing");
    free(pu);
    free(p);
}
END_TEST

START_TEST(test_folder_config_problems)
{
    rb_config c = small_cfg(RB_BLOCK_LLAMA, 1);
    size_t n;
    float *p = params_for(&c, &n, 11);
    const char *d = saved_folder("cfg_missing", &c, p);
    const char *cfg = join(d, "config.json");
    char *text = read_text(cfg);
    char *s = variant(text, "intermediate_size", NULL);
    write_text(cfg, s);
    expect_folder_fails(d, RB_EFORMAT, cfg, "\"intermediate_size\" is missing");
    free(s);
    s = variant(text, "num_attention_heads", "\"4\"");
    write_text(cfg, s);
    expect_folder_fails(d, RB_EFORMAT, cfg, "num_attention_heads");
    free(s);
    /* A config whose sizes disagree with the weights. */
    s = variant(text, "intermediate_size", "30");
    write_text(cfg, s);
    expect_folder_fails(d, RB_EFORMAT, "model.safetensors", "expects [30, 16]");
    free(s);
    /* More layers than tensors: refused before anything is sized from it. */
    s = variant(text, "num_hidden_layers", "100000000");
    write_text(cfg, s);
    expect_folder_fails(d, RB_EFORMAT, cfg, "num_hidden_layers");
    free(s);
    write_text(cfg, "{not json");
    expect_folder_fails(d, RB_EFORMAT, cfg, "JSON");
    unlink(cfg);
    expect_folder_fails(d, RB_EIO, d, "config.json");
    write_text(cfg, text);
    unlink(join(d, "model.safetensors"));
    expect_folder_fails(d, RB_EIO, d, "model.safetensors");
    free(text);
    free(p);
}
END_TEST

/* Split dir/model.safetensors into two shards and an index. */
static void shard_folder(const char *dir, int n_first)
{
    const char *path = join(dir, "model.safetensors");
    rb_safetensors *st;
    rb_error err = {0};
    ck_assert_int_eq(rb_st_open(&st, path, &err), RB_OK);
    int n = rb_st_count(st);
    rb_st_write_tensor *w = calloc((size_t)n, sizeof *w);
    cJSON *idx = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(idx, "metadata");
    cJSON_AddNumberToObject(md, "total_size", 0);
    cJSON *wm = cJSON_AddObjectToObject(idx, "weight_map");
    for (int i = 0; i < n; i++) {
        const rb_st_tensor *t = rb_st_at(st, i);
        w[i] = (rb_st_write_tensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                                    .data = rb_st_data(st, t)};
        memcpy(w[i].shape, t->shape, sizeof t->shape);
        cJSON_AddStringToObject(wm, t->name, i < n_first ? "model-00001-of-00002.safetensors"
                                                         : "model-00002-of-00002.safetensors");
    }
    ck_assert_int_eq(rb_st_write(join(dir, "model-00001-of-00002.safetensors"), w, n_first, NULL,
                                 NULL, 0, &err), RB_OK);
    ck_assert_int_eq(rb_st_write(join(dir, "model-00002-of-00002.safetensors"), w + n_first,
                                 n - n_first, NULL, NULL, 0, &err), RB_OK);
    char *s = cJSON_Print(idx);
    write_text(join(dir, "model.safetensors.index.json"), s);
    free(s);
    cJSON_Delete(idx);
    free(w);
    rb_st_close(st);
    unlink(path);
}

static void edit_index(const char *dir, const char *tensor, const char *shard)
{
    const char *path = join(dir, "model.safetensors.index.json");
    char *text = read_text(path);
    cJSON *o = cJSON_Parse(text);
    cJSON *wm = cJSON_GetObjectItem(o, "weight_map");
    cJSON_DeleteItemFromObjectCaseSensitive(wm, tensor);
    if (shard) cJSON_AddStringToObject(wm, tensor, shard);
    char *s = cJSON_Print(o);
    write_text(path, s);
    free(s);
    free(text);
    cJSON_Delete(o);
}

START_TEST(test_sharded_folder)
{
    rb_config c = small_cfg(RB_BLOCK_OLMO2, 0);
    size_t n;
    float *p = params_for(&c, &n, 12);
    const char *d = saved_folder("sharded", &c, p);
    shard_folder(d, 9);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(d, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(&m.cfg, &c, sizeof c), 0);
    ck_assert_int_eq(memcmp(m.params, p, n * sizeof *p), 0);
    rb_loaded_model_free(&m);

    const char *idx = join(d, "model.safetensors.index.json");
    /* The index points at a shard that is not there. */
    const char *d2 = saved_folder("sharded_missing", &c, p);
    shard_folder(d2, 9);
    unlink(join(d2, "model-00002-of-00002.safetensors"));
    expect_folder_fails(d2, RB_EIO, "model.safetensors.index.json",
                        "model-00002-of-00002.safetensors");
    /* The index names a shard that lacks the tensor. */
    edit_index(d, "model.norm.weight", "model-00001-of-00002.safetensors");
    expect_folder_fails(d, RB_EFORMAT, idx, "'model.norm.weight'");
    /* A shard holds a tensor the index does not list. */
    edit_index(d, "model.norm.weight", NULL);
    expect_folder_fails(d, RB_EFORMAT, idx, "does not list");
    /* A shard name that leaves the folder. */
    edit_index(d, "model.norm.weight", "../model-00002-of-00002.safetensors");
    expect_folder_fails(d, RB_EFORMAT, idx, "same folder");
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_hf");
    TCase *cfg = tcase_create("config");
    tcase_add_test(cfg, test_hf_config_llama32);
    tcase_add_test(cfg, test_hf_config_olmo2);
    tcase_add_test(cfg, test_hf_config_rope_variants);
    tcase_add_test(cfg, test_hf_config_missing_fields);
    tcase_add_test(cfg, test_hf_config_wrong_types_and_unsupported);
    tcase_add_test(cfg, test_hf_config_writer_roundtrip);
    suite_add_tcase(s, cfg);
    TCase *fol = tcase_create("folder");
    tcase_add_test(fol, test_folder_roundtrip);
    tcase_add_test(fol, test_folder_save_refusals_and_tokenizer_copy);
    tcase_add_test(fol, test_folder_tensor_problems);
    tcase_add_test(fol, test_folder_config_problems);
    tcase_add_test(fol, test_sharded_folder);
    suite_add_tcase(s, fol);
    return rb_test_run_suite(s);
}
