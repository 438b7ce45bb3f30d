#include "CQuant.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

// The kernel set, read once: 2 = AVX-512 F/BW/VL + F16C, 1 = AVX2 + F16C, 0 = portable. `COGVIDEO_ISA=avx2` or
// `scalar` caps it (as in CKernels' ck_cpu_features), so that every path can be tested on one machine.
static int isa_level(void) {
    static int cached = -1;
    int level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level >= 0) return level;
    __builtin_cpu_init();
    level = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) level = 1;
    if (level && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) level = 2;
    const char *cap = getenv("COGVIDEO_ISA");
    if (cap && strcmp(cap, "avx2") == 0 && level > 1) level = 1;
    else if (cap && strcmp(cap, "scalar") == 0) level = 0;
    __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    return level;
}

static int has_avx512(void) { return isa_level() == 2; }
static int has_avx2(void) { return isa_level() >= 1; }

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
#define TARGET2 __attribute__((target("avx2,f16c")))

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

/// The element of the 32-value block x (loaded as v0, v1) with the largest magnitude, sign kept: the first such
/// element, as numpy's argmax picks it (Q4_0 / Q5_0 scale from it, not from |max|).
TARGET static inline float signed_absmax32(const float *x, __m512 v0, __m512 v1) {
    __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    __mmask16 m0 = _mm512_cmp_ps_mask(a0, _mm512_set1_ps(amax), _CMP_EQ_OQ);
    __mmask16 m1 = _mm512_cmp_ps_mask(a1, _mm512_set1_ps(amax), _CMP_EQ_OQ);
    return m0 ? x[__builtin_ctz(m0)] : (m1 ? x[16 + __builtin_ctz(m1)] : x[0]);
}

TARGET static void q4_0_avx512(const float *x, uint8_t *out, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, x += 32, out += 18) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float mx = signed_absmax32(x, v0, v1);
        float d = mx / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = to_f16(d);
        memcpy(out, &h, 2);
        __m512 vid = _mm512_set1_ps(id), off = _mm512_set1_ps(8.5f);
        __m512 t0 = _mm512_add_ps(_mm512_mul_ps(v0, vid), off);
        __m512 t1 = _mm512_add_ps(_mm512_mul_ps(v1, vid), off);
        __m512i q0 = _mm512_min_epi32(_mm512_cvttps_epi32(t0), _mm512_set1_epi32(15));
        __m512i q1 = _mm512_min_epi32(_mm512_cvttps_epi32(t1), _mm512_set1_epi32(15));
        __m512i packed = _mm512_or_si512(q0, _mm512_slli_epi32(q1, 4));
        _mm_storeu_si128((__m128i *)(out + 2), _mm512_cvtepi32_epi8(packed));
    }
}

