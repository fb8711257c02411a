/* backend_cuda.cu: the CUDA backend's creation, memory operations,
 * synchronisation and error reporting, and its operation table. Kernels
 * live in the cuda_*.cu files beside it.
 *
 * Everything runs in order on one non-blocking stream. Launch-style ops
 * return at once; the first failure (a launch error, a cuBLAS status, a
 * scratch allocation that failed) is kept and returned by the next sync()
 * or download(), which are the only calls that wait for the GPU (sumsq
 * also waits: it returns its value to the host). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_common.cuh"

void rb_cuda_fail(rb_cuda_ctx *c, const char *what, const char *detail)
{
    if (c->failed) return;
    c->failed = 1;
    snprintf(c->fail_msg, sizeof c->fail_msg, "%s: %s", what, detail);
}

void rb_cuda_check_launch(rb_cuda_ctx *c, const char *kernel)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) rb_cuda_fail(c, kernel, cudaGetErrorString(e));
}

void rb_cuda_check_blas(rb_cuda_ctx *c, cublasStatus_t st, const char *what)
{
    if (st != CUBLAS_STATUS_SUCCESS) rb_cuda_fail(c, what, cublasGetStatusString(st));
}

void *rb_cuda_scratch(rb_cuda_ctx *c, size_t bytes)
{
    if (bytes <= c->scratch_bytes) return c->scratch;
    size_t n = (bytes + bytes / 4 + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    /* the old scratch may still be read by queued kernels */
    cudaStreamSynchronize(c->stream);
    if (c->scratch) cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_bytes = 0;
    if (cudaMalloc(&c->scratch, n) != cudaSuccess) {
        cudaGetLastError();
        c->scratch = NULL;
        char msg[128];
        snprintf(msg, sizeof msg, "cannot allocate %.1f MiB of device scratch", (double)n / 1048576.0);
        rb_cuda_fail(c, "cuda backend", msg);
        return NULL;
    }
    c->scratch_bytes = n;
    return c->scratch;
}

/* ---- memory ---- */

static rb_status cu_alloc(rb_backend *be, void **ptr, size_t bytes, rb_error *err)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return rb_fail(err, RB_ENOMEM,
                       "cuda backend: cannot allocate %.1f MiB of device memory (%s; %.2f of %.2f GiB "
                       "free); use a smaller batch or sequence length", (double)bytes / 1048576.0,
                       cudaGetErrorString(e), (double)fr / 1073741824.0, (double)tot / 1073741824.0);
    }
    *ptr = p;
    return RB_OK;
}

static void cu_free(rb_backend *be, void *ptr)
{
    if (ptr) cudaFree(ptr);
}

static rb_status status_after(rb_backend *be, cudaError_t e, const char *what, rb_error *err)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (e != cudaSuccess) rb_cuda_fail(c, what, cudaGetErrorString(e));
    if (c->failed) {
        c->failed = 0;
        return rb_fail(err, RB_EBACKEND, "cuda backend: %s", c->fail_msg);
    }
    return RB_OK;
}

static rb_status cu_upload(rb_backend *be, void *dst, const void *src, size_t bytes, rb_error *err)
{
    /* from pageable memory the copy returns once src has been staged, so the
     * caller may reuse src at once */
    cudaError_t e = bytes ? cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_ctx(be)->stream)
                          : cudaSuccess;
    return status_after(be, e, "upload", err);
}

static rb_status cu_download(rb_backend *be, void *dst, const void *src, size_t bytes, rb_error *err)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    cudaError_t e = bytes ? cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream) : cudaSuccess;
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    return status_after(be, e, "download", err);
}

static void cu_copy(rb_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_ctx(be)->stream);
    if (e != cudaSuccess) rb_cuda_fail(cuda_ctx(be), "copy", cudaGetErrorString(e));
}

static void cu_zero(rb_backend *be, void *ptr, size_t bytes)
{
    if (!bytes) return;
    cudaError_t e = cudaMemsetAsync(ptr, 0, bytes, cuda_ctx(be)->stream);
    if (e != cudaSuccess) rb_cuda_fail(cuda_ctx(be), "zero", cudaGetErrorString(e));
}

