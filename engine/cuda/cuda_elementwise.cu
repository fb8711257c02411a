/* cuda_elementwise.cu: the memory-bound ops: embedding lookup and its
 * gradient, add / scale / axpy, sum of squares, transpose, SwiGLU, RoPE and
 * the optimizers' elementwise updates. Each computes the CPU backend's
 * formula in the same order of float operations where it has one, so fp32
 * parity is limited by summation order alone.
 *
 * Reductions are deterministic: fixed grids and fixed trees, no atomics.
 * The embedding gradient sorts (token, row) keys with a bitonic sort and
 * sums each token's rows in row order, so repeated tokens never race. */
#include "cu_common.cuh"

#define EW_THREADS 256
#define GRID_STRIDE(i, n)                                                                          \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* ---- embedding ---- */

__global__ void k_embedding_fwd(float *out, const int32_t *tokens, const float *table, int N, int D)
{
    GRID_STRIDE(i, (size_t)N * D)
    {
        size_t n = i / (size_t)D, d = i % (size_t)D;
        out[i] = table[(size_t)tokens[n] * D + d];
    }
}

void rb_cuda_embedding_fwd(rb_backend *be, float *out, const int32_t *tokens, const float *table, int N, int D)
{
    if (N <= 0 || D <= 0) return;
    RB_LAUNCH(cuda_ctx(be), k_embedding_fwd, rb_cuda_blocks((size_t)N * D, EW_THREADS), EW_THREADS, 0, out,
              tokens, table, N, D);
}

/* keys[i] = token << 32 | row for i < N, all ones (sorted last) up to P */
__global__ void k_embed_keys(uint64_t *keys, const int32_t *tokens, int N, int P)
{
    GRID_STRIDE(i, (size_t)P)
    keys[i] = i < (size_t)N ? ((uint64_t)(uint32_t)tokens[i] << 32) | (uint64_t)i : ~(uint64_t)0;
}

/* one compare-exchange step of a bitonic sort of P (a power of two) keys */
__global__ void k_bitonic_step(uint64_t *keys, int P, int j, int k)
{
    GRID_STRIDE(i, (size_t)P)
    {
        size_t l = i ^ (size_t)j;
        if (l > i) {
            uint64_t a = keys[i], b = keys[l];
            int ascending = (i & (size_t)k) == 0;
            if ((a > b) == ascending) {
                keys[i] = b;
                keys[l] = a;
            }
        }
    }
}

/* Block b: if sorted position b starts a token's run, add that run's rows
 * (in row order) to the token's gradient row. */
__global__ void k_embed_segments(float *dtable, const float *dout, const uint64_t *keys, int N, int D)
{
    const int b = blockIdx.x;
    const uint32_t tok = (uint32_t)(keys[b] >> 32);
    if (b > 0 && (uint32_t)(keys[b - 1] >> 32) == tok) return; /* no barriers in this kernel */
    for (int col = threadIdx.x; col < D; col += blockDim.x) {
        float acc = 0.0f;
        for (int j = b; j < N && (uint32_t)(keys[j] >> 32) == tok; j++)
            acc += dout[(size_t)(uint32_t)keys[j] * D + col];
        dtable[(size_t)tok * D + col] += acc;
    }
}

void rb_cuda_embedding_bwd(rb_backend *be, float *dtable, const float *dout, const int32_t *tokens, int N, int D)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (N <= 0 || D <= 0) return;
    int P = 1;
    while (P < N) P <<= 1;
    uint64_t *keys = (uint64_t *)rb_cuda_scratch(c, (size_t)P * sizeof(uint64_t));
    if (!keys) return;
    const unsigned g = rb_cuda_blocks((size_t)P, EW_THREADS);
    RB_LAUNCH(c, k_embed_keys, g, EW_THREADS, 0, keys, tokens, N, P);
    for (int k = 2; k <= P; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1) RB_LAUNCH(c, k_bitonic_step, g, EW_THREADS, 0, keys, P, j, k);
    RB_LAUNCH(c, k_embed_segments, (unsigned)N, rb_cuda_row_threads(D, 256), 0, dtable, dout, keys, N, D);
}

/* ---- vectors ---- */

