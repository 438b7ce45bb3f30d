// Port of transformers' T5EncoderModel (models/t5/modeling_t5.py, transformers 5.24) as CogVideoX uses it:
// no attention mask, relative position bias computed in block 0 and shared, no 1/√d scaling, RMS norms,
// gated GELU (tanh) feed-forward. Activations are fp32 throughout, which also avoids T5's fp16 overflow.
// shared/reference/cogvideox-spec.md §4.2–4.3.
import Foundation

final class T5Attention: Module {
    @ModuleInfo(key: "q") var q: Linear
    @ModuleInfo(key: "k") var k: Linear
    @ModuleInfo(key: "v") var v: Linear
    @ModuleInfo(key: "o") var o: Linear
    @ModuleInfo(key: "relative_attention_bias") var relativeAttentionBias: Embedding?
    let heads: Int, dKV: Int

    init(_ c: T5Config, hasRelativeBias: Bool) {
        heads = c.numHeads
        dKV = c.dKV
        super.init()
        _q.wrappedValue = Linear(inFeatures: c.dModel, outFeatures: c.innerDim, bias: false)
        _k.wrappedValue = Linear(inFeatures: c.dModel, outFeatures: c.innerDim, bias: false)
        _v.wrappedValue = Linear(inFeatures: c.dModel, outFeatures: c.innerDim, bias: false)
        _o.wrappedValue = Linear(inFeatures: c.innerDim, outFeatures: c.dModel, bias: false)
        _relativeAttentionBias.wrappedValue = hasRelativeBias ? Embedding(count: c.relativeAttentionNumBuckets, dim: c.numHeads) : nil
    }

    /// x `[B, S, d_model]`, bias `[1, H, S, S]`.
    func callAsFunction(_ x: Tensor, positionBias: Tensor) throws -> Tensor {
        let (b, s) = (x.shape[0], x.shape[1])
        func heads(_ t: Tensor) -> Tensor { Ops.permute(t.reshaped([b, s, self.heads, dKV]), [0, 2, 1, 3]) }
        let attn = try Ops.attention(q: heads(q(x)), k: heads(k(x)), v: heads(v(x)), scale: 1, bias: positionBias)
        return try o(Ops.permute(attn, [0, 2, 1, 3]).reshaped([b, s, self.heads * dKV]))
    }
}

final class T5LayerSelfAttention: Module {
    @ModuleInfo(key: "SelfAttention") var selfAttention: T5Attention
    @ModuleInfo(key: "layer_norm") var layerNorm: RMSNorm

    init(_ c: T5Config, hasRelativeBias: Bool) {
        super.init()
        _selfAttention.wrappedValue = T5Attention(c, hasRelativeBias: hasRelativeBias)
        _layerNorm.wrappedValue = RMSNorm(dim: c.dModel, eps: c.layerNormEpsilon)
    }

    func callAsFunction(_ x: Tensor, positionBias: Tensor) throws -> Tensor {
        Ops.add(x, try selfAttention(layerNorm(x), positionBias: positionBias))
    }
}

final class T5DenseGatedActDense: Module {
    @ModuleInfo(key: "wi_0") var wi0: Linear
    @ModuleInfo(key: "wi_1") var wi1: Linear
    @ModuleInfo(key: "wo") var wo: Linear

    init(_ c: T5Config) {
        super.init()
        _wi0.wrappedValue = Linear(inFeatures: c.dModel, outFeatures: c.dFF, bias: false)
        _wi1.wrappedValue = Linear(inFeatures: c.dModel, outFeatures: c.dFF, bias: false)
        _wo.wrappedValue = Linear(inFeatures: c.dFF, outFeatures: c.dModel, bias: false)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var g = try wi0(x)
        Ops.geluInPlace(&g.data, approximate: true)
        return try wo(Ops.mul(g, try wi1(x)))
    }
}

final class T5DenseActDense: Module {
    @ModuleInfo(key: "wi") var wi: Linear
    @ModuleInfo(key: "wo") var wo: Linear

    init(_ c: T5Config) {
        super.init()
        _wi.wrappedValue = Linear(inFeatures: c.dModel, outFeatures: c.dFF, bias: false)
        _wo.wrappedValue = Linear(inFeatures: c.dFF, outFeatures: c.dModel, bias: false)
    }

    func callAsFunction(_ x: Tensor, gelu: Bool) throws -> Tensor {
        var h = try wi(x)
        if gelu { Ops.geluInPlace(&h.data, approximate: true) } else { h.data = h.data.map { max(0, $0) } }
        return try wo(h)
    }
}

final class T5LayerFF: Module {
    @ModuleInfo(key: "DenseReluDense") var dense: Module
    @ModuleInfo(key: "layer_norm") var layerNorm: RMSNorm
    let config: T5Config