// Row maxima of 16 vectors: lane k of the result is the largest lane of a[k]. A shuffle tree (31 shuffles, 15 max)
// instead of 16 separate horizontal reductions; max is exact, so the tree's order does not change any result.
TARGET static inline __m512 hmax16(const __m512 *a) {
    __m512 c[8], e[4];
    for (int i = 0; i < 8; i++)
        c[i] = _mm512_max_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int j = 0; j < 4; j++)  // 128-bit lane l of e[j] = partial maxima of block 4j + l
        e[j] = _mm512_max_ps(_mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(c[2 * j], c[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 f0 = _mm512_max_ps(_mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 f1 = _mm512_max_ps(_mm512_shuffle_ps(e[2], e[3], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(e[2], e[3], _MM_SHUFFLE(3, 2, 3, 2)));
    // Element 4l + p of g = block 4p + l.
    __m512 g = _mm512_max_ps(_mm512_shuffle_ps(f0, f1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(f0, f1, _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, g);
}

// Q4_0 (five = 0) and Q5_0 (five = 1) sixteen blocks at a time: the signed maxima, scales, reciprocals and fp16
// conversions run as vectors. Same operations as q4_0_avx512 / q5_0_avx512 (and gguf-py) per element, so the bytes
// are identical.
TARGET static void q4_5_0_avx512_x16(const float *x, uint8_t *out, size_t ngroups, int five) {
    const __m512 off = _mm512_set1_ps(five ? 16.5f : 8.5f), one = _mm512_set1_ps(1.0f);
    const __m512 neg8 = _mm512_set1_ps(five ? -16.0f : -8.0f);
    const __m512i top = _mm512_set1_epi32(five ? 31 : 15);
    const size_t bs = five ? 22 : 18, qs = five ? 6 : 2;
    for (size_t g = 0; g < ngroups; g++, x += 512, out += 16 * bs) {
        __m512 am[16];
        for (int k = 0; k < 16; k++)
            am[k] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 32 * k)), _mm512_abs_ps(_mm512_loadu_ps(x + 32 * k + 16)));
        float amax[16], mx[16], id[16];
        uint16_t h[16];
        _mm512_storeu_ps(amax, hmax16(am));
        for (int k = 0; k < 16; k++) {  // the first element of largest magnitude keeps its sign (numpy argmax)
            const float *xb = x + 32 * k;
            __m512 m = _mm512_set1_ps(amax[k]);
            uint32_t hit = (uint32_t)_mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb)), m, _CMP_EQ_OQ) |
                           (uint32_t)_mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb + 16)), m, _CMP_EQ_OQ) << 16;
            mx[k] = hit ? xb[__builtin_ctz(hit)] : xb[0];
        }
        __m512 d = _mm512_div_ps(_mm512_loadu_ps(mx), neg8);
        __m512 vid = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ), one, d);
        _mm512_storeu_ps(id, vid);
        _mm256_storeu_si256((__m256i *)h, _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        for (int k = 0; k < 16; k++) {
            const float *xb = x + 32 * k;
            uint8_t *ob = out + bs * k;
            memcpy(ob, &h[k], 2);
            __m512 s = _mm512_set1_ps(id[k]);
            __m512 t0 = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(xb), s), off);
            __m512 t1 = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(xb + 16), s), off);
            __m512i q0 = _mm512_min_epi32(_mm512_cvttps_epi32(t0), top);
            __m512i q1 = _mm512_min_epi32(_mm512_cvttps_epi32(t1), top);
            if (five) {
                uint32_t qh = (uint32_t)_mm512_test_epi32_mask(q0, _mm512_set1_epi32(16)) |
                              (uint32_t)_mm512_test_epi32_mask(q1, _mm512_set1_epi32(16)) << 16;
                memcpy(ob + 2, &qh, 4);
                q0 = _mm512_and_si512(q0, _mm512_set1_epi32(0x0F));
            }
            _mm_storeu_si128((__m128i *)(ob + qs), _mm512_cvtepi32_epi8(_mm512_or_si512(q0, _mm512_slli_epi32(q1, 4))));
        }
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

// (trunc() before a conversion is not needed: cvttps truncates, and maps NaN/±inf/out-of-range to 0x80000000.)
// Q5_0 / Q4_1 / Q5_1: as q4_0_avx512, step for step gguf-py's quantize_blocks. Non-finite levels (subnormal
// scale, overflowing max − min) convert to 0x80000000, whose low bits are 0: numpy's astype(uint8) gives 0 too.
TARGET static void q5_0_avx512(const float *x, uint8_t *out, size_t nblocks) {
    for (size_t b = 0; b < nblocks; b++, x += 32, out += 22) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float mx = signed_absmax32(x, v0, v1);
        float d = mx / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = to_f16(d);
        memcpy(out, &h, 2);
        __m512 vid = _mm512_set1_ps(id), off = _mm512_set1_ps(16.5f);
        __m512 t0 = _mm512_add_ps(_mm512_mul_ps(v0, vid), off);
        __m512 t1 = _mm512_add_ps(_mm512_mul_ps(v1, vid), off);
        __m512i q0 = _mm512_min_epi32(_mm512_cvttps_epi32(t0), _mm512_set1_epi32(31));
        __m512i q1 = _mm512_min_epi32(_mm512_cvttps_epi32(t1), _mm512_set1_epi32(31));
        uint32_t qh = (uint32_t)_mm512_test_epi32_mask(q0, _mm512_set1_epi32(16)) |
                      (uint32_t)_mm512_test_epi32_mask(q1, _mm512_set1_epi32(16)) << 16;
        memcpy(out + 2, &qh, 4);
        __m512i packed = _mm512_or_si512(_mm512_and_si512(q0, _mm512_set1_epi32(0x0F)), _mm512_slli_epi32(q1, 4));
        _mm_storeu_si128((__m128i *)(out + 6), _mm512_cvtepi32_epi8(packed));
    }
}

