#ifndef CKERNELS_H
#define CKERNELS_H
// SIMD kernels for the compute engine. Every function is safe to call on any x86-64 CPU:
// it dispatches at run time to AVX-512 code or a portable fallback.
#include <stddef.h>
#include <stdint.h>

/// Returns a bit set of the CPU features the kernels detected (1 = AVX2+FMA+F16C, 2 = AVX-512F/BW/VL, 4 = AVX-512 VNNI).
int ck_cpu_features(void);

/// Loads OpenBLAS at run time (libopenblas.so.0) with OPENBLAS_CORETYPE=SkylakeX while it loads when the CPU has
/// AVX-512 F/BW/VL, whatever the inherited OPENBLAS_CORETYPE says (OpenBLAS 0.3.21 does not recognise Zen 5 and
/// would pick AVX2 kernels); COGVIDEO_OPENBLAS_CORETYPE names another core; COGVIDEO_NO_BLAS disables OpenBLAS.
/// Returns 1 when available. `threads` sets its thread count. Safe to call repeatedly; not concurrently the first time.
int ck_blas_init(int threads);

/// The kernel set OpenBLAS chose (e.g. "SkylakeX", "Haswell"), or NULL when OpenBLAS is not loaded.
const char *ck_blas_corename(void);

/// C[M×N] (row stride ldc) = A[M×K] (row-major, lda) · B[N×K]ᵀ (row-major, ldb) (+ C when accumulate != 0).
/// Uses OpenBLAS when ck_blas_init succeeded, else an AVX-512 / scalar kernel on the calling thread.
void ck_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate);

/// C[M×N] = A[M×K] · B[K×N] (both row-major) (+ C when accumulate != 0).
void ck_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate);

/// Same as ck_sgemm_nt but always the built-in kernel (no BLAS), for tests and for callers that thread themselves.
void ck_sgemm_nt_builtin(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate);

/// Attention for one head and `nq` query rows: out[nq×d] = softmax(scale·q·ktᵀ + bias)·v, computed one tile of
/// 256 keys at a time with an online softmax (fp32); nothing of size nq×sk is stored. q [nq×d] row-major,
/// kt = Kᵀ [d×sk] row-major (keys transposed), v [sk×d] row-major, bias (nullable) [nq×ldb] added to the scaled
/// scores. Single-threaded (callers parallelize over heads and query tiles). Returns 0, or -1 when out of memory.
int ck_attention_rows(int nq, int sk, int d, const float *q, const float *kt, const float *v, float scale,
                      const float *bias, int ldb, float *out);

/// In place x ← x·sigmoid(x) over n values (single-threaded).
void ck_silu(float *x, size_t n);
/// In place GELU over n values: tanh approximation when approximate != 0, else the erf form (|error| < 2e-7·|x|).
void ck_gelu(float *x, size_t n, int approximate);
/// In place softmax of each of `rows` rows of n values (max-subtracted, fp32).
void ck_softmax_rows(float *x, size_t rows, size_t n);

/// Writes fp32 values of B rows [row0, row0+nrows) (output features of a weight [N×K]), columns [col0, col0+ncols),
/// row-major into dst (ncols per row). col0 is a multiple of ck_gemm_kc(); ncols is ck_gemm_kc() or the rest of K.
typedef void (*ck_decode_fn)(void *ctx, int row0, int nrows, int col0, int ncols, float *dst);

/// The built-in packed GEMM (AVX-512 12×32 register tiles, portable fallback), single-threaded; callers split N or
/// M across threads. Each returns 0, or -1 when its ≈ 2 MB of packing buffers cannot be allocated.
/// C[M×N] (+)= A[M×K] · B[N×K]ᵀ.
int ck_gemm_nt_packed(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate);
/// C[M×N] (+)= A[M×K] · B[K×N].
int ck_gemm_nn_packed(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate);
/// C[M×N] (+)= A[M×K] · Wᵀ where W's rows [row_offset, row_offset+N) are produced panel by panel by `decode`
/// (any stored weight type); row_offset lets threads take column ranges of one weight.
int ck_gemm_nt_decoded(int M, int N, int K, const float *A, int lda, ck_decode_fn decode, void *ctx, int row_offset,
                       float *C, int ldc, int accumulate);
/// The K block width (columns of W per decode call), 1024: a multiple of every GGML block size (32 and 256).
int ck_gemm_kc(void);

#endif
