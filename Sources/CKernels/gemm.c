#define _GNU_SOURCE
#include "CKernels.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// ---- OpenBLAS, loaded at run time --------------------------------------------------------------------------

typedef void (*sgemm_fn)(int order, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc);
typedef void (*set_threads_fn)(int);

static sgemm_fn blas_sgemm = NULL;
static set_threads_fn blas_set_threads = NULL;
static int blas_tried = 0;
typedef char *(*coretype_fn)(void);
static coretype_fn blas_coretype = NULL;

const char *ck_blas_corename(void) { return blas_coretype ? blas_coretype() : NULL; }

int ck_blas_init(int threads) {
    if (!blas_tried) {
        blas_tried = 1;
        if (getenv("COGVIDEO_NO_BLAS") == NULL) {
            // OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded. Debian's 0.3.21 does not know Zen 4/5 and falls
            // back to its AVX2 (Haswell) kernels, and environments often pin OPENBLAS_CORETYPE to a lowest common
            // denominator for other tools. The engine chooses the kernels from CPUID instead: SkylakeX (AVX-512) when
            // the CPU has AVX-512 F/BW/VL, whatever the inherited variable says; COGVIDEO_OPENBLAS_CORETYPE overrides.
            // The inherited value is put back after loading so the rest of the process sees its environment unchanged.
            const char *forced = getenv("COGVIDEO_OPENBLAS_CORETYPE");
            const char *choice = forced ? forced : (ck_cpu_features() & 2) ? "SkylakeX" : NULL;
            const char *inherited = getenv("OPENBLAS_CORETYPE");
            char *saved = inherited ? strdup(inherited) : NULL;
            if (choice) setenv("OPENBLAS_CORETYPE", choice, 1);
            const char *names[] = {"libopenblas.so.0", "libopenblasp.so.0", "libopenblas.so", NULL};
            for (int i = 0; names[i] && !blas_sgemm; i++) {
                void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
                if (!h) continue;
                blas_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
                blas_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
                blas_coretype = (coretype_fn)dlsym(h, "openblas_get_corename");
            }
            if (choice) {
                if (saved) setenv("OPENBLAS_CORETYPE", saved, 1); else unsetenv("OPENBLAS_CORETYPE");
            }
            free(saved);
        }
    }
    if (blas_sgemm && blas_set_threads && threads > 0) blas_set_threads(threads);
    return blas_sgemm != NULL;
}

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };

// ---- Unpacked fallback kernel (no buffers): dot-product form, 4 rows of A × 4 rows of B per step -------------------------------------

#if defined(__x86_64__)
__attribute__((target("avx512f,fma")))
static void nt_avx512(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int acc) {
    int K16 = K & ~15;
    __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1);
    int i = 0;
    for (; i + 4 <= M; i += 4) {
        int j = 0;
        for (; j + 4 <= N; j += 4) {
            __m512 s[4][4];
            for (int a = 0; a < 4; a++) for (int b = 0; b < 4; b++) s[a][b] = _mm512_setzero_ps();
            for (int k = 0; k < K16; k += 16) {
                __m512 bv[4];
                for (int b = 0; b < 4; b++) bv[b] = _mm512_loadu_ps(B + (size_t)(j + b) * ldb + k);
                for (int a = 0; a < 4; a++) {
                    __m512 av = _mm512_loadu_ps(A + (size_t)(i + a) * lda + k);
                    for (int b = 0; b < 4; b++) s[a][b] = _mm512_fmadd_ps(av, bv[b], s[a][b]);
                }
            }
            if (tail) {
                __m512 bv[4];
                for (int b = 0; b < 4; b++) bv[b] = _mm512_maskz_loadu_ps(tail, B + (size_t)(j + b) * ldb + K16);
                for (int a = 0; a < 4; a++) {
                    __m512 av = _mm512_maskz_loadu_ps(tail, A + (size_t)(i + a) * lda + K16);
                    for (int b = 0; b < 4; b++) s[a][b] = _mm512_fmadd_ps(av, bv[b], s[a][b]);
                }
            }
            for (int a = 0; a < 4; a++) for (int b = 0; b < 4; b++) {
                float v = _mm512_reduce_add_ps(s[a][b]);
                float *c = C + (size_t)(i + a) * ldc + j + b;
                *c = acc ? *c + v : v;
            }
        }
        for (; j < N; j++) for (int a = 0; a < 4; a++) {
            __m512 s = _mm512_setzero_ps();
            for (int k = 0; k < K16; k += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(A + (size_t)(i + a) * lda + k), _mm512_loadu_ps(B + (size_t)j * ldb + k), s);
            if (tail) s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, A + (size_t)(i + a) * lda + K16), _mm512_maskz_loadu_ps(tail, B + (size_t)j * ldb + K16), s);
            float v = _mm512_reduce_add_ps(s);
            float *c = C + (size_t)(i + a) * ldc + j;
            *c = acc ? *c + v : v;
        }
    }
    for (; i < M; i++) for (int j = 0; j < N; j++) {
        __m512 s = _mm512_setzero_ps();
        for (int k = 0; k < K16; k += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(A + (size_t)i * lda + k), _mm512_loadu_ps(B + (size_t)j * ldb + k), s);
        if (tail) s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, A + (size_t)i * lda + K16), _mm512_maskz_loadu_ps(tail, B + (size_t)j * ldb + K16), s);
        float v = _mm512_reduce_add_ps(s);
        float *c = C + (size_t)i * ldc + j;
        *c = acc ? *c + v : v;
    }
}
#endif

static void nt_scalar(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int acc) {
    for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
        float s = 0;
        for (int k = 0; k < K; k++) s += A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
        C[(size_t)i * ldc + j] = acc ? C[(size_t)i * ldc + j] + s : s;
    }
}

void ck_sgemm_nt_builtin(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate) {
    if (ck_gemm_nt_packed(M, N, K, A, lda, B, ldb, C, ldc, accumulate) == 0) return;
    // Out of memory for the packing buffers: the unpacked dot-product kernels need none.
#if defined(__x86_64__)
    if (ck_cpu_features() & 2) { nt_avx512(M, N, K, A, lda, B, ldb, C, ldc, accumulate); return; }
#endif
    nt_scalar(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

void ck_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { if (!accumulate) for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N); return; }
    if (blas_sgemm) { blas_sgemm(RowMajor, NoTrans, Trans, M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc); return; }
    ck_sgemm_nt_builtin(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

void ck_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { if (!accumulate) for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * N); return; }
    if (blas_sgemm) { blas_sgemm(RowMajor, NoTrans, NoTrans, M, N, K, 1.0f, A, lda, B, ldb, accumulate ? 1.0f : 0.0f, C, ldc); return; }
    if (ck_gemm_nn_packed(M, N, K, A, lda, B, ldb, C, ldc, accumulate) == 0) return;
    // Out of memory for the packing buffers: transpose B (K×N) into N×K, then the NT kernel.
    float *bt = (float *)malloc(sizeof(float) * (size_t)N * K);
    if (!bt) { return; }
    for (int k = 0; k < K; k++) for (int j = 0; j < N; j++) bt[(size_t)j * K + k] = B[(size_t)k * ldb + j];
    ck_sgemm_nt_builtin(M, N, K, A, lda, bt, K, C, ldc, accumulate);
    free(bt);
}
