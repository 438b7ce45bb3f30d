// bf16 transform-domain products of the VAE's Winograd convolutions (AVX-512 BF16 vdpbf16ps, fp32 accumulation),
// used for VAE weights stored F16/BF16 (VAE/Winograd.swift; COGVIDEO_VAE_PRECISION). The fp32 transforms and their
// packed layouts (winograd.c) are kept; their outputs are then rounded to bf16 (nearest even) in "pair" layouts, in
// place, so that one vdpbf16ps adds the products of two consecutive K rows:
//   weights U [strip][t][ci2][MR][2]   (ci2 = ⌈ci/2⌉; pair (c, c+1) of output channel lane l as one 32-bit word,
//                                       broadcast by the micro-kernel; an odd ci pads each tap with a zero row);
//   inputs  V [strip][ci2][NR][2]      (pair (c, c+1) of tile lane j as one 32-bit word).
// The micro-kernel is the fp32 one's 12 × 32 register tile with K stepping by pairs.
#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int wg_bf16_supported = -1;

int ck_winograd_bf16_available(void) {
    if (wg_bf16_supported < 0) {
        int ok = 0;
#if defined(__x86_64__)
        __builtin_cpu_init();
        ok = (ck_cpu_features() & 2) && __builtin_cpu_supports("avx512bf16");
#endif
        wg_bf16_supported = ok;
    }
    return wg_bf16_supported;
}

// Round to nearest even, as vcvtneps2bf16 (NaN kept quiet).
static inline uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#if defined(__x86_64__)
#define WG_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

WG_BF16 static void pairs_avx512(const float *src, int groups, int k, int lanes, uint16_t *dst) {
    const int k2 = (k + 1) / 2;
    for (int g = 0; g < groups; g++) {
        for (int c2 = 0; c2 < k2; c2++) {
            const float *r0 = src + ((size_t)g * k + 2 * c2) * lanes;
            const int second = 2 * c2 + 1 < k;
            uint32_t *d = (uint32_t *)(dst + ((size_t)g * k2 + c2) * lanes * 2);
            // Every load of the pair comes before its stores (dst may alias src: the pair's words never reach
            // data not yet read).
            __m512 a[2], b[2];
            for (int l = 0, v = 0; l < lanes; l += 16, v++) {
                __mmask16 mk = lanes - l >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (lanes - l)) - 1);
                a[v] = _mm512_maskz_loadu_ps(mk, r0 + l);
                b[v] = second ? _mm512_maskz_loadu_ps(mk, r0 + lanes + l) : _mm512_setzero_ps();
            }
            for (int l = 0, v = 0; l < lanes; l += 16, v++) {
                __mmask16 mk = lanes - l >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (lanes - l)) - 1);
                __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a[v]));
                __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b[v]));
                _mm512_mask_storeu_epi32(d + l, mk, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
        }
    }
}
#endif

void ck_winograd_bf16_pairs(const float *src, int groups, int k, int lanes, uint16_t *dst, int portable) {
#if defined(__x86_64__)
    if (!portable && lanes <= 32 && ck_winograd_bf16_available()) {
        pairs_avx512(src, groups, k, lanes, dst);
        return;
    }
#endif
    const int k2 = (k + 1) / 2;
    float a[64], b[64];
    for (int g = 0; g < groups; g++)
        for (int c2 = 0; c2 < k2; c2++) {
            const float *r0 = src + ((size_t)g * k + 2 * c2) * lanes;
            const int second = 2 * c2 + 1 < k;
            for (int l = 0; l < lanes; l++) { a[l] = r0[l]; b[l] = second ? r0[lanes + l] : 0; }
            uint16_t *d = dst + ((size_t)g * k2 + c2) * lanes * 2;
            for (int l = 0; l < lanes; l++) { d[2 * l] = bf16_round(a[l]); d[2 * l + 1] = bf16_round(b[l]); }
        }
}

static void micro_bf16_scalar(int kt, int kc2, const uint16_t *const *a, const uint16_t *const *b, float *c, int ldc,
                              int acc) {
    float sum[CK_WG_MR][CK_WG_NR];
    for (int i = 0; i < CK_WG_MR; i++)
        for (int j = 0; j < CK_WG_NR; j++) sum[i][j] = acc ? c[(size_t)i * ldc + j] : 0;
    for (int t = 0; t < kt; t++)
        for (int k = 0; k < kc2; k++)
            for (int i = 0; i < CK_WG_MR; i++)
                for (int j = 0; j < CK_WG_NR; j++) {
                    const uint16_t *ap = a[t] + ((size_t)k * CK_WG_MR + i) * 2, *bp = b[t] + ((size_t)k * CK_WG_NR + j) * 2;
                    sum[i][j] += bf16_value(ap[0]) * bf16_value(bp[0]) + bf16_value(ap[1]) * bf16_value(bp[1]);
                }
    for (int i = 0; i < CK_WG_MR; i++) memcpy(c + (size_t)i * ldc, sum[i], sizeof(float) * CK_WG_NR);
}

