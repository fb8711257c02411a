/* test_tok_reference.c: exact ids against outside tokenizers.
 *  - Llama-2 tokenizer.json (merges as "a b" strings, and as ["a","b"]
 *    pairs) against SentencePiece's ids in reference_ids.jsonl;
 *  - GPT-2 tokenizer.json against OpenAI's original encoder's ids;
 *  - llama2.c tokenizer.bin (stories260K tok512.bin) against llama2.c's own
 *    encode() (tests/data/tok/tok512_reference.jsonl, see its README).
 * Each string must also decode back to itself, with and without BOS. Load
 * times of the two large tokenizer.json files are printed and, in optimized
 * builds, held under 0.5 s. */
#include "test_tok_common.h"

static void check_file(const char *tok_path, const char *ref_path, int expect_rows)
{
    rb_tokenizer *t = tokt_load(tok_path);
    int n, bad = 0;
    cJSON **rows = tokt_read_jsonl(ref_path, &n);
    ck_assert_msg(rows != NULL, "cannot read %s", ref_path);
    ck_assert_int_ge(n, expect_rows);
    for (int i = 0; i < n; i++) {
        const char *text = cJSON_GetObjectItem(rows[i], "text")->valuestring;
        size_t len = strlen(text), nw, ng, nb, dl;
        int32_t *want = tokt_json_ids(cJSON_GetObjectItem(rows[i], "ids"), &nw), *got, *with_bos;
        rb_error e = {0};
        ck_assert_msg(rb_tokenizer_encode(t, text, len, 0, &got, &ng, &e) == RB_OK, "%s", e.msg);
        if (!tokt_same_ids(tok_path, text, got, ng, want, nw)) bad++;
        /* BOS then the same ids */
        ck_assert_msg(rb_tokenizer_encode(t, text, len, 1, &with_bos, &nb, &e) == RB_OK, "%s", e.msg);
        ck_assert_int_eq(nb, ng + 1);
        ck_assert_int_eq(with_bos[0], rb_tokenizer_bos(t));
        ck_assert(ng == 0 || memcmp(with_bos + 1, got, ng * sizeof *got) == 0);
        char *dec;
        ck_assert_msg(rb_tokenizer_decode(t, with_bos, nb, &dec, &dl, &e) == RB_OK, "%s", e.msg);
        if (dl != len || memcmp(dec, text, len) != 0) {
            printf("ROUND TRIP %s: \"%s\" -> \"%s\"\n", tok_path, text, dec);
            bad++;
        }
        free(dec);
        free(want);
        free(got);
        free(with_bos);
    }
    printf("%s vs %s: %d rows, %d mismatches\n", tok_path, ref_path, n, bad);
    tokt_free_jsonl(rows, n);
    rb_tokenizer_free(t);
    ck_assert_int_eq(bad, 0);
}

START_TEST(test_llama2_sentencepiece_ids)
{
    check_file(rb_test_asset("tokenizers/llama2/tokenizer.json"),
               rb_test_asset("tokenizers/llama2/reference_ids.jsonl"), 25);
}
END_TEST

START_TEST(test_llama2_pairs_sentencepiece_ids)
{
    check_file(rb_test_asset("tokenizers/llama2/tokenizer.merges-as-pairs.json"),
               rb_test_asset("tokenizers/llama2/reference_ids.jsonl"), 25);
}
END_TEST

START_TEST(test_gpt2_openai_ids)
{
    check_file(rb_test_asset("tokenizers/gpt2/tokenizer.json"),
               rb_test_asset("tokenizers/gpt2/reference_ids.jsonl"), 25);
}
END_TEST

START_TEST(test_tok512_llama2c_ids)
{
    check_file(rb_test_asset("stories260K/tok512.bin"),
               rb_test_source_path("tests/data/tok/tok512_reference.jsonl"), 70);
}
END_TEST

/* What each loader reports about special tokens, checked against the files'
 * own declarations (tokenizer.json added_tokens / post_processor, the
 * llama2.c convention in the assets README). */
