/* test_tok_gguf.c: the GGUF "llama" vocabulary of stories260K, read at test
 * time with the Python `gguf` package (tests/data/tok/gguf_dump.py, so this
 * does not depend on the engine's GGUF reader) and built with
 * rb_tokenizer_from_spm_scores, must give llama2.c's encode() ids
 * (tests/data/tok/tok512_reference.jsonl) like tok512.bin does: same
 * vocabulary, but spelled with U+2581 and typed. Also checks decoding back,
 * and that every id decodes the same through both tokenizers. */
#include "test_tok_common.h"

static char dump_path[4200];

typedef struct {
    int n;
    char **pieces;
    size_t *lens;
    float *scores;
    int32_t *types;
    int bos, eos, add_bos;
} vocab_dump;

static void read_dump(vocab_dump *v)
{
    size_t len;
    char *json = tokt_read_file(dump_path, &len);
    ck_assert_ptr_nonnull(json);
    cJSON *root = cJSON_Parse(json);
    free(json);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "model")->valuestring, "llama");
    const cJSON *toks = cJSON_GetObjectItem(root, "tokens_hex"), *sc = cJSON_GetObjectItem(root, "scores"),
                *ty = cJSON_GetObjectItem(root, "types");
    v->n = cJSON_GetArraySize(toks);
    ck_assert_int_eq(cJSON_GetArraySize(sc), v->n);
    ck_assert_int_eq(cJSON_GetArraySize(ty), v->n);
    v->pieces = calloc((size_t)v->n, sizeof *v->pieces);
    v->lens = calloc((size_t)v->n, sizeof *v->lens);
    v->scores = calloc((size_t)v->n, sizeof *v->scores);
    v->types = calloc((size_t)v->n, sizeof *v->types);
    int i = 0;
    for (const cJSON *x = toks->child; x; x = x->next, i++) v->pieces[i] = tokt_unhex(x->valuestring, &v->lens[i]);
    i = 0;
    for (const cJSON *x = sc->child; x; x = x->next, i++) v->scores[i] = (float)x->valuedouble;
    i = 0;
    for (const cJSON *x = ty->child; x; x = x->next, i++) v->types[i] = (int32_t)x->valuedouble;
    v->bos = cJSON_GetObjectItem(root, "bos")->valueint;
    v->eos = cJSON_GetObjectItem(root, "eos")->valueint;
    v->add_bos = cJSON_IsTrue(cJSON_GetObjectItem(root, "add_bos"));
    cJSON_Delete(root);
}

static void free_dump(vocab_dump *v)
{
    for (int i = 0; i < v->n; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->lens);
    free(v->scores);
    free(v->types);
}

static rb_tokenizer *build(vocab_dump *v, int with_types)
{
    rb_tokenizer *t;
    rb_error e = {0};
    rb_status st = rb_tokenizer_from_spm_scores(&t, v->n, (const char *const *)v->pieces, v->lens, v->scores,
                                                with_types ? v->types : NULL, v->bos, v->eos, v->add_bos,
                                                "stories260K.gguf", &e);
    ck_assert_msg(st == RB_OK, "from_spm_scores: %s", e.msg);
    return t;
}

static void check_against_llama2c(rb_tokenizer *t, const char *label)
{
    int n, bad = 0;
    cJSON **rows = tokt_read_jsonl(rb_test_source_path("tests/data/tok/tok512_reference.jsonl"), &n);
    ck_assert_int_ge(n, 70);
    for (int i = 0; i < n; i++) {
        const char *text = cJSON_GetObjectItem(rows[i], "text")->valuestring;
        size_t len = strlen(text), nw, ng, dl;
        int32_t *want = tokt_json_ids(cJSON_GetObjectItem(rows[i], "ids"), &nw), *got;
        rb_error e = {0};
        ck_assert_msg(rb_tokenizer_encode(t, text, len, 0, &got, &ng, &e) == RB_OK, "%s", e.msg);
        if (!tokt_same_ids(label, text, got, ng, want, nw)) bad++;
        char *dec;
        ck_assert_msg(rb_tokenizer_decode(t, got, ng, &dec, &dl, &e) == RB_OK, "%s", e.msg);
        if (dl != len || memcmp(dec, text, len) != 0) {
            printf("ROUND TRIP %s: \"%s\" -> \"%s\"\n", label, text, dec);
            bad++;
        }
        free(dec);
        free(want);
        free(got);
    }
    tokt_free_jsonl(rows, n);
    printf("%s: %d rows, %d mismatches\n", label, n, bad);
    ck_assert_int_eq(bad, 0);
}

START_TEST(test_gguf_vocab_gives_llama2c_ids)
{
    vocab_dump v;
    read_dump(&v);
    ck_assert_int_eq(v.n, 512);
    ck_assert_int_eq(v.bos, 1);
    ck_assert_int_eq(v.eos, 2);
    rb_tokenizer *t = build(&v, 1);
    ck_assert_int_eq(rb_tokenizer_bos(t), 1);
    ck_assert_int_eq(rb_tokenizer_eos(t), 2);
    check_against_llama2c(t, "gguf vocabulary with types");
    rb_tokenizer_free(t);
    /* without types the constructor infers them as for tokenizer.bin */
    t = build(&v, 0);
    check_against_llama2c(t, "gguf vocabulary without types");
    rb_tokenizer_free(t);
    free_dump(&v);
}
END_TEST

START_TEST(test_gguf_and_bin_decode_alike)
{
    vocab_dump v;
    read_dump(&v);
    rb_tokenizer *g = build(&v, 1), *b = tokt_load(rb_test_asset("stories260K/tok512.bin"));
    rb_error e = {0};
    for (int32_t id = 0; id < 512; id++) {
        /* after an ordinary first token, so the leading-space strip is spent */
        int32_t ids[2] = {300, id};
        char *x, *y;
        size_t xl, yl;
        ck_assert_msg(rb_tokenizer_decode(g, ids, 2, &x, &xl, &e) == RB_OK, "%s", e.msg);
        ck_assert_msg(rb_tokenizer_decode(b, ids, 2, &y, &yl, &e) == RB_OK, "%s", e.msg);
        ck_assert_msg(xl == yl && memcmp(x, y, xl) == 0, "id %d decodes to \"%s\" (gguf) vs \"%s\" (bin)", id, x, y);
        free(x);
        free(y);
    }
    rb_tokenizer_free(g);
    rb_tokenizer_free(b);
    free_dump(&v);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *gguf = rb_test_asset_or_skip("stories260K-gguf/stories260K.gguf");
    rb_test_asset_or_skip("stories260K/tok512.bin");
    const char *py = tokt_python();
    if (!py) {
        printf("SKIP: needs $RB_SOURCE_DIR/.venv/bin/python (with gguf), which is absent\n");
        return RB_TEST_SKIP;
    }
    snprintf(dump_path, sizeof dump_path, "%s/gguf_vocab.json", rb_test_tmpdir());
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", py, rb_test_source_path("tests/data/tok/gguf_dump.py"), gguf,
             dump_path);
    int rc = tokt_system(cmd);
    if (rc == 3) {
        printf("SKIP: needs the Python package gguf, which is absent\n");
        return RB_TEST_SKIP;
    }
    if (rc != 0) {
        printf("FAIL: %s exited with %d\n", cmd, rc);
        return 1;
    }
    Suite *s = suite_create("tok_gguf");
    TCase *tc = tcase_create("gguf");
    tcase_add_test(tc, test_gguf_vocab_gives_llama2c_ids);
    tcase_add_test(tc, test_gguf_and_bin_decode_alike);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
