/* test_io_llama2c_vs_hf.c: the three stories260K files give the same model.
 * The Hugging Face safetensors file, read by the `safetensors` Python package
 * (not by retrobench), is the reference: the llama2.c .bin and the F32 GGUF,
 * after retrobench converts their adjacent-pair q/k rows to the half-split
 * layout, must equal it bit for bit, tensor by tensor. The HF file was made
 * with the standard transformers permutation, so this checks the RoPE
 * conversion against an outside implementation. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"
#include "test_io_gguf_util.h"

static char bin_path[1024], gguf_path[1024], st_dir[1024];

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        if (l > s && !strcmp(e->d_name + l - s, suffix)) n++;
    }
    closedir(d);
    return n;
}

/* Every parameter equals the HF tensor of the same name (lm_head_ref names
 * the HF tensor standing in for an untied head). */
static void check_against_hf(const rb_loaded_model *m, const char *lm_head_ref)
{
    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, &m->cfg, NULL), RB_OK);
    for (int i = 0; i < t.count; i++) {
        const rb_param *p = &t.items[i];
        const char *ref = !strcmp(p->name, "lm_head.weight") ? lm_head_ref : p->name;
        ck_assert_ptr_nonnull(ref);
        const char *diff = gguf_test_cmp_f32_file(st_dir, ref, m->params + p->offset, p->numel);
        ck_assert_msg(diff == NULL, "%s (%s): %s", p->name, m->source, diff);
    }
    rb_param_table_free(&t);
}

START_TEST(bin_equals_hf)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_llama2c(bin_path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.cfg.tied_head, 1);
    check_against_hf(&m, NULL);
    /* the HF file holds exactly the tensors of the table (tied: no lm_head) */
    rb_param_table t;
    rb_param_table_build(&t, &m.cfg, NULL);
    ck_assert_int_eq(count_files(st_dir, ".f32"), t.count);
    rb_param_table_free(&t);
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(permutation_is_needed)
{
    /* the file's raw layer-0 wq differs from HF's q_proj: without the row
     * permutation bin_equals_hf would fail */
    size_t size;
    uint8_t *raw = gguf_test_read_file(bin_path, &size);
    ck_assert_ptr_nonnull(raw);
    const float *wq = (const float *)(raw + 28) + 512 * 64 + 5 * 64;
    ck_assert_ptr_nonnull(gguf_test_cmp_f32_file(st_dir, "model.layers.0.self_attn.q_proj.weight",
                                                 wq, 64 * 64));
    free(raw);
}
END_TEST

START_TEST(gguf_equals_hf)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(gguf_path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    /* the GGUF stores output.weight explicitly: an untied head equal to the embedding */
    ck_assert_int_eq(m.cfg.tied_head, 0);
    check_against_hf(&m, "model.embed_tokens.weight");
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(gguf_equals_bin)
{
    rb_loaded_model g, b;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(gguf_path, NULL, &g, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_load_llama2c(bin_path, NULL, &b, &err) == RB_OK, "%s", err.msg);
    rb_param_table tb;
    rb_param_table_build(&tb, &b.cfg, NULL);
    for (int i = 0; i < tb.count; i++) {
        size_t n = 0;
        const float *gp = gguf_test_param(&g, tb.items[i].name, &n);
        ck_assert_ptr_nonnull(gp);
        ck_assert_uint_eq(n, tb.items[i].numel);
        ck_assert_msg(!memcmp(gp, b.params + tb.items[i].offset, n * sizeof(float)), "%s differs",
                      tb.items[i].name);
    }
    size_t n = 0;
    const float *head = gguf_test_param(&g, "lm_head.weight", &n);
    ck_assert_ptr_nonnull(head);
    ck_assert_uint_eq(n, 512 * 64);
    ck_assert(!memcmp(head, b.params, n * sizeof(float)));
    ck_assert_int_eq(g.cfg.dim, b.cfg.dim);
    ck_assert_int_eq(g.cfg.hidden_dim, b.cfg.hidden_dim);
    ck_assert_int_eq(g.cfg.n_heads, b.cfg.n_heads);
    ck_assert_int_eq(g.cfg.n_kv_heads, b.cfg.n_kv_heads);
    ck_assert_int_eq(g.cfg.vocab_size, b.cfg.vocab_size);
    ck_assert(g.cfg.norm_eps == b.cfg.norm_eps);
    ck_assert(g.cfg.rope_theta == b.cfg.rope_theta);
    rb_param_table_free(&tb);
    rb_loaded_model_free(&g);
    rb_loaded_model_free(&b);
}
END_TEST

int main(void)
{
    snprintf(bin_path, sizeof bin_path, "%s", rb_test_asset_or_skip("stories260K/stories260K.bin"));
    snprintf(gguf_path, sizeof gguf_path, "%s",
             rb_test_asset_or_skip("stories260K-gguf/stories260K.gguf"));
    char st[1024];
    snprintf(st, sizeof st, "%s", rb_test_asset_or_skip("stories260K-hf/model.safetensors"));
    const char *py = gguf_test_python_or_skip();
    snprintf(st_dir, sizeof st_dir, "%s/hf_dump", rb_test_tmpdir());
    char args[2200];
    snprintf(args, sizeof args, "'%s' '%s'", st, st_dir);
    if (gguf_test_run_tool(py, "tests/tools/safetensors_dump.py", args) != 0) return 1;

    Suite *s = suite_create("io_llama2c_vs_hf");
    TCase *tc = tcase_create("three_formats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bin_equals_hf);
    tcase_add_test(tc, permutation_is_needed);
    tcase_add_test(tc, gguf_equals_hf);
    tcase_add_test(tc, gguf_equals_bin);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
