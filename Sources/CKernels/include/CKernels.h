#ifndef CKERNELS_H
#define CKERNELS_H
// SIMD kernels for the compute engine. Every function is safe to call on any x86-64 CPU:
// it dispatches at run time to AVX-512 code or a portable fallback.
#include <stddef.h>
#include <stdint.h>

/// Returns a bit set of the CPU features the kernels detected (1 = AVX2+FMA+F16C, 2 = AVX-512F/BW/VL, 4 = AVX-512 VNNI,
/// 8 = bf16 dot products preferred, see `ck_bf16_products_fast`).
int ck_cpu_features(void);

/// 1 when the automatic precision choices should take bf16 dot products (AVX-512 BF16 on AMD, where they beat fp32
/// FMAs; not on Intel, where they run on one port); `COGVIDEO_BF16_PRODUCTS=fast|slow` overrides. See cpu.c.
int ck_bf16_products_fast(void);

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

/// glibc: allocations up to `bytes` come from malloc's heap instead of their own mmap, and freed heap memory is
/// returned to the kernel only beyond `bytes` at the top (M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). Returns 1 when
/// applied, 0 elsewhere.
int ck_malloc_keep_large_blocks(int bytes);
/// Undoes ck_malloc_keep_large_blocks: blocks above 32 MB get their own mmap again (glibc's own upper threshold),
/// and the free heap memory is returned to the kernel (malloc_trim).
void ck_malloc_release_large_blocks(void);
/// 1 when the CPU can run ck_attention_rows_packed (AVX-512 F/BW/VL); else 0 (use ck_attention_rows).
int ck_attention_packed_available(void);
/// Packs one head's K (fp32 rows [sk×d], row stride ldk) for ck_attention_rows_packed: kp holds
/// ck_attention_bf16_padded_keys(sk)·d floats, groups of 16 keys channel-major ([skp/16][d][16], zero padding).
/// Returns 0, or -1 when unavailable.
int ck_attention_pack_k(int sk, int d, const float *k, int ldk, float *kp);
/// ck_attention_rows (fp32, same arithmetic and results) on a packed K (ck_attention_pack_k) with strided rows:
/// q [nq×d] rows ldq apart, v [sk×d] rows ldv apart, out [nq×d] rows ldo apart, bias (nullable) [nq×ldb]. So heads
/// can be column blocks of token-major tensors. Returns 0, -1 when unavailable, -2 when out of memory.
int ck_attention_rows_packed(int nq, int sk, int d, const float *q, int ldq, const float *kp, const float *v, int ldv,
                             float scale, const float *bias, int ldb, float *out, int ldo);
/// 1 when the CPU has AVX-512 BF16 (vdpbf16ps), which the bf16 attention functions below need; else 0.
int ck_attention_bf16_available(void);
/// Keys of the bf16 packed K and V layouts: sk rounded up to a multiple of 64 (the padding is zeros).
int ck_attention_bf16_padded_keys(int sk);
/// Packs one head's K and V (fp32 rows [sk×d] with row strides ldk, ldv) into the bf16 layouts of
/// ck_attention_rows_bf16 (rounded to nearest even): kp and vp each hold ck_attention_bf16_padded_keys(sk)·d values.
/// d must be a multiple of 16, at most 256. Returns 0, or -1 without AVX-512 BF16 or for an unsupported d.
int ck_attention_pack_kv_bf16(int sk, int d, const float *k, int ldk, const float *v, int ldv, uint16_t *kp, uint16_t *vp);
/// Attention for one head and `nq` query rows like ck_attention_rows (no bias), with the two products in bf16
/// inputs and fp32 accumulation (AVX-512 BF16): Q·scale is rounded to bf16, the scores, the online-softmax max and
/// sum and the output are fp32, the probabilities are rounded to bf16 for P·V. q rows [nq×d] with row stride ldq,
/// out rows [nq×d] with row stride ldo (so a head can be a column block of token-major tensors); kp, vp from
/// ck_attention_pack_kv_bf16. Returns 0, -1 without AVX-512 BF16 or for an unsupported d, -2 when out of memory.
int ck_attention_rows_bf16(int nq, int sk, int d, const float *q, int ldq, const uint16_t *kp, const uint16_t *vp,
                           float scale, float *out, int ldo);

/// In place x ← x·sigmoid(x) over n values (single-threaded).
void ck_silu(float *x, size_t n);

/// Σ x and Σ x² of n floats, accumulated in double (GroupNorm statistics).
void ck_sum_squares(const float *x, size_t n, double *sum, double *sumsq);

