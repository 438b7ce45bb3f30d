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
        let c = ConfigReader(json)
        let int = c.int
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
        normEps = Float(try c.double("norm_eps", Double(normEps)))
        normNumGroups = try int("norm_num_groups", 32)
        temporalCompressionRatio = Int(try c.double("temporal_compression_ratio", Double(temporalCompressionRatio)))
        sampleHeight = try int("sample_height", 480)
        sampleWidth = try int("sample_width", 720)
        scalingFactor = try c.double("scaling_factor", scalingFactor)
        invertScaleLatents = try c.bool("invert_scale_latents", false)
        useQuantConv = try c.bool("use_quant_conv", false)
        usePostQuantConv = try c.bool("use_post_quant_conv", false)
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