// levels = 15 (Q4_1, 20-byte blocks) or 31 (Q5_1, 24-byte blocks).
TARGET static void q_1_avx512(const float *x, uint8_t *out, size_t nblocks, int levels) {
    const size_t bs = levels == 15 ? 20 : 24;
    for (size_t b = 0; b < nblocks; b++, x += 32, out += bs) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float lo = _mm512_reduce_min_ps(_mm512_min_ps(v0, v1));
        float hi = _mm512_reduce_max_ps(_mm512_max_ps(v0, v1));
        float d = (hi - lo) / (float)levels;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t hd = to_f16(d), hm = to_f16(lo);
        memcpy(out, &hd, 2);
        memcpy(out + 2, &hm, 2);
        __m512 vid = _mm512_set1_ps(id), vlo = _mm512_set1_ps(lo), half = _mm512_set1_ps(0.5f);
        __m512 t0 = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v0, vlo), vid), half);
        __m512 t1 = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v1, vlo), vid), half);
        __m512i q0 = _mm512_min_epi32(_mm512_cvttps_epi32(t0), _mm512_set1_epi32(levels));
        __m512i q1 = _mm512_min_epi32(_mm512_cvttps_epi32(t1), _mm512_set1_epi32(levels));
        size_t qs = 4;
        if (levels == 31) {
            uint32_t qh = (uint32_t)_mm512_test_epi32_mask(q0, _mm512_set1_epi32(16)) |
                          (uint32_t)_mm512_test_epi32_mask(q1, _mm512_set1_epi32(16)) << 16;
            memcpy(out + 4, &qh, 4);
            qs = 8;
        }
        __m512i packed = _mm512_or_si512(_mm512_and_si512(q0, _mm512_set1_epi32(0x0F)), _mm512_slli_epi32(q1, 4));
        _mm_storeu_si128((__m128i *)(out + qs), _mm512_cvtepi32_epi8(packed));
    }
}

// Dequantizers: y = d·q (+ m) in the operation order of gguf-py's dequantize_blocks (no FMA).
TARGET static void dq5_0_avx512(const uint8_t *b, float *y, size_t nblocks) {
    const __m512i mask = _mm512_set1_epi32(0x0F), sixteen = _mm512_set1_epi32(16);
    for (size_t i = 0; i < nblocks; i++, b += 22, y += 32) {
        __m512 d = _mm512_set1_ps(from_f16(b));
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 6)));
        __m512i q0 = _mm512_or_si512(_mm512_and_si512(q, mask), _mm512_maskz_mov_epi32((__mmask16)qh, sixteen));
        __m512i q1 = _mm512_or_si512(_mm512_srli_epi32(q, 4), _mm512_maskz_mov_epi32((__mmask16)(qh >> 16), sixteen));
        _mm512_storeu_ps(y, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(q0, sixteen))));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(q1, sixteen))));
    }
}

TARGET static void dq_1_avx512(const uint8_t *b, float *y, size_t nblocks, int five) {
    const __m512i mask = _mm512_set1_epi32(0x0F), sixteen = _mm512_set1_epi32(16);
    const size_t bs = five ? 24 : 20;
    for (size_t i = 0; i < nblocks; i++, b += bs, y += 32) {
        __m512 d = _mm512_set1_ps(from_f16(b)), m = _mm512_set1_ps(from_f16(b + 2));
        uint32_t qh = 0;
        if (five) memcpy(&qh, b + 4, 4);
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + (five ? 8 : 4))));
        __m512i q0 = _mm512_or_si512(_mm512_and_si512(q, mask), _mm512_maskz_mov_epi32((__mmask16)qh, sixteen));
        __m512i q1 = _mm512_or_si512(_mm512_srli_epi32(q, 4), _mm512_maskz_mov_epi32((__mmask16)(qh >> 16), sixteen));
        _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(q0)), m));
        _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(q1)), m));
    }
}

