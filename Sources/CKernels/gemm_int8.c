// Q8_0 / Q4_0 weights × int8-quantized activations with AVX-512 VNNI (vpdpbusd), as llama.cpp runs them:
//   C[m, n] = Σ_b dw[n, b] · da[m, b] · Σ_{i<32} qw[n, b, i] · qa[m, b, i]
// where each 32-wide block b of an activation row is quantized like a Q8_0 block (da = max|x| / 127,
// qa = round(x / da)). vpdpbusd multiplies unsigned by signed bytes, so activations are stored as qa + 128 and each
// weight block's 128 · Σ qw is subtracted (it starts the int32 accumulator).
#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { Q8_MR = 6, Q8_GROUP = 16, Q8_NC = 256 };

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { int e = -1; do { e++; mant <<= 1; } while (!(mant & 0x400)); bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13); }
    } else if (exp == 31) bits = sign | 0x7F800000 | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f; memcpy(&f, &bits, 4); return f;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
static void quantize_rows_q8_avx512(const float *x, int m, int k, int ldx, uint8_t *qa, float *da) {
    int nb = k / 32;
    const __m512i offset = _mm512_set1_epi32(128);
    for (int r = 0; r < m; r++) {
        const float *row = x + (size_t)r * ldx;
        for (int b = 0; b < nb; b++) {
            __m512 v0 = _mm512_loadu_ps(row + b * 32), v1 = _mm512_loadu_ps(row + b * 32 + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            float d = amax / 127, id = d != 0 ? 1 / d : 0;
            da[(size_t)r * nb + b] = d;
            __m512 vid = _mm512_set1_ps(id);
            // cvtps rounds to nearest even, as nearbyintf in the portable path.
            __m512i q0 = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)), offset);
            __m512i q1 = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid)), offset);
            uint8_t *q = qa + (size_t)r * k + b * 32;
            _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(q1));
        }
    }
}
#endif

void ck_quantize_rows_int8(const float *x, int m, int k, int ldx, uint8_t *qa, float *da, int portable) {
#if defined(__x86_64__)
    if (!portable && (ck_cpu_features() & 2)) { quantize_rows_q8_avx512(x, m, k, ldx, qa, da); return; }
#endif
    int nb = k / 32;
    for (int r = 0; r < m; r++) {
        const float *row = x + (size_t)r * ldx;
        for (int b = 0; b < nb; b++) {
            const float *v = row + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) { float a = fabsf(v[i]); if (a > amax) amax = a; }
            float d = amax / 127, id = d != 0 ? 1 / d : 0;
            da[(size_t)r * nb + b] = d;
            uint8_t *q = qa + (size_t)r * k + b * 32;
            for (int i = 0; i < 32; i++) q[i] = (uint8_t)((int)nearbyintf(v[i] * id) + 128);
        }
    }
}

/// Packs weight rows [0, nn) (nn ≤ Q8_NC) of a Q8_0 or Q4_0 matrix (`type` 8 or 2, GGML type ids) into whole pairs
/// of 16-row groups: per group and block, 8 × 64 bytes (lane j of vector t = the int8 values 4t..4t+3 of row j;
/// Q4_0 nibbles become q − 8), then 16 float scales, then 16 int32 corrections (−128 · Σ q). Rows past nn are zero.
static void pack_q8(int type, const uint8_t *w, size_t rowBytes, int nn, int nb, uint8_t *dst) {
    int groups = (nn + 31) / 32 * 2;  // whole pairs of groups: the kernel reads 32 rows at a time
    size_t blockBytes = 640;
    for (int g = 0; g < groups; g++) {
        for (int b = 0; b < nb; b++) {
            uint8_t *o = dst + ((size_t)g * nb + b) * blockBytes;
            float *scales = (float *)(o + 512);
            int32_t *corr = (int32_t *)(o + 576);
            for (int j = 0; j < Q8_GROUP; j++) {
                int n = g * Q8_GROUP + j;
                if (n >= nn) {
                    for (int t = 0; t < 8; t++) memset(o + t * 64 + j * 4, 0, 4);
                    scales[j] = 0;
                    corr[j] = 0;
                    continue;
                }
                int8_t qs[32];
                uint16_t h;
                if (type == CK_GGML_Q8_0) {
                    const uint8_t *blk = w + (size_t)n * rowBytes + (size_t)b * 34;
                    memcpy(&h, blk, 2);
                    memcpy(qs, blk + 2, 32);
                } else {  // Q4_0: 16 bytes, element i in the low nibble of byte i, element i + 16 in the high nibble
                    const uint8_t *blk = w + (size_t)n * rowBytes + (size_t)b * 18;
                    memcpy(&h, blk, 2);
                    for (int i = 0; i < 16; i++) {
                        qs[i] = (int8_t)((blk[2 + i] & 0x0F) - 8);
                        qs[i + 16] = (int8_t)((blk[2 + i] >> 4) - 8);
                    }
                }
                scales[j] = half_to_float(h);
                int32_t s = 0;
                for (int i = 0; i < 32; i++) s += qs[i];
                corr[j] = -128 * s;
                for (int t = 0; t < 8; t++) memcpy(o + t * 64 + j * 4, qs + 4 * t, 4);
            }
        }
    }
}

