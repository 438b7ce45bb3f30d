// Port of diffusers' CogVideoXTransformer3DModel (models/transformers/cogvideox_transformer_3d.py, 0.42.1) and the
// modules it uses (CogVideoXPatchEmbed, TimestepEmbedding, CogVideoXLayerNormZero, AdaLayerNorm, Attention with
// CogVideoXAttnProcessor2_0, FeedForward). Every class mirrors the reference module tree, so each property holds
// the checkpoint key it fills. fp32 activations; weights in their stored type.
// shared/reference/cogvideox-spec.md §2 and §9.
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

    /// Returns modulated (video, text) and the gates (video, text), each gate `[B, D]`.
    func callAsFunction(_ h: Tensor, _ e: Tensor, siluEmb: Tensor) throws -> (Tensor, Tensor, [Float], [Float]) {
        let d = norm.dim, b = h.shape[0]
        let m = try linear(siluEmb).data   // [B, 6D]: shift, scale, gate, enc_shift, enc_scale, enc_gate
        func chunk(_ i: Int, _ bi: Int) -> ArraySlice<Float> { m[(bi * 6 + i) * d..<((bi * 6 + i) * d + d)] }
        func modulate(_ x: Tensor, shift: Int, scale: Int) throws -> Tensor {
            var y = try norm(x)
            let n = y.shape[1]
            y.data.withUnsafeMutableBufferPointer { p in
                for bi in 0..<b {
                    let sh = Array(chunk(shift, bi)), sc = Array(chunk(scale, bi))
                    for t in 0..<n { let row = (bi * n + t) * d; for j in 0..<d { p[row + j] = p[row + j] * (1 + sc[j]) + sh[j] } }
                }
            }
            return y
        }
        let gate = (0..<b).flatMap { Array(chunk(2, $0)) }, encGate = (0..<b).flatMap { Array(chunk(5, $0)) }
        return (try modulate(h, shift: 0, scale: 1), try modulate(e, shift: 3, scale: 4), gate, encGate)
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
        let (b, n) = (s.shape[0], s.shape[1])
        func heads(_ x: Tensor) -> Tensor { Ops.permute(x.reshaped([b, n, self.heads, headDim]), [0, 2, 1, 3]) }
        var q = try normQ(heads(toQ(s)))
        var k = try normK(heads(toK(s)))
        let v = heads(try toV(s))
        if let rotary {
            try CogVideoXAttention.applyRotary(&q, rotary, from: textLength)
            try CogVideoXAttention.applyRotary(&k, rotary, from: textLength)
        }
        let o = try Ops.attention(q: q, k: k, v: v, scale: 1 / Float(headDim).squareRoot())
        return try toOut(Ops.permute(o, [0, 2, 1, 3]).reshaped([b, n, self.heads * headDim]))
    }

    /// Interleaved-pair rotation of tokens `start…` of x `[B, H, S, hd]`: `x·cos + rot(x)·sin`, rot = (−x₁, x₀).
    static func applyRotary(_ x: inout Tensor, _ r: RotaryTables, from start: Int) throws {
        let (b, h, s, hd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard r.cos.shape == [s - start, hd] else {
            throw ModuleError.shapeMismatch("RoPE table", expected: [s - start, hd], found: r.cos.shape)
        }
        x.data.withUnsafeMutableBufferPointer { p in
            r.cos.data.withUnsafeBufferPointer { cp in
                r.sin.data.withUnsafeBufferPointer { sp in
                    for bh in 0..<(b * h) {
                        for t in start..<s {
                            let row = (bh * s + t) * hd, tr = (t - start) * hd
                            var j = 0
                            while j < hd {
                                let x0 = p[row + j], x1 = p[row + j + 1]
                                p[row + j] = x0 * cp[tr + j] + (-x1) * sp[tr + j]
                                p[row + j + 1] = x1 * cp[tr + j + 1] + x0 * sp[tr + j + 1]
                                j += 2
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
        let chunk = max(256, (1 << 24) / (4 * d))
        if rows <= chunk { return try (net[2] as! Linear)((net[0] as! GELUProjection)(x)) }
        var out = Tensor(zeros: x.shape)
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

    /// h `[B, N, D]` video, e `[B, T, D]` text.
    func callAsFunction(_ h: Tensor, _ e: Tensor, siluEmb: Tensor, rotary: RotaryTables?) throws -> (Tensor, Tensor) {
        let t = e.shape[1], n = h.shape[1]
        var (nh, ne, g, eg) = try norm1(h, e, siluEmb: siluEmb)
        let a = try attn1(Ops.concat([ne, nh], axis: 1), textLength: t, rotary: rotary)
        var h = CogVideoXBlock.gatedAdd(h, Ops.slice(a, axis: 1, t..<(t + n)), gate: g)
        var e = CogVideoXBlock.gatedAdd(e, Ops.slice(a, axis: 1, 0..<t), gate: eg)
        (nh, ne, g, eg) = try norm2(h, e, siluEmb: siluEmb)
        let f = try ff(Ops.concat([ne, nh], axis: 1))
        h = CogVideoXBlock.gatedAdd(h, Ops.slice(f, axis: 1, t..<(t + n)), gate: g)
        e = CogVideoXBlock.gatedAdd(e, Ops.slice(f, axis: 1, 0..<t), gate: eg)
        return (h, e)
    }

    /// x + gate[b] · y for x, y `[B, S, D]`, gate `[B·D]`.
    static func gatedAdd(_ x: Tensor, _ y: Tensor, gate: [Float]) -> Tensor {
        var out = x
        let (b, s, d) = (x.shape[0], x.shape[1], x.shape[2])
        out.data.withUnsafeMutableBufferPointer { o in
            y.data.withUnsafeBufferPointer { yp in
                for bi in 0..<b { for t in 0..<s {
                    let row = (bi * s + t) * d
                    for j in 0..<d { o[row + j] += gate[bi * d + j] * yp[row + j] }
                } }
            }
        }
        return out
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
        let embeds = try patchEmbed(text: enc, video: x)
        let t = enc.shape[1]
        var e = Ops.slice(embeds, axis: 1, 0..<t)
        var hs = Ops.slice(embeds, axis: 1, t..<embeds.shape[1])
        for block in blocks {
            (hs, e) = try block(hs, e, siluEmb: siluEmb, rotary: c.useRotaryPositionalEmbeddings ? rotary : nil)
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