static inline void k_scale_min(const uint8_t *s, int j, float *sc, float *m) {
    if (j < 4) { *sc = (float)(s[j] & 63); *m = (float)(s[j + 4] & 63); return; }
    *sc = (float)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    *m = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
}

TARGET static void dq5_k_avx512(const uint8_t *b, float *y, size_t nblocks) {
    const __m512i mask = _mm512_set1_epi32(0x0F), one = _mm512_set1_epi32(1);
    for (size_t i = 0; i < nblocks; i++, b += 176, y += 256) {
        float d = from_f16(b), dmin = from_f16(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
        for (int c = 0; c < 4; c++) {
            float sc0, m0, sc1, m1;
            k_scale_min(scales, 2 * c, &sc0, &m0);
            k_scale_min(scales, 2 * c + 1, &sc1, &m1);
            __m512 d0 = _mm512_set1_ps(d * sc0), dm0 = _mm512_set1_ps(dmin * m0);
            __m512 d1 = _mm512_set1_ps(d * sc1), dm1 = _mm512_set1_ps(dmin * m1);
            for (int h = 0; h < 32; h += 16) {
                __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qs + 32 * c + h)));
                __m512i hb = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + h)));
                __m512i h0 = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hb, 2 * c), one), 4);
                __m512i h1 = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hb, 2 * c + 1), one), 4);
                __m512 lo = _mm512_cvtepi32_ps(_mm512_or_si512(_mm512_and_si512(q, mask), h0));
                __m512 hi = _mm512_cvtepi32_ps(_mm512_or_si512(_mm512_srli_epi32(q, 4), h1));
                _mm512_storeu_ps(y + 64 * c + h, _mm512_sub_ps(_mm512_mul_ps(d0, lo), dm0));
                _mm512_storeu_ps(y + 64 * c + 32 + h, _mm512_sub_ps(_mm512_mul_ps(d1, hi), dm1));
            }
        }
    }
}

TARGET static void dq6_k_avx512(const uint8_t *b, float *y, size_t nblocks) {
    const __m512i mask = _mm512_set1_epi32(0x0F), three = _mm512_set1_epi32(3), c32 = _mm512_set1_epi32(32);
    for (size_t i = 0; i < nblocks; i++, b += 210, y += 256) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = from_f16(b + 208);
        for (int n = 0; n < 2; n++) {
            for (int g = 0; g < 2; g++) {
                int l = 16 * g;
                __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + 64 * n + l)));
                __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + 64 * n + l + 32)));
                __m512i h = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + 32 * n + l)));
                __m512i q1 = _mm512_or_si512(_mm512_and_si512(a, mask), _mm512_slli_epi32(_mm512_and_si512(h, three), 4));
                __m512i q2 = _mm512_or_si512(_mm512_and_si512(c, mask), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 2), three), 4));
                __m512i q3 = _mm512_or_si512(_mm512_srli_epi32(a, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 4), three), 4));
                __m512i q4 = _mm512_or_si512(_mm512_srli_epi32(c, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 6), three), 4));
                float *yo = y + 128 * n + l;
                _mm512_storeu_ps(yo, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[8 * n + g]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q1, c32))));
                _mm512_storeu_ps(yo + 32, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[8 * n + 2 + g]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q2, c32))));
                _mm512_storeu_ps(yo + 64, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[8 * n + 4 + g]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q3, c32))));
                _mm512_storeu_ps(yo + 96, _mm512_mul_ps(_mm512_set1_ps(d * (float)sc[8 * n + 6 + g]), _mm512_cvtepi32_ps(_mm512_sub_epi32(q4, c32))));
            }
        }
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

// AVX2 + F16C forms of the conversions and dequantizers above, for CPUs without AVX-512: the same single
// conversion or multiply per element, so the values are identical.
TARGET2 static void f16_to_f32_avx2(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
}

