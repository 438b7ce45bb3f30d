// Flash-style attention for one head and a range of query rows: S = scale·Q·Kᵀ (+ bias) one key tile at a time,
// online softmax (running max and sum per row), O = Σ softmax(S)·V. Nothing of size Sq×Sk is ever stored.
#include "CKernels.h"
#include "simd_exp.h"
#include "simd_avx2.h"
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

// ---- AVX-512 path on packed K with strided rows ------------------------------------------------------------
//
// K of one head packed as [skp/16][d][16] fp32 (keys padded with zeros to a multiple of 64): the 16 keys of a group
// are one vector per channel, and the 4 groups a 64-key block reads are 4 sequential streams (the transposed Kᵀ
// [d × sk] of ck_attention_rows is 64 rows a page or more apart). The scale, the bias and the row maximum are
// applied as the Q·Kᵀ accumulators are stored, so the softmax makes a single pass over the score tile. Same
// arithmetic, in the same order, as ck_attention_rows.

#if defined(__x86_64__)
// Plain C (no target attribute): shared by the AVX-512 and AVX2 paths.
static void pack_k_f32(int sk, int d, const float *k, int ldk, float *kp) {
    const int skp = ck_attention_bf16_padded_keys(sk);
    for (int j0 = 0; j0 < skp; j0 += 16) {
        float *dst = kp + (size_t)j0 * d;
        int nj = sk - j0 < 16 ? (sk - j0 > 0 ? sk - j0 : 0) : 16;
        for (int c = 0; c < d; c++) {
            float *g = dst + (size_t)c * 16;
            for (int jj = 0; jj < nj; jj++) g[jj] = k[(size_t)(j0 + jj) * ldk + c];
            for (int jj = nj; jj < 16; jj++) g[jj] = 0;
        }
    }
}

/// S[r, 0 .. 64) = scale · Σ_c Q[r, c] · K[j, c] (+ bias[r, j]) for MR rows; kp points at the first of 4 groups of
/// 16 keys. The first `ncol` scores of each row are folded into that row's 16-lane running maximum mx[r].
AVX512 static inline __attribute__((always_inline)) void qk_block_packed(int MR, int d, const float *q, int ldq,
                                                                         const float *kp, int ncol, float scale,
                                                                         const float *bias, int ldb, float *s, __m512 *mx) {
    __m512 acc[6][4];
    for (int r = 0; r < MR; r++) for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_ps();
    for (int c = 0; c < d; c++) {
        __m512 kv[4];
        for (int b = 0; b < 4; b++) kv[b] = _mm512_loadu_ps(kp + ((size_t)b * d + c) * 16);
        for (int r = 0; r < MR; r++) {
            __m512 qv = _mm512_set1_ps(q[(size_t)r * ldq + c]);
            for (int b = 0; b < 4; b++) acc[r][b] = _mm512_fmadd_ps(qv, kv[b], acc[r][b]);
        }
    }
    __mmask16 mk[4];
    for (int b = 0; b < 4; b++) mk[b] = tail_mask(ncol - 16 * b > 0 ? ncol - 16 * b : 0);
    const __m512 vs = _mm512_set1_ps(scale);
    for (int r = 0; r < MR; r++) {
        __m512 m = mx[r];
        for (int b = 0; b < 4; b++) {
            __m512 x = _mm512_mul_ps(acc[r][b], vs);
            if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[b], bias + (size_t)r * ldb + 16 * b));
            _mm512_storeu_ps(s + (size_t)r * TK + 16 * b, x);
            m = _mm512_mask_max_ps(m, mk[b], m, x);
        }
        mx[r] = m;
    }
}

