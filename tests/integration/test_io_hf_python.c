/* test_io_hf_python.c: retrobench's safetensors reading and writing against
 * Hugging Face's own `safetensors` package (with numpy and torch), driven
 * through tests/integration/test_io_hf_reference.py:
 *  - every tensor of the real stories260K-hf model.safetensors, as Python
 *    reads it, equals what rb_load_hf_folder put in the parameter buffer
 *    (bit for bit), and what the generic reader returns;
 *  - all 65536 F16 and all 65536 BF16 bit patterns convert to the float32
 *    that numpy (F16) and torch (BF16) produce;
 *  - a folder written by rb_hf_folder_save is read by safetensors.torch
 *    with the same names, shapes, dtypes and values as the original asset,
 *    and with the "format": "pt" metadata transformers requires; a random
 *    untied OLMo-2 folder reads back as the parameters that were saved;
 *  - a checkpoint's __metadata__ (config, escapes, UTF-8) reads back through
 *    Python unchanged.
 * SKIPs when the asset, the venv Python or its packages are missing. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_safetensors.h"
#include "rb_test.h"

static char PY[1024];
static char SCRIPT[1024];
static const char *HF;

static const char *join(const char *dir, const char *name)
{
    static char buf[16][1024];
    static int k;
    char *p = buf[k++ % 16];
    char tmp[1024]; /* dir may live in buf itself */
    int n = snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < sizeof tmp);
    memcpy(p, tmp, sizeof tmp);
    return p;
}

/* Run the reference script with args; its stdout goes to *out when given. */
static int run_ref(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s", PY, SCRIPT, args);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (len + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int rc = pclose(p);
    if (out)
        *out = buf;
    else {
        if (rc != 0) printf("%s\n", buf);
        free(buf);
    }
    return rc;
}

static float *read_f32_file(const char *path, size_t count)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    float *x = malloc(count * sizeof *x + 4);
    ck_assert_uint_eq(fread(x, sizeof *x, count + 1, f), count); /* exactly count floats */
    fclose(f);
    return x;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Compare a Python dump (manifest + raw files) with params laid out by
 * the table of cfg. Every table entry must be in the dump and vice versa. */
static void check_dump_against(const char *dump_in, const rb_config *cfg, const float *params)
{
    char dumpdir[1024]; /* join's ring buffer is reused below */
    snprintf(dumpdir, sizeof dumpdir, "%s", dump_in);
    rb_param_table t;
    ck_assert_int_eq(rb_param_table_build(&t, cfg, NULL), RB_OK);
    FILE *m = fopen(join(dumpdir, "manifest.txt"), "r");
    ck_assert(m != NULL);
    char line[512];
    int seen = 0;
    while (fgets(line, sizeof line, m)) {
        char name[256], dtype[32];
        long long d0 = 0, d1 = 0;
        int nf = sscanf(line, "%255s %31s %lld %lld", name, dtype, &d0, &d1);
        ck_assert_int_ge(nf, 3);
        int i = rb_param_table_find(&t, name);
        ck_assert_msg(i >= 0, "python sees tensor %s, which is not a parameter", name);
        const rb_param *p = &t.items[i];
        ck_assert_str_eq(dtype, "float32");
        ck_assert_int_eq(nf - 2, p->ndim);
        ck_assert_int_eq(d0, p->rows);
        if (p->ndim == 2) ck_assert_int_eq(d1, p->cols);
        char fname[300];
        snprintf(fname, sizeof fname, "%s.f32", name);
        float *ref = read_f32_file(join(dumpdir, fname), p->numel);
        ck_assert_msg(memcmp(ref, params + p->offset, p->numel * 4) == 0, "%s differs", name);
        free(ref);
        seen++;
    }
    fclose(m);
    ck_assert_int_eq(seen, t.count);
    rb_param_table_free(&t);
}

