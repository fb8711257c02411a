/* backend_cpu.c: the CPU reference backend's operation table, memory and
 * per-thread scratch. Kernels live in the cpu_*.c files beside it. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

static rb_status cpu_alloc(rb_backend *be, void **ptr, size_t bytes, rb_error *err)
{
    /* 64-byte alignment for AVX-512 loads; round the size up as
     * aligned_alloc requires a multiple of the alignment. */
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p)
        return rb_fail(err, RB_ENOMEM, "cpu backend: cannot allocate %zu bytes (%.1f MiB)", bytes,
                       (double)bytes / 1048576.0);
    *ptr = p;
    return RB_OK;
}

static void cpu_free(rb_backend *be, void *ptr) { free(ptr); }

static rb_status cpu_copy_status(rb_backend *be, void *dst, const void *src, size_t bytes,
                                 rb_error *err)
{
    if (bytes) memcpy(dst, src, bytes);
    return RB_OK;
}

static void cpu_copy(rb_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes && dst != src) memcpy(dst, src, bytes);
}

static void cpu_zero(rb_backend *be, void *ptr, size_t bytes)
{
    if (bytes) memset(ptr, 0, bytes);
}

static rb_status cpu_sync(rb_backend *be, rb_error *err)
{
    rb_cpu_ctx *c = be->ctx;
    if (c->failed) {
        c->failed = 0;
        return rb_fail(err, RB_ENOMEM, "cpu backend: a kernel could not allocate %zu bytes of "
                                       "scratch; its results are invalid", c->failed_bytes);
    }
    return RB_OK;
}

static void cpu_destroy(rb_backend *be)
{
    rb_cpu_ctx *c = be->ctx;
    if (c) {
        for (int i = 0; i < c->n_threads; i++) free(c->buf[i]);
        free(c->buf);
        free(c->cap);
        for (int i = 0; i < RB_CPU_MAX_CALLERS; i++) free(c->bf16_buf[i]);
        free(c);
    }
    free(be);
}

void *rb_cpu_bf16_buffer(rb_backend *be, size_t bytes)
{
    rb_cpu_ctx *c = be->ctx;
    const int t = omp_get_thread_num();
    if (t >= RB_CPU_MAX_CALLERS) {
        c->failed = 1;
        c->failed_bytes = bytes;
        return NULL;
    }
    if (c->bf16_cap[t] >= bytes) return c->bf16_buf[t];
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n);
    if (!p) {
        c->failed = 1;
        c->failed_bytes = bytes;
        return NULL;
    }
    free(c->bf16_buf[t]);
    c->bf16_buf[t] = p;
    c->bf16_cap[t] = n;
    return p;
}

static const char *bf16_impl_name(int amx)
{
    return amx ? "amx-bf16 tiles" : "sgemm on bf16-rounded operands";
}

rb_status rb_backend_cpu_set_amx(rb_backend *be, int on, rb_error *err)
{
    if (!be || !be->name || strcmp(be->name, "cpu") != 0)
        return rb_fail(err, RB_EINVAL, "cpu backend: rb_backend_cpu_set_amx needs the cpu backend");
    rb_cpu_ctx *c = be->ctx;
    if (on && !c->has_amx)
        return rb_fail(err, RB_EUNSUPPORTED,
                       "cpu backend: this CPU (or its kernel) offers no AMX-BF16 tiles");
    c->use_amx = on != 0;
    be->gemm_bf16_impl = bf16_impl_name(c->use_amx);
    return RB_OK;
}

int rb_backend_cpu_has_amx(const rb_backend *be)
{
    return be && be->name && strcmp(be->name, "cpu") == 0 && ((rb_cpu_ctx *)be->ctx)->has_amx;
}

int rb_cpu_threads(rb_backend *be) { return ((rb_cpu_ctx *)be->ctx)->n_threads; }

