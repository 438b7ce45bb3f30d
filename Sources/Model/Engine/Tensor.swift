// Dense fp32 activation tensors. Weights never live here: they stay in their stored type (see WeightTensor).

#if canImport(Glibc)
import Glibc
#endif

/// Asks for transparent huge pages on the 2 MB-aligned part of a fresh allocation (best effort, errors ignored).
func adviseHugePages(_ base: UnsafeMutableRawPointer, bytes: Int) {
    #if os(Linux)
    let huge = 1 << 21
    let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
    let end = (Int(bitPattern: base) + bytes) & ~(huge - 1)
    if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) { _ = madvise(p, end - start, MADV_HUGEPAGE) }
    #endif
}

/// A dense, row-major (last dimension fastest) fp32 tensor used for every activation.
///
/// Shapes follow PyTorch order. Layout conventions used across the package: transformer latents
/// `[B, F, C, H, W]`, VAE tensors `[B, C, F, H, W]`, token sequences `[B, S, D]`.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: Tensor.count(shape))
    }

    /// A tensor whose values are left uninitialized, for outputs that a kernel writes in full (GEMM results,
    /// convolution outputs): clearing them first would be a single-threaded pass over memory that is overwritten
    /// anyway. Buffers of 4 MB and more ask the kernel for transparent huge pages (`MADV_HUGEPAGE`) before their
    /// first touch, which turns 512 page faults into one; where THP is off this is a no-op.
    static func uninitialized(_ shape: [Int]) -> Tensor {
        let n = count(shape)
        return Tensor(shape: shape, data: [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            if n * 4 >= 1 << 22, let base = buffer.baseAddress { adviseHugePages(base, bytes: n * 4) }
            initialized = n
        })
    }

    /// Wraps existing values; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(data.count == Tensor.count(shape), "Tensor: \(data.count) values for shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: value, count: Tensor.count(shape))
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// Size of dimension `i` (negative counts from the end).
    @inlinable public func dim(_ i: Int) -> Int { shape[i < 0 ? shape.count + i : i] }

    /// Same values, new shape with the same element count. One dimension may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let k = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != k }.reduce(1) { $0 * $1.element }
            s[k] = known == 0 ? 0 : count / known
        }
        precondition(Tensor.count(s) == count, "reshape \(shape) -> \(newShape)")
        var t = self
        t.shape = s
        return t
    }

    /// Product of a shape's dimensions.
    @inlinable public static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }
}
