/* run_lock.c: the run folder's lock (see run_lock.h for why an OFD lock). */
#define _GNU_SOURCE
#include "run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rb_output.h"

/* The holder's record: one line "pid N host H started T". */
static void read_record(int fd, char *buf, size_t cap)
{
    buf[0] = '\0';
    ssize_t n = pread(fd, buf, cap - 1, 0);
    if (n <= 0) return;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static int set_lock(int fd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET; /* whole file */
#ifdef F_OFD_SETLK
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINVAL) return -1;
#endif
    /* kernels without OFD locks: a process-associated lock (the runner
     * never opens this file twice, so closing cannot drop it early) */
    return fcntl(fd, F_SETLK, &fl);
}

run_lock_status run_lock_acquire(run_lock *l, const char *dir, char *msg, size_t cap, char *stale,
                                 size_t stale_cap)
{
    rb_error err = {0};
    l->fd = -1;
    stale[0] = '\0';
    snprintf(l->path, sizeof l->path, "%s/run.lock", dir);
    if (rb_output_check(l->path, &err) != RB_OK) {
        snprintf(msg, cap, "%s", err.msg);
        return RUN_LOCK_ERROR;
    }
    int fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(msg, cap, "cannot open the lock file %s: %s", l->path, fd < 0 ? strerror(errno) : "not a file");
        if (fd >= 0) close(fd);
        return RUN_LOCK_ERROR;
    }
    char rec[512];
    if (set_lock(fd, F_WRLCK) != 0) {
        const int busy = errno == EAGAIN || errno == EACCES;
        read_record(fd, rec, sizeof rec);
        if (busy)
            snprintf(msg, cap, "%s is in use by another trainer (%s); wait for it to finish or stop it, "
                               "or train into another --out", dir, rec[0] ? rec : "its details are not written yet");
        else
            snprintf(msg, cap, "cannot lock %s: %s", l->path, strerror(errno));
        close(fd);
        return busy ? RUN_LOCK_BUSY : RUN_LOCK_ERROR;
    }
    read_record(fd, rec, sizeof rec);
    if (rec[0]) snprintf(stale, stale_cap, "%s", rec);
    char host[256] = "?", when[64] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
    int n = snprintf(rec, sizeof rec, "pid %ld on host %s, started %s\n", (long)getpid(), host, when);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, rec, (size_t)n, 0) != n) {
        snprintf(msg, cap, "cannot write the lock file %s: %s", l->path, strerror(errno));
        close(fd);
        return RUN_LOCK_ERROR;
    }
    l->fd = fd;
    return RUN_LOCK_TAKEN;
}

void run_lock_release(run_lock *l)
{
    if (l->fd < 0) return;
    if (ftruncate(l->fd, 0) != 0) { /* a record left behind is reported as stale: harmless */ }
    close(l->fd); /* releases the lock */
    l->fd = -1;
}