int rb_cpu_reserve(rb_backend *be, size_t n)
{
    rb_cpu_ctx *c = be->ctx;
    int want = omp_get_max_threads();
    if (want > c->n_threads) { /* the caller raised the OpenMP thread count */
        float **nb = realloc(c->buf, (size_t)want * sizeof *nb);
        if (nb) c->buf = nb;
        size_t *nc = nb ? realloc(c->cap, (size_t)want * sizeof *nc) : NULL;
        if (!nb || !nc) {
            c->failed = 1;
            c->failed_bytes = (size_t)want * sizeof *nb;
            return -1;
        }
        c->cap = nc;
        for (int i = c->n_threads; i < want; i++) {
            c->buf[i] = NULL;
            c->cap[i] = 0;
        }
        c->n_threads = want;
    }
    for (int i = 0; i < c->n_threads; i++) {
        if (c->cap[i] >= n) continue;
        size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
        float *p = aligned_alloc(64, bytes);
        if (!p) {
            c->failed = 1;
            c->failed_bytes = bytes;
            return -1;
        }
        free(c->buf[i]);
        c->buf[i] = p;
        c->cap[i] = n;
    }
    return 0;
}

float *rb_cpu_scratch(rb_backend *be, int tid) { return ((rb_cpu_ctx *)be->ctx)->buf[tid]; }

rb_status rb_backend_cpu_create(rb_backend **out, rb_error *err)
{
    rb_backend *be = calloc(1, sizeof *be);
    rb_cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return rb_fail(err, RB_ENOMEM, "cpu backend: out of memory");
    }
    c->n_threads = omp_get_max_threads();
    if (c->n_threads < 1) c->n_threads = 1;
    c->buf = calloc((size_t)c->n_threads, sizeof *c->buf);
    c->cap = calloc((size_t)c->n_threads, sizeof *c->cap);
    if (!c->buf || !c->cap) {
        free(c->buf);
        free(c->cap);
        free(c);
        free(be);
        return rb_fail(err, RB_ENOMEM, "cpu backend: out of memory");
    }
    be->name = "cpu";
    be->ctx = c;
    /* Ops called from inside a parallel region run on the calling thread
     * (OpenMP nesting is off; OpenBLAS's OpenMP build goes serial there),
     * so independent work such as Muon's matrices can be handed out. */
    be->concurrent_calls = c->n_threads < RB_CPU_MAX_CALLERS ? c->n_threads : RB_CPU_MAX_CALLERS;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy_status;
    be->download = cpu_copy_status;
    be->copy = cpu_copy;
    be->zero = cpu_zero;
    be->sync = cpu_sync;
    be->destroy = cpu_destroy;
    be->gemm = rb_cpu_gemm;
    be->gemm_bf16 = rb_cpu_gemm_bf16;
    be->syrk_bf16 = rb_cpu_syrk_bf16;
    c->has_amx = c->use_amx = rb_cpu_amx_probe();
    be->gemm_bf16_impl = bf16_impl_name(c->use_amx);
    be->embedding_fwd = rb_cpu_embedding_fwd;
    be->embedding_bwd = rb_cpu_embedding_bwd;
    be->rmsnorm_fwd = rb_cpu_rmsnorm_fwd;
    be->rmsnorm_bwd = rb_cpu_rmsnorm_bwd;
    be->rope = rb_cpu_rope;
    be->attention_fwd = rb_cpu_attention_fwd;
    be->attention_bwd = rb_cpu_attention_bwd;
    be->attention_cached = rb_cpu_attention_cached;
    be->copy2d = rb_cpu_copy2d;
    be->swiglu_fwd = rb_cpu_swiglu_fwd;
    be->swiglu_bwd = rb_cpu_swiglu_bwd;
    be->add = rb_cpu_add;
    be->scale = rb_cpu_scale;
    be->sumsq = rb_cpu_sumsq;
    be->axpy = rb_cpu_axpy;
    be->transpose = rb_cpu_transpose;
    be->adamw = rb_cpu_adamw;
    be->muon_momentum = rb_cpu_muon_momentum;
    be->cross_entropy = rb_cpu_cross_entropy;
    *out = be;
    return RB_OK;
}
