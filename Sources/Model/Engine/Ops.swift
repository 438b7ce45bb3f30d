import CKernels
import Foundation

/// Tensor operations on fp32 activations. Each returns a new tensor unless named `…InPlace`.
public enum Ops {
    // MARK: Elementwise

    /// `x · sigmoid(x)`.
    public static func silu(_ x: Tensor) -> Tensor {
        var y = x
        siluInPlace(&y.data)
        return y
    }

    /// In place `x · sigmoid(x)` (vectorized, split across the engine's threads).
    public static func siluInPlace(_ d: inout [Float]) {
        d.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let b = p.baseAddress
            Engine.parallelRanges(p.count, minimumChunk: 1 << 15) { r in ck_silu(b! + r.lowerBound, r.count) }
        }
    }

    /// GELU: tanh approximation (`gelu-approximate`, T5's `gelu_new`) or exact erf form.
    public static func gelu(_ x: Tensor, approximate: Bool) -> Tensor {
        var y = x
        geluInPlace(&y.data, approximate: approximate)
        return y
    }

    /// In place GELU (tanh form when `approximate`, erf form otherwise; vectorized, on the engine's threads).
    public static func geluInPlace(_ d: inout [Float], approximate: Bool) {
        d.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let b = p.baseAddress
            Engine.parallelRanges(p.count, minimumChunk: 1 << 15) { r in
                ck_gelu(b! + r.lowerBound, r.count, approximate ? 1 : 0)
            }
        }
    }

    /// a + b, where b's shape equals a's or a suffix of it (broadcast over leading dims).
    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor { binary(a, b, +) }
    /// a · b with the same broadcasting as `add`.
    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor { binary(a, b, *) }
    public static func sub(_ a: Tensor, _ b: Tensor) -> Tensor { binary(a, b, -) }

    static func binary(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape.count >= b.shape.count && Array(a.shape.suffix(b.shape.count)) == b.shape,
                     "broadcast \(b.shape) onto \(a.shape)")
        var y = a
        let n = b.count
        y.data.withUnsafeMutableBufferPointer { yp in
            b.data.withUnsafeBufferPointer { bp in
                var i = 0
                while i < yp.count { for j in 0..<n { yp[i + j] = f(yp[i + j], bp[j]) }; i += n }
            }
        }
        return y
    }

    /// x · s.
    public static func scale(_ x: Tensor, by s: Float) -> Tensor {
        var y = x
        for i in y.data.indices { y.data[i] *= s }
        return y
    }

    // MARK: Reductions

    /// Softmax over the last dimension (max-subtracted, fp32).
    public static func softmax(_ x: Tensor) -> Tensor {
        var y = x
        let n = x.shape.last ?? 1
        guard n > 0, y.count > 0 else { return y }
        let rows = y.count / n
        y.data.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let b = p.baseAddress
            Engine.parallelRanges(rows, minimumChunk: max(1, (1 << 15) / n)) { r in
                ck_softmax_rows(b! + r.lowerBound * n, r.count, n)
            }
        }
        return y
    }

    // MARK: Shape

    /// Reorders dimensions (`dims[i]` is the source dimension of output dimension i), like `torch.permute`.
    public static func permute(_ x: Tensor, _ dims: [Int]) -> Tensor {
        let r = x.rank
        precondition(dims.count == r && Set(dims) == Set(0..<r), "permute \(dims) of rank \(r)")
        let outShape = dims.map { x.shape[$0] }
        var srcStrides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { srcStrides[i] = srcStrides[i + 1] * x.shape[i + 1] }
        let permStrides = dims.map { srcStrides[$0] }
        var out = Tensor(zeros: outShape)
        // Copy innermost runs; the last output dim walks `permStrides.last` in the source.
        let inner = outShape.last ?? 1, innerStride = permStrides.last ?? 1
        let outer = out.count / max(inner, 1)
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                nonisolated(unsafe) let s = src.baseAddress!, d = dst.baseAddress!
                Engine.parallelRanges(outer, minimumChunk: 256) { range in
                    var idx = [Int](repeating: 0, count: r)
                    var rem = range.lowerBound
                    for k in stride(from: r - 2, through: 0, by: -1) { idx[k] = rem % outShape[k]; rem /= outShape[k] }
                    for o in range {
                        var off = 0
                        for k in 0..<(r - 1) { off += idx[k] * permStrides[k] }
                        let dd = d + o * inner
                        if innerStride == 1 { dd.update(from: s + off, count: inner) }
                        else { for j in 0..<inner { dd[j] = s[off + j * innerStride] } }
                        var k = r - 2
                        while k >= 0 { idx[k] += 1; if idx[k] < outShape[k] { break }; idx[k] = 0; k -= 1 }
                    }
                }
            }
        }
        return out
    }

    /// Concatenates along `axis` (all other dims equal).
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        guard let first = tensors.first else { return Tensor(zeros: [0]) }
        let ax = axis < 0 ? first.rank + axis : axis
        var shape = first.shape
        shape[ax] = tensors.reduce(0) { $0 + $1.shape[ax] }
        let outer = first.shape[..<ax].reduce(1, *)
        var out = Tensor(zeros: shape)
        let outRow = shape[ax...].reduce(1, *)
        var offset = 0
        for t in tensors {
            let row = t.shape[ax...].reduce(1, *)
            t.data.withUnsafeBufferPointer { s in
                out.data.withUnsafeMutableBufferPointer { d in
                    for o in 0..<outer { (d.baseAddress! + o * outRow + offset).update(from: s.baseAddress! + o * row, count: row) }
                }
            }
            offset += row
        }
        return out
    }

    /// Elements `range` of dimension `axis`.
    public static func slice(_ x: Tensor, axis: Int, _ range: Range<Int>) -> Tensor {
        let ax = axis < 0 ? x.rank + axis : axis
        var shape = x.shape
        shape[ax] = range.count
        let outer = x.shape[..<ax].reduce(1, *), inner = x.shape[(ax + 1)...].reduce(1, *)
        var out = Tensor(zeros: shape)
        x.data.withUnsafeBufferPointer { s in
            out.data.withUnsafeMutableBufferPointer { d in
                for o in 0..<outer {
                    (d.baseAddress! + o * range.count * inner).update(from: s.baseAddress! + (o * x.shape[ax] + range.lowerBound) * inner,
                                                                       count: range.count * inner)
                }
            }
        }
        return out
    }

    // MARK: Products

    /// Batched matrix product `[..., M, K] × [..., K, N]` (same leading dims).
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let m = a.dim(-2), k = a.dim(-1), n = b.dim(-1)
        precondition(b.dim(-2) == k, "matmul \(a.shape) × \(b.shape)")
        let batch = a.count / (m * k)
        var out = Tensor(zeros: Array(a.shape.dropLast()) + [n])
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                out.data.withUnsafeMutableBufferPointer { op in
                    for i in 0..<batch {
                        sgemmNN(m, n, k, ap.baseAddress! + i * m * k, k, bp.baseAddress! + i * k * n, n, op.baseAddress! + i * m * n, n)
                    }
                }
            }
        }
        return out
    }
}
