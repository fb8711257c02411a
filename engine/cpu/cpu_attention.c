/* cpu_attention.c: causal grouped-query attention, forward and backward.
 *
 * Flash-style bookkeeping on the CPU: the forward keeps only the softmax
 * log-sum-exp per query (lse), never the [T, T] probabilities; the backward
 * recomputes each probability tile from q, k and lse. Work is cut into
 * query tiles of RB_ATT_TILE rows; a tile only multiplies against the keys
 * up to its last row, so the causal half of the score matrix is (mostly)
 * never computed. The score and probability products are OpenBLAS GEMMs on
 * strided views of the fused qkv buffer (no copies); inside the OpenMP
 * region OpenBLAS runs single-threaded.
 *
 * Layout: qkv[B*T, (H + 2 KV) hd] with per row H query heads, then KV key
 * heads, then KV value heads; query head h reads KV head h / (H / KV). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"

#define RB_ATT_TILE 64

/* P[rows, cols] (row stride ldp) <- softmax of scale * S along each row, with
 * query row i0 + r seeing keys 0 .. i0 + r; writes lse per row. */
static void softmax_rows_causal(float *P, int ldp, int rows, int i0, float *lse_out)
{
    for (int r = 0; r < rows; r++) {
        float *p = P + (size_t)r * ldp;
        int n = i0 + r + 1; /* visible keys */
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < n; j++) mx = p[j] > mx ? p[j] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            float e = rb_expf(p[j] - mx);
            p[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < n; j++) p[j] *= inv;
        for (int j = n; j < i0 + rows; j++) p[j] = 0.0f;
        lse_out[r] = mx + logf(sum);
    }
}

void rb_cpu_attention_fwd(rb_backend *be, float *out, float *lse, const float *qkv, int B, int T,
                          int H, int KV, int hd)
{
    const int ld = (H + 2 * KV) * hd; /* qkv row stride */
    const int ldo = H * hd;           /* out row stride */
    const int group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    const int tiles = (T + RB_ATT_TILE - 1) / RB_ATT_TILE;
    if (rb_cpu_reserve(be, (size_t)RB_ATT_TILE * T) != 0) return;

    /* Tasks are (b, h, tile); the heaviest tiles (last rows) first. */
#pragma omp parallel for schedule(dynamic, 1) if ((long)B * H * T * T / 2 * hd > RB_PAR_MIN)
    for (long task = 0; task < (long)B * H * tiles; task++) {
        int tile = tiles - 1 - (int)(task % tiles);
        int bh = (int)(task / tiles);
        int b = bh / H, h = bh % H, kvh = h / group;
        const float *q = qkv + (size_t)b * T * ld + (size_t)h * hd;
        const float *k = qkv + (size_t)b * T * ld + (size_t)(H + kvh) * hd;
        const float *v = qkv + (size_t)b * T * ld + (size_t)(H + KV + kvh) * hd;
        float *o = out + (size_t)b * T * ldo + (size_t)h * hd;
        float *P = rb_cpu_scratch(be, omp_get_thread_num());

        int i0 = tile * RB_ATT_TILE;
        int rows = T - i0 < RB_ATT_TILE ? T - i0 : RB_ATT_TILE;
        int nk = i0 + rows; /* keys this tile can see */
        /* S[rows, nk] = scale * Q[i0:i0+rows] K[0:nk]^T */
        rb_cpu_gemm(be, 0, 1, rows, nk, hd, scale, q + (size_t)i0 * ld, ld, k, ld, 0.0f, P, nk);
        softmax_rows_causal(P, nk, rows, i0, lse + ((size_t)b * H + h) * T + i0);
        /* O[i0:i0+rows] = P V[0:nk] */
        rb_cpu_gemm(be, 0, 0, rows, hd, nk, 1.0f, P, nk, v, ld, 0.0f, o + (size_t)i0 * ldo, ldo);
    }
}

