// Winograd F(m×m, 3×3) convolution kernels (Lavin & Gray 2015) for the CogVideoX VAE's 3×3 convolutions: m = 4 (6×6
// tiles, 36 products per 16 outputs instead of 144) or m = 2 (4×4 tiles, 16 per 4). The caller (VAE/Winograd.swift)
// runs the steps per band of tile rows and splits them across threads. Layouts (MR × NR register tiles, CKernels.h):
//   transformed weight U[ξ][o / MR][t·ci + c][o % MR]   (ξ = a·i + j, i vertical, j horizontal, a = m + 2);
//   transformed input  V[ξ][tile / NR][c][tile % NR]     for one frame, tile = tile_row · ntw + tile_col;
//   products           P[ξ][o][tile]                     (Σ over the kT taps of U_t · V_t, one GEMM per ξ).
// Both GEMM operands are written already packed by the transforms, so the products need no packing step. The F(4,3)
// transforms have their coefficients written out; loops over tiles are contiguous so that the compiler vectorizes
// them, and the stride-m interleaving of columns is resolved by deinterleaving a row once (input) or interleaving
// it once (output). Correlation as in PyTorch's conv (no kernel flip): y[r] = Σ_k d[r + k] · g[k].
#include "CKernels.h"
#include "simd_avx2.h"
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string.h>
#include "winograd_tables.h"

int ck_winograd_scratch_floats(int m, int ntw) {
    int a = m + 2, wp = m * (ntw + 1) + 16;
    return 2 * a * wp + a * (ntw + 17) + a * m * (ntw + 17) + (ntw + 17) + 64;
}

// Input transform, specialised on m so that the coefficient tables fold into the code.
static inline __attribute__((always_inline)) void input_tiles(const int m, const float *restrict plane, int w,
        const int *restrict row_idx, const int *restrict col_idx, int ntw, int nrt, float *restrict scratch,
        float *restrict dst, size_t xi_stride, size_t strip_stride) {
    const int a = m + 2, wp = m * (ntw + 1), vw = m * ntw + 2;
    float *rows = scratch;                 // a gathered rows of wp
    float *t = rows + a * wp;              // a vertically transformed rows of wp
    float *p = t + a * wp;                 // m deinterleaved planes of ntw + 1
    for (int tr = 0; tr < nrt; tr++) {
        for (int k = 0; k < a; k++) {
            float *r = rows + k * wp;
            int sr = row_idx[m * tr + k];
            if (sr < 0) { memset(r, 0, sizeof(float) * wp); continue; }
            const float *s = plane + (size_t)sr * w;
            if (!col_idx) {  // identity columns with one column of zero padding on each side
                int n = w < vw - 1 ? w : vw - 1;
                r[0] = 0;
                memcpy(r + 1, s, sizeof(float) * n);
                for (int x = n + 1; x < wp; x++) r[x] = 0;
            } else {
                for (int x = 0; x < vw; x++) { int c = col_idx[x]; r[x] = c >= 0 ? s[c] : 0; }
                for (int x = vw; x < wp; x++) r[x] = 0;
            }
        }
        for (int i = 0; i < a; i++) {
            float *ti = t + i * wp;
            for (int x = 0; x < wp; x++) {
                float acc = 0;
                for (int k = 0; k < a; k++) acc += bt(m, i, k) * rows[k * wp + x];
                ti[x] = acc;
            }
        }
        for (int i = 0; i < a; i++) {
            const float *ti = t + i * wp;
            for (int j = 0; j <= ntw; j++)
                for (int q = 0; q < m; q++) p[q * (ntw + 1) + j] = ti[m * j + q];
            for (int jj = 0; jj < a; jj++) {
                // Tile T of this row goes to strip T / NR, lane T % NR of the packed GEMM operand: one contiguous
                // run per strip.
                float *d = dst + (size_t)(i * a + jj) * xi_stride;
                for (int j0 = 0, tile = tr * ntw; j0 < ntw;) {
                    int lane = tile % CK_WG_NR, n = CK_WG_NR - lane < ntw - j0 ? CK_WG_NR - lane : ntw - j0;
                    float *restrict dd = d + (size_t)(tile / CK_WG_NR) * strip_stride + lane;
                    const float *pj = p + j0;
                    for (int q = 0; q < n; q++) {
                        float acc = 0;
                        for (int k = 0; k < a; k++) acc += bt(m, jj, k) * pj[(k % m) * (ntw + 1) + q + k / m];
                        dd[q] = acc;
                    }
                    j0 += n;
                    tile += n;
                }
            }
        }
    }
}

