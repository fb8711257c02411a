/* cuda_attention_mma.cu: training's causal grouped-query attention in bf16
 * mode on tensor cores (mma.sync m16n8k16, bf16 operands, fp32
 * accumulators), forward and backward, FlashAttention-2 style: no [T, T]
 * matrix is stored, the forward keeps the natural-log log-sum-exp per
 * query row (the same lse contract as the fp32 kernels), the backward
 * recomputes probabilities tile by tile. Head dimensions up to 128 (padded
 * with zeros to 16, 32, 64 or 128); larger ones, the fp32 and tf32 modes and
 * decoding use the fp32 kernels of cuda_attention.cu.
 *
 * What is rounded to bf16 (nearest even): Q, K, V and dO as they are staged
 * into shared memory; the probabilities P before P V and P^T dO; dS before
 * dS K and dS^T Q. Scores, dP, the softmax statistics, the row sums and all
 * accumulators are fp32. The row sum l adds the rounded probabilities, so
 * the output is an exact weighted average of V with the rounded weights.
 * docs/cuda.md bounds the resulting differences from the fp32 reference.
 *
 * Forward and dQ: a block of 4 warps owns 64 query rows of one (b, h), each
 * warp 16 rows (the M of one mma), and walks key tiles of 64. dK and dV: a
 * block owns 64 keys of one (b, kv head), each warp 16 keys, and walks the
 * query tiles that see them, for every query head of the group. As in the
 * fp32 kernels the two backward kernels recompute the scores separately
 * instead of adding into dQ atomically: deterministic results.
 *
 * Operands are staged as bf16 in shared memory with rows of HDP + 8 (or
 * 64 + 8) elements: the fragment loads of cu_mma.cuh (lane g, t reads row
 * g, word t) then fall in 32 different banks. Where an operand's k runs
 * across rows of its source (V in P V, K in dS K, Q and dO in the dK / dV
 * products) it is staged transposed. */
#include <stdio.h>

#include "cu_mma.cuh"

#define MQ 64   /* query rows per block (forward, dQ), keys per block (dK, dV) */
#define MK 64   /* keys (forward, dQ) or query rows (dK, dV) per tile */
#define MPAD 8  /* bf16 elements of padding per staged row */
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

typedef struct {
    const float *qkv; /* [B T, (H + 2 KV) hd] */
    int B, T, H, KV, hd, ld;
    float scale;
} mma_geom;

static __device__ __forceinline__ int mmin(int a, int b) { return a < b ? a : b; }

/* rows [r0, r0 + 64) of x (row stride ldx, hd valid columns) into s[64][HDP + 8],
 * zero outside; as bf16 pairs */
template <int HDP>
static __device__ __forceinline__ void stage_rows(uint16_t *s, const float *x, long long ldx, int r0, int nrows, int hd)
{
    constexpr int LS = HDP + MPAD, HP = HDP / 2;
    for (int i = threadIdx.x; i < 64 * HP; i += blockDim.x) {
        const int r = i / HP, d = 2 * (i % HP), row = r0 + r;
        float v0 = 0.0f, v1 = 0.0f;
        if (row < nrows) {
            const float *p = x + (size_t)row * (size_t)ldx;
            if (d < hd) v0 = p[d];
            if (d + 1 < hd) v1 = p[d + 1];
        }
        *(uint32_t *)(s + r * LS + d) = pack_bf16(v0, v1);
    }
}

/* the same rows transposed: st[HDP][64 + 8], st[d][r] = x[r0 + r][d] */
template <int HDP>
static __device__ __forceinline__ void stage_cols(uint16_t *st, const float *x, long long ldx, int r0, int nrows, int hd)
{
    constexpr int LT = MK + MPAD;
    for (int i = threadIdx.x; i < HDP * 32; i += blockDim.x) {
        const int d = i % HDP, r = 2 * (i / HDP), row = r0 + r;
        float v0 = 0.0f, v1 = 0.0f;
        if (d < hd) {
            if (row < nrows) v0 = x[(size_t)row * (size_t)ldx + d];
            if (row + 1 < nrows) v1 = x[(size_t)(row + 1) * (size_t)ldx + d];
        }
        *(uint32_t *)(st + d * LT + r) = pack_bf16(v0, v1);
    }
}

