import CKernels
import Dispatch
import Foundation

/// Process-wide engine settings.
public enum Engine {
    /// Worker threads for parallel loops and the BLAS (default: all active cores).
    nonisolated(unsafe) public static var threads: Int = ProcessInfo.processInfo.activeProcessorCount {
        didSet { _ = ck_blas_init(Int32(threads)) }
    }

    /// True when OpenBLAS was found and is used for fp32 GEMM (with its AVX-512 kernels on AVX-512 CPUs).
    public static let blasAvailable: Bool = ck_blas_init(Int32(ProcessInfo.processInfo.activeProcessorCount)) != 0

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

/// C = A·Bᵀ (+C): A [M×K] row-major, B [N×K] row-major (a Linear weight), C [M×N] with row stride ldc.
@inlinable func sgemmNT(_ M: Int, _ N: Int, _ K: Int, _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                        _ C: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool = false) {
    _ = Engine.blasAvailable
    ck_sgemm_nt(Int32(M), Int32(N), Int32(K), A, Int32(lda), B, Int32(ldb), C, Int32(ldc), accumulate ? 1 : 0)
}

/// C = A·B (+C): A [M×K], B [K×N], C [M×N], all row-major.
@inlinable func sgemmNN(_ M: Int, _ N: Int, _ K: Int, _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                        _ C: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool = false) {
    _ = Engine.blasAvailable
    ck_sgemm_nn(Int32(M), Int32(N), Int32(K), A, Int32(lda), B, Int32(ldb), C, Int32(ldc), accumulate ? 1 : 0)
}
