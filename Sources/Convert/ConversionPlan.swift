import Foundation
import GGUFLike
import Model
import SafeTensors

/// The CogVideoX variant, detected from the transformer config and confirmed from tensor shapes.
public enum CogVideoXVariant: String, Sendable, CaseIterable {
    case v2b = "2b", v5b = "5b", v5bI2V = "5b-i2v", v15 = "1.5-5b", v15I2V = "1.5-5b-i2v"

    /// From config.json values (diffusers class defaults for absent keys).
    public static func detect(config: JSONValue) -> CogVideoXVariant {
        let rope = config["use_rotary_positional_embeddings"]?.bool ?? false
        let learned = config["use_learned_positional_embeddings"]?.bool ?? false
        let temporalPatch = config["patch_size_t"].map { !$0.isNull } ?? false
        let inChannels = config["in_channels"]?.int ?? 16
        let outChannels = config["out_channels"]?.int ?? 16
        let imageConditioned = inChannels == 2 * outChannels
        if temporalPatch { return imageConditioned ? .v15I2V : .v15 }
        if !rope { return .v2b }
        return learned || imageConditioned ? .v5bI2V : .v5b
    }

    /// Checks the detected variant against the checkpoint's tensors; returns a message when they contradict.
    public func contradiction(shapeOf: (String) -> [Int]?, config: JSONValue) -> String? {
        let inChannels = config["in_channels"]?.int ?? 16
        if let proj = shapeOf("patch_embed.proj.weight") {
            let linear = proj.count == 2
            if linear != (self == .v15 || self == .v15I2V) {
                return "config.json describes CogVideoX \(rawValue) but patch_embed.proj.weight has shape \(proj) (\(linear ? "a 1.5 Linear" : "a 1.0 Conv2d") patch embedding)"
            }
            let channels = linear ? proj[1] / 8 : (proj.count > 1 ? proj[1] : 0)
            if channels != inChannels {
                return "config.json has in_channels \(inChannels) but patch_embed.proj.weight has shape \(proj) (\(channels) input channels)"
            }
        }
        let hasOfs = shapeOf("ofs_embedding.linear_1.weight") != nil
        if hasOfs != (self == .v15I2V) {
            return "config.json describes CogVideoX \(rawValue) but the checkpoint \(hasOfs ? "has" : "lacks") ofs_embedding"
        }
        let hasTable = shapeOf("patch_embed.pos_embedding") != nil
        if hasTable != (self == .v5bI2V) {
            return "config.json describes CogVideoX \(rawValue) but the checkpoint \(hasTable ? "has" : "lacks") a learned patch_embed.pos_embedding"
        }
        return nil
    }
}

/// Everything a conversion will write, decided before a byte is written.
public struct ConversionPlan {
    public struct Component {
        public let name: String
        public let checkpoint: SafeTensorsCheckpoint
        public let tensors: [SourceTensor]
        public let configText: String?
    }

    public let source: DiscoveredCheckpoint
    public let components: [Component]
    public let variant: CogVideoXVariant?
    /// Text of model_index.json, scheduler_config.json, tokenizer_config.json; bytes of spiece.model.
    public let modelIndexText: String?
    public let schedulerText: String?
    public let tokenizerConfigText: String?
    public let spieceModel: [UInt8]?

