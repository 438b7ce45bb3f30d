// Built-in packed GEMM (Goto/BLIS structure) with AVX-512 12×32 register tiles (four 6×16 AVX2 tiles without AVX-512), 1024-deep K blocks:
//   C[M×N] (+)= A[M×K] · op(B), where B is read through one of three sources while it is packed:
//   NT (B is [N×K] row-major: a Linear weight), NN (B is [K×N] row-major), or a decode callback that writes fp32
//   rows of a stored weight (F16/BF16/Q8_0/…) one KC-wide column block at a time — so a quantized weight is decoded
//   one 2048-row × 1024-column panel at a time into an 8 MB per-thread buffer, never as a whole matrix.
// Single-threaded per call; callers split N (or M) across threads.
#include "CKernels.h"
#include "simd_avx2.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif


/// dst[k * ldd + r] = src[r * lds + k] for r < rows, k < cols (a transposing copy), 4×4 SSE blocks where whole.
static void transpose_copy(const float *src, size_t lds, int rows, int cols, float *dst, size_t ldd) {
    int r = 0;
#if defined(__x86_64__)
    for (; r + 4 <= rows; r += 4) {
        const float *s0 = src + (size_t)r * lds, *s1 = s0 + lds, *s2 = s1 + lds, *s3 = s2 + lds;
        int k = 0;
        for (; k + 4 <= cols; k += 4) {
            __m128 a = _mm_loadu_ps(s0 + k), b = _mm_loadu_ps(s1 + k), c = _mm_loadu_ps(s2 + k), d = _mm_loadu_ps(s3 + k);
            _MM_TRANSPOSE4_PS(a, b, c, d);
            float *o = dst + (size_t)k * ldd + r;
            _mm_storeu_ps(o, a); _mm_storeu_ps(o + ldd, b); _mm_storeu_ps(o + 2 * ldd, c); _mm_storeu_ps(o + 3 * ldd, d);
        }
        for (; k < cols; k++) {
            float *o = dst + (size_t)k * ldd + r;
            o[0] = s0[k]; o[1] = s1[k]; o[2] = s2[k]; o[3] = s3[k];
        }
    }
#endif
    for (; r < rows; r++) {
        const float *s = src + (size_t)r * lds;
        for (int k = 0; k < cols; k++) dst[(size_t)k * ldd + r] = s[k];
    }
}

// KC = 1024: the packed B strip (32×1024 floats) lives in L2 rather than L1, but C is then read and written once
// per 1024 of K instead of once per 256; at transformer shapes (C of 100+ MB) that traffic is what limited the
// kernel (measured on Zen 5, 2 threads, 4096×1920×1920: KC 256 → 378 GFLOP/s, 768 → 450, 1024 → 465; OpenBLAS
// SkylakeX 478). KC stays a multiple of 256 so decoded column blocks start on every GGML block boundary.
// A K of at most KC_WHOLE is one block (kc = K): C is then written once, never read back, which at the transformer's
// K = 1920 gave +11 % at 17776×1920×5120 and +5 % at 4096×1920×1920 (2 threads, CPU-time throughput, A/B in one
// run); larger K (4096 and up) measured best in 1024 blocks.
enum { MR = 12, NR = 32, KC = 1024, KC_WHOLE = 2048, MC = 96, NC = 2048 };

/// Per-thread packing buffer, kept between calls (a fresh 16 MB allocation per call costs page faults on every
/// GEMM). Grows to the largest request of its thread: at most (NC + MC + NC) × KC_WHOLE floats ≈ 33 MB.
static _Thread_local float *tls_buffer = NULL;
static _Thread_local size_t tls_capacity = 0;

static float *packing_buffer(size_t floats) {
    if (floats > tls_capacity) {
        free(tls_buffer);
        tls_capacity = 0;
        tls_buffer = (float *)aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
        if (!tls_buffer) return NULL;
        tls_capacity = floats;
    }
    return tls_buffer;
}

