/* test_ref_eval_extract.c: GSM8K answer extraction and scoring against
 * Python's `re` applying EVAL.md's regular expressions the harness's way
 * (tests/reference/eval_extract_oracle.py), at test time.
 *
 *  - every gold solution of ../shared/assets/gsm8k/train.jsonl: its gold
 *    (text after the last ####) as Python computes it; fed as a completion
 *    it scores 100 % with flexible-extract;
 *  - on those solutions and on several hundred adversarial completions
 *    (EVAL.md's worked cases, "$1,200.50", "-3", "The answer is 7.", no
 *    number, numbers of the question echoed back, unicode, newlines, very
 *    long strings, random strings from number-like pieces), both rules and
 *    both scores agree with Python exactly;
 *  - the same patterns through the POSIX engine (the --flex-regex /
 *    --strict-regex path, brackets written POSIX-style) give the same
 *    extractions on every case: leftmost-longest and Python's leftmost-first
 *    agree for these two patterns. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_eval.h"
#include "rb_test.h"

typedef struct {
    char **comp, **ans;
    int n, cap;
} cases;

static void add(cases *c, const char *comp, const char *ans)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->comp = realloc(c->comp, (size_t)c->cap * sizeof(char *));
        c->ans = realloc(c->ans, (size_t)c->cap * sizeof(char *));
        ck_assert(c->comp && c->ans);
    }
    c->comp[c->n] = strdup(comp);
    c->ans[c->n] = strdup(ans);
    c->n++;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

/* gsm8k problems: questions and answers, in file order */
static int load_gsm8k(const char *path, char ***qs, char ***as)
{
    size_t len;
    char *data = read_all(path, &len);
    int n = 0, cap = 8192;
    *qs = malloc(sizeof(char *) * cap);
    *as = malloc(sizeof(char *) * cap);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "%s: line %d is not JSON", path, n + 1);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "question");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "answer");
        ck_assert(cJSON_IsString(q) && cJSON_IsString(a) && n < cap);
        (*qs)[n] = strdup(q->valuestring);
        (*as)[n] = strdup(a->valuestring);
        n++;
        cJSON_Delete(o);
    }
    free(data);
    return n;
}

