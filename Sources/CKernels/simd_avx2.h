// AVX2 + FMA building blocks for CPUs without AVX-512 (Zen 1–3, most Intel client parts), shared by the GEMM,
// Winograd, attention and activation kernels (private to CKernels). Every function here is compiled for
// avx2,fma only and must be called only when ck_cpu_features() has bit 0 set.
#ifndef CK_SIMD_AVX2_H
#define CK_SIMD_AVX2_H
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define CK_AVX2 __attribute__((target("avx2,fma")))

/// e^x on 8 lanes: the same Cephes-style 2^n · p(r) as ck_exp512 (≈ 2 ulp). Inputs below -87 (and -inf) give
/// exactly 0; inputs are clamped at 88.3762 (ln FLT_MAX), so 2^n stays a normal float (n ≤ 127).
CK_AVX2 static inline __m256 ck_exp256(__m256 x0) {
    __m256 x = _mm256_min_ps(_mm256_max_ps(x0, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // 2^n for n in [-150, 127]: n ≥ -126 as an exponent field; below that the product is under FLT_MIN·2 and the
    // x < -87 mask zeroes it anyway, so n is clamped to -126 there.
    __m256i ni = _mm256_cvtps_epi32(_mm256_max_ps(n, _mm256_set1_ps(-126.0f)));
    __m256 pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    return _mm256_and_ps(keep, _mm256_mul_ps(p, pow2));
}

/// Horizontal maximum and sum of 8 lanes.
CK_AVX2 static inline float ck_hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

CK_AVX2 static inline float ck_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/// A mask of lanes 0 … n − 1 (n clamped to [0, 8]) for _mm256_maskload_ps / _mm256_maskstore_ps.
CK_AVX2 static inline __m256i ck_lanes256(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// C[6×16] (+)= Σ_t Σ_k a_t[k·astep + i] · b_t[k·bstep + j] for i < 6, j < 16: the register tile of the AVX2 GEMMs
/// (12 accumulators, 2 B vectors, 1 broadcast). The packed 12×32 panels of the AVX-512 layout are covered by four
/// calls (a + 0 / 6, b + 0 / 16), so both ISAs share one packing format. C rows are ldc floats apart and must hold
/// 16 floats; `acc` = 0 overwrites C.
CK_AVX2 static inline __attribute__((always_inline)) void ck_tile6x16_avx2(int kt, int kc, const float *const *a, int astep,
                                                                          int aoff, const float *const *b, int bstep, int boff,
                                                                          float *c, int ldc, int acc) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
#define CK_LOAD(r, lo, hi) lo = acc ? _mm256_loadu_ps(c + (size_t)(r) * ldc) : _mm256_setzero_ps(); \
                           hi = acc ? _mm256_loadu_ps(c + (size_t)(r) * ldc + 8) : _mm256_setzero_ps();
    CK_LOAD(0, c00, c01) CK_LOAD(1, c10, c11) CK_LOAD(2, c20, c21) CK_LOAD(3, c30, c31) CK_LOAD(4, c40, c41) CK_LOAD(5, c50, c51)
#undef CK_LOAD
    for (int t = 0; t < kt; t++) {
        const float *ap = a[t] + aoff, *bp = b[t] + boff;
        for (int k = 0; k < kc; k++, ap += astep, bp += bstep) {
            __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), x;
#define CK_ROW(r, lo, hi) x = _mm256_broadcast_ss(ap + (r)); lo = _mm256_fmadd_ps(x, b0, lo); hi = _mm256_fmadd_ps(x, b1, hi);
            CK_ROW(0, c00, c01) CK_ROW(1, c10, c11) CK_ROW(2, c20, c21) CK_ROW(3, c30, c31) CK_ROW(4, c40, c41) CK_ROW(5, c50, c51)
#undef CK_ROW
        }
    }
#define CK_STORE(r, lo, hi) _mm256_storeu_ps(c + (size_t)(r) * ldc, lo); _mm256_storeu_ps(c + (size_t)(r) * ldc + 8, hi);
    CK_STORE(0, c00, c01) CK_STORE(1, c10, c11) CK_STORE(2, c20, c21) CK_STORE(3, c30, c31) CK_STORE(4, c40, c41) CK_STORE(5, c50, c51)
#undef CK_STORE
}

/// C[12×32] (+)= Σ_t A_t · B_t on packed panels (A_t: [kc][12], B_t: [kc][32]) as four 6×16 tiles; only the first
/// h rows and w columns of C are written (a partial tile goes through a local 12×32 buffer).
CK_AVX2 static inline void ck_panel12x32_avx2(int kt, int kc, const float *const *a, const float *const *b, float *c,
                                              int ldc, int h, int w, int acc) {
    if (h == 12 && w == 32) {
        for (int i = 0; i < 12; i += 6)
            for (int j = 0; j < 32; j += 16) ck_tile6x16_avx2(kt, kc, a, 12, i, b, 32, j, c + (size_t)i * ldc + j, ldc, acc);
        return;
    }
    float t[12 * 32];
    if (acc) {
        memset(t, 0, sizeof t);
        for (int r = 0; r < h; r++) memcpy(t + r * 32, c + (size_t)r * ldc, sizeof(float) * (size_t)w);
    }
    for (int i = 0; i < 12; i += 6)
        for (int j = 0; j < 32; j += 16) ck_tile6x16_avx2(kt, kc, a, 12, i, b, 32, j, t + i * 32 + j, 32, acc);
    for (int r = 0; r < h; r++) memcpy(c + (size_t)r * ldc, t + r * 32, sizeof(float) * (size_t)w);
}
#endif
#endif