TARGET2 static void f32_to_f16_avx2(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) y[i] = (uint16_t)_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

TARGET2 static void bf16_to_f32_avx2(const uint16_t *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) { uint32_t b = (uint32_t)x[i] << 16; memcpy(y + i, &b, 4); }
}

TARGET2 static void dq8_0_avx2(const uint8_t *b, float *y, size_t nblocks) {
    for (size_t i = 0; i < nblocks; i++, b += 34, y += 32) {
        uint16_t h;
        memcpy(&h, b, 2);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
        for (int j = 0; j < 4; j++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b + 2 + 8 * j));
            _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

TARGET2 static void dq4_0_avx2(const uint8_t *b, float *y, size_t nblocks) {
    const __m256i eight = _mm256_set1_epi32(8), mask = _mm256_set1_epi32(0x0F);
    for (size_t i = 0; i < nblocks; i++, b += 18, y += 32) {
        uint16_t h;
        memcpy(&h, b, 2);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
        for (int j = 0; j < 2; j++) {
            __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + 8 * j)));
            _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(q, mask), eight))));
            _mm256_storeu_ps(y + 16 + 8 * j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight))));
        }
    }
}

// Q8_0 on AVX2, step for step q8_0_avx512 (and gguf-py): |max| by the same reduction tree as
// _mm512_reduce_max_ps over max(x[i], x[16 + i]), d = amax / 127, q = np_roundf(x · (1 / d)) truncated to a byte.
TARGET2 static inline __m256i round_half_away256(__m256 v) {
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    __m256 f = _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m256 frac2 = _mm256_mul_ps(_mm256_sub_ps(a, f), _mm256_set1_ps(2.0f));
    __m256 r = _mm256_add_ps(f, _mm256_round_ps(frac2, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
    __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    r = _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), r), neg);
    return _mm256_cvttps_epi32(r);
}

/// The low byte of each of 8 int32 lanes (as _mm512_cvtepi32_epi8 truncates), in the low 8 bytes.
TARGET2 static inline __m128i low_bytes256(__m256i q) {
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i b = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(q, pick), _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    return _mm256_castsi256_si128(b);
}

TARGET2 static void q8_0_avx2(const float *x, uint8_t *out, size_t nblocks) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < nblocks; b++, x += 32, out += 34) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
        __m256 lo = _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[2]));
        __m256 hi = _mm256_max_ps(_mm256_andnot_ps(sign, v[1]), _mm256_andnot_ps(sign, v[3]));
        __m256 t3 = _mm256_max_ps(lo, hi);
        __m128 t6 = _mm_max_ps(_mm256_castps256_ps128(t3), _mm256_extractf128_ps(t3, 1));
        __m128 t8 = _mm_max_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
        __m128 t10 = _mm_max_ps(t8, _mm_shuffle_ps(t8, t8, _MM_SHUFFLE(2, 3, 0, 1)));
        float amax = _mm_cvtss_f32(t10);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        memcpy(out, &h, 2);
        __m256 vid = _mm256_set1_ps(id);
        for (int i = 0; i < 4; i++) _mm_storel_epi64((__m128i *)(out + 2 + 8 * i), low_bytes256(round_half_away256(_mm256_mul_ps(v[i], vid))));
    }
}

int cq_f16_to_f32(const uint16_t *x, float *y, size_t n) {
    if (has_avx512()) f16_to_f32(x, y, n); else if (has_avx2()) f16_to_f32_avx2(x, y, n); else return 0;
    return 1;
}
int cq_f32_to_f16(const float *x, uint16_t *y, size_t n) {
    if (has_avx512()) f32_to_f16(x, y, n); else if (has_avx2()) f32_to_f16_avx2(x, y, n); else return 0;
    return 1;
}
int cq_bf16_to_f32(const uint16_t *x, float *y, size_t n) {
    if (has_avx512()) bf16_to_f32(x, y, n); else if (has_avx2()) bf16_to_f32_avx2(x, y, n); else return 0;
    return 1;
}