/// x = x · scale + shift in place (the fused multiply-add rounds once), then SiLU when `silu` != 0.
void ck_scale_shift(float *x, size_t n, float scale, float shift, int silu);
/// In place GELU over n values: tanh approximation when approximate != 0, else the erf form (|error| < 2e-7·|x|).
void ck_gelu(float *x, size_t n, int approximate);
/// In place softmax of each of `rows` rows of n values (max-subtracted, fp32).
void ck_softmax_rows(float *x, size_t rows, size_t n);

/// Writes fp32 values of B rows [row0, row0+nrows) (output features of a weight [N×K]), columns [col0, col0+ncols),
/// row-major into dst (ncols per row). col0 is a multiple of ck_gemm_kc() (or 0 with ncols = K when K ≤ 2048, one block);
/// ncols is ck_gemm_kc() or the rest of K.
typedef void (*ck_decode_fn)(void *ctx, int row0, int nrows, int col0, int ncols, float *dst);

/// The built-in packed GEMM (AVX-512 12×32 register tiles, portable fallback), single-threaded; callers split N or
/// M across threads. Each returns 0, or -1 when its packing buffers (kept per thread between calls, at most ≈ 33 MB)
/// cannot be allocated.
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

// ---- int8 GEMM for Q8_0 / Q4_0 weights (Sources/CKernels/gemm_int8.c) ----------------------------------------

/// GGML type ids accepted by ck_gemm_int8.
enum { CK_GGML_Q4_0 = 2, CK_GGML_Q8_0 = 8 };

/// Quantizes m rows of x (row stride ldx floats, k a multiple of 32) in blocks of 32 like Q8_0 blocks:
/// da[r·k/32 + b] = max|x| / 127 and qa[r·k + i] = round-to-nearest-even(x / da) + 128 (unsigned, for vpdpbusd).
/// `portable` != 0 forces the non-SIMD code (tests).
void ck_quantize_rows_int8(const float *x, int m, int k, int ldx, uint8_t *qa, float *da, int portable);

/// C[M×N] (row stride ldc) = Σ_b dw·da·(int8 dot of block b) for activations quantized by ck_quantize_rows_int8
/// and N weight rows of `type` (CK_GGML_Q8_0 or CK_GGML_Q4_0; rowBytes bytes per row, K/32 blocks each), with
/// AVX-512 VNNI when available (else, or with `portable` != 0, the same sums in scalar code). Single-threaded;
/// callers split N. Returns 0, -1 when out of memory, -2 for an unsupported type or K.
int ck_gemm_int8(int type, int M, int N, int K, const uint8_t *qa, const float *da, const uint8_t *w, size_t rowBytes,
                 float *C, int ldc, int portable);

/// 1 when the CPU has AVX-512 F/BW/VL and VNNI, the int8 GEMM's fast path.
int ck_int8_gemm_available(void);

// ---- Winograd F(m×m, 3×3) transforms for the VAE's 3×3 convolutions (Sources/CKernels/winograd.c) -------------
// m is 4 (6×6 tiles) or 2 (4×4 tiles); a = m + 2; ξ = a·i + j indexes the a×a transform domain. Single-threaded;
// callers split channels across threads. Correlation as PyTorch's conv (no kernel flip).

/// Register tile of the transform-domain GEMM: MR output channels × NR tiles. Packed operands: the weights of one
/// transform element as strips of MR output channels [co/MR][kt·ci][MR] (zero padded to a multiple of MR), the
/// transformed input of one frame and element as strips of NR tiles [tiles/NR][ci][NR].
enum { CK_WG_MR = 12, CK_WG_NR = 32 };

/// Floats of per-thread scratch that ck_winograd_input / ck_winograd_output need for `ntw` tiles per row.
int ck_winograd_scratch_floats(int m, int ntw);

/// Transforms `nrt` rows of `ntw` tiles of one input plane (row stride w). Tile row r reads virtual rows
/// m·r … m·r + a − 1 of the zero-padded input: source row row_idx[v] (−1 = zero). Virtual column x is source column
/// col_idx[x] (−1 = zero) for x < m·ntw + 2, or, when col_idx is NULL, column x − 1 (zero outside [0, w)).
/// Element ξ of tile T = r·ntw + column goes to dst[ξ·xi_stride + (T / NR)·strip_stride + T % NR] (the packed
/// GEMM operand: strip_stride = ci·NR and dst offset by channel·NR).
void ck_winograd_input(int m, const float *plane, int w, const int *row_idx, const int *col_idx, int ntw, int nrt,
                       float *scratch, float *dst, size_t xi_stride, size_t strip_stride);