static void cu_copy2d(rb_backend *be, float *dst, int ldd, const float *src, int lds, int rows, int cols)
{
    if (rows <= 0 || cols <= 0) return;
    cudaError_t e = cudaMemcpy2DAsync(dst, (size_t)ldd * sizeof(float), src, (size_t)lds * sizeof(float),
                                      (size_t)cols * sizeof(float), (size_t)rows,
                                      cudaMemcpyDeviceToDevice, cuda_ctx(be)->stream);
    if (e != cudaSuccess) rb_cuda_fail(cuda_ctx(be), "copy2d", cudaGetErrorString(e));
}

static rb_status cu_sync(rb_backend *be, rb_error *err)
{
    return status_after(be, cudaStreamSynchronize(cuda_ctx(be)->stream), "sync", err);
}

static void cu_destroy(rb_backend *be)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (c) {
        if (c->stream) cudaStreamSynchronize(c->stream);
        if (c->blas) cublasDestroy(c->blas);
        if (c->blas_ws) cudaFree(c->blas_ws);
        if (c->scratch) cudaFree(c->scratch);
        if (c->host_double) cudaFreeHost(c->host_double);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

/* ---- creation ---- */

/* The module links no engine code but error.c: its own name table. */
static const char *precision_name(rb_cuda_precision p)
{
    return p == RB_CUDA_FP32 ? "fp32" : p == RB_CUDA_TF32 ? "tf32" : "bf16";
}

static rb_status create_fail(rb_backend *be, rb_error *err, rb_status code, const char *fmt, const char *a,
                             const char *b)
{
    char msg[600];
    snprintf(msg, sizeof msg, fmt, a, b);
    cu_destroy(be);
    return rb_fail(err, code, "%s", msg);
}

extern "C" __attribute__((visibility("default"))) int rb_cuda_module_abi(void)
{
    return RB_CUDA_MODULE_VERSION * 100000 + (int)sizeof(rb_backend) * 100 + (int)sizeof(rb_cuda_options);
}

extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_module_create(rb_backend **out, const rb_cuda_options *o, rb_error *err)
{
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
        cudaGetLastError();
        return rb_fail(err, RB_EUNSUPPORTED, "cuda backend: no usable CUDA device (%s)", why);
    }
    if (o->device < 0 || o->device >= n)
        return rb_fail(err, RB_EINVAL, "cuda backend: device %d does not exist (%d device%s)", o->device,
                       n, n == 1 ? "" : "s");
    if ((int)o->precision < 0 || (int)o->precision > 2)
        return rb_fail(err, RB_EINVAL, "cuda backend: unknown precision %d (fp32, tf32, bf16)",
                       (int)o->precision);
    rb_backend *be = (rb_backend *)calloc(1, sizeof *be);
    rb_cuda_ctx *c = (rb_cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return rb_fail(err, RB_ENOMEM, "cuda backend: out of memory");
    }
    be->ctx = c;
    c->device = o->device;
    c->precision = o->precision;
    cudaDeviceProp p;
    if ((e = cudaSetDevice(o->device)) != cudaSuccess || (e = cudaGetDeviceProperties(&p, o->device)) != cudaSuccess)
        return create_fail(be, err, RB_EUNSUPPORTED, "cuda backend: cannot use the device (%s)%s",
                           cudaGetErrorString(e), "");
    if (p.major < 8) {
        char cc[32];
        snprintf(cc, sizeof cc, "%d.%d", p.major, p.minor);
        return create_fail(be, err, RB_EUNSUPPORTED,
                           "cuda backend: %s has compute capability %s; bf16 needs 8.0 (Ampere) or newer",
                           p.name, cc);
    }
    /* RB_CUDA_ATTENTION=fp32 keeps training's attention on the fp32 kernels
     * in bf16 mode (to compare speed or rule the tensor-core kernels out) */
    const char *att = getenv("RB_CUDA_ATTENTION");
    if (att && *att && strcmp(att, "fp32") != 0 && strcmp(att, "mma") != 0)
        return create_fail(be, err, RB_EINVAL, "cuda backend: RB_CUDA_ATTENTION=%s is not fp32 or mma%s", att, "");
    c->att_mma = o->precision == RB_CUDA_BF16 && !(att && !strcmp(att, "fp32"));
    c->smem_optin = p.sharedMemPerBlockOptin;
    c->n_sm = p.multiProcessorCount;
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess)
        return create_fail(be, err, RB_EBACKEND, "cuda backend: cannot create a stream (%s)%s",
                           cudaGetErrorString(e), "");
    cublasStatus_t bs = cublasCreate(&c->blas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        c->blas = NULL;
        return create_fail(be, err, RB_EUNSUPPORTED, "cuda backend: cuBLAS cannot start (%s)%s",
                           cublasGetStatusString(bs), "");
    }
    const size_t ws = (size_t)32 << 20;
    if (cudaMalloc(&c->blas_ws, ws) != cudaSuccess || cudaMallocHost((void **)&c->host_double, 64) != cudaSuccess) {
        cudaGetLastError();
        c->host_double = NULL;
        return create_fail(be, err, RB_ENOMEM, "cuda backend: out of memory at creation%s%s", "", "");
    }
    cublasSetStream(c->blas, c->stream);
    cublasSetWorkspace(c->blas, c->blas_ws, ws);
    /* TF32 only where asked for: the default math mode never uses it */
    cublasSetMathMode(c->blas, c->precision == RB_CUDA_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    rb_cuda_attention_init(c);
    if (c->failed)
        return create_fail(be, err, RB_EUNSUPPORTED, "cuda backend: %s%s", c->fail_msg, "");

    snprintf(c->name, sizeof c->name, "cuda:%d (%s, %s%s)", o->device, p.name, precision_name(o->precision),
             o->precision == RB_CUDA_BF16 && !c->att_mma ? ", fp32 attention" : "");
    snprintf(c->bf16_impl, sizeof c->bf16_impl, "cuBLAS bf16 GEMM on rounded operands, fp32 sums");
    be->name = c->name; /* "cuda:0 (...)": rb_backend_is_cuda looks at the prefix */
    be->concurrent_calls = 1;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->download = cu_download;
    be->copy = cu_copy;
    be->zero = cu_zero;
    be->copy2d = cu_copy2d;
    be->sync = cu_sync;
    be->destroy = cu_destroy;
    be->gemm = rb_cuda_gemm;
    be->gemm_bf16 = rb_cuda_gemm_bf16;
    be->gemm_bf16_impl = c->bf16_impl;
    be->syrk_bf16 = rb_cuda_syrk_bf16;
    be->gemm_rows = rb_cuda_gemm_rows;
    be->embedding_fwd = rb_cuda_embedding_fwd;
    be->embedding_bwd = rb_cuda_embedding_bwd;
    be->rmsnorm_fwd = rb_cuda_rmsnorm_fwd;
    be->rmsnorm_bwd = rb_cuda_rmsnorm_bwd;
    be->rope = rb_cuda_rope;
    be->attention_fwd = rb_cuda_attention_fwd;
    be->attention_bwd = rb_cuda_attention_bwd;
    be->attention_cached = rb_cuda_attention_cached;
    be->swiglu_fwd = rb_cuda_swiglu_fwd;
    be->swiglu_bwd = rb_cuda_swiglu_bwd;
    be->add = rb_cuda_add;
    be->scale = rb_cuda_scale;
    be->sumsq = rb_cuda_sumsq;
    be->axpy = rb_cuda_axpy;
    be->transpose = rb_cuda_transpose;
    be->adamw = rb_cuda_adamw;
    be->muon_momentum = rb_cuda_muon_momentum;
    be->cross_entropy = rb_cuda_cross_entropy;
    *out = be;
    return RB_OK;
}

/* The device's description ("cuda:0 (NVIDIA H200, bf16)") for logs. */
extern "C" __attribute__((visibility("default"))) const char *rb_cuda_module_describe(const rb_backend *be)
{
    return ((const rb_cuda_ctx *)be->ctx)->name;
}
