/* test_io_safetensors_ckpt.c: the retrobench checkpoint (safetensors with
 * config and retrofit plan in __metadata__) and rb_config <-> JSON.
 *
 * Round trips must be bit-exact, parameters including NaN, -0 and
 * subnormals; every malformed checkpoint (missing, extra or misshapen
 * tensors, a bad or absent config, a foreign safetensors file) must fail
 * with one line naming the file; a save that fails midway must leave the
 * previous checkpoint loadable and unchanged. The bytes are also checked
 * with the generic safetensors reader, which does not know about
 * checkpoints. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_safetensors.h"
#include "rb_test.h"

/* A recurrent Llama config with every field away from its default. */
static rb_config recurrent_cfg(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 37;
    c.dim = 16;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.hidden_dim = 24;
    c.max_seq_len = 96;
    c.norm_eps = 1.2345e-6f;
    c.rope_theta = 500000.0f;
    c.rope_scaling = RB_ROPE_SCALING_LLAMA3;
    c.rope_factor = 32.0f;
    c.rope_low_freq_factor = 1.0f;
    c.rope_high_freq_factor = 4.0f;
    c.rope_original_max_pos = 8192;
    c.tied_head = 0;
    c.n_prelude = 1;
    c.n_recur = 2;
    c.n_coda = 1;
    c.state_init = RB_STATE_ZERO;
    c.state_sigma = nextafterf(0.02f, 1.0f);
    ck_assert_int_eq(rb_config_finalize(&c, NULL), RB_OK);
    return c;
}

static rb_config olmo_cfg(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.block = RB_BLOCK_OLMO2;
    c.vocab_size = 29;
    c.dim = 12;
    c.n_heads = 3;
    c.n_kv_heads = 3;
    c.head_dim = 8; /* q width 24 != dim: HF allows an explicit head_dim */
    c.hidden_dim = 20;
    c.max_seq_len = 32;
    c.tied_head = 1;
    c.n_prelude = 2;
    c.rope_layout = RB_ROPE_INTERLEAVED;
    ck_assert_int_eq(rb_config_finalize(&c, NULL), RB_OK);
    return c;
}

/* Parameters with awkward values sprinkled in, to catch any conversion. */
static float *make_params(const rb_config *c, size_t *n)
{
    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, c, NULL), RB_OK);
    *n = t.total;
    float *p = malloc(t.total * sizeof *p);
    rb_test_fill_uniform(p, t.total, 0.5f, 1234);
    p[0] = NAN;
    p[1] = -0.0f;
    p[2] = 1e-42f;
    p[3] = INFINITY;
    p[t.total - 1] = nextafterf(1.0f, 2.0f);
    rb_param_table_free(&t);
    return p;
}

static rb_retrofit_plan make_plan(void)
{
    rb_retrofit_plan p = {0};
    p.n_src_layers = 6;
    p.n_blocks = 4;
    p.src_layer = malloc(4 * sizeof(int));
    int m[4] = {0, 2, 3, 5};
    memcpy(p.src_layer, m, sizeof m);
    snprintf(p.adapter_init, sizeof p.adapter_init, "uniform");
    snprintf(p.base_model, sizeof p.base_model, "some/base \"model\"");
    return p;
}

/* ---------------- config JSON ---------------- */

START_TEST(test_config_json_roundtrip)
{
    rb_config cs[2] = {recurrent_cfg(), olmo_cfg()};
    for (int i = 0; i < 2; i++) {
        char *j = rb_config_to_json(&cs[i]);
        ck_assert_ptr_nonnull(j);
        rb_config back;
        rb_error err = {0};
        ck_assert_msg(rb_config_from_json(j, &back, "test", &err) == RB_OK, "%s", err.msg);
        ck_assert_int_eq(memcmp(&back, &cs[i], sizeof back), 0);
        /* Enums are spelled out. */
        cJSON *o = cJSON_Parse(j);
        ck_assert_str_eq(cJSON_GetObjectItem(o, "block")->valuestring, i ? "olmo2" : "llama");
        ck_assert_str_eq(cJSON_GetObjectItem(o, "rope_layout")->valuestring,
                         i ? "interleaved" : "half");
        ck_assert_str_eq(cJSON_GetObjectItem(o, "rope_scaling")->valuestring,
                         i ? "none" : "llama3");
        ck_assert_str_eq(cJSON_GetObjectItem(o, "state_init")->valuestring,
                         i ? "truncnormal" : "zero");
        ck_assert(cJSON_IsBool(cJSON_GetObjectItem(o, "tied_head")));
        cJSON_Delete(o);
        free(j);
    }
}
END_TEST