/// O[r, c0 .. c0+64) = O[r, ..]·corr[r] + Σ_j P[r, j] · V[j, c0 ..] for MR rows; V rows ldv apart, O rows ldo apart.
AVX512 static inline __attribute__((always_inline)) void pv_block_strided(int MR, int d, int c0, const float *p,
                                                                          const float *v, int ldv, int nk,
                                                                          const float *corr, float *o, int ldo) {
    __mmask16 mk[4];
    for (int b = 0; b < 4; b++) mk[b] = tail_mask(d - c0 - 16 * b > 0 ? d - c0 - 16 * b : 0);
    __m512 acc[6][4];
    for (int r = 0; r < MR; r++) {
        __m512 cr = _mm512_set1_ps(corr[r]);
        for (int b = 0; b < 4; b++) acc[r][b] = _mm512_mul_ps(cr, _mm512_maskz_loadu_ps(mk[b], o + (size_t)r * ldo + c0 + 16 * b));
    }
    for (int j = 0; j < nk; j++) {
        const float *vr = v + (size_t)j * ldv + c0;
        __m512 vv[4];
        for (int b = 0; b < 4; b++) vv[b] = _mm512_maskz_loadu_ps(mk[b], vr + 16 * b);
        for (int r = 0; r < MR; r++) {
            __m512 pv = _mm512_set1_ps(p[(size_t)r * TK + j]);
            for (int b = 0; b < 4; b++) acc[r][b] = _mm512_fmadd_ps(pv, vv[b], acc[r][b]);
        }
    }
    for (int r = 0; r < MR; r++) for (int b = 0; b < 4; b++)
        _mm512_mask_storeu_ps(o + (size_t)r * ldo + c0 + 16 * b, mk[b], acc[r][b]);
}

AVX512 static void attention_rows_packed(int nq, int sk, int d, const float *q, int ldq, const float *kp,
                                         const float *v, int ldv, float scale, const float *bias, int ldb, float *out,
                                         int ldo, float *s, float *m, float *l, float *corr, __m512 *mx) {
    for (int i = 0; i < nq; i++) {
        m[i] = -INFINITY; l[i] = 0;
        memset(out + (size_t)i * ldo, 0, sizeof(float) * d);
    }
    for (int k0 = 0; k0 < sk; k0 += TK) {
        int nk = sk - k0 < TK ? sk - k0 : TK;
        int nk64 = (nk + 63) & ~63;
        for (int i = 0; i < nq; i++) mx[i] = _mm512_set1_ps(-INFINITY);
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int j0 = 0; j0 < nk64; j0 += 64) {
                const float *b = bias ? bias + (size_t)i0 * ldb + k0 + j0 : NULL;
                DISPATCH_MR(mr, qk_block_packed(MRC, d, q + (size_t)i0 * ldq, ldq, kp + (size_t)(k0 + j0) * d, nk - j0,
                                                scale, b, ldb, s + (size_t)i0 * TK + j0, mx + i0))
            }
        }
        // Online softmax per row: one pass (exp, sum) over the scores, which are already scaled and biased.
        for (int i = 0; i < nq; i++) {
            float *row = s + (size_t)i * TK;
            float rmax = _mm512_reduce_max_ps(mx[i]);
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
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int c0 = 0; c0 < d; c0 += 64) {
                DISPATCH_MR(mr, pv_block_strided(MRC, d, c0, s + (size_t)i0 * TK, v + (size_t)k0 * ldv, ldv, nk, corr + i0,
                                                 out + (size_t)i0 * ldo, ldo))
            }
        }
    }
    for (int i = 0; i < nq; i++) {
        __m512 inv = _mm512_set1_ps(1 / l[i]);
        for (int c = 0; c < d; c += 16) {
            __mmask16 mk = tail_mask(d - c);
            float *o = out + (size_t)i * ldo + c;
            _mm512_mask_storeu_ps(o, mk, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(mk, o)));
        }
    }
}
#endif

// ---- AVX2 path on the same packed K (CPUs without AVX-512) ---------------------------------------------------
//
// The same tiles, online softmax and operation order as attention_rows_packed, on 8-lane vectors: Q·Kᵀ in
// 6-row × 16-key register tiles (one packed group of 16 keys, 12 accumulators), P·V in 6-row × 16-channel tiles.