static void adversarial(cases *c, char **qs, int nq)
{
    static const char *golds[] = {"#### 7", "#### -3", "#### 1,200.50", "#### 18", "#### 1,250",
                                  "#### 3.5", "#### 6", "#### 0", "#### 12", "#### 1200.5"};
    const int G = sizeof golds / sizeof golds[0];
    static const char *hand[] = {
        /* EVAL.md's worked cases */
        "... 9 * $2 = $18. The answer is 18.", "... The answer is $1,250.", "... So he has 7",
        "... It costs 3.50 dollars. The answer is 3.5", "... The answer is 6. ...", "... The answer is 3.50",
        " no number here",
        /* the cases and their neighbours */
        "$1,200.50", "-3", "The answer is 7.", "The answer is 7", "The answer is -7.", "The answer is $7.",
        "no number at all", "", " ", "\n", "The answer is 6.\n\nQ: next", "The answer is 5\nQ:",
        "The answer is 5\n", "The answer is\n5.", "The answer is 55", "The answer is 5", "The answer is -5",
        "The answer is -", "The answer is -55", "The answer is -5x", "the answer is 5.", "The answer is  5.",
        "The answer is 5\xe2\x82\xac", "The answer is 5.\xe2\x82\xac", "\xe2\x82\xac" "5", "The answer is 12,000.",
        "The answer is 1.\n", "The answer is 1,\n", "The answer is 1,2", "The answer is .5.", "The answer is ,",
        "The answer is ,,", "The answer is 7. The answer is 8.", "The answer is x. The answer is 9!",
        "The answer is The answer is 4.", "The answer is 4The answer is 5.", "$$", "$.", ",,", "-,", "-.5",
        "-$", "--5", "-$5", "$-5", "5-3", "1.2.3", "1,2,3", "...", "..5", "-", "5", "55", "-5", "-55",
        "5.", "$5", "$5.", "5$", "3.50", "3.5.", "3..5", "1,", ",1", "-1,000,000.00", "a-1b", "x - 3 = y",
        "It is 42 dollars. #### 42", "#### 5", "####5", "#### 5.", "answer: 1e5", "0x1F", "2^10 = 1024",
        "\xd9\xa3", "\xef\xbc\x95", "x\xc2\xa0" "5", "\t 7 \t", "5\r\n", "The answer is 5\r\n",
        "The answer is 8\xe2\x80\x8b.", "1/2 + 1/2 = 1", "50% of 80 is 40.", "(-3)", "[-3]", "-3.", "-3.0",
        "$-3", "The answer is -3.", "The answer is $-3.", "The answer is -$3.", "Q: what? A: 4",
        "12 apples and 3 pears: 15 fruit. The answer is 15 fruit.", "9.99.", "1,234,567", "1,234,567.",
        "The answer is 1,234,567.", "The answer is 1,234,567", "......5......", "$$$$5",
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) add(c, hand[i], golds[i % G]);
    /* numbers of the question echoed back */
    char buf[8192];
    for (int i = 0; i < 60 && i < nq; i++) {
        snprintf(buf, sizeof buf, i % 3 == 0   ? "Let me restate: %s So I am not sure."
                                  : i % 3 == 1 ? "%s The answer is 5."
                                               : "We know: %s\nThe answer is",
                 qs[i]);
        add(c, buf, golds[i % G]);
    }
    /* random strings of number-like pieces */
    static const char *pieces[] = {"0", "1", "7", "42", "$", ".", ",", "-", " ", "\n", "a", "T",
                                   "The answer is ", "The answer is", "\xe2\x82\xac", "Q:", "#### ",
                                   "x", "..", "$1,", "\xc3\xa9", "\t"};
    const int P = sizeof pieces / sizeof pieces[0];
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 400; i++) {
        size_t k = 0;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int np = 1 + (int)(s % 24);
        for (int j = 0; j < np; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            const char *p = pieces[s % (uint64_t)P];
            size_t l = strlen(p);
            if (k + l + 1 < sizeof buf) memcpy(buf + k, p, l), k += l;
        }
        buf[k] = '\0';
        add(c, buf, golds[i % G]);
    }
    /* very long strings */
    for (int v = 0; v < 3; v++) {
        size_t n = 30000 + 7 * (size_t)v;
        char *big = malloc(n + 64);
        for (size_t i = 0; i < n; i++) big[i] = v == 0 ? "0123456789"[i % 10] : v == 1 ? ".,$"[i % 3] : "ab 1"[i % 4];
        strcpy(big + n, v == 2 ? " The answer is 77." : "");
        add(c, big, golds[v]);
        free(big);
    }
}

static const char *str_at(const cJSON *arr, int i)
{
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    ck_assert(cJSON_IsString(v));
    return v->valuestring;
}

static int int_at(const cJSON *arr, int i)
{
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    ck_assert(cJSON_IsNumber(v));
    return v->valueint;
}

