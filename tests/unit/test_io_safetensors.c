/* test_io_safetensors.c: the safetensors reader and writer on files built
 * here. A valid file is written, then edited (header text, length field,
 * data area) into every malformation the reader must refuse; each refusal
 * must be a clean error whose message names the file. F16/BF16 conversion
 * is checked on all 65536 bit patterns against the IEEE definitions
 * (ldexp of sign, exponent and mantissa), and the atomic writer against an
 * injected write failure. The comparison with an outside reader (Python
 * safetensors) is in tests/integration/test_io_hf_python.c. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "rb_safetensors.h"
#include "rb_test.h"

/* ---------------- helpers ---------------- */

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

static const float A[6] = {1, 2, 3, 4, 5, 6};
static const uint16_t B16[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};
static const uint16_t C16[4] = {0x3f80, 0x4049, 0x8000, 0x7fc0};

/* The valid base file: a F32 [2,3], b F16 [4], c BF16 [2,2], metadata k=v. */
static const char *write_base(const char *name)
{
    const char *path = rb_test_tmp_path(name);
    rb_st_write_tensor t[3] = {
        {.name = "a", .dtype = RB_ST_F32, .ndim = 2, .shape = {2, 3}, .data = A},
        {.name = "b", .dtype = RB_ST_F16, .ndim = 1, .shape = {4}, .data = B16},
        {.name = "c", .dtype = RB_ST_BF16, .ndim = 2, .shape = {2, 2}, .data = C16},
    };
    const char *k[1] = {"k"}, *v[1] = {"v"};
    rb_error err = {0};
    ck_assert_msg(rb_st_write(path, t, 3, k, v, 1, &err) == RB_OK, "%s", err.msg);
    return path;
}

/* A file split into its header text and data area, for editing. */
typedef struct {
    char *header;
    unsigned char *data;
    size_t data_len;
} parts;

static parts split(const char *path)
{
    size_t n;
    unsigned char *b = read_all(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    parts p;
    p.header = strndup((const char *)b + 8, (size_t)hl);
    p.data_len = n - 8 - (size_t)hl;
    p.data = malloc(p.data_len + 64);
    memcpy(p.data, b + 8 + hl, p.data_len);
    free(b);
    return p;
}

/* Write header (its length in the 8-byte field, unless len_override >= 0)
 * and data. */
static void assemble(const char *path, const char *header, long long len_override,
                     const unsigned char *data, size_t data_len)
{
    size_t hl = strlen(header);
    uint64_t field = len_override >= 0 ? (uint64_t)len_override : (uint64_t)hl;
    unsigned char *b = malloc(8 + hl + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(field >> (8 * i));
    memcpy(b + 8, header, hl);
    memcpy(b + 8 + hl, data, data_len);
    write_all(path, b, 8 + hl + data_len);
    free(b);
}

/* header with the first occurrence of from replaced by to (must occur). */
static char *edit(const char *header, const char *from, const char *to)
{
    const char *at = strstr(header, from);
    ck_assert_msg(at != NULL, "'%s' not in header %s", from, header);
    size_t pre = (size_t)(at - header);
    char *s = malloc(strlen(header) + strlen(to) + 1);
    memcpy(s, header, pre);
    strcpy(s + pre, to);
    strcat(s, at + strlen(from));
    return s;
}

/* Open must fail with code and a message naming the file and holding want. */
static void expect_open_fails(const char *path, rb_status code, const char *want)
{
    rb_safetensors *st = NULL;
    rb_error err = {0};
    rb_status rc = rb_st_open(&st, path, &err);
    ck_assert_msg(rc == code, "%s: expected %s, got %s (%s)", path, rb_status_name(code),
                  rb_status_name(rc), err.msg);
    ck_assert(st == NULL);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, want) != NULL, "message lacks '%s': %s", want, err.msg);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "message is not one line: %s", err.msg);
}

/* Edit the base header (from -> to) and expect open to fail. */
static void expect_edit_fails(const char *name, const char *from, const char *to, rb_status code,
                              const char *want)
{
    parts p = split(write_base("base.safetensors"));
    char *h = edit(p.header, from, to);
    const char *path = rb_test_tmp_path(name);
    assemble(path, h, -1, p.data, p.data_len);
    expect_open_fails(path, code, want);
    free(h);
    free(p.header);
    free(p.data);
}

/* ---------------- reading what was written ---------------- */

