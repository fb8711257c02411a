/* rb_test.h: helpers shared by the libcheck suites.
 *
 * Suites exit with RB_TEST_SKIP (77, ctest's SKIP_RETURN_CODE) when what they
 * need (an asset, python3-torch) is absent, after saying what was missing. */
#ifndef RB_TEST_H
#define RB_TEST_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#define RB_TEST_SKIP 77

/* Path of an asset under ../shared/assets (RB_ASSETS_DIR), or NULL if the
 * file does not exist. The string is owned by a static ring buffer. */
const char *rb_test_asset(const char *relpath);
/* Same, but when absent prints "SKIP: ..." and exits with RB_TEST_SKIP. */
const char *rb_test_asset_or_skip(const char *relpath);
/* Path relative to the source tree (RB_SOURCE_DIR). */
const char *rb_test_source_path(const char *relpath);
/* A fresh temporary directory, removed (recursively) at exit. */
const char *rb_test_tmpdir(void);

/* rb_test_tmpdir()/name, in a static ring of 8 buffers. */
const char *rb_test_tmp_path(const char *name);

/* Deterministic fill in [-scale, scale] (xorshift from seed). */
void rb_test_fill_uniform(float *x, size_t n, float scale, uint64_t seed);
/* max |a - b| / max |b| (b is the reference); 0/0 counts as 0. */
double rb_test_rel_max_diff(const float *a, const float *b, size_t n);
/* the same against a double-precision reference */
double rb_test_rel_max_diff_d(const float *a, const double *ref, size_t n);
double rb_test_max_abs(const float *x, size_t n);

/* Case folders shared with a Python oracle: write bytes to dir/name; read
 * n doubles from dir/name (malloc'd). Both fail the running test on error. */
void rb_test_write_file(const char *dir, const char *name, const void *p, size_t bytes);
double *rb_test_read_doubles(const char *dir, const char *name, size_t n);
/* Whether /usr/bin/python3 imports torch and numpy (Debian's python3-torch). */
int rb_test_torch_available(void);

/* The CPU backend for a suite (created on first use, destroyed at exit);
 * aborts with the engine's message if it cannot be created. */
struct rb_backend;
struct rb_backend *rb_test_cpu_backend(void);

/* Run a Suite with CK_NORMAL output and return the process exit status. */
int rb_test_run_suite(Suite *s);

#endif