START_TEST(test_asset_equals_python_reading)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(HF, NULL, &m, &err) == RB_OK, "%s", err.msg);
    char dump[1024];
    snprintf(dump, sizeof dump, "%s", join(rb_test_tmpdir(), "asset_dump"));
    char args[3072];
    snprintf(args, sizeof args, "dump '%s' '%s'", join(HF, "model.safetensors"), dump);
    ck_assert_int_eq(run_ref(args, NULL), 0);
    check_dump_against(dump, &m.cfg, m.params);

    /* The generic reader agrees tensor by tensor, zero-copy views too. */
    rb_safetensors *st;
    ck_assert_int_eq(rb_st_open(&st, join(HF, "model.safetensors"), &err), RB_OK);
    for (int i = 0; i < rb_st_count(st); i++) {
        const rb_st_tensor *x = rb_st_at(st, i);
        char fname[300];
        snprintf(fname, sizeof fname, "%s.f32", x->name);
        float *ref = read_f32_file(join(dump, fname), x->numel);
        const float *v = rb_st_f32_view(st, x);
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(memcmp(v, ref, x->numel * 4), 0);
        free(ref);
    }
    rb_st_close(st);
    rb_loaded_model_free(&m);
}
END_TEST

START_TEST(test_half_conversions_match_numpy_and_torch)
{
    char file[1024], out[1024];
    snprintf(file, sizeof file, "%s", join(rb_test_tmpdir(), "halves.safetensors"));
    snprintf(out, sizeof out, "%s", join(rb_test_tmpdir(), "halves_ref"));
    char args[3072];
    snprintf(args, sizeof args, "halves '%s' '%s'", file, out);
    ck_assert_int_eq(run_ref(args, NULL), 0);
    rb_safetensors *st;
    rb_error err = {0};
    ck_assert_msg(rb_st_open(&st, file, &err) == RB_OK, "%s", err.msg);
    const char *names[2] = {"f16", "bf16"};
    const rb_st_dtype types[2] = {RB_ST_F16, RB_ST_BF16};
    for (int k = 0; k < 2; k++) {
        const rb_st_tensor *t = rb_st_find(st, names[k]);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(t->dtype, types[k]);
        ck_assert_uint_eq(t->numel, 65536);
        float *got = malloc(65536 * sizeof *got);
        ck_assert_int_eq(rb_st_read_f32(st, t, got, &err), RB_OK);
        char fname[64];
        snprintf(fname, sizeof fname, "%s.f32", names[k]);
        float *ref = read_f32_file(join(out, fname), 65536);
        int nan = 0;
        for (int i = 0; i < 65536; i++) {
            if (isnan(ref[i])) { /* payload handling of NaN is the library's own */
                ck_assert_msg(isnan(got[i]), "%s pattern 0x%04x", names[k], i);
                nan++;
                continue;
            }
            ck_assert_msg(bits(got[i]) == bits(ref[i]), "%s pattern 0x%04x: %a vs %a", names[k],
                          i, (double)got[i], (double)ref[i]);
        }
        ck_assert_int_eq(nan, k == 0 ? 2046 : 254);
        free(ref);
        free(got);
    }
    rb_st_close(st);
}
END_TEST