/* The JSON of recurrent_cfg with one change applied by f. */
static char *altered(void (*f)(cJSON *))
{
    rb_config c = recurrent_cfg();
    char *j = rb_config_to_json(&c);
    cJSON *o = cJSON_Parse(j);
    free(j);
    f(o);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void drop_dim(cJSON *o) { cJSON_DeleteItemFromObject(o, "dim"); }
static void add_unknown(cJSON *o) { cJSON_AddNumberToObject(o, "n_experts", 8); }
static void dim_string(cJSON *o) { cJSON_ReplaceItemInObject(o, "dim", cJSON_CreateString("16")); }
static void bad_block(cJSON *o) { cJSON_ReplaceItemInObject(o, "block", cJSON_CreateString("gpt2")); }
static void bad_heads(cJSON *o) { cJSON_ReplaceItemInObject(o, "n_heads", cJSON_CreateNumber(3)); }
static void frac_int(cJSON *o) { cJSON_ReplaceItemInObject(o, "n_recur", cJSON_CreateNumber(1.5)); }

START_TEST(test_config_json_errors)
{
    struct {
        void (*f)(cJSON *);
        const char *want;
    } cases[] = {
        {drop_dim, "\"dim\" is missing"},
        {add_unknown, "n_experts"},
        {dim_string, "\"dim\" must be an integer"},
        {bad_block, "llama, olmo2"},
        {bad_heads, "n_heads"},
        {frac_int, "n_recur"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = altered(cases[i].f);
        rb_config c;
        rb_error err = {0};
        rb_status rc = rb_config_from_json(s, &c, "SRC.json", &err);
        ck_assert_msg(rc != RB_OK, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, "SRC.json") && strstr(err.msg, cases[i].want),
                      "case %zu: %s", i, err.msg);
        free(s);
    }
    rb_config c;
    rb_error err = {0};
    ck_assert_int_eq(rb_config_from_json("{\"dim\": ", &c, "SRC.json", &err), RB_EFORMAT);
    ck_assert(strstr(err.msg, "SRC.json") != NULL);
}
END_TEST

/* ---------------- checkpoint round trip ---------------- */

START_TEST(test_checkpoint_roundtrip)
{
    rb_config c = recurrent_cfg();
    size_t n;
    float *p = make_params(&c, &n);
    rb_retrofit_plan plan = make_plan();
    const char *path = rb_test_tmp_path("ck.safetensors");
    const char *k[3] = {"step", "bos_token_id", "eos_token_id"};
    const char *v[3] = {"1200", "1", "[2, 5]"};
    rb_error err = {0};
    ck_assert_msg(rb_checkpoint_save(path, &c, p, &plan, k, v, 3, &err) == RB_OK, "%s", err.msg);

    ck_assert_int_eq(rb_detect_format(path), RB_FORMAT_CHECKPOINT);
    rb_loaded_model m;
    ck_assert_msg(rb_model_file_load(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.format, RB_FORMAT_CHECKPOINT);
    ck_assert_str_eq(m.source, path);
    ck_assert_int_eq(memcmp(&m.cfg, &c, sizeof c), 0);
    ck_assert_uint_eq(m.n_params, n);
    ck_assert_int_eq(memcmp(m.params, p, n * sizeof *p), 0);
    ck_assert(m.has_plan);
    ck_assert_int_eq(m.plan.n_src_layers, 6);
    ck_assert_int_eq(m.plan.n_blocks, 4);
    ck_assert_int_eq(memcmp(m.plan.src_layer, plan.src_layer, 4 * sizeof(int)), 0);
    ck_assert_str_eq(m.plan.adapter_init, "uniform");
    ck_assert_str_eq(m.plan.base_model, plan.base_model);
    ck_assert_int_eq(m.bos_id, 1);
    ck_assert_int_eq(m.n_eos, 2);
    ck_assert(m.eos_ids[0] == 2 && m.eos_ids[1] == 5);
    ck_assert_ptr_null(m.tok);
    ck_assert_str_eq(m.tokenizer_path, "");
    cJSON *meta = cJSON_Parse(m.metadata_json);
    ck_assert_str_eq(cJSON_GetObjectItem(meta, "format")->valuestring, "retrobench");
    ck_assert_str_eq(cJSON_GetObjectItem(meta, "step")->valuestring, "1200");
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(meta, "config")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(meta, "plan")));
    cJSON_Delete(meta);
    rb_loaded_model_free(&m);

    /* Seen by the generic reader: all F32, names and shapes from the table. */
    rb_safetensors *st;
    ck_assert_int_eq(rb_st_open(&st, path, &err), RB_OK);
    rb_param_table t;
    rb_param_table_build(&t, &c, NULL);
    ck_assert_int_eq(rb_st_count(st), t.count);
    for (int i = 0; i < t.count; i++) {
        const rb_st_tensor *x = rb_st_find(st, t.items[i].name);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->dtype, RB_ST_F32);
        ck_assert_int_eq(x->ndim, t.items[i].ndim);
        ck_assert_int_eq(x->shape[0], t.items[i].rows);
        if (x->ndim == 2) ck_assert_int_eq(x->shape[1], t.items[i].cols);
    }
    ck_assert_ptr_nonnull(rb_st_find(st, "model.adapter.weight"));
    rb_param_table_free(&t);
    rb_st_close(st);
    rb_retrofit_plan_free(&plan);
    free(p);
}
END_TEST