START_TEST(extraction_matches_python)
{
    char **qs, **as;
    const int nq = load_gsm8k(rb_test_asset_or_skip("gsm8k/train.jsonl"), &qs, &as);
    ck_assert_int_ge(nq, 7000);
    cases c = {0};
    for (int i = 0; i < nq; i++) add(&c, as[i], as[i]); /* gold solutions as completions */
    const int n_gold = c.n;
    adversarial(&c, qs, nq);
    const int n_adv = c.n - n_gold;
    ck_assert_int_ge(n_adv, 100);

    /* the oracle */
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < c.n; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(c.comp[i]));
        cJSON_AddItemToArray(pair, cJSON_CreateString(c.ans[i]));
        cJSON_AddItemToArray(arr, pair);
    }
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    const char *in = rb_test_tmp_path("cases.json"), *out = rb_test_tmp_path("oracle.json");
    FILE *f = fopen(in, "wb");
    ck_assert(f && fputs(js, f) >= 0 && fclose(f) == 0);
    free(js);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s",
             rb_test_source_path("tests/reference/eval_extract_oracle.py"), in, out);
    ck_assert_msg(system(cmd) == 0, "the Python oracle failed: %s", cmd);
    char *res = read_all(out, NULL);
    cJSON *o = cJSON_Parse(res);
    free(res);
    ck_assert(o != NULL);
    const cJSON *py_flex = cJSON_GetObjectItem(o, "flex"), *py_strict = cJSON_GetObjectItem(o, "strict");
    const cJSON *py_gold = cJSON_GetObjectItem(o, "gold");
    const cJSON *py_fc = cJSON_GetObjectItem(o, "flex_correct"), *py_sc = cJSON_GetObjectItem(o, "strict_correct");
    ck_assert_int_eq(cJSON_GetArraySize(py_flex), c.n);

    rb_eval_config cfg;
    rb_eval_config_default(&cfg);
    rb_extractor *flex = NULL, *strict = NULL, *pflex = NULL, *pstrict = NULL;
    rb_error err = {0};
    ck_assert(rb_extractor_create(&flex, &cfg.rules[0], &err) == RB_OK);
    ck_assert(rb_extractor_create(&strict, &cfg.rules[1], &err) == RB_OK);
    rb_extract_rule pf = {"flex-posix", RB_EXTRACT_POSIX, "(-?[$0-9.,]{2,})|(-?[0-9]+)", -1};
    rb_extract_rule ps = {"strict-posix", RB_EXTRACT_POSIX, "The answer is (-?[0-9.,]+).", 0};
    ck_assert_msg(rb_extractor_create(&pflex, &pf, &err) == RB_OK, "%s", err.msg);
    ck_assert_msg(rb_extractor_create(&pstrict, &ps, &err) == RB_OK, "%s", err.msg);

    int gold_right = 0, posix_diff = 0, strict_valid = 0, flex_valid = 0;
    for (int i = 0; i < c.n; i++) {
        size_t len = strlen(c.comp[i]);
        char *fx = rb_extract(flex, c.comp[i], len), *sx = rb_extract(strict, c.comp[i], len);
        char *gold = rb_eval_gold(c.ans[i]);
        ck_assert_msg(!strcmp(gold, str_at(py_gold, i)), "case %d: gold '%s', Python '%s'", i, gold,
                      str_at(py_gold, i));
        ck_assert_msg(!strcmp(fx, str_at(py_flex, i)), "case %d (%.80s): flexible '%s', Python '%s'", i,
                      c.comp[i], fx, str_at(py_flex, i));
        ck_assert_msg(!strcmp(sx, str_at(py_strict, i)), "case %d (%.80s): strict '%s', Python '%s'", i,
                      c.comp[i], sx, str_at(py_strict, i));
        int fc = rb_eval_correct(fx, gold), sc = rb_eval_correct(sx, gold);
        ck_assert_msg(fc == int_at(py_fc, i), "case %d: flexible correct %d, Python %d", i, fc, int_at(py_fc, i));
        ck_assert_msg(sc == int_at(py_sc, i), "case %d: strict correct %d, Python %d", i, sc, int_at(py_sc, i));
        if (i < n_gold) gold_right += fc;
        else {
            flex_valid += strcmp(fx, RB_EVAL_INVALID) != 0;
            strict_valid += strcmp(sx, RB_EVAL_INVALID) != 0;
        }
        char *pfx = rb_extract(pflex, c.comp[i], len), *psx = rb_extract(pstrict, c.comp[i], len);
        if (strcmp(pfx, fx) || strcmp(psx, sx)) {
            posix_diff++;
            printf("  POSIX differs on case %d (%.60s): flexible '%s' vs '%s', strict '%s' vs '%s'\n", i,
                   c.comp[i], pfx, fx, psx, sx);
        }
        free(fx), free(sx), free(gold), free(pfx), free(psx);
    }
    printf("  %d gold solutions: %d scored right by flexible-extract; %d adversarial completions "
           "(%d with a flexible match, %d with a strict match); all agree with Python's re; "
           "POSIX engine differs on %d\n", n_gold, gold_right, n_adv, flex_valid, strict_valid, posix_diff);
    ck_assert_int_eq(gold_right, n_gold);
    /* the adversarial set exercises both outcomes of both rules */
    ck_assert(flex_valid > 50 && flex_valid < n_adv && strict_valid > 20 && strict_valid < n_adv);
    ck_assert_int_eq(posix_diff, 0);
    rb_extractor_free(flex), rb_extractor_free(strict), rb_extractor_free(pflex), rb_extractor_free(pstrict);
    cJSON_Delete(o);
    for (int i = 0; i < c.n; i++) free(c.comp[i]), free(c.ans[i]);
    free(c.comp), free(c.ans);
    for (int i = 0; i < nq; i++) free(qs[i]), free(as[i]);
    free(qs), free(as);
}
END_TEST