// F(4,3) input transform with the coefficients written out (the generic loops above do not fold the tables well
// enough for the compiler to vectorize): vertical pass over whole rows, then the horizontal pass on the rows
// deinterleaved by column modulo 4, six contiguous streams per transformed row.
#define BT4_1D(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) \
    o0 = 4 * (d0) - 5 * (d2) + (d4); o1 = (d3) + (d4) - 4 * ((d1) + (d2)); o2 = 4 * ((d1) - (d2)) + (d4) - (d3); \
    o3 = 2 * ((d3) - (d1)) + (d4) - (d2); o4 = 2 * ((d1) - (d3)) + (d4) - (d2); o5 = 4 * (d1) - 5 * (d3) + (d5);

static inline __attribute__((always_inline)) void input_tiles4_body(const float *restrict plane, int w,
        const int *restrict row_idx, const int *restrict col_idx, int ntw, int nrt, float *restrict scratch,
        float *restrict dst, size_t xi_stride, size_t strip_stride) {
    const int wp = 4 * (ntw + 1), vw = 4 * ntw + 2, np = ntw + 1;
    float *rows = scratch, *t = rows + 6 * wp, *p = t + 6 * wp;
    for (int tr = 0; tr < nrt; tr++) {
        for (int k = 0; k < 6; k++) {
            float *r = rows + k * wp;
            int sr = row_idx[4 * tr + k];
            if (sr < 0) { memset(r, 0, sizeof(float) * wp); continue; }
            const float *s = plane + (size_t)sr * w;
            if (!col_idx) {
                int n = w < vw - 1 ? w : vw - 1;
                r[0] = 0;
                memcpy(r + 1, s, sizeof(float) * n);
                for (int x = n + 1; x < wp; x++) r[x] = 0;
            } else {
                for (int x = 0; x < vw; x++) { int c = col_idx[x]; r[x] = c >= 0 ? s[c] : 0; }
                for (int x = vw; x < wp; x++) r[x] = 0;
            }
        }
        {
            const float *r0 = rows, *r1 = r0 + wp, *r2 = r1 + wp, *r3 = r2 + wp, *r4 = r3 + wp, *r5 = r4 + wp;
            float *restrict t0 = t, *restrict t1 = t0 + wp, *restrict t2 = t1 + wp, *restrict t3 = t2 + wp,
                  *restrict t4 = t3 + wp, *restrict t5 = t4 + wp;
            for (int x = 0; x < wp; x++) {
                BT4_1D(r0[x], r1[x], r2[x], r3[x], r4[x], r5[x], t0[x], t1[x], t2[x], t3[x], t4[x], t5[x])
            }
        }
        for (int i = 0; i < 6; i++) {
            const float *ti = t + i * wp;
            float *restrict p0 = p, *restrict p1 = p0 + np, *restrict p2 = p1 + np, *restrict p3 = p2 + np;
            for (int j = 0; j < np; j++) {
                p0[j] = ti[4 * j]; p1[j] = ti[4 * j + 1]; p2[j] = ti[4 * j + 2]; p3[j] = ti[4 * j + 3];
            }
            float *d = dst + (size_t)(i * 6) * xi_stride;
            for (int j0 = 0, tile = tr * ntw; j0 < ntw;) {
                int lane = tile % CK_WG_NR, n = CK_WG_NR - lane < ntw - j0 ? CK_WG_NR - lane : ntw - j0;
                size_t off = (size_t)(tile / CK_WG_NR) * strip_stride + lane;
                float *restrict e0 = d + off, *restrict e1 = e0 + xi_stride, *restrict e2 = e1 + xi_stride,
                      *restrict e3 = e2 + xi_stride, *restrict e4 = e3 + xi_stride, *restrict e5 = e4 + xi_stride;
                const float *a0 = p0 + j0, *a1 = p1 + j0, *a2 = p2 + j0, *a3 = p3 + j0;
                for (int q = 0; q < n; q++) {
                    BT4_1D(a0[q], a1[q], a2[q], a3[q], a0[q + 1], a1[q + 1], e0[q], e1[q], e2[q], e3[q], e4[q], e5[q])
                }
                j0 += n;
                tile += n;
            }
        }
    }
}

#if defined(__x86_64__)
#define WG_AVX512 __attribute__((target("avx512f,avx512dq,fma")))

// Lanes 0 … n − 1 (n ≤ 16) of a 16-lane mask.
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1); }