int cq_dequantize_q8_0(const uint8_t *blocks, float *y, size_t nblocks) {
    if (has_avx512()) dq8_0_avx512(blocks, y, nblocks); else if (has_avx2()) dq8_0_avx2(blocks, y, nblocks); else return 0;
    return 1;
}

int cq_dequantize_q4_0(const uint8_t *blocks, float *y, size_t nblocks) {
    if (has_avx512()) dq4_0_avx512(blocks, y, nblocks); else if (has_avx2()) dq4_0_avx2(blocks, y, nblocks); else return 0;
    return 1;
}

int cq_quantize_q8_0(const float *x, uint8_t *out, size_t nblocks) {
    if (has_avx512()) q8_0_avx512(x, out, nblocks); else if (has_avx2()) q8_0_avx2(x, out, nblocks); else return 0;
    return 1;
}

int cq_quantize_q4_0(const float *x, uint8_t *out, size_t nblocks) {
    if (!has_avx512()) return 0;
    size_t groups = nblocks / 16;
    q4_5_0_avx512_x16(x, out, groups, 0);
    q4_0_avx512(x + 512 * groups, out + 18 * 16 * groups, nblocks - 16 * groups);
    return 1;
}
int cq_quantize_q5_0(const float *x, uint8_t *out, size_t n) {
    if (!has_avx512()) return 0;
    size_t groups = n / 16;
    q4_5_0_avx512_x16(x, out, groups, 1);
    q5_0_avx512(x + 512 * groups, out + 22 * 16 * groups, n - 16 * groups);
    return 1;
}
int cq_quantize_q4_1(const float *x, uint8_t *out, size_t n) { if (!has_avx512()) return 0; q_1_avx512(x, out, n, 15); return 1; }
int cq_quantize_q5_1(const float *x, uint8_t *out, size_t n) { if (!has_avx512()) return 0; q_1_avx512(x, out, n, 31); return 1; }
int cq_dequantize_q5_0(const uint8_t *b, float *y, size_t n) { if (!has_avx512()) return 0; dq5_0_avx512(b, y, n); return 1; }
int cq_dequantize_q4_1(const uint8_t *b, float *y, size_t n) { if (!has_avx512()) return 0; dq_1_avx512(b, y, n, 0); return 1; }
int cq_dequantize_q5_1(const uint8_t *b, float *y, size_t n) { if (!has_avx512()) return 0; dq_1_avx512(b, y, n, 1); return 1; }
int cq_dequantize_q5_k(const uint8_t *b, float *y, size_t n) { if (!has_avx512()) return 0; dq5_k_avx512(b, y, n); return 1; }
int cq_dequantize_q6_k(const uint8_t *b, float *y, size_t n) { if (!has_avx512()) return 0; dq6_k_avx512(b, y, n); return 1; }
#else
int cq_quantize_q5_0(const float *x, uint8_t *o, size_t n) { (void)x; (void)o; (void)n; return 0; }
int cq_quantize_q4_1(const float *x, uint8_t *o, size_t n) { (void)x; (void)o; (void)n; return 0; }
int cq_quantize_q5_1(const float *x, uint8_t *o, size_t n) { (void)x; (void)o; (void)n; return 0; }
int cq_dequantize_q5_0(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_dequantize_q4_1(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_dequantize_q5_1(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_dequantize_q5_k(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_dequantize_q6_k(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_f16_to_f32(const uint16_t *x, float *y, size_t n) { (void)x; (void)y; (void)n; return 0; }
int cq_f32_to_f16(const float *x, uint16_t *y, size_t n) { (void)x; (void)y; (void)n; return 0; }
int cq_bf16_to_f32(const uint16_t *x, float *y, size_t n) { (void)x; (void)y; (void)n; return 0; }
int cq_dequantize_q8_0(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_dequantize_q4_0(const uint8_t *b, float *y, size_t n) { (void)b; (void)y; (void)n; return 0; }
int cq_quantize_q8_0(const float *x, uint8_t *out, size_t nblocks) { (void)x; (void)out; (void)nblocks; return 0; }
int cq_quantize_q4_0(const float *x, uint8_t *out, size_t nblocks) { (void)x; (void)out; (void)nblocks; return 0; }
#endif