START_TEST(test_roundtrip_layout)
{
    const char *path = write_base("rt.safetensors");
    size_t n;
    unsigned char *b = read_all(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    /* The spec's alignment: the data area starts at a multiple of 8, the
     * header padded with spaces; keys in a stable order. */
    ck_assert_uint_eq((8 + hl) % 8, 0);
    ck_assert_uint_eq(n, 8 + hl + 24 + 8 + 8);
    const char *want = "{\"__metadata__\":{\"k\":\"v\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                       "\"c\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]}}";
    ck_assert_int_eq(memcmp(b + 8, want, strlen(want)), 0);
    for (size_t i = 8 + strlen(want); i < 8 + hl; i++) ck_assert_int_eq(b[i], ' ');
    free(b);

    rb_safetensors *st;
    rb_error err = {0};
    ck_assert_msg(rb_st_open(&st, path, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rb_st_count(st), 3);
    ck_assert_str_eq(rb_st_at(st, 0)->name, "a");
    ck_assert_str_eq(rb_st_at(st, 2)->name, "c");
    ck_assert(rb_st_has_metadata(st));
    ck_assert_int_eq(rb_st_metadata_count(st), 1);
    ck_assert_str_eq(rb_st_metadata_get(st, "k"), "v");
    ck_assert_ptr_null(rb_st_metadata_get(st, "nope"));
    ck_assert_ptr_null(rb_st_find(st, "zz"));

    const rb_st_tensor *a = rb_st_find(st, "a");
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->ndim, 2);
    ck_assert_int_eq(a->shape[0], 2);
    ck_assert_int_eq(a->shape[1], 3);
    ck_assert_uint_eq(a->numel, 6);
    const float *view = rb_st_f32_view(st, a);
    ck_assert_ptr_nonnull(view); /* mmap'd and 8-aligned data area: zero-copy */
    ck_assert_ptr_eq((const void *)view, rb_st_data(st, a));
    ck_assert_int_eq(memcmp(view, A, sizeof A), 0);

    float out[6];
    const rb_st_tensor *bt = rb_st_find(st, "b");
    ck_assert_ptr_null(rb_st_f32_view(st, bt));
    ck_assert_int_eq(rb_st_read_f32(st, bt, out, &err), RB_OK);
    ck_assert(out[0] == 1.0f && out[1] == -2.0f && out[2] == ldexpf(1, -24) && isinf(out[3]));
    ck_assert_int_eq(rb_st_read_f32(st, rb_st_find(st, "c"), out, &err), RB_OK);
    ck_assert(out[0] == 1.0f && out[1] == 3.140625f && out[2] == 0.0f && signbit(out[2]) &&
              isnan(out[3]));
    rb_st_close(st);
}
END_TEST

START_TEST(test_open_memory_and_edge_tensors)
{
    /* Zero-element and scalar tensors, no metadata, unaligned bytes. */
    const char *path = rb_test_tmp_path("edge.safetensors");
    float one = 7.5f;
    uint16_t h2[3] = {0x3c00, 0x3c00, 0x3c00};
    rb_st_write_tensor t[3] = {
        {.name = "empty", .dtype = RB_ST_F32, .ndim = 2, .shape = {0, 5}, .data = NULL},
        {.name = "scalar", .dtype = RB_ST_F32, .ndim = 0, .data = &one},
        {.name = "h", .dtype = RB_ST_F16, .ndim = 1, .shape = {3}, .data = h2},
    };
    rb_error err = {0};
    ck_assert_msg(rb_st_write(path, t, 3, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    size_t n;
    unsigned char *b = read_all(path, &n);
    unsigned char *shifted = malloc(n + 1);
    memcpy(shifted + 1, b, n); /* misaligned copy: F32 view must refuse */
    rb_safetensors *st;
    ck_assert_msg(rb_st_open_memory(&st, shifted + 1, n, "mem", &err) == RB_OK, "%s", err.msg);
    ck_assert(!rb_st_has_metadata(st));
    const rb_st_tensor *e = rb_st_find(st, "empty");
    ck_assert_uint_eq(e->numel, 0);
    const rb_st_tensor *s = rb_st_find(st, "scalar");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_uint_eq(s->numel, 1);
    ck_assert_ptr_null(rb_st_f32_view(st, s));
    float x = 0;
    ck_assert_int_eq(rb_st_read_f32(st, s, &x, &err), RB_OK);
    ck_assert(x == 7.5f);
    rb_st_close(st);
    free(shifted);
    free(b);
}
END_TEST

START_TEST(test_metadata_escapes)
{
    const char *path = rb_test_tmp_path("meta.safetensors");
    const char *k[3] = {"quote\"key", "nl", "utf8"};
    const char *v[3] = {"back\\slash", "line1\nline2\ttab\x01", "caf\xc3\xa9 \xe2\x82\xac"};
    rb_error err = {0};
    ck_assert_msg(rb_st_write(path, NULL, 0, k, v, 3, &err) == RB_OK, "%s", err.msg);
    rb_safetensors *st;
    ck_assert_msg(rb_st_open(&st, path, &err) == RB_OK, "%s", err.msg);
    ck_assert_int_eq(rb_st_count(st), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(rb_st_metadata_key(st, i), k[i]);
        ck_assert_str_eq(rb_st_metadata_value(st, i), v[i]);
    }
    rb_st_close(st);
}
END_TEST

START_TEST(test_writer_refuses_bad_input)
{
    const char *path = rb_test_tmp_path("bad_write.safetensors");
    float x[2] = {1, 2};
    rb_error err = {0};
    rb_st_write_tensor dup[2] = {
        {.name = "w", .dtype = RB_ST_F32, .ndim = 1, .shape = {1}, .data = x},
        {.name = "w", .dtype = RB_ST_F32, .ndim = 1, .shape = {1}, .data = x + 1},
    };
    ck_assert_int_eq(rb_st_write(path, dup, 2, NULL, NULL, 0, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "twice") != NULL);
    rb_st_write_tensor res = {.name = "__metadata__", .dtype = RB_ST_F32, .ndim = 1,
                              .shape = {1}, .data = x};
    ck_assert_int_eq(rb_st_write(path, &res, 1, NULL, NULL, 0, &err), RB_EINVAL);
    const char *k[1] = {"k"}, *v[1] = {"\xff\xfe"};
    ck_assert_int_eq(rb_st_write(path, NULL, 0, k, v, 1, &err), RB_EINVAL);
    ck_assert(strstr(err.msg, "UTF-8") != NULL);
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing written */
}
END_TEST

/* ---------------- malformed files ---------------- */

START_TEST(test_too_short)
{
    const char *path = rb_test_tmp_path("short.safetensors");
    write_all(path, "\x10\0\0", 3);
    expect_open_fails(path, RB_EFORMAT, "shorter than the 8-byte header");
}
END_TEST

START_TEST(test_header_length_past_file)
{
    parts p = split(write_base("base.safetensors"));
    const char *path = rb_test_tmp_path("hlen_big.safetensors");
    assemble(path, p.header, (long long)strlen(p.header) + 1000, p.data, p.data_len);
    expect_open_fails(path, RB_EFORMAT, "exceeds");
    /* A length that cuts the JSON short. */
    path = rb_test_tmp_path("hlen_small.safetensors");
    assemble(path, p.header, (long long)strlen(p.header) - 9, p.data, p.data_len);
    expect_open_fails(path, RB_EFORMAT, "not valid JSON");
    /* A length that swallows data bytes after the JSON. */
    path = rb_test_tmp_path("hlen_plus.safetensors");
    assemble(path, p.header, (long long)strlen(p.header) + 4, p.data, p.data_len);
    expect_open_fails(path, RB_EFORMAT, "after the header's JSON");
    free(p.header);
    free(p.data);
}
END_TEST

START_TEST(test_header_length_over_limit)
{
    /* 100 MB + 1 of header in a sparse file of that size: the limit, not
     * the file size, must refuse it. */
    const char *path = rb_test_tmp_path("huge_header.safetensors");
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    ck_assert(fd >= 0);
    uint64_t hl = ((uint64_t)100 << 20) + 1;
    unsigned char b[9];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
    b[8] = '{';
    ck_assert(write(fd, b, 9) == 9);
    ck_assert(ftruncate(fd, (off_t)(8 + hl + 16)) == 0);
    close(fd);
    expect_open_fails(path, RB_EFORMAT, "100 MB");
    unlink(path);
}
END_TEST

START_TEST(test_header_not_json)
{
    expect_edit_fails("notjson.safetensors", "\"dtype\":\"F32\"", "\"dtype\":F32", RB_EFORMAT,
                      "not valid JSON");
    expect_edit_fails("nobrace.safetensors", "{\"__metadata__\"", "[\"__metadata__\"",
                      RB_EFORMAT, "does not start with '{'");
}
END_TEST

START_TEST(test_truncated)
{
    const char *base = write_base("base.safetensors");
    size_t n;
    unsigned char *b = read_all(base, &n);
    const char *path = rb_test_tmp_path("trunc.safetensors");
    write_all(path, b, n - 4);
    expect_open_fails(path, RB_EFORMAT, "past the end");
    write_all(path, b, 20); /* inside the header */
    expect_open_fails(path, RB_EFORMAT, "exceeds");
    free(b);
}
END_TEST

START_TEST(test_offsets_past_end)
{
    expect_edit_fails("past.safetensors", "[32,40]", "[32,48]", RB_EFORMAT, "past the end");
}
END_TEST

START_TEST(test_overlap)
{
    expect_edit_fails("overlap.safetensors", "[24,32]", "[16,24]", RB_EFORMAT, "overlap");
}
END_TEST

START_TEST(test_hole_and_trailing_bytes)
{
    parts p = split(write_base("base.safetensors"));
    /* 8 unclaimed bytes between b and c. */
    char *h = edit(p.header, "[32,40]", "[40,48]");
    memset(p.data + p.data_len, 0, 8);
    const char *path = rb_test_tmp_path("hole.safetensors");
    assemble(path, h, -1, p.data, p.data_len + 8);
    expect_open_fails(path, RB_EFORMAT, "belong to no tensor");
    /* 8 unclaimed bytes after the last tensor. */
    path = rb_test_tmp_path("trailing.safetensors");
    assemble(path, p.header, -1, p.data, p.data_len + 8);
    expect_open_fails(path, RB_EFORMAT, "after the last tensor");
    free(h);
    free(p.header);
    free(p.data);
}
END_TEST

START_TEST(test_dtypes)
{
    expect_edit_fails("q4.safetensors", "\"F32\"", "\"Q4_K\"", RB_EUNSUPPORTED, "Q4_K");
    /* Known but not a float type: the file is valid, reading it is not. */
    parts p = split(write_base("base.safetensors"));
    char *h = edit(p.header, "\"F32\"", "\"I32\"");
    const char *path = rb_test_tmp_path("i32.safetensors");
    assemble(path, h, -1, p.data, p.data_len);
    rb_safetensors *st;
    rb_error err = {0};
    ck_assert_msg(rb_st_open(&st, path, &err) == RB_OK, "%s", err.msg);
    float out[6];
    ck_assert_int_eq(rb_st_read_f32(st, rb_st_find(st, "a"), out, &err), RB_EUNSUPPORTED);
    ck_assert(strstr(err.msg, path) && strstr(err.msg, "'a'") && strstr(err.msg, "I32"));
    rb_st_close(st);
    free(h);
    free(p.header);
    free(p.data);
}
END_TEST

START_TEST(test_shape_mismatch_and_overflow)
{
    expect_edit_fails("shape.safetensors", "[2,3]", "[3,3]", RB_EFORMAT, "needs 36 bytes");
    expect_edit_fails("ovf.safetensors", "[2,3]", "[4294967296,4294967296,16]", RB_EFORMAT,
                      "overflow");
    expect_edit_fails("negshape.safetensors", "[2,3]", "[2,-3]", RB_EFORMAT, "non-negative");
    expect_edit_fails("ndim.safetensors", "[2,3]", "[1,1,1,1,1,1,1,2,3]", RB_EUNSUPPORTED,
                      "dimensions");
}
END_TEST

START_TEST(test_entry_fields)
{
    expect_edit_fails("nooff.safetensors", "\"data_offsets\":[0,24]", "\"offsets\":[0,24]",
                      RB_EFORMAT, "data_offsets");
    expect_edit_fails("fracoff.safetensors", "[0,24]", "[0.5,24]", RB_EFORMAT, "data_offsets");
    expect_edit_fails("backoff.safetensors", "[0,24]", "[24,0]", RB_EFORMAT, "end before");
    expect_edit_fails("nodtype.safetensors", "\"dtype\":\"F16\"", "\"dtype\":16", RB_EFORMAT,
                      "dtype");
    expect_edit_fails("entry.safetensors", "\"c\":{", "\"c\":7,\"d\":{", RB_EFORMAT,
                      "expected an object");
}
END_TEST

START_TEST(test_duplicates_and_metadata)
{
    expect_edit_fails("dup.safetensors", "\"b\":{", "\"a\":{", RB_EFORMAT, "twice");
    expect_edit_fails("metanum.safetensors", "{\"k\":\"v\"}", "{\"k\":5}", RB_EFORMAT,
                      "must be strings");
    expect_edit_fails("metaarr.safetensors", "{\"k\":\"v\"}", "[\"v\"]", RB_EFORMAT,
                      "__metadata__");
}
END_TEST

/* ---------------- float conversion ---------------- */

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

START_TEST(test_f16_all_values)
{
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float got = rb_st_f16_to_f32((uint16_t)h);
        if (e == 31 && m != 0) {
            ck_assert_msg(isnan(got) && (signbit(got) != 0) == s &&
                              (bits_of(got) & 0x7fffffu) == (uint32_t)m << 13,
                          "f16 0x%04x", h);
            continue;
        }
        double ref = e == 31 ? INFINITY : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
        float want = (float)(s ? -ref : ref);
        ck_assert_msg(bits_of(got) == bits_of(want), "f16 0x%04x: got %a want %a", h,
                      (double)got, (double)want);
    }
}
END_TEST

START_TEST(test_bf16_all_values)
{
    for (uint32_t h = 0; h < 65536; h++) {
        int s = h >> 15, e = (h >> 7) & 255, m = h & 127;
        float got = rb_st_bf16_to_f32((uint16_t)h);
        if (e == 255 && m != 0) {
            ck_assert_msg(isnan(got) && (bits_of(got) & 0x7fffffu) == (uint32_t)m << 16,
                          "bf16 0x%04x", h);
            continue;
        }
        double ref = e == 255 ? INFINITY : e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
        float want = (float)(s ? -ref : ref);
        ck_assert_msg(bits_of(got) == bits_of(want), "bf16 0x%04x", h);
    }
}
END_TEST

/* ---------------- atomic writes ---------------- */

static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

START_TEST(test_atomic_failure_keeps_previous)
{
    const char *path = write_base("atomic.safetensors");
    size_t n0;
    unsigned char *before = read_all(path, &n0);

    float big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (float)i;
    rb_st_write_tensor t = {.name = "big", .dtype = RB_ST_F32, .ndim = 1, .shape = {1000},
                            .data = big};
    rb_error err = {0};
    rb_atomic_file_fail_after(2000); /* dies in the middle of the data */
    rb_status rc = rb_st_write(path, &t, 1, NULL, NULL, 0, &err);
    rb_atomic_file_fail_after(-1);
    ck_assert_int_eq(rc, RB_EIO);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s", err.msg);

    size_t n1;
    unsigned char *after = read_all(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_int_eq(memcmp(before, after, n0), 0);
    ck_assert_int_eq(count_temp_files(rb_test_tmpdir()), 0);

    /* The same write without the fault replaces the file. */
    ck_assert_msg(rb_st_write(path, &t, 1, NULL, NULL, 0, &err) == RB_OK, "%s", err.msg);
    rb_safetensors *st;
    ck_assert_int_eq(rb_st_open(&st, path, &err), RB_OK);
    ck_assert_int_eq(rb_st_count(st), 1);
    rb_st_close(st);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_atomic_missing_folder)
{
    rb_error err = {0};
    const char *path = rb_test_tmp_path("no/such/dir/x.safetensors");
    ck_assert_int_eq(rb_atomic_file_write_all(path, "x", 1, &err), RB_EIO);
    ck_assert(strstr(err.msg, path) != NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_safetensors");
    TCase *tc = tcase_create("rw");
    tcase_add_test(tc, test_roundtrip_layout);
    tcase_add_test(tc, test_open_memory_and_edge_tensors);
    tcase_add_test(tc, test_metadata_escapes);
    tcase_add_test(tc, test_writer_refuses_bad_input);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("malformed");
    tcase_add_test(bad, test_too_short);
    tcase_add_test(bad, test_header_length_past_file);
    tcase_add_test(bad, test_header_length_over_limit);
    tcase_add_test(bad, test_header_not_json);
    tcase_add_test(bad, test_truncated);
    tcase_add_test(bad, test_offsets_past_end);
    tcase_add_test(bad, test_overlap);
    tcase_add_test(bad, test_hole_and_trailing_bytes);
    tcase_add_test(bad, test_dtypes);
    tcase_add_test(bad, test_shape_mismatch_and_overflow);
    tcase_add_test(bad, test_entry_fields);
    tcase_add_test(bad, test_duplicates_and_metadata);
    suite_add_tcase(s, bad);
    TCase *cv = tcase_create("convert");
    tcase_add_test(cv, test_f16_all_values);
    tcase_add_test(cv, test_bf16_all_values);
    suite_add_tcase(s, cv);
    TCase *at = tcase_create("atomic");
    tcase_add_test(at, test_atomic_failure_keeps_previous);
    tcase_add_test(at, test_atomic_missing_folder);
    suite_add_tcase(s, at);
    return rb_test_run_suite(s);
}
