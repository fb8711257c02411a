/* test_io_tok_embed.c: a checkpoint carries its tokenizer, and any
 * tokenizer becomes a tokenizer.json (no assets needed; runs under ASan).
 *  - base64 against RFC 4648's test vectors, random round trips, and every
 *    kind of damaged text refused with one line;
 *  - a llama2.c tokenizer.bin and a tokenizer.json written here are
 *    embedded in a checkpoint, which loads with the same tokenizer (same
 *    identity, same ids) after the tokenizer file is deleted, and passes the
 *    embedding on unchanged; an explicit tokenizer path still wins;
 *  - the tokenizer.bin spelling (spaces, "\n<s>\n") and the SentencePiece
 *    spelling (U+2581, "<s>", token types) of one vocabulary share an
 *    identity; swapping two pieces changes it;
 *  - rb_tokenizer_to_json of the score-based vocabulary reads back with the
 *    same ids (merge order from the scores) and the same identity. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tok_embed.h"
#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"

START_TEST(base64_rfc4648)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = rb_base64_encode(plain[i], strlen(plain[i]));
        ck_assert_str_eq(e, coded[i]);
        unsigned char *d;
        size_t n;
        rb_error err;
        ck_assert_int_eq(rb_base64_decode(coded[i], &d, &n, "t", &err), RB_OK);
        ck_assert_int_eq(n, strlen(plain[i]));
        ck_assert(memcmp(d, plain[i], n) == 0);
        free(d);
        free(e);
    }
    unsigned char buf[300];
    for (int len = 0; len < 300; len += 7) {
        for (int i = 0; i < len; i++) buf[i] = (unsigned char)(i * 151 + len);
        char *e = rb_base64_encode(buf, (size_t)len);
        unsigned char *d;
        size_t n;
        ck_assert_int_eq(rb_base64_decode(e, &d, &n, "t", NULL), RB_OK);
        ck_assert_int_eq(n, (size_t)len);
        ck_assert(memcmp(d, buf, n) == 0);
        free(d);
        free(e);
    }
    static const char *const bad[] = {"Zg=", "Zm9v!A==", "Z===", "Zg==Zg==", "=Zg="};
    for (int i = 0; i < 5; i++) {
        unsigned char *d = (unsigned char *)1;
        size_t n;
        rb_error err;
        ck_assert_int_eq(rb_base64_decode(bad[i], &d, &n, "meta", &err), RB_EFORMAT);
        ck_assert_ptr_null(d);
        ck_assert_ptr_nonnull(strstr(err.msg, "meta"));
        ck_assert_ptr_null(strchr(err.msg, '\n'));
    }
}
END_TEST

/* A small score-based vocabulary in llama2.c's spelling: <unk>, "\n<s>\n",
 * "\n</s>\n", the 256 byte pieces, then letters and merges with scores. */
static const char *const EXTRA[] = {" ", "a", "b", "c", "d", " a", "ab", " ab", "cd", "abcd", " abcd", "ba"};
enum { N_EXTRA = sizeof EXTRA / sizeof EXTRA[0], N_TOK = 3 + 256 + N_EXTRA };

static void piece(int i, int meta, char *out)
{
    if (i == 0) strcpy(out, "<unk>");
    else if (i == 1) strcpy(out, meta ? "<s>" : "\n<s>\n");
    else if (i == 2) strcpy(out, meta ? "</s>" : "\n</s>\n");
    else if (i < 259) sprintf(out, "<0x%02X>", i - 3);
    else {
        const char *s = EXTRA[i - 259];
        size_t k = 0;
        for (; *s; s++) {
            if (*s == ' ' && meta) {
                memcpy(out + k, "\xE2\x96\x81", 3);
                k += 3;
            } else {
                out[k++] = *s;
            }
        }
        out[k] = 0;
    }
}

static float score(int i) { return i < 259 ? 0.0f : -(float)(i - 259); }

static const char *write_tokenizer_bin(const char *name, int swap)
{
    const char *path = rb_test_tmp_path(name);
    FILE *f = fopen(path, "wb");
    int32_t maxlen = 16;
    fwrite(&maxlen, 4, 1, f);
    for (int i = 0; i < N_TOK; i++) {
        int j = swap && i == 260 ? 261 : swap && i == 261 ? 260 : i;
        char p[32];
        piece(j, 0, p);
        float sc = score(i);
        int32_t n = (int32_t)strlen(p);
        fwrite(&sc, 4, 1, f);
        fwrite(&n, 4, 1, f);
        fwrite(p, 1, (size_t)n, f);
    }
    fclose(f);
    return path;
}

static void encode(const rb_tokenizer *t, const char *s, int32_t **ids, size_t *n)
{
    rb_error err;
    ck_assert_msg(rb_tokenizer_encode(t, s, strlen(s), 0, ids, n, &err) == RB_OK, "%s", err.msg);
}