typedef struct {
    int mode;  // 0 = NT, 1 = NN, 2 = decode callback
    const float *b;
    int ldb;
    ck_decode_fn decode;
    void *ctx;
    int row_offset;  // added to the row numbers passed to decode
} bsource;

/// Packs B columns [j0, j0+nc) × k range [p0, p0+kc) as strips of NR columns: dst[strip][k][NR] (zero padded).
/// `tmp` holds nc×kc floats for the decode path.
static void pack_b(const bsource *src, int j0, int nc, int p0, int kc, float *dst, float *tmp) {
    int strips = (nc + NR - 1) / NR;
    if (src->mode == 1) {  // NN: row k of B holds the columns contiguously.
        for (int s = 0; s < strips; s++) {
            int w = nc - s * NR < NR ? nc - s * NR : NR;
            float *d = dst + (size_t)s * kc * NR;
            for (int k = 0; k < kc; k++) {
                const float *row = src->b + (size_t)(p0 + k) * src->ldb + j0 + s * NR;
                memcpy(d + (size_t)k * NR, row, sizeof(float) * w);
                if (w < NR) memset(d + (size_t)k * NR + w, 0, sizeof(float) * (NR - w));
            }
        }
        return;
    }
    const float *rows;
    int ld;
    if (src->mode == 2) {
        src->decode(src->ctx, src->row_offset + j0, nc, p0, kc, tmp);
        rows = tmp;
        ld = kc;
    } else {
        rows = src->b + (size_t)j0 * src->ldb + p0;
        ld = src->ldb;
    }
    // Transpose [nc][kc] rows into [strip][kc][NR].
    for (int s = 0; s < strips; s++) {
        int w = nc - s * NR < NR ? nc - s * NR : NR;
        float *d = dst + (size_t)s * kc * NR;
        if (w < NR) memset(d, 0, sizeof(float) * (size_t)kc * NR);
        transpose_copy(rows + (size_t)s * NR * ld, (size_t)ld, w, kc, d, NR);
    }
}

/// Packs A rows [i0, i0+mc) × [p0, p0+kc) as strips of MR rows: dst[strip][k][MR] (zero padded).
static void pack_a(const float *A, int lda, int i0, int mc, int p0, int kc, float *dst) {
    int strips = (mc + MR - 1) / MR;
    for (int s = 0; s < strips; s++) {
        int h = mc - s * MR < MR ? mc - s * MR : MR;
        float *d = dst + (size_t)s * kc * MR;
        if (h < MR) memset(d, 0, sizeof(float) * (size_t)kc * MR);
        transpose_copy(A + (size_t)(i0 + s * MR) * lda + p0, (size_t)lda, h, kc, d, MR);
    }
}

static void micro_scalar(int kc, const float *ap, const float *bp, float *C, int ldc, int h, int w, int acc) {
    float t[MR][NR];
    memset(t, 0, sizeof t);
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++) {
            float a = ap[k * MR + r];
            for (int c = 0; c < NR; c++) t[r][c] += a * bp[k * NR + c];
        }
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) C[(size_t)r * ldc + c] = acc ? C[(size_t)r * ldc + c] + t[r][c] : t[r][c];
}

#if defined(__x86_64__)
__attribute__((target("avx512f,fma")))
static void micro_avx512(int kc, const float *ap, const float *bp, float *C, int ldc, int h, int w, int acc) {
    __m512 c[MR][2];
    for (int r = 0; r < MR; r++) { c[r][0] = _mm512_setzero_ps(); c[r][1] = _mm512_setzero_ps(); }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp + (size_t)k * NR), b1 = _mm512_load_ps(bp + (size_t)k * NR + 16);
        const float *a = ap + (size_t)k * MR;
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            c[r][0] = _mm512_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(av, b1, c[r][1]);
        }
    }
    __mmask16 m0 = w >= 16 ? 0xFFFF : (__mmask16)((1u << w) - 1);
    __mmask16 m1 = w >= 32 ? 0xFFFF : w <= 16 ? 0 : (__mmask16)((1u << (w - 16)) - 1);
    for (int r = 0; r < h; r++) {
        float *cr = C + (size_t)r * ldc;
        __m512 v0 = c[r][0], v1 = c[r][1];
        if (acc) { v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr)); v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16)); }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}
