/* test_io_gguf_util.h: small helpers shared by the GGUF and llama2.c
 * integration suites: running the Python reference scripts in tests/tools,
 * reading the raw float32 files they write, and comparing bit for bit.
 * Header-only (static functions) because the test glob builds one
 * executable per test_*.c file. */
#ifndef TEST_IO_GGUF_UTIL_H
#define TEST_IO_GGUF_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_io.h"
#include "rb_model.h"
#include "rb_test.h"

/* The project's Python, or exit with SKIP when it or its packages are
 * missing (call from main, before the suite forks). */
static inline const char *gguf_test_python_or_skip(void)
{
    static char py[1024];
    const char *src = getenv("RB_SOURCE_DIR");
    snprintf(py, sizeof py, "%s/.venv/bin/python", src ? src : ".");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy, gguf, safetensors' >/dev/null 2>&1", py);
    if (access(py, X_OK) != 0 || system(cmd) != 0) {
        printf("SKIP: needs %s with numpy, gguf and safetensors, which is absent\n", py);
        exit(RB_TEST_SKIP);
    }
    return py;
}

/* Run tests/tools/<script> with args through py; returns the exit status. */
static inline int gguf_test_run_tool(const char *py, const char *script, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s", py, rb_test_source_path(script), args);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* Whole file into a malloc'd buffer; NULL when it cannot be read. */
static inline void *gguf_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) *size = (size_t)n;
    return p;
}

static inline int gguf_test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

/* Compare n floats bit for bit with the raw float32 file dir/name.f32;
 * returns NULL when equal, else a static description of the first
 * difference. */
static inline const char *gguf_test_cmp_f32_file(const char *dir, const char *name, const float *x,
                                          size_t n)
{
    static char msg[2048];
    char path[1100];
    snprintf(path, sizeof path, "%.900s/%.150s.f32", dir, name);
    size_t size = 0;
    float *ref = gguf_test_read_file(path, &size);
    if (!ref) {
        snprintf(msg, sizeof msg, "%s: cannot read the reference", path);
        return msg;
    }
    if (size != n * sizeof(float)) {
        snprintf(msg, sizeof msg, "%s: reference has %zu floats, ours %zu", path,
                 size / sizeof(float), n);
        free(ref);
        return msg;
    }
    for (size_t i = 0; i < n; i++)
        if (memcmp(&x[i], &ref[i], sizeof(float)) != 0) {
            snprintf(msg, sizeof msg, "%s: element %zu differs: ours %.9g, reference %.9g", path,
                     i, (double)x[i], (double)ref[i]);
            free(ref);
            return msg;
        }
    free(ref);
    return NULL;
}

/* Pointer to parameter `name` of a loaded model, or NULL. */
static inline const float *gguf_test_param(const rb_loaded_model *m, const char *name, size_t *numel)
{
    rb_param_table t;
    if (rb_param_table_build(&t, &m->cfg, NULL) != RB_OK) return NULL;
    int i = rb_param_table_find(&t, name);
    const float *p = NULL;
    if (i >= 0) {
        p = m->params + t.items[i].offset;
        if (numel) *numel = t.items[i].numel;
    }
    rb_param_table_free(&t);
    return p;
}

#endif
