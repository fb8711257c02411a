/* test_tok_common.h: small helpers shared by the tokenizer test suites
 * (reading files and JSON lines, hex, running the reference Python,
 * random UTF-8, comparing id lists). Header-only: every suite is its own
 * executable. */
#ifndef TEST_TOK_COMMON_H
#define TEST_TOK_COMMON_H

#define _GNU_SOURCE
#include <check.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rb_test.h"
#include "rb_tokenizer.h"

/* Whole file, NUL-terminated; NULL if unreadable. */
static inline char *tokt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static inline int tokt_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

/* Hex string -> malloc'd bytes (NUL-terminated). */
static inline char *tokt_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = 0;
    *len = n;
    return out;
}

/* The lines of a JSON-lines file, parsed; *n gets the count. */
static inline cJSON **tokt_read_jsonl(const char *path, int *n)
{
    size_t len;
    char *data = tokt_read_file(path, &len);
    *n = 0;
    if (!data) return NULL;
    int cap = 64;
    cJSON **rows = malloc((size_t)cap * sizeof *rows);
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!line[0]) continue;
        if (*n == cap) rows = realloc(rows, (size_t)(cap *= 2) * sizeof *rows);
        rows[(*n)++] = cJSON_Parse(line);
    }
    free(data);
    return rows;
}

static inline void tokt_free_jsonl(cJSON **rows, int n)
{
    for (int i = 0; i < n; i++) cJSON_Delete(rows[i]);
    free(rows);
}

/* ids array of a JSON row -> malloc'd int32 list */
static inline int32_t *tokt_json_ids(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    size_t i = 0;
    for (const cJSON *x = arr ? arr->child : NULL; x; x = x->next) v[i++] = (int32_t)x->valuedouble;
    return v;
}

static inline void tokt_print_ids(const char *label, const int32_t *v, size_t n)
{
    printf("  %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 64; i++) printf(" %d", v[i]);
    printf(n > 64 ? " ...\n" : "\n");
}

/* 1 if equal; otherwise prints both lists under the given text */
static inline int tokt_same_ids(const char *what, const char *text, const int32_t *got, size_t ng,
                                const int32_t *want, size_t nw)
{
    int same = ng == nw && (ng == 0 || memcmp(got, want, ng * sizeof *got) == 0);
    if (!same) {
        printf("MISMATCH %s for \"%.80s\"\n", what, text);
        tokt_print_ids("got ", got, ng);
        tokt_print_ids("want", want, nw);
    }
    return same;
}

/* The project's Python ($RB_SOURCE_DIR/.venv/bin/python) or NULL. */
static inline const char *tokt_python(void)
{
    static char path[4096];
    const char *src = getenv("RB_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/.venv/bin/python", src ? src : ".");
    return access(path, X_OK) == 0 ? path : NULL;
}

/* Run a shell command; its exit status (or -1). */
static inline int tokt_system(const char *cmd)
{
    fflush(stdout);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static inline double tokt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t tokt_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* nchars random valid UTF-8 characters (1-4 byte forms, no surrogates, no
 * NUL) into buf (room for 4 * nchars + 1); returns the byte length. */
static inline size_t tokt_rand_utf8(uint64_t *rng, char *buf, size_t nchars)
{
    size_t k = 0;
    for (size_t i = 0; i < nchars; i++) {
        uint32_t cp;
        switch (tokt_rand(rng) % 6) {
        case 0: case 1: case 2: cp = 1 + (uint32_t)(tokt_rand(rng) % 0x7F); break;
        case 3: cp = 0x80 + (uint32_t)(tokt_rand(rng) % (0x800 - 0x80)); break;
        case 4:
            do cp = 0x800 + (uint32_t)(tokt_rand(rng) % (0x10000 - 0x800));
            while (cp >= 0xD800 && cp <= 0xDFFF);
            break;
        default: cp = 0x10000 + (uint32_t)(tokt_rand(rng) % (0x110000 - 0x10000)); break;
        }
        unsigned char *o = (unsigned char *)buf + k;
        if (cp < 0x80) { o[0] = (unsigned char)cp; k += 1; }
        else if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); k += 2; }
        else if (cp < 0x10000) {
            o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            o[2] = (unsigned char)(0x80 | (cp & 0x3F)); k += 3;
        } else {
            o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F)); k += 4;
        }
    }
    buf[k] = 0;
    return k;
}

/* Load a tokenizer or fail the current test with the error message. */
static inline rb_tokenizer *tokt_load(const char *path)
{
    rb_tokenizer *t = NULL;
    rb_error e = {0};
    rb_status st = rb_tokenizer_load_file(&t, path, &e);
    ck_assert_msg(st == RB_OK, "loading %s: %s", path, e.msg);
    return t;
}

#endif