#define V4(x) _mm512_set1_ps(x)
// BT4_1D on vectors, the same operations in the same order as the scalar form.
#define BT4_V(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) \
    o0 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(V4(4), d0), _mm512_mul_ps(V4(5), d2)), d4); \
    o1 = _mm512_sub_ps(_mm512_add_ps(d3, d4), _mm512_mul_ps(V4(4), _mm512_add_ps(d1, d2))); \
    o2 = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(V4(4), _mm512_sub_ps(d1, d2)), d4), d3); \
    o3 = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(V4(2), _mm512_sub_ps(d3, d1)), d4), d2); \
    o4 = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(V4(2), _mm512_sub_ps(d1, d3)), d4), d2); \
    o5 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(V4(4), d1), _mm512_mul_ps(V4(5), d3)), d5);

WG_AVX512 static void input_tiles4_avx512(const float *restrict plane, int w, const int *restrict row_idx,
                                          const int *restrict col_idx, int ntw, int nrt, float *restrict scratch,
                                          float *restrict dst, size_t xi_stride, size_t strip_stride) {
    const int np = ntw + 1, wp = 4 * np, vw = 4 * ntw + 2;
    const int wpv = (wp + 15) / 16 * 16;  // row pitch of the scratch rows (whole vectors)
    float *rows = scratch, *t = rows + 6 * wpv;
    const int n = w < vw - 1 ? w : vw - 1;  // source columns read (identity columns)
    for (int tr = 0; tr < nrt; tr++) {
        // Source of virtual row k: identity columns are read in place (virtual column x = source column x − 1,
        // lanes outside 1 … n masked off, nothing read there); gathered columns go through the scratch rows.
        const float *src[6];
        for (int k = 0; k < 6; k++) {
            int sr = row_idx[4 * tr + k];
            if (sr < 0) { src[k] = NULL; continue; }
            const float *s = plane + (size_t)sr * w;
            if (!col_idx) { src[k] = s - 1; continue; }
            float *r = rows + k * wpv;
            for (int x = 0; x < vw; x++) { int c = col_idx[x]; r[x] = c >= 0 ? s[c] : 0; }
            for (int x = vw; x < wpv; x++) r[x] = 0;
            src[k] = r;
        }
        for (int x = 0; x < wpv; x += 16) {
            // Lanes x + l with 1 ≤ x + l ≤ n for in-place rows; every lane for scratch rows.
            __mmask16 inside = (__mmask16)(lanes(n + 1 - x) & ~lanes(1 - x));
            __mmask16 m = col_idx ? (__mmask16)0xFFFF : inside;
            __m512 d[6];
            for (int k = 0; k < 6; k++) d[k] = src[k] ? _mm512_maskz_loadu_ps(m, src[k] + x) : _mm512_setzero_ps();
            __m512 o0, o1, o2, o3, o4, o5;
            BT4_V(d[0], d[1], d[2], d[3], d[4], d[5], o0, o1, o2, o3, o4, o5)
            _mm512_storeu_ps(t + x, o0); _mm512_storeu_ps(t + wpv + x, o1); _mm512_storeu_ps(t + 2 * wpv + x, o2);
            _mm512_storeu_ps(t + 3 * wpv + x, o3); _mm512_storeu_ps(t + 4 * wpv + x, o4); _mm512_storeu_ps(t + 5 * wpv + x, o5);
        }
        // Horizontal pass, 16 tiles per step straight from the transformed rows: the stride-4 deinterleave of
        // the window at column 4j gives d0…d3, the window at 4j + 4 gives d4, d5 (no stores and reloads of
        // deinterleaved planes). A step whose tiles cross into the next strip of NR stores in two parts.
        const __m512i e01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
        const __m512i e23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
        const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        for (int i = 0; i < 6; i++) {
            const float *ti = t + i * wpv;
            float *d = dst + (size_t)(i * 6) * xi_stride;
            for (int j = 0; j < ntw; j += 16) {
                const float *w0 = ti + 4 * j;
                int n = wpv - 4 * j;  // floats of the row from this window on
                __m512 v0 = _mm512_maskz_loadu_ps(lanes(n), w0), v1 = _mm512_maskz_loadu_ps(lanes(n - 16), w0 + 16),
                       v2 = _mm512_maskz_loadu_ps(lanes(n - 32), w0 + 32), v3 = _mm512_maskz_loadu_ps(lanes(n - 48), w0 + 48);
                __m512 u0 = _mm512_maskz_loadu_ps(lanes(n - 4), w0 + 4), u1 = _mm512_maskz_loadu_ps(lanes(n - 20), w0 + 20),
                       u2 = _mm512_maskz_loadu_ps(lanes(n - 36), w0 + 36), u3 = _mm512_maskz_loadu_ps(lanes(n - 52), w0 + 52);
                __m512 a01 = _mm512_permutex2var_ps(v0, e01, v1), a23 = _mm512_permutex2var_ps(v0, e23, v1);
                __m512 b01 = _mm512_permutex2var_ps(v2, e01, v3), b23 = _mm512_permutex2var_ps(v2, e23, v3);
                __m512 c01 = _mm512_permutex2var_ps(u0, e01, u1), g01 = _mm512_permutex2var_ps(u2, e01, u3);
                __m512 d0 = _mm512_permutex2var_ps(a01, lo, b01), d1 = _mm512_permutex2var_ps(a01, hi, b01),
                       d2 = _mm512_permutex2var_ps(a23, lo, b23), d3 = _mm512_permutex2var_ps(a23, hi, b23),
                       d4 = _mm512_permutex2var_ps(c01, lo, g01), d5 = _mm512_permutex2var_ps(c01, hi, g01);
                __m512 o[6];
                BT4_V(d0, d1, d2, d3, d4, d5, o[0], o[1], o[2], o[3], o[4], o[5])
                int cnt = ntw - j < 16 ? ntw - j : 16, tile = tr * ntw + j, lane = tile % CK_WG_NR;
                int first = CK_WG_NR - lane < cnt ? CK_WG_NR - lane : cnt;  // tiles in this strip
                float *e = d + (size_t)(tile / CK_WG_NR) * strip_stride + lane;
                __mmask16 k1 = lanes(first);
                for (int x = 0; x < 6; x++) _mm512_mask_storeu_ps(e + x * xi_stride, k1, o[x]);
                if (first < cnt) {  // the rest starts the next strip: lanes first … cnt − 1 at lane 0 of it
                    float *e2 = d + (size_t)(tile / CK_WG_NR + 1) * strip_stride - first;
                    __mmask16 k2 = (__mmask16)(lanes(cnt) & ~k1);
                    for (int x = 0; x < 6; x++) _mm512_mask_storeu_ps(e2 + x * xi_stride, k2, o[x]);
                }
            }
        }
    }
}
#endif