START_TEST(test_checkpoint_plain_tied)
{
    rb_config c = olmo_cfg();
    size_t n;
    float *p = make_params(&c, &n);
    const char *path = rb_test_tmp_path("plain.safetensors");
    rb_error err = {0};
    ck_assert_msg(rb_checkpoint_save(path, &c, p, NULL, NULL, NULL, 0, &err) == RB_OK, "%s",
                  err.msg);
    rb_loaded_model m;
    ck_assert_msg(rb_load_checkpoint(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(&m.cfg, &c, sizeof c), 0);
    ck_assert_int_eq(memcmp(m.params, p, n * sizeof *p), 0);
    ck_assert(!m.has_plan);
    ck_assert_int_eq(m.bos_id, -1);
    ck_assert_int_eq(m.n_eos, 0);
    rb_loaded_model_free(&m);
    free(p);
}
END_TEST

START_TEST(test_checkpoint_save_refusals)
{
    rb_config c = recurrent_cfg();
    size_t n;
    float *p = make_params(&c, &n);
    rb_error err = {0};
    const char *path = rb_test_tmp_path("refuse.safetensors");
    const char *k[1] = {"config"}, *v[1] = {"x"};
    ck_assert_int_eq(rb_checkpoint_save(path, &c, p, NULL, k, v, 1, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "reserved") != NULL);
    rb_retrofit_plan plan = make_plan();
    plan.n_blocks = 3; /* the model has 4 */
    ck_assert_int_eq(rb_checkpoint_save(path, &c, p, &plan, NULL, NULL, 0, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "blocks") != NULL);
    plan.n_blocks = 4;
    plan.src_layer[2] = 6; /* base has 6 layers: 0..5 */
    ck_assert_int_eq(rb_checkpoint_save(path, &c, p, &plan, NULL, NULL, 0, &err), RB_EINVAL);
    ck_assert_int_eq(access(path, F_OK), -1);
    rb_retrofit_plan_free(&plan);
    free(p);
}
END_TEST

/* ---------------- malformed checkpoints ---------------- */

/* Rewrite a valid checkpoint through the generic writer with edits: drop
 * tensor `drop`, add an extra tensor, reshape the first 2-D tensor, or
 * replace one metadata value. */
typedef struct {
    const char *drop;
    int add_extra;
    int reshape;
    const char *meta_key, *meta_value;
} mutation;

static const char *mutated_checkpoint(const char *name, mutation mu)
{
    rb_config c = recurrent_cfg();
    size_t n;
    float *p = make_params(&c, &n);
    const char *src = rb_test_tmp_path("mut_src.safetensors");
    rb_error err = {0};
    ck_assert_int_eq(rb_checkpoint_save(src, &c, p, NULL, NULL, NULL, 0, &err), RB_OK);
    rb_safetensors *st;
    ck_assert_int_eq(rb_st_open(&st, src, &err), RB_OK);
    int nt = rb_st_count(st), k = 0;
    rb_st_write_tensor *w = calloc((size_t)nt + 1, sizeof *w);
    float extra[4] = {0};
    for (int i = 0; i < nt; i++) {
        const rb_st_tensor *t = rb_st_at(st, i);
        if (mu.drop && !strcmp(t->name, mu.drop)) continue;
        w[k].name = t->name;
        w[k].dtype = t->dtype;
        w[k].ndim = t->ndim;
        memcpy(w[k].shape, t->shape, sizeof t->shape);
        w[k].data = rb_st_data(st, t);
        if (mu.reshape && t->ndim == 2 && mu.reshape-- == 1) {
            w[k].shape[0] = t->shape[1]; /* transpose the shape */
            w[k].shape[1] = t->shape[0];
        }
        k++;
    }
    if (mu.add_extra)
        w[k++] = (rb_st_write_tensor){.name = "model.layers.0.self_attn.q_proj.bias",
                                      .dtype = RB_ST_F32, .ndim = 1, .shape = {4}, .data = extra};
    int nm = rb_st_metadata_count(st);
    const char **mk = calloc((size_t)nm, sizeof *mk), **mv = calloc((size_t)nm, sizeof *mv);
    for (int i = 0; i < nm; i++) {
        mk[i] = rb_st_metadata_key(st, i);
        mv[i] = mu.meta_key && !strcmp(mk[i], mu.meta_key) ? mu.meta_value
                                                            : rb_st_metadata_value(st, i);
    }
    const char *dst = rb_test_tmp_path(name);
    ck_assert_msg(rb_st_write(dst, w, k, mk, mv, nm, &err) == RB_OK, "%s", err.msg);
    free(mk);
    free(mv);
    free(w);
    rb_st_close(st);
    free(p);
    return dst;
}

static void expect_load_fails(const char *path, rb_status code, const char *want)
{
    rb_loaded_model m;
    rb_error err = {0};
    rb_status rc = rb_load_checkpoint(path, NULL, &m, &err);
    ck_assert_msg(rc == code, "%s: expected %s got %s: %s", path, rb_status_name(code),
                  rb_status_name(rc), err.msg);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, want), "%s", err.msg);
    ck_assert(strchr(err.msg, '\n') == NULL);
    ck_assert_ptr_null(m.params);
}

