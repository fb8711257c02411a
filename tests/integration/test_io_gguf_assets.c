/* test_io_gguf_assets.c: the GGUF reader on llama.cpp's own stories260K
 * GGUF: its metadata and tensor list as the asset README and llama.cpp's
 * writer lay them out, the model configuration, the same tensors when the
 * header says version 2, and clean errors naming the file for the real file
 * cut at every point of its header and many points of its data, and with
 * single fields of its header and tensor descriptions corrupted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_gguf.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"
#include "test_io_gguf_util.h"

static char gguf_path[1024];
static uint8_t *file;
static size_t file_size;

static uint8_t *patched(size_t off, const void *bytes, size_t n)
{
    uint8_t *p = malloc(file_size);
    memcpy(p, file, file_size);
    memcpy(p + off, bytes, n);
    return p;
}

/* Offset of the description of tensor `name` (its u64 name length). */
static size_t tensor_desc(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 8; i + n < file_size; i++)
        if (!memcmp(file + i, name, n) && file[i - 8] == n && !memcmp(file + i - 7, "\0\0\0\0\0\0\0", 7))
            return i - 8;
    ck_abort_msg("tensor %s not found", name);
    return 0;
}

static void expect_mem_fail(const uint8_t *p, size_t n, rb_status code, const char *word)
{
    rb_loaded_model m;
    rb_error err = {0};
    rb_status st = rb_load_gguf_memory(p, n, "patched.gguf", NULL, &m, &err);
    if (getenv("RB_TEST_VERBOSE")) printf("%s\n", err.msg);
    ck_assert_msg(st == code, "expected %s, got %s: %s", rb_status_name(code), rb_status_name(st),
                  err.msg);
    ck_assert_ptr_null(m.params);
    ck_assert_ptr_nonnull(strstr(err.msg, "patched.gguf"));
    ck_assert_msg(!word || strstr(err.msg, word), "message lacks '%s': %s", word, err.msg);
    ck_assert(!strchr(err.msg, '\n'));
}

START_TEST(metadata_and_tensors)
{
    rb_gguf *g;
    rb_error err = {0};
    ck_assert_msg(rb_gguf_open(&g, gguf_path, &err) == RB_OK, "%s", err.msg);
    ck_assert_uint_eq(rb_gguf_version(g), 3);
    ck_assert_uint_eq(rb_gguf_alignment(g), 32);
    ck_assert_int_eq(rb_gguf_kv_count(g), 19);
    ck_assert_int_eq(rb_gguf_tensor_count(g), 48); /* 5 layers x 9 + embd, norm, output */
    const char *s;
    size_t n;
    ck_assert_int_eq(rb_gguf_get_string(g, "general.architecture", &s, &n, &err), RB_OK);
    ck_assert(n == 5 && !memcmp(s, "llama", 5));
    ck_assert_int_eq(rb_gguf_get_string(g, "tokenizer.ggml.model", &s, &n, &err), RB_OK);
    ck_assert(n == 5 && !memcmp(s, "llama", 5));
    ck_assert_int_eq(rb_gguf_find_key(g, "llama.rope.freq_base"), -1); /* README: absent */
    rb_gguf_type et;
    uint64_t cnt;
    ck_assert_int_eq(rb_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &cnt, &err), RB_OK);
    ck_assert_int_eq(et, RB_GGUF_STRING);
    ck_assert_uint_eq(cnt, 512);
    const char *tok[512];
    size_t lens[512];
    ck_assert_int_eq(rb_gguf_get_string_array(g, "tokenizer.ggml.tokens", tok, lens, 512, &err),
                     RB_OK);
    ck_assert(lens[1] == 3 && !memcmp(tok[1], "<s>", 3)); /* SentencePiece BOS */
    ck_assert(lens[2] == 4 && !memcmp(tok[2], "</s>", 4));
    ck_assert(lens[3] == 6 && !memcmp(tok[3], "<0x00>", 6)); /* byte tokens follow */
    int32_t types[512];
    ck_assert_int_eq(rb_gguf_get_i32_array(g, "tokenizer.ggml.token_type", types, 512, &err), RB_OK);
    ck_assert_int_eq(types[1], RB_TOKTYPE_CONTROL);
    ck_assert_int_eq(types[3], RB_TOKTYPE_BYTE);
    ck_assert_int_eq(rb_gguf_get_i32_array(g, "tokenizer.ggml.token_type", types, 511, &err),
                     RB_EFORMAT); /* wrong length requested */
    float scores[512];
    ck_assert_int_eq(rb_gguf_get_f32_array(g, "tokenizer.ggml.tokens", scores, 512, &err),
                     RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "array of string"));

    /* tensors: F32, ne[0] fastest, contiguous after one another, aligned */
    uint64_t end = 0;
    for (int64_t i = 0; i < rb_gguf_tensor_count(g); i++) {
        rb_gguf_tensor_info t;
        ck_assert_int_eq(rb_gguf_tensor(g, i, &t), 0);
        ck_assert_uint_eq(t.type, RB_GGML_F32);
        ck_assert_uint_eq(t.offset % 32, 0);
        ck_assert_uint_eq(t.nbytes, 4 * (uint64_t)t.n_elements);
        if (t.offset + t.nbytes > end) end = t.offset + t.nbytes;
        ck_assert_int_eq(rb_gguf_find_tensor(g, t.name), i);
    }
    ck_assert_uint_eq(end, file_size);
    rb_gguf_tensor_info t;
    rb_gguf_tensor(g, rb_gguf_find_tensor(g, "blk.0.ffn_down.weight"), &t);
    ck_assert_int_eq(t.n_dims, 2);
    ck_assert_int_eq(t.ne[0], 172); /* down: [dim, hidden] stored with hidden fastest */
    ck_assert_int_eq(t.ne[1], 64);
    rb_gguf_close(g);
}
END_TEST