// The F(4,3) input transform compiled for the baseline ISA and, for CPUs without AVX-512, for AVX2 + FMA.
static void input_tiles4(const float *plane, int w, const int *row_idx, const int *col_idx, int ntw, int nrt,
                         float *scratch, float *dst, size_t xi_stride, size_t strip_stride) {
    input_tiles4_body(plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride, strip_stride);
}
#if defined(__x86_64__)
CK_AVX2 static void input_tiles4_avx2(const float *plane, int w, const int *row_idx, const int *col_idx, int ntw, int nrt,
                                      float *scratch, float *dst, size_t xi_stride, size_t strip_stride) {
    input_tiles4_body(plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride, strip_stride);
}
#endif

void ck_winograd_input(int m, const float *plane, int w, const int *row_idx, const int *col_idx, int ntw, int nrt,
                       float *scratch, float *dst, size_t xi_stride, size_t strip_stride) {
#if defined(__x86_64__)
    if (m == 4 && (ck_cpu_features() & 2)) {
        input_tiles4_avx512(plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride, strip_stride);
        return;
    }
    if (m == 4 && (ck_cpu_features() & 1)) {
        input_tiles4_avx2(plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride, strip_stride);
        return;
    }
#endif
    if (m == 4) input_tiles4(plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride, strip_stride);
    else input_tiles(2, plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride, strip_stride);
}

static inline __attribute__((always_inline)) void output_tiles(const int m, const float *restrict src, size_t xi_stride,
        int ntw, int nrt, float bias, float *restrict out, int ldo, int rows, int cols, float *restrict scratch) {
    const int a = m + 2;
    float *s = scratch;           // s[i][b][j]: a × m rows of ntw
    float *y = s + a * m * ntw;   // y[b][j] for one output row a
    for (int tr = 0; tr < nrt; tr++) {
        for (int i = 0; i < a; i++)
            for (int b = 0; b < m; b++) {
                float *sr = s + (i * m + b) * ntw;
                for (int j = 0; j < ntw; j++) {
                    float acc = 0;
                    for (int k = 0; k < a; k++) acc += at(m, b, k) * src[(size_t)(i * a + k) * xi_stride + (size_t)tr * ntw + j];
                    sr[j] = acc;
                }
            }
        for (int r = 0; r < m; r++) {
            int orow = m * tr + r;
            if (orow >= rows) break;
            for (int b = 0; b < m; b++) {
                float *yb = y + b * ntw;
                for (int j = 0; j < ntw; j++) {
                    float acc = bias;
                    for (int i = 0; i < a; i++) acc += at(m, r, i) * s[(i * m + b) * ntw + j];
                    yb[j] = acc;
                }
            }
            float *o = out + (size_t)orow * ldo;
            int full = cols / m;  // tiles whose m columns are all inside the output
            for (int j = 0; j < full; j++)
                for (int b = 0; b < m; b++) o[m * j + b] = y[b * ntw + j];
            for (int c = full * m; c < cols; c++) o[c] = y[(c % m) * ntw + c / m];
        }
    }
}

