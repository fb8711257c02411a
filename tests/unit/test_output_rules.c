/* test_output_rules.c: outputs replace only regular files (rb_output.h):
 * what each kind of path gets, the atomic writer's checks at open and just
 * before its rename, the registry of temporary files a signal handler
 * removes, and the file-size limit reported as EFBIG with the temporary
 * file gone. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "rb_data.h"
#include "rb_output.h"
#include "rb_test.h"

static int exists(const char *p)
{
    struct stat sb;
    return lstat(p, &sb) == 0;
}

/* how many entries of dir start with prefix */
static int count_prefix(const char *dir, const char *prefix)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^%s'", dir, prefix);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p && fscanf(p, "%d", &n) != 1) n = 0;
    if (p) pclose(p);
    return n;
}

START_TEST(kinds_of_paths)
{
    rb_error err = {0};
    const char *reg = rb_test_tmp_path("reg"), *dir = rb_test_tmp_path("dir"), *fifo = rb_test_tmp_path("fifo");
    const char *link = rb_test_tmp_path("link"), *dev = rb_test_tmp_path("dev");
    FILE *f = fopen(reg, "w");
    fputs("x", f);
    fclose(f);
    ck_assert(mkdir(dir, 0755) == 0);
    ck_assert(mkfifo(fifo, 0644) == 0);
    ck_assert(symlink(reg, link) == 0);
    ck_assert_int_eq(rb_output_check(reg, &err), RB_OK);
    ck_assert_int_eq(rb_output_check(rb_test_tmp_path("absent"), &err), RB_OK);
    ck_assert_int_eq(rb_output_check(dir, &err), RB_EIO);
    ck_assert_msg(strstr(err.msg, dir) && strstr(err.msg, "folder"), "%s", err.msg);
    ck_assert_int_eq(rb_output_check(fifo, &err), RB_EIO);
    ck_assert_msg(strstr(err.msg, "FIFO"), "%s", err.msg);
    ck_assert_int_eq(rb_output_check(link, &err), RB_EIO);
    ck_assert_msg(strstr(err.msg, "symbolic link"), "%s", err.msg);
    if (mknod(dev, S_IFCHR | 0600, makedev(1, 3)) == 0) {
        ck_assert_int_eq(rb_output_check(dev, &err), RB_EIO);
        ck_assert_msg(strstr(err.msg, "character device"), "%s", err.msg);
    } else {
        printf("note: mknod not permitted here; the device case is covered by tests/cli/test_outputs.sh as root\n");
    }
    /* folders: a folder, a link to one, or nothing */
    const char *dlink = rb_test_tmp_path("dlink");
    ck_assert(symlink(dir, dlink) == 0);
    ck_assert_int_eq(rb_output_check_dir(dir, &err), RB_OK);
    ck_assert_int_eq(rb_output_check_dir(dlink, &err), RB_OK);
    ck_assert_int_eq(rb_output_check_dir(rb_test_tmp_path("nodir"), &err), RB_OK);
    ck_assert_int_eq(rb_output_check_dir(reg, &err), RB_EIO);
    ck_assert_msg(strstr(err.msg, "not a folder"), "%s", err.msg);
    ck_assert_int_eq(rb_output_check_dir(fifo, &err), RB_EIO);
    /* the atomic writer refuses them and leaves them as they were */
    const char *bad[] = {dir, fifo, link};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rb_atomic_file_write_all(bad[i], "new", 3, &err), RB_EIO);
        ck_assert_msg(strstr(err.msg, bad[i]) != NULL, "%s", err.msg);
    }
    struct stat sb;
    ck_assert(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
    ck_assert(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
    f = fopen(reg, "r");
    ck_assert_int_eq(fgetc(f), 'x');
    fclose(f);
    ck_assert(strstr(rb_output_errno_hint(ENOSPC), "disk is full") != NULL);
    ck_assert(strstr(rb_output_errno_hint(EFBIG), "file-size limit") != NULL);
    ck_assert_str_eq(rb_output_errno_hint(EIO), "");
}
END_TEST

/* A FIFO that appears at the destination while the file is written is
 * found just before the rename: refused, the temporary file removed. */
START_TEST(checked_again_before_the_rename)
{
    rb_error err = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/late", rb_test_tmpdir());
    ck_assert(mkdir(dir, 0755) == 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    rb_atomic_file f;
    ck_assert(rb_atomic_file_open(&f, path, &err) == RB_OK);
    ck_assert(rb_atomic_file_write(&f, "abc", 3, &err) == RB_OK);
    ck_assert(mkfifo(path, 0644) == 0);
    ck_assert_int_eq(rb_atomic_file_commit(&f, &err), RB_EIO);
    ck_assert_msg(strstr(err.msg, "FIFO"), "%s", err.msg);
    ck_assert_int_eq(count_prefix(dir, "out.bin.tmp"), 0);
    struct stat sb;
    ck_assert(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode));
}
END_TEST

static int n_each;
static void each(const char *path, int removed)
{
    (void)path;
    n_each += removed;
}

/* The registry: temporary files in progress are removed by
 * rb_output_remove_temporaries (what the SIGINT handler calls); committed
 * files are no longer registered. */
START_TEST(registry_of_temporaries)
{
    rb_error err = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/reg", rb_test_tmpdir());
    ck_assert(mkdir(dir, 0755) == 0);
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/a.bin", dir);
    snprintf(b, sizeof b, "%s/b.bin", dir);
    rb_atomic_file fa, fb;
    ck_assert(rb_atomic_file_open(&fa, a, &err) == RB_OK);
    ck_assert(rb_atomic_file_open(&fb, b, &err) == RB_OK);
    ck_assert(rb_atomic_file_write(&fb, "done", 4, &err) == RB_OK);
    ck_assert(rb_atomic_file_commit(&fb, &err) == RB_OK);
    ck_assert(exists(fa.tmp));
    n_each = 0;
    ck_assert_int_eq(rb_output_remove_temporaries(each), 1);
    ck_assert_int_eq(n_each, 1);
    ck_assert(!exists(fa.tmp));
    ck_assert(exists(b));
    rb_atomic_file_abort(&fa);
    ck_assert_int_eq(rb_output_remove_temporaries(NULL), 0);
    /* the token-file writer registers its temporary file too */
    char t[4200];
    snprintf(t, sizeof t, "%s/t.rbtok", dir);
    rb_tokwriter *w = NULL;
    ck_assert(rb_tokwriter_open(&w, t, 10, 0, &err) == RB_OK);
    ck_assert_int_eq(count_prefix(dir, "t.rbtok.tmp"), 1);
    ck_assert_int_eq(rb_output_remove_temporaries(NULL), 1);
    ck_assert_int_eq(count_prefix(dir, "t.rbtok.tmp"), 0);
    rb_tokwriter_abort(w);
    ck_assert_int_eq(rb_output_remove_temporaries(NULL), 0);
}
END_TEST

/* RLIMIT_FSIZE with SIGXFSZ ignored (as the program does): the write fails
 * with EFBIG, the message says so, the temporary file is removed and the
 * previous file is unchanged. */
START_TEST(file_size_limit)
{
    rb_error err = {0};
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/fsz", rb_test_tmpdir());
    ck_assert(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/big.bin", dir);
    ck_assert(rb_atomic_file_write_all(path, "old", 3, &err) == RB_OK);
    struct rlimit old, lim;
    ck_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 65536;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    size_t n = 1 << 20;
    char *buf = calloc(n, 1);
    rb_status st = rb_atomic_file_write_all(path, buf, n, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    free(buf);
    ck_assert_int_eq(st, RB_EIO);
    ck_assert_msg(strstr(err.msg, "File too large") && strstr(err.msg, "file-size limit"), "%s", err.msg);
    ck_assert_int_eq(count_prefix(dir, "big.bin.tmp"), 0);
    FILE *f = fopen(path, "r");
    char got[8] = "";
    ck_assert(fgets(got, sizeof got, f) != NULL);
    fclose(f);
    ck_assert_str_eq(got, "old");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("output_rules");
    TCase *tc = tcase_create("outputs");
    tcase_add_test(tc, kinds_of_paths);
    tcase_add_test(tc, checked_again_before_the_rename);
    tcase_add_test(tc, registry_of_temporaries);
    tcase_add_test(tc, file_size_limit);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
