/* test_io_llama2c.c: the llama2.c reader on the real stories260K.bin: the
 * configuration its model card and header state, the tokenizer found beside
 * the model or given explicitly, the q/k rows permuted from the adjacent
 * pairs stored in the file, and clean one-line errors naming the file for
 * truncation at every cut point, invalid header fields, a size that does not
 * match the header, and the newer "ak42" export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_llama2c.h"
#include "rb_model.h"
#include "rb_test.h"
#include "rb_tokenizer.h"
#include "test_io_gguf_util.h"

static const char *bin_path, *tok_path;
static uint8_t *bin;
static size_t bin_size;

static void expect_fail_mem(const uint8_t *data, size_t n, const char *name, rb_status code,
                            const char *word)
{
    rb_loaded_model m;
    rb_error err = {0};
    rb_status st = rb_load_llama2c_memory(data, n, name, NULL, &m, &err);
    if (getenv("RB_TEST_VERBOSE")) printf("%s\n", err.msg);
    ck_assert_msg(st == code, "%s: expected %s, got %s: %s", name, rb_status_name(code),
                  rb_status_name(st), err.msg);
    ck_assert_ptr_null(m.params);
    ck_assert_msg(strstr(err.msg, name) != NULL, "message does not name %s: %s", name, err.msg);
    ck_assert_msg(!word || strstr(err.msg, word), "message lacks '%s': %s", word, err.msg);
    ck_assert(!strchr(err.msg, '\n'));
}

/* A copy of the real file with int32 header field i set to v. */
static uint8_t *with_field(int i, int32_t v)
{
    uint8_t *p = malloc(bin_size);
    memcpy(p, bin, bin_size);
    memcpy(p + 4 * i, &v, 4);
    return p;
}