#if defined(__x86_64__)
WG_BF16 static void micro_bf16_avx512(int kt, int kc2, const uint16_t *const *a, const uint16_t *const *b, float *c,
                                      int ldc, int acc) {
    __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71, c80, c81, c90, c91,
           ca0, ca1, cb0, cb1;
#define LOAD(r, lo, hi) lo = acc ? _mm512_loadu_ps(c + (size_t)(r) * ldc) : _mm512_setzero_ps(); \
                        hi = acc ? _mm512_loadu_ps(c + (size_t)(r) * ldc + 16) : _mm512_setzero_ps();
    LOAD(0, c00, c01) LOAD(1, c10, c11) LOAD(2, c20, c21) LOAD(3, c30, c31) LOAD(4, c40, c41) LOAD(5, c50, c51)
    LOAD(6, c60, c61) LOAD(7, c70, c71) LOAD(8, c80, c81) LOAD(9, c90, c91) LOAD(10, ca0, ca1) LOAD(11, cb0, cb1)
#undef LOAD
    for (int t = 0; t < kt; t++) {
        const uint32_t *ap = (const uint32_t *)a[t];
        const uint16_t *bp = b[t];
        for (int k = 0; k < kc2; k++, ap += CK_WG_MR, bp += 2 * CK_WG_NR) {
            __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 32);
            __m512bh x;
#define ROW(r, lo, hi) x = (__m512bh)_mm512_set1_epi32((int)ap[r]); lo = _mm512_dpbf16_ps(lo, x, b0); \
                       hi = _mm512_dpbf16_ps(hi, x, b1);
            ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51)
            ROW(6, c60, c61) ROW(7, c70, c71) ROW(8, c80, c81) ROW(9, c90, c91) ROW(10, ca0, ca1) ROW(11, cb0, cb1)
#undef ROW
        }
    }
#define STORE(r, lo, hi) _mm512_storeu_ps(c + (size_t)(r) * ldc, lo); _mm512_storeu_ps(c + (size_t)(r) * ldc + 16, hi);
    STORE(0, c00, c01) STORE(1, c10, c11) STORE(2, c20, c21) STORE(3, c30, c31) STORE(4, c40, c41) STORE(5, c50, c51)
    STORE(6, c60, c61) STORE(7, c70, c71) STORE(8, c80, c81) STORE(9, c90, c91) STORE(10, ca0, ca1) STORE(11, cb0, cb1)
#undef STORE
}
#endif

void ck_winograd_gemm_bf16(int kt, int ci, int co, int tiles, const uint16_t *const *u, size_t u_strip,
                           const uint16_t *const *v, float *p, int ldp, int portable) {
    void (*micro)(int, int, const uint16_t *const *, const uint16_t *const *, float *, int, int) = micro_bf16_scalar;
#if defined(__x86_64__)
    if (!portable && ck_winograd_bf16_available()) micro = micro_bf16_avx512;
#endif
    if (kt > 8) kt = 8;
    const int ci2 = (ci + 1) / 2;
    const int mstrips = (co + CK_WG_MR - 1) / CK_WG_MR, nstrips = (tiles + CK_WG_NR - 1) / CK_WG_NR;
    // K blocks of the kT taps together: ≈ 384 pairs (48 KB of bf16 B strips, Zen 5's L1).
    const int blocks = (kt * ci2 + 383) / 384, kb = (ci2 + blocks - 1) / blocks;
    const uint16_t *a[8], *b[8];
    for (int k0 = 0; k0 < ci2; k0 += kb) {
        int kc = ci2 - k0 < kb ? ci2 - k0 : kb;
        for (int js = 0; js < nstrips; js++) {
            for (int t = 0; t < kt; t++) b[t] = v[t] + ((size_t)js * ci2 + k0) * CK_WG_NR * 2;
            for (int is = 0; is < mstrips; is++) {
                for (int t = 0; t < kt; t++) a[t] = u[t] + (size_t)is * u_strip + (size_t)k0 * CK_WG_MR * 2;
                micro(kt, kc, a, b, p + (size_t)is * CK_WG_MR * ldp + (size_t)js * CK_WG_NR, ldp, k0 > 0);
            }
        }
    }
}