#if defined(__x86_64__)
CK_AVX2 static inline __attribute__((always_inline)) void qk_group_avx2(int MR, int d, const float *q, int ldq,
                                                                       const float *kp, int ncol, float scale,
                                                                       const float *bias, int ldb, float *s, __m256 *mx) {
    __m256 acc[6][2];
    for (int r = 0; r < MR; r++) { acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
    for (int c = 0; c < d; c++) {
        __m256 k0 = _mm256_loadu_ps(kp + (size_t)c * 16), k1 = _mm256_loadu_ps(kp + (size_t)c * 16 + 8);
        for (int r = 0; r < MR; r++) {
            __m256 qv = _mm256_broadcast_ss(q + (size_t)r * ldq + c);
            acc[r][0] = _mm256_fmadd_ps(qv, k0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(qv, k1, acc[r][1]);
        }
    }
    const __m256i m0 = ck_lanes256(ncol), m1 = ck_lanes256(ncol - 8);
    const __m256 vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    for (int r = 0; r < MR; r++) {
        __m256 x0 = _mm256_mul_ps(acc[r][0], vs), x1 = _mm256_mul_ps(acc[r][1], vs);
        if (bias) {
            x0 = _mm256_add_ps(x0, _mm256_maskload_ps(bias + (size_t)r * ldb, m0));
            x1 = _mm256_add_ps(x1, _mm256_maskload_ps(bias + (size_t)r * ldb + 8, m1));
        }
        _mm256_storeu_ps(s + (size_t)r * TK, x0);
        _mm256_storeu_ps(s + (size_t)r * TK + 8, x1);
        __m256 m = _mm256_max_ps(mx[r], _mm256_blendv_ps(ninf, x0, _mm256_castsi256_ps(m0)));
        mx[r] = _mm256_max_ps(m, _mm256_blendv_ps(ninf, x1, _mm256_castsi256_ps(m1)));
    }
}

/// FULL: all 16 channels of the block exist (plain loads and stores; masked ones — slow on AMD — only for a tail).
CK_AVX2 static inline __attribute__((always_inline)) void pv_block_avx2(int MR, int FULL, int d, int c0, const float *p,
                                                                       const float *v, int ldv, int nk,
                                                                       const float *corr, float *o, int ldo) {
    const __m256i m0 = ck_lanes256(d - c0), m1 = ck_lanes256(d - c0 - 8);
#define CK_LD(ptr, m) (FULL ? _mm256_loadu_ps(ptr) : _mm256_maskload_ps(ptr, m))
    __m256 acc[6][2];
    for (int r = 0; r < MR; r++) {
        __m256 cr = _mm256_set1_ps(corr[r]);
        acc[r][0] = _mm256_mul_ps(cr, CK_LD(o + (size_t)r * ldo + c0, m0));
        acc[r][1] = _mm256_mul_ps(cr, CK_LD(o + (size_t)r * ldo + c0 + 8, m1));
    }
    for (int j = 0; j < nk; j++) {
        const float *vr = v + (size_t)j * ldv + c0;
        __m256 v0 = CK_LD(vr, m0), v1 = CK_LD(vr + 8, m1);
        for (int r = 0; r < MR; r++) {
            __m256 pv = _mm256_broadcast_ss(p + (size_t)r * TK + j);
            acc[r][0] = _mm256_fmadd_ps(pv, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(pv, v1, acc[r][1]);
        }
    }
#undef CK_LD
    for (int r = 0; r < MR; r++) {
        if (FULL) {
            _mm256_storeu_ps(o + (size_t)r * ldo + c0, acc[r][0]);
            _mm256_storeu_ps(o + (size_t)r * ldo + c0 + 8, acc[r][1]);
        } else {
            _mm256_maskstore_ps(o + (size_t)r * ldo + c0, m0, acc[r][0]);
            _mm256_maskstore_ps(o + (size_t)r * ldo + c0 + 8, m1, acc[r][1]);
        }
    }
}

CK_AVX2 static void attention_rows_packed_avx2(int nq, int sk, int d, const float *q, int ldq, const float *kp,
                                               const float *v, int ldv, float scale, const float *bias, int ldb,
                                               float *out, int ldo, float *s, float *m, float *l, float *corr,
                                               __m256 *mx) {
    for (int i = 0; i < nq; i++) {
        m[i] = -INFINITY; l[i] = 0;
        memset(out + (size_t)i * ldo, 0, sizeof(float) * d);
    }
    for (int k0 = 0; k0 < sk; k0 += TK) {
        int nk = sk - k0 < TK ? sk - k0 : TK;
        int nk16 = (nk + 15) & ~15;
        for (int i = 0; i < nq; i++) mx[i] = _mm256_set1_ps(-INFINITY);
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int j0 = 0; j0 < nk16; j0 += 16) {
                const float *b = bias ? bias + (size_t)i0 * ldb + k0 + j0 : NULL;
                DISPATCH_MR(mr, qk_group_avx2(MRC, d, q + (size_t)i0 * ldq, ldq, kp + (size_t)(k0 + j0) * d, nk - j0,
                                              scale, b, ldb, s + (size_t)i0 * TK + j0, mx + i0))
            }
        }
        for (int i = 0; i < nq; i++) {
            float *row = s + (size_t)i * TK;
            float rmax = ck_hmax256(mx[i]);
            float mnew = m[i] > rmax ? m[i] : rmax;
            float base = mnew == -INFINITY ? 0 : mnew;
            corr[i] = m[i] == -INFINITY ? 0 : expf(m[i] - base);
            __m256 vb = _mm256_set1_ps(base), sum = _mm256_setzero_ps();
            for (int j = 0; j < nk; j += 8) {
                __m256 keep = _mm256_castsi256_ps(ck_lanes256(nk - j));
                __m256 e = _mm256_and_ps(keep, ck_exp256(_mm256_sub_ps(_mm256_loadu_ps(row + j), vb)));
                _mm256_storeu_ps(row + j, e);
                sum = _mm256_add_ps(sum, e);
            }
            l[i] = l[i] * corr[i] + ck_hsum256(sum);
            m[i] = mnew;
        }
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int c0 = 0; c0 < d; c0 += 16) {
                const float *pt = s + (size_t)i0 * TK, *vt = v + (size_t)k0 * ldv;
                float *ot = out + (size_t)i0 * ldo;
                if (d - c0 >= 16) DISPATCH_MR(mr, pv_block_avx2(MRC, 1, d, c0, pt, vt, ldv, nk, corr + i0, ot, ldo))
                else DISPATCH_MR(mr, pv_block_avx2(MRC, 0, d, c0, pt, vt, ldv, nk, corr + i0, ot, ldo))
            }
        }
    }
    for (int i = 0; i < nq; i++) {
        __m256 inv = _mm256_set1_ps(1 / l[i]);
        for (int c = 0; c < d; c += 8) {
            __m256i mk = ck_lanes256(d - c);
            float *o = out + (size_t)i * ldo + c;
            _mm256_maskstore_ps(o, mk, _mm256_mul_ps(inv, _mm256_maskload_ps(o, mk)));
        }
    }
}
#endif