__global__ void k_add(float *y, const float *a, const float *b, size_t n)
{
    GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

__global__ void k_scale(float *x, float a, size_t n)
{
    GRID_STRIDE(i, n) x[i] *= a;
}

__global__ void k_axpy(float *y, float a, const float *x, size_t n)
{
    GRID_STRIDE(i, n) y[i] += a * x[i];
}

void rb_cuda_add(rb_backend *be, float *y, const float *a, const float *b, size_t n)
{
    if (n) RB_LAUNCH(cuda_ctx(be), k_add, rb_cuda_blocks(n, EW_THREADS), EW_THREADS, 0, y, a, b, n);
}

void rb_cuda_scale(rb_backend *be, float *x, float a, size_t n)
{
    if (n) RB_LAUNCH(cuda_ctx(be), k_scale, rb_cuda_blocks(n, EW_THREADS), EW_THREADS, 0, x, a, n);
}

void rb_cuda_axpy(rb_backend *be, float *y, float a, const float *x, size_t n)
{
    if (n) RB_LAUNCH(cuda_ctx(be), k_axpy, rb_cuda_blocks(n, EW_THREADS), EW_THREADS, 0, y, a, x, n);
}

/* ---- sum of squares: per-block double partials, then one block ---- */

#define SUMSQ_BLOCKS 1024

__global__ void k_sumsq_partial(const float *x, size_t n, double *part)
{
    RB_SHARED double sh[32];
    double s = 0;
    GRID_STRIDE(i, n) s += (double)x[i] * (double)x[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_sumsq_final(const double *part, int nb, double *out)
{
    RB_SHARED double sh[32];
    double s = 0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) s += part[i];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) out[0] = s;
}

double rb_cuda_sumsq(rb_backend *be, const float *x, size_t n)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (!n) return 0.0;
    unsigned nb = rb_cuda_blocks(n, EW_THREADS);
    if (nb > SUMSQ_BLOCKS) nb = SUMSQ_BLOCKS;
    double *part = (double *)rb_cuda_scratch(c, (nb + 1) * sizeof(double));
    if (!part) return NAN;
    RB_LAUNCH(c, k_sumsq_partial, nb, EW_THREADS, 0, x, n, part);
    RB_LAUNCH(c, k_sumsq_final, 1, EW_THREADS, 0, part, (int)nb, part + nb);
    cudaError_t e = cudaMemcpyAsync(c->host_double, part + nb, sizeof(double), cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) {
        rb_cuda_fail(c, "sumsq", cudaGetErrorString(e));
        return NAN;
    }
    return c->failed ? NAN : c->host_double[0];
}

/* ---- transpose: 32 x 32 tiles through shared memory ---- */

__global__ void k_transpose(float *out, const float *in, int rows, int cols)
{
    RB_SHARED float tile[32][33];
    const int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        int r = r0 + k, col = c0 + threadIdx.x;
        if (r < rows && col < cols) tile[k][threadIdx.x] = in[(size_t)r * cols + col];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        int col = c0 + k, r = r0 + threadIdx.x; /* out[col][r] = in[r][col] */
        if (r < rows && col < cols) out[(size_t)col * rows + r] = tile[threadIdx.x][k];
    }
}

void rb_cuda_transpose(rb_backend *be, float *out, const float *in, int rows, int cols)
{
    if (rows <= 0 || cols <= 0) return;
    dim3 grid((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32));
    RB_LAUNCH(cuda_ctx(be), k_transpose, grid, dim3(32, 8), 0, out, in, rows, cols);
}

/* ---- SwiGLU ---- */

__global__ void k_swiglu_fwd(float *act, const float *gu, int N, int F)
{
    GRID_STRIDE(i, (size_t)N * F)
    {
        size_t n = i / (size_t)F, f = i % (size_t)F;
        float g = gu[n * 2 * F + f], u = gu[n * 2 * F + F + f];
        float sig = 1.0f / (1.0f + expf(-g));
        act[i] = g * sig * u;
    }
}

