/* test_io_gguf_quant.c: GGUF tensor formats against gguf-py, the reference
 * Python implementation of GGUF and ggml's block formats.
 *
 * At test time tests/tools/make_quant_gguf.py writes F16, BF16, Q8_0, Q4_0
 * and Q4_1 copies of the stories260K GGUF (and a Q8_0 copy with a version 2
 * header) with gguf-py, and tests/tools/gguf_dump_reference.py dumps what
 * gguf-py reads back: gguf.quants.dequantize of every tensor, the same under
 * HF names with the q/k rows permuted, the hyperparameters and the tokenizer
 * arrays. retrobench's reader must agree bit for bit. Also: the 16-bit float
 * conversions on all 65536 patterns and the ggml type table. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dequant.h"
#include "rb_gguf.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"
#include "test_io_gguf_util.h"

static char src_path[1024], tmp[512];

static const char *const qtypes[] = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q8_0_v2"};
#define N_QTYPES (int)(sizeof qtypes / sizeof qtypes[0])

static void qfile(int i, char *out, size_t cap) { snprintf(out, cap, "%s/q_%s.gguf", tmp, qtypes[i]); }
static void qref(int i, char *out, size_t cap) { snprintf(out, cap, "%s/ref_%s", tmp, qtypes[i]); }

/* The ggml type name a quantized file was written with ("Q8_0" for the v2 copy). */
static const char *qname(int i) { return i == 5 ? "Q8_0" : qtypes[i]; }

START_TEST(fp16_and_bf16_all_patterns)
{
    char p[1100];
    size_t n;
    snprintf(p, sizeof p, "%s/tabs/fp16.f32", tmp);
    uint32_t *ref = gguf_test_read_file(p, &n);
    ck_assert_ptr_nonnull(ref);
    ck_assert_uint_eq(n, 65536 * 4);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rb_fp16_to_f32((uint16_t)h);
        uint32_t u;
        memcpy(&u, &f, 4);
        ck_assert_msg(u == ref[h], "fp16 0x%04x: ours 0x%08x, numpy 0x%08x", h, u, ref[h]);
    }
    free(ref);
    snprintf(p, sizeof p, "%s/tabs/bf16.f32", tmp);
    ref = gguf_test_read_file(p, &n);
    ck_assert_ptr_nonnull(ref);
    ck_assert_uint_eq(n, 65536 * 4);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rb_bf16_to_f32((uint16_t)h);
        uint32_t u;
        memcpy(&u, &f, 4);
        ck_assert_msg(u == ref[h], "bf16 0x%04x: ours 0x%08x, gguf-py 0x%08x", h, u, ref[h]);
    }
    free(ref);
}
END_TEST

START_TEST(type_table_matches_gguf_py)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/tabs/types.txt", tmp);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    int seen[64] = {0}, lines = 0;
    unsigned num;
    char name[64];
    int block, size;
    while (fscanf(f, "%u %63s %d %d", &num, name, &block, &size) == 4) {
        lines++;
        const rb_ggml_type_traits *t = rb_ggml_traits(num);
        ck_assert_msg(t != NULL, "type %u %s unknown to retrobench", num, name);
        ck_assert_str_eq(t->name, name);
        ck_assert_int_eq(t->block_size, block);
        ck_assert_int_eq(t->type_size, size);
        if (num < 64) seen[num] = 1;
    }
    fclose(f);
    ck_assert_int_gt(lines, 20);
    for (unsigned i = 0; i < 64; i++)
        ck_assert_msg((rb_ggml_traits(i) != NULL) == seen[i], "type %u: table mismatch", i);
    const unsigned supported[] = {0, 1, 2, 3, 8, 30};
    int n_supported = 0;
    for (unsigned i = 0; i < 64; i++) n_supported += rb_ggml_type_supported(i);
    ck_assert_int_eq(n_supported, 6);
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        ck_assert(rb_ggml_type_supported(supported[i]));
}
END_TEST