int ck_attention_packed_available(void) {
#if defined(__x86_64__)
    return (ck_cpu_features() & 3) ? 1 : 0;
#else
    return 0;
#endif
}

int ck_attention_pack_k(int sk, int d, const float *k, int ldk, float *kp) {
    if (!ck_attention_packed_available() || d <= 0 || sk < 0) return -1;
#if defined(__x86_64__)
    pack_k_f32(sk, d, k, ldk, kp);
    return 0;
#else
    (void)k; (void)ldk; (void)kp;
    return -1;
#endif
}

int ck_attention_rows_packed(int nq, int sk, int d, const float *q, int ldq, const float *kp, const float *v, int ldv,
                             float scale, const float *bias, int ldb, float *out, int ldo) {
    if (!ck_attention_packed_available() || d <= 0) return -1;
    if (nq <= 0) return 0;
    if (sk <= 0) { for (int i = 0; i < nq; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * d); return 0; }
#if defined(__x86_64__)
    size_t bytes = 64 * (size_t)nq + sizeof(float) * ((size_t)nq * TK + 16 + 3 * (size_t)nq) + 64;
    char *work = (char *)aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!work) return -2;
    __m512 *mx = (__m512 *)work;
    float *s = (float *)(mx + nq), *m = s + (size_t)nq * TK + 16, *l = m + nq, *corr = l + nq;
    if (ck_cpu_features() & 2) attention_rows_packed(nq, sk, d, q, ldq, kp, v, ldv, scale, bias, ldb, out, ldo, s, m, l, corr, mx);
    else attention_rows_packed_avx2(nq, sk, d, q, ldq, kp, v, ldv, scale, bias, ldb, out, ldo, s, m, l, corr, (__m256 *)mx);
    free(work);
    return 0;