/* acc[16 x 64] += A[16 rows from a0, HDP] B^T, B's 64 rows of HDP stored in bs */
template <int HDP>
static __device__ __forceinline__ void mma_rows_x_rows(float acc[8][4], const uint16_t *as, int a_row0,
                                                       const uint16_t *bs, int lane)
{
    constexpr int LS = HDP + MPAD;
#pragma unroll
    for (int kc = 0; kc < HDP / 16; kc++) {
        uint32_t a[4];
        frag_a(a, as, LS, a_row0, 16 * kc, lane);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            uint32_t b[2];
            frag_b(b, bs, LS, 8 * nt, 16 * kc, lane);
            mma_16816(acc[nt], a, b);
        }
    }
}

/* out[16 x HDP] += X[16 x 64] (accumulator tiles, rounded here) Y[64 x HDP],
 * Y stored transposed in yt[HDP][64 + 8] */
template <int HDP>
static __device__ __forceinline__ void mma_acc_x_cols(float out[HDP / 8][4], const float x[8][4], const uint16_t *yt,
                                                      int lane)
{
    constexpr int LT = MK + MPAD;
#pragma unroll
    for (int kc = 0; kc < 4; kc++) {
        uint32_t a[4];
        acc_to_a(a, x[2 * kc], x[2 * kc + 1]);
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++) {
            uint32_t b[2];
            frag_b(b, yt, LT, 8 * dt, 16 * kc, lane);
            mma_16816(out[dt], a, b);
        }
    }
}

static size_t fwd_smem_mma(int hdp) { return ((size_t)(MQ + MK) * (hdp + MPAD) + (size_t)hdp * (MK + MPAD)) * 2; }
static size_t dq_smem_mma(int hdp) { return ((size_t)4 * 64 * (hdp + MPAD) + (size_t)hdp * (MK + MPAD)) * 2; }
static size_t dkdv_smem_mma(int hdp)
{
    return ((size_t)4 * 64 * (hdp + MPAD) + (size_t)2 * hdp * (MK + MPAD)) * 2 + 2 * MK * sizeof(float);
}

template <int HDP>
__global__ void __launch_bounds__(128) k_att_fwd_mma(mma_geom g, float *out, float *lse)
{
    RB_DYN_SMEM(uint16_t, sm);
    constexpr int LS = HDP + MPAD;
    uint16_t *qs = sm, *ks = qs + MQ * LS, *vt = ks + MK * LS;
    const int T = g.T, hd = g.hd, b = blockIdx.y / g.H, h = blockIdx.y % g.H, kvh = h / (g.H / g.KV);
    const int t0 = blockIdx.x * MQ, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int gr = lane >> 2, tq = lane & 3, rw0 = t0 + 16 * w;
    const float *base = g.qkv + (size_t)b * T * g.ld;
    stage_rows<HDP>(qs, base + (size_t)h * hd, g.ld, t0, T, hd);
    const float *kb = base + (size_t)(g.H + kvh) * hd, *vb = base + (size_t)(g.H + g.KV + kvh) * hd;
    float o[HDP / 8][4], m2[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int dt = 0; dt < HDP / 8; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
    const float sl2 = g.scale * LOG2E;
    const int kend = mmin(t0 + MQ, T);                   /* keys seen by some row of the block */
    const int wkend = rw0 < T ? mmin(rw0 + 16, T) : 0;   /* ... by some row of this warp */
    for (int j0 = 0; j0 < kend; j0 += MK) {
        __syncthreads(); /* the previous tiles are no longer read */
        stage_rows<HDP>(ks, kb, g.ld, j0, kend, hd);
        stage_cols<HDP>(vt, vb + (size_t)j0 * g.ld, g.ld, 0, kend - j0, hd);
        __syncthreads();
        if (j0 >= wkend) continue; /* warp-uniform: no visible key in this tile */
        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        mma_rows_x_rows<HDP>(s, qs, 16 * w, ks, lane);
        /* scale into the log2 domain, mask, and take each row's maximum */
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int row = rw0 + gr + (i >= 2 ? 8 : 0), key = j0 + 8 * nt + 2 * tq + (i & 1);
                s[nt][i] = row < T && key <= row ? s[nt][i] * sl2 : -INFINITY;
                mx[i >> 1] = fmaxf(mx[i >> 1], s[nt][i]);
            }
        float mu[2], corr[2], ls[2] = {0.0f, 0.0f};
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 1));
            mx[r] = fmaxf(mx[r], shfl_xor(mx[r], 2)); /* the four lanes of a row */
            const float mnew = fmaxf(m2[r], mx[r]);
            mu[r] = mnew == -INFINITY ? 0.0f : mnew; /* a row with no visible key yet */
            corr[r] = exp2f(m2[r] - mu[r]);
            m2[r] = mnew;
        }
        /* probabilities, rounded to bf16 here: the row sum adds what P V multiplies */
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float p = bf16_round(exp2f(s[nt][i] - mu[i >> 1]));
                s[nt][i] = p;
                ls[i >> 1] += p;
            }