START_TEST(test_special_ids)
{
    rb_tokenizer *t = tokt_load(rb_test_asset("tokenizers/llama2/tokenizer.json"));
    ck_assert_int_eq(rb_tokenizer_vocab_size(t), 32000);
    ck_assert_int_eq(rb_tokenizer_bos(t), 1);
    ck_assert_int_eq(rb_tokenizer_eos(t), 2);
    ck_assert_int_eq(rb_tokenizer_add_bos(t), 1);
    ck_assert_str_eq(rb_tokenizer_piece(t, 1), "<s>");
    ck_assert_int_eq(rb_tokenizer_token_type(t, 1), RB_TOKTYPE_CONTROL);
    ck_assert_int_eq(rb_tokenizer_token_type(t, 3), RB_TOKTYPE_BYTE);
    ck_assert_ptr_null(rb_tokenizer_piece(t, 32000));
    rb_tokenizer_set_special(t, 5, 6);
    ck_assert_int_eq(rb_tokenizer_bos(t), 5);
    ck_assert_int_eq(rb_tokenizer_eos(t), 6);
    rb_tokenizer_free(t);

    t = tokt_load(rb_test_asset("tokenizers/gpt2/tokenizer.json"));
    ck_assert_int_eq(rb_tokenizer_vocab_size(t), 50257);
    ck_assert_int_eq(rb_tokenizer_eos(t), 50256);
    ck_assert_int_eq(rb_tokenizer_add_bos(t), 0);
    ck_assert_str_eq(rb_tokenizer_piece(t, 50256), "<|endoftext|>");
    rb_tokenizer_free(t);

    t = tokt_load(rb_test_asset("stories260K/tok512.bin"));
    ck_assert_int_eq(rb_tokenizer_vocab_size(t), 512);
    ck_assert_int_eq(rb_tokenizer_bos(t), 1);
    ck_assert_int_eq(rb_tokenizer_eos(t), 2);
    rb_tokenizer_free(t);
}
END_TEST

START_TEST(test_load_times)
{
    const char *files[] = {"tokenizers/llama2/tokenizer.json", "tokenizers/llama2/tokenizer.merges-as-pairs.json",
                           "tokenizers/gpt2/tokenizer.json"};
    for (int i = 0; i < 3; i++) {
        const char *p = rb_test_asset(files[i]);
        double best = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = tokt_now();
            rb_tokenizer *t = tokt_load(p);
            double dt = tokt_now() - t0;
            rb_tokenizer_free(t);
            if (dt < best) best = dt;
        }
        printf("load %s: %.3f s (best of 3)\n", files[i], best);
#ifdef NDEBUG
        ck_assert_msg(best < 0.5, "%s took %.3f s to load; expected well under 0.5 s", files[i], best);
#endif
    }
    /* encoding speed on real text, for the record */
    size_t len;
    char *text = tokt_read_file(rb_test_asset("tinystories/tinystories_train_prefix_niklas6.txt"), &len);
    if (text) {
        for (int i = 0; i < 3; i++) {
            rb_tokenizer *t = tokt_load(rb_test_asset(files[i]));
            int32_t *ids;
            size_t n;
            rb_error e = {0};
            double t0 = tokt_now();
            ck_assert_msg(rb_tokenizer_encode(t, text, len, 0, &ids, &n, &e) == RB_OK, "%s", e.msg);
            double dt = tokt_now() - t0;
            printf("encode %zu bytes with %s: %zu ids, %.3f s (%.1f MB/s)\n", len, files[i], n, dt,
                   (double)len / dt / 1e6);
            free(ids);
            rb_tokenizer_free(t);
        }
        free(text);
    }
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    rb_test_asset_or_skip("tokenizers/llama2/tokenizer.json");
    rb_test_asset_or_skip("tokenizers/llama2/tokenizer.merges-as-pairs.json");
    rb_test_asset_or_skip("tokenizers/llama2/reference_ids.jsonl");
    rb_test_asset_or_skip("tokenizers/gpt2/tokenizer.json");
    rb_test_asset_or_skip("tokenizers/gpt2/reference_ids.jsonl");
    rb_test_asset_or_skip("stories260K/tok512.bin");
    Suite *s = suite_create("tok_reference");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_llama2_sentencepiece_ids);
    tcase_add_test(tc, test_llama2_pairs_sentencepiece_ids);
    tcase_add_test(tc, test_gpt2_openai_ids);
    tcase_add_test(tc, test_tok512_llama2c_ids);
    tcase_add_test(tc, test_special_ids);
    tcase_add_test(tc, test_load_times);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
