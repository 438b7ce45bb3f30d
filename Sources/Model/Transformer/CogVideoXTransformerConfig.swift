import SafeTensors

/// `CogVideoXTransformer3DModel`'s config.json (diffusers 0.42.1 constructor; shared/reference/cogvideox-spec.md §2.1).
/// Absent keys take the class defaults.
public struct CogVideoXTransformerConfig: Sendable, Equatable {
    public var numAttentionHeads = 30
    public var attentionHeadDim = 64
    public var inChannels = 16
    public var outChannels = 16
    public var flipSinToCos = true
    public var freqShift = 0
    public var timeEmbedDim = 512
    public var ofsEmbedDim: Int? = nil
    public var textEmbedDim = 4096
    public var numLayers = 30
    public var attentionBias = true
    public var sampleWidth = 90
    public var sampleHeight = 60
    public var sampleFrames = 49
    public var patchSize = 2
    public var patchSizeT: Int? = nil
    public var temporalCompressionRatio = 4
    public var maxTextSeqLength = 226
    public var activationFn = "gelu-approximate"
    public var timestepActivationFn = "silu"
    public var normElementwiseAffine = true
    public var normEps: Float = 1e-5
    public var spatialInterpolationScale: Double = 1.875
    public var temporalInterpolationScale: Double = 1.0
    public var useRotaryPositionalEmbeddings = false
    public var useLearnedPositionalEmbeddings = false
    public var patchBias = true

    public init() {}

    public init(json: JSONValue) throws {
        let c = ConfigReader(json)
        let int = c.int, optionalInt = c.optionalInt, bool = c.bool, double = c.double, string = c.string
        numAttentionHeads = try int("num_attention_heads", 30)
        attentionHeadDim = try int("attention_head_dim", 64)
        inChannels = try int("in_channels", 16)
        outChannels = try optionalInt("out_channels") ?? 16
        flipSinToCos = try bool("flip_sin_to_cos", true)
        freqShift = try int("freq_shift", 0)
        timeEmbedDim = try int("time_embed_dim", 512)
        ofsEmbedDim = try optionalInt("ofs_embed_dim")
        textEmbedDim = try int("text_embed_dim", 4096)
        numLayers = try int("num_layers", 30)
        attentionBias = try bool("attention_bias", true)
        sampleWidth = try int("sample_width", 90)
        sampleHeight = try int("sample_height", 60)
        sampleFrames = try int("sample_frames", 49)
        patchSize = try int("patch_size", 2)
        patchSizeT = try optionalInt("patch_size_t")
        temporalCompressionRatio = try int("temporal_compression_ratio", 4)
        maxTextSeqLength = try int("max_text_seq_length", 226)
        activationFn = try string("activation_fn", "gelu-approximate")
        timestepActivationFn = try string("timestep_activation_fn", "silu")
        normElementwiseAffine = try bool("norm_elementwise_affine", true)
        normEps = Float(try double("norm_eps", 1e-5))
        spatialInterpolationScale = try double("spatial_interpolation_scale", 1.875)
        temporalInterpolationScale = try double("temporal_interpolation_scale", 1.0)
        useRotaryPositionalEmbeddings = try bool("use_rotary_positional_embeddings", false)
        useLearnedPositionalEmbeddings = try bool("use_learned_positional_embeddings", false)
        patchBias = try bool("patch_bias", true)
        if useLearnedPositionalEmbeddings && !useRotaryPositionalEmbeddings {
            throw ConfigError.invalidValue(key: "use_learned_positional_embeddings",
                                           reason: "learned positional embeddings require use_rotary_positional_embeddings (no such CogVideoX checkpoint exists)")
        }
        for (k, v) in [("num_attention_heads", numAttentionHeads), ("attention_head_dim", attentionHeadDim), ("in_channels", inChannels),
                       ("num_layers", numLayers), ("patch_size", patchSize), ("time_embed_dim", timeEmbedDim)] where v <= 0 {
            throw ConfigError.invalidValue(key: k, reason: "must be positive, found \(v)")
        }
        if let o = ofsEmbedDim, o != timeEmbedDim {
            throw ConfigError.invalidValue(key: "ofs_embed_dim", reason: "must equal time_embed_dim (\(timeEmbedDim)), found \(o)")
        }
        guard activationFn == "gelu-approximate" || activationFn == "gelu" else {
            throw ConfigError.invalidValue(key: "activation_fn", reason: "'\(activationFn)' is not supported")
        }
        if useRotaryPositionalEmbeddings && attentionHeadDim % 8 != 0 {
            throw ConfigError.invalidValue(key: "attention_head_dim", reason: "must be a multiple of 8 for 3D RoPE, found \(attentionHeadDim)")
        }
    }

    /// Transformer width `D`.
    public var innerDim: Int { numAttentionHeads * attentionHeadDim }
    /// 2b's fixed sin-cos table (recomputed, not stored) is used when RoPE is off.
    public var usesSinCosTable: Bool { !useRotaryPositionalEmbeddings }
}