/// Inverse transform of the products M[ξ][tile] (at src + ξ·xi_stride + r·ntw + tile column) of `nrt` rows of
/// `ntw` tiles into output rows 0 … min(m·nrt, rows) − 1, columns 0 … cols − 1 of `out` (row stride ldo), plus bias.
void ck_winograd_output(int m, const float *src, size_t xi_stride, int ntw, int nrt, float bias, float *out, int ldo,
                        int rows, int cols, float *scratch);

/// Transforms the 3×3 kernels of weight w [co][ci][kt][3][3] for output channels co0 ..< co1 into the packed
/// GEMM operands U[ξ][o / MR][t·ci + c][o % MR] (a·a · ⌈co/MR⌉·MR · kt·ci floats; the padding rows are zeroed by
/// the call with co1 == co). Ranges that start on a multiple of MR never share a cache line of U.
void ck_winograd_weights(int m, const float *w, int co, int co0, int co1, int ci, int kt, float *u);

/// Products of one transform element: P[⌈co/MR⌉·MR × ⌈tiles/NR⌉·NR] (row stride ldp, padding rows and columns
/// written too) = Σ_t U_t · V_t over kt ≤ 8 taps (K = ci each): u[t] = the packed weights of tap t (strips of MR rows
/// u_strip floats apart, e.g. U + t·ci·MR with u_strip = kT·ci·MR), v[t] = the packed input frame of tap t.
/// AVX-512 register tiles (portable != 0 or no AVX-512: scalar). Single-threaded.
void ck_winograd_gemm(int kt, int ci, int co, int tiles, const float *const *u, size_t u_strip, const float *const *v,
                      float *p, int ldp, int portable);

/// Prefix sums over the taps of one transform element's packed weights u (layout of ck_winograd_weights): tap slot
/// t − 1 of `sums` (same layout, kt − 1 slots used) holds U_0 + … + U_t, for outputs whose first taps all read the
/// same frame (the replicated first frame of a causal convolution).
void ck_winograd_prefix_sums(int kt, int ci, int co, const float *u, float *sums);

// ---- Winograd F(mt, 3) along time (Sources/CKernels/winograd_time.c) -----------------------------------------
// mt = 2 (4 products per 2 output frames) or 4 (6 per 4), on the spatially transformed inputs and products of one
// transform element: input frames d0 … d(mt+1) of a causal 3-tap convolution give output frames 0 … mt − 1.

/// Combines the 3 time taps of n kernels w[n][3][3×3] into mt + 2 transform taps wt[n][mt + 2][3×3] (G·g along
/// time; the spatial transform of ck_winograd_weights with kt = mt + 2 then gives the packed products' weights).
void ck_winograd_time_kernels(int mt, const float *w, size_t n, float *wt);

/// Row k of the time input transform: e = Σ_j Bᵀ[k][j] · v[j] over n floats (v[j] = transformed input frame j,
/// j < mt + 2).
void ck_winograd_time_input(int mt, int k, const float *const *v, size_t n, float *e);

/// Inverse time transform in place over n floats: the products p[0 … mt + 1] become output frames p[0 … mt − 1]
/// (y_i = Σ_k Aᵀ[i][k] · p_k); p[mt], p[mt + 1] are left as they were.
void ck_winograd_time_output(int mt, float *const *p, size_t n);

// ---- bf16 products of the Winograd convolutions (Sources/CKernels/winograd_bf16.c) ----------------------------

/// 1 when the CPU has AVX-512 BF16 (vdpbf16ps), the fast path of ck_winograd_gemm_bf16.
int ck_winograd_bf16_available(void);

/// Rounds fp32 rows src [groups][k][lanes] (lanes ≤ 32) to bf16 (nearest even) in pair layout
/// dst [groups][⌈k/2⌉][lanes][2]: the values of rows 2p and 2p + 1 of one lane side by side (a zero row pads an odd k).
/// dst may be src itself (converted in place, front to back). portable != 0: scalar code.
void ck_winograd_bf16_pairs(const float *src, int groups, int k, int lanes, uint16_t *dst, int portable);

/// ck_winograd_gemm with bf16 operands and fp32 accumulation: u[t] the pair-layout weights of tap t (strips of MR
/// output channels u_strip uint16 values apart, [⌈ci/2⌉][MR][2] per tap; ck_winograd_bf16_pairs of the packed
/// weights with groups = strips·kt, lanes = MR), v[t] the pair-layout input frame of tap t ([tiles/NR][⌈ci/2⌉][NR][2];
/// lanes = NR). P as ck_winograd_gemm. AVX-512 BF16 (portable != 0 or without it: scalar). Single-threaded.
void ck_winograd_gemm_bf16(int kt, int ci, int co, int tiles, const uint16_t *const *u, size_t u_strip,
                           const uint16_t *const *v, float *p, int ldp, int portable);

#endif
