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

static const char *bf16_impl_name(int k)
{
    return k == RB_CPU_BF16_AMX      ? "amx-bf16 tiles"
           : k == RB_CPU_BF16_AVX512 ? "avx512-bf16 dot products"
                                     : "sgemm on bf16-rounded operands";
}

static int is_cpu(const rb_backend *be) { return be && be->name && strcmp(be->name, "cpu") == 0; }

rb_status rb_backend_cpu_set_bf16(rb_backend *be, rb_cpu_bf16_kernel k, rb_error *err)
{
    if (!is_cpu(be))
        return rb_fail(err, RB_EINVAL, "cpu backend: rb_backend_cpu_set_bf16 needs the cpu backend");
    if ((int)k < 0 || (int)k > 2) return rb_fail(err, RB_EINVAL, "cpu backend: no bf16 kernel %d", (int)k);
    rb_cpu_ctx *c = be->ctx;
    if (!c->has_bf16[k])
        return rb_fail(err, RB_EUNSUPPORTED, "cpu backend: this CPU (or its kernel) cannot run %s",
                       k == RB_CPU_BF16_AMX ? "AMX-BF16 tiles" : "AVX512-BF16 instructions");
    c->bf16_kernel = (int)k;
    be->gemm_bf16_impl = bf16_impl_name(c->bf16_kernel);
    return RB_OK;
}

int rb_backend_cpu_has_bf16(const rb_backend *be, rb_cpu_bf16_kernel k)
{
    return is_cpu(be) && (int)k >= 0 && (int)k <= 2 && ((rb_cpu_ctx *)be->ctx)->has_bf16[k];
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

float *rb_cpu_scratch_mine(rb_backend *be, size_t n)
{
    rb_cpu_ctx *c = be->ctx;
    const int t = omp_get_thread_num();
    if (t >= c->n_threads) { /* the arrays are sized outside parallel regions only */
        c->failed = 1;
        c->failed_bytes = n * sizeof(float);
        return NULL;
    }
    if (c->cap[t] >= n) return c->buf[t];
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        c->failed = 1;
        c->failed_bytes = bytes;
        return NULL;
    }
    free(c->buf[t]);
    c->buf[t] = p;
    c->cap[t] = n;
    return p;
}

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
    be->gemm_rows = rb_cpu_gemm_rows;
    c->has_bf16[RB_CPU_BF16_SGEMM] = 1;
    c->has_bf16[RB_CPU_BF16_AVX512] = rb_cpu_avx512bf16_probe();
    c->has_bf16[RB_CPU_BF16_AMX] = rb_cpu_amx_probe();
    /* AVX512-BF16 is not chosen by itself: on Intel cores VDPBF16PS issues
     * at the FMA rate, and measured here it ran no faster than SGEMM on
     * rounded copies (docs/DESIGN.md); it is there to be asked for. */
    c->bf16_kernel = c->has_bf16[RB_CPU_BF16_AMX] ? RB_CPU_BF16_AMX : RB_CPU_BF16_SGEMM;
    be->gemm_bf16_impl = bf16_impl_name(c->bf16_kernel);
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
