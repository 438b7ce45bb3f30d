import Foundation
import GGUFLike
import SafeTensors

/// Where a pipeline's parts come from: a diffusers folder or one of our GGUF files. Weights are bound lazily, so
/// the T5 encoder can be released before denoising.
public struct PipelineSource: Sendable {
    public let transformerConfig: JSONValue
    public let vaeConfig: JSONValue
    public let textEncoderConfig: JSONValue
    public let schedulerConfig: SchedulerConfig
    public let tokenizer: T5Tokenizer
    public let pipelineClass: String?
    var weights: @Sendable (String) throws -> WeightSource

    /// Opens a diffusers pipeline folder or our `.gguf` file.
    public init(path: String) throws {
        if path.hasSuffix(".gguf") {
            let file = try GGUFFile(path: path)
            func config(_ c: String) throws -> JSONValue {
                guard let t = file[CogVideoXGGUFKeys.config(c)]?.string else { throw PipelineError.missingComponent(c, in: path) }
                return try JSONParser.parse(t)
            }
            transformerConfig = try config("transformer")
            vaeConfig = try config("vae")
            textEncoderConfig = try config("text_encoder")
            schedulerConfig = try SchedulerConfig(gguf: file)
            guard let spm = file[CogVideoXGGUFKeys.spieceModel]?.bytes else { throw PipelineError.missingComponent("tokenizer", in: path) }
            tokenizer = try T5Tokenizer(model: SentencePieceModel(bytes: spm))
            pipelineClass = file[CogVideoXGGUFKeys.modelIndex]?.string.flatMap { try? JSONParser.parse($0) }?["_class_name"]?.string
            weights = { GGUFWeightSource(file: file, component: $0) }
        } else {
            func json(_ rel: String) throws -> JSONValue {
                let p = (path as NSString).appendingPathComponent(rel)
                guard let d = FileManager.default.contents(atPath: p) else { throw PipelineError.missingComponent(rel, in: path) }
                return try JSONParser.parse(d)
            }
            transformerConfig = try json("transformer/config.json")
            vaeConfig = try json("vae/config.json")
            textEncoderConfig = try json("text_encoder/config.json")
            schedulerConfig = try SchedulerConfig(json: json("scheduler/scheduler_config.json"))
            tokenizer = try T5Tokenizer(path: (path as NSString).appendingPathComponent("tokenizer"))
            pipelineClass = (try? json("model_index.json"))?["_class_name"]?.string
            weights = { try SafeTensorsWeightSource(path: (path as NSString).appendingPathComponent($0)) }
        }
    }

    /// The same source with every ≥ 2-D weight re-encoded as `type` on load (to run a checkpoint at another
    /// precision without converting it on disk).
    public func requantized(_ type: GGMLType) -> PipelineSource {
        var copy = self
        let base = weights
        copy.weights = { RequantizedWeightSource(try base($0), type: type) }
        return copy
    }

    /// Builds and binds a component model; throws listing every key problem when the checkpoint does not fit.
    func load<M: Module>(_ component: String, _ model: M, ignoring: (String) -> Bool = { _ in false }) throws -> M {
        let report = try WeightLoader.bind(model, to: weights(component), ignoring: ignoring)
        guard report.isClean else { throw PipelineError.weightsDoNotFit(component, report.description) }
        return model
    }
}

public enum PipelineError: Error, Equatable, CustomStringConvertible {
    case missingComponent(String, in: String)
    case weightsDoNotFit(String, String)
    case invalidRequest(String)
    case cancelled

    public var description: String {
        switch self {
        case .missingComponent(let c, let p): return "\(p) has no \(c)"
        case .weightsDoNotFit(let c, let r): return "the \(c) weights do not fit the model (run `validate` for details):\n\(r)"
        case .invalidRequest(let m): return m
        case .cancelled: return "generation cancelled"
        }
    }
}
