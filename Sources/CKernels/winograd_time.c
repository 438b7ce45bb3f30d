// Winograd F(mt, 3) along time for the VAE's causal 3×3×3 convolutions, on top of the spatial F(m×m, 3×3) of
// winograd.c: mt consecutive output frames from mt + 2 input frames with mt + 2 transform-domain products instead
// of 3·mt (F(2,3): 4 per 2 frames, F(4,3): 6 per 4). Everything here is linear in the frames, so it acts on the
// spatially transformed inputs V and products P directly; the caller (VAE/Winograd.swift) runs it per transform
// element ξ. Same interpolation points and correlation convention as the spatial transforms:
//   y[r] = Σ_k d[r + k] · g[k],  Y = Aᵀ [(G g) ⊙ (Bᵀ d)].
#include "CKernels.h"
#include "simd_avx2.h"
#include "winograd_tables.h"
#include <stddef.h>

void ck_winograd_time_kernels(int mt, const float *w, size_t n, float *wt) {
    const int taps = mt + 2;
    for (size_t p = 0; p < n; p++) {
        const float *g = w + p * 27;
        float *d = wt + p * (size_t)taps * 9;
        for (int k = 0; k < taps; k++)
            for (int s = 0; s < 9; s++)
                d[k * 9 + s] = gm(mt, k, 0) * g[s] + gm(mt, k, 1) * g[9 + s] + gm(mt, k, 2) * g[18 + s];
    }
}

static inline __attribute__((always_inline)) void time_input(int mt, int k, const float *const *v, size_t n, float *restrict e) {
    const int taps = mt + 2;
    const float *src[6];
    float coef[6];
    int terms = 0;
    for (int j = 0; j < taps; j++) {
        float c = bt(mt, k, j);
        if (c != 0) { src[terms] = v[j]; coef[terms] = c; terms++; }
    }
    // At most four non-zero coefficients per row (both tables); one pass, contiguous, vectorized by the compiler.
    const float *restrict s0 = src[0], *restrict s1 = terms > 1 ? src[1] : src[0];
    const float c0 = coef[0], c1 = terms > 1 ? coef[1] : 0;
    if (terms <= 2) {
        for (size_t i = 0; i < n; i++) e[i] = c0 * s0[i] + c1 * s1[i];
    } else if (terms == 3) {
        const float *restrict s2 = src[2];
        const float c2 = coef[2];
        for (size_t i = 0; i < n; i++) e[i] = c0 * s0[i] + c1 * s1[i] + c2 * s2[i];
    } else {
        const float *restrict s2 = src[2], *restrict s3 = src[3];
        const float c2 = coef[2], c3 = coef[3];
        for (size_t i = 0; i < n; i++) e[i] = (c0 * s0[i] + c1 * s1[i]) + (c2 * s2[i] + c3 * s3[i]);
    }
}

static inline __attribute__((always_inline)) void time_output(int mt, float *const *p, size_t n) {
    if (mt == 2) {
        float *restrict p0 = p[0], *restrict p1 = p[1], *restrict p2 = p[2], *restrict p3 = p[3];
        for (size_t i = 0; i < n; i++) {
            float m0 = p0[i], m1 = p1[i], m2 = p2[i], m3 = p3[i];
            p0[i] = m0 + m1 + m2;
            p1[i] = m1 - m2 - m3;
        }
        return;
    }
    float *restrict p0 = p[0], *restrict p1 = p[1], *restrict p2 = p[2], *restrict p3 = p[3], *restrict p4 = p[4],
          *restrict p5 = p[5];
    for (size_t i = 0; i < n; i++) {
        float m0 = p0[i], m1 = p1[i], m2 = p2[i], m3 = p3[i], m4 = p4[i], m5 = p5[i];
        float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        p0[i] = m0 + s12 + s34;
        p1[i] = d12 + 2 * d34;
        p2[i] = s12 + 4 * s34;
        p3[i] = d12 + 8 * d34 + m5;
    }
}

// Both passes compiled for the baseline ISA and, where the CPU has them, AVX2 + FMA (AVX-512 CPUs take the AVX2
// form too: the passes are bound by the L2 traffic, not the vector width).
#if defined(__x86_64__)
CK_AVX2 static void time_input_avx2(int mt, int k, const float *const *v, size_t n, float *e) { time_input(mt, k, v, n, e); }
CK_AVX2 static void time_output_avx2(int mt, float *const *p, size_t n) { time_output(mt, p, n); }
#endif

void ck_winograd_time_input(int mt, int k, const float *const *v, size_t n, float *e) {
#if defined(__x86_64__)
    if (ck_cpu_features() & 1) { time_input_avx2(mt, k, v, n, e); return; }
#endif
    time_input(mt, k, v, n, e);
}

void ck_winograd_time_output(int mt, float *const *p, size_t n) {
#if defined(__x86_64__)
    if (ck_cpu_features() & 1) { time_output_avx2(mt, p, n); return; }
#endif
    time_output(mt, p, n);
}
