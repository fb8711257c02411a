/* cuda_module.c: the CUDA backend as the engine sees it: a module
 * (librbcuda.so) opened with dlopen on the first request, so that programs
 * which never ask for a GPU neither link nor load a CUDA library. The
 * module is the one the options or $RB_CUDA_MODULE name, else the first
 * found beside the running executable, in the build folder the engine was
 * compiled for, or on the loader's search path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_backend.h"

#ifndef RB_CUDA_MODULE_DIR
#define RB_CUDA_MODULE_DIR "."
#endif

void rb_cuda_options_default(rb_cuda_options *o)
{
    memset(o, 0, sizeof *o);
    o->device = 0;
    o->precision = RB_CUDA_BF16;
}

int rb_cuda_precision_parse(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "fp32")) return RB_CUDA_FP32;
    if (!strcmp(s, "tf32")) return RB_CUDA_TF32;
    if (!strcmp(s, "bf16")) return RB_CUDA_BF16;
    return -1;
}

const char *rb_cuda_precision_name(rb_cuda_precision p)
{
    return p == RB_CUDA_FP32 ? "fp32" : p == RB_CUDA_TF32 ? "tf32" : p == RB_CUDA_BF16 ? "bf16" : "?";
}

int rb_backend_is_cuda(const rb_backend *be) { return be && be->name && !strncmp(be->name, "cuda", 4); }

typedef rb_status (*create_fn)(rb_backend **, const rb_cuda_options *, rb_error *);
typedef int (*abi_fn)(void);

/* dlopen the first candidate that loads; *why gets the most useful reason
 * when none does (a file that exists but cannot load beats "not found"). */
static void *open_module(const rb_cuda_options *o, char *loaded, size_t loaded_n, char *why, size_t why_n)
{
    char exe_dir[PATH_MAX] = "", cand[5][PATH_MAX + 32];
    int n = 0;
    ssize_t len = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (len > 0) {
        exe_dir[len] = '\0';
        char *slash = strrchr(exe_dir, '/');
        if (slash) *slash = '\0';
    } else {
        exe_dir[0] = '\0';
    }
    /* a path the caller or the user named is the only candidate */
    const char *env = getenv("RB_CUDA_MODULE");
    if (o && o->module_path) {
        snprintf(cand[n++], sizeof cand[0], "%s", o->module_path);
    } else if (env && *env) {
        snprintf(cand[n++], sizeof cand[0], "%s", env);
    } else {
        if (exe_dir[0]) snprintf(cand[n++], sizeof cand[0], "%s/librbcuda.so", exe_dir);
        snprintf(cand[n++], sizeof cand[0], "%s/librbcuda.so", RB_CUDA_MODULE_DIR);
        snprintf(cand[n++], sizeof cand[0], "librbcuda.so");
    }
    int have_reason = 0;
    snprintf(why, why_n, "librbcuda.so was not found (built only where nvcc exists; set RB_CUDA_MODULE "
                         "to its path)");
    for (int i = 0; i < n; i++) {
        void *h = dlopen(cand[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            snprintf(loaded, loaded_n, "%.4000s", cand[i]);
            return h;
        }
        const char *e = dlerror();
        /* a named file that exists but does not load: say why (a missing CUDA library) */
        if (!have_reason && strchr(cand[i], '/') && access(cand[i], F_OK) == 0) {
            snprintf(why, why_n, "%.4000s cannot be loaded: %s", cand[i], e ? e : "unknown reason");
            have_reason = 1;
        }
        /* a named path that is absent is the user's mistake: name it */
        if (!have_reason && n == 1 && strchr(cand[0], '/')) {
            snprintf(why, why_n, "%.4000s: %s", cand[i], e ? e : "cannot be loaded");
            have_reason = 1;
        }
    }
    return NULL;
}

rb_status rb_backend_cuda_create(rb_backend **out, const rb_cuda_options *opts, rb_error *err)
{
    *out = NULL;
    rb_cuda_options o;
    if (opts) o = *opts;
    else rb_cuda_options_default(&o);
    char loaded[PATH_MAX + 32] = "", why[PATH_MAX + 600];
    void *h = open_module(&o, loaded, sizeof loaded, why, sizeof why);
    if (!h) return rb_fail(err, RB_EUNSUPPORTED, "cuda backend: %s", why);
    /* the handle stays open for the life of the process: the CUDA runtime
     * keeps state that must outlive every backend */
    abi_fn abi = (abi_fn)dlsym(h, "rb_cuda_module_abi");
    create_fn create = (create_fn)dlsym(h, "rb_cuda_module_create");
    if (!abi || !create)
        return rb_fail(err, RB_EUNSUPPORTED, "cuda backend: %s is not a retrobench CUDA module (no "
                                             "rb_cuda_module_create); rebuild it", loaded);
    const int want = RB_CUDA_MODULE_VERSION * 100000 + (int)sizeof(rb_backend) * 100 + (int)sizeof(rb_cuda_options);
    if (abi() != want)
        return rb_fail(err, RB_EUNSUPPORTED, "cuda backend: %s was built from other engine headers "
                                             "(version %d, expected %d); rebuild it with this program",
                       loaded, abi(), want);
    return create(out, &o, err);
}