#else
    (void)q; (void)ldq; (void)kp; (void)v; (void)ldv; (void)scale; (void)bias; (void)ldb; (void)ldo;
    return -1;
#endif
}

// ---- bf16 path (AVX-512 BF16: vdpbf16ps, fp32 accumulation) -----------------------------------------------------
//
// Q·Kᵀ and P·V take bf16 inputs (8-bit mantissa) and accumulate in fp32; the scores, the running max and sum and
// the output stay fp32. Layouts (bf16 as uint16_t, keys padded with zeros to a multiple of 64):
//   kp [skp/16][d/2][16][2]: for 16 keys and a channel pair (c, c+1), the 16 (K[j][c], K[j][c+1]) pairs in one
//                            vector, so one vdpbf16ps adds two channels' products for 16 keys;
//   vp [skp/2][d][2]:        for a key pair (j, j+1) and channel c, (V[j][c], V[j+1][c]), so one vdpbf16ps adds
//                            two keys' products for 16 channels;
//   P  [nq][TK] bf16 rows:   (P[r][j], P[r][j+1]) adjacent, broadcast as one 32-bit value.

static int bf16_supported = -1;

int ck_attention_bf16_available(void) {
    if (bf16_supported < 0) {
        int ok = 0;
#if defined(__x86_64__)
        __builtin_cpu_init();
        ok = (ck_cpu_features() & 2) && __builtin_cpu_supports("avx512bf16");
#endif
        bf16_supported = ok;
    }
    return bf16_supported;
}

int ck_attention_bf16_padded_keys(int sk) { return (sk + 63) & ~63; }

#if defined(__x86_64__)
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

