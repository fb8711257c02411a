/* app_signals.c: removing unfinished outputs on SIGINT / SIGTERM / SIGHUP
 * and ignoring SIGXFSZ (see app_signals.h). Everything in the handler is
 * async-signal-safe: unlink, write, signal, raise. */
#include "app_signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "rb_output.h"

const char *app_signal_name(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void each_removed(const char *path, int removed)
{
    say(removed ? "retrobench: removed the unfinished " : "retrobench: could not remove the unfinished ");
    say(path);
    say("; the file it was to replace is unchanged\n");
}

static void on_fatal_signal(int sig)
{
    say("\nretrobench: ");
    say(app_signal_name(sig));
    say(": stopping\n");
    rb_output_remove_temporaries(each_removed);
    signal(sig, SIG_DFL);
    raise(sig);
}

void app_signals_init(void)
{
    signal(SIGXFSZ, SIG_IGN);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < sizeof sigs / sizeof sigs[0]; j++) sigaddset(&sa.sa_mask, sigs[j]);
        sigaction(sigs[i], &sa, NULL);
    }
}