// F(4,3) inverse transform written out: y0 = m0+m1+m2+m3+m4, y1 = m1−m2+2(m3−m4), y2 = m1+m2+4(m3+m4),
// y3 = m1−m2+8(m3−m4)+m5, first down the six rows of each transform column (contiguous over tiles), then across.
static inline __attribute__((always_inline)) void output_tiles4_body(const float *restrict src, size_t xi_stride,
        int ntw, int nrt, float bias, float *restrict out, int ldo, int rows, int cols, float *restrict scratch) {
    float *s = scratch;             // s[b][i][j]: 4 × 6 rows of ntw (vertical pass)
    float *y = s + 24 * ntw;        // y[b][j] for one output row
    for (int tr = 0; tr < nrt; tr++) {
        for (int i = 0; i < 6; i++) {  // column i of the transform: rows k = 0…5 at ξ = 6k + i
            const float *m0 = src + (size_t)i * xi_stride + (size_t)tr * ntw, *m1 = m0 + 6 * xi_stride,
                        *m2 = m1 + 6 * xi_stride, *m3 = m2 + 6 * xi_stride, *m4 = m3 + 6 * xi_stride,
                        *m5 = m4 + 6 * xi_stride;
            float *restrict s0 = s + (0 * 6 + i) * ntw, *restrict s1 = s + (1 * 6 + i) * ntw,
                  *restrict s2 = s + (2 * 6 + i) * ntw, *restrict s3 = s + (3 * 6 + i) * ntw;
            for (int j = 0; j < ntw; j++) {
                float a1 = m1[j] + m2[j], d1 = m1[j] - m2[j], a3 = m3[j] + m4[j], d3 = m3[j] - m4[j];
                s0[j] = m0[j] + a1 + a3;
                s1[j] = d1 + 2 * d3;
                s2[j] = a1 + 4 * a3;
                s3[j] = d1 + 8 * d3 + m5[j];
            }
        }
        for (int r = 0; r < 4; r++) {
            int orow = 4 * tr + r;
            if (orow >= rows) break;
            const float *sr = s + r * 6 * ntw;
            const float *n0 = sr, *n1 = sr + ntw, *n2 = n1 + ntw, *n3 = n2 + ntw, *n4 = n3 + ntw, *n5 = n4 + ntw;
            float *restrict y0 = y, *restrict y1 = y + ntw, *restrict y2 = y1 + ntw, *restrict y3 = y2 + ntw;
            for (int j = 0; j < ntw; j++) {
                float a1 = n1[j] + n2[j], d1 = n1[j] - n2[j], a3 = n3[j] + n4[j], d3 = n3[j] - n4[j];
                y0[j] = bias + n0[j] + a1 + a3;
                y1[j] = bias + d1 + 2 * d3;
                y2[j] = bias + a1 + 4 * a3;
                y3[j] = bias + d1 + 8 * d3 + n5[j];
            }
            float *o = out + (size_t)orow * ldo;
            int full = cols / 4;
            for (int j = 0; j < full; j++) {
                o[4 * j] = y0[j]; o[4 * j + 1] = y1[j]; o[4 * j + 2] = y2[j]; o[4 * j + 3] = y3[j];
            }
            for (int c = full * 4; c < cols; c++) o[c] = y[(c % 4) * ntw + c / 4];
        }
    }
}

