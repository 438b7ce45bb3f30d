#include "CRandom.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

int crandom_has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

#define TARGET __attribute__((target("avx2,fma")))

static inline TARGET __m256 bits(unsigned v) { return _mm256_castsi256_ps(_mm256_set1_epi32((int)v)); }

// Cephes-style natural log (avx_mathfun log256_ps): frexp-like split, polynomial on [sqrt(1/2), sqrt(2)).
static inline TARGET __m256 log8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 invalid = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LE_OS);
    x = _mm256_max_ps(x, bits(0x00800000u));
    __m256i e_int = _mm256_srli_epi32(_mm256_castps_si256(x), 23);
    x = _mm256_and_ps(x, bits(~0x7f800000u));
    x = _mm256_or_ps(x, _mm256_set1_ps(0.5f));
    e_int = _mm256_sub_epi32(e_int, _mm256_set1_epi32(0x7f));
    __m256 e = _mm256_add_ps(_mm256_cvtepi32_ps(e_int), one);
    __m256 mask = _mm256_cmp_ps(x, bits(0x3F3504F3u), _CMP_LT_OS);
    __m256 tmp = _mm256_and_ps(x, mask);
    x = _mm256_sub_ps(x, one);
    e = _mm256_sub_ps(e, _mm256_and_ps(one, mask));
    x = _mm256_add_ps(x, tmp);
    __m256 z = _mm256_mul_ps(x, x);
    static const unsigned p[9] = {0x3D9021BBu, 0xBDEBD1B8u, 0x3DEF251Au, 0xBDFE5D4Fu, 0x3E11E9BFu,
                                  0xBE2AAE50u, 0x3E4CCEACu, 0xBE7FFFFCu, 0x3EAAAAAAu};
    __m256 y = bits(p[0]);
    for (int k = 1; k < 9; k++) y = _mm256_fmadd_ps(y, x, bits(p[k]));
    y = _mm256_mul_ps(y, x);
    y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, bits(0xB95E8083u)));
    y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
    x = _mm256_fmadd_ps(e, bits(0x3F318000u), _mm256_add_ps(x, y));
    return _mm256_or_ps(x, invalid);
}

// Cephes-style sin and cos together (avx_mathfun sincos256_ps).
static inline TARGET void sincos8(__m256 x, __m256 *s, __m256 *c) {
    __m256 sign_sin = _mm256_and_ps(x, bits(0x80000000u));
    x = _mm256_and_ps(x, bits(0x7fffffffu));
    __m256 y = _mm256_mul_ps(x, bits(0x3FA2F983u));
    __m256i j = _mm256_cvttps_epi32(y);
    j = _mm256_add_epi32(j, _mm256_set1_epi32(1));
    j = _mm256_and_si256(j, _mm256_set1_epi32(~1));
    y = _mm256_cvtepi32_ps(j);
    __m256i swap = _mm256_slli_epi32(_mm256_and_si256(j, _mm256_set1_epi32(4)), 29);
    __m256 poly = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256()));
    x = _mm256_fmadd_ps(y, bits(0xBF490000u), x);
    x = _mm256_fmadd_ps(y, bits(0xB97DA000u), x);
    x = _mm256_fmadd_ps(y, bits(0xB3222169u), x);
    __m256i jc = _mm256_sub_epi32(j, _mm256_set1_epi32(2));
    __m256 sign_cos = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_andnot_si256(jc, _mm256_set1_epi32(4)), 29));
    sign_sin = _mm256_xor_ps(sign_sin, _mm256_castsi256_ps(swap));
    __m256 z = _mm256_mul_ps(x, x);
    __m256 yc = bits(0x37CCF5CEu);
    yc = _mm256_fmadd_ps(yc, z, bits(0xBAB6061Au));
    yc = _mm256_fmadd_ps(yc, z, bits(0x3D2AAAA5u));
    yc = _mm256_mul_ps(yc, z);
    yc = _mm256_fmsub_ps(yc, z, _mm256_mul_ps(z, _mm256_set1_ps(0.5f)));
    yc = _mm256_add_ps(yc, _mm256_set1_ps(1.0f));
    __m256 ys = bits(0xB94CA1F9u);
    ys = _mm256_fmadd_ps(ys, z, bits(0x3C08839Eu));
    ys = _mm256_fmadd_ps(ys, z, bits(0xBE2AAAA3u));
    ys = _mm256_mul_ps(ys, z);
    ys = _mm256_fmadd_ps(ys, x, x);
    __m256 ysin2 = _mm256_and_ps(poly, ys);
    __m256 ysin1 = _mm256_andnot_ps(poly, yc);
    ys = _mm256_sub_ps(ys, ysin2);
    yc = _mm256_sub_ps(yc, ysin1);
    *s = _mm256_xor_ps(_mm256_add_ps(ysin1, ysin2), sign_sin);
    *c = _mm256_xor_ps(_mm256_add_ps(yc, ys), sign_cos);
}

static TARGET void normal16_avx2(float *data, size_t blocks) {
    const __m256 one = _mm256_set1_ps(1.0f), minus_two = _mm256_set1_ps(-2.0f), two_pi = bits(0x40C90FDBu);
    for (size_t b = 0; b < blocks; b++, data += 16) {
        __m256 u1 = _mm256_sub_ps(one, _mm256_loadu_ps(data));
        __m256 u2 = _mm256_loadu_ps(data + 8);
        __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(minus_two, log8(u1)));
        __m256 s, c;
        sincos8(_mm256_mul_ps(two_pi, u2), &s, &c);
        _mm256_storeu_ps(data, _mm256_mul_ps(radius, c));
        _mm256_storeu_ps(data + 8, _mm256_mul_ps(radius, s));
    }
}

int crandom_normal16_avx2(float *data, size_t blocks) {
    if (!crandom_has_avx2_fma()) return 0;
    normal16_avx2(data, blocks);
    return 1;
}

#else
int crandom_has_avx2_fma(void) { return 0; }
int crandom_normal16_avx2(float *data, size_t blocks) { (void)data; (void)blocks; return 0; }
#endif
