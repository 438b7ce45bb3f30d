import CKernels
import Foundation

/// `nn.LayerNorm` over the last dimension: statistics in Double, biased variance, as PyTorch.
public final class LayerNorm: Module {
    public let weight: Parameter?
    public let bias: Parameter?
    public let dim: Int
    public let eps: Float

    public init(dim: Int, eps: Float, affine: Bool = true, bias: Bool = true) {
        self.dim = dim
        self.eps = eps
        weight = affine ? Parameter(shape: [dim]) : nil
        self.bias = affine && bias ? Parameter(shape: [dim]) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == dim else { throw ModuleError.shapeMismatch("LayerNorm input", expected: [-1, dim], found: x.shape) }
        var out = x
        try applyInPlace(&out.data)
        return out
    }

    /// Normalizes every row of `data` (rows of `dim`) in place.
    public func applyInPlace(_ data: inout [Float]) throws {
        let w = try weight?.floats("weight"), b = try bias?.floats("bias")
        let d = dim, rows = data.count / dim, e = Double(eps)
        data.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let base = p.baseAddress!
            Engine.parallelRanges(rows, minimumChunk: 64) { r in
                for row in r {
                    let x = base + row * d
                    var mean = 0.0
                    for i in 0..<d { mean += Double(x[i]) }
                    mean /= Double(d)
                    var v = 0.0
                    for i in 0..<d { let t = Double(x[i]) - mean; v += t * t }
                    let inv = 1 / (v / Double(d) + e).squareRoot()
                    let mf = Float(mean), invf = Float(inv)
                    for i in 0..<d {
                        var y = (x[i] - mf) * invf
                        if let w { y *= w[i] }
                        if let b { y += b[i] }
                        x[i] = y
                    }
                }
            }
        }
    }
}

/// T5's RMS norm: `x · rsqrt(mean(x²) + eps) · weight` (no mean subtraction, no bias).
public final class RMSNorm: Module {
    public let weight: Parameter
    public let dim: Int
    public let eps: Float

    public init(dim: Int, eps: Float) {
        self.dim = dim
        self.eps = eps
        weight = Parameter(shape: [dim])
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == dim else { throw ModuleError.shapeMismatch("RMSNorm input", expected: [-1, dim], found: x.shape) }
        let w = try weight.floats("weight")
        var out = x
        let d = dim, rows = x.count / dim, e = Double(eps)
        out.data.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let base = p.baseAddress!
            Engine.parallelRanges(rows, minimumChunk: 64) { r in
                for row in r {
                    let x = base + row * d
                    var s = 0.0
                    for i in 0..<d { s += Double(x[i]) * Double(x[i]) }
                    let inv = Float(1 / (s / Double(d) + e).squareRoot())
                    for i in 0..<d { x[i] = x[i] * inv * w[i] }
                }
            }
        }
        return out
    }
}

/// `nn.GroupNorm` on `[B, C, *]`: statistics per (batch, group) over C/groups channels × every trailing element.
public final class GroupNorm: Module {
    public let weight: Parameter?
    public let bias: Parameter?
    public let groups: Int
    public let channels: Int
    public let eps: Float

    public init(groups: Int, channels: Int, eps: Float, affine: Bool = true) {
        self.groups = groups
        self.channels = channels
        self.eps = eps
        weight = affine ? Parameter(shape: [channels]) : nil
        bias = affine ? Parameter(shape: [channels]) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank >= 2, x.shape[1] == channels, channels % groups == 0 else {
            throw ModuleError.shapeMismatch("GroupNorm input", expected: [-1, channels], found: x.shape)
        }
        let w = try weight?.floats("weight"), b = try bias?.floats("bias")
        var out = x
        let batch = x.shape[0], spatial = x.count / (batch * channels)
        let (scale, shift) = affineCoefficients(batch: batch, channels: channels, groups: groups,
                                                stats: groupNormStatistics(x, groups: groups, eps: eps), gamma: w, beta: b)
        out.data.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let base = p.baseAddress!
            Engine.parallelFor(batch * channels) { bc in ck_scale_shift(base + bc * spatial, spatial, scale[bc], shift[bc], 0) }
        }
        return out
    }
}

/// `nn.Embedding`: rows of `weight [count, dim]`, decoded from any stored type.
public final class Embedding: Module {
    public let weight: Parameter
    public let count: Int
    public let dim: Int

    public init(count: Int, dim: Int) {
        self.count = count
        self.dim = dim
        weight = Parameter(shape: [count, dim])
    }

    /// ids → `[ids.count, dim]`.
    public func callAsFunction(_ ids: [Int]) throws -> Tensor {
        let w = try weight.weight("weight")
        var out = Tensor(zeros: [ids.count, dim])
        try out.data.withUnsafeMutableBufferPointer { p in
            for (i, id) in ids.enumerated() {
                guard id >= 0 && id < count else { throw ModuleError.invalidInput("token id \(id) is outside the embedding table of \(count) rows") }
                try w.decodeRows(id..<(id + 1), into: p.baseAddress! + i * dim)
            }
        }
        return out
    }
}

/// Per (batch, group) mean and 1/sqrt(var + eps) of `x` `[B, C, …]`: sums in double, variance as PyTorch's biased
/// one (E[x²] − E[x]²), on the engine's threads.
func groupNormStatistics(_ x: Tensor, groups: Int, eps: Float) -> [(mean: Float, inv: Float)] {
    let batch = x.shape[0], channels = x.shape[1], spatial = x.count / (batch * channels), cpg = channels / groups
    var stats = [(mean: Float, inv: Float)](repeating: (0, 0), count: batch * groups)
    let e = Double(eps)
    x.data.withUnsafeBufferPointer { p in
        stats.withUnsafeMutableBufferPointer { sp in
            nonisolated(unsafe) let base = p.baseAddress!, S = sp.baseAddress!
            Engine.parallelFor(batch * groups) { bg in
                let bi = bg / groups, g = bg % groups
                let n = cpg * spatial
                var sum = 0.0, sq = 0.0
                ck_sum_squares(base + (bi * channels + g * cpg) * spatial, n, &sum, &sq)
                let mean = sum / Double(n)
                let variance = max(0, sq / Double(n) - mean * mean)
                S[bg] = (Float(mean), Float(1 / (variance + e).squareRoot()))
            }
        }
    }
    return stats
}

/// Per (batch, channel) scale `γ·inv` and shift `β − mean·scale` of a GroupNorm from its group statistics.
func affineCoefficients(batch: Int, channels: Int, groups: Int, stats: [(mean: Float, inv: Float)],
                        gamma: [Float]?, beta: [Float]?) -> (scale: [Float], shift: [Float]) {
    let cpg = channels / groups
    var scale = [Float](repeating: 0, count: batch * channels), shift = scale
    for bc in 0..<(batch * channels) {
        let c = bc % channels, st = stats[(bc / channels) * groups + c / cpg]
        scale[bc] = (gamma?[c] ?? 1) * st.inv
        shift[bc] = (beta?[c] ?? 0) - st.mean * scale[bc]
    }
    return (scale, shift)
}