START_TEST(model_config)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf(gguf_path, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(m.cfg.dim, 64);
    ck_assert_int_eq(m.cfg.hidden_dim, 172);
    ck_assert_int_eq(rb_config_n_layers(&m.cfg), 5);
    ck_assert_int_eq(m.cfg.n_heads, 8);
    ck_assert_int_eq(m.cfg.n_kv_heads, 4);
    ck_assert_int_eq(m.cfg.head_dim, 8);
    ck_assert_int_eq(m.cfg.vocab_size, 512);
    ck_assert_int_eq(m.cfg.max_seq_len, 2048); /* llama.context_length */
    ck_assert(m.cfg.norm_eps == 1e-5f);
    ck_assert(m.cfg.rope_theta == 10000.0f); /* default: the key is absent */
    ck_assert_int_eq(m.cfg.rope_scaling, RB_ROPE_SCALING_NONE);
    ck_assert_int_eq(m.cfg.tied_head, 0);
    ck_assert_int_eq(m.format, RB_FORMAT_GGUF);
    ck_assert_int_eq(m.bos_id, 1);
    ck_assert_int_eq(m.n_eos, 1);
    ck_assert_int_eq(m.eos_ids[0], 2);
    ck_assert_ptr_nonnull(m.tok);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), 512);
    ck_assert_int_eq(rb_tokenizer_bos(m.tok), 1);
    ck_assert_int_eq(rb_tokenizer_eos(m.tok), 2);
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(version2_header_same_model)
{
    /* little-endian v2 and v3 share the layout: only the version field differs */
    uint8_t *p = patched(4, "\x02\0\0\0", 4);
    rb_loaded_model a, b;
    rb_error err = {0};
    ck_assert_msg(rb_load_gguf_memory(p, file_size, "v2.gguf", NULL, &a, &err) == RB_OK, "%s",
                  err.msg);
    ck_assert_msg(rb_load_gguf(gguf_path, NULL, &b, &err) == RB_OK, "%s", err.msg);
    ck_assert_uint_eq(a.n_params, b.n_params);
    ck_assert(!memcmp(a.params, b.params, a.n_params * sizeof(float)));
    rb_gguf *g;
    ck_assert_int_eq(rb_gguf_open_memory(&g, p, file_size, "v2.gguf", &err), RB_OK);
    ck_assert_uint_eq(rb_gguf_version(g), 2);
    rb_gguf_close(g);
    rb_loaded_model_free(&a);
    rb_loaded_model_free(&b);
    free(p);
}
END_TEST

START_TEST(truncated_everywhere)
{
    rb_gguf *g;
    rb_error err = {0};
    ck_assert_int_eq(rb_gguf_open(&g, gguf_path, &err), RB_OK);
    size_t header_end = (size_t)rb_gguf_data_offset(g);
    rb_gguf_close(g);
    int n = 0;
    for (size_t cut = 0; cut < file_size; cut += cut < header_end + 64 ? 1 : 4099, n++) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        memcpy(p, file, cut);
        rb_gguf *h = NULL;
        rb_status st = rb_gguf_open_memory(&h, p, cut, "cut.gguf", &err);
        ck_assert_msg(st == RB_EFORMAT, "cut at %zu: %s: %s", cut, rb_status_name(st), err.msg);
        ck_assert_ptr_null(h);
        ck_assert_ptr_nonnull(strstr(err.msg, "cut.gguf"));
        free(p);
    }
    ck_assert_int_gt(n, 14000);
    /* through files: the message names the path */
    const size_t cuts[] = {3, 10, 30, 500, 5000, header_end - 1, header_end + 100, file_size - 1};
    char path[1100];
    snprintf(path, sizeof path, "%s/cut.gguf", rb_test_tmpdir());
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ck_assert_int_eq(gguf_test_write_file(path, file, cuts[i]), 0);
        rb_loaded_model m;
        ck_assert_int_eq(rb_load_gguf(path, NULL, &m, &err), RB_EFORMAT);
        ck_assert_msg(strstr(err.msg, path) != NULL, "%s", err.msg);
        ck_assert_ptr_null(m.params);
    }
}
END_TEST

