// Vectorized activation functions and row softmax (AVX-512, AVX2 + FMA, and a portable fallback). Single-threaded: the Swift
// callers split the work across the engine's threads.
#include "CKernels.h"
#include "simd_exp.h"
#include "simd_avx2.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))


static inline __mmask16 tail_mask(size_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

AVX512 static void silu512(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 e = ck_exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
    }
}

/// tanh(y) = sign(y)·(1 − 2/(e^{2|y|} + 1)); for |y| < 0.625 an odd polynomial avoids the cancellation near 0.
AVX512 static inline __m512 tanh512(__m512 y) {
    __m512 a = _mm512_abs_ps(y);
    __m512 e = ck_exp512(_mm512_mul_ps(a, _mm512_set1_ps(2.0f)));
    __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
    // Cephes tanhf polynomial for |x| < 0.625.
    __m512 z = _mm512_mul_ps(a, a);
    __m512 p = _mm512_set1_ps(-5.70498872745E-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954E-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531E-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036E-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422E-1f));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), a, a);
    __m512 r = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ), big, small);
    // Copy the sign of y.
    return _mm512_or_ps(r, _mm512_and_ps(y, _mm512_set1_ps(-0.0f)));
}

AVX512 static void gelu_tanh512(float *x, size_t n) {
    const __m512 c = _mm512_set1_ps(0.7978845608028654f), c3 = _mm512_set1_ps(0.044715f), half = _mm512_set1_ps(0.5f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 inner = _mm512_mul_ps(c, _mm512_fmadd_ps(_mm512_mul_ps(c3, v), _mm512_mul_ps(v, v), v));
        __m512 t = tanh512(inner);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(_mm512_set1_ps(1.0f), t)));
    }
}

/// erf(x) by Abramowitz–Stegun 7.1.26 (|absolute error| ≤ 1.5e-7): GELU needs 0.5·x·(1 + erf) only to
/// absolute accuracy, so its error is ≤ 7.5e-8·|x|.
AVX512 static inline __m512 erf512(__m512 x) {
    __m512 a = _mm512_abs_ps(x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), a, _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = ck_exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)));
    __m512 r = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    return _mm512_or_ps(r, _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));
}

AVX512 static void gelu_erf512(float *x, size_t n) {
    const __m512 rs2 = _mm512_set1_ps(0.70710678118654752f), half = _mm512_set1_ps(0.5f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m512 e = erf512(_mm512_mul_ps(v, rs2));
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
    }
}

AVX512 static void softmax_rows512(float *x, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * n;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (size_t j = 0; j < n; j += 16) {
            __mmask16 m = tail_mask(n - j);
            mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, row + j));
        }
        float rmax = _mm512_reduce_max_ps(mx);
        __m512 base = _mm512_set1_ps(rmax == -INFINITY ? 0 : rmax), sum = _mm512_setzero_ps();
        for (size_t j = 0; j < n; j += 16) {
            __mmask16 m = tail_mask(n - j);
            __m512 e = _mm512_maskz_mov_ps(m, ck_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), base)));
            _mm512_mask_storeu_ps(row + j, m, e);
            sum = _mm512_add_ps(sum, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        for (size_t j = 0; j < n; j += 16) {
            __mmask16 m = tail_mask(n - j);
            _mm512_mask_storeu_ps(row + j, m, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(m, row + j)));
        }
    }
}
#define HAVE512 (ck_cpu_features() & 2)
#else
#define HAVE512 0
#endif

// ---- AVX2 (CPUs without AVX-512): the same formulas on 8 lanes ------------------------------------------------

#if defined(__x86_64__)
#define HAVE256 (ck_cpu_features() & 1)

CK_AVX2 static inline __m256 load_tail256(const float *x, size_t n) {
    return n >= 8 ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, ck_lanes256((int)n));
}

