// The bf16 attention path (AVX-512 BF16 products, fp32 softmax statistics): parity with the fp32 kernel, the
// fallbacks, and the CogVideoX transformer's accuracy with it on quantized weights.
import CKernels
import GGUFLike
import SafeTensors
import Testing
@testable import Model

/// Head sizes 16 (the tiny fixtures), 64 (every CogVideoX), 80 and 128 (more than one 64-wide output block); query
/// counts off the 6-row and 96-row tiles; key counts off the 64-key packing, odd (a half-filled last key pair) and
/// beyond one 256-key tile. Q, K and V round to bf16 (relative error 2⁻⁹) and so do the probabilities, so with
/// scores of order 1 (CogVideoX's normalized q, k and scale 1/8) the output may differ from fp32 by ~1e-3 of its
/// range: held to max |bf16 − f32| ≤ 1e-2 · max |f32| and cosine ≥ 0.9999. Scale 4 gives scores up to ~±30 (a
/// near-one-hot softmax that needs the running-max rescaling): a score's rounding error then moves its weight by
/// several percent, held to 1e-1 and cosine ≥ 0.999. Without AVX-512 BF16 `.bf16` must give the fp32 result exactly.
@Test(arguments: [(1, 1, 16, Float(1), Float(1e-2)), (97, 1000, 64, 0.125, 1e-2), (193, 257, 80, 4, 1e-1),
                  (6, 63, 128, 0.5, 1e-2), (13, 301, 16, 1, 1e-2), (200, 640, 64, 0.125, 1e-2)])
func bf16AttentionStaysCloseToFP32(_ sq: Int, _ sk: Int, _ d: Int, _ scale: Float, _ tolerance: Float) throws {
    var r = TestRandom(g: UInt64(sq * 31 + sk * 7 + d))
    let q = r.tensor([2, 2, sq, d], scale: 2), k = r.tensor([2, 2, sk, d], scale: 2), v = r.tensor([2, 2, sk, d], scale: 2)
    let f32 = try Ops.attention(q: q, k: k, v: v, scale: scale)
    let bf16 = try Ops.attention(q: q, k: k, v: v, scale: scale, precision: .bf16)
    #expect(bf16.shape == f32.shape)
    if Engine.bf16AttentionAvailable {
        let err = relativeMaxError(bf16.data, f32.data), c = cosine(bf16.data, f32.data)
        #expect(err <= tolerance, "max |bf16 − f32| / max |f32| = \(err)")
        #expect(c >= (tolerance > 1e-2 ? 0.999 : 0.9999), "cosine \(c)")
        if sk > 1 { #expect(err > 0, "the bf16 path did not run") }
    } else {
        #expect(bf16.data == f32.data)
    }
}

/// A score bias (T5) and head sizes that are not a multiple of 16 are outside the bf16 kernel: `.bf16` must give the
/// fp32 result bit for bit there.
@Test func bf16AttentionFallsBackToFP32WithABiasOrAnOddHeadSize() throws {
    var r = TestRandom(g: 5)
    let q = r.tensor([1, 2, 20, 64], scale: 2), k = r.tensor([1, 2, 30, 64], scale: 2), v = r.tensor([1, 2, 30, 64], scale: 2)
    let bias = r.tensor([1, 2, 20, 30], scale: 2)
    #expect(try Ops.attention(q: q, k: k, v: v, scale: 0.125, bias: bias, precision: .bf16).data
            == Ops.attention(q: q, k: k, v: v, scale: 0.125, bias: bias).data)
    let q2 = r.tensor([1, 2, 20, 24], scale: 2), k2 = r.tensor([1, 2, 30, 24], scale: 2), v2 = r.tensor([1, 2, 30, 24], scale: 2)
    #expect(try Ops.attention(q: q2, k: k2, v: v2, scale: 0.2, precision: .bf16).data
            == Ops.attention(q: q2, k: k2, v: v2, scale: 0.2).data)
}

/// By default (no `COGVIDEO_ATTENTION`) the transformer attends in bf16 only on Q8_0/Q4_0 weights, where the CPU
/// runs bf16 products faster than fp32 (`Engine.bf16ProductsPreferred`); F32/F16 weights keep fp32 attention (their
/// diffusers parity tests rely on it).
@Test func transformerPicksBF16AttentionOnlyForQuantizedWeights() throws {
    let bf16IfAvailable: AttentionPrecision = Engine.bf16AttentionAvailable ? .bf16 : .f32
    let forced = Engine.attentionPrecision.map { $0 == .bf16 ? bf16IfAvailable : .f32 }
    let quantized: AttentionPrecision = Engine.bf16ProductsPreferred ? .bf16 : .f32
    for (type, expected) in [(GGMLType?.none, AttentionPrecision.f32), (.f16, .f32), (.q8_0, quantized), (.q4_0, quantized)] {
        let model = try loadTransformer("cogvideox-2b", type)
        #expect(model.attentionPrecision == (forced ?? expected), "\(type?.name ?? "f32")")
    }
}