START_TEST(config_matches_model_card)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_llama2c(bin_path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    /* the asset README: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads, vocab 512, seq 512 */
    ck_assert_int_eq(m.cfg.dim, 64);
    ck_assert_int_eq(m.cfg.hidden_dim, 172);
    ck_assert_int_eq(rb_config_n_layers(&m.cfg), 5);
    ck_assert_int_eq(m.cfg.n_heads, 8);
    ck_assert_int_eq(m.cfg.n_kv_heads, 4);
    ck_assert_int_eq(m.cfg.head_dim, 8);
    ck_assert_int_eq(m.cfg.vocab_size, 512);
    ck_assert_int_eq(m.cfg.max_seq_len, 512);
    ck_assert_int_eq(m.cfg.tied_head, 1);
    ck_assert(m.cfg.norm_eps == 1e-5f);
    ck_assert(m.cfg.rope_theta == 10000.0f);
    ck_assert_int_eq(m.cfg.rope_layout, RB_ROPE_HALF);
    ck_assert_int_eq(m.format, RB_FORMAT_LLAMA2C);
    ck_assert_int_eq(m.bos_id, 1);
    ck_assert_int_eq(m.n_eos, 1);
    ck_assert_int_eq(m.eos_ids[0], 2);
    ck_assert_str_eq(m.source, bin_path);
    /* tok512.bin lies beside the model */
    ck_assert_ptr_nonnull(m.tok);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), 512);
    ck_assert_int_eq(rb_tokenizer_bos(m.tok), 1);
    ck_assert_int_eq(rb_tokenizer_eos(m.tok), 2);

    /* the embedding is the file's first array, unchanged */
    size_t n = 0;
    const float *emb = gguf_test_param(&m, "model.embed_tokens.weight", &n);
    ck_assert_uint_eq(n, 512 * 64);
    ck_assert(!memcmp(emb, bin + 28, n * sizeof(float)));
    /* wq of layer 0 follows the embedding and rms_att: half-split row r of a head of 8 is
     * adjacent row 0,2,4,6,1,3,5,7 */
    const float *wq = gguf_test_param(&m, "model.layers.0.self_attn.q_proj.weight", &n);
    const float *fq = (const float *)(bin + 28) + 512 * 64 + 5 * 64;
    const int src[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int h = 0; h < 8; h++)
        for (int r = 0; r < 8; r++)
            ck_assert(!memcmp(wq + (h * 8 + r) * 64, fq + (h * 8 + src[r]) * 64, 64 * sizeof(float)));
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(tokenizer_lookup)
{
    const char *dir = rb_test_tmpdir();
    char p[1024], t[1024];
    rb_loaded_model m;
    rb_error err = {0};

    /* alone in a folder: no tokenizer */
    snprintf(p, sizeof p, "%s/alone/model.bin", dir);
    snprintf(t, sizeof t, "mkdir -p '%s/alone' '%s/withtok'", dir, dir);
    ck_assert_int_eq(system(t), 0);
    ck_assert_int_eq(gguf_test_write_file(p, bin, bin_size), 0);
    ck_assert_msg(rb_load_llama2c(p, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_null(m.tok);
    ck_assert_int_eq(m.bos_id, 1);
    rb_loaded_model_free(&m);

    /* explicit tokenizer_path */
    rb_load_opts o = {.tokenizer_path = tok_path};
    ck_assert_msg(rb_load_llama2c(p, &o, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), 512);
    rb_loaded_model_free(&m);

    /* a missing explicit tokenizer is an error, not a silent NULL */
    o.tokenizer_path = "/nonexistent/tokenizer.bin";
    ck_assert_int_ne(rb_load_llama2c(p, &o, &m, &err), RB_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/tokenizer.bin"));
    ck_assert_ptr_null(m.params);

    /* tokenizer.bin beside the model */
    snprintf(p, sizeof p, "%s/withtok/model.bin", dir);
    ck_assert_int_eq(gguf_test_write_file(p, bin, bin_size), 0);
    size_t tn;
    void *tb = gguf_test_read_file(tok_path, &tn);
    ck_assert_ptr_nonnull(tb);
    snprintf(t, sizeof t, "%s/withtok/tokenizer.bin", dir);
    ck_assert_int_eq(gguf_test_write_file(t, tb, tn), 0);
    free(tb);
    ck_assert_msg(rb_load_llama2c(p, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(truncation_everywhere)
{
    /* every cut in the header and the first arrays, then a spread to the end */
    for (size_t cut = 0; cut < bin_size; cut += (cut < 600 ? 1 : 997)) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        memcpy(p, bin, cut);
        expect_fail_mem(p, cut, "cut.bin", RB_EFORMAT, NULL);
        free(p);
    }
    uint8_t *p = malloc(bin_size - 1);
    memcpy(p, bin, bin_size - 1);
    expect_fail_mem(p, bin_size - 1, "cut.bin", RB_EFORMAT, "implies");
    free(p);
    /* and through the file API, which names the path */
    char path[1024];
    snprintf(path, sizeof path, "%s/short.bin", rb_test_tmpdir());
    ck_assert_int_eq(gguf_test_write_file(path, bin, bin_size / 2), 0);
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_int_eq(rb_load_llama2c(path, NULL, &m, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "bytes"));
    snprintf(path, sizeof path, "%s/empty.bin", rb_test_tmpdir());
    ck_assert_int_eq(gguf_test_write_file(path, "", 0), 0);
    ck_assert_int_eq(rb_load_llama2c(path, NULL, &m, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
}
END_TEST

START_TEST(bad_header_fields)
{
    static const char *const names[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; i++) {
        const int32_t bad[3] = {0, -1, INT32_MIN};
        for (int k = 0; k < 3; k++) {
            if (i == 5 && bad[k] == -1) continue; /* negative vocab is legal (unshared) */
            uint8_t *p = with_field(i, bad[k]);
            expect_fail_mem(p, bin_size, "hdr.bin", RB_EFORMAT, names[i]);
            free(p);
        }
    }
    uint8_t *p = with_field(3, 7); /* 7 heads do not divide dim 64 */
    expect_fail_mem(p, bin_size, "heads7.bin", RB_EFORMAT, "does not divide dim");
    free(p);
    p = with_field(4, 3); /* 3 KV heads do not divide 8 heads */
    expect_fail_mem(p, bin_size, "kv3.bin", RB_EFORMAT, "n_kv_heads");
    free(p);
    p = with_field(4, 16); /* more KV heads than heads */
    expect_fail_mem(p, bin_size, "kv16.bin", RB_EFORMAT, "n_kv_heads");
    free(p);
    p = with_field(0, 1 << 30); /* consistent but absurd: must fail on size, not allocate */
    expect_fail_mem(p, bin_size, "huge.bin", RB_EFORMAT, NULL);
    free(p);
    p = with_field(1, INT32_MAX);
    memcpy(p + 8, &(int32_t){INT32_MAX}, 4);
    expect_fail_mem(p, bin_size, "huge2.bin", RB_EFORMAT, NULL);
    free(p);
    /* negative vocab: the header now promises a separate classifier the file lacks */
    p = with_field(5, -512);
    expect_fail_mem(p, bin_size, "unshared.bin", RB_EFORMAT, "vocab_size should be positive");
    free(p);
    /* extra bytes after the data */
    p = malloc(bin_size + 4);
    memcpy(p, bin, bin_size);
    memset(p + bin_size, 0, 4);
    expect_fail_mem(p, bin_size + 4, "padded.bin", RB_EFORMAT, "implies");
    free(p);
    /* the newer export format */
    p = malloc(bin_size);
    memcpy(p, bin, bin_size);
    memcpy(p, "\x32\x34\x6b\x61\x01\x00\x00\x00", 8); /* uint32 0x616b3432 "ak42", version 1 */
    expect_fail_mem(p, bin_size, "ak42.bin", RB_EUNSUPPORTED, "version 1");
    free(p);
}
END_TEST

START_TEST(unshared_classifier)
{
    /* build an unshared file from the real one: negative vocab, classifier appended */
    size_t cls = 512 * 64 * sizeof(float);
    uint8_t *p = malloc(bin_size + cls);
    memcpy(p, bin, bin_size);
    memcpy(p + 20, &(int32_t){-512}, 4);
    for (size_t i = 0; i < cls / sizeof(float); i++) {
        float v = (float)i * 0.25f;
        memcpy(p + bin_size + i * sizeof(float), &v, sizeof v);
    }
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_llama2c_memory(p, bin_size + cls, "unshared.bin", NULL, &m, &err) == RB_OK,
                  "%s", err.msg);
    ck_assert_int_eq(m.cfg.tied_head, 0);
    ck_assert_int_eq(m.cfg.vocab_size, 512);
    size_t n = 0;
    const float *head = gguf_test_param(&m, "lm_head.weight", &n);
    ck_assert_ptr_nonnull(head);
    ck_assert_uint_eq(n, 512 * 64);
    ck_assert(!memcmp(head, p + bin_size, cls));
    ck_assert_ptr_null(m.tok); /* nothing is looked for beside memory */
    rb_loaded_model_free(&m);
    free(p);
}
END_TEST

int main(void)
{
    bin_path = rb_test_asset_or_skip("stories260K/stories260K.bin");
    tok_path = rb_test_asset_or_skip("stories260K/tok512.bin");
    static char bp[1024], tp[1024];
    snprintf(bp, sizeof bp, "%s", bin_path);
    snprintf(tp, sizeof tp, "%s", tok_path);
    bin_path = bp;
    tok_path = tp;
    bin = gguf_test_read_file(bin_path, &bin_size);
    if (!bin) {
        fprintf(stderr, "cannot read %s\n", bin_path);
        return 1;
    }
    Suite *s = suite_create("io_llama2c");
    TCase *tc = tcase_create("llama2c");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, config_matches_model_card);
    tcase_add_test(tc, tokenizer_lookup);
    tcase_add_test(tc, truncation_everywhere);
    tcase_add_test(tc, bad_header_fields);
    tcase_add_test(tc, unshared_classifier);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    free(bin);
    return rc;
}