__global__ void k_swiglu_bwd(float *dgu, const float *dact, const float *gu, int N, int F)
{
    /* each thread reads its gate and up values before writing both: dgu may be gu */
    GRID_STRIDE(i, (size_t)N * F)
    {
        size_t n = i / (size_t)F, f = i % (size_t)F;
        size_t ig = n * 2 * F + f, iu = ig + F;
        float g = gu[ig], u = gu[iu], da = dact[i];
        float sig = 1.0f / (1.0f + expf(-g));
        float silu = g * sig;
        dgu[ig] = da * u * sig * (1.0f + g * (1.0f - sig));
        dgu[iu] = da * silu;
    }
}

void rb_cuda_swiglu_fwd(rb_backend *be, float *act, const float *gu, int N, int F)
{
    if (N > 0 && F > 0)
        RB_LAUNCH(cuda_ctx(be), k_swiglu_fwd, rb_cuda_blocks((size_t)N * F, EW_THREADS), EW_THREADS, 0, act, gu, N, F);
}

void rb_cuda_swiglu_bwd(rb_backend *be, float *dgu, const float *dact, const float *gu, int N, int F)
{
    if (N > 0 && F > 0)
        RB_LAUNCH(cuda_ctx(be), k_swiglu_bwd, rb_cuda_blocks((size_t)N * F, EW_THREADS), EW_THREADS, 0, dgu, dact,
                  gu, N, F);
}

/* ---- RoPE, in place; one thread per rotated pair ---- */

__global__ void k_rope(float *x, int ld, const int32_t *pos, int N, int nh, int hd, const float *cos_t,
                       const float *sin_t, int interleaved, float sgn)
{
    const int half = hd / 2;
    GRID_STRIDE(i, (size_t)N * nh * half)
    {
        size_t n = i / ((size_t)nh * half);
        int r = (int)(i % ((size_t)nh * half)), h = r / half, k = r % half;
        const int p = pos[n];
        float c = cos_t[(size_t)p * half + k], s = sgn * sin_t[(size_t)p * half + k];
        float *v = x + n * (size_t)ld + (size_t)h * hd;
        const int ia = interleaved ? 2 * k : k, ib = interleaved ? 2 * k + 1 : k + half;
        float a = v[ia], b = v[ib];
        v[ia] = a * c - b * s;
        v[ib] = a * s + b * c;
    }
}

void rb_cuda_rope(rb_backend *be, float *x, int ld, const int32_t *pos, int N, int n_heads, int head_dim,
                  const float *cos_t, const float *sin_t, rb_rope_layout layout, int inverse)
{
    if (N <= 0 || n_heads <= 0 || head_dim < 2) return;
    RB_LAUNCH(cuda_ctx(be), k_rope, rb_cuda_blocks((size_t)N * n_heads * (head_dim / 2), EW_THREADS), EW_THREADS,
              0, x, ld, pos, N, n_heads, head_dim, cos_t, sin_t, layout == RB_ROPE_INTERLEAVED ? 1 : 0,
              inverse ? -1.0f : 1.0f);
}

/* ---- optimizers ---- */

__global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, float decay, float step,
                        float rbc2, float beta1, float beta2, float eps)
{
    GRID_STRIDE(i, n)
    {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

void rb_cuda_adamw(rb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                   float beta2, float eps, float wd, float bc1, float bc2)
{
    if (!n) return;
    /* the CPU backend's constants, computed the same way */
    const float decay = 1.0f - lr * wd, step = lr / bc1, rbc2 = 1.0f / sqrtf(bc2);
    RB_LAUNCH(cuda_ctx(be), k_adamw, rb_cuda_blocks(n, EW_THREADS), EW_THREADS, 0, p, g, m, v, n, decay, step,
              rbc2, beta1, beta2, eps);
}

__global__ void k_muon_momentum(float *M, float *U, const float *G, size_t n, float beta, int nesterov)
{
    GRID_STRIDE(i, n)
    {
        float gi = G[i];
        float mi = beta * M[i] + (1.0f - beta) * gi;
        M[i] = mi;
        U[i] = nesterov ? (1.0f - beta) * gi + beta * mi : mi;
    }
}

void rb_cuda_muon_momentum(rb_backend *be, float *M, float *U, const float *G, size_t n, float beta, int nesterov)
{
    if (n)
        RB_LAUNCH(cuda_ctx(be), k_muon_momentum, rb_cuda_blocks(n, EW_THREADS), EW_THREADS, 0, M, U, G, n, beta,
                  nesterov);
}
