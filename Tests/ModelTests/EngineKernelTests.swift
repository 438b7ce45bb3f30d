import CKernels
import Foundation
import GGUFLike
import Testing
@testable import Model

// Tests of the SIMD kernels behind Ops and the layers: each against a Double-precision evaluation of the
// definition, on sizes that hit every vector tail and tile edge.

/// Inputs spanning tiny, ordinary and saturating magnitudes (37 values: not a multiple of the vector width).
private let activationInputs: [Float] = [0, -0.0, 1e-7, -1e-7, 1e-3, -1e-3, 0.1, -0.1, 0.5, -0.5, 0.624, -0.626, 1, -1, 1.5,
                                         -1.5, 2, -2, 3, -3, 4.5, -4.5, 6, -6, 9, -9, 15, -15, 30, -30, 80, -80, 90, -90,
                                         200, -200, 0.3]

@Test func siluKernelMatchesItsDefinition() {
    let y = Ops.silu(Tensor(shape: [activationInputs.count], data: activationInputs))
    for (x, v) in zip(activationInputs, y.data) {
        let ref = Double(x) / (1 + Foundation.exp(-Double(x)))
        #expect(abs(Double(v) - ref) <= 2e-7 * max(1, abs(ref)), "silu(\(x)) = \(v), expected \(ref)")
    }
}

@Test(arguments: [true, false])
func geluKernelMatchesItsDefinition(_ approximate: Bool) {
    var r = TestRandom(g: 5)
    let inputs = activationInputs + r.values(1000, scale: 12)
    let y = Ops.gelu(Tensor(shape: [inputs.count], data: inputs), approximate: approximate)
    for (x, v) in zip(inputs, y.data) {
        let d = Double(x)
        let ref = approximate ? 0.5 * d * (1 + Foundation.tanh(0.7978845608028654 * (d + 0.044715 * d * d * d)))
                              : 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot()))
        #expect(abs(Double(v) - ref) <= 3e-7 * max(1, abs(d)), "gelu(\(x), approximate: \(approximate)) = \(v), expected \(ref)")
    }
}

@Test func softmaxKernelMatchesItsDefinitionIncludingMaskedEntries() {
    var r = TestRandom(g: 9)
    let (rows, n) = (7, 53)
    var x = r.values(rows * n, scale: 40)
    for j in stride(from: 0, to: n, by: 5) { x[2 * n + j] = -.infinity }  // masked entries in row 2
    let y = Ops.softmax(Tensor(shape: [rows, n], data: x))
    for i in 0..<rows {
        let row = x[(i * n)..<((i + 1) * n)].map(Double.init)
        let m = row.max()!
        let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
        for j in 0..<n {
            let ref = Foundation.exp(row[j] - m) / z
            #expect(abs(Double(y.data[i * n + j]) - ref) <= 1e-6 * max(ref, 1e-3), "softmax[\(i), \(j)]")
        }
    }
}

/// Materialized-score attention in Double, the reference for the tiled kernel.
private func referenceAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float, bias: Tensor?) -> [Float] {
    let (bh, sq, d) = (q.shape[0] * q.shape[1], q.shape[2], q.shape[3]), sk = k.shape[2]
    let biasHeads = bias.map { $0.shape[0] * $0.shape[1] } ?? 1
    var out = [Float](repeating: 0, count: bh * sq * d)
    for h in 0..<bh { for i in 0..<sq {
        var s = [Double](repeating: 0, count: sk)
        for j in 0..<sk {
            var a = 0.0
            for t in 0..<d { a += Double(q.data[(h * sq + i) * d + t]) * Double(k.data[(h * sk + j) * d + t]) }
            s[j] = a * Double(scale) + Double(bias?.data[((h % biasHeads) * sq + i) * sk + j] ?? 0)
        }
        let m = s.max()!
        let e = s.map { Foundation.exp($0 - m) }
        let z = e.reduce(0, +)
        for t in 0..<d {
            var acc = 0.0
            for j in 0..<sk { acc += e[j] / z * Double(v.data[(h * sk + j) * d + t]) }
            out[(h * sq + i) * d + t] = Float(acc)
        }
    } }
    return out
}