#pragma unroll
        for (int r = 0; r < 2; r++) l[r] = l[r] * corr[r] + ls[r];
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++) {
            o[dt][0] *= corr[0], o[dt][1] *= corr[0];
            o[dt][2] *= corr[1], o[dt][3] *= corr[1];
        }
        mma_acc_x_cols<HDP>(o, s, vt, lane);
    }
    const int Dq = g.H * hd;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += shfl_xor(l[r], 1);
        l[r] += shfl_xor(l[r], 2);
        const int row = rw0 + gr + 8 * r;
        if (row >= T) continue;
        const float inv = 1.0f / l[r];
        float *orow = out + ((size_t)b * T + row) * Dq + (size_t)h * hd;
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int d = 8 * dt + 2 * tq + e;
                if (d < hd) orow[d] = o[dt][2 * r + e] * inv;
            }
        if (tq == 0 && lse) lse[((size_t)b * g.H + h) * T + row] = (m2[r] + log2f(l[r])) * LN2;
    }
}

/* dQ for 64 query rows of one (b, h): dQ = scale dS K, dS = P (dP - D),
 * P = exp(scale S - lse), dP = dO V^T */
template <int HDP>
__global__ void __launch_bounds__(128) k_att_bwd_dq_mma(mma_geom g, const float *dout, const float *lse,
                                                        const float *Dr, float *dqkv)
{
    RB_DYN_SMEM(uint16_t, sm);
    constexpr int LS = HDP + MPAD;
    uint16_t *qs = sm, *dos = qs + 64 * LS, *ks = dos + 64 * LS, *vs = ks + 64 * LS, *kt = vs + 64 * LS;
    const int T = g.T, hd = g.hd, b = blockIdx.y / g.H, h = blockIdx.y % g.H, kvh = h / (g.H / g.KV);
    const int t0 = blockIdx.x * MQ, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int gr = lane >> 2, tq = lane & 3, rw0 = t0 + 16 * w, Dq = g.H * hd;
    const float *base = g.qkv + (size_t)b * T * g.ld;
    stage_rows<HDP>(qs, base + (size_t)h * hd, g.ld, t0, T, hd);
    stage_rows<HDP>(dos, dout + (size_t)b * T * Dq + (size_t)h * hd, Dq, t0, T, hd);
    const float *kb = base + (size_t)(g.H + kvh) * hd, *vb = base + (size_t)(g.H + g.KV + kvh) * hd;
    float L2[2], Dv[2], acc[HDP / 8][4];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = rw0 + gr + 8 * r;
        L2[r] = row < T ? lse[((size_t)b * g.H + h) * T + row] * LOG2E : 0.0f;
        Dv[r] = row < T ? Dr[((size_t)b * g.H + h) * T + row] : 0.0f;
    }