START_TEST(worked_cases_and_pieces)
{
    /* EVAL.md's worked cases, literally (continuation -> prediction -> correct) */
    rb_eval_config cfg;
    rb_eval_config_default(&cfg);
    rb_extractor *flex = NULL;
    ck_assert(rb_extractor_create(&flex, &cfg.rules[0], NULL) == RB_OK);
    struct {
        const char *text, *pred, *gold;
        int right;
    } w[] = {{"... 9 * $2 = $18. The answer is 18.", "18.", "18", 1},
             {"... The answer is $1,250.", "$1,250.", "1,250", 1},
             {"... So he has 7", "7", "7", 1},
             {"... It costs 3.50 dollars. The answer is 3.5", "3.5", "3.5", 1},
             {"... The answer is 6. ...", "...", "6", 0},
             {"... The answer is 3.50", "3.50", "3.5", 0},
             {" no number here", "[invalid]", "7", 0}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        char *p = rb_extract(flex, w[i].text, strlen(w[i].text));
        ck_assert_msg(!strcmp(p, w[i].pred), "'%s' -> '%s', EVAL.md says '%s'", w[i].text, p, w[i].pred);
        ck_assert_int_eq(rb_eval_correct(p, w[i].gold), w[i].right);
        free(p);
    }
    rb_extractor_free(flex);
    /* stop cut: each stop in turn */
    char t[] = "The answer is 5.\n\nQ: next</s> more";
    const char *stops[] = {"Q:", "</s>", "<|im_end|>"};
    ck_assert_int_eq(rb_eval_cut_stops(t, strlen(t), stops, 3), 18);
    ck_assert_str_eq(t, "The answer is 5.\n\n");
    char t2[] = "a</s>b Q: c";
    ck_assert_int_eq(rb_eval_find_stop(t2, strlen(t2), stops, 3), 1);
    /* the prompt, byte for byte */
    char *ctx = NULL;
    ck_assert(rb_eval_render(&cfg, "What is 2+2?", &ctx, NULL) == RB_OK);
    const char *want = "Q: There are 15 trees in the grove. Grove workers will plant trees in the grove "
                       "today. After they are done, there will be 21 trees. How many trees did the grove "
                       "workers plant today?\nA: Let's think step by step. There are 15 trees originally. "
                       "Then there were 21 trees after some more were planted. So there must have been "
                       "21 - 15 = 6. The answer is 6.\n\nQ: What is 2+2?\nA: Let's think step by step.";
    ck_assert_str_eq(ctx, want);
    free(ctx);
    cfg.shots = 9;
    ck_assert_int_eq(rb_eval_render(&cfg, "x", &ctx, NULL), RB_EINVAL);
}
END_TEST

int main(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("SKIP: /usr/bin/python3 is absent (the oracle is Python's re)\n");
        return RB_TEST_SKIP;
    }
    Suite *s = suite_create("eval_extract");
    TCase *tc = tcase_create("extract");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, worked_cases_and_pieces);
    tcase_add_test(tc, extraction_matches_python);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