static void same_ids(const rb_tokenizer *a, const rb_tokenizer *b)
{
    static const char *const texts[] = {"abcd ab", " ab  ba cd", "dcba abab", "a\xC3\xA9z \xF0\x9F\x99\x82",
                                        "", "cdcdab abcdabcd"};
    for (int k = 0; k < 6; k++) {
        int32_t *x, *y;
        size_t nx, ny;
        encode(a, texts[k], &x, &nx);
        encode(b, texts[k], &y, &ny);
        ck_assert_msg(nx == ny && !memcmp(x, y, nx * sizeof *x), "ids differ on \"%s\"", texts[k]);
        free(x);
        free(y);
    }
}

START_TEST(identity_across_spellings)
{
    rb_error err;
    rb_tokenizer *bin = NULL, *meta = NULL, *swapped = NULL;
    ck_assert_int_eq(rb_tokenizer_load_llama2c(&bin, write_tokenizer_bin("tok.bin", 0), 0, &err), RB_OK);
    ck_assert_int_eq(rb_tokenizer_load_llama2c(&swapped, write_tokenizer_bin("swap.bin", 1), 0, &err), RB_OK);
    /* the same vocabulary as GGUF spells it: U+2581, plain "<s>", token types */
    static char store[N_TOK][32];
    const char *pieces[N_TOK];
    size_t lens[N_TOK];
    float scores[N_TOK];
    int32_t types[N_TOK];
    for (int i = 0; i < N_TOK; i++) {
        piece(i, 1, store[i]);
        pieces[i] = store[i];
        lens[i] = strlen(store[i]);
        scores[i] = score(i);
        types[i] = i == 0 ? RB_TOKTYPE_UNKNOWN : i < 3 ? RB_TOKTYPE_CONTROL : i < 259 ? RB_TOKTYPE_BYTE
                                                                                  : RB_TOKTYPE_NORMAL;
    }
    ck_assert_int_eq(rb_tokenizer_from_spm_scores(&meta, N_TOK, pieces, lens, scores, types, 1, 2, 1,
                                                  "meta", &err), RB_OK);
    uint64_t a = rb_tokenizer_identity(bin), b = rb_tokenizer_identity(meta), c = rb_tokenizer_identity(swapped);
    printf("identity: tokenizer.bin %016llx, SentencePiece spelling %016llx, swapped %016llx\n",
           (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
    ck_assert(a != 0 && a == b);
    ck_assert(c != a);
    same_ids(bin, meta);

    /* tokenizer.json from the scores: same ids, same identity */
    char *json = NULL;
    size_t jl = 0;
    ck_assert_msg(rb_tokenizer_to_json(bin, &json, &jl, &err) == RB_OK, "%s", err.msg);
    rb_tokenizer *back = NULL;
    ck_assert_msg(rb_tokenizer_load_json_mem(&back, json, jl, "written", &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_tokenizer_identity(back) == a);
    same_ids(bin, back);
    ck_assert_int_eq(rb_tokenizer_bos(back), 1);
    ck_assert_int_eq(rb_tokenizer_add_bos(back), 1);
    free(json);
    rb_tokenizer_free(back);
    rb_tokenizer_free(bin);
    rb_tokenizer_free(meta);
    rb_tokenizer_free(swapped);
}
END_TEST

static rb_config tiny_cfg(void)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = N_TOK + 5;
    c.dim = 8;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.hidden_dim = 12;
    c.max_seq_len = 32;
    c.n_prelude = 1;
    c.n_recur = 1;
    c.n_coda = 1;
    ck_assert_int_eq(rb_config_finalize(&c, NULL), RB_OK);
    return c;
}

/* Save a checkpoint carrying the tokenizer at tok_path, delete that file,
 * load the checkpoint: the tokenizer is the same. */
static void embed_round_trip(const char *tok_path, const char *want_key)
{
    rb_error err;
    rb_config c = tiny_cfg();
    rb_param_table tab;
    ck_assert_int_eq(rb_param_table_build(&tab, &c, &err), RB_OK);
    float *p = calloc(tab.total, sizeof *p);
    rb_test_fill_uniform(p, tab.total, 0.1f, 7);

    rb_loaded_model src;
    memset(&src, 0, sizeof src);
    ck_assert_int_eq(rb_tokenizer_load_any(&src.tok, tok_path, &err), RB_OK);
    snprintf(src.tokenizer_path, sizeof src.tokenizer_path, "%s", tok_path);
    const uint64_t id = rb_tokenizer_identity(src.tok);
    const char *key;
    char *value;
    ck_assert_msg(rb_tokenizer_embedding(&src, &key, &value, &err) == RB_OK, "%s", err.msg);
    ck_assert_str_eq(key, want_key);
    const char *ck = rb_test_tmp_path("ck.safetensors");
    const char *keys[1] = {key}, *vals[1] = {value};
    ck_assert_msg(rb_checkpoint_save(ck, &c, p, NULL, keys, vals, 1, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(unlink(tok_path), 0);

    rb_loaded_model m;
    ck_assert_msg(rb_model_file_load(ck, NULL, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(m.tok);
    ck_assert(rb_tokenizer_identity(m.tok) == id);
    ck_assert_str_eq(m.tok_embed_key, want_key);
    ck_assert_int_eq(m.tokenizer_path[0], 0);
    ck_assert(memcmp(m.params, p, tab.total * sizeof *p) == 0);
    same_ids(src.tok, m.tok);
    /* passed on unchanged to the next checkpoint */
    const char *key2;
    char *value2;
    ck_assert_int_eq(rb_tokenizer_embedding(&m, &key2, &value2, &err), RB_OK);
    ck_assert_str_eq(key2, key);
    ck_assert_str_eq(value2, value);
    /* headers only: no weights, the same tokenizer */
    rb_loaded_model h;
    rb_load_opts ho = {.headers_only = 1};
    ck_assert_int_eq(rb_model_file_load(ck, &ho, &h, &err), RB_OK);
    ck_assert_ptr_null(h.params);
    ck_assert(rb_tokenizer_identity(h.tok) == id);
    rb_loaded_model_free(&h);
    free(value2);
    rb_loaded_model_free(&m);
    rb_tokenizer_free(src.tok);
    free(value);
    free(p);
    rb_param_table_free(&tab);
}

START_TEST(checkpoint_carries_tokenizer_bin)
{
    embed_round_trip(write_tokenizer_bin("embed.bin", 0), RB_CKPT_TOKENIZER_BIN);
}
END_TEST

START_TEST(checkpoint_carries_tokenizer_json)
{
    rb_error err;
    rb_tokenizer *t = NULL;
    ck_assert_int_eq(rb_tokenizer_load_llama2c(&t, write_tokenizer_bin("j.bin", 0), 0, &err), RB_OK);
    char *json;
    size_t n;
    ck_assert_int_eq(rb_tokenizer_to_json(t, &json, &n, &err), RB_OK);
    const char *path = rb_test_tmp_path("tokenizer.json");
    FILE *f = fopen(path, "wb");
    fwrite(json, 1, n, f);
    fclose(f);
    free(json);
    rb_tokenizer_free(t);
    embed_round_trip(path, RB_CKPT_TOKENIZER_JSON);
}
END_TEST

/* The damaged embedding is refused naming the checkpoint and the key; an
 * explicit tokenizer wins over the embedded one. */
START_TEST(damaged_embedding_and_override)
{
    rb_error err;
    rb_config c = tiny_cfg();
    rb_param_table tab;
    ck_assert_int_eq(rb_param_table_build(&tab, &c, &err), RB_OK);
    float *p = calloc(tab.total, sizeof *p);
    const char *ck = rb_test_tmp_path("bad.safetensors");
    const char *keys[1] = {RB_CKPT_TOKENIZER_BIN}, *vals[1] = {"AAA*"};
    ck_assert_int_eq(rb_checkpoint_save(ck, &c, p, NULL, keys, vals, 1, &err), RB_OK);
    rb_loaded_model m;
    ck_assert_int_eq(rb_model_file_load(ck, NULL, &m, &err), RB_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad.safetensors"));
    ck_assert_ptr_nonnull(strstr(err.msg, RB_CKPT_TOKENIZER_BIN));
    rb_load_opts o = {.tokenizer_path = write_tokenizer_bin("ok.bin", 0)};
    ck_assert_msg(rb_model_file_load(ck, &o, &m, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rb_tokenizer_vocab_size(m.tok), N_TOK);
    rb_loaded_model_free(&m);
    /* a tokenizer with more ids than the model has rows is refused at load */
    c.vocab_size = N_TOK - 1;
    rb_param_table_free(&tab);
    ck_assert_int_eq(rb_param_table_build(&tab, &c, &err), RB_OK);
    free(p);
    p = calloc(tab.total, sizeof *p);
    ck_assert_int_eq(rb_checkpoint_save(ck, &c, p, NULL, NULL, NULL, 0, &err), RB_OK);
    ck_assert_int_eq(rb_model_file_load(ck, &o, &m, &err), RB_EFORMAT);
    ck_assert_msg(strstr(err.msg, "more than the") != NULL, "%s", err.msg);
    free(p);
    rb_param_table_free(&tab);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_tok_embed");
    TCase *tc = tcase_create("tok_embed");
    tcase_add_test(tc, base64_rfc4648);
    tcase_add_test(tc, identity_across_spellings);
    tcase_add_test(tc, checkpoint_carries_tokenizer_bin);
    tcase_add_test(tc, checkpoint_carries_tokenizer_json);
    tcase_add_test(tc, damaged_embedding_and_override);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
