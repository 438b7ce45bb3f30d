// Winograd F(m×m, 3×3) transforms (Lavin & Gray 2015) for the CogVideoX VAE's 3×3 convolutions: m = 4 (6×6
// tiles, 36 products per 16 outputs instead of 144) or m = 2 (4×4 tiles, 16 per 4). The transform-domain products
// themselves are GEMMs run by the caller (VAEKernels.swift); these kernels only move between the pixel and the
// transform domain. Layouts:
//   transformed input  V[ξ][tile] for one (frame, channel), element ξ = 6·i + j (i vertical, j horizontal) at
//                      dst + ξ·xi_stride + tile, tile = tile_row · ntw + tile_col;
//   transformed weight U[ξ][o][t·ci + c] (the GEMM's A matrices, row length kt·ci);
//   products           M[ξ][tile] for one output channel, read at src + ξ·xi_stride + tile.
// Every loop over tiles is a contiguous, branch-free SIMD loop (the compiler vectorizes it at -O3); the stride-m
// interleaving of columns is resolved by deinterleaving a row once (input) or interleaving it once (output).
// Correlation as in PyTorch's conv (no kernel flip): y[r] = Σ_k d[r + k] · g[k].
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

// F(4,3) with interpolation points 0, ±1, ±2, ∞ (the scaled form of Lavin & Gray).
static const float BT4[6][6] = {
    {4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const float G4[6][3] = {
    {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1}};
static const float AT4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
// F(2,3) with points 0, ±1, ∞.
static const float BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const float G2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
static const float AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

static inline float bt(int m, int i, int k) { return m == 4 ? BT4[i][k] : BT2[i][k]; }
static inline float gm(int m, int i, int k) { return m == 4 ? G4[i][k] : G2[i][k]; }
static inline float at(int m, int i, int k) { return m == 4 ? AT4[i][k] : AT2[i][k]; }

int ck_winograd_scratch_floats(int m, int ntw) {
    int a = m + 2, wp = m * (ntw + 1);
    return 2 * a * wp + a * (ntw + 1) + a * m * (ntw + 1) + 64;
}

// Input transform, specialised on m so that the coefficient tables fold into the code.
static inline __attribute__((always_inline)) void input_tiles(const int m, const float *restrict plane, int w,
        const int *restrict row_idx, const int *restrict col_idx, int ntw, int nrt, float *restrict scratch,
        float *restrict dst, size_t xi_stride) {
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
                float *d = dst + (size_t)(i * a + jj) * xi_stride + (size_t)tr * ntw;
                for (int j = 0; j < ntw; j++) {
                    float acc = 0;
                    for (int k = 0; k < a; k++) acc += bt(m, jj, k) * p[(k % m) * (ntw + 1) + j + k / m];
                    d[j] = acc;
                }
            }
        }
    }
}

void ck_winograd_input(int m, const float *plane, int w, const int *row_idx, const int *col_idx, int ntw, int nrt,
                       float *scratch, float *dst, size_t xi_stride) {
    if (m == 4) input_tiles(4, plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride);
    else input_tiles(2, plane, w, row_idx, col_idx, ntw, nrt, scratch, dst, xi_stride);
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

void ck_winograd_output(int m, const float *src, size_t xi_stride, int ntw, int nrt, float bias, float *out, int ldo,
                        int rows, int cols, float *scratch) {
    if (m == 4) output_tiles(4, src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
    else output_tiles(2, src, xi_stride, ntw, nrt, bias, out, ldo, rows, cols, scratch);
}

static inline __attribute__((always_inline)) void weight_tiles(const int m, const float *restrict w, int co, int co0,
        int co1, int ci, int kt, float *restrict u, float *restrict gt, float *restrict tmp) {
    const int a = m + 2;
    const size_t xi_stride = (size_t)co * kt * ci;
    for (int o = co0; o < co1; o++)
        for (int t = 0; t < kt; t++) {
            // gt[r][c] = g[o][c][t][r]: the 9 taps of every input channel, transposed so that the loops below run
            // contiguously over channels.
            for (int c = 0; c < ci; c++) {
                const float *g = w + (((size_t)o * ci + c) * kt + t) * 9;
                for (int r = 0; r < 9; r++) gt[r * ci + c] = g[r];
            }
            for (int i = 0; i < a; i++)
                for (int k = 0; k < 3; k++) {
                    float *d = tmp + (i * 3 + k) * ci;
                    const float *g0 = gt + k * ci, *g1 = gt + (3 + k) * ci, *g2 = gt + (6 + k) * ci;
                    const float c0 = gm(m, i, 0), c1 = gm(m, i, 1), c2 = gm(m, i, 2);
                    for (int c = 0; c < ci; c++) d[c] = c0 * g0[c] + c1 * g1[c] + c2 * g2[c];
                }
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    float *d = u + (size_t)(i * a + j) * xi_stride + (size_t)o * kt * ci + (size_t)t * ci;
                    const float *t0 = tmp + (i * 3) * ci, *t1 = t0 + ci, *t2 = t1 + ci;
                    const float c0 = gm(m, j, 0), c1 = gm(m, j, 1), c2 = gm(m, j, 2);
                    for (int c = 0; c < ci; c++) d[c] = t0[c] * c0 + t1[c] * c1 + t2[c] * c2;
                }
        }
}

int ck_winograd_weights(int m, const float *w, int co, int co0, int co1, int ci, int kt, float *u) {
    float *gt = malloc(sizeof(float) * (size_t)27 * ci);
    if (!gt) return -1;
    if (m == 4) weight_tiles(4, w, co, co0, co1, ci, kt, u, gt, gt + 9 * ci);
    else weight_tiles(2, w, co, co0, co1, ci, kt, u, gt, gt + 9 * ci);
    free(gt);
    return 0;
}
