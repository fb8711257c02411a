/* cuda_norm.cu: RMSNorm forward and backward over rows of width D at any
 * row strides (OLMo-2's q/k norms run inside the fused qkv rows), and the
 * fused softmax cross-entropy. One block per row; reductions are fixed
 * trees, and the weight gradient of RMSNorm is summed over rows through
 * per-block partial rows combined in block order: deterministic. */
#include "cu_common.cuh"

#define NORM_THREADS 256
#define NORM_ROWS_PER_BLOCK 32

__global__ void k_rmsnorm_fwd(float *out, int ldo, float *rstd, const float *x, int ldx, const float *w, int D,
                              float eps)
{
    RB_SHARED float sh[32];
    const size_t n = blockIdx.x;
    const float *xr = x + n * (size_t)ldx;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    const float r = 1.0f / sqrtf(ss / (float)D + eps);
    if (rstd && threadIdx.x == 0) rstd[n] = r;
    float *o = out + n * (size_t)ldo;
    for (int i = threadIdx.x; i < D; i += blockDim.x) o[i] = xr[i] * r * w[i];
}

void rb_cuda_rmsnorm_fwd(rb_backend *be, float *out, int ldo, float *rstd, const float *x, int ldx, const float *w,
                         int N, int D, float eps)
{
    if (N <= 0 || D <= 0) return;
    RB_LAUNCH(cuda_ctx(be), k_rmsnorm_fwd, (unsigned)N, rb_cuda_row_threads(D, NORM_THREADS), 0, out, ldo, rstd,
              x, ldx, w, D, eps);
}

/* Rows [blockIdx.x * RPB, +RPB): dx, and this block's partial of dw in
 * part[blockIdx.x, D]. Each thread owns columns i = tid + k blockDim, for
 * dx and for the partial, so dx may alias dout (a thread reads dout[i]
 * before it writes dx[i], and no other thread touches column i). */
__global__ void k_rmsnorm_bwd(float *dx, int lddx, float *part, const float *dout, int lddout, const float *x,
                              int ldx, const float *w, const float *rstd, int N, int D, int accumulate)
{
    RB_SHARED float sh[32];
    float *pr = part + (size_t)blockIdx.x * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) pr[i] = 0.0f;
    const int n0 = blockIdx.x * NORM_ROWS_PER_BLOCK;
    const int n1 = n0 + NORM_ROWS_PER_BLOCK < N ? n0 + NORM_ROWS_PER_BLOCK : N;
    for (int n = n0; n < n1; n++) {
        const float *xr = x + (size_t)n * ldx, *dy = dout + (size_t)n * lddout;
        float *dxr = dx + (size_t)n * lddx;
        const float r = rstd[n];
        float dot = 0.0f;
        for (int i = threadIdx.x; i < D; i += blockDim.x) dot += dy[i] * w[i] * xr[i];
        dot = block_sum(dot, sh);
        const float m = dot * r * r / (float)D; /* mean(g xh) / r */
        for (int i = threadIdx.x; i < D; i += blockDim.x) {
            float dyi = dy[i];
            pr[i] += dyi * xr[i] * r;
            float v = r * (dyi * w[i] - xr[i] * m);
            dxr[i] = accumulate ? dxr[i] + v : v;
        }
    }
}

/* dw[c] += sum over blocks b (in order) of part[b, c] */
__global__ void k_colsum_add(float *dw, const float *part, int nb, int D)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < D; i += gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int b = 0; b < nb; b++) s += part[(size_t)b * D + i];
        dw[i] += s;
    }
}

void rb_cuda_rmsnorm_bwd(rb_backend *be, float *dx, int lddx, float *dw, const float *dout, int lddout,
                         const float *x, int ldx, const float *w, const float *rstd, int N, int D, int accumulate)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (N <= 0 || D <= 0) return;
    const int nb = (N + NORM_ROWS_PER_BLOCK - 1) / NORM_ROWS_PER_BLOCK;
    float *part = (float *)rb_cuda_scratch(c, (size_t)nb * D * sizeof(float));
    if (!part) return;
    RB_LAUNCH(c, k_rmsnorm_bwd, (unsigned)nb, rb_cuda_row_threads(D, NORM_THREADS), 0, dx, lddx, part, dout,
              lddout, x, ldx, w, rstd, N, D, accumulate);
    RB_LAUNCH(c, k_colsum_add, rb_cuda_blocks((size_t)D, 256), 256, 0, dw, part, nb, D);
}

/* ---- fused softmax + cross-entropy, one block per row ---- */

__global__ void k_cross_entropy(float *losses, float *dlogits, const float *logits, const int32_t *targets, int V,
                                float grad_scale)
{
    RB_SHARED float sh[32];
    const size_t n = blockIdx.x;
    const float *x = logits + n * (size_t)V;
    float *d = dlogits ? dlogits + n * (size_t)V : NULL;
    const int t = targets[n];
    if (t < 0 || t >= V) { /* the same for the whole block: no barrier is skipped by some threads only */
        if (threadIdx.x == 0) losses[n] = 0.0f;
        if (d)
            for (int i = threadIdx.x; i < V; i += blockDim.x) d[i] = 0.0f;
        return;
    }
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, x[i]);
    mx = block_max(mx, sh);
    float sum = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) sum += expf(x[i] - mx);
    sum = block_sum(sum, sh);
    const float lse = mx + logf(sum);
    if (threadIdx.x == 0) losses[n] = lse - x[t];
    if (d) {
        __syncthreads(); /* x[t] is read above before d (which may be x) is written */
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            float v = expf(x[i] - lse) * grad_scale;
            if (i == t) v -= grad_scale;
            d[i] = v;
        }
    }
}

void rb_cuda_cross_entropy(rb_backend *be, float *losses, float *dlogits, const float *logits,
                           const int32_t *targets, int N, int V, float grad_scale)
{
    if (N <= 0 || V <= 0) return;
    RB_LAUNCH(cuda_ctx(be), k_cross_entropy, (unsigned)N, rb_cuda_row_threads(V, 1024), 0, losses, dlogits, logits,
              targets, V, grad_scale);
}
