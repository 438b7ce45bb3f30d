// Port of diffusers' CogVideoXTransformer3DModel (models/transformers/cogvideox_transformer_3d.py, 0.42.1) and the
// modules it uses (CogVideoXPatchEmbed, TimestepEmbedding, CogVideoXLayerNormZero, AdaLayerNorm, Attention with
// CogVideoXAttnProcessor2_0, FeedForward). Every class mirrors the reference module tree, so each property holds
// the checkpoint key it fills. fp32 activations; weights in their stored type.
// shared/reference/cogvideox-spec.md §2 and §9.
import CKernels
import Foundation

/// `TimestepEmbedding`: `linear_2(silu(linear_1(x)))`.
final class TimestepEmbedding: Module {
    @ModuleInfo(key: "linear_1") var linear1: Linear
    @ModuleInfo(key: "linear_2") var linear2: Linear

    init(inChannels: Int, timeEmbedDim: Int) {
        super.init()
        _linear1.wrappedValue = Linear(inFeatures: inChannels, outFeatures: timeEmbedDim)
        _linear2.wrappedValue = Linear(inFeatures: timeEmbedDim, outFeatures: timeEmbedDim)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor { try linear2(Ops.silu(linear1(x))) }
}

/// `CogVideoXPatchEmbed`: text projection, video patchify (Conv2d for 1.0, Linear over 2×2×2 patches for 1.5),
/// and the absolute position table (2b sin-cos, recomputed per grid; 5b-I2V learned).
final class CogVideoXPatchEmbed: Module {
    @ModuleInfo(key: "proj") var proj: Module
    @ModuleInfo(key: "text_proj") var textProj: Linear
    @ParameterInfo(key: "pos_embedding") var posEmbedding: Parameter?
    let c: CogVideoXTransformerConfig

    init(_ c: CogVideoXTransformerConfig) {
        self.c = c
        super.init()
        let d = c.innerDim
        if let pt = c.patchSizeT {
            _proj.wrappedValue = Linear(inFeatures: c.inChannels * c.patchSize * c.patchSize * pt, outFeatures: d)
        } else {
            _proj.wrappedValue = Conv2d(inChannels: c.inChannels, outChannels: d, kernel: c.patchSize, stride: c.patchSize, bias: c.patchBias)
        }
        _textProj.wrappedValue = Linear(inFeatures: c.textEmbedDim, outFeatures: d)
        let patches = (c.sampleHeight / c.patchSize) * (c.sampleWidth / c.patchSize) * ((c.sampleFrames - 1) / c.temporalCompressionRatio + 1)
        _posEmbedding.wrappedValue = c.useLearnedPositionalEmbeddings ? Parameter(shape: [1, c.maxTextSeqLength + patches, d]) : nil
    }

    /// text `[B, T, text_dim]`, video `[B, F, C, H, W]` → `[B, T + N, D]`.
    func callAsFunction(text: Tensor, video: Tensor) throws -> Tensor {
        let (b, f, ch, h, w) = (video.shape[0], video.shape[1], video.shape[2], video.shape[3], video.shape[4])
        let d = c.innerDim, p = c.patchSize
        let t = try textProj(text)
        var tokens: Tensor
        if let pt = c.patchSizeT {
            guard f % pt == 0 else { throw ModuleError.invalidInput("CogVideoX 1.5 needs an even number of latent frames, got \(f)") }
            // [B, F, C, H, W] → [B, F/pt, H/p, W/p, C, pt, p, p] → Linear.
            let v = video.reshaped([b, f / pt, pt, ch, h / p, p, w / p, p])
            let patches = Ops.permute(v, [0, 1, 4, 6, 3, 2, 5, 7]).reshaped([b, (f / pt) * (h / p) * (w / p), ch * pt * p * p])
            tokens = try (proj as! Linear)(patches)
        } else {
            let y = try (proj as! Conv2d)(video.reshaped([b * f, ch, h, w]))          // [B·F, D, H/p, W/p]
            tokens = Ops.permute(y.reshaped([b, f, d, (h / p) * (w / p)]), [0, 1, 3, 2]).reshaped([b, f * (h / p) * (w / p), d])
        }
        var embeds = Ops.concat([t, tokens], axis: 1)
        if c.usesSinCosTable || c.useLearnedPositionalEmbeddings {
            if c.useLearnedPositionalEmbeddings && (c.sampleWidth != w || c.sampleHeight != h) {
                throw ModuleError.invalidInput("this model (learned positional table, CogVideoX-5b-I2V) only generates at its sample size \(c.sampleHeight * 8)×\(c.sampleWidth * 8)")
            }
            let preFrames = (f - 1) * c.temporalCompressionRatio + 1
            let table: [Float]
            if c.sampleHeight != h || c.sampleWidth != w || c.sampleFrames != preFrames || !c.useLearnedPositionalEmbeddings {
                // diffusers recomputes the sin-cos table for any other grid (also for 5b-I2V at another frame count).
                let video = PositionalEmbeddings.sinCos3D(dim: d, height: h / p, width: w / p, frames: (preFrames - 1) / c.temporalCompressionRatio + 1,
                                                          spatialScale: c.spatialInterpolationScale, temporalScale: c.temporalInterpolationScale)
                table = [Float](repeating: 0, count: t.shape[1] * d) + video
            } else {
                table = try posEmbedding!.floats("patch_embed.pos_embedding")
            }
            guard table.count == embeds.shape[1] * d else {
                throw ModuleError.invalidInput("positional table has \(table.count / d) rows for a sequence of \(embeds.shape[1]) tokens")
            }
            embeds = Ops.add(embeds, Tensor(shape: [embeds.shape[1], d], data: table))
        }
        return embeds
    }
}

/// `CogVideoXLayerNormZero`: one LayerNorm, separate AdaLN modulation for the video and text streams.
final class CogVideoXLayerNormZero: Module {
    @ModuleInfo(key: "linear") var linear: Linear
    @ModuleInfo(key: "norm") var norm: LayerNorm