#if defined(__x86_64__)
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/// C[r, 0..32) for MR activation rows × 2 groups of 16 weight rows, over all nb blocks. `w0`, `w1`: packed groups.
VNNI static inline __attribute__((always_inline)) void micro_q8(int MR, int nb, const uint8_t *qa, int k, const float *da,
                                                                const uint8_t *w0, const uint8_t *w1, float *C, int ldc,
                                                                int width) {
    __m512 facc[Q8_MR][2];
    for (int r = 0; r < MR; r++) { facc[r][0] = _mm512_setzero_ps(); facc[r][1] = _mm512_setzero_ps(); }
    const size_t blockBytes = 640;
    for (int b = 0; b < nb; b++) {
        const uint8_t *p0 = w0 + (size_t)b * blockBytes, *p1 = w1 + (size_t)b * blockBytes;
        __m512i c0 = _mm512_load_si512((const void *)(p0 + 576)), c1 = _mm512_load_si512((const void *)(p1 + 576));
        __m512i iacc[Q8_MR][2];
        for (int r = 0; r < MR; r++) { iacc[r][0] = c0; iacc[r][1] = c1; }
        for (int t = 0; t < 8; t++) {
            __m512i v0 = _mm512_load_si512((const void *)(p0 + t * 64)), v1 = _mm512_load_si512((const void *)(p1 + t * 64));
            for (int r = 0; r < MR; r++) {
                int32_t a4; memcpy(&a4, qa + (size_t)r * k + b * 32 + t * 4, 4);
                __m512i a = _mm512_set1_epi32(a4);
                iacc[r][0] = _mm512_dpbusd_epi32(iacc[r][0], a, v0);
                iacc[r][1] = _mm512_dpbusd_epi32(iacc[r][1], a, v1);
            }
        }
        __m512 s0 = _mm512_load_ps((const float *)(p0 + 512)), s1 = _mm512_load_ps((const float *)(p1 + 512));
        for (int r = 0; r < MR; r++) {
            __m512 d = _mm512_set1_ps(da[(size_t)r * nb + b]);
            facc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][0]), _mm512_mul_ps(s0, d), facc[r][0]);
            facc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][1]), _mm512_mul_ps(s1, d), facc[r][1]);
        }
    }
    __mmask16 m0 = width >= 16 ? 0xFFFF : (__mmask16)((1u << width) - 1);
    __mmask16 m1 = width >= 32 ? 0xFFFF : width <= 16 ? 0 : (__mmask16)((1u << (width - 16)) - 1);
    for (int r = 0; r < MR; r++) {
        _mm512_mask_storeu_ps(C + (size_t)r * ldc, m0, facc[r][0]);
        _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16, m1, facc[r][1]);
    }
}
#endif

static _Thread_local uint8_t *q8_buffer = NULL;
static _Thread_local size_t q8_capacity = 0;