/* Each tensor converts exactly as gguf.quants.dequantize does. */
START_TEST(tensors_match_dequantize)
{
    const int q = _i;
    char path[1100], ref[1100], dir[1200];
    qfile(q, path, sizeof path);
    qref(q, ref, sizeof ref);
    snprintf(dir, sizeof dir, "%s/raw", ref);
    rb_gguf *g;
    rb_error err = {0};
    ck_assert_msg(rb_gguf_open(&g, path, &err) == RB_OK, "%s", err.msg);
    ck_assert_uint_eq(rb_gguf_version(g), q == 5 ? 2 : 3);

    /* types as gguf-py reports them */
    char tl[1300];
    snprintf(tl, sizeof tl, "%s/types.txt", ref);
    FILE *f = fopen(tl, "r");
    ck_assert_ptr_nonnull(f);
    char name[128], tname[32];
    int lines = 0, quantized = 0;
    while (fscanf(f, "%127s %31s", name, tname) == 2) {
        int64_t i = rb_gguf_find_tensor(g, name);
        ck_assert_int_ge(i, 0);
        rb_gguf_tensor_info t;
        rb_gguf_tensor(g, i, &t);
        ck_assert_str_eq(rb_ggml_type_name(t.type), tname);
        quantized += !strcmp(tname, qname(q));
        lines++;
        float *x = malloc((size_t)t.n_elements * sizeof *x);
        ck_assert_int_eq(rb_gguf_tensor_to_f32(g, i, x, (size_t)t.n_elements, &err), RB_OK);
        const char *diff = gguf_test_cmp_f32_file(dir, name, x, (size_t)t.n_elements);
        ck_assert_msg(diff == NULL, "%s %s: %s", qtypes[q], name, diff);
        free(x);
    }
    fclose(f);
    ck_assert_int_eq(lines, rb_gguf_tensor_count(g));
    /* block formats: every 2-D weight but ffn_down (rows of 172) is quantized; 16-bit
     * formats convert all 2-D weights */
    int expect = (!strcmp(qname(q), "F16") || !strcmp(qname(q), "BF16")) ? 5 * 7 + 2 : 5 * 6 + 2;
    ck_assert_int_eq(quantized, expect);
    rb_gguf_close(g);
}
END_TEST

/* The loaded model equals gguf-py's tensors under HF names with the q/k
 * rows permuted in numpy; the hyperparameters equal what gguf-py read. */
START_TEST(model_matches_reference)
{
    const int q = _i;
    char path[1100], ref[1100], dir[1200];
    qfile(q, path, sizeof path);
    qref(q, ref, sizeof ref);
    snprintf(dir, sizeof dir, "%s/hf", ref);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, &m.cfg, NULL), RB_OK);
    for (int i = 0; i < t.count; i++) {
        const rb_param *p = &t.items[i];
        const char *diff = gguf_test_cmp_f32_file(dir, p->name, m.params + p->offset, p->numel);
        ck_assert_msg(diff == NULL, "%s %s: %s", qtypes[q], p->name, diff);
    }
    rb_param_table_free(&t);

    char cj[1300];
    snprintf(cj, sizeof cj, "%s/config.json", ref);
    size_t n;
    char *txt = gguf_test_read_file(cj, &n);
    ck_assert_ptr_nonnull(txt);
    txt = realloc(txt, n + 1);
    txt[n] = '\0';
    cJSON *c = cJSON_Parse(txt);
    ck_assert_ptr_nonnull(c);
#define JINT(k) cJSON_GetObjectItemCaseSensitive(c, k)->valueint
    ck_assert_int_eq(m.cfg.dim, JINT("embedding_length"));
    ck_assert_int_eq(m.cfg.hidden_dim, JINT("feed_forward_length"));
    ck_assert_int_eq(m.cfg.n_heads, JINT("attention.head_count"));
    ck_assert_int_eq(m.cfg.n_kv_heads, JINT("attention.head_count_kv"));
    ck_assert_int_eq(rb_config_n_layers(&m.cfg), JINT("block_count"));
    ck_assert_int_eq(m.cfg.max_seq_len, JINT("context_length"));
    ck_assert_int_eq(m.cfg.head_dim, JINT("rope.dimension_count"));
    ck_assert_int_eq(m.bos_id, JINT("tokenizer.ggml.bos_token_id"));
    ck_assert_int_eq(m.eos_ids[0], JINT("tokenizer.ggml.eos_token_id"));
    ck_assert_int_eq(JINT("version"), q == 5 ? 2 : 3); /* gguf-py also read the v2 header */
#undef JINT
    ck_assert(m.cfg.norm_eps ==
              (float)cJSON_GetObjectItemCaseSensitive(c, "attention.layer_norm_rms_epsilon")->valuedouble);
    cJSON_Delete(c);
    free(txt);
    rb_loaded_model_free(&m);
}
END_TEST

/* Metadata survives: the tokenizer arrays as gguf-py reads them, and every
 * entry of the source file with the same type and value. */
