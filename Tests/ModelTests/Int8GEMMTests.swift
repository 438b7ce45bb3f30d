import CKernels
import Foundation
import GGUFLike
import Testing
@testable import Model

// The int8 path of Linear (Q8_0 / Q4_0 weights × int8-quantized activations, AVX-512 VNNI): against a Double
// evaluation of the same quantized sums, against the fp32 product of the decoded weights, and SIMD vs portable C.

/// x quantized per 32-wide block as the kernel does it (scale max|x|/127, round to nearest even), then
/// Σ_blocks scale · Σ q · w in Double with the decoded weights (dw · q is exact in fp32 for Q8_0 and Q4_0).
func int8ActivationReference(_ x: [Float], m: Int, k: Int, weights decoded: [Float], n: Int) -> [Float] {
    var out = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        var q = [Double](repeating: 0, count: k), scale = [Double](repeating: 0, count: k / 32)
        for b in 0..<(k / 32) {
            let block = x[(i * k + b * 32)..<(i * k + b * 32 + 32)]
            let amax = block.map { abs($0) }.max()!
            let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
            scale[b] = Double(d)
            for (t, v) in block.enumerated() { q[b * 32 + t] = Double((v * id).rounded(.toNearestOrEven)) }
        }
        for j in 0..<n {
            var acc = 0.0
            for b in 0..<(k / 32) {
                var s = 0.0
                for t in 0..<32 { s += q[b * 32 + t] * Double(decoded[j * k + b * 32 + t]) }
                acc += scale[b] * s
            }
            out[i * n + j] = Float(acc)
        }
    }
    return out
}

/// Odd M, N across the 6-row and 32-column tiles, N past one 256-row packing panel and split across threads, K from
/// one block to 60 (the transformer's 1920).
@Test(arguments: [GGMLType.q8_0, .q4_0], [(1, 1, 32), (7, 33, 64), (50, 300, 544), (13, 531, 1920)])
func int8LinearMatchesTheQuantizedSumsAndStaysCloseToFP32(_ type: GGMLType, _ size: (Int, Int, Int)) throws {
    let (m, n, k) = size
    var r = TestRandom(g: UInt64(m * 31 + n * 7 + k))
    let encoded = try BlockCodec.quantize(type, r.values(n * k, scale: 0.1))
    let decoded = try encoded.withUnsafeBytes { try BlockCodec.dequantize(type, $0, count: n * k) }
    let lin = Linear(inFeatures: k, outFeatures: n, bias: false)
    lin.weight.value = WeightTensor.owned(name: "w", shape: [n, k], type: type, encoded: encoded)
    // Rows with very different magnitudes, and one block of zeros (scale 0).
    var x = r.values(m * k)
    for i in 0..<m { for t in 0..<k { x[i * k + t] *= Float(1 + i % 5) * 3 } }
    for t in 0..<32 { x[t] = 0 }
    let y = try lin(Tensor(shape: [m, k], data: x))
    var fp32 = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var a = 0.0
        for t in 0..<k { a += Double(x[i * k + t]) * Double(decoded[j * k + t]) }
        fp32[i * n + j] = Float(a)
    } }
    if Engine.int8Activations {
        let exact = int8ActivationReference(x, m: m, k: k, weights: decoded, n: n)
        #expect(relativeMaxError(y.data, exact) < 1e-5, "\(type) \(size): against the same quantized sums")
    }
    // Activation rounding only: ≤ 2 % of the largest output, cosine ≥ 0.9999 (K ≥ 64).
    #expect(relativeMaxError(y.data, fp32) < 2e-2, "\(type) \(size): against fp32")
    if k >= 64 { #expect(cosine(y.data, fp32) >= 0.9999, "\(type) \(size)") }
}

/// The VNNI kernel and the portable C code compute the same integer sums; only the fp32 scaling may round apart.
@Test(arguments: [GGMLType.q8_0, .q4_0])
func int8KernelSIMDAndPortablePathsAgree(_ type: GGMLType) throws {
    let (m, n, k) = (23, 290, 640)
    var r = TestRandom(g: 99)
    let x = r.values(m * k, scale: 4)
    let encoded = try BlockCodec.quantize(type, r.values(n * k, scale: 0.2))
    var qa = [[UInt8]](repeating: [UInt8](repeating: 0, count: m * k), count: 2)
    var da = [[Float]](repeating: [Float](repeating: 0, count: m * k / 32), count: 2)
    for p in 0..<2 { ck_quantize_rows_int8(x, Int32(m), Int32(k), Int32(k), &qa[p], &da[p], Int32(p)) }
    #expect(qa[0] == qa[1])
    #expect(da[0] == da[1])
    var c = [[Float]](repeating: [Float](repeating: 0, count: m * n), count: 2)
    let id: Int32 = type == .q8_0 ? Int32(CK_GGML_Q8_0) : Int32(CK_GGML_Q4_0)
    for p in 0..<2 {
        let rc = encoded.withUnsafeBufferPointer { w in
            ck_gemm_int8(id, Int32(m), Int32(n), Int32(k), qa[0], da[0], w.baseAddress, k / 32 * type.typeSize, &c[p], Int32(n), Int32(p))
        }
        #expect(rc == 0)
    }
    #expect(relativeMaxError(c[0], c[1]) < 1e-6)
    // Unsupported types and K not a multiple of 32 are refused, not read out of bounds.
    #expect(ck_gemm_int8(Int32(GGMLType.q5_0.rawValue), 1, 1, 32, qa[0], da[0], encoded, 34, &c[0], 1, 0) == -2)
    #expect(ck_gemm_int8(id, 1, 1, 31, qa[0], da[0], encoded, 34, &c[0], 1, 0) == -2)
}