/// Head sizes below, at and above one 64-wide output block; query counts off the 6-row and 96-row tiles; key counts
/// off the 16-lane vectors and 256-key tiles; large scores (scale 4) that need the running-max rescaling.
@Test(arguments: [(1, 1, 3, Float(1)), (97, 1000, 80, 0.125), (193, 257, 64, 4), (6, 16, 128, 0.5), (13, 300, 17, 1)])
func flashAttentionKernelMatchesMaterializedSoftmax(_ sq: Int, _ sk: Int, _ d: Int, _ scale: Float) throws {
    var r = TestRandom(g: UInt64(sq * 31 + sk * 7 + d))
    let q = r.tensor([2, 2, sq, d]), k = r.tensor([2, 2, sk, d]), v = r.tensor([2, 2, sk, d])
    let o = try Ops.attention(q: q, k: k, v: v, scale: scale)
    #expect(relativeMaxError(o.data, referenceAttention(q, k, v, scale: scale, bias: nil)) < 1e-5)
}

@Test func flashAttentionHonoursAMaskingBiasSharedAcrossTheBatch() throws {
    var r = TestRandom(g: 77)
    let (sq, sk, d) = (40, 600, 64)
    let q = r.tensor([2, 3, sq, d]), k = r.tensor([2, 3, sk, d]), v = r.tensor([2, 3, sk, d])
    var bias = r.tensor([1, 3, sq, sk], scale: 4)
    // Mask whole key tiles for some rows (every key but the last 10 for row 0 of each head) and scattered keys.
    for h in 0..<3 {
        for j in 0..<(sk - 10) { bias.data[(h * sq) * sk + j] = -.infinity }
        for i in 1..<sq { for j in stride(from: i % 7, to: sk, by: 7) { bias.data[(h * sq + i) * sk + j] = -.infinity } }
    }
    let o = try Ops.attention(q: q, k: k, v: v, scale: 0.125, bias: bias)
    let full = Tensor(shape: [2, 3, sq, sk], data: bias.data + bias.data)
    #expect(relativeMaxError(o.data, referenceAttention(q, k, v, scale: 0.125, bias: full)) < 1e-5)
}

@Test func attentionRejectsABiasOfTheWrongShape() {
    let q = Tensor(zeros: [1, 2, 4, 8]), k = Tensor(zeros: [1, 2, 5, 8])
    #expect(throws: ModuleError.shapeMismatch("attention bias", expected: [1, 2, 4, 5], found: [1, 2, 5, 4])) {
        try Ops.attention(q: q, k: k, v: k, scale: 1, bias: Tensor(zeros: [1, 2, 5, 4]))
    }
}

@Test func batchedMatmulMatchesTheDefinition() {
    var r = TestRandom(g: 3)
    let (b, m, k, n) = (3, 19, 37, 45)
    let a = r.tensor([b, m, k]), bb = r.tensor([b, k, n])
    let c = Ops.matmul(a, bb)
    #expect(c.shape == [b, m, n])
    var ref = [Float](repeating: 0, count: b * m * n)
    for z in 0..<b { for i in 0..<m { for j in 0..<n {
        var s = 0.0
        for t in 0..<k { s += Double(a.data[(z * m + i) * k + t]) * Double(bb.data[(z * k + t) * n + j]) }
        ref[(z * m + i) * n + j] = Float(s)
    } } }
    #expect(relativeMaxError(c.data, ref) < 1e-5)
}