#if defined(__x86_64__)
VNNI static void gemm_q8_vnni(int type, int M, int N, int K, const uint8_t *qa, const float *da, const uint8_t *w, size_t rowBytes,
                              float *C, int ldc, uint8_t *buffer) {
    int nb = K / 32;
    for (int j0 = 0; j0 < N; j0 += Q8_NC) {
        int nn = N - j0 < Q8_NC ? N - j0 : Q8_NC;
        pack_q8(type, w + (size_t)j0 * rowBytes, rowBytes, nn, nb, buffer);
        int pairs = (nn + 31) / 32;
        for (int jp = 0; jp < pairs; jp++) {
            const uint8_t *w0 = buffer + (size_t)(2 * jp) * nb * 640, *w1 = w0 + (size_t)nb * 640;
            int width = nn - jp * 32 < 32 ? nn - jp * 32 : 32;
            for (int i0 = 0; i0 < M; i0 += Q8_MR) {
                int mr = M - i0 < Q8_MR ? M - i0 : Q8_MR;
                const uint8_t *a = qa + (size_t)i0 * K;
                const float *d = da + (size_t)i0 * nb;
                float *c = C + (size_t)i0 * ldc + j0 + jp * 32;
                switch (mr) {
                    case 6: micro_q8(6, nb, a, K, d, w0, w1, c, ldc, width); break;
                    case 5: micro_q8(5, nb, a, K, d, w0, w1, c, ldc, width); break;
                    case 4: micro_q8(4, nb, a, K, d, w0, w1, c, ldc, width); break;
                    case 3: micro_q8(3, nb, a, K, d, w0, w1, c, ldc, width); break;
                    case 2: micro_q8(2, nb, a, K, d, w0, w1, c, ldc, width); break;
                    default: micro_q8(1, nb, a, K, d, w0, w1, c, ldc, width); break;
                }
            }
        }
    }
}
#endif

/// The same sums without SIMD (CPUs without AVX-512 VNNI): block by block in int32, scaled in fp32.
static void gemm_q8_portable(int type, int M, int N, int K, const uint8_t *qa, const float *da, const uint8_t *w,
                             size_t rowBytes, float *C, int ldc) {
    int nb = K / 32;
    size_t bb = type == CK_GGML_Q8_0 ? 34 : 18;
    for (int i = 0; i < M; i++) {
        for (int n = 0; n < N; n++) {
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                const uint8_t *blk = w + (size_t)n * rowBytes + (size_t)b * bb;
                uint16_t h;
                memcpy(&h, blk, 2);
                const uint8_t *a = qa + (size_t)i * K + b * 32;
                int32_t dot = 0;
                for (int t = 0; t < 32; t++) {
                    int q = type == CK_GGML_Q8_0 ? (int)(int8_t)blk[2 + t]
                                                 : t < 16 ? (blk[2 + t] & 0x0F) - 8 : (blk[2 + t - 16] >> 4) - 8;
                    dot += ((int32_t)a[t] - 128) * q;
                }
                acc += (float)dot * (half_to_float(h) * da[(size_t)i * nb + b]);
            }
            C[(size_t)i * ldc + n] = acc;
        }
    }
}

int ck_gemm_int8(int type, int M, int N, int K, const uint8_t *qa, const float *da, const uint8_t *w, size_t rowBytes,
                 float *C, int ldc, int portable) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0 || K % 32 != 0 || (type != CK_GGML_Q8_0 && type != CK_GGML_Q4_0)) return -2;
#if defined(__x86_64__)
    if (!portable && ck_int8_gemm_available()) {
        size_t need = (size_t)((Q8_NC + 31) / 32 * 2) * (size_t)(K / 32) * 640;
        if (need > q8_capacity) {
            free(q8_buffer);
            q8_capacity = 0;
            q8_buffer = (uint8_t *)aligned_alloc(64, (need + 63) & ~(size_t)63);
            if (!q8_buffer) return -1;
            q8_capacity = need;
        }
        gemm_q8_vnni(type, M, N, K, qa, da, w, rowBytes, C, ldc, q8_buffer);
        return 0;
    }
#endif
    gemm_q8_portable(type, M, N, K, qa, da, w, rowBytes, C, ldc);
    return 0;
}

int ck_int8_gemm_available(void) { return (ck_cpu_features() & 6) == 6; }