#pragma unroll
    for (int dt = 0; dt < HDP / 8; dt++) acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;
    const float sl2 = g.scale * LOG2E;
    const int kend = mmin(t0 + MQ, T), wkend = rw0 < T ? mmin(rw0 + 16, T) : 0;
    for (int j0 = 0; j0 < kend; j0 += MK) {
        __syncthreads();
        stage_rows<HDP>(ks, kb, g.ld, j0, kend, hd);
        stage_rows<HDP>(vs, vb, g.ld, j0, kend, hd);
        stage_cols<HDP>(kt, kb + (size_t)j0 * g.ld, g.ld, 0, kend - j0, hd);
        __syncthreads();
        if (j0 >= wkend) continue;
        float s[8][4], dp[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) s[nt][i] = dp[nt][i] = 0.0f;
        mma_rows_x_rows<HDP>(s, qs, 16 * w, ks, lane);
        mma_rows_x_rows<HDP>(dp, dos, 16 * w, vs, lane);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int r = i >> 1, row = rw0 + gr + 8 * r, key = j0 + 8 * nt + 2 * tq + (i & 1);
                const float p = row < T && key <= row ? exp2f(s[nt][i] * sl2 - L2[r]) : 0.0f;
                s[nt][i] = p * (dp[nt][i] - Dv[r]); /* dS */
            }
        mma_acc_x_cols<HDP>(acc, s, kt, lane);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = rw0 + gr + 8 * r;
        if (row >= T) continue;
        float *dq = dqkv + ((size_t)b * T + row) * g.ld + (size_t)h * hd;
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int d = 8 * dt + 2 * tq + e;
                if (d < hd) dq[d] = g.scale * acc[dt][2 * r + e];
            }
    }
}

/* dK, dV for 64 keys of one (b, kv head), over the group's query heads:
 * dV = P^T dO, dK = scale dS^T Q, from the transposed scores S^T = K Q^T and
 * dP^T = V dO^T */