    init(conditioningDim: Int, dim: Int, eps: Float, affine: Bool) {
        super.init()
        _linear.wrappedValue = Linear(inFeatures: conditioningDim, outFeatures: 6 * dim)
        _norm.wrappedValue = LayerNorm(dim: dim, eps: eps, affine: affine)
    }

    /// The joint sequence `[B, T + N, D]` (text first, as diffusers concatenates it): the text `e` `[B, T, D]` and
    /// video `h` `[B, N, D]` normalized together and each modulated with its own shift and scale, built in one
    /// parallel pass that reads each source row once and writes its normalized, modulated row (the arithmetic of
    /// `LayerNorm.applyInPlace` then the modulation, with the Double statistics summed in 8 lanes so they
    /// vectorize; no cleared buffer, no separate copy). Also returns the gates (video, text) `[B·D]`.
    func joint(_ h: Tensor, _ e: Tensor, siluEmb: Tensor) throws -> (Tensor, [Float], [Float]) {
        let d = norm.dim, b = h.shape[0], n = h.shape[1], t = e.shape[1], s = t + n
        let m = try linear(siluEmb).data   // [B, 6D]: shift, scale, gate, enc_shift, enc_scale, enc_gate
        let w = try norm.weight?.floats("weight"), nb = try norm.bias?.floats("bias")
        let eps = Double(norm.eps), d8 = d & ~7
        var joint = Tensor.uninitialized([b, s, d])
        joint.data.withUnsafeMutableBufferPointer { p in
            e.data.withUnsafeBufferPointer { ep in
                h.data.withUnsafeBufferPointer { hp in
                    m.withUnsafeBufferPointer { mp in
                        (w ?? []).withUnsafeBufferPointer { wp in
                            (nb ?? []).withUnsafeBufferPointer { bp in
                                nonisolated(unsafe) let base = p.baseAddress!, mb = mp.baseAddress!, E = ep.baseAddress!,
                                                        H = hp.baseAddress!
                                nonisolated(unsafe) let W = w == nil ? nil : wp.baseAddress, B = nb == nil ? nil : bp.baseAddress
                                Engine.parallelRanges(b * s, minimumChunk: 64) { r in
                                    for row in r {
                                        let bi = row / s, ti = row % s, isText = ti < t
                                        let src = isText ? E + (bi * t + ti) * d : H + (bi * n + ti - t) * d
                                        let shift = mb + (bi * 6 + (isText ? 3 : 0)) * d, scale = mb + (bi * 6 + (isText ? 4 : 1)) * d
                                        // Double statistics in 8 lanes (vectorized), the rest scalar.
                                        var acc = SIMD8<Double>(), mean = 0.0
                                        for i in stride(from: 0, to: d8, by: 8) { for l in 0..<8 { acc[l] += Double(src[i + l]) } }
                                        for i in d8..<d { mean += Double(src[i]) }
                                        mean = (mean + acc.sum()) / Double(d)
                                        var acc2 = SIMD8<Double>(), v = 0.0
                                        for i in stride(from: 0, to: d8, by: 8) {
                                            for l in 0..<8 { let c = Double(src[i + l]) - mean; acc2[l] += c * c }
                                        }
                                        for i in d8..<d { let c = Double(src[i]) - mean; v += c * c }
                                        v += acc2.sum()
                                        let mf = Float(mean), invf = Float(1 / (v / Double(d) + eps).squareRoot())
                                        let x = base + row * d
                                        for i in 0..<d {
                                            var y = (src[i] - mf) * invf
                                            if let W { y *= W[i] }
                                            if let B { y += B[i] }
                                            x[i] = y * (1 + scale[i]) + shift[i]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        func chunk(_ i: Int, _ bi: Int) -> ArraySlice<Float> { m[(bi * 6 + i) * d..<((bi * 6 + i) * d + d)] }
        let gate = (0..<b).flatMap { Array(chunk(2, $0)) }, encGate = (0..<b).flatMap { Array(chunk(5, $0)) }
        return (joint, gate, encGate)
    }
}

/// `Attention` with `CogVideoXAttnProcessor2_0`: joint text+video self-attention, q/k LayerNorm per head, RoPE on
/// video tokens only, SDPA with scale 1/√head_dim.
final class CogVideoXAttention: Module {
    @ModuleInfo(key: "to_q") var toQ: Linear
    @ModuleInfo(key: "to_k") var toK: Linear
    @ModuleInfo(key: "to_v") var toV: Linear
    @ModuleInfo(key: "to_out.0") var toOut: Linear
    @ModuleInfo(key: "norm_q") var normQ: LayerNorm
    @ModuleInfo(key: "norm_k") var normK: LayerNorm
    let heads: Int, headDim: Int
    /// Heads processed together; nil picks the largest group whose q (k, v) stays within 16 MB.
    var headsPerGroup: Int?

    /// This layer's attention precision regardless of `Engine.attentionPrecision` and the weights (tests).
    var precisionOverride: AttentionPrecision?

    /// The precision of the attention products (see `AttentionPrecision`): `precisionOverride` or
    /// `Engine.attentionPrecision` when set,
    /// else `.bf16` when `to_q` is Q8_0/Q4_0 (its activations are int8-quantized per block already; cosine to
    /// diffusers stays ≥ 0.999) on a CPU where bf16 products are the faster ones (`Engine.bf16ProductsPreferred`),
    /// and `.f32` for F32/F16/BF16 weights, so their parity with diffusers is untouched.
    /// `.f32` where the CPU lacks AVX-512 BF16 or the head size is not a multiple of 16.
    var attentionPrecision: AttentionPrecision {
        let wanted: AttentionPrecision
        if let forced = precisionOverride ?? Engine.attentionPrecision {
            wanted = forced
        } else {
            switch toQ.weight.value?.type {
            case .q8_0?, .q4_0?: wanted = Engine.bf16ProductsPreferred ? .bf16 : .f32
            default: wanted = .f32
            }
        }
        return wanted == .bf16 && Engine.bf16AttentionAvailable && headDim % 16 == 0 && headDim <= 256 ? .bf16 : .f32
    }

    init(dim: Int, heads: Int, headDim: Int, bias: Bool) {
        self.heads = heads
        self.headDim = headDim
        super.init()
        _toQ.wrappedValue = Linear(inFeatures: dim, outFeatures: heads * headDim, bias: bias)
        _toK.wrappedValue = Linear(inFeatures: dim, outFeatures: heads * headDim, bias: bias)
        _toV.wrappedValue = Linear(inFeatures: dim, outFeatures: heads * headDim, bias: bias)
        _toOut.wrappedValue = Linear(inFeatures: heads * headDim, outFeatures: dim, bias: true)
        _normQ.wrappedValue = LayerNorm(dim: headDim, eps: 1e-6)
        _normK.wrappedValue = LayerNorm(dim: headDim, eps: 1e-6)
    }

    /// s `[B, S, D]` (text first, `textLength` tokens) → `[B, S, D]`.
    func callAsFunction(_ s: Tensor, textLength: Int, rotary: RotaryTables?) throws -> Tensor {
        try toOut(headOutputs(s, textLength: textLength, rotary: rotary))
    }

    /// The attention output of every head before `to_out`, heads concatenated: s `[B, S, D]` → `[B, S, H·hd]`.
    ///
    /// Heads are processed a few at a time: q, k and v of one group (≈ 32 MB each at any sequence length; 16 MB on
    /// CPUs without AVX-512) are projected with zero-copy row views of `to_q`/`to_k`/`to_v`, normalized, rotated and
    /// attended, and the group's output is written into its columns (the AVX-512 kernels read the token-major
    /// projections and write those columns directly). So the full-width q, k, v never exist at once (at 17,776
    /// tokens each would be 136 MB per batch element).
    func headOutputs(_ s: Tensor, textLength: Int, rotary: RotaryTables?) throws -> Tensor {
        let (b, n) = (s.shape[0], s.shape[1])
        let width = heads * headDim
        if let rotary, rotary.cos.shape != [n - textLength, headDim] {
            throw ModuleError.shapeMismatch("RoPE table", expected: [n - textLength, headDim], found: rotary.cos.shape)
        }
        let precision = attentionPrecision
        // The strided kernels keep no head-major copies and no separate output per group, so groups may be twice as
        // wide for the same memory (fewer, wider projections: each re-quantizes s for the int8 GEMM).
        let groupBytes = ck_attention_packed_available() != 0 ? 1 << 23 : 1 << 22
        let group = max(1, min(heads, headsPerGroup ?? groupBytes / max(1, b * n * headDim)))
        var joined = Tensor.uninitialized([b, n, width])   // every head group writes its columns
        var h0 = 0
        while h0 < heads {
            let g = min(group, heads - h0)
            let rows = (h0 * headDim)..<((h0 + g) * headDim)
            // [B, S, g·hd] → norm over hd → RoPE on video tokens.
            func project(_ linear: Linear, _ norm: LayerNorm?) throws -> Tensor {
                var x = try CogVideoXAttention.rowView(linear, rows)(s)
                if let norm {
                    try CogVideoXAttention.normalizeAndRotate(&x, norm, heads: g, rotary: rotary, from: textLength)
                }
                return x
            }
            let q = try project(toQ, normQ), k = try project(toK, normK), v = try project(toV, nil)
            let scale = 1 / Float(headDim).squareRoot(), base = h0 * headDim
            // Straight from the token-major projections into the group's columns of `joined`.
            if try Ops.attentionColumns(q: q, k: k, v: v, heads: g, headDim: headDim, scale: scale, precision: precision,
                                        into: &joined, column: base) {
                h0 += g
                continue
            }
            func headMajor(_ x: Tensor) -> Tensor { Ops.permute(x.reshaped([b, n, g, headDim]), [0, 2, 1, 3]) }
            let o = try Ops.attention(q: headMajor(q), k: headMajor(k), v: headMajor(v), scale: scale)   // [B, g, S, hd]
            let hd = headDim
            joined.data.withUnsafeMutableBufferPointer { jp in
                o.data.withUnsafeBufferPointer { op in
                    nonisolated(unsafe) let J = jp.baseAddress!, O = op.baseAddress!
                    Engine.parallelRanges(b * n, minimumChunk: 256) { r in
                        for row in r {
                            let bi = row / n, t = row % n
                            for hi in 0..<g {
                                (J + row * width + base + hi * hd).update(from: O + ((bi * g + hi) * n + t) * hd, count: hd)
                            }
                        }
                    }
                }
            }
            h0 += g
        }
        return joined
    }

    /// A Linear computing output features `rows` of `linear`: a zero-copy view of those weight rows (whole rows,
    /// so any stored type, quantized included) and a copy of the bias slice.
    static func rowView(_ linear: Linear, _ rows: Range<Int>) throws -> Linear {
        if rows == 0..<linear.outFeatures { return linear }
        let w = try linear.weight.weight("weight")
        let rb = w.rowBytes
        let view = Linear(inFeatures: linear.inFeatures, outFeatures: rows.count, bias: linear.bias != nil)
        view.weight.value = WeightTensor(name: w.name, shape: [rows.count, linear.inFeatures], type: w.type,
                                         bytes: UnsafeRawBufferPointer(rebasing: w.bytes[(rows.lowerBound * rb)..<(rows.upperBound * rb)]),
                                         owner: w.owner)
        if let bias = linear.bias, let viewBias = view.bias {
            viewBias.value = WeightTensor.owned(name: "bias", shape: [rows.count], values: Array(try bias.floats("bias")[rows]))
        }
        return view
    }

    /// The per-head LayerNorm (`norm_q`/`norm_k`) and the RoPE rotation of tokens `start…` in one parallel pass over
    /// the token-major x `[B, S, heads, hd]` (each head row is read once and written once). The statistics are
    /// Double like `LayerNorm.applyInPlace`, summed in 8 lanes (so they vectorize; the order differs from a single
    /// running sum only in the last bits of a Double); the normalization and the rotation are the same Float
    /// operations as `applyInPlace` followed by `applyRotaryTokenMajor`.
    static func normalizeAndRotate(_ x: inout Tensor, _ norm: LayerNorm, heads: Int, rotary r: RotaryTables?,
                                   from start: Int) throws {
        let hd = norm.dim
        guard hd % 8 == 0, x.count % hd == 0 else {
            try norm.applyInPlace(&x.data)
            if let r { applyRotaryTokenMajor(&x, r, heads: heads, from: start) }
            return
        }
        let w = try norm.weight?.floats("weight"), nb = try norm.bias?.floats("bias")
        let eps = Double(norm.eps), b = max(1, x.shape[0]), s = x.count / (heads * hd) / b
        let tokens = b * s
        x.data.withUnsafeMutableBufferPointer { p in
            (w ?? []).withUnsafeBufferPointer { wp in
                (nb ?? []).withUnsafeBufferPointer { bp in
                    (r?.cos.data ?? []).withUnsafeBufferPointer { cp in
                        (r?.sin.data ?? []).withUnsafeBufferPointer { sp in
                            nonisolated(unsafe) let P = p.baseAddress!
                            nonisolated(unsafe) let W = w == nil ? nil : wp.baseAddress, B = nb == nil ? nil : bp.baseAddress
                            nonisolated(unsafe) let C = r == nil ? nil : cp.baseAddress, S = r == nil ? nil : sp.baseAddress
                            Engine.parallelRanges(tokens, minimumChunk: 64) { range in
                                for token in range {
                                    let t = token % s
                                    let table = t >= start ? C.map { _ in (t - start) * hd } : nil
                                    for hi in 0..<heads {
                                        let row = P + (token * heads + hi) * hd
                                        var acc = SIMD8<Double>()
                                        for i in stride(from: 0, to: hd, by: 8) {
                                            for l in 0..<8 { acc[l] += Double(row[i + l]) }
                                        }
                                        let mean = acc.sum() / Double(hd)
                                        var acc2 = SIMD8<Double>()
                                        for i in stride(from: 0, to: hd, by: 8) {
                                            for l in 0..<8 { let c = Double(row[i + l]) - mean; acc2[l] += c * c }
                                        }
                                        let mf = Float(mean), invf = Float(1 / (acc2.sum() / Double(hd) + eps).squareRoot())
                                        for i in 0..<hd {
                                            var y = (row[i] - mf) * invf
                                            if let W { y *= W[i] }
                                            if let B { y += B[i] }
                                            row[i] = y
                                        }
                                        if let tr = table, let C, let S {
                                            var j = 0
                                            while j < hd {
                                                let x0 = row[j], x1 = row[j + 1]
                                                row[j] = x0 * C[tr + j] + (-x1) * S[tr + j]
                                                row[j + 1] = x1 * C[tr + j + 1] + x0 * S[tr + j + 1]
                                                j += 2
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Interleaved-pair rotation (`x·cos + rot(x)·sin`, rot = (−x₁, x₀)) of tokens `start…` of every head of the
    /// token-major x `[B, S, heads, hd]`; table row i is token start + i.
    static func applyRotaryTokenMajor(_ x: inout Tensor, _ r: RotaryTables, heads: Int, from start: Int) {
        let hd = r.cos.shape[1], s = x.count / (heads * hd) / max(1, x.shape[0]), b = x.shape[0]
        x.data.withUnsafeMutableBufferPointer { p in
            r.cos.data.withUnsafeBufferPointer { cp in
                r.sin.data.withUnsafeBufferPointer { sp in
                    nonisolated(unsafe) let P = p.baseAddress!, C = cp.baseAddress!, S = sp.baseAddress!
                    Engine.parallelRanges(b * (s - start), minimumChunk: 64) { range in
                        for i in range {
                            let bi = i / (s - start), t = start + i % (s - start)
                            let tr = (t - start) * hd
                            for hi in 0..<heads {
                                let row = ((bi * s + t) * heads + hi) * hd
                                var j = 0
                                while j < hd {
                                    let x0 = P[row + j], x1 = P[row + j + 1]
                                    P[row + j] = x0 * C[tr + j] + (-x1) * S[tr + j]
                                    P[row + j + 1] = x1 * C[tr + j + 1] + x0 * S[tr + j + 1]
                                    j += 2
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GELU` module of FeedForward (`net.0`): a Linear then GELU (tanh approximation for "gelu-approximate").
final class GELUProjection: Module {
    @ModuleInfo(key: "proj") var proj: Linear
    let approximate: Bool
    init(dim: Int, inner: Int, approximate: Bool) {
        self.approximate = approximate
        super.init()
        _proj.wrappedValue = Linear(inFeatures: dim, outFeatures: inner)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor { Ops.gelu(try proj(x), approximate: approximate) }
}

/// A parameterless module (the Dropout slots of `nn.Sequential` lists, which keep the indices of later layers).
final class Identity: Module {}

/// `FeedForward`: `net.0` (GELU projection to 4D), `net.1` dropout, `net.2` Linear back to D.
final class FeedForward: Module {
    @ModuleInfo(key: "net") var net: [Module]
    init(dim: Int, approximate: Bool) {
        super.init()
        _net.wrappedValue = [GELUProjection(dim: dim, inner: 4 * dim, approximate: approximate), Identity(),
                             Linear(inFeatures: 4 * dim, outFeatures: dim)]
    }

    /// Runs in chunks of tokens so the 4D-wide intermediate stays small at long sequences.
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let d = x.shape.last!, rows = x.count / d
        let chunk = max(256, (1 << 22) / (4 * d))
        if rows <= chunk { return try (net[2] as! Linear)((net[0] as! GELUProjection)(x)) }
        var out = Tensor.uninitialized(x.shape)   // every chunk writes its rows
        var r0 = 0
        while r0 < rows {
            let n = min(chunk, rows - r0)
            let part = Tensor(shape: [n, d], data: Array(x.data[(r0 * d)..<((r0 + n) * d)]))
            let y = try (net[2] as! Linear)((net[0] as! GELUProjection)(part))
            out.data.replaceSubrange((r0 * d)..<((r0 + n) * d), with: y.data)
            r0 += n
        }
        return out
    }
}

/// `CogVideoXBlock`: expert AdaLN, joint attention, feed-forward over the joint sequence.
final class CogVideoXBlock: Module {
    @ModuleInfo(key: "norm1") var norm1: CogVideoXLayerNormZero
    @ModuleInfo(key: "attn1") var attn1: CogVideoXAttention
    @ModuleInfo(key: "norm2") var norm2: CogVideoXLayerNormZero
    @ModuleInfo(key: "ff") var ff: FeedForward

    init(_ c: CogVideoXTransformerConfig) {
        super.init()
        let d = c.innerDim
        _norm1.wrappedValue = CogVideoXLayerNormZero(conditioningDim: c.timeEmbedDim, dim: d, eps: c.normEps, affine: c.normElementwiseAffine)
        _attn1.wrappedValue = CogVideoXAttention(dim: d, heads: c.numAttentionHeads, headDim: c.attentionHeadDim, bias: c.attentionBias)
        _norm2.wrappedValue = CogVideoXLayerNormZero(conditioningDim: c.timeEmbedDim, dim: d, eps: c.normEps, affine: c.normElementwiseAffine)
        _ff.wrappedValue = FeedForward(dim: d, approximate: c.activationFn == "gelu-approximate")
    }

    /// h `[B, N, D]` video, e `[B, T, D]` text, both updated in place. Only one joint-sequence buffer, the
    /// concatenated head outputs and one attention/FFN output are alive at a time besides h and e.
    func callAsFunction(_ h: inout Tensor, _ e: inout Tensor, siluEmb: Tensor, rotary: RotaryTables?) throws {
        let t = e.shape[1]
        var (joint, gate, encGate) = try norm1.joint(h, e, siluEmb: siluEmb)
        var heads = try attn1.headOutputs(joint, textLength: t, rotary: rotary)
        joint = Tensor(zeros: [0])
        var out = try attn1.toOut(heads)
        heads = Tensor(zeros: [0])
        CogVideoXBlock.gatedAdd(&e, out, fromRow: 0, gate: encGate)
        CogVideoXBlock.gatedAdd(&h, out, fromRow: t, gate: gate)
        out = Tensor(zeros: [0])
        (joint, gate, encGate) = try norm2.joint(h, e, siluEmb: siluEmb)
        out = try ff(joint)
        joint = Tensor(zeros: [0])
        CogVideoXBlock.gatedAdd(&e, out, fromRow: 0, gate: encGate)
        CogVideoXBlock.gatedAdd(&h, out, fromRow: t, gate: gate)
    }

    /// x[b, i] += gate[b] · y[b, fromRow + i] for x `[B, R, D]`, y `[B, S, D]`, gate `[B·D]`.
    static func gatedAdd(_ x: inout Tensor, _ y: Tensor, fromRow r0: Int, gate: [Float]) {
        let (b, r, d) = (x.shape[0], x.shape[1], x.shape[2]), s = y.shape[1]
        x.data.withUnsafeMutableBufferPointer { o in
            y.data.withUnsafeBufferPointer { yp in
                gate.withUnsafeBufferPointer { gp in
                    nonisolated(unsafe) let O = o.baseAddress!, Y = yp.baseAddress!, G = gp.baseAddress!
                    Engine.parallelRanges(b * r, minimumChunk: 64) { range in
                        for row in range {
                            let bi = row / r, i = row % r
                            let xo = O + row * d, yo = Y + (bi * s + r0 + i) * d, g = G + bi * d
                            for j in 0..<d { xo[j] += g[j] * yo[j] }
                        }
                    }
                }
            }
        }
    }
}

/// `AdaLayerNorm(chunk_dim=1)` of the output: `LN(x)·(1 + scale) + shift` with (shift, scale) from the embedding.
final class AdaLayerNorm: Module {
    @ModuleInfo(key: "linear") var linear: Linear
    @ModuleInfo(key: "norm") var norm: LayerNorm

    init(embeddingDim: Int, dim: Int, eps: Float, affine: Bool) {
        super.init()
        _linear.wrappedValue = Linear(inFeatures: embeddingDim, outFeatures: 2 * dim)
        _norm.wrappedValue = LayerNorm(dim: dim, eps: eps, affine: affine)
    }

    func callAsFunction(_ x: Tensor, siluEmb: Tensor) throws -> Tensor {
        let d = norm.dim, (b, n) = (x.shape[0], x.shape[1])
        let m = try linear(siluEmb).data
        var y = try norm(x)
        y.data.withUnsafeMutableBufferPointer { p in
            for bi in 0..<b {
                for t in 0..<n { let row = (bi * n + t) * d
                    for j in 0..<d { p[row + j] = p[row + j] * (1 + m[bi * 2 * d + d + j]) + m[bi * 2 * d + j] } }
            }
        }
        return y
    }
}

/// The CogVideoX denoiser for every published variant (2b, 5b, 5b-I2V, 1.5-5B, 1.5-5B-I2V), selected by config.
/// Input latents are `[B, F, C, H, W]` (frames before channels); the output is a v-prediction of the same layout
/// (1.5: F rounded up to even).
public final class CogVideoXTransformer3D: Module {
    @ModuleInfo(key: "patch_embed") var patchEmbed: CogVideoXPatchEmbed
    @ModuleInfo(key: "time_embedding") var timeEmbedding: TimestepEmbedding
    @ModuleInfo(key: "ofs_embedding") var ofsEmbedding: TimestepEmbedding?
    @ModuleInfo(key: "transformer_blocks") var blocks: [CogVideoXBlock]
    @ModuleInfo(key: "norm_final") var normFinal: LayerNorm
    @ModuleInfo(key: "norm_out") var normOut: AdaLayerNorm
    @ModuleInfo(key: "proj_out") var projOut: Linear
    public let config: CogVideoXTransformerConfig

    /// The precision the attention layers run in with the bound weights and the current `Engine.attentionPrecision`
    /// (`.bf16` by default only for Q8_0/Q4_0 weights; see `AttentionPrecision`).
    public var attentionPrecision: AttentionPrecision { blocks.first?.attn1.attentionPrecision ?? .f32 }

    public init(config c: CogVideoXTransformerConfig) {
        config = c
        super.init()
        let d = c.innerDim
        _patchEmbed.wrappedValue = CogVideoXPatchEmbed(c)
        _timeEmbedding.wrappedValue = TimestepEmbedding(inChannels: d, timeEmbedDim: c.timeEmbedDim)
        _ofsEmbedding.wrappedValue = c.ofsEmbedDim.map { TimestepEmbedding(inChannels: $0, timeEmbedDim: $0) }
        _blocks.wrappedValue = (0..<c.numLayers).map { _ in CogVideoXBlock(c) }
        _normFinal.wrappedValue = LayerNorm(dim: d, eps: c.normEps, affine: c.normElementwiseAffine)
        _normOut.wrappedValue = AdaLayerNorm(embeddingDim: c.timeEmbedDim, dim: d, eps: c.normEps, affine: c.normElementwiseAffine)
        let outDim = c.patchSize * c.patchSize * (c.patchSizeT ?? 1) * c.outChannels
        _projOut.wrappedValue = Linear(inFeatures: d, outFeatures: outDim)
    }

    /// One denoiser evaluation.
    /// - Parameters:
    ///   - hiddenStates: latents `[B, F, C_in, H, W]` (latent H, W).
    ///   - encoderHiddenStates: T5 output `[B, T, text_dim]`.
    ///   - timestep: one timestep value per batch element (0…999).
    ///   - ofs: the 1.5-I2V ofs value (the pipeline passes 2.0); ignored by other variants.
    ///   - rotary: RoPE tables from `PositionalEmbeddings.rotary3D` (RoPE variants only).
    public func callAsFunction(hiddenStates x: Tensor, encoderHiddenStates enc: Tensor, timestep: [Float], ofs: Float? = nil,
                               rotary: RotaryTables? = nil) throws -> Tensor {
        try Engine.withLargeBlocksInHeap {
            try forward(hiddenStates: x, encoderHiddenStates: enc, timestep: timestep, ofs: ofs, rotary: rotary)
        }
    }

    private func forward(hiddenStates x: Tensor, encoderHiddenStates enc: Tensor, timestep: [Float], ofs: Float?,
                         rotary: RotaryTables?) throws -> Tensor {
        let c = config
        guard x.rank == 5, x.shape[2] == c.inChannels else {
            throw ModuleError.shapeMismatch("hidden_states", expected: [-1, -1, c.inChannels, -1, -1], found: x.shape)
        }
        let (b, f, h, w) = (x.shape[0], x.shape[1], x.shape[3], x.shape[4])
        guard enc.rank == 3, enc.shape[0] == b, enc.shape[2] == c.textEmbedDim else {
            throw ModuleError.shapeMismatch("encoder_hidden_states", expected: [b, -1, c.textEmbedDim], found: enc.shape)
        }
        guard timestep.count == b else { throw ModuleError.invalidInput("expected \(b) timesteps, got \(timestep.count)") }
        guard h % c.patchSize == 0, w % c.patchSize == 0 else {
            throw ModuleError.invalidInput("latent size \(h)×\(w) is not a multiple of the patch size \(c.patchSize)")
        }
        if c.useRotaryPositionalEmbeddings && rotary == nil { throw ModuleError.invalidInput("this variant needs RoPE tables") }

        var emb = try timeEmbedding(PositionalEmbeddings.timestep(timestep, dim: c.innerDim, flipSinToCos: c.flipSinToCos,
                                                                  downscaleFreqShift: Double(c.freqShift)))
        if let ofsEmbedding {
            let o = try ofsEmbedding(PositionalEmbeddings.timestep([ofs ?? 2.0], dim: c.ofsEmbedDim!, flipSinToCos: c.flipSinToCos,
                                                                   downscaleFreqShift: Double(c.freqShift)))
            for bi in 0..<b { for j in 0..<c.timeEmbedDim { emb.data[bi * c.timeEmbedDim + j] += o.data[j] } }
        }
        let siluEmb = Ops.silu(emb)
        let t = enc.shape[1]
        var (e, hs) = try { () throws -> (Tensor, Tensor) in
            let embeds = try patchEmbed(text: enc, video: x)
            return (Ops.slice(embeds, axis: 1, 0..<t), Ops.slice(embeds, axis: 1, t..<embeds.shape[1]))
        }()
        for block in blocks {
            try block(&hs, &e, siluEmb: siluEmb, rotary: c.useRotaryPositionalEmbeddings ? rotary : nil)
        }
        hs = try normFinal(hs)
        hs = try normOut(hs, siluEmb: siluEmb)
        hs = try projOut(hs)
        let p = c.patchSize, co = c.outChannels
        if let pt = c.patchSizeT {
            let fp = (f + pt - 1) / pt
            let y = hs.reshaped([b, fp, h / p, w / p, co, pt, p, p])
            return Ops.permute(y, [0, 1, 5, 4, 2, 6, 3, 7]).reshaped([b, fp * pt, co, h, w])
        }
        let y = hs.reshaped([b, f, h / p, w / p, co, p, p])
        return Ops.permute(y, [0, 1, 4, 2, 5, 3, 6]).reshaped([b, f, co, h, w])
    }
}