CK_AVX2 static inline void store_tail256(float *x, size_t n, __m256 v) {
    if (n >= 8) _mm256_storeu_ps(x, v); else _mm256_maskstore_ps(x, ck_lanes256((int)n), v);
}

CK_AVX2 static inline __m256 abs256(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

CK_AVX2 static inline __m256 silu256(__m256 v) {
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), ck_exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

CK_AVX2 static void silu_avx2(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 8) store_tail256(x + i, n - i, silu256(load_tail256(x + i, n - i)));
}

CK_AVX2 static inline __m256 tanh256(__m256 y) {
    __m256 a = abs256(y);
    __m256 e = ck_exp256(_mm256_mul_ps(a, _mm256_set1_ps(2.0f)));
    __m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    __m256 z = _mm256_mul_ps(a, a);
    __m256 p = _mm256_set1_ps(-5.70498872745E-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954E-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531E-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036E-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422E-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), a, a);
    __m256 r = _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    return _mm256_or_ps(r, _mm256_and_ps(y, _mm256_set1_ps(-0.0f)));
}

CK_AVX2 static void gelu_tanh_avx2(float *x, size_t n) {
    const __m256 c = _mm256_set1_ps(0.7978845608028654f), c3 = _mm256_set1_ps(0.044715f), half = _mm256_set1_ps(0.5f);
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = load_tail256(x + i, n - i);
        __m256 inner = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(c3, v), _mm256_mul_ps(v, v), v));
        store_tail256(x + i, n - i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(_mm256_set1_ps(1.0f), tanh256(inner))));
    }
}

CK_AVX2 static inline __m256 erf256(__m256 x) {
    __m256 a = abs256(x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = ck_exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a)));
    __m256 r = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(r, _mm256_and_ps(x, _mm256_set1_ps(-0.0f)));
}

CK_AVX2 static void gelu_erf_avx2(float *x, size_t n) {
    const __m256 rs2 = _mm256_set1_ps(0.70710678118654752f), half = _mm256_set1_ps(0.5f);
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = load_tail256(x + i, n - i);
        __m256 e = erf256(_mm256_mul_ps(v, rs2));
        store_tail256(x + i, n - i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
    }
}

CK_AVX2 static void softmax_rows_avx2(float *x, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * n;
        __m256 mx = _mm256_set1_ps(-INFINITY);
        for (size_t j = 0; j < n; j += 8) {
            __m256 keep = _mm256_castsi256_ps(ck_lanes256(n - j >= 8 ? 8 : (int)(n - j)));
            mx = _mm256_max_ps(mx, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), load_tail256(row + j, n - j), keep));
        }
        float rmax = ck_hmax256(mx);
        __m256 base = _mm256_set1_ps(rmax == -INFINITY ? 0 : rmax), sum = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j += 8) {
            __m256 keep = _mm256_castsi256_ps(ck_lanes256(n - j >= 8 ? 8 : (int)(n - j)));
            __m256 e = _mm256_and_ps(keep, ck_exp256(_mm256_sub_ps(load_tail256(row + j, n - j), base)));
            store_tail256(row + j, n - j, e);
            sum = _mm256_add_ps(sum, e);
        }
        __m256 inv = _mm256_set1_ps(1.0f / ck_hsum256(sum));
        for (size_t j = 0; j < n; j += 8) store_tail256(row + j, n - j, _mm256_mul_ps(inv, load_tail256(row + j, n - j)));
    }
}
#else
#define HAVE256 0
#endif

void ck_silu(float *x, size_t n) {
#if defined(__x86_64__)
    if (HAVE512) { silu512(x, n); return; }
    if (HAVE256) { silu_avx2(x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1 + expf(-x[i]));
}

void ck_gelu(float *x, size_t n, int approximate) {
#if defined(__x86_64__)
    if (HAVE512) { if (approximate) gelu_tanh512(x, n); else gelu_erf512(x, n); return; }
    if (HAVE256) { if (approximate) gelu_tanh_avx2(x, n); else gelu_erf_avx2(x, n); return; }
#endif
    if (approximate) {
        for (size_t i = 0; i < n; i++) { float v = x[i]; x[i] = 0.5f * v * (1 + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v))); }
    } else {
        for (size_t i = 0; i < n; i++) { float v = x[i]; x[i] = 0.5f * v * (1 + erff(v * 0.70710678118654752f)); }
    }
}

