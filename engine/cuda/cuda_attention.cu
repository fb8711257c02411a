/* cuda_attention.cu: causal grouped-query attention, fused and memory-
 * efficient (flash-style): the forward keeps only the log-sum-exp per query
 * row, the backward recomputes probabilities tile by tile; no [T, T] matrix
 * is ever stored. The same forward kernel serves decoding against a KV
 * cache (query row t at absolute position pos0 + t sees keys 0 .. pos0 + t).
 *
 * fp32 on CUDA cores: these kernels serve the fp32 and tf32 modes, decoding
 * in every mode, and head dimensions above 128; in bf16 mode training's
 * attention runs on tensor cores instead (cuda_attention_mma.cu).
 *
 * Row invariance (rb_backend.h asks it of attention_cached): query row t's
 * output is computed by one warp from its q row, its own key count
 * kvis = pos0 + t + 1 and key tiles that start at key 0 and step by 32
 * whatever the query tile, in a fixed sequence of operations (written with
 * fmaf, so no contraction choice differs between unrolled copies); the other
 * rows of its query tile, n, and the tile it lands in change only which
 * block and warp run that sequence. tests/support/rb_parity.c checks it
 * bitwise (rows alone against the same rows in a chunk of 37).
 *
 * Forward and dQ: a block of 4 warps owns 32 query rows of one (b, h); key
 * and value tiles of 32 rows are staged in shared memory (rows padded by one
 * float, so lane j reading row j is free of bank conflicts). For each query
 * row, lane j scores key j; the row's running max and sum are warp
 * reductions (online softmax); each lane accumulates head dimensions
 * lane + 32 c in registers, taking the probabilities by warp shuffle.
 * dK and dV: a one-warp block owns 32 keys of one (b, kv head) and walks the
 * query rows that see them (every query head of the group), lane j
 * accumulating the rows of dK and dV for key j in shared memory. The two
 * backward kernels recompute the scores separately instead of adding into
 * dQ with atomics: the result is deterministic. */
#include <stdio.h>

#include "cu_common.cuh"

#define ATT_QT 32   /* query rows per block (forward, dQ) */
#define ATT_KT 32   /* keys per tile */
#define ATT_WARPS 4
#define ATT_ROWS (ATT_QT / ATT_WARPS)
#define ATT_QT2 16  /* query rows staged at once by the dK/dV kernel */

/* x(b, t, head, d) = x[b * bs + t * ld + head * hd + d] */
typedef struct {
    const float *q;
    long long qb;
    int ldq;
    const float *k, *v;
    long long kb;
    int ldk;
    int B, H, KV, hd, Tq, Tk, pos0; /* query row t sees keys j <= pos0 + t, j < Tk */
    float scale;
} att_geom;

static size_t fwd_smem(int hd) { return ((size_t)ATT_QT * hd + 2 * (size_t)ATT_KT * (hd + 1)) * sizeof(float); }
static size_t dq_smem(int hd) { return (2 * (size_t)ATT_QT * hd + 2 * (size_t)ATT_KT * (hd + 1)) * sizeof(float); }
static size_t dkdv_smem(int hd)
{
    return (4 * (size_t)ATT_KT * (hd + 1) + 2 * (size_t)ATT_QT2 * hd + 2 * ATT_QT2) * sizeof(float);
}

static __device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }

template <int HC>
__global__ void __launch_bounds__(128) k_att_fwd(att_geom g, float *out, long long ob, int ldo, float *lse)
{
    RB_DYN_SMEM(float, sm);
    const int hd = g.hd, hp = hd + 1;
    float *qs = sm, *ks = qs + ATT_QT * hd, *vs = ks + ATT_KT * hp;
    const int b = blockIdx.y / g.H, h = blockIdx.y % g.H, kvh = h / (g.H / g.KV);
    const int t0 = blockIdx.x * ATT_QT, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const float *qb = g.q + (size_t)b * g.qb + (size_t)h * hd;
    const float *kb = g.k + (size_t)b * g.kb + (size_t)kvh * hd;
    const float *vb = g.v + (size_t)b * g.kb + (size_t)kvh * hd;
    for (int i = threadIdx.x; i < ATT_QT * hd; i += blockDim.x) {
        int r = i / hd, d = i % hd, t = t0 + r;
        qs[i] = t < g.Tq ? qb[(size_t)t * g.ldq + d] : 0.0f;
    }
    float o[ATT_ROWS][HC], m[ATT_ROWS], l[ATT_ROWS];
#pragma unroll
    for (int rr = 0; rr < ATT_ROWS; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int c = 0; c < HC; c++) o[rr][c] = 0.0f;
    }
    const int t_last = imin(t0 + ATT_QT, g.Tq) - 1;
    const int kend = imin(g.pos0 + t_last + 1, g.Tk); /* keys seen by some row of the tile */
    for (int j0 = 0; j0 < kend; j0 += ATT_KT) {
        __syncthreads(); /* the previous tile is no longer read */
        for (int i = threadIdx.x; i < ATT_KT * hd; i += blockDim.x) {
            int jj = i / hd, d = i % hd, j = j0 + jj;
            ks[jj * hp + d] = j < kend ? kb[(size_t)j * g.ldk + d] : 0.0f;
            vs[jj * hp + d] = j < kend ? vb[(size_t)j * g.ldk + d] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATT_ROWS; rr++) {
            const int r = w * ATT_ROWS + rr, t = t0 + r;
            if (t >= g.Tq) continue; /* warp-uniform, as below */
            const int kvis = imin(g.pos0 + t + 1, g.Tk);
            if (j0 >= kvis) continue;
            const int j = j0 + lane;
            float s = -INFINITY;
            if (j < kvis) {
                const float *qr = qs + r * hd, *kr = ks + lane * hp;
                float dot = 0.0f;
                for (int d = 0; d < hd; d++) dot = fmaf(qr[d], kr[d], dot);
                s = dot * g.scale;
            }
            const float mnew = fmaxf(m[rr], warp_max(s));
            const float p = j < kvis ? expf(s - mnew) : 0.0f;
            const float corr = expf(m[rr] - mnew); /* 0 on the first tile */
            l[rr] = fmaf(l[rr], corr, warp_sum(p));
            m[rr] = mnew;
#pragma unroll
            for (int c = 0; c < HC; c++) o[rr][c] *= corr;
            const int nj = imin(ATT_KT, kvis - j0);
            for (int jj = 0; jj < nj; jj++) {
                const float pj = shfl_idx(p, jj);
                const float *vr = vs + jj * hp;
#pragma unroll
                for (int c = 0; c < HC; c++) {
                    const int d = lane + 32 * c;
                    if (d < hd) o[rr][c] = fmaf(pj, vr[d], o[rr][c]);
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_ROWS; rr++) {
        const int t = t0 + w * ATT_ROWS + rr;
        if (t >= g.Tq) continue;
        const float inv = 1.0f / l[rr];
        float *orow = out + (size_t)b * ob + (size_t)t * ldo + (size_t)h * hd;
#pragma unroll
        for (int c = 0; c < HC; c++) {
            const int d = lane + 32 * c;
            if (d < hd) orow[d] = o[rr][c] * inv;
        }
        if (lse && lane == 0) lse[((size_t)b * g.H + h) * g.Tq + t] = m[rr] + logf(l[rr]);
    }
}

/* Dr[b, h, t] = sum_d dO * O over one head's row (one warp per row) */
__global__ void k_att_rowdot(float *Dr, const float *dout, const float *out, int B, int T, int H, int hd)
{
    const long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= (long long)B * T * H) return; /* a whole warp, and no block barrier follows */
    const int b = (int)(row / ((long long)T * H)), rem = (int)(row % ((long long)T * H));
    const int t = rem / H, h = rem % H;
    const size_t base = ((size_t)b * T + t) * (size_t)H * hd + (size_t)h * hd;
    float s = 0.0f;
    for (int d = lane; d < hd; d += 32) s += dout[base + d] * out[base + d];
    s = warp_sum(s);
    if (lane == 0) Dr[((size_t)b * H + h) * T + t] = s;
}

/* dQ for 32 query rows of one (b, h): dQ = scale sum_j dS_tj K_j with
 * dS = P (dP - D), P = exp(S - lse), dP = dO V^T. Training geometry. */
template <int HC>
__global__ void __launch_bounds__(128) k_att_bwd_dq(att_geom g, const float *dout, const float *lse,
                                                    const float *Dr, float *dq, int ld_dq)
{
    RB_DYN_SMEM(float, sm);
    const int hd = g.hd, hp = hd + 1, T = g.Tq, ldo = g.H * hd;
    float *qs = sm, *dos = qs + ATT_QT * hd, *ks = dos + ATT_QT * hd, *vs = ks + ATT_KT * hp;
    const int b = blockIdx.y / g.H, h = blockIdx.y % g.H, kvh = h / (g.H / g.KV);
    const int t0 = blockIdx.x * ATT_QT, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const float *qb = g.q + (size_t)b * g.qb + (size_t)h * hd;
    const float *kb = g.k + (size_t)b * g.kb + (size_t)kvh * hd;
    const float *vb = g.v + (size_t)b * g.kb + (size_t)kvh * hd;
    const float *dob = dout + (size_t)b * T * ldo + (size_t)h * hd;
    for (int i = threadIdx.x; i < ATT_QT * hd; i += blockDim.x) {
        int r = i / hd, d = i % hd, t = t0 + r;
        qs[i] = t < T ? qb[(size_t)t * g.ldq + d] : 0.0f;
        dos[i] = t < T ? dob[(size_t)t * ldo + d] : 0.0f;
    }
    float acc[ATT_ROWS][HC], L[ATT_ROWS], Dv[ATT_ROWS];
#pragma unroll
    for (int rr = 0; rr < ATT_ROWS; rr++) {
        const int t = t0 + w * ATT_ROWS + rr;
        L[rr] = t < T ? lse[((size_t)b * g.H + h) * T + t] : 0.0f;
        Dv[rr] = t < T ? Dr[((size_t)b * g.H + h) * T + t] : 0.0f;
#pragma unroll
        for (int c = 0; c < HC; c++) acc[rr][c] = 0.0f;
    }
    const int kend = imin(t0 + ATT_QT, T);
    for (int j0 = 0; j0 < kend; j0 += ATT_KT) {
        __syncthreads();
        for (int i = threadIdx.x; i < ATT_KT * hd; i += blockDim.x) {
            int jj = i / hd, d = i % hd, j = j0 + jj;
            ks[jj * hp + d] = j < kend ? kb[(size_t)j * g.ldk + d] : 0.0f;
            vs[jj * hp + d] = j < kend ? vb[(size_t)j * g.ldk + d] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATT_ROWS; rr++) {
            const int r = w * ATT_ROWS + rr, t = t0 + r;
            if (t >= T || j0 > t) continue; /* warp-uniform */
            const int j = j0 + lane;
            float ds = 0.0f;
            if (j <= t) {
                const float *qr = qs + r * hd, *dr = dos + r * hd, *kr = ks + lane * hp, *vr = vs + lane * hp;
                float s = 0.0f, dp = 0.0f;
                for (int d = 0; d < hd; d++) {
                    s += qr[d] * kr[d];
                    dp += dr[d] * vr[d];
                }
                const float p = expf(s * g.scale - L[rr]);
                ds = p * (dp - Dv[rr]);
            }
            const int nj = imin(ATT_KT, t + 1 - j0);
            for (int jj = 0; jj < nj; jj++) {
                const float dsj = shfl_idx(ds, jj);
                const float *kr = ks + jj * hp;
#pragma unroll
                for (int c = 0; c < HC; c++) {
                    const int d = lane + 32 * c;
                    if (d < hd) acc[rr][c] += dsj * kr[d];
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_ROWS; rr++) {
        const int t = t0 + w * ATT_ROWS + rr;
        if (t >= T) continue;
        float *row = dq + (size_t)b * T * ld_dq + (size_t)t * ld_dq + (size_t)h * hd;
#pragma unroll
        for (int c = 0; c < HC; c++) {
            const int d = lane + 32 * c;
            if (d < hd) row[d] = g.scale * acc[rr][c];
        }
    }
}

/* dK, dV for 32 keys of one (b, kv head), one warp: lane j owns key j0 + j.
 * dV_j = sum_t P_tj dO_t;  dK_j = scale sum_t dS_tj Q_t over the group's heads. */
__global__ void __launch_bounds__(32) k_att_bwd_dkdv(att_geom g, const float *dout, const float *lse,
                                                     const float *Dr, float *dqkv, int ld)
{
    RB_DYN_SMEM(float, sm);
    const int hd = g.hd, hp = hd + 1, T = g.Tq, ldo = g.H * hd, group = g.H / g.KV;
    float *ks = sm, *vs = ks + ATT_KT * hp, *dks = vs + ATT_KT * hp, *dvs = dks + ATT_KT * hp;
    float *qs = dvs + ATT_KT * hp, *dos = qs + ATT_QT2 * hd, *Ls = dos + ATT_QT2 * hd, *Ds = Ls + ATT_QT2;
    const int b = blockIdx.y / g.KV, kvh = blockIdx.y % g.KV, j0 = blockIdx.x * ATT_KT, lane = threadIdx.x;
    const float *kb = g.k + (size_t)b * g.kb + (size_t)kvh * hd;
    const float *vb = g.v + (size_t)b * g.kb + (size_t)kvh * hd;
    for (int i = lane; i < ATT_KT * hd; i += 32) {
        int jj = i / hd, d = i % hd, j = j0 + jj;
        ks[jj * hp + d] = j < T ? kb[(size_t)j * g.ldk + d] : 0.0f;
        vs[jj * hp + d] = j < T ? vb[(size_t)j * g.ldk + d] : 0.0f;
        dks[jj * hp + d] = 0.0f;
        dvs[jj * hp + d] = 0.0f;
    }
    const int j = j0 + lane;
    for (int hh = 0; hh < group; hh++) {
        const int h = kvh * group + hh;
        const float *qb = g.q + (size_t)b * g.qb + (size_t)h * hd;
        const float *dob = dout + (size_t)b * T * ldo + (size_t)h * hd;
        for (int tq0 = j0; tq0 < T; tq0 += ATT_QT2) {
            __syncthreads(); /* the staged rows (and, first, the key tiles) are settled */
            for (int i = lane; i < ATT_QT2 * hd; i += 32) {
                int r = i / hd, d = i % hd, t = tq0 + r;
                qs[i] = t < T ? qb[(size_t)t * g.ldq + d] : 0.0f;
                dos[i] = t < T ? dob[(size_t)t * ldo + d] : 0.0f;
            }
            if (lane < ATT_QT2) {
                int t = tq0 + lane;
                Ls[lane] = t < T ? lse[((size_t)b * g.H + h) * T + t] : 0.0f;
                Ds[lane] = t < T ? Dr[((size_t)b * g.H + h) * T + t] : 0.0f;
            }
            __syncthreads();
            const int nr = imin(ATT_QT2, T - tq0);
            for (int r = 0; r < nr; r++) {
                const int t = tq0 + r;
                if (j >= T || j > t) continue; /* this lane's key is not seen by row t */
                const float *qr = qs + r * hd, *dr = dos + r * hd;
                float *dk = dks + lane * hp, *dv = dvs + lane * hp;
                const float *kr = ks + lane * hp, *vr = vs + lane * hp;
                float s = 0.0f, dp = 0.0f;
                for (int d = 0; d < hd; d++) {
                    s += qr[d] * kr[d];
                    dp += dr[d] * vr[d];
                }
                const float p = expf(s * g.scale - Ls[r]);
                const float ds = p * (dp - Ds[r]);
                for (int d = 0; d < hd; d++) {
                    dv[d] += p * dr[d];
                    dk[d] += ds * qr[d];
                }
            }
        }
    }
    if (j < T) {
        float *dkrow = dqkv + ((size_t)b * T + j) * ld + (size_t)(g.H + kvh) * hd;
        float *dvrow = dqkv + ((size_t)b * T + j) * ld + (size_t)(g.H + g.KV + kvh) * hd;
        for (int d = 0; d < hd; d++) {
            dkrow[d] = g.scale * dks[lane * hp + d];
            dvrow[d] = dvs[lane * hp + d];
        }
    }
}

static int head_chunks(rb_cuda_ctx *c, int hd)
{
    if (hd >= 1 && hd <= 64) return 2;
    if (hd <= 128) return 4;
    if (hd <= 256) return 8;
    char msg[96];
    snprintf(msg, sizeof msg, "head_dim %d is above the kernels' 256", hd);
    rb_cuda_fail(c, "attention", msg);
    return 0;
}

static int smem_ok(rb_cuda_ctx *c, size_t bytes, const char *what)
{
    if (bytes <= c->smem_optin) return 1;
    char msg[160];
    snprintf(msg, sizeof msg, "needs %zu bytes of shared memory per block; this GPU allows %zu (a smaller "
                              "head_dim)", bytes, c->smem_optin);
    rb_cuda_fail(c, what, msg);
    return 0;
}

static size_t cap(size_t want, size_t optin) { return want < optin ? want : optin; }

void rb_cuda_attention_init(rb_cuda_ctx *c)
{
    const size_t o = c->smem_optin;
    cudaFuncSetAttribute((const void *)k_att_fwd<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(fwd_smem(64), o));
    cudaFuncSetAttribute((const void *)k_att_fwd<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(fwd_smem(128), o));
    cudaFuncSetAttribute((const void *)k_att_fwd<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(fwd_smem(256), o));
    cudaFuncSetAttribute((const void *)k_att_bwd_dq<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(dq_smem(64), o));
    cudaFuncSetAttribute((const void *)k_att_bwd_dq<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(dq_smem(128), o));
    cudaFuncSetAttribute((const void *)k_att_bwd_dq<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(dq_smem(256), o));
    cudaFuncSetAttribute((const void *)k_att_bwd_dkdv, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(dkdv_smem(256), o));
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) rb_cuda_fail(c, "attention kernels' shared-memory limits", cudaGetErrorString(e));
    rb_cuda_att_mma_init(c);
}

static void launch_fwd(rb_cuda_ctx *c, const att_geom *g, float *out, long long ob, int ldo, float *lse)
{
    const int hc = head_chunks(c, g->hd);
    const size_t sm = fwd_smem(g->hd);
    if (!hc || !smem_ok(c, sm, "attention")) return;
    dim3 grid((unsigned)((g->Tq + ATT_QT - 1) / ATT_QT), (unsigned)(g->B * g->H));
    const att_geom gg = *g;
    if (hc == 2) RB_LAUNCH(c, k_att_fwd<2>, grid, 128, sm, gg, out, ob, ldo, lse);
    else if (hc == 4) RB_LAUNCH(c, k_att_fwd<4>, grid, 128, sm, gg, out, ob, ldo, lse);
    else RB_LAUNCH(c, k_att_fwd<8>, grid, 128, sm, gg, out, ob, ldo, lse);
}

static att_geom training_geom(const float *qkv, int B, int T, int H, int KV, int hd)
{
    const int ld = (H + 2 * KV) * hd;
    att_geom g;
    g.q = qkv;
    g.qb = (long long)T * ld;
    g.ldq = ld;
    g.k = qkv + (size_t)H * hd;
    g.v = qkv + (size_t)(H + KV) * hd;
    g.kb = (long long)T * ld;
    g.ldk = ld;
    g.B = B;
    g.H = H;
    g.KV = KV;
    g.hd = hd;
    g.Tq = T;
    g.Tk = T;
    g.pos0 = 0;
    g.scale = 1.0f / sqrtf((float)hd);
    return g;
}

void rb_cuda_attention_fwd(rb_backend *be, float *out, float *lse, const float *qkv, int B, int T, int H, int KV,
                           int hd)
{
    if (B <= 0 || T <= 0 || H <= 0) return;
    rb_cuda_ctx *c = cuda_ctx(be);
    if (rb_cuda_att_mma_ok(c, hd)) {
        rb_cuda_att_fwd_mma(c, out, lse, qkv, B, T, H, KV, hd);
        return;
    }
    att_geom g = training_geom(qkv, B, T, H, KV, hd);
    launch_fwd(c, &g, out, (long long)T * H * hd, H * hd, lse);
}

void rb_cuda_attention_cached(rb_backend *be, float *out, const float *q, int ldq, const float *kc,
                              const float *vc, int n, int pos0, int H, int KV, int hd)
{
    if (n <= 0 || H <= 0) return;
    att_geom g;
    g.q = q;
    g.qb = 0;
    g.ldq = ldq;
    g.k = kc;
    g.v = vc;
    g.kb = 0;
    g.ldk = KV * hd;
    g.B = 1;
    g.H = H;
    g.KV = KV;
    g.hd = hd;
    g.Tq = n;
    g.Tk = pos0 + n;
    g.pos0 = pos0;
    g.scale = 1.0f / sqrtf((float)hd);
    launch_fwd(cuda_ctx(be), &g, out, 0, H * hd, NULL);
}

void rb_cuda_attention_bwd(rb_backend *be, float *dqkv, const float *dout, const float *qkv, const float *out,
                           const float *lse, int B, int T, int H, int KV, int hd)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    if (B <= 0 || T <= 0 || H <= 0) return;
    const int mma = rb_cuda_att_mma_ok(c, hd);
    const int hc = mma ? 0 : head_chunks(c, hd);
    if (!mma && (!hc || !smem_ok(c, dq_smem(hd), "attention backward") ||
                 !smem_ok(c, dkdv_smem(hd), "attention backward")))
        return;
    float *Dr = (float *)rb_cuda_scratch(c, (size_t)B * H * T * sizeof(float));
    if (!Dr) return;
    const long long rows = (long long)B * T * H;
    RB_LAUNCH(c, k_att_rowdot, (unsigned)((rows + 3) / 4), 128, 0, Dr, dout, out, B, T, H, hd);
    if (mma) {
        rb_cuda_att_bwd_mma(c, dqkv, dout, qkv, lse, Dr, B, T, H, KV, hd);
        return;
    }
    const att_geom g = training_geom(qkv, B, T, H, KV, hd);
    const int ld = (H + 2 * KV) * hd;
    dim3 gq((unsigned)((T + ATT_QT - 1) / ATT_QT), (unsigned)(B * H));
    const size_t sq = dq_smem(hd);
    if (hc == 2) RB_LAUNCH(c, k_att_bwd_dq<2>, gq, 128, sq, g, dout, lse, Dr, dqkv, ld);
    else if (hc == 4) RB_LAUNCH(c, k_att_bwd_dq<4>, gq, 128, sq, g, dout, lse, Dr, dqkv, ld);
    else RB_LAUNCH(c, k_att_bwd_dq<8>, gq, 128, sq, g, dout, lse, Dr, dqkv, ld);
    dim3 gk((unsigned)((T + ATT_KT - 1) / ATT_KT), (unsigned)(B * KV));
    RB_LAUNCH(c, k_att_bwd_dkdv, gk, 32, dkdv_smem(hd), g, dout, lse, Dr, dqkv, ld);
}
