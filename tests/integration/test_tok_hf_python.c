/* test_tok_hf_python.c: our tokenizer against the Hugging Face `tokenizers`
 * library, which the test runs (tests/data/tok/hf_reference.py) to produce
 * expected ids for ~110 strings (Unicode scripts, emoji, whitespace kinds,
 * digits, contractions, leading/trailing spaces, the empty string, added
 * tokens, a 30 kB story) on the real Llama-2 and GPT-2 tokenizer.json and
 * on variants of them that switch on the other pipeline pieces (Llama-3 /
 * Qwen2 split regex, ignore_merges, SmolLM2 digits, prefix space,
 * Metaspace, added tokens with lstrip/rstrip/single_word/normalized).
 * Decoding is compared with HF's decode where the two are meant to agree,
 * and rb_tokenizer_from_bpe (GGUF "gpt2" vocabularies) with each split rule
 * is checked against the matching variant. Skips when Python, the
 * `tokenizers` package or the assets are missing. */
#include "test_tok_common.h"
#include "tok/tok_internal.h"

#define MAX_VARIANTS 32

typedef struct {
    char name[64];
    char path[4096];
    int cmp_decode;
} variant;

static variant variants[MAX_VARIANTS];
static int n_variants;
static char outdir[4096];

static char *row_text(const cJSON *row, size_t *len)
{
    return tokt_unhex(cJSON_GetObjectItem(row, "hex")->valuestring, len);
}

/* Encode every string of <name>.jsonl with t and compare with HF; also the
 * decode of HF's ids when cmp_decode. Returns the number of mismatches. */
static int compare_encode(rb_tokenizer *t, const char *name, int cmp_decode)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.jsonl", outdir, name);
    int n, bad = 0;
    cJSON **rows = tokt_read_jsonl(path, &n);
    ck_assert_msg(rows && n > 100, "%s: expected rows missing", path);
    for (int i = 0; i < n; i++) {
        size_t len, nw, ng;
        char *text = row_text(rows[i], &len);
        int32_t *want = tokt_json_ids(cJSON_GetObjectItem(rows[i], "ids"), &nw), *got = NULL;
        rb_error e = {0};
        rb_status st = rb_tokenizer_encode(t, text, len, 0, &got, &ng, &e);
        ck_assert_msg(st == RB_OK, "%s: encode failed: %s", name, e.msg);
        if (!tokt_same_ids(name, text, got, ng, want, nw)) bad++;
        if (cmp_decode) {
            char *dec;
            size_t dl, hl;
            st = rb_tokenizer_decode(t, want, nw, &dec, &dl, &e);
            ck_assert_msg(st == RB_OK, "%s: decode failed: %s", name, e.msg);
            char *hf = tokt_unhex(cJSON_GetObjectItem(rows[i], "decoded_hex")->valuestring, &hl);
            if (dl != hl || memcmp(dec, hf, dl) != 0) {
                printf("DECODE MISMATCH %s for \"%.60s\": got \"%.60s\" want \"%.60s\"\n", name, text,
                       dec, hf);
                bad++;
            }
            free(hf);
            free(dec);
        }
        free(text);
        free(want);
        free(got);
    }
    tokt_free_jsonl(rows, n);
    return bad;
}

/* HF decode of random id lists (<name>.decode.jsonl). */
static int compare_random_decode(rb_tokenizer *t, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.decode.jsonl", outdir, name);
    int n, bad = 0;
    cJSON **rows = tokt_read_jsonl(path, &n);
    ck_assert_msg(rows && n > 0, "%s missing", path);
    for (int i = 0; i < n; i++) {
        size_t nid, hl, dl;
        int32_t *ids = tokt_json_ids(cJSON_GetObjectItem(rows[i], "ids"), &nid);
        char *hf = tokt_unhex(cJSON_GetObjectItem(rows[i], "hex")->valuestring, &hl), *dec;
        rb_error e = {0};
        ck_assert_msg(rb_tokenizer_decode(t, ids, nid, &dec, &dl, &e) == RB_OK, "%s: %s", name, e.msg);
        if (dl != hl || memcmp(dec, hf, dl) != 0) {
            printf("RANDOM DECODE MISMATCH %s row %d: got \"%.60s\" want \"%.60s\"\n", name, i, dec, hf);
            tokt_print_ids("ids", ids, nid);
            bad++;
        }
        free(dec);
        free(hf);
        free(ids);
    }
    tokt_free_jsonl(rows, n);
    return bad;
}

START_TEST(test_variant_matches_hf)
{
    const variant *v = &variants[_i];
    rb_tokenizer *t = tokt_load(v->path);
    int bad = compare_encode(t, v->name, v->cmp_decode);
    if (v->cmp_decode) bad += compare_random_decode(t, v->name);
    printf("%s: %d mismatches\n", v->name, bad);
    ck_assert_msg(bad == 0, "%s: %d mismatches with Hugging Face tokenizers", v->name, bad);
    rb_tokenizer_free(t);
}
END_TEST

/* The split-regex scanners piece by piece against HF's regex engine, on
 * random strings built to hit every alternative and backtracking case. */
