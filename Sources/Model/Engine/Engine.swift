import CKernels
import Dispatch
import Foundation

/// Process-wide engine settings.
public enum Engine {
    /// Worker threads for parallel loops and the GEMM (default: all active cores).
    nonisolated(unsafe) public static var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Stored-type (F16/BF16/Q8_0/…) Linear weights: decode whole-row panels and run OpenBLAS (`true`, set by
    /// `COGVIDEO_DECODED_GEMM=blas`) instead of the built-in GEMM that decodes inside its packing step (default).
    static let decodedWeightsThroughBLAS: Bool =
        ProcessInfo.processInfo.environment["COGVIDEO_DECODED_GEMM"] == "blas" && blasAvailable

    /// Q8_0 and Q4_0 Linear weights multiply int8-quantized activations (blocks of 32, like llama.cpp) with AVX-512
    /// VNNI dot products: ≈ 2.7× the fp32 rate. Off (weights decoded to fp32 instead) with
    /// `COGVIDEO_Q8_ACTIVATIONS=f32`, and on CPUs without AVX-512 VNNI.
    public static let int8Activations: Bool =
        ProcessInfo.processInfo.environment["COGVIDEO_Q8_ACTIVATIONS"] != "f32" && ck_int8_gemm_available() != 0

    /// Products with fewer multiply-adds (M·N·K) than this use the built-in GEMM even when OpenBLAS is loaded: its
    /// buffer set-up costs more than it saves on small products (2^27 ≈ 512×512×512).
    @usableFromInline static let blasMinimumProduct = 1 << 27

    /// True when OpenBLAS is loaded and runs the large fp32 products (M·N·K ≥ `blasMinimumProduct`): whenever
    /// libopenblas is installed, unless `COGVIDEO_GEMM=builtin`. OpenBLAS is set to one thread and called from each
    /// engine thread on its share of C (`parallelGEMMSplit`), so none of its own threads spin between products and
    /// compete with the engine's (with OpenBLAS's threads the 2b block at 1,606 tokens took 2.0 s against 1.5 s).
    /// Measured on Zen 5, 2 threads: 17776×1920×5120 ≈ 8 % faster than the built-in GEMM, a 2b block ≈ 2–3 %.
    public static let blasAvailable: Bool =
        ProcessInfo.processInfo.environment["COGVIDEO_GEMM"] != "builtin" && ck_blas_init(1) != 0

    /// The OpenBLAS kernel set in use ("SkylakeX" on AVX-512 CPUs, whatever OPENBLAS_CORETYPE the process inherited;
    /// `COGVIDEO_OPENBLAS_CORETYPE` chooses another), or nil when OpenBLAS is not in use.
    public static var blasCoreName: String? {
        guard blasAvailable, let name = ck_blas_corename() else { return nil }
        return String(cString: name)
    }

    /// Runs `body(i)` for i in 0..<count on the engine's threads.
    @inlinable public static func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || threads <= 1 { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { b in
            nonisolated(unsafe) let b = b
            DispatchQueue.concurrentPerform(iterations: count) { b($0) }
        }
    }

    /// Splits 0..<count into at most `threads` contiguous ranges and runs them in parallel.
    @inlinable public static func parallelRanges(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(threads, count / max(minimumChunk, 1)))
        if parts <= 1 { body(0..<count); return }
        parallelFor(parts) { p in
            let lo = count * p / parts, hi = count * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Runs `body(rows, cols)` over a split of an M×N output across the engine's threads: over N in 32-column-aligned
/// ranges when N is wide enough (each thread then packs/decodes only its own columns of B), else over M.
@inlinable func parallelGEMMSplit(_ m: Int, _ n: Int, _ body: (Range<Int>, Range<Int>) -> Void) {
    let t = Engine.threads
    if t > 1 && n >= 64 * t {
        Engine.parallelFor(t) { p in
            let lo = p == 0 ? 0 : (n * p / t) & ~31, hi = p == t - 1 ? n : (n * (p + 1) / t) & ~31
            if lo < hi { body(0..<m, lo..<hi) }
        }
    } else if t > 1 && m >= 24 * t {
        Engine.parallelFor(t) { p in
            let lo = m * p / t, hi = m * (p + 1) / t
            if lo < hi { body(lo..<hi, 0..<n) }
        }
    } else {
        body(0..<m, 0..<n)
    }
}

/// C = A·Bᵀ (+C): A [M×K] row-major, B [N×K] row-major (a Linear weight), C [M×N] with row stride ldc.
/// On the engine's threads: OpenBLAS (single-threaded per part) for large products when loaded, else the built-in
/// packed AVX-512 GEMM.
@inlinable func sgemmNT(_ M: Int, _ N: Int, _ K: Int, _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                        _ C: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool = false) {
    nonisolated(unsafe) let C = C
    if Engine.blasAvailable && M * N * K >= Engine.blasMinimumProduct {
        parallelGEMMSplit(M, N) { rows, cols in  // OpenBLAS single-threaded in each engine thread
            ck_sgemm_nt(Int32(rows.count), Int32(cols.count), Int32(K), A + rows.lowerBound * lda, Int32(lda),
                 B + cols.lowerBound * ldb, Int32(ldb), C + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc),
                 accumulate ? 1 : 0)
        }
        return
    }
    parallelGEMMSplit(M, N) { rows, cols in
        ck_sgemm_nt_builtin(Int32(rows.count), Int32(cols.count), Int32(K), A + rows.lowerBound * lda, Int32(lda),
                            B + cols.lowerBound * ldb, Int32(ldb), C + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc),
                            accumulate ? 1 : 0)
    }
}

/// C = A·B (+C): A [M×K], B [K×N], C [M×N], all row-major. On the engine's threads: OpenBLAS (single-threaded per
/// part) for large products when loaded, else the built-in GEMM.
@inlinable func sgemmNN(_ M: Int, _ N: Int, _ K: Int, _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                        _ C: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool = false) {
    nonisolated(unsafe) let C = C
    if Engine.blasAvailable && M * N * K >= Engine.blasMinimumProduct {
        parallelGEMMSplit(M, N) { rows, cols in  // OpenBLAS single-threaded in each engine thread
            ck_sgemm_nn(Int32(rows.count), Int32(cols.count), Int32(K), A + rows.lowerBound * lda, Int32(lda),
                 B + cols.lowerBound, Int32(ldb), C + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc),
                 accumulate ? 1 : 0)
        }
        return
    }
    parallelGEMMSplit(M, N) { rows, cols in
        ck_sgemm_nn(Int32(rows.count), Int32(cols.count), Int32(K), A + rows.lowerBound * lda, Int32(lda),
                    B + cols.lowerBound, Int32(ldb), C + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc),
                    accumulate ? 1 : 0)
    }
}