    /// Discovers `path` and lists every output tensor. `only` restricts to some components.
    public init(path: String, only: Set<String>? = nil) throws {
        source = try CheckpointDiscovery.discover(path)
        func text(_ p: String?) -> String? { p.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } }
        var comps: [Component] = []
        var variant: CogVideoXVariant? = nil
        for c in source.components {
            guard let weights = c.weightsPath else { continue }
            let checkpoint = try SafeTensorsCheckpoint(path: weights)
            let names = checkpoint.names
            var name = c.name
            var tensors: [SourceTensor] = []
            if source.kind == .file {
                // A lone file: SAT names are translated; diffusers names are recognised by their first keys.
                if SATKeyMapping.looksLikeSATTransformer(names) {
                    name = "transformer"
                    tensors = try ConversionPlan.satTensors(checkpoint, vae: false)
                } else if SATKeyMapping.looksLikeSATVAE(names) {
                    name = "vae"
                    tensors = try ConversionPlan.satTensors(checkpoint, vae: true)
                } else {
                    name = names.contains { $0.hasPrefix("transformer_blocks.") } ? "transformer"
                        : names.contains { $0.hasPrefix("decoder.") || $0.hasPrefix("encoder.down_blocks") } ? "vae"
                        : names.contains { $0.hasPrefix("encoder.block.") } ? "text_encoder" : "transformer"
                    tensors = ConversionPlan.plainTensors(checkpoint)
                }
            } else {
                guard PipelineComponent(rawValue: name) != nil else { continue }
                tensors = ConversionPlan.plainTensors(checkpoint)
            }
            if let only, !only.contains(name) { continue }
            if name == "text_encoder" { tensors = tensors.filter { !T5Encoder.isIgnoredKey($0.name) } }
            let configText = text(c.configPath)
            if name == "transformer", let cfgText = configText, let cfg = try? JSONParser.parse(cfgText) {
                let v = CogVideoXVariant.detect(config: cfg)
                let shapes = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.shape) })
                if let problem = v.contradiction(shapeOf: { shapes[$0] }, config: cfg) {
                    throw ConvertError.variantContradiction(problem)
                }
                variant = v
            }
            comps.append(Component(name: name, checkpoint: checkpoint, tensors: tensors, configText: configText))
        }
        guard !comps.isEmpty else { throw ConvertError.noComponents(path) }
        components = comps.sorted { ConversionPlan.order($0.name) < ConversionPlan.order($1.name) }
        self.variant = variant
        modelIndexText = source.kind == .pipeline ? text((path as NSString).appendingPathComponent("model_index.json")) : nil
        schedulerText = text(source.component("scheduler")?.configPath)
        let tokenizerFolder = source.component("tokenizer")?.folder
        tokenizerConfigText = text(tokenizerFolder.map { ($0 as NSString).appendingPathComponent("tokenizer_config.json") })
        spieceModel = tokenizerFolder.flatMap { FileManager.default.contents(atPath: ($0 as NSString).appendingPathComponent("spiece.model")) }.map { [UInt8]($0) }
    }

    static func order(_ c: String) -> Int { CogVideoXGGUFKeys.components.firstIndex(of: c) ?? 99 }

    static func plainTensors(_ c: SafeTensorsCheckpoint) -> [SourceTensor] {
        c.names.compactMap { n in
            guard let i = c.info(n) else { return nil }
            return SourceTensor(name: n, shape: i.shape, sourceName: n, sourceDType: i.dtype, sourceShape: i.shape, blocks: nil, blockCount: 1)
        }
    }

    /// Translates a SAT checkpoint's tensors (shared/reference/cogvideox-spec.md §7.3–7.4).
    static func satTensors(_ c: SafeTensorsCheckpoint, vae: Bool) throws -> [SourceTensor] {
        let keepTable = c.names.contains { $0.hasSuffix("mixins.pos_embed.pos_embedding") }
            && c.names.contains { $0.contains("patch_embed.proj.weight") } && ConversionPlan.isI2VTable(c)
        var out: [SourceTensor] = []
        for n in c.names {
            guard let i = c.info(n) else { continue }
            let target = vae ? SATKeyMapping.vaeTarget(for: n) : SATKeyMapping.transformerTarget(for: n, keepLearnedPositions: keepTable)
            switch target {
            case .drop: continue
            case .unknown: throw ConvertError.unknownSATKey(n)
            case .rename(let t):
                out.append(SourceTensor(name: t, shape: i.shape, sourceName: n, sourceDType: i.dtype, sourceShape: i.shape, blocks: nil, blockCount: 1))
            case .splitRows(let count, let targets):
                guard let rows = i.shape.first, rows % count == 0 else { throw ConvertError.badSplit(tensor: n, rows: i.shape.first ?? 0, blocks: count) }
                for t in targets {
                    var shape = i.shape
                    shape[0] = rows / count * t.blocks.count
                    out.append(SourceTensor(name: t.name, shape: shape, sourceName: n, sourceDType: i.dtype, sourceShape: i.shape,
                                            blocks: t.blocks, blockCount: count))
                }
            }
        }
        return out.sorted { $0.name < $1.name }
    }

    /// True when a SAT transformer is image-conditioned (its patch embedding takes twice the output channels), the
    /// only case (5b-I2V) whose `pos_embedding` is a learned table rather than 2B's recomputed sin-cos table.
    static func isI2VTable(_ c: SafeTensorsCheckpoint) -> Bool {
        guard let proj = c.names.first(where: { $0.hasSuffix("mixins.patch_embed.proj.weight") }).flatMap({ c.info($0) }),
              let out = c.names.first(where: { $0.hasSuffix("mixins.final_layer.linear.weight") }).flatMap({ c.info($0) }),
              proj.shape.count == 4 else { return false }
        let outChannels = out.shape[0] / (proj.shape[2] * proj.shape[3])
        return proj.shape[1] == 2 * outChannels
    }
}
