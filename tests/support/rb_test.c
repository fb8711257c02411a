/* rb_test.c: shared test helpers (see rb_test.h). */
#define _GNU_SOURCE
#include "rb_test.h"

#include "blas_env.h"
#include "rb_backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Test programs get the same OpenBLAS kernels as retrobench itself: under
 * hypervisors that hide the CPU model OpenBLAS falls back to its slowest
 * x86 kernels, and the program re-executes itself with OPENBLAS_CORETYPE
 * set (app/blas_env.c). The same happens here, before main, with the
 * arguments read back from /proc/self/cmdline. */
__attribute__((constructor)) static void rb_test_blas_fix(void)
{
    static char buf[8192];
    static char *argv[64];
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == 0 || n >= sizeof buf - 1) return; /* unreadable or too long: keep the detected kernels */
    buf[n] = '\0';
    int argc = 0;
    for (size_t i = 0; i < n && argc < 63; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
    argv[argc] = NULL;
    rb_blas_env_fix(argc, argv);
}

static char ring[8][4096];
static int ring_pos;

static char *next_slot(void)
{
    char *s = ring[ring_pos];
    ring_pos = (ring_pos + 1) % 8;
    return s;
}

const char *rb_test_asset(const char *relpath)
{
    const char *dir = getenv("RB_ASSETS_DIR");
    char *s = next_slot();
    snprintf(s, sizeof ring[0], "%s/%s", dir ? dir : "../shared/assets", relpath);
    return access(s, R_OK) == 0 ? s : NULL;
}

const char *rb_test_asset_or_skip(const char *relpath)
{
    const char *p = rb_test_asset(relpath);
    if (!p) {
        const char *dir = getenv("RB_ASSETS_DIR");
        printf("SKIP: needs %s/%s, which is absent\n", dir ? dir : "../shared/assets", relpath);
        exit(RB_TEST_SKIP);
    }
    return p;
}

const char *rb_test_source_path(const char *relpath)
{
    const char *dir = getenv("RB_SOURCE_DIR");
    char *s = next_slot();
    snprintf(s, sizeof ring[0], "%s/%s", dir ? dir : ".", relpath);
    return s;
}

static char tmpdir_path[256];
static pid_t tmpdir_owner;

/* libcheck forks a child per test and the child exits through atexit: only
 * the process that made the directory may remove it. */
static void remove_tmpdir(void)
{
    if (tmpdir_path[0] && getpid() == tmpdir_owner) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
        if (system(cmd) != 0) { /* best effort */ }
    }
}

const char *rb_test_tmpdir(void)
{
    if (!tmpdir_path[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir_path, sizeof tmpdir_path, "%s/rbtest.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmpdir_path)) {
            perror("mkdtemp");
            abort();
        }
        tmpdir_owner = getpid();
        atexit(remove_tmpdir);
    }
    return tmpdir_path;
}

const char *rb_test_tmp_path(const char *name)
{
    char *s = next_slot();
    snprintf(s, sizeof ring[0], "%s/%s", rb_test_tmpdir(), name);
    return s;
}

void rb_test_fill_uniform(float *x, size_t n, float scale, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0; /* [0,1) */
        x[i] = (float)((2.0 * u - 1.0) * scale);
    }
}

double rb_test_max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

static double rel_max(double num, double den)
{
    if (isnan(num)) return INFINITY;
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return num / den;
}

double rb_test_rel_max_diff(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= num)) num = d; /* also propagates NaN */
        den = fmax(den, fabs((double)b[i]));
    }
    return rel_max(num, den);
}

double rb_test_rel_max_diff_d(const float *a, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= num)) num = d;
        den = fmax(den, fabs(ref[i]));
    }
    return rel_max(num, den);
}

int rb_test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

static rb_backend *test_backend;

static void destroy_test_backend(void)
{
    rb_backend_destroy(test_backend);
    test_backend = NULL;
}

rb_backend *rb_test_cpu_backend(void)
{
    if (!test_backend) {
        rb_error err = {0};
        if (rb_backend_cpu_create(&test_backend, &err) != RB_OK) {
            fprintf(stderr, "cannot create the CPU backend: %s\n", err.msg);
            abort();
        }
        atexit(destroy_test_backend);
    }
    return test_backend;
}

void rb_test_write_file(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_msg(fwrite(p, 1, bytes, f) == bytes, "short write to %s", path);
    fclose(f);
}

double *rb_test_read_doubles(const char *dir, const char *name, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "reference output %s missing", path);
    double *d = malloc(n * sizeof *d);
    ck_assert(d != NULL);
    ck_assert_msg(fread(d, sizeof *d, n, f) == n, "%s is short", path);
    fclose(f);
    return d;
}

int rb_test_torch_available(void)
{
    static int cached = -1;
    if (cached < 0) cached = system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
    return cached;
}
