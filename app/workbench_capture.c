/* workbench_capture.c: see workbench_capture.h. */
#include "workbench_capture.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int saved_fd = -1; /* the terminal's stderr while captured */
static int read_fd = -1;
static pthread_t reader;
static wb *target;

static void *read_loop(void *p)
{
    (void)p;
    char buf[4096], line[1024];
    size_t n_line = 0;
    for (;;) {
        ssize_t n = read(read_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || n_line == sizeof line - 1) {
                line[n_line] = '\0';
                wb_log(target, VW_LOG_STDERR, "%s", line);
                n_line = 0;
                if (buf[i] == '\n') continue;
            }
            line[n_line++] = buf[i];
        }
    }
    if (n_line) {
        line[n_line] = '\0';
        wb_log(target, VW_LOG_STDERR, "%s", line);
    }
    return NULL;
}

int wb_capture_start(wb *w)
{
    if (saved_fd >= 0) return 0;
    int p[2];
    if (pipe(p) != 0) return -1;
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    if (saved_fd < 0 || dup2(p[1], STDERR_FILENO) < 0) {
        int e = errno;
        if (saved_fd >= 0) close(saved_fd);
        saved_fd = -1;
        close(p[0]);
        close(p[1]);
        errno = e;
        return -1;
    }
    close(p[1]); /* fd 2 is now the only write end */
    read_fd = p[0];
    target = w;
    if (pthread_create(&reader, NULL, read_loop, NULL) != 0) {
        int e = errno;
        dup2(saved_fd, STDERR_FILENO);
        close(saved_fd);
        close(read_fd);
        saved_fd = read_fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

void wb_capture_stop(void)
{
    if (saved_fd < 0) return;
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO); /* closes the pipe's last write end: the reader sees EOF */
    close(saved_fd);
    saved_fd = -1;
    pthread_join(reader, NULL);
    close(read_fd);
    read_fd = -1;
}

void wb_capture_restore_fd(void)
{
    if (saved_fd >= 0) dup2(saved_fd, STDERR_FILENO);
}
