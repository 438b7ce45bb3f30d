// Flash-style attention for one head and a range of query rows: S = scale·Q·Kᵀ (+ bias) one key tile at a time,
// online softmax (running max and sum per row), O = Σ softmax(S)·V. Nothing of size Sq×Sk is ever stored.
#include "CKernels.h"
#include "simd_exp.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { TK = 256 };  // keys per tile (S tile = rows × TK floats, in L2)

// ---- portable reference path --------------------------------------------------------------------------------

static void attention_rows_scalar(int nq, int sk, int d, const float *q, const float *kt, const float *v, float scale,
                                  const float *bias, int ldb, float *out, float *s, float *m, float *l) {
    for (int i = 0; i < nq; i++) { m[i] = -INFINITY; l[i] = 0; }
    memset(out, 0, sizeof(float) * (size_t)nq * d);
    for (int k0 = 0; k0 < sk; k0 += TK) {
        int nk = sk - k0 < TK ? sk - k0 : TK;
        for (int i = 0; i < nq; i++) {
            float *row = s + (size_t)i * TK;
            float mx = -INFINITY;
            for (int j = 0; j < nk; j++) {
                float acc = 0;
                for (int c = 0; c < d; c++) acc += q[(size_t)i * d + c] * kt[(size_t)c * sk + k0 + j];
                acc *= scale;
                if (bias) acc += bias[(size_t)i * ldb + k0 + j];
                row[j] = acc;
                if (acc > mx) mx = acc;
            }
            float mnew = m[i] > mx ? m[i] : mx;
            float base = mnew == -INFINITY ? 0 : mnew;
            float corr = m[i] == -INFINITY ? 0 : expf(m[i] - base);
            float sum = 0;
            for (int j = 0; j < nk; j++) { row[j] = expf(row[j] - base); sum += row[j]; }
            l[i] = l[i] * corr + sum;
            m[i] = mnew;
            float *o = out + (size_t)i * d;
            for (int c = 0; c < d; c++) o[c] *= corr;
            for (int j = 0; j < nk; j++) {
                const float *vr = v + (size_t)(k0 + j) * d;
                for (int c = 0; c < d; c++) o[c] += row[j] * vr[c];
            }
        }
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1 / l[i];
        for (int c = 0; c < d; c++) out[(size_t)i * d + c] *= inv;
    }
}

// ---- AVX-512 path -------------------------------------------------------------------------------------------

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))