START_TEST(test_checkpoint_malformed)
{
    expect_load_fails(mutated_checkpoint("drop.safetensors",
                                         (mutation){.drop = "model.layers.2.mlp.up_proj.weight"}),
                      RB_EFORMAT, "'model.layers.2.mlp.up_proj.weight' is missing");
    expect_load_fails(mutated_checkpoint("extra.safetensors", (mutation){.add_extra = 1}),
                      RB_EFORMAT, "q_proj.bias");
    expect_load_fails(mutated_checkpoint("shape.safetensors", (mutation){.reshape = 3}),
                      RB_EFORMAT, "k_proj.weight' has shape [16, 8], but its config expects [8, 16]");
    expect_load_fails(mutated_checkpoint("fmt.safetensors",
                                         (mutation){.meta_key = "format", .meta_value = "pt"}),
                      RB_EFORMAT, "not a retrobench checkpoint");
    expect_load_fails(mutated_checkpoint("cfg.safetensors",
                                         (mutation){.meta_key = "config", .meta_value = "{}"}),
                      RB_EFORMAT, "__metadata__ \"config\"");
}
END_TEST

START_TEST(test_checkpoint_missing_tokenizer)
{
    rb_config c = olmo_cfg();
    size_t n;
    float *p = make_params(&c, &n);
    const char *path = rb_test_tmp_path("tokref.safetensors");
    const char *k[1] = {"tokenizer"}, *v[1] = {"no_such_tokenizer.json"};
    rb_error err = {0};
    ck_assert_int_eq(rb_checkpoint_save(path, &c, p, NULL, k, v, 1, &err), RB_OK);
    expect_load_fails(path, RB_EIO, "no_such_tokenizer.json");
    free(p);
}
END_TEST