void rb_cpu_attention_bwd(rb_backend *be, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, int B, int T, int H, int KV, int hd)
{
    const int ld = (H + 2 * KV) * hd;
    const int ldo = H * hd;
    const int group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    const int tiles = (T + RB_ATT_TILE - 1) / RB_ATT_TILE;
    /* per thread: P and dP tiles, plus the row dots D */
    if (rb_cpu_reserve(be, (size_t)2 * RB_ATT_TILE * T + RB_ATT_TILE) != 0) return;

    /* A task owns one (b, kv head): the dK and dV of that head receive
     * contributions from every query head of its group, so they are
     * accumulated by one thread without races. */
#pragma omp parallel for schedule(dynamic, 1) if ((long)B * H * T * T / 2 * hd > RB_PAR_MIN)
    for (int task = 0; task < B * KV; task++) {
        int b = task / KV, kvh = task % KV;
        const float *base = qkv + (size_t)b * T * ld;
        float *dbase = dqkv + (size_t)b * T * ld;
        const float *k = base + (size_t)(H + kvh) * hd;
        const float *v = base + (size_t)(H + KV + kvh) * hd;
        float *dk = dbase + (size_t)(H + kvh) * hd;
        float *dv = dbase + (size_t)(H + KV + kvh) * hd;
        float *P = rb_cpu_scratch(be, omp_get_thread_num());
        float *dP = P + (size_t)RB_ATT_TILE * T;
        float *Drow = dP + (size_t)RB_ATT_TILE * T;

        for (int t = 0; t < T; t++) {
            memset(dk + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
            memset(dv + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
        }
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            const float *q = base + (size_t)h * hd;
            float *dq = dbase + (size_t)h * hd;
            const float *o = out + (size_t)b * T * ldo + (size_t)h * hd;
            const float *dO = dout + (size_t)b * T * ldo + (size_t)h * hd;
            const float *L = lse + ((size_t)b * H + h) * T;
            for (int tile = 0; tile < tiles; tile++) {
                int i0 = tile * RB_ATT_TILE;
                int rows = T - i0 < RB_ATT_TILE ? T - i0 : RB_ATT_TILE;
                int nk = i0 + rows;
                /* P = exp(scale Q K^T - lse), causal */
                rb_cpu_gemm(be, 0, 1, rows, nk, hd, scale, q + (size_t)i0 * ld, ld, k, ld, 0.0f, P, nk);
                for (int r = 0; r < rows; r++) {
                    float *p = P + (size_t)r * nk;
                    float l = L[i0 + r];
                    int n = i0 + r + 1;
#pragma omp simd
                    for (int j = 0; j < n; j++) p[j] = rb_expf(p[j] - l);
                    for (int j = n; j < nk; j++) p[j] = 0.0f;
                    /* D = rowsum(dO * O) */
                    const float *dor = dO + (size_t)(i0 + r) * ldo, *orow = o + (size_t)(i0 + r) * ldo;
                    float d = 0;
#pragma omp simd reduction(+ : d)
                    for (int c = 0; c < hd; c++) d += dor[c] * orow[c];
                    Drow[r] = d;
                }
                /* dV[0:nk] += P^T dO */
                rb_cpu_gemm(be, 1, 0, nk, hd, rows, 1.0f, P, nk, dO + (size_t)i0 * ldo, ldo, 1.0f, dv, ld);
                /* dP = dO V^T */
                rb_cpu_gemm(be, 0, 1, rows, nk, hd, 1.0f, dO + (size_t)i0 * ldo, ldo, v, ld, 0.0f, dP, nk);
                /* dS = P (dP - D), stored over dP (zero above the diagonal since P is) */
                for (int r = 0; r < rows; r++) {
                    float *ds = dP + (size_t)r * nk;
                    const float *p = P + (size_t)r * nk;
                    float d = Drow[r];
#pragma omp simd
                    for (int j = 0; j < nk; j++) ds[j] = p[j] * (ds[j] - d);
                }
                /* dQ[i0:] = scale dS K;  dK[0:nk] += scale dS^T Q[i0:] */
                rb_cpu_gemm(be, 0, 0, rows, hd, nk, scale, dP, nk, k, ld, 0.0f, dq + (size_t)i0 * ld, ld);
                rb_cpu_gemm(be, 1, 0, nk, hd, rows, scale, dP, nk, q + (size_t)i0 * ld, ld, 1.0f, dk, ld);
            }
        }
    }
}

void rb_cpu_attention_cached(rb_backend *be, float *out, const float *q, int ldq, const float *kc,
                             const float *vc, int n, int pos0, int H, int KV, int hd)
{
    /* Batch-invariant (rb_backend.h): every query row is computed on its
     * own, by operations fixed by its absolute position alone, so a row
     * gives the same bits whether it arrives in a prefill chunk of any size
     * or alone while decoding. Query row t (position pos0 + t) sees cache
     * rows 0 .. pos0 + t. A task is one (row, KV head): the group's query
     * heads share each key and value row while it is in cache. Scores use
     * gemm_rows' fixed dot product; probabilities and the weighted sum of
     * values accumulate over keys in order. */
    const int ldkv = KV * hd, ldo = H * hd, group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    const int total = pos0 + n;
    const size_t need = (size_t)group * total + (size_t)group * (hd + 1);
    /* a concurrent caller (one sequence of a batch) runs on its own thread
     * with its own scratch; otherwise tasks are shared across threads */
    const int nested = omp_in_parallel();
    float *mine = NULL;
    if (nested) {
        if (!(mine = rb_cpu_scratch_mine(be, need))) return; /* reported by sync() */
    } else if (rb_cpu_reserve(be, need) != 0) {
        return;
    }

#pragma omp parallel for schedule(dynamic, 1) if (!nested && (long)H * n * total * hd > RB_PAR_MIN)
    for (long task = 0; task < (long)n * KV; task++) {
        int t = n - 1 - (int)(task / KV), kvh = (int)(task % KV); /* longest rows first */
        int nk = pos0 + t + 1;
        float *S = nested ? mine : rb_cpu_scratch(be, omp_get_thread_num()); /* [group, nk] */
        float *acc = S + (size_t)group * nk;                  /* [group, hd] */
        float *inv = acc + (size_t)group * hd;                /* [group] */
        const float *qr = q + (size_t)t * ldq + (size_t)kvh * group * hd;
        const float *k = kc + (size_t)kvh * hd, *v = vc + (size_t)kvh * hd;
        /* S[g, j] = q_g . k_j, then scaled */
        rb_cpu_gemm_rows_serial(group, nk, hd, qr, hd, k, ldkv, 0, S, nk);
        for (int g = 0; g < group; g++) {
            float *s = S + (size_t)g * nk;
            float mx = -INFINITY;
            for (int j = 0; j < nk; j++) {
                s[j] *= scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            float sum = 0;
            for (int j = 0; j < nk; j++) {
                s[j] = rb_expf(s[j] - mx);
                sum += s[j];
            }
            inv[g] = 1.0f / sum;
        }
        memset(acc, 0, (size_t)group * hd * sizeof(float));
        for (int j = 0; j < nk; j++) {
            const float *vj = v + (size_t)j * ldkv;
            for (int g = 0; g < group; g++) {
                float p = S[(size_t)g * nk + j], *a = acc + (size_t)g * hd;
#pragma omp simd
                for (int d = 0; d < hd; d++) a[d] = fmaf(p, vj[d], a[d]);
            }
        }
        for (int g = 0; g < group; g++) {
            float *o = out + (size_t)t * ldo + (size_t)(kvh * group + g) * hd;
            const float *a = acc + (size_t)g * hd;
#pragma omp simd
            for (int d = 0; d < hd; d++) o[d] = a[d] * inv[g];
        }
    }
}