START_TEST(test_split_regexes_match_hf)
{
    static const struct { const char *key; rb_tok_regex re; } kinds[] = {
        {"gpt2", RB_TOK_RE_GPT2}, {"llama3", RB_TOK_RE_LLAMA3}, {"qwen2", RB_TOK_RE_QWEN2}};
    char path[4200];
    snprintf(path, sizeof path, "%s/splits.jsonl", outdir);
    int n, bad = 0;
    cJSON **rows = tokt_read_jsonl(path, &n);
    ck_assert_msg(rows && n >= 1000, "%s missing", path);
    for (int i = 0; i < n; i++) {
        size_t len;
        char *s = row_text(rows[i], &len);
        for (size_t k = 0; k < 3; k++) {
            const cJSON *want = cJSON_GetObjectItem(rows[i], kinds[k].key);
            const cJSON *w = want->child;
            int ok = 1;
            for (size_t p = 0; p < len && ok;) {
                size_t q = rb_tok_regex_match(kinds[k].re, s, len, p), wl;
                char *piece = w ? tokt_unhex(w->valuestring, &wl) : NULL;
                ok = piece && wl == q - p && memcmp(piece, s + p, wl) == 0;
                free(piece);
                if (w) w = w->next;
                p = q;
            }
            if (ok && w) ok = 0; /* HF has more pieces */
            if (!ok) {
                bad++;
                printf("SPLIT MISMATCH %s on %s\n", kinds[k].key, cJSON_GetObjectItem(rows[i], "hex")->valuestring);
            }
        }
        free(s);
    }
    tokt_free_jsonl(rows, n);
    printf("split regexes: %d mismatches over %d strings x 3 patterns\n", bad, n);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* GPT-2's vocabulary and merges as GGUF would carry them, built with each
 * tokenizer.ggml.pre split rule, against the HF variant with that rule. */
START_TEST(test_from_bpe_split_rules)
{
    static const char *pairs[][2] = {
        {"gpt2", "gpt2"}, {"llama-bpe", "llama3_style"}, {"qwen2", "qwen2_style"}, {"smollm", "smollm_style"}};
    size_t len;
    char *json = tokt_read_file(rb_test_asset("tokenizers/gpt2/tokenizer.json"), &len);
    ck_assert_ptr_nonnull(json);
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *model = cJSON_GetObjectItem(root, "model");
    const cJSON *vocab = cJSON_GetObjectItem(model, "vocab"), *merges = cJSON_GetObjectItem(model, "merges");
    int n = cJSON_GetArraySize(vocab), nm = cJSON_GetArraySize(merges);
    const char **pieces = calloc((size_t)n, sizeof *pieces);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int32_t *types = calloc((size_t)n, sizeof *types);
    const char **ms = calloc((size_t)nm, sizeof *ms);
    for (const cJSON *x = vocab->child; x; x = x->next) {
        int id = x->valueint;
        ck_assert_int_lt(id, n);
        pieces[id] = x->string;
        lens[id] = strlen(x->string);
        types[id] = strcmp(x->string, "<|endoftext|>") == 0 ? RB_TOKTYPE_CONTROL : RB_TOKTYPE_NORMAL;
    }
    int k = 0;
    for (const cJSON *x = merges->child; x; x = x->next) ms[k++] = x->valuestring;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        rb_tokenizer *t;
        rb_error e = {0};
        rb_status st = rb_tokenizer_from_bpe(&t, n, pieces, lens, types, nm, ms, pairs[p][0], 50256, 50256, 0,
                                             "gpt2 as gguf", &e);
        ck_assert_msg(st == RB_OK, "%s: %s", pairs[p][0], e.msg);
        int bad = compare_encode(t, pairs[p][1], 1);
        printf("from_bpe pre=%s vs %s: %d mismatches\n", pairs[p][0], pairs[p][1], bad);
        ck_assert_int_eq(bad, 0);
        rb_tokenizer_free(t);
    }
    /* an unknown rule names the known ones */
    rb_tokenizer *t;
    rb_error e = {0};
    ck_assert_int_eq(rb_tokenizer_from_bpe(&t, n, pieces, lens, types, nm, ms, "tekken", -1, -1, 0, "x", &e),
                     RB_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "llama-bpe"));
    free(pieces);
    free(lens);
    free(types);
    free(ms);
    cJSON_Delete(root);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    rb_test_asset_or_skip("tokenizers/llama2/tokenizer.json");
    rb_test_asset_or_skip("tokenizers/llama2/tokenizer.merges-as-pairs.json");
    rb_test_asset_or_skip("tokenizers/gpt2/tokenizer.json");
    const char *py = tokt_python();
    if (!py) {
        printf("SKIP: needs $RB_SOURCE_DIR/.venv/bin/python (with tokenizers), which is absent\n");
        return RB_TEST_SKIP;
    }
    const char *assets = getenv("RB_ASSETS_DIR");
    snprintf(outdir, sizeof outdir, "%s/hf", rb_test_tmpdir());
    char cmd[12000];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", py,
             rb_test_source_path("tests/data/tok/hf_reference.py"), assets ? assets : "../shared/assets",
             outdir);
    int rc = tokt_system(cmd);
    if (rc == 3) {
        printf("SKIP: needs the Python package tokenizers, which is absent\n");
        return RB_TEST_SKIP;
    }
    if (rc != 0) {
        printf("FAIL: %s exited with %d\n", cmd, rc);
        return 1;
    }
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/manifest.tsv", outdir);
    FILE *f = fopen(mpath, "r");
    if (!f) {
        printf("FAIL: no %s\n", mpath);
        return 1;
    }
    char line[8300];
    while (n_variants < MAX_VARIANTS && fgets(line, sizeof line, f)) {
        variant *v = &variants[n_variants];
        if (sscanf(line, "%63[^\t]\t%4095[^\t]\t%d", v->name, v->path, &v->cmp_decode) == 3) n_variants++;
    }
    fclose(f);

    Suite *s = suite_create("tok_hf_python");
    TCase *tc = tcase_create("hf");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_variant_matches_hf, 0, n_variants);
    tcase_add_test(tc, test_from_bpe_split_rules);
    tcase_add_test(tc, test_split_regexes_match_hf);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