template <int HDP>
__global__ void __launch_bounds__(128) k_att_bwd_dkdv_mma(mma_geom g, const float *dout, const float *lse,
                                                          const float *Dr, float *dqkv)
{
    RB_DYN_SMEM(uint16_t, sm);
    constexpr int LS = HDP + MPAD, LT = MK + MPAD;
    uint16_t *ks = sm, *vs = ks + 64 * LS, *qs = vs + 64 * LS, *dos = qs + 64 * LS, *qt = dos + 64 * LS;
    uint16_t *dot = qt + HDP * LT;
    float *lse2 = (float *)(dot + HDP * LT), *ds_ = lse2 + MK;
    const int T = g.T, hd = g.hd, group = g.H / g.KV, b = blockIdx.y / g.KV, kvh = blockIdx.y % g.KV;
    const int j0 = blockIdx.x * MQ, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int gr = lane >> 2, tq = lane & 3, kw0 = j0 + 16 * w, Dq = g.H * hd;
    const float *base = g.qkv + (size_t)b * T * g.ld;
    stage_rows<HDP>(ks, base + (size_t)(g.H + kvh) * hd, g.ld, j0, T, hd);
    stage_rows<HDP>(vs, base + (size_t)(g.H + g.KV + kvh) * hd, g.ld, j0, T, hd);
    float dk[HDP / 8][4], dv[HDP / 8][4];
#pragma unroll
    for (int dt = 0; dt < HDP / 8; dt++)
#pragma unroll
        for (int i = 0; i < 4; i++) dk[dt][i] = dv[dt][i] = 0.0f;
    const float sl2 = g.scale * LOG2E;
    for (int hh = 0; hh < group; hh++) {
        const int h = kvh * group + hh;
        const float *qb = base + (size_t)h * hd, *dob = dout + (size_t)b * T * Dq + (size_t)h * hd;
        const float *lb = lse + ((size_t)b * g.H + h) * T, *db = Dr + ((size_t)b * g.H + h) * T;
        /* queries before j0 see none of these keys */
        for (int tq0 = j0; tq0 < T; tq0 += MK) {
            __syncthreads(); /* the staged queries (and, first, the keys) are settled */
            stage_rows<HDP>(qs, qb, g.ld, tq0, T, hd);
            stage_rows<HDP>(dos, dob, Dq, tq0, T, hd);
            stage_cols<HDP>(qt, qb + (size_t)tq0 * g.ld, g.ld, 0, T - tq0, hd);
            stage_cols<HDP>(dot, dob + (size_t)tq0 * Dq, Dq, 0, T - tq0, hd);
            for (int i = threadIdx.x; i < MK; i += blockDim.x) {
                lse2[i] = tq0 + i < T ? lb[tq0 + i] * LOG2E : 0.0f;
                ds_[i] = tq0 + i < T ? db[tq0 + i] : 0.0f;
            }
            __syncthreads();
            if (kw0 >= T || tq0 + MK <= kw0) continue; /* warp-uniform: no query here sees its keys */
            float st[8][4], dpt[8][4];
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) st[nt][i] = dpt[nt][i] = 0.0f;
            mma_rows_x_rows<HDP>(st, ks, 16 * w, qs, lane);
            mma_rows_x_rows<HDP>(dpt, vs, 16 * w, dos, lane);
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int key = kw0 + gr + (i >= 2 ? 8 : 0), c = 8 * nt + 2 * tq + (i & 1), q = tq0 + c;
                    const float p = key < T && q < T && key <= q ? exp2f(st[nt][i] * sl2 - lse2[c]) : 0.0f;
                    st[nt][i] = p;
                    dpt[nt][i] = p * (dpt[nt][i] - ds_[c]); /* dS^T */
                }
            mma_acc_x_cols<HDP>(dv, st, dot, lane);
            mma_acc_x_cols<HDP>(dk, dpt, qt, lane);
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int key = kw0 + gr + 8 * r;
        if (key >= T) continue;
        float *row = dqkv + ((size_t)b * T + key) * g.ld;
        float *dkr = row + (size_t)(g.H + kvh) * hd, *dvr = row + (size_t)(g.H + g.KV + kvh) * hd;
#pragma unroll
        for (int dt = 0; dt < HDP / 8; dt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int d = 8 * dt + 2 * tq + e;
                if (d < hd) {
                    dkr[d] = g.scale * dk[dt][2 * r + e];
                    dvr[d] = dv[dt][2 * r + e];
                }
            }
    }
}

/* ---- host side ---- */

static int padded_hd(int hd) { return hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : hd <= 128 ? 128 : 0; }

int rb_cuda_att_mma_ok(const rb_cuda_ctx *c, int hd)
{
    const int hp = padded_hd(hd);
    return c->att_mma && hd >= 1 && hp && dkdv_smem_mma(hp) <= c->smem_optin && dq_smem_mma(hp) <= c->smem_optin &&
           fwd_smem_mma(hp) <= c->smem_optin;
}

static size_t cap(size_t want, size_t optin) { return want < optin ? want : optin; }

#define RB_MMA_SET(kern, bytes)                                                                    \
    cudaFuncSetAttribute((const void *)kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cap(bytes, o))

void rb_cuda_att_mma_init(rb_cuda_ctx *c)
{
    const size_t o = c->smem_optin;
    RB_MMA_SET(k_att_fwd_mma<16>, fwd_smem_mma(16));
    RB_MMA_SET(k_att_fwd_mma<32>, fwd_smem_mma(32));
    RB_MMA_SET(k_att_fwd_mma<64>, fwd_smem_mma(64));
    RB_MMA_SET(k_att_fwd_mma<128>, fwd_smem_mma(128));
    RB_MMA_SET(k_att_bwd_dq_mma<16>, dq_smem_mma(16));
    RB_MMA_SET(k_att_bwd_dq_mma<32>, dq_smem_mma(32));
    RB_MMA_SET(k_att_bwd_dq_mma<64>, dq_smem_mma(64));
    RB_MMA_SET(k_att_bwd_dq_mma<128>, dq_smem_mma(128));
    RB_MMA_SET(k_att_bwd_dkdv_mma<16>, dkdv_smem_mma(16));
    RB_MMA_SET(k_att_bwd_dkdv_mma<32>, dkdv_smem_mma(32));
    RB_MMA_SET(k_att_bwd_dkdv_mma<64>, dkdv_smem_mma(64));
    RB_MMA_SET(k_att_bwd_dkdv_mma<128>, dkdv_smem_mma(128));
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) rb_cuda_fail(c, "tensor-core attention kernels' shared-memory limits", cudaGetErrorString(e));
}