START_TEST(test_checkpoint_interrupted_save)
{
    rb_config c = recurrent_cfg();
    size_t n;
    float *p = make_params(&c, &n);
    const char *path = rb_test_tmp_path("keep.safetensors");
    rb_error err = {0};
    ck_assert_int_eq(rb_checkpoint_save(path, &c, p, NULL, NULL, NULL, 0, &err), RB_OK);
    float *q = malloc(n * sizeof *q);
    for (size_t i = 0; i < n; i++) q[i] = 3.0f;
    rb_atomic_file_fail_after(4096);
    rb_status rc = rb_checkpoint_save(path, &c, q, NULL, NULL, NULL, 0, &err);
    rb_atomic_file_fail_after(-1);
    ck_assert_int_eq(rc, RB_EIO);
    ck_assert(strstr(err.msg, path) != NULL);
    rb_loaded_model m;
    ck_assert_msg(rb_load_checkpoint(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(memcmp(m.params, p, n * sizeof *p), 0);
    rb_loaded_model_free(&m);
    free(q);
    free(p);
}
END_TEST

START_TEST(test_detect_and_dispatch)
{
    rb_error err = {0};
    rb_loaded_model m;
    ck_assert_int_eq(rb_detect_format("/no/such/file"), RB_FORMAT_UNKNOWN);
    ck_assert_int_eq(rb_model_file_load("/no/such/file", NULL, &m, &err), RB_EIO);
    ck_assert(strstr(err.msg, "/no/such/file") != NULL);
    const char *junk = rb_test_tmp_path("junk.txt");
    FILE *f = fopen(junk, "w");
    fputs("hello, not a model", f);
    fclose(f);
    ck_assert_int_eq(rb_detect_format(junk), RB_FORMAT_UNKNOWN);
    ck_assert_int_eq(rb_model_file_load(junk, NULL, &m, &err), RB_EFORMAT);
    ck_assert(strstr(err.msg, junk) != NULL);
    ck_assert_int_eq(rb_detect_format(rb_test_tmpdir()), RB_FORMAT_UNKNOWN);
    ck_assert_int_eq(rb_model_file_load(rb_test_tmpdir(), NULL, &m, &err), RB_EFORMAT);
    ck_assert(strstr(err.msg, "config.json") != NULL);
    ck_assert_str_eq(rb_model_format_name(RB_FORMAT_CHECKPOINT), "retrobench checkpoint");
    ck_assert_str_eq(rb_model_format_name(RB_FORMAT_HF), "Hugging Face folder");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_checkpoint");
    TCase *tc = tcase_create("config_json");
    tcase_add_test(tc, test_config_json_roundtrip);
    tcase_add_test(tc, test_config_json_errors);
    suite_add_tcase(s, tc);
    TCase *ck = tcase_create("checkpoint");
    tcase_add_test(ck, test_checkpoint_roundtrip);
    tcase_add_test(ck, test_checkpoint_plain_tied);
    tcase_add_test(ck, test_checkpoint_save_refusals);
    tcase_add_test(ck, test_checkpoint_malformed);
    tcase_add_test(ck, test_checkpoint_missing_tokenizer);
    tcase_add_test(ck, test_checkpoint_interrupted_save);
    tcase_add_test(ck, test_detect_and_dispatch);
    suite_add_tcase(s, ck);
    return rb_test_run_suite(s);
}