void ck_softmax_rows(float *x, size_t rows, size_t n) {
    if (n == 0) return;
#if defined(__x86_64__)
    if (HAVE512) { softmax_rows512(x, rows, n); return; }
    if (HAVE256) { softmax_rows_avx2(x, rows, n); return; }
#endif
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * n, m = -INFINITY, s = 0;
        for (size_t j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
        float base = m == -INFINITY ? 0 : m;
        for (size_t j = 0; j < n; j++) { row[j] = expf(row[j] - base); s += row[j]; }
        for (size_t j = 0; j < n; j++) row[j] /= s;
    }
}

// ---- GroupNorm statistics and the normalize pass ---------------------------------------------------------------

#if defined(__x86_64__)
AVX512 static void sum_squares512(const float *x, size_t n, double *sum, double *sumsq) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + i)), b = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
        s0 = _mm512_add_pd(s0, a); s1 = _mm512_add_pd(s1, b);
        q0 = _mm512_fmadd_pd(a, a, q0); q1 = _mm512_fmadd_pd(b, b, q1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), q = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1));
    for (; i < n; i++) { double v = x[i]; s += v; q += v * v; }
    *sum = s; *sumsq = q;
}

AVX512 static void scale_shift512(float *x, size_t n, float scale, float shift, int silu) {
    __m512 sc = _mm512_set1_ps(scale), sh = _mm512_set1_ps(shift), one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), sc, sh);
        if (silu) v = _mm512_div_ps(v, _mm512_add_ps(one, ck_exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}
#endif

#if defined(__x86_64__)
CK_AVX2 static void sum_squares_avx2(const float *x, size_t n, double *sum, double *sumsq) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        s0 = _mm256_add_pd(s0, a); s1 = _mm256_add_pd(s1, b);
        q0 = _mm256_fmadd_pd(a, a, q0); q1 = _mm256_fmadd_pd(b, b, q1);
    }
    double sv[4], qv[4];
    _mm256_storeu_pd(sv, _mm256_add_pd(s0, s1));
    _mm256_storeu_pd(qv, _mm256_add_pd(q0, q1));
    double s = (sv[0] + sv[1]) + (sv[2] + sv[3]), q = (qv[0] + qv[1]) + (qv[2] + qv[3]);
    for (; i < n; i++) { double v = x[i]; s += v; q += v * v; }
    *sum = s; *sumsq = q;
}

CK_AVX2 static void scale_shift_avx2(float *x, size_t n, float scale, float shift, int silu) {
    __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift);
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = _mm256_fmadd_ps(load_tail256(x + i, n - i), sc, sh);
        store_tail256(x + i, n - i, silu ? silu256(v) : v);
    }
}
#endif

void ck_sum_squares(const float *x, size_t n, double *sum, double *sumsq) {
#if defined(__x86_64__)
    if (HAVE512) { sum_squares512(x, n, sum, sumsq); return; }
    if (HAVE256) { sum_squares_avx2(x, n, sum, sumsq); return; }
#endif
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) { double v = x[i]; s += v; q += v * v; }
    *sum = s; *sumsq = q;
}

void ck_scale_shift(float *x, size_t n, float scale, float shift, int silu) {
#if defined(__x86_64__)
    if (HAVE512) { scale_shift512(x, n, scale, shift, silu); return; }
    if (HAVE256) { scale_shift_avx2(x, n, scale, shift, silu); return; }
#endif
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale + shift;
        x[i] = silu ? v / (1 + expf(-v)) : v;
    }
}
