import Foundation
import SafeTensors

/// One component of a checkpoint (a diffusers component folder, or a lone weights file).
public struct DiscoveredComponent: Sendable {
    /// Diffusers component name: `transformer`, `vae`, `text_encoder`, `tokenizer`, `scheduler`, or the folder name.
    public let name: String
    /// `_class_name` (diffusers) or `architectures[0]` (transformers) from config.json, or model_index.json's entry.
    public let className: String?
    /// The component folder, when there is one.
    public let folder: String?
    /// Its config.json, when present.
    public let configPath: String?
    /// The weights file or index (`*.safetensors` / `*.safetensors.index.json`), when the component has weights.
    public let weightsPath: String?

    /// The parsed config.json (nil when absent).
    public func config() throws -> JSONValue? {
        guard let configPath else { return nil }
        return try CheckpointDiscovery.readJSON(configPath)
    }
}

/// What a path given on the command line turned out to be.
public struct DiscoveredCheckpoint: Sendable {
    public enum Kind: String, Sendable {
        /// A diffusers pipeline folder (`model_index.json` + component folders).
        case pipeline
        /// One component folder (`transformer/` with config.json and weights).
        case component
        /// A single `.safetensors` file or index json.
        case file
    }
    public let kind: Kind
    public let path: String
    /// The pipeline's `_class_name` from model_index.json (pipelines only).
    public let pipelineClass: String?
    public let components: [DiscoveredComponent]
    /// Components model_index.json lists whose folders are absent (reported, not fatal: a user may convert only
    /// some components of a partial download).
    public var missingComponents: [String] = []

    public func component(_ name: String) -> DiscoveredComponent? { components.first { $0.name == name } }
}

public enum DiscoveryError: Error, Equatable, CustomStringConvertible {
    case notFound(String)
    case unrecognized(String)
    case invalidJSON(path: String, reason: String)
    case invalidModelIndex(path: String, reason: String)
    case missingComponentFolder(component: String, path: String)

    public var description: String {
        switch self {
        case .notFound(let p): return "\(p) does not exist"
        case .unrecognized(let p):
            return "\(p) is not a .safetensors file, a *.safetensors.index.json, a component folder (config.json + weights) or a pipeline folder (model_index.json)"
        case .invalidJSON(let p, let r): return "\(p) is not valid JSON: \(r)"
        case .invalidModelIndex(let p, let r): return "\(p): \(r)"
        case .missingComponentFolder(let c, let p): return "model_index.json lists component `\(c)` but \(p) does not exist"
        }
    }
}

public enum CheckpointDiscovery {
    /// Classifies `path` and lists its components. Nothing but small JSON files is read.
    public static func discover(_ path: String) throws -> DiscoveredCheckpoint {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { throw DiscoveryError.notFound(path) }
        if !isDir.boolValue {
            guard path.hasSuffix(".safetensors") || path.hasSuffix(".safetensors.index.json") else {
                throw DiscoveryError.unrecognized(path)
            }
            let name = (path as NSString).lastPathComponent
            return DiscoveredCheckpoint(kind: .file, path: path, pipelineClass: nil, components: [
                DiscoveredComponent(name: name, className: nil, folder: nil, configPath: nil, weightsPath: path),
            ])
        }
        let modelIndex = (path as NSString).appendingPathComponent("model_index.json")
        if fm.fileExists(atPath: modelIndex) {
            let index = try readJSON(modelIndex)
            guard case .object(let entries) = index else {
                throw DiscoveryError.invalidModelIndex(path: modelIndex, reason: "must be a JSON object")
            }
            var components: [DiscoveredComponent] = []
            var missing: [String] = []
            for (key, value) in entries where !key.hasPrefix("_") {
                // Components are ["library", "ClassName"]; other keys are pipeline options.
                guard case .array(let pair) = value, pair.count == 2 else { continue }
                if pair.allSatisfy(\.isNull) { continue }  // optional component not present
                let folder = (path as NSString).appendingPathComponent(key)
                guard fm.fileExists(atPath: folder) else { missing.append(key); continue }
                components.append(component(folder: folder, name: key, className: pair[1].string))
            }
            var found = DiscoveredCheckpoint(kind: .pipeline, path: path, pipelineClass: index["_class_name"]?.string,
                                             components: components)
            found.missingComponents = missing
            return found
        }
        let c = component(folder: path, name: nil, className: nil)
        guard c.weightsPath != nil || c.configPath != nil else { throw DiscoveryError.unrecognized(path) }
        return DiscoveredCheckpoint(kind: .component, path: path, pipelineClass: nil, components: [c])
    }

    static func component(folder: String, name: String?, className: String?) -> DiscoveredComponent {
        let fm = FileManager.default
        let configPath = ["config.json", "scheduler_config.json"].map { (folder as NSString).appendingPathComponent($0) }
            .first { fm.fileExists(atPath: $0) }
        let weights = try? SafeTensorsCheckpoint.weightsPath(inFolder: folder)
        var cls = className
        if cls == nil, let configPath, let cfg = try? readJSON(configPath) {
            cls = cfg["_class_name"]?.string ?? cfg["architectures"]?[0]?.string
        }
        let resolvedName = name ?? componentName(forClass: cls) ?? (folder as NSString).lastPathComponent
        return DiscoveredComponent(name: resolvedName, className: cls, folder: folder, configPath: configPath, weightsPath: weights)
    }

    /// The diffusers component name for a model class.
    public static func componentName(forClass cls: String?) -> String? {
        switch cls {
        case "CogVideoXTransformer3DModel": return "transformer"
        case "AutoencoderKLCogVideoX": return "vae"
        case "T5EncoderModel": return "text_encoder"
        case "CogVideoXDDIMScheduler", "CogVideoXDPMScheduler": return "scheduler"
        default: return nil
        }
    }

    static func readJSON(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw DiscoveryError.notFound(path) }
        do { return try JSONParser.parse(data) } catch {
            throw DiscoveryError.invalidJSON(path: path, reason: "\(error)")
        }
    }
}
