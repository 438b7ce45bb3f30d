// e^x on 16 fp32 lanes, shared by the activation, softmax and attention kernels (private to CKernels).
#ifndef CK_SIMD_EXP_H
#define CK_SIMD_EXP_H
#if defined(__x86_64__)
#include <immintrin.h>

/// e^x (Cephes-style 2^n · p(r), ≈ 2 ulp); inputs below -87 (and -inf) give exactly 0, above 88.7 saturate.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) static inline __m512 ck_exp512(__m512 x0) {
    __m512 x = _mm512_min_ps(_mm512_max_ps(x0, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ), _mm512_scalef_ps(p, n));
}
#endif
#endif
