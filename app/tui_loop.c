/* tui_loop.c: see tui_loop.h. */
#include "tui_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vw_draw.h"
#include "vw_keys.h"
#include "vw_panes.h"
#include "vw_text.h"
#include "workbench_capture.h"

static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t quit_signal;

static void on_quit_signal(int sig)
{
    int e = errno;
    quit_signal = sig;
    if (sig_pipe[1] >= 0) {
        char c = 1;
        ssize_t r = write(sig_pipe[1], &c, 1);
        (void)r;
    }
    errno = e;
}

/* A crash while curses owns the screen: give the terminal back, then die
 * as the signal would have it. endwin is not async-signal-safe; this is
 * the last thing the process does, and a restored terminal is worth it. */
static void on_fatal(int sig)
{
    vw_draw_stop();
    wb_capture_restore_fd();
    static const char msg[] = "retrobench tui: fatal signal; the terminal was restored\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void at_exit_restore(void)
{
    vw_draw_stop();
    wb_capture_restore_fd();
}

/* Block, in this thread and the threads it starts afterwards, the signals
 * the UI thread handles, so that they reach the UI thread. */
static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, SIGTSTP);
    sigaddset(&set, SIGCONT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void unblock_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, SIGTSTP);
    sigaddset(&set, SIGCONT);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void post(wb *w, wb_cmd_kind k, const vw_event *e)
{
    wb_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = k;
    c.row = e->row;
    c.token = e->token;
    c.iter = e->iter;
    if (e->text) vw_copy_text(c.text, sizeof c.text, e->text);
    if (wb_post(w, &c) != 0) wb_log(w, VW_LOG_WARN, "the worker's queue is full; that key was dropped");
}