START_TEST(test_python_reads_our_folders)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(HF, NULL, &m, &err) == RB_OK, "%s", err.msg);
    const char *dir = join(rb_test_tmpdir(), "ours");
    ck_assert_msg(rb_hf_folder_save(dir, &m.cfg, m.params, NULL, 1, 2, &err) == RB_OK, "%s",
                  err.msg);
    char args[3072];
    snprintf(args, sizeof args, "compare '%s' '%s'", join(dir, "model.safetensors"),
             join(HF, "model.safetensors"));
    ck_assert_int_eq(run_ref(args, NULL), 0);
    rb_loaded_model_free(&m);

    /* An untied OLMo-2 model with explicit head_dim. */
    rb_config c;
    rb_config_defaults(&c);
    c.block = RB_BLOCK_OLMO2;
    c.vocab_size = 50;
    c.dim = 24;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 10;
    c.hidden_dim = 40;
    c.max_seq_len = 64;
    c.n_prelude = 2;
    ck_assert_int_eq(rb_config_finalize(&c, NULL), RB_OK);
    rb_param_table t;
    rb_param_table_build(&t, &c, NULL);
    float *p = malloc(t.total * sizeof *p);
    rb_test_fill_uniform(p, t.total, 2.0f, 99);
    const char *d2 = join(rb_test_tmpdir(), "olmo");
    ck_assert_msg(rb_hf_folder_save(d2, &c, p, NULL, -1, 7, &err) == RB_OK, "%s", err.msg);
    const char *dump = join(rb_test_tmpdir(), "olmo_dump");
    snprintf(args, sizeof args, "dump '%s' '%s'", join(d2, "model.safetensors"), dump);
    ck_assert_int_eq(run_ref(args, NULL), 0);
    check_dump_against(dump, &c, p);
    rb_param_table_free(&t);
    free(p);
}
END_TEST

START_TEST(test_python_reads_checkpoint_metadata)
{
    rb_loaded_model m;
    rb_error err = {0};
    ck_assert_msg(rb_load_hf_folder(HF, NULL, &m, &err) == RB_OK, "%s", err.msg);
    const char *ck = join(rb_test_tmpdir(), "ck.safetensors");
    const char *k[2] = {"note", "step"};
    const char *v[2] = {"quote \" backslash \\ newline \n tab \t caf\xc3\xa9 \xf0\x9f\x99\x82",
                        "42"};
    ck_assert_msg(rb_checkpoint_save(ck, &m.cfg, m.params, NULL, k, v, 2, &err) == RB_OK, "%s",
                  err.msg);
    char args[3072], *out = NULL;
    snprintf(args, sizeof args, "metadata '%s' format note step config", ck);
    ck_assert_int_eq(run_ref(args, &out), 0);
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    const char *want[3] = {"retrobench", v[0], v[1]};
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(line);
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(cJSON_IsString(j), "%s", line);
        ck_assert_str_eq(j->valuestring, want[i]);
        cJSON_Delete(j);
        line = strtok_r(NULL, "\n", &save);
    }
    ck_assert_ptr_nonnull(line);
    cJSON *j = cJSON_Parse(line);
    ck_assert(cJSON_IsString(j));
    rb_config back;
    ck_assert_msg(rb_config_from_json(j->valuestring, &back, "python", &err) == RB_OK, "%s",
                  err.msg);
    ck_assert_int_eq(memcmp(&back, &m.cfg, sizeof back), 0);
    cJSON_Delete(j);
    free(out);
    rb_loaded_model_free(&m);
}
END_TEST

int main(void)
{
    HF = rb_test_asset_or_skip("stories260K-hf/model.safetensors");
    HF = strndup(HF, strlen(HF) - strlen("/model.safetensors"));
    const char *src = getenv("RB_SOURCE_DIR");
    snprintf(PY, sizeof PY, "%s/.venv/bin/python", src ? src : ".");
    snprintf(SCRIPT, sizeof SCRIPT, "%s/tests/integration/test_io_hf_reference.py",
             src ? src : ".");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import safetensors, numpy, torch' >/dev/null 2>&1", PY);
    if (system(cmd) != 0) {
        printf("SKIP: needs %s with safetensors, numpy and torch, which is absent\n", PY);
        return RB_TEST_SKIP;
    }
    Suite *s = suite_create("io_hf_python");
    TCase *tc = tcase_create("python");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_asset_equals_python_reading);
    tcase_add_test(tc, test_half_conversions_match_numpy_and_torch);
    tcase_add_test(tc, test_python_reads_our_folders);
    tcase_add_test(tc, test_python_reads_checkpoint_metadata);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
