import SafeTensors

/// The fields of a T5 `config.json` the encoder needs (transformers' `T5Config`; CogVideoX ships google/t5-v1_1-xxl).
public struct T5Config: Sendable, Equatable {
    public var vocabSize = 32128
    public var dModel = 4096
    public var dKV = 64
    public var dFF = 10240
    public var numLayers = 24
    public var numHeads = 64
    public var relativeAttentionNumBuckets = 32
    public var relativeAttentionMaxDistance = 128
    public var layerNormEpsilon: Float = 1e-6
    /// `gated-gelu` (T5 v1.1) or `relu` (original T5).
    public var feedForwardProj = "gated-gelu"

    public init() {}

    /// Reads config.json; absent fields take transformers' defaults, wrong types throw naming the key.
    public init(json: JSONValue) throws {
        let c = ConfigReader(json)
        let int = c.int
        vocabSize = try int("vocab_size", 32128)
        dModel = try int("d_model", 512)
        dKV = try int("d_kv", 64)
        dFF = try int("d_ff", 2048)
        numLayers = try int("num_layers", 6)
        numHeads = try int("num_heads", 8)
        relativeAttentionNumBuckets = try int("relative_attention_num_buckets", 32)
        relativeAttentionMaxDistance = try int("relative_attention_max_distance", 128)
        layerNormEpsilon = Float(try c.double("layer_norm_epsilon", Double(layerNormEpsilon)))
        feedForwardProj = try c.string("feed_forward_proj", feedForwardProj)
        guard ["gated-gelu", "relu", "gated-relu", "gelu"].contains(feedForwardProj) else {
            throw ConfigError.invalidValue(key: "feed_forward_proj", reason: "'\(feedForwardProj)' is not supported")
        }
        for (k, v) in [("d_model", dModel), ("d_kv", dKV), ("num_heads", numHeads), ("num_layers", numLayers), ("vocab_size", vocabSize)] where v <= 0 {
            throw ConfigError.invalidValue(key: k, reason: "must be positive, found \(v)")
        }
    }

    public var isGated: Bool { feedForwardProj.hasPrefix("gated") }
    public var innerDim: Int { numHeads * dKV }
}

/// A config.json problem, naming the key.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case wrongType(key: String, expected: String, found: String)
    case invalidValue(key: String, reason: String)
    case missing(String)

    public var description: String {
        switch self {
        case .wrongType(let k, let e, let f): return "config key \"\(k)\" must be a \(e), found \(f)"
        case .invalidValue(let k, let r): return "config key \"\(k)\": \(r)"
        case .missing(let k): return "config key \"\(k)\" is missing"
        }
    }
}