/// Round-to-nearest-even fp32 → bf16 of 16 values (the same rounding as vcvtneps2bf16), as 16-bit lanes.
AVX512BF16 static inline __m256i to_bf16(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

AVX512BF16 static void pack_kv_bf16(int sk, int d, const float *k, int ldk, const float *v, int ldv, uint16_t *kp,
                                    uint16_t *vp) {
    const int skp = ck_attention_bf16_padded_keys(sk), d2 = d / 2;
    // K: for each group of 16 keys, gather the pairs (K[j][c], K[j][c+1]) of the 16 keys for every channel pair.
    for (int j0 = 0; j0 < skp; j0 += 16) {
        float tile[16][256 + 16];   // d ≤ 256 (checked by the caller)
        for (int jj = 0; jj < 16; jj++) {
            if (j0 + jj < sk) memcpy(tile[jj], k + (size_t)(j0 + jj) * ldk, sizeof(float) * d);
            else memset(tile[jj], 0, sizeof(float) * d);
        }
        uint32_t *dst = (uint32_t *)(kp + (size_t)j0 * d);
        for (int c2 = 0; c2 < d2; c2++) {
            __m512 lo = _mm512_set_ps(tile[15][2 * c2], tile[14][2 * c2], tile[13][2 * c2], tile[12][2 * c2],
                                      tile[11][2 * c2], tile[10][2 * c2], tile[9][2 * c2], tile[8][2 * c2],
                                      tile[7][2 * c2], tile[6][2 * c2], tile[5][2 * c2], tile[4][2 * c2],
                                      tile[3][2 * c2], tile[2][2 * c2], tile[1][2 * c2], tile[0][2 * c2]);
            __m512 hi = _mm512_set_ps(tile[15][2 * c2 + 1], tile[14][2 * c2 + 1], tile[13][2 * c2 + 1], tile[12][2 * c2 + 1],
                                      tile[11][2 * c2 + 1], tile[10][2 * c2 + 1], tile[9][2 * c2 + 1], tile[8][2 * c2 + 1],
                                      tile[7][2 * c2 + 1], tile[6][2 * c2 + 1], tile[5][2 * c2 + 1], tile[4][2 * c2 + 1],
                                      tile[3][2 * c2 + 1], tile[2][2 * c2 + 1], tile[1][2 * c2 + 1], tile[0][2 * c2 + 1]);
            __m512i l16 = _mm512_cvtepu16_epi32(to_bf16(lo)), h16 = _mm512_cvtepu16_epi32(to_bf16(hi));
            _mm512_storeu_si512(dst + (size_t)c2 * 16, _mm512_or_si512(l16, _mm512_slli_epi32(h16, 16)));
        }
    }
    // V: for each key pair, interleave the two rows channel by channel.
    for (int j = 0; j < skp; j += 2) {
        uint32_t *dst = (uint32_t *)(vp + (size_t)j * d);
        for (int c = 0; c < d; c += 16) {
            __m512 a = j < sk ? _mm512_loadu_ps(v + (size_t)j * ldv + c) : _mm512_setzero_ps();
            __m512 b = j + 1 < sk ? _mm512_loadu_ps(v + (size_t)(j + 1) * ldv + c) : _mm512_setzero_ps();
            __m512i a16 = _mm512_cvtepu16_epi32(to_bf16(a)), b16 = _mm512_cvtepu16_epi32(to_bf16(b));
            _mm512_storeu_si512(dst + c, _mm512_or_si512(a16, _mm512_slli_epi32(b16, 16)));
        }
    }
}

/// S[r, 0 .. 64) = Σ_c Q[r, c] · K[k0 + j, c] for MR rows; kp points at the first of 4 groups of 16 keys. Also
/// folds the first `ncol` scores of each row into that row's 16-lane running maximum mx[r].
AVX512BF16 static inline __attribute__((always_inline)) void qk_block_bf16(int MR, int d, const uint32_t *qb,
                                                                           const uint16_t *kp, int ncol, float *s,
                                                                           __m512 *mx) {
    __m512 acc[6][4];
    for (int r = 0; r < MR; r++) for (int b = 0; b < 4; b++) acc[r][b] = _mm512_setzero_ps();
    const int d2 = d / 2;
    const uint32_t *kg = (const uint32_t *)kp;
    for (int c2 = 0; c2 < d2; c2++) {
        __m512bh kv[4];
        for (int b = 0; b < 4; b++) kv[b] = (__m512bh)_mm512_loadu_si512(kg + ((size_t)b * d2 + c2) * 16);
        for (int r = 0; r < MR; r++) {
            __m512bh qv = (__m512bh)_mm512_set1_epi32((int)qb[(size_t)r * d2 + c2]);
            for (int b = 0; b < 4; b++) acc[r][b] = _mm512_dpbf16_ps(acc[r][b], qv, kv[b]);
        }
    }
    __mmask16 mk[4];
    for (int b = 0; b < 4; b++) mk[b] = tail_mask(ncol - 16 * b > 0 ? ncol - 16 * b : 0);
    for (int r = 0; r < MR; r++) {
        __m512 m = mx[r];
        for (int b = 0; b < 4; b++) {
            _mm512_storeu_ps(s + (size_t)r * TK + 16 * b, acc[r][b]);
            m = _mm512_mask_max_ps(m, mk[b], m, acc[r][b]);
        }
        mx[r] = m;
    }
}

/// 2^x on 16 lanes for x ≤ 0 (x = -inf gives 0): 2^round(x) · p(x − round(x)), p of degree 5 (relative error
/// < 3e-6, far below the bf16 rounding the probabilities get next).
AVX512BF16 static inline __m512 exp2_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-127.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.3333558e-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.6181291e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.5504109e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.4022651e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/// O[r, c0 .. c0+16·NB) = O[r, ..]·corr[r] + Σ_j P[r, j] · V[j, c0 ..] for MR rows (row stride ldo) over np key
/// pairs (MR ≤ 6 and NB ≤ 4 are compile-time constants at each call, so the accumulators stay in registers).
AVX512BF16 static inline __attribute__((always_inline)) void pv_block_bf16(int MR, int NB, int d, int ldo, int c0,
                                                                           const uint32_t *p, const uint16_t *vp, int np,
                                                                           const float *corr, float *o) {
    __m512 acc[6][4];
    for (int r = 0; r < MR; r++) {
        __m512 cr = _mm512_set1_ps(corr[r]);
        for (int b = 0; b < NB; b++) acc[r][b] = _mm512_mul_ps(cr, _mm512_loadu_ps(o + (size_t)r * ldo + c0 + 16 * b));
    }
    const uint32_t *vg = (const uint32_t *)vp + c0;
    for (int j2 = 0; j2 < np; j2++) {
        __m512bh vv[4];
        for (int b = 0; b < NB; b++) vv[b] = (__m512bh)_mm512_loadu_si512(vg + (size_t)j2 * d + 16 * b);
        for (int r = 0; r < MR; r++) {
            __m512bh pv = (__m512bh)_mm512_set1_epi32((int)p[(size_t)r * (TK / 2) + j2]);
            for (int b = 0; b < NB; b++) acc[r][b] = _mm512_dpbf16_ps(acc[r][b], pv, vv[b]);
        }
    }
    for (int r = 0; r < MR; r++) for (int b = 0; b < NB; b++) _mm512_storeu_ps(o + (size_t)r * ldo + c0 + 16 * b, acc[r][b]);
}

AVX512BF16 static void attention_rows_bf16(int nq, int sk, int d, const float *q, int ldq, const uint16_t *kp,
                                           const uint16_t *vp, float scale, float *out, int ldo, float *s, uint16_t *pb,
                                           uint16_t *qb, float *m, float *l, float *corr, __m512 *mx) {
    const int d2 = d / 2;
    // Q·scale·log2(e) in bf16 pairs: the scores come out in base-2 units, so the softmax uses 2^x.
    const __m512 qs = _mm512_set1_ps(scale * 1.44269504088896341f);
    for (int i = 0; i < nq; i++) {
        for (int c = 0; c < d; c += 16)
            _mm256_storeu_si256((__m256i *)(qb + (size_t)i * d + c), to_bf16(_mm512_mul_ps(_mm512_loadu_ps(q + (size_t)i * ldq + c), qs)));
        m[i] = -INFINITY; l[i] = 0;
    }
    for (int i = 0; i < nq; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * d);
    const uint32_t *qw = (const uint32_t *)qb, *pw = (const uint32_t *)pb;
    for (int k0 = 0; k0 < sk; k0 += TK) {
        int nk = sk - k0 < TK ? sk - k0 : TK;
        int nk64 = (nk + 63) & ~63;
        for (int i = 0; i < nq; i++) mx[i] = _mm512_set1_ps(-INFINITY);
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int j0 = 0; j0 < nk64; j0 += 64) {
                DISPATCH_MR(mr, qk_block_bf16(MRC, d, qw + (size_t)i0 * d2, kp + (size_t)(k0 + j0) * d, nk - j0,
                                              s + (size_t)i0 * TK + j0, mx + i0))
            }
        }
        // Online softmax per row (base 2): P = 2^(S − max) rounded to bf16, zero past the last key.
        for (int i = 0; i < nq; i++) {
            const float *row = s + (size_t)i * TK;
            float rmax = _mm512_reduce_max_ps(mx[i]);
            float mnew = m[i] > rmax ? m[i] : rmax;
            float base = mnew == -INFINITY ? 0 : mnew;
            corr[i] = m[i] == -INFINITY ? 0 : exp2f(m[i] - base);
            __m512 vb = _mm512_set1_ps(base), sum = _mm512_setzero_ps();
            uint16_t *prow = pb + (size_t)i * TK;
            for (int j = 0; j < nk64; j += 16) {
                __mmask16 mk = tail_mask(nk - j > 0 ? nk - j : 0);
                __m512 e = _mm512_maskz_mov_ps(mk, exp2_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(row + j), vb)));
                _mm256_storeu_si256((__m256i *)(prow + j), to_bf16(e));
                sum = _mm512_add_ps(sum, e);
            }
            l[i] = l[i] * corr[i] + _mm512_reduce_add_ps(sum);
            m[i] = mnew;
        }
        int np = (nk + 1) / 2;
        for (int i0 = 0; i0 < nq; i0 += 6) {
            int mr = nq - i0 < 6 ? nq - i0 : 6;
            for (int c0 = 0; c0 < d; c0 += 64) {
                const uint32_t *pr = pw + (size_t)i0 * (TK / 2);
                const uint16_t *vr = vp + (size_t)k0 * d;
                float *o = out + (size_t)i0 * ldo;
                switch (d - c0 >= 64 ? 4 : (d - c0) / 16) {
                    case 4: DISPATCH_MR(mr, pv_block_bf16(MRC, 4, d, ldo, c0, pr, vr, np, corr + i0, o)) break;
                    case 3: DISPATCH_MR(mr, pv_block_bf16(MRC, 3, d, ldo, c0, pr, vr, np, corr + i0, o)) break;
                    case 2: DISPATCH_MR(mr, pv_block_bf16(MRC, 2, d, ldo, c0, pr, vr, np, corr + i0, o)) break;
                    default: DISPATCH_MR(mr, pv_block_bf16(MRC, 1, d, ldo, c0, pr, vr, np, corr + i0, o)) break;
                }
            }
        }
    }
    for (int i = 0; i < nq; i++) {
        __m512 inv = _mm512_set1_ps(1 / l[i]);
        for (int c = 0; c < d; c += 16) {
            float *o = out + (size_t)i * ldo + c;
            _mm512_storeu_ps(o, _mm512_mul_ps(inv, _mm512_loadu_ps(o)));
        }
    }
}
#endif

