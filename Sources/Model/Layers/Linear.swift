import GGUFLike

/// `nn.Linear`: `y = x Wᵀ + b` with W `[out, in]` in its stored type (F32, F16, BF16, Q8_0, Q4_0, …).
///
/// F32 weights go straight to the GEMM; other types are decoded one panel of output rows at a time into a small
/// fp32 buffer (a few MB), so no full-precision copy of the matrix ever exists.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures])
        self.bias = bias ? Parameter(shape: [outFeatures]) : nil
    }

    /// x `[..., in]` → `[..., out]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == inFeatures else {
            throw ModuleError.shapeMismatch("Linear input", expected: [-1, inFeatures], found: x.shape)
        }
        let m = x.count / inFeatures
        var out = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
        try apply(x.data, rows: m, into: &out.data)
        return out
    }

    /// Computes `rows` rows of x·Wᵀ (+b) from `input` (row-major [rows, in]) into `output` ([rows, out]).
    public func apply(_ input: [Float], rows m: Int, into output: inout [Float]) throws {
        let w = try weight.weight("weight")
        let k = inFeatures, n = outFeatures
        guard m > 0 else { return }
        try input.withUnsafeBufferPointer { a in
            try output.withUnsafeMutableBufferPointer { c in
                let A = a.baseAddress!, C = c.baseAddress!
                if w.type == .f32, Int(bitPattern: w.bytes.baseAddress) % 4 == 0 {
                    sgemmNT(m, n, k, A, k, w.bytes.baseAddress!.assumingMemoryBound(to: Float.self), k, C, n)
                } else {
                    // Panels of output rows decoded to fp32 (≈ 4 MB each), decoded in parallel, then one GEMM each.
                    let panel = max(16, min(n, (1 << 20) / max(k, 1)))
                    var buffer = [Float](repeating: 0, count: panel * k)
                    try buffer.withUnsafeMutableBufferPointer { bp in
                        let B = bp.baseAddress!
                        var n0 = 0
                        while n0 < n {
                            let p = min(panel, n - n0)
                            var failure: Error?
                            let base = n0
                            Engine.parallelRanges(p, minimumChunk: 8) { r in
                                do { try w.decodeRows((base + r.lowerBound)..<(base + r.upperBound), into: B + r.lowerBound * k) }
                                catch { failure = error }
                            }
                            if let failure { throw failure }
                            sgemmNT(m, p, k, A, k, B, k, C + n0, n)
                            n0 += p
                        }
                    }
                }
            }
        }
        if let b = try bias?.floats("bias") {
            output.withUnsafeMutableBufferPointer { c in
                for i in 0..<m { for j in 0..<n { c[i * n + j] += b[j] } }
            }
        }
    }
}