/// The built-in GEMM (used when OpenBLAS is absent) on shapes that cover every register-tile and panel edge,
/// with leading dimensions larger than the rows and accumulation into C.
/// K up to 2048 is one block (1100); beyond it, 1024-wide blocks with a partial last one (2600).
@Test(arguments: [(1, 1, 1), (7, 33, 5), (29, 70, 300), (64, 96, 1), (130, 257, 129), (100, 2100, 1100), (33, 70, 2600)])
func builtinGEMMMatchesTheDefinition(_ m: Int, _ n: Int, _ k: Int) {
    var r = TestRandom(g: UInt64(m * n + k))
    let (lda, ldb, ldc) = (k + 3, k + 1, n + 2)
    let a = r.values(m * lda), b = r.values(n * ldb), c0 = r.values(m * ldc)
    for accumulate in [false, true] {
        var c = c0
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            ck_sgemm_nt_builtin(Int32(m), Int32(n), Int32(k), ap.baseAddress, Int32(lda), bp.baseAddress, Int32(ldb),
                                cp.baseAddress, Int32(ldc), accumulate ? 1 : 0)
        } } }
        var maxErr = 0.0
        for i in 0..<m { for j in 0..<n {
            var s = accumulate ? Double(c0[i * ldc + j]) : 0
            for t in 0..<k { s += Double(a[i * lda + t]) * Double(b[j * ldb + t]) }
            maxErr = max(maxErr, abs(Double(c[i * ldc + j]) - s))
        } }
        #expect(maxErr < 1e-4, "m \(m) n \(n) k \(k) accumulate \(accumulate): \(maxErr)")
        // Padding between rows of C is untouched.
        for i in 0..<m { for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j]) } }
    }
}

/// Linear on stored types through the decoding GEMM: K decoded as one block (544, 1312: K ≤ 2048), and K spanning two
/// whole 1024-wide blocks plus a partial one (2592), with N past one 2048-row panel; N split across threads at a
/// non-multiple of the 32-column strips.
@Test(arguments: [GGMLType.f16, .bf16, .q8_0, .q4_0, .q5_1], [(50, 300, 544), (20, 2200, 1312), (6, 2200, 2592)])
func decodingGEMMMatchesTheDecodedWeightsAcrossBlocksAndThreads(_ type: GGMLType, _ size: (Int, Int, Int)) throws {
    var r = TestRandom(g: 19)
    let (m, n, k) = size
    let encoded = try BlockCodec.quantize(type, r.values(n * k))
    let decoded = try encoded.withUnsafeBytes { try BlockCodec.dequantize(type, $0, count: n * k) }
    let lin = Linear(inFeatures: k, outFeatures: n, bias: false)
    lin.weight.value = WeightTensor.owned(name: "w", shape: [n, k], type: type, encoded: encoded)
    let x = r.tensor([m, k])
    let y = try lin(x)
    var ref = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var a = 0.0
        for t in 0..<k { a += Double(x.data[i * k + t]) * Double(decoded[j * k + t]) }
        ref[i * n + j] = Float(a)
    } }
    if (type == .q8_0 || type == .q4_0) && Engine.int8Activations {
        ref = int8ActivationReference(x.data, m: m, k: k, weights: decoded, n: n)
    }
    #expect(relativeMaxError(y.data, ref) < 1e-5)
}

@Test func linearRejectsAWeightTypeItCannotDecode() throws {
    let lin = Linear(inFeatures: 32, outFeatures: 2, bias: false)
    lin.weight.value = WeightTensor.owned(name: "w", shape: [2, 32], type: .i8, encoded: [UInt8](repeating: 0, count: 64))
    #expect(throws: BlockCodecError.unsupported(.i8, operation: "dequantization")) { try lin(Tensor(zeros: [1, 32])) }
}

/// On an AVX-512 CPU OpenBLAS (used by default when installed) runs its SkylakeX kernels even when the process
/// inherited another OPENBLAS_CORETYPE (this project's CI exports `Haswell`), and the inherited variable is left as
/// it was.
@Test func openBLASUsesAVX512KernelsWhateverTheInheritedCoreType() throws {
    let inherited = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"]
    guard ck_blas_init(1) != 0 else { return }  // libopenblas not installed: nothing to choose
    let core = try #require(ck_blas_corename().map { String(cString: $0) })
    if ck_cpu_features() & 2 != 0 && ProcessInfo.processInfo.environment["COGVIDEO_OPENBLAS_CORETYPE"] == nil {
        #expect(core.lowercased() == "skylakex", "OpenBLAS chose \(core)")
    }
    #expect(getenv("OPENBLAS_CORETYPE").map { String(cString: $0) } == inherited)
}