int ck_attention_pack_kv_bf16(int sk, int d, const float *k, int ldk, const float *v, int ldv, uint16_t *kp, uint16_t *vp) {
    if (!ck_attention_bf16_available() || d <= 0 || d % 16 != 0 || d > 256 || sk < 0) return -1;
#if defined(__x86_64__)
    pack_kv_bf16(sk, d, k, ldk, v, ldv, kp, vp);
    return 0;
#else
    (void)k; (void)ldk; (void)v; (void)ldv; (void)kp; (void)vp;
    return -1;
#endif
}

int ck_attention_rows_bf16(int nq, int sk, int d, const float *q, int ldq, const uint16_t *kp, const uint16_t *vp,
                           float scale, float *out, int ldo) {
    if (!ck_attention_bf16_available() || d <= 0 || d % 16 != 0 || d > 256) return -1;
    if (nq <= 0) return 0;
    if (sk <= 0) { for (int i = 0; i < nq; i++) memset(out + (size_t)i * ldo, 0, sizeof(float) * d); return 0; }
#if defined(__x86_64__)
    // Per-row max vectors, S tile (fp32), P tile (bf16), Q (bf16), per-row m, l, corr.
    size_t bytes = 64 * (size_t)nq + sizeof(float) * (size_t)nq * TK + sizeof(uint16_t) * (size_t)nq * TK
                   + sizeof(uint16_t) * (size_t)nq * d + 3 * sizeof(float) * (size_t)nq + 256;
    char *work = (char *)aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!work) return -2;
    __m512 *mx = (__m512 *)work;
    float *s = (float *)(mx + nq);
    uint16_t *pb = (uint16_t *)(s + (size_t)nq * TK);
    uint16_t *qb = pb + (size_t)nq * TK;
    float *m = (float *)(qb + (size_t)nq * d), *l = m + nq, *corr = l + nq;
    attention_rows_bf16(nq, sk, d, q, ldq, kp, vp, scale, out, ldo, s, pb, qb, m, l, corr, mx);
    free(work);
    return 0;
#else
    (void)q; (void)ldq; (void)kp; (void)vp; (void)scale; (void)ldo;
    return -1;
#endif
}

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