START_TEST(metadata_matches)
{
    const int q = _i;
    char path[1100], ref[1100], p[1300];
    qfile(q, path, sizeof path);
    qref(q, ref, sizeof ref);
    rb_gguf *g, *src;
    rb_error err = {0};
    ck_assert_msg(rb_gguf_open(&g, path, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_gguf_open(&src, src_path, &err) == RB_OK, "%s", err.msg);

    enum { NV = 512 };
    const char *tok[NV];
    size_t lens[NV], n;
    ck_assert_int_eq(rb_gguf_get_string_array(g, "tokenizer.ggml.tokens", tok, lens, NV, &err),
                     RB_OK);
    snprintf(p, sizeof p, "%s/tokens.bin", ref);
    uint8_t *tb = gguf_test_read_file(p, &n);
    ck_assert_ptr_nonnull(tb);
    size_t pos = 0;
    for (int i = 0; i < NV; i++) {
        uint32_t l;
        memcpy(&l, tb + pos, 4);
        pos += 4;
        ck_assert_uint_eq(l, lens[i]);
        ck_assert(!memcmp(tb + pos, tok[i], l));
        pos += l;
    }
    ck_assert_uint_eq(pos, n);
    free(tb);
    float scores[NV];
    ck_assert_int_eq(rb_gguf_get_f32_array(g, "tokenizer.ggml.scores", scores, NV, &err), RB_OK);
    ck_assert_ptr_null(gguf_test_cmp_f32_file(ref, "scores", scores, NV));
    int32_t types[NV];
    ck_assert_int_eq(rb_gguf_get_i32_array(g, "tokenizer.ggml.token_type", types, NV, &err), RB_OK);
    snprintf(p, sizeof p, "%s/token_type.i32", ref);
    int32_t *tr = gguf_test_read_file(p, &n);
    ck_assert_ptr_nonnull(tr);
    ck_assert_uint_eq(n, sizeof types);
    ck_assert(!memcmp(types, tr, sizeof types));
    free(tr);

    for (int64_t i = 0; i < rb_gguf_kv_count(src); i++) {
        const char *key = rb_gguf_kv_key(src, i);
        int64_t j = rb_gguf_find_key(g, key);
        ck_assert_msg(j >= 0, "%s lost %s", qtypes[q], key);
        ck_assert_int_eq(rb_gguf_kv_type(g, j), rb_gguf_kv_type(src, i));
        char a[512], b[512];
        ck_assert_str_eq(rb_gguf_kv_format(g, j, a, sizeof a), rb_gguf_kv_format(src, i, b, sizeof b));
    }
    rb_gguf_close(g);
    rb_gguf_close(src);
}
END_TEST

START_TEST(version2_equals_version3)
{
    char a[1100], b[1100];
    qfile(2, a, sizeof a); /* Q8_0 v3 */
    qfile(5, b, sizeof b); /* Q8_0 v2 */
    rb_loaded_model m3, m2;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(a, NULL, &m3, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_load_gguf(b, NULL, &m2, &err) == RB_OK, "%s", err.msg);
    ck_assert_uint_eq(m2.n_params, m3.n_params);
    ck_assert(!memcmp(m2.params, m3.params, m2.n_params * sizeof(float)));
    rb_loaded_model_free(&m3);
    rb_loaded_model_free(&m2);
}
END_TEST

int main(void)
{
    snprintf(src_path, sizeof src_path, "%s",
             rb_test_asset_or_skip("stories260K-gguf/stories260K.gguf"));
    const char *py = gguf_test_python_or_skip();
    snprintf(tmp, sizeof tmp, "%s", rb_test_tmpdir());
    char args[3000], path[1100], ref[1100];
    snprintf(args, sizeof args, "'%s/tabs'", tmp);
    if (gguf_test_run_tool(py, "tests/tools/ggml_reference_tables.py", args)) return 1;
    for (int i = 0; i < N_QTYPES; i++) {
        qfile(i, path, sizeof path);
        qref(i, ref, sizeof ref);
        snprintf(args, sizeof args, "'%s' '%s' %s %s >/dev/null 2>&1", src_path, path, qname(i),
                 i == 5 ? "--version 2" : "");
        if (gguf_test_run_tool(py, "tests/tools/make_quant_gguf.py", args)) return 1;
        snprintf(args, sizeof args, "'%s' '%s'", path, ref);
        if (gguf_test_run_tool(py, "tests/tools/gguf_dump_reference.py", args)) return 1;
    }
    Suite *s = suite_create("io_gguf_quant");
    TCase *tc = tcase_create("quant");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fp16_and_bf16_all_patterns);
    tcase_add_test(tc, type_table_matches_gguf_py);
    tcase_add_loop_test(tc, tensors_match_dequantize, 0, N_QTYPES);
    tcase_add_loop_test(tc, model_matches_reference, 0, N_QTYPES);
    tcase_add_loop_test(tc, metadata_matches, 0, N_QTYPES);
    tcase_add_test(tc, version2_equals_version3);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