#if defined(__x86_64__)
// output_tiles4 with 16 tiles per vector: the vertical pass over the six rows of each transform column, then per
// output row the horizontal pass and the stride-4 interleave of y0…y3 into 64 output columns (two permute rounds).
WG_AVX512 static void output_tiles4_avx512(const float *restrict src, size_t xi_stride, int ntw, int nrt, float bias,
                                           float *restrict out, int ldo, int rows, int cols, float *restrict scratch) {
    const int pv = (ntw + 15) / 16 * 16;  // pitch of the scratch rows
    float *s = scratch;                   // s[b][i][j]: 4 × 6 rows of pv
    const __m512i i01l = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i i01h = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i q0 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i q1 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8), vb = _mm512_set1_ps(bias);
    for (int tr = 0; tr < nrt; tr++) {
        for (int i = 0; i < 6; i++) {
            const float *m0 = src + (size_t)i * xi_stride + (size_t)tr * ntw;
            const size_t st = 6 * xi_stride;
            for (int j = 0; j < ntw; j += 16) {
                __mmask16 k = lanes(ntw - j);
                __m512 x0 = _mm512_maskz_loadu_ps(k, m0 + j), x1 = _mm512_maskz_loadu_ps(k, m0 + st + j),
                       x2 = _mm512_maskz_loadu_ps(k, m0 + 2 * st + j), x3 = _mm512_maskz_loadu_ps(k, m0 + 3 * st + j),
                       x4 = _mm512_maskz_loadu_ps(k, m0 + 4 * st + j), x5 = _mm512_maskz_loadu_ps(k, m0 + 5 * st + j);
                __m512 a1 = _mm512_add_ps(x1, x2), d1 = _mm512_sub_ps(x1, x2), a3 = _mm512_add_ps(x3, x4),
                       d3 = _mm512_sub_ps(x3, x4);
                _mm512_storeu_ps(s + (0 * 6 + i) * pv + j, _mm512_add_ps(_mm512_add_ps(x0, a1), a3));
                _mm512_storeu_ps(s + (1 * 6 + i) * pv + j, _mm512_add_ps(d1, _mm512_mul_ps(two, d3)));
                _mm512_storeu_ps(s + (2 * 6 + i) * pv + j, _mm512_add_ps(a1, _mm512_mul_ps(four, a3)));
                _mm512_storeu_ps(s + (3 * 6 + i) * pv + j, _mm512_add_ps(_mm512_add_ps(d1, _mm512_mul_ps(eight, d3)), x5));
            }
        }
        for (int r = 0; r < 4; r++) {
            int orow = 4 * tr + r;
            if (orow >= rows) break;
            const float *n0 = s + r * 6 * pv;
            float *o = out + (size_t)orow * ldo;
            for (int j = 0; j < ntw; j += 16) {
                __m512 x0 = _mm512_loadu_ps(n0 + j), x1 = _mm512_loadu_ps(n0 + pv + j), x2 = _mm512_loadu_ps(n0 + 2 * pv + j),
                       x3 = _mm512_loadu_ps(n0 + 3 * pv + j), x4 = _mm512_loadu_ps(n0 + 4 * pv + j),
                       x5 = _mm512_loadu_ps(n0 + 5 * pv + j);
                __m512 a1 = _mm512_add_ps(x1, x2), d1 = _mm512_sub_ps(x1, x2), a3 = _mm512_add_ps(x3, x4),
                       d3 = _mm512_sub_ps(x3, x4);
                __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(vb, x0), a1), a3);
                __m512 y1 = _mm512_add_ps(_mm512_add_ps(vb, d1), _mm512_mul_ps(two, d3));
                __m512 y2 = _mm512_add_ps(_mm512_add_ps(vb, a1), _mm512_mul_ps(four, a3));
                __m512 y3 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(vb, d1), _mm512_mul_ps(eight, d3)), x5);
                __m512 l01 = _mm512_permutex2var_ps(y0, i01l, y1), h01 = _mm512_permutex2var_ps(y0, i01h, y1);
                __m512 l23 = _mm512_permutex2var_ps(y2, i01l, y3), h23 = _mm512_permutex2var_ps(y2, i01h, y3);
                int n = cols - 4 * j;  // output columns left from this block's first tile
                float *oj = o + 4 * j;
                _mm512_mask_storeu_ps(oj, lanes(n), _mm512_permutex2var_ps(l01, q0, l23));
                _mm512_mask_storeu_ps(oj + 16, lanes(n - 16), _mm512_permutex2var_ps(l01, q1, l23));
                _mm512_mask_storeu_ps(oj + 32, lanes(n - 32), _mm512_permutex2var_ps(h01, q0, h23));
                _mm512_mask_storeu_ps(oj + 48, lanes(n - 48), _mm512_permutex2var_ps(h01, q1, h23));
            }
        }
    }
}
#endif