/// Every fixture case on Q8_0 weights with bf16 attention forced stays within the Q8_0 goal: cosine ≥ 0.999 to the
/// fp32 diffusers output; and bf16 attention on F32 weights stays ≥ 0.9999 (the attention alone costs that little).
@Test(arguments: [(GGMLType?.some(.q8_0), 0.999), (nil, 0.9999)])
func transformerWithBF16AttentionStaysClose(_ type: GGMLType?, _ minimum: Double) throws {
    for variant in ["cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b", "cogvideox1.5-5b-i2v"] {
        for name in ["native", variant == "cogvideox-5b-i2v" ? "frames" : "other"] {
            let ref = try SafeTensorsFile(path: "\(fixturesPath)/transformer/\(variant)/\(name).safetensors")
            let model = try loadTransformer(variant, type)
            for block in model.blocks { block.attn1.precisionOverride = .bf16 }
            #expect(model.attentionPrecision == (Engine.bf16AttentionAvailable ? .bf16 : .f32))
            let out = try runTransformerFixture(model, ref)
            let c = cosine(out.data, try ref.floats("output"))
            print("transformer \(variant)/\(name) \(type?.name ?? "f32") + bf16 attention: cosine to fp32 diffusers \(c)")
            #expect(c >= minimum, "\(variant)/\(name) \(type?.name ?? "f32") + bf16 attention: cosine \(c)")
        }
    }
}

/// The token-major entry the transformer uses (heads as column blocks of the projections, output written into a
/// column range of a wider tensor) computes exactly what the head-major `Ops.attention` does in either precision,
/// and leaves the other columns of the output alone.
@Test(arguments: AttentionPrecision.allCases)
func attentionOnColumnBlocksMatchesTheHeadMajorPath(_ precision: AttentionPrecision) throws {
    var r = TestRandom(g: 11)
    let (b, sq, sk, g, d) = (2, 101, 333, 3, 16)
    let q = r.tensor([b, sq, g * d], scale: 2), k = r.tensor([b, sk, g * d], scale: 2), v = r.tensor([b, sk, g * d], scale: 2)
    var out = Tensor(repeating: 7, shape: [b, sq, 5 * d])
    let ran = try Ops.attentionColumns(q: q, k: k, v: v, heads: g, headDim: d, scale: 0.25, precision: precision,
                                       into: &out, column: d)
    #expect(ran == (ck_attention_packed_available() != 0))
    guard ran else { return }
    func headMajor(_ x: Tensor) -> Tensor { Ops.permute(x.reshaped([b, x.shape[1], g, d]), [0, 2, 1, 3]) }
    let ref = try Ops.attention(q: headMajor(q), k: headMajor(k), v: headMajor(v), scale: 0.25, precision: precision)
    var mismatches = 0, touched = 0
    for bi in 0..<b { for t in 0..<sq { for c in 0..<(5 * d) {
        let o = out.data[(bi * sq + t) * 5 * d + c]
        if c < d || c >= (g + 1) * d { if o != 7 { touched += 1 }; continue }
        let hi = (c - d) / d, j = (c - d) % d
        if o != ref.data[((bi * g + hi) * sq + t) * d + j] { mismatches += 1 }
    } } }
    #expect(mismatches == 0)
    #expect(touched == 0)
}

/// The packed-K fp32 kernel (AVX-512 or AVX2, what `Ops.attention` runs) gives the results of the Kᵀ kernel
/// `ck_attention_rows` (the fallback on other CPUs), with and without a masking bias, for head sizes off the
/// vector widths and key counts off the 64-key packing: bit for bit with AVX-512 (both kernels use it, in the same
/// order); with AVX2 the Kᵀ kernel is the portable one (no FMA), so within fp32 rounding (1e-5 of max |out|).
@Test(arguments: [(13, 257, 17, false), (97, 1000, 80, true), (6, 63, 64, true)])
func packedFP32AttentionKernelMatchesTheTransposedKernel(_ nq: Int, _ sk: Int, _ d: Int, _ withBias: Bool) throws {
    var r = TestRandom(g: UInt64(nq + sk + d))
    let q = r.tensor([nq, d], scale: 2).data, k = r.tensor([sk, d], scale: 2).data, v = r.tensor([sk, d], scale: 2).data
    var bias = r.tensor([nq, sk], scale: 2).data
    for i in stride(from: 0, to: bias.count, by: 7) { bias[i] = -.infinity }
    let kt = (0..<(d * sk)).map { k[($0 % sk) * d + $0 / sk] }
    var a = [Float](repeating: 0, count: nq * d), b = [Float](repeating: 1, count: nq * d)
    var kp = [Float](repeating: 0, count: Int(ck_attention_bf16_padded_keys(Int32(sk))) * d)
    let bp: [Float]? = withBias ? bias : nil
    #expect(ck_attention_rows(Int32(nq), Int32(sk), Int32(d), q, kt, v, 0.3, bp, Int32(sk), &a) == 0)
    guard ck_attention_packed_available() != 0 else { return }
    #expect(ck_attention_pack_k(Int32(sk), Int32(d), k, Int32(d), &kp) == 0)
    #expect(ck_attention_rows_packed(Int32(nq), Int32(sk), Int32(d), q, Int32(d), kp, v, Int32(d), 0.3, bp, Int32(sk),
                                     &b, Int32(d)) == 0)
    if ck_cpu_features() & 2 != 0 {
        #expect(a == b)
    } else {
        let scale = a.map { abs($0) }.max() ?? 0
        let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        #expect(err <= 1e-5 * scale, "max |packed - transposed| = \(err), max |out| = \(scale)")
    }
}