static inline __mmask16 tail_mask(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/// S[r, j0 .. j0+64) = Σ_c Q[r, c] · Kt[c, k0+j0 ..] for MR rows (MR is a compile-time constant at each call).
AVX512 static inline __attribute__((always_inline)) void qk_block(int MR, int d, const float *q, const float *kt, int sk,
                                                                  int col, int ncol, float *s) {
    __m512 acc[6][4];
    for (int r = 0; r < MR; r++) for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_ps();
    __mmask16 mk[4];
    for (int b = 0; b < 4; b++) mk[b] = tail_mask(ncol - 16 * b > 0 ? ncol - 16 * b : 0);
    for (int c = 0; c < d; c++) {
        const float *kr = kt + (size_t)c * sk + col;
        __m512 kv[4];
        for (int b = 0; b < 4; b++) kv[b] = _mm512_maskz_loadu_ps(mk[b], kr + 16 * b);
        for (int r = 0; r < MR; r++) {
            __m512 qv = _mm512_set1_ps(q[(size_t)r * d + c]);
            for (int b = 0; b < 4; b++) acc[r][b] = _mm512_fmadd_ps(qv, kv[b], acc[r][b]);
        }
    }
    for (int r = 0; r < MR; r++) for (int b = 0; b < 4; b++) _mm512_storeu_ps(s + (size_t)r * TK + 16 * b, acc[r][b]);
}

/// O[r, c0 .. c0+64) = O[r, ..]·corr[r] + Σ_j P[r, j] · V[k0+j, c0 ..] for MR rows.
AVX512 static inline __attribute__((always_inline)) void pv_block(int MR, int d, int c0, const float *p, const float *v,
                                                                  int nk, const float *corr, float *o) {
    __mmask16 mk[4];
    for (int b = 0; b < 4; b++) mk[b] = tail_mask(d - c0 - 16 * b > 0 ? d - c0 - 16 * b : 0);
    __m512 acc[6][4];
    for (int r = 0; r < MR; r++) {
        __m512 cr = _mm512_set1_ps(corr[r]);
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_mul_ps(cr, _mm512_maskz_loadu_ps(mk[b], o + (size_t)r * d + c0 + 16 * b));
    }
    for (int j = 0; j < nk; j++) {
        const float *vr = v + (size_t)j * d + c0;
        __m512 vv[4];
        for (int b = 0; b < 4; b++) vv[b] = _mm512_maskz_loadu_ps(mk[b], vr + 16 * b);
        for (int r = 0; r < MR; r++) {
            __m512 pv = _mm512_set1_ps(p[(size_t)r * TK + j]);
            for (int b = 0; b < 4; b++) acc[r][b] = _mm512_fmadd_ps(pv, vv[b], acc[r][b]);
        }
    }
    for (int r = 0; r < MR; r++) for (int b = 0; b < 4; b++)
        _mm512_mask_storeu_ps(o + (size_t)r * d + c0 + 16 * b, mk[b], acc[r][b]);
}

#define DISPATCH_MR(mr, call)                                                                    \
    switch (mr) {                                                                                \
        case 6: { const int MRC = 6; call; } break;                                              \
        case 5: { const int MRC = 5; call; } break;                                              \
        case 4: { const int MRC = 4; call; } break;                                              \
        case 3: { const int MRC = 3; call; } break;                                              \
        case 2: { const int MRC = 2; call; } break;                                              \
        default: { const int MRC = 1; call; } break;                                             \
    }

AVX512 static void attention_rows_avx512(int nq, int sk, int d, const float *q, const float *kt, const float *v,
                                         float scale, const float *bias, int ldb, float *out, float *s, float *m,
                                         float *l, float *corr) {
    for (int i = 0; i < nq; i++) { m[i] = -INFINITY; l[i] = 0; }
    memset(out, 0, sizeof(float) * (size_t)nq * d);
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int k0 = 0; k0 < sk; k0 += TK) {
        int nk = sk - k0 < TK ? sk - k0 : TK;
        // S = Q · Kᵀ for this key tile.
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int j0 = 0; j0 < nk; j0 += 64) {
                int ncol = nk - j0 < 64 ? nk - j0 : 64;
                DISPATCH_MR(mr, qk_block(MRC, d, q + (size_t)i0 * d, kt, sk, k0 + j0, ncol, s + (size_t)i0 * TK + j0))
            }
        }
        // Online softmax per row.
        for (int i = 0; i < nq; i++) {
            float *row = s + (size_t)i * TK;
            const float *brow = bias ? bias + (size_t)i * ldb + k0 : NULL;
            __m512 mx = _mm512_set1_ps(-INFINITY);
            for (int j = 0; j < nk; j += 16) {
                __mmask16 mk = tail_mask(nk - j);
                __m512 x = _mm512_mul_ps(_mm512_loadu_ps(row + j), vscale);
                if (brow) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, brow + j));
                _mm512_storeu_ps(row + j, x);
                mx = _mm512_mask_max_ps(mx, mk, mx, x);
            }
            float rmax = _mm512_reduce_max_ps(mx);
            float mnew = m[i] > rmax ? m[i] : rmax;
            float base = mnew == -INFINITY ? 0 : mnew;
            corr[i] = m[i] == -INFINITY ? 0 : expf(m[i] - base);
            __m512 vb = _mm512_set1_ps(base), sum = _mm512_setzero_ps();
            for (int j = 0; j < nk; j += 16) {
                __mmask16 mk = tail_mask(nk - j);
                __m512 e = _mm512_maskz_mov_ps(mk, ck_exp512(_mm512_sub_ps(_mm512_loadu_ps(row + j), vb)));
                _mm512_storeu_ps(row + j, e);
                sum = _mm512_add_ps(sum, e);
            }
            l[i] = l[i] * corr[i] + _mm512_reduce_add_ps(sum);
            m[i] = mnew;
        }
        // O = O·corr + P · V.
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int c0 = 0; c0 < d; c0 += 64) {
                DISPATCH_MR(mr, pv_block(MRC, d, c0, s + (size_t)i0 * TK, v + (size_t)k0 * d, nk, corr + i0, out + (size_t)i0 * d))
            }
        }
    }
    for (int i = 0; i < nq; i++) {
        __m512 inv = _mm512_set1_ps(1 / l[i]);
        for (int c = 0; c < d; c += 16) {
            __mmask16 mk = tail_mask(d - c);
            float *o = out + (size_t)i * d + c;
            _mm512_mask_storeu_ps(o, mk, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(mk, o)));
        }
    }
}
#endif

int ck_attention_rows(int nq, int sk, int d, const float *q, const float *kt, const float *v, float scale,
                      const float *bias, int ldb, float *out) {
    if (nq <= 0 || d <= 0) return 0;
    if (sk <= 0) { memset(out, 0, sizeof(float) * (size_t)nq * d); return 0; }
    // S tile (+16 floats of slack for full-width stores past nk) and per-row m, l, corr.
    float *work = (float *)aligned_alloc(64, (((size_t)nq * TK + 16 + 3 * (size_t)nq) * sizeof(float) + 63) & ~(size_t)63);
    if (!work) return -1;
    float *s = work, *m = s + (size_t)nq * TK + 16, *l = m + nq, *corr = l + nq;
#if defined(__x86_64__)
    if (ck_cpu_features() & 2) {
        attention_rows_avx512(nq, sk, d, q, kt, v, scale, bias, ldb, out, s, m, l, corr);
        free(work);
        return 0;
    }
#endif
    (void)corr;
    attention_rows_scalar(nq, sk, d, q, kt, v, scale, bias, ldb, out, s, m, l);
    free(work);
    return 0;
}