// The F(4,3) inverse transform compiled for the baseline ISA and, for CPUs without AVX-512, for AVX2 + FMA.
static void output_tiles4(const float *src, size_t xi_stride, int ntw, int nrt, float bias, float *out, int ldo, int rows,
                          int cols, float *scratch) {
    output_tiles4_body(src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
}
#if defined(__x86_64__)
CK_AVX2 static void output_tiles4_avx2(const float *src, size_t xi_stride, int ntw, int nrt, float bias, float *out, int ldo,
                                       int rows, int cols, float *scratch) {
    output_tiles4_body(src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
}
#endif

void ck_winograd_output(int m, const float *src, size_t xi_stride, int ntw, int nrt, float bias, float *out, int ldo,
                        int rows, int cols, float *scratch) {
#if defined(__x86_64__)
    if (m == 4 && (ck_cpu_features() & 2)) {
        output_tiles4_avx512(src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
        return;
    }
    if (m == 4 && (ck_cpu_features() & 1)) {
        output_tiles4_avx2(src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
        return;
    }
#endif
    if (m == 4) output_tiles4(src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
    else output_tiles(2, src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
}

// Weight transform G·g·Gᵀ for one strip of MR output channels at a time, vectorized across the strip: the MR kernels
// of one (input channel, tap) are gathered into gs[9][MR], and every transform element is one contiguous MR-float
// row of the packed operand.
static inline __attribute__((always_inline)) void weight_tiles(const int m, const float *restrict w, int co, int co0,
        int co1, int ci, int kt, float *restrict u) {
    const int a = m + 2, MR = CK_WG_MR;
    const int cop = (co + MR - 1) / MR * MR;
    const size_t xi_stride = (size_t)cop * kt * ci;
    for (int s0 = co0 / MR * MR; s0 < co1; s0 += MR) {
        int lo = s0 > co0 ? s0 : co0, hi = s0 + MR < co1 ? s0 + MR : co1;
        // Lanes outside [lo, hi) belong to another caller's range (or are padding when hi == co): not written here,
        // except padding lanes, which are zeroed.
        for (int t = 0; t < kt; t++)
            for (int c = 0; c < ci; c++) {
                float gs[9][CK_WG_MR], tmp[6][3][CK_WG_MR];
                for (int l = 0; l < MR; l++) {
                    int o = s0 + l;
                    const float *g = w + (((size_t)(o < co ? o : 0) * ci + c) * kt + t) * 9;
                    for (int r = 0; r < 9; r++) gs[r][l] = o < co ? g[r] : 0;
                }
                for (int i = 0; i < a; i++)
                    for (int k = 0; k < 3; k++)
                        for (int l = 0; l < MR; l++)
                            tmp[i][k][l] = gm(m, i, 0) * gs[k][l] + gm(m, i, 1) * gs[3 + k][l] + gm(m, i, 2) * gs[6 + k][l];
                float *d = u + (size_t)(s0 / MR) * kt * ci * MR + ((size_t)t * ci + c) * MR;
                for (int i = 0; i < a; i++)
                    for (int j = 0; j < a; j++) {
                        float *dx = d + (size_t)(i * a + j) * xi_stride;
                        float v[CK_WG_MR];
                        for (int l = 0; l < MR; l++)
                            v[l] = tmp[i][0][l] * gm(m, j, 0) + tmp[i][1][l] * gm(m, j, 1) + tmp[i][2][l] * gm(m, j, 2);
                        if (lo == s0 && (hi == s0 + MR || hi == co)) memcpy(dx, v, sizeof v);
                        else for (int l = lo - s0; l < (hi == co ? MR : hi - s0); l++) dx[l] = v[l];
                    }
            }
    }
}

void ck_winograd_weights(int m, const float *w, int co, int co0, int co1, int ci, int kt, float *u) {
    if (m == 4) weight_tiles(4, w, co, co0, co1, ci, kt, u);
    else weight_tiles(2, w, co, co0, co1, ci, kt, u);
}

// ---- transform-domain products --------------------------------------------------------------------------------
// C[MR×NR] (+)= Σ_t A_t · B_t over the kT time taps with K = kc each: A_t strips hold [kc][MR] (the weights of tap t),
// B_t strips [kc][NR] (the transformed input frame of tap t). The taps accumulate in registers. K is split in
// blocks so that the kT B strips of one block (kT·kc·NR floats) stay in L1 while every A strip of the block (from
// L2) passes over them.

static void micro_scalar(int kt, int kc, const float *const *a, const float *const *b, float *c, int ldc, int acc) {
    float sum[CK_WG_MR][CK_WG_NR];
    for (int i = 0; i < CK_WG_MR; i++)
        for (int j = 0; j < CK_WG_NR; j++) sum[i][j] = acc ? c[(size_t)i * ldc + j] : 0;
    for (int t = 0; t < kt; t++)
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < CK_WG_MR; i++)
                for (int j = 0; j < CK_WG_NR; j++) sum[i][j] += a[t][k * CK_WG_MR + i] * b[t][k * CK_WG_NR + j];
    for (int i = 0; i < CK_WG_MR; i++) memcpy(c + (size_t)i * ldc, sum[i], sizeof(float) * CK_WG_NR);
}

#if defined(__x86_64__)
__attribute__((target("avx512f,fma")))
static void micro_avx512(int kt, int kc, const float *const *a, const float *const *b, float *c, int ldc, int acc) {
    __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71, c80, c81, c90, c91,
           ca0, ca1, cb0, cb1;
#define LOAD(r, lo, hi) lo = acc ? _mm512_loadu_ps(c + (size_t)(r) * ldc) : _mm512_setzero_ps(); \
                        hi = acc ? _mm512_loadu_ps(c + (size_t)(r) * ldc + 16) : _mm512_setzero_ps();
    LOAD(0, c00, c01) LOAD(1, c10, c11) LOAD(2, c20, c21) LOAD(3, c30, c31) LOAD(4, c40, c41) LOAD(5, c50, c51)
    LOAD(6, c60, c61) LOAD(7, c70, c71) LOAD(8, c80, c81) LOAD(9, c90, c91) LOAD(10, ca0, ca1) LOAD(11, cb0, cb1)
#undef LOAD
    for (int t = 0; t < kt; t++) {
        const float *ap = a[t], *bp = b[t];
        for (int k = 0; k < kc; k++, ap += CK_WG_MR, bp += CK_WG_NR) {
            __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), x;
#define ROW(r, lo, hi) x = _mm512_set1_ps(ap[r]); lo = _mm512_fmadd_ps(x, b0, lo); hi = _mm512_fmadd_ps(x, b1, hi);
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

#if defined(__x86_64__)
_Static_assert(CK_WG_MR == 12 && CK_WG_NR == 32, "the AVX2 panel kernel covers 12x32 tiles");
CK_AVX2 static void micro_avx2(int kt, int kc, const float *const *a, const float *const *b, float *c, int ldc, int acc) {
    ck_panel12x32_avx2(kt, kc, a, b, c, ldc, CK_WG_MR, CK_WG_NR, acc);
}
#endif

void ck_winograd_gemm(int kt, int ci, int co, int tiles, const float *const *u, size_t u_strip, const float *const *v,
                      float *p, int ldp, int portable) {
    void (*micro)(int, int, const float *const *, const float *const *, float *, int, int) = micro_scalar;
#if defined(__x86_64__)
    if (!portable && (ck_cpu_features() & 2)) micro = micro_avx512;
    else if (!portable && (ck_cpu_features() & 1)) micro = micro_avx2;
#endif
    if (kt > 8) kt = 8;
    const int mstrips = (co + CK_WG_MR - 1) / CK_WG_MR, nstrips = (tiles + CK_WG_NR - 1) / CK_WG_NR;
    // K blocks of the kT taps together: ≈ 384 rows (48 KB of B strips, Zen 5's L1).
    const int blocks = (kt * ci + 383) / 384, kb = (ci + blocks - 1) / blocks;
    const float *a[8], *b[8];
    for (int k0 = 0; k0 < ci; k0 += kb) {
        int kc = ci - k0 < kb ? ci - k0 : kb;
        for (int js = 0; js < nstrips; js++) {
            for (int t = 0; t < kt; t++) b[t] = v[t] + ((size_t)js * ci + k0) * CK_WG_NR;
            for (int is = 0; is < mstrips; is++) {
                for (int t = 0; t < kt; t++) a[t] = u[t] + (size_t)is * u_strip + (size_t)k0 * CK_WG_MR;
                micro(kt, kc, a, b, p + (size_t)is * CK_WG_MR * ldp + (size_t)js * CK_WG_NR, ldp, k0 > 0);
            }
        }
    }
}

void ck_winograd_prefix_sums(int kt, int ci, int co, const float *u, float *sums) {
    const int MR = CK_WG_MR, strips = (co + MR - 1) / MR;
    const size_t strip = (size_t)kt * ci * MR, tap = (size_t)ci * MR;
    for (int s = 0; s < strips; s++) {
        const float *src = u + s * strip;
        float *dst = sums + s * strip;
        for (size_t i = 0; i < tap; i++) dst[i] = src[i] + src[tap + i];
        for (int t = 2; t < kt; t++)
            for (size_t i = 0; i < tap; i++) dst[(t - 1) * tap + i] = dst[(t - 2) * tap + i] + src[t * tap + i];
    }
}
