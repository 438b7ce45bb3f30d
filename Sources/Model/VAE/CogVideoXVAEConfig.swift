import SafeTensors

/// `AutoencoderKLCogVideoX`'s config.json (diffusers 0.42.1; shared/reference/cogvideox-spec.md §3.1).
public struct CogVideoXVAEConfig: Sendable, Equatable {
    public var inChannels = 3
    public var outChannels = 3
    public var blockOutChannels = [128, 256, 256, 512]
    public var latentChannels = 16
    public var layersPerBlock = 3
    public var normEps: Float = 1e-6
    public var normNumGroups = 32
    public var temporalCompressionRatio = 4
    public var sampleHeight = 480
    public var sampleWidth = 720
    public var scalingFactor: Double = 1.15258426
    public var invertScaleLatents = false
    public var useQuantConv = false
    public var usePostQuantConv = false

    public init() {}

    public init(json: JSONValue) throws {
        func int(_ k: String, _ d: Int) throws -> Int {
            guard let v = json[k], !v.isNull else { return d }
            guard let i = v.int else { throw ConfigError.wrongType(key: k, expected: "integer", found: v.kindName) }
            return i
        }
        inChannels = try int("in_channels", 3)
        outChannels = try int("out_channels", 3)
        if let v = json["block_out_channels"], !v.isNull {
            guard let a = v.array?.compactMap(\.int), a.count == v.array?.count, !a.isEmpty else {
                throw ConfigError.wrongType(key: "block_out_channels", expected: "list of integers", found: v.kindName)
            }
            blockOutChannels = a
        }
        latentChannels = try int("latent_channels", 16)
        layersPerBlock = try int("layers_per_block", 3)
        if let e = json["norm_eps"]?.double { normEps = Float(e) }
        normNumGroups = try int("norm_num_groups", 32)
        if let t = json["temporal_compression_ratio"]?.double { temporalCompressionRatio = Int(t) }
        sampleHeight = try int("sample_height", 480)
        sampleWidth = try int("sample_width", 720)
        if let s = json["scaling_factor"]?.double { scalingFactor = s }
        invertScaleLatents = json["invert_scale_latents"]?.bool ?? false
        useQuantConv = json["use_quant_conv"]?.bool ?? false
        usePostQuantConv = json["use_post_quant_conv"]?.bool ?? false
        if useQuantConv || usePostQuantConv {
            throw ConfigError.invalidValue(key: useQuantConv ? "use_quant_conv" : "use_post_quant_conv",
                                           reason: "quant convs are not used by any CogVideoX VAE and are not supported")
        }
        for c in blockOutChannels where c % normNumGroups != 0 {
            throw ConfigError.invalidValue(key: "norm_num_groups", reason: "\(normNumGroups) does not divide block_out_channels \(blockOutChannels)")
        }
        guard temporalCompressionRatio > 0, temporalCompressionRatio & (temporalCompressionRatio - 1) == 0 else {
            throw ConfigError.invalidValue(key: "temporal_compression_ratio", reason: "must be a power of two")
        }
        if let types = json["down_block_types"]?.array, types.count != blockOutChannels.count {
            throw ConfigError.invalidValue(key: "down_block_types", reason: "needs one entry per block_out_channels")
        }
    }

    /// Number of blocks whose samplers also compress time (log2 of the temporal ratio).
    public var temporalCompressLevel: Int { temporalCompressionRatio.trailingZeroBitCount }
    /// Spatial factor between pixels and latents.
    public var spatialScale: Int { 1 << (blockOutChannels.count - 1) }
}