    init(_ c: T5Config) {
        config = c
        super.init()
        _dense.wrappedValue = c.isGated ? T5DenseGatedActDense(c) : T5DenseActDense(c)
        _layerNorm.wrappedValue = RMSNorm(dim: c.dModel, eps: c.layerNormEpsilon)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try layerNorm(x)
        let f: Tensor
        if let gated = dense as? T5DenseGatedActDense { f = try gated(h) }
        else { f = try (dense as! T5DenseActDense)(h, gelu: config.feedForwardProj.hasSuffix("gelu")) }
        return Ops.add(x, f)
    }
}

final class T5Block: Module {
    @ModuleInfo(key: "layer") var layer: [Module]

    init(_ c: T5Config, index: Int) {
        super.init()
        _layer.wrappedValue = [T5LayerSelfAttention(c, hasRelativeBias: index == 0), T5LayerFF(c)]
    }

    var attention: T5LayerSelfAttention { layer[0] as! T5LayerSelfAttention }
    var feedForward: T5LayerFF { layer[1] as! T5LayerFF }
}

final class T5Stack: Module {
    @ModuleInfo(key: "block") var block: [T5Block]
    @ModuleInfo(key: "final_layer_norm") var finalLayerNorm: RMSNorm

    init(_ c: T5Config) {
        super.init()
        _block.wrappedValue = (0..<c.numLayers).map { T5Block(c, index: $0) }
        _finalLayerNorm.wrappedValue = RMSNorm(dim: c.dModel, eps: c.layerNormEpsilon)
    }
}

/// T5 encoder: token ids → `last_hidden_state [B, S, d_model]`. Keys are transformers' state-dict names
/// (`shared.weight`, `encoder.block.{k}.layer.0.SelfAttention.q.weight`, …).
public final class T5Encoder: Module {
    @ModuleInfo(key: "shared") var shared: Embedding
    @ModuleInfo(key: "encoder") var encoder: T5Stack
    public let config: T5Config

    public init(config: T5Config) {
        self.config = config
        super.init()
        _shared.wrappedValue = Embedding(count: config.vocabSize, dim: config.dModel)
        _encoder.wrappedValue = T5Stack(config)
    }

    /// Checkpoint keys the encoder ignores: the decoder and LM head of a full T5, and the tied alias of the embedding.
    public static func isIgnoredKey(_ key: String) -> Bool {
        key.hasPrefix("decoder.") || key.hasPrefix("lm_head.") || key == "encoder.embed_tokens.weight"
    }

    /// ids `[B][S]` (equal lengths) → `[B, S, d_model]`.
    public func callAsFunction(_ ids: [[Int]]) throws -> Tensor {
        guard let s = ids.first?.count, s > 0, ids.allSatisfy({ $0.count == s }) else {
            throw ModuleError.invalidInput("T5 input must be a non-empty batch of equal-length id sequences")
        }
        let b = ids.count
        var x = try shared(ids.flatMap { $0 }).reshaped([b, s, config.dModel])
        let bias = try positionBias(length: s)
        for blk in encoder.block {
            x = try blk.attention(x, positionBias: bias)
            x = try blk.feedForward(x)
        }
        return try encoder.finalLayerNorm(x)
    }

    /// `[1, H, S, S]`: `relative_attention_bias[bucket(j − i), h]` from block 0.
    func positionBias(length s: Int) throws -> Tensor {
        guard let table = encoder.block.first?.attention.selfAttention.relativeAttentionBias else {
            throw ModuleError.unbound("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        }
        let w = try table.weight.floats("relative_attention_bias.weight")
        let h = config.numHeads
        var out = Tensor(zeros: [1, h, s, s])
        for i in 0..<s { for j in 0..<s {
            let bucket = T5Encoder.relativePositionBucket(j - i, buckets: config.relativeAttentionNumBuckets,
                                                         maxDistance: config.relativeAttentionMaxDistance)
            for hh in 0..<h { out.data[(hh * s + i) * s + j] = w[bucket * h + hh] }
        } }
        return out
    }

    /// transformers' `_relative_position_bucket` (bidirectional), with the log computed in float32 as it is there.
    public static func relativePositionBucket(_ relative: Int, buckets: Int, maxDistance: Int) -> Int {
        let half = buckets / 2
        var bucket = relative > 0 ? half : 0
        let n = abs(relative)
        let maxExact = half / 2
        if n < maxExact { return bucket + n }
        let v = Float(n) / Float(maxExact)
        let denominator = Float(Foundation.log(Double(maxDistance) / Double(maxExact)))  // Python math.log, a double
        let large = maxExact + Int((Foundation.log(v) / denominator * Float(half - maxExact)).rounded(.towardZero))
        bucket += min(large, half - 1)
        return bucket
    }
}