#endif

#if defined(__x86_64__)
_Static_assert(MR == 12 && NR == 32, "the AVX2 panel kernel covers 12x32 tiles");
CK_AVX2 static void micro_avx2(int kc, const float *ap, const float *bp, float *C, int ldc, int h, int w, int acc) {
    ck_panel12x32_avx2(1, kc, &ap, &bp, C, ldc, h, w, acc);
}
#endif

static int gemm_packed(int M, int N, int K, const float *A, int lda, const bsource *src, float *C, int ldc, int accumulate) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        if (!accumulate) for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N);
        return 0;
    }
    const int kcBlock = K <= KC_WHOLE ? K : KC;
    int ncMax = N < NC ? N : NC, kcMax = K < kcBlock ? K : kcBlock, mcMax = M < MC ? M : MC;
    size_t bsize = (size_t)((ncMax + NR - 1) / NR) * NR * kcMax;
    size_t asize = (size_t)((mcMax + MR - 1) / MR) * MR * kcMax;
    size_t tsize = src->mode == 2 ? (size_t)ncMax * kcMax : 0;
    float *bp = packing_buffer(bsize + asize + tsize);
    if (!bp) return -1;
    float *ap = bp + bsize, *tmp = ap + asize;
    void (*micro)(int, const float *, const float *, float *, int, int, int, int) = micro_scalar;
#if defined(__x86_64__)
    if (ck_cpu_features() & 2) micro = micro_avx512;
    else if (ck_cpu_features() & 1) micro = micro_avx2;
#endif
    for (int j0 = 0; j0 < N; j0 += NC) {
        int nc = N - j0 < NC ? N - j0 : NC;
        for (int p0 = 0; p0 < K; p0 += kcBlock) {
            int kc = K - p0 < kcBlock ? K - p0 : kcBlock;
            int acc = accumulate || p0 > 0;
            pack_b(src, j0, nc, p0, kc, bp, tmp);
            for (int i0 = 0; i0 < M; i0 += MC) {
                int mc = M - i0 < MC ? M - i0 : MC;
                pack_a(A, lda, i0, mc, p0, kc, ap);
                for (int js = 0; js * NR < nc; js++) {
                    int w = nc - js * NR < NR ? nc - js * NR : NR;
                    for (int is = 0; is * MR < mc; is++) {
                        int h = mc - is * MR < MR ? mc - is * MR : MR;
                        micro(kc, ap + (size_t)is * kc * MR, bp + (size_t)js * kc * NR,
                              C + (size_t)(i0 + is * MR) * ldc + j0 + js * NR, ldc, h, w, acc);
                    }
                }
            }
        }
    }
    return 0;
}

int ck_gemm_nt_packed(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate) {
    bsource s = {0, B, ldb, NULL, NULL, 0};
    return gemm_packed(M, N, K, A, lda, &s, C, ldc, accumulate);
}

int ck_gemm_nn_packed(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate) {
    bsource s = {1, B, ldb, NULL, NULL, 0};
    return gemm_packed(M, N, K, A, lda, &s, C, ldc, accumulate);
}

int ck_gemm_nt_decoded(int M, int N, int K, const float *A, int lda, ck_decode_fn decode, void *ctx, int row_offset,
                       float *C, int ldc, int accumulate) {
    bsource s = {2, NULL, 0, decode, ctx, row_offset};
    return gemm_packed(M, N, K, A, lda, &s, C, ldc, accumulate);
}

int ck_gemm_kc(void) { return KC; }
