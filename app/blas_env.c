/* blas_env.c: see blas_env.h. */
#include "blas_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);

static const char *best_core(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

/* Cores that are weaker than Haswell: if OpenBLAS chose one of these on a
 * CPU with AVX2 or AVX-512, it misdetected. */
static int weak_core(const char *name)
{
    static const char *weak[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                 "Katmai", "Coppermine", "Northwood", "Banias", "Opteron",
                                 "Barcelona", "Bobcat", "Sandybridge", "Nano", NULL};
    for (int i = 0; weak[i]; i++)
        if (!strcasecmp(name, weak[i])) return 1;
    return 0;
}

static char note[256];

void rb_blas_env_fix(int argc, char **argv)
{
    (void)argc;
    const char *core = openblas_get_corename();
    const char *fixed = getenv("RB_BLAS_FIXED");
    if (fixed) {
        snprintf(note, sizeof note, "OpenBLAS core %s (set by retrobench: detection had chosen %s)",
                 core, fixed);
        return;
    }
    if (getenv("OPENBLAS_CORETYPE")) {
        snprintf(note, sizeof note, "OpenBLAS core %s (OPENBLAS_CORETYPE=%s)", core,
                 getenv("OPENBLAS_CORETYPE"));
        return;
    }
    const char *best = best_core();
    snprintf(note, sizeof note, "OpenBLAS core %s (detected)", core);
    if (!best || !core || !weak_core(core)) return;
    setenv("OPENBLAS_CORETYPE", best, 1);
    setenv("RB_BLAS_FIXED", core, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the slow kernels, and say so */
    snprintf(note, sizeof note, "OpenBLAS core %s (detected; %s would be faster: set "
                                "OPENBLAS_CORETYPE=%s)", core, best, best);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("RB_BLAS_FIXED");
}

const char *rb_blas_env_note(void) { return note; }
