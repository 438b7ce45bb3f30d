#include "CQuant.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

static int has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c");
    }
    return cached;
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))

// np_roundf: sign(x) * (floor(|x|) + floor(2 * (|x| - floor(|x|)))), i.e. C roundf.
TARGET static inline __m512i round_half_away(__m512 v) {
    __m512 a = _mm512_abs_ps(v);
    __m512 f = _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 frac2 = _mm512_mul_ps(_mm512_sub_ps(a, f), _mm512_set1_ps(2.0f));
    __m512 r = _mm512_add_ps(f, _mm512_roundscale_ps(frac2, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    r = _mm512_mask_sub_ps(r, neg, _mm512_setzero_ps(), r);
    return _mm512_cvttps_epi32(r);
}

TARGET static inline uint16_t to_f16(float d) {
    return (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

TARGET static void q8_0_avx512(const float *x, uint8_t *out, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, x += 32, out += 34) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = to_f16(d);
        memcpy(out, &h, 2);
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = round_half_away(_mm512_mul_ps(v0, vid));
        __m512i q1 = round_half_away(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *)(out + 2), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(out + 18), _mm512_cvtepi32_epi8(q1));
    }
}

TARGET static void q4_0_avx512(const float *x, uint8_t *out, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, x += 32, out += 18) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        // The first element whose magnitude is the maximum keeps its sign (numpy argmax).
        __mmask16 m0 = _mm512_cmp_ps_mask(a0, _mm512_set1_ps(amax), _CMP_EQ_OQ);
        __mmask16 m1 = _mm512_cmp_ps_mask(a1, _mm512_set1_ps(amax), _CMP_EQ_OQ);
        float mx = m0 ? x[__builtin_ctz(m0)] : (m1 ? x[16 + __builtin_ctz(m1)] : x[0]);
        float d = mx / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = to_f16(d);
        memcpy(out, &h, 2);
        __m512 vid = _mm512_set1_ps(id), off = _mm512_set1_ps(8.5f);
        __m512 t0 = _mm512_roundscale_ps(_mm512_add_ps(_mm512_mul_ps(v0, vid), off), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m512 t1 = _mm512_roundscale_ps(_mm512_add_ps(_mm512_mul_ps(v1, vid), off), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m512i q0 = _mm512_min_epi32(_mm512_cvttps_epi32(t0), _mm512_set1_epi32(15));
        __m512i q1 = _mm512_min_epi32(_mm512_cvttps_epi32(t1), _mm512_set1_epi32(15));
        __m512i packed = _mm512_or_si512(q0, _mm512_slli_epi32(q1, 4));
        _mm_storeu_si128((__m128i *)(out + 2), _mm512_cvtepi32_epi8(packed));
    }
}

TARGET static inline float from_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

TARGET static void dq8_0_avx512(const uint8_t *b, float *y, size_t nblocks) {
    for (size_t i = 0; i < nblocks; i++, b += 34, y += 32) {
        __m512 d = _mm512_set1_ps(from_f16(b));
        __m128i lo = _mm_loadu_si128((const __m128i *)(b + 2)), hi = _mm_loadu_si128((const __m128i *)(b + 18));
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), d));
    }
}

TARGET static void dq4_0_avx512(const uint8_t *b, float *y, size_t nblocks) {
    const __m512i eight = _mm512_set1_epi32(8), mask = _mm512_set1_epi32(0x0F);
    for (size_t i = 0; i < nblocks; i++, b += 18, y += 32) {
        __m512 d = _mm512_set1_ps(from_f16(b));
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 2)));
        __m512i q0 = _mm512_sub_epi32(_mm512_and_si512(q, mask), eight);
        __m512i q1 = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
        _mm512_storeu_ps(y, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q0)));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q1)));
    }
}

TARGET static void f16_to_f32(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
}

TARGET static void f32_to_f16(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = (uint16_t)_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

TARGET static void bf16_to_f32(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    for (; i < n; i++) { uint32_t b = (uint32_t)x[i] << 16; memcpy(y + i, &b, 4); }
}

int cq_f16_to_f32(const uint16_t *x, float *y, size_t n) { if (!has_avx512()) return 0; f16_to_f32(x, y, n); return 1; }
int cq_f32_to_f16(const float *x, uint16_t *y, size_t n) { if (!has_avx512()) return 0; f32_to_f16(x, y, n); return 1; }
int cq_bf16_to_f32(const uint16_t *x, float *y, size_t n) { if (!has_avx512()) return 0; bf16_to_f32(x, y, n); return 1; }

int cq_dequantize_q8_0(const uint8_t *blocks, float *y, size_t nblocks) {
    if (!has_avx512()) return 0;
    dq8_0_avx512(blocks, y, nblocks);
    return 1;
}

int cq_dequantize_q4_0(const uint8_t *blocks, float *y, size_t nblocks) {
    if (!has_avx512()) return 0;
    dq4_0_avx512(blocks, y, nblocks);
    return 1;
}

int cq_quantize_q8_0(const float *x, uint8_t *out, size_t nblocks) {
    if (!has_avx512()) return 0;
    q8_0_avx512(x, out, nblocks);
    return 1;
}

int cq_quantize_q4_0(const float *x, uint8_t *out, size_t nblocks) {
    if (!has_avx512()) return 0;
    q4_0_avx512(x, out, nblocks);
    return 1;
}
#else
int cq_f16_to_f32(const uint16_t *x, float *y, size_t n) { (void)x; (void)y; (void)n; return 0; }
int cq_f32_to_f16(const float *x, uint16_t *y, size_t n) { (void)x; (void)y; (void)n; return 0; }
int cq_bf16_to_f32(const uint16_t *x, float *y, size_t n) { (void)x; (void)y; (void)n; return 0; }
int cq_dequantize_q8_0(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_dequantize_q4_0(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_quantize_q8_0(const float *x, uint8_t *out, size_t nblocks) { (void)x; (void)out; (void)nblocks; return 0; }
int cq_quantize_q4_0(const float *x, uint8_t *out, size_t nblocks) { (void)x; (void)out; (void)nblocks; return 0; }
#endif