static mma_geom make_geom(const float *qkv, int B, int T, int H, int KV, int hd)
{
    mma_geom g;
    g.qkv = qkv;
    g.B = B, g.T = T, g.H = H, g.KV = KV, g.hd = hd;
    g.ld = (H + 2 * KV) * hd;
    g.scale = 1.0f / sqrtf((float)hd);
    return g;
}

void rb_cuda_att_fwd_mma(rb_cuda_ctx *c, float *out, float *lse, const float *qkv, int B, int T, int H, int KV,
                         int hd)
{
    const mma_geom g = make_geom(qkv, B, T, H, KV, hd);
    const int hp = padded_hd(hd);
    const dim3 grid((unsigned)((T + MQ - 1) / MQ), (unsigned)(B * H));
    const size_t sm = fwd_smem_mma(hp);
    if (hp == 16) RB_LAUNCH(c, k_att_fwd_mma<16>, grid, 128, sm, g, out, lse);
    else if (hp == 32) RB_LAUNCH(c, k_att_fwd_mma<32>, grid, 128, sm, g, out, lse);
    else if (hp == 64) RB_LAUNCH(c, k_att_fwd_mma<64>, grid, 128, sm, g, out, lse);
    else RB_LAUNCH(c, k_att_fwd_mma<128>, grid, 128, sm, g, out, lse);
}

void rb_cuda_att_bwd_mma(rb_cuda_ctx *c, float *dqkv, const float *dout, const float *qkv, const float *lse,
                         const float *Dr, int B, int T, int H, int KV, int hd)
{
    const mma_geom g = make_geom(qkv, B, T, H, KV, hd);
    const int hp = padded_hd(hd);
    const dim3 gq((unsigned)((T + MQ - 1) / MQ), (unsigned)(B * H));
    const size_t sq = dq_smem_mma(hp);
    if (hp == 16) RB_LAUNCH(c, k_att_bwd_dq_mma<16>, gq, 128, sq, g, dout, lse, Dr, dqkv);
    else if (hp == 32) RB_LAUNCH(c, k_att_bwd_dq_mma<32>, gq, 128, sq, g, dout, lse, Dr, dqkv);
    else if (hp == 64) RB_LAUNCH(c, k_att_bwd_dq_mma<64>, gq, 128, sq, g, dout, lse, Dr, dqkv);
    else RB_LAUNCH(c, k_att_bwd_dq_mma<128>, gq, 128, sq, g, dout, lse, Dr, dqkv);
    const dim3 gk((unsigned)((T + MQ - 1) / MQ), (unsigned)(B * KV));
    const size_t sk = dkdv_smem_mma(hp);
    if (hp == 16) RB_LAUNCH(c, k_att_bwd_dkdv_mma<16>, gk, 128, sk, g, dout, lse, Dr, dqkv);
    else if (hp == 32) RB_LAUNCH(c, k_att_bwd_dkdv_mma<32>, gk, 128, sk, g, dout, lse, Dr, dqkv);
    else if (hp == 64) RB_LAUNCH(c, k_att_bwd_dkdv_mma<64>, gk, 128, sk, g, dout, lse, Dr, dqkv);
    else RB_LAUNCH(c, k_att_bwd_dkdv_mma<128>, gk, 128, sk, g, dout, lse, Dr, dqkv);
}