/* Act on what a key did. Returns 1 to quit. */
static int handle(wb *w, const vw_event *e)
{
    switch (e->kind) {
    case VW_EV_QUIT: return 1;
    case VW_EV_REDRAW: vw_draw_invalidate(); break;
    case VW_EV_PROMPT: post(w, WB_CMD_PROMPT, e); break;
    case VW_EV_SELECT: post(w, WB_CMD_SELECT, e); break;
    case VW_EV_ITER: post(w, WB_CMD_ITER, e); break;
    case VW_EV_PAUSE: post(w, WB_CMD_PAUSE, e); break;
    case VW_EV_SAVE: post(w, WB_CMD_SAVE, e); break;
    case VW_EV_LUA: post(w, WB_CMD_LUA, e); break;
    case VW_EV_RELOAD: post(w, WB_CMD_RELOAD, e); break;
    case VW_EV_AUTO_RELOAD: post(w, WB_CMD_AUTO_RELOAD, e); break;
    default: break;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Key-to-screen latencies and frame times, for RB_TUI_LATENCY. */
typedef struct {
    FILE *f;
    double *lat;
    int n, cap;
    long frames, tick_frames; /* all frames; frames drawn on the clock, not for a key */
    double t0, worst_gap, last_frame;
} latency_log;

static void lat_key(latency_log *L, int key, double ms)
{
    if (!L->f) return;
    fprintf(L->f, "key %d %.3f\n", key, ms);
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 256;
        double *p = realloc(L->lat, sizeof *p * (size_t)cap);
        if (!p) return;
        L->lat = p;
        L->cap = cap;
    }
    L->lat[L->n++] = ms;
}

static void lat_summary(latency_log *L)
{
    if (!L->f) return;
    double secs = mono() - L->t0, med = 0, p90 = 0, worst = 0;
    if (L->n) {
        qsort(L->lat, (size_t)L->n, sizeof *L->lat, cmp_double);
        med = L->n % 2 ? L->lat[L->n / 2] : 0.5 * (L->lat[L->n / 2 - 1] + L->lat[L->n / 2]);
        p90 = L->lat[(int)floor(0.9 * (L->n - 1))];
        worst = L->lat[L->n - 1];
    }
    fprintf(L->f, "summary frames %ld seconds %.3f fps %.2f clock_fps %.2f worst_frame_gap_ms %.1f keys %d "
                  "median_ms %.3f p90_ms %.3f worst_ms %.3f\n",
            L->frames, secs, secs > 0 ? L->frames / secs : 0, secs > 0 ? L->tick_frames / secs : 0,
            L->worst_gap * 1000, L->n, med, p90, worst);
    fclose(L->f);
    free(L->lat);
    L->f = NULL;
}

/* The errors the log pane showed, for the terminal after curses is gone. */
static void print_errors(wb *w)
{
    static vw_snapshot snap; /* UI thread only */
    wb_copy(w, &snap, NULL);
    int shown = 0;
    for (int i = 0; i < snap.log.n; i++) {
        const vw_log_line *l = vw_log_at(&snap.log, i);
        if (l->level != VW_LOG_ERROR && l->level != VW_LOG_TRACE) continue;
        if (++shown > 20) break;
        fprintf(stderr, "retrobench tui: %s\n", l->text);
    }
}

int tui_run(wb *w, vw_mode mode, const tui_opts *o)
{
    setlocale(LC_ALL, "");
    int utf8 = !o->ascii && !strcmp(nl_langinfo(CODESET), "UTF-8");
    const char *nc = getenv("NO_COLOR");
    int color = !o->mono && !(nc && nc[0]);

    if (pipe(sig_pipe) == 0) {
        fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
        fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    atexit(at_exit_restore);

    latency_log L;
    memset(&L, 0, sizeof L);
    if (o->latency_log && o->latency_log[0]) {
        L.f = fopen(o->latency_log, "w");
        if (!L.f) fprintf(stderr, "retrobench tui: RB_TUI_LATENCY: cannot write %s: %s\n", o->latency_log, strerror(errno));
    }

    block_signals(); /* the worker and the stderr reader inherit this */
    if (wb_capture_start(w) != 0)
        wb_log(w, VW_LOG_WARN, "stderr could not be captured (%s); messages may overwrite the screen", strerror(errno));
    vw_term term;
    char err[256];
    if (vw_draw_start(&term, utf8, color, err, sizeof err) != 0) {
        wb_capture_stop();
        unblock_signals();
        fprintf(stderr, "retrobench tui: %s\n", err);
        return 1;
    }
    if (o->start_worker && o->start_worker(w) != 0) {
        vw_draw_stop();
        wb_capture_stop();
        unblock_signals();
        fprintf(stderr, "retrobench tui: cannot start the worker thread\n");
        return 1;
    }
    unblock_signals();

    vw_snapshot *snap = malloc(sizeof *snap);
    vw_grid grid = {0, 0, 0, NULL};
    if (!snap) {
        vw_draw_stop();
        wb_capture_stop();
        fprintf(stderr, "retrobench tui: out of memory\n");
        wb_quit(w);
        return 1;
    }
    vw_snapshot_init(snap, mode);
    uint64_t gen = (uint64_t)-1;
    vw_ui ui;
    vw_ui_init(&ui, mode);
    vw_frame_info fi = {0, term.color};
    const double period = 1.0 / (o->fps > 0 ? o->fps : 10);
    double next = mono(), fps_t0 = next;
    long fps_frames = 0;
    L.t0 = next;
    int rc = 0, resized = 1;
    double key_t[64];
    int key_c[64];

    for (;;) {
        double now = mono();
        int timeout = next > now ? (int)ceil((next - now) * 1000) : 0;
        struct pollfd pf[2] = {{vw_draw_input_fd(), POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
        poll(pf, sig_pipe[0] >= 0 ? 2 : 1, timeout);
        double wake = mono();
        if (quit_signal) {
            rc = quit_signal == SIGINT ? 130 : quit_signal == SIGTERM ? 143 : 129;
            break;
        }
        if (pf[0].revents & (POLLHUP | POLLERR | POLLNVAL)) { /* the terminal is gone */
            rc = 129;
            break;
        }
        int nkeys = 0, quit = 0;
        for (;;) {
            int k = vw_draw_key();
            if (k == VW_KEY_NONE) break;
            if (k == VW_KEY_RESIZE) {
                resized = 1;
                continue;
            }
            if (nkeys < 64) {
                key_t[nkeys] = wake;
                key_c[nkeys++] = k;
            }
            vw_event e = vw_ui_key(&ui, k, snap);
            if (handle(w, &e)) {
                quit = 1;
                break;
            }
        }
        if (quit) break;
        if (!nkeys && !resized && wake < next) continue;

        /* a frame: copy the snapshot once, lay out, draw */
        if (resized) {
            int cols, rows;
            vw_draw_size(&cols, &rows);
            if (cols != grid.w || rows != grid.h || !grid.cells) {
                vw_grid_free(&grid);
                if (vw_grid_init(&grid, cols, rows, term.utf8) != 0) {
                    rc = 1;
                    break;
                }
            }
            resized = 0;
        }
        wb_copy(w, snap, &gen);
        vw_event se = vw_ui_sync(&ui, snap);
        handle(w, &se);
        vw_layout lay;
        vw_layout_compute(grid.w, grid.h, mode, ui.zoom, &lay);
        vw_render(&grid, snap, &ui, &lay, &fi);
        vw_draw_grid(&grid);
        double drawn = mono();
        for (int i = 0; i < nkeys; i++) lat_key(&L, key_c[i], (drawn - key_t[i]) * 1000);
        if (L.frames && drawn - L.last_frame > L.worst_gap && !nkeys) L.worst_gap = drawn - L.last_frame;
        L.frames++;
        if (!nkeys) L.tick_frames++;
        L.last_frame = drawn;
        fps_frames++;
        if (drawn - fps_t0 >= 1.0) {
            fi.fps = fps_frames / (drawn - fps_t0);
            fps_frames = 0;
            fps_t0 = drawn;
        }
        if (wake >= next) {
            next += period;
            if (next < wake) next = wake + period; /* late: do not try to catch up */
        }
    }
    vw_draw_stop();
    wb_capture_stop();
    wb_quit(w);
    lat_summary(&L);
    print_errors(w);
    vw_grid_free(&grid);
    free(snap);
    return rc;
}