START_TEST(corrupted_fields)
{
    uint8_t *p;
    p = patched(0, "GGUX", 4);
    expect_mem_fail(p, file_size, RB_EFORMAT, "magic");
    free(p);
    p = patched(4, "\x01\0\0\0", 4);
    expect_mem_fail(p, file_size, RB_EUNSUPPORTED, "version 1");
    free(p);
    p = patched(4, "\x63\0\0\0", 4);
    expect_mem_fail(p, file_size, RB_EUNSUPPORTED, "version 99");
    free(p);
    p = patched(8, "\0\0\0\0\0\0\0\x10", 8); /* 2^60 tensors */
    expect_mem_fail(p, file_size, RB_EFORMAT, "1152921504606846976 tensors");
    free(p);
    p = patched(16, "\0\0\0\0\0\0\0\x10", 8); /* 2^60 metadata entries */
    expect_mem_fail(p, file_size, RB_EFORMAT, "1152921504606846976 metadata");
    free(p);
    p = patched(8, "\x31\0\0\0\0\0\0\0", 8); /* one tensor more than described */
    expect_mem_fail(p, file_size, RB_EFORMAT, NULL);
    free(p);
    p = patched(16, "\x12\0\0\0\0\0\0\0", 8); /* one entry fewer: the last is read as a tensor */
    expect_mem_fail(p, file_size, RB_EFORMAT, NULL);
    free(p);
    p = patched(24, "\0\0\0\0\0\0\0\x40", 8); /* first key length 2^62 */
    expect_mem_fail(p, file_size, RB_EFORMAT, "4611686018427387904");
    free(p);

    /* fields of the description of blk.0.attn_q.weight: name, n_dims, 2 dims, type, offset */
    const size_t d = tensor_desc("blk.0.attn_q.weight");
    const size_t nd = d + 8 + 19, ty = nd + 4 + 16, off = ty + 4;
    uint64_t o;
    memcpy(&o, file + off, 8);
    p = patched(nd, "\x05\0\0\0", 4);
    expect_mem_fail(p, file_size, RB_EFORMAT, "n_dims = 5");
    free(p);
    p = patched(ty, "\x04\0\0\0", 4);
    expect_mem_fail(p, file_size, RB_EFORMAT, "unknown tensor type number 4");
    free(p);
    p = patched(ty, "\x0c\0\0\0", 4); /* Q4_K needs rows of 256 */
    expect_mem_fail(p, file_size, RB_EFORMAT, "block size 256");
    free(p);
    p = patched(ty, "\x08\0\0\0", 4); /* Q8_0 of 64 x 64 would be 4352 bytes: valid layout */
    {
        rb_gguf *g;
        rb_error err = {0};
        ck_assert_int_eq(rb_gguf_open_memory(&g, p, file_size, "q8.gguf", &err), RB_OK);
        rb_gguf_tensor_info t;
        rb_gguf_tensor(g, rb_gguf_find_tensor(g, "blk.0.attn_q.weight"), &t);
        ck_assert_uint_eq(t.nbytes, 64 * 64 / 32 * 34);
        rb_gguf_close(g);
    }
    free(p);
    uint64_t bad = o + 4;
    p = patched(off, &bad, 8);
    expect_mem_fail(p, file_size, RB_EFORMAT, "alignment");
    free(p);
    bad = o + (1ull << 32);
    p = patched(off, &bad, 8);
    expect_mem_fail(p, file_size, RB_EFORMAT, "past the end");
    free(p);
    /* renaming attn_q of layer 1 to layer 0's name: a duplicate */
    const size_t d1 = tensor_desc("blk.1.attn_q.weight");
    p = patched(d1 + 8 + 4, "0", 1);
    expect_mem_fail(p, file_size, RB_EFORMAT, "appears more than once");
    free(p);
    /* renaming it to a name a llama model lacks: unused tensor, and a missing one */
    p = patched(d1 + 8 + 6, "X", 1);
    expect_mem_fail(p, file_size, RB_EFORMAT, "blk.1.attn_q.weight");
    free(p);
    /* the architecture string changed */
    for (size_t i = 0; i + 20 < file_size; i++)
        if (!memcmp(file + i, "general.architecture", 20)) {
            p = patched(i + 20 + 4 + 8, "LLAMA", 5);
            expect_mem_fail(p, file_size, RB_EUNSUPPORTED, "\"LLAMA\"");
            free(p);
            break;
        }
}
END_TEST

int main(void)
{
    snprintf(gguf_path, sizeof gguf_path, "%s",
             rb_test_asset_or_skip("stories260K-gguf/stories260K.gguf"));
    file = gguf_test_read_file(gguf_path, &file_size);
    if (!file) {
        fprintf(stderr, "cannot read %s\n", gguf_path);
        return 1;
    }
    Suite *s = suite_create("io_gguf_assets");
    TCase *tc = tcase_create("stories260K_gguf");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, metadata_and_tensors);
    tcase_add_test(tc, model_config);
    tcase_add_test(tc, version2_header_same_model);
    tcase_add_test(tc, truncated_everywhere);
    tcase_add_test(tc, corrupted_fields);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    free(file);
    return rc;
}
