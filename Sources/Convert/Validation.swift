import Foundation
import GGUFLike
import Model
import SafeTensors

/// The result of checking one component's checkpoint keys against the Swift model's declared parameters.
public struct ComponentValidation: Sendable {
    public let component: String
    public let className: String?
    /// nil when there is no Swift model for this component (nothing could be checked).
    public let report: LoadReport?
    public let tensorCount: Int
    public let note: String?

    public var isClean: Bool { report?.isClean ?? true }
}

public enum Validator {
    /// Checks every component of a diffusers folder / component folder or of our GGUF file.
    public static func validate(path: String) throws -> [ComponentValidation] {
        if path.hasSuffix(".gguf") { return try validateGGUF(path) }
        let found = try CheckpointDiscovery.discover(path)
        var out: [ComponentValidation] = []
        for c in found.components {
            guard let weights = c.weightsPath else { continue }
            let source = try SafeTensorsWeightSource(path: weights)
            guard let config = try c.config() else {
                out.append(ComponentValidation(component: c.name, className: c.className, report: nil, tensorCount: source.tensorNames.count,
                                               note: "no config.json: cannot build the model to check against"))
                continue
            }
            out.append(try check(component: c.name, className: c.className, config: config, source: source))
        }
        return out
    }

    static func validateGGUF(_ path: String) throws -> [ComponentValidation] {
        let file = try GGUFFile(path: path)
        var out: [ComponentValidation] = []
        for component in CogVideoXGGUFKeys.components {
            let source = GGUFWeightSource(file: file, component: component)
            guard !source.tensorNames.isEmpty else { continue }
            guard let text = file[CogVideoXGGUFKeys.config(component)]?.string else {
                out.append(ComponentValidation(component: component, className: nil, report: nil, tensorCount: source.tensorNames.count,
                                               note: "the file has no \(CogVideoXGGUFKeys.config(component)) metadata"))
                continue
            }
            let config = try JSONParser.parse(text)
            out.append(try check(component: component, className: config["_class_name"]?.string ?? config["architectures"]?[0]?.string,
                                 config: config, source: source))
        }
        return out
    }

    static func check(component: String, className: String?, config: JSONValue, source: WeightSource) throws -> ComponentValidation {
        guard let (module, ignoring) = try ModelRegistry.module(for: component, config: config) else {
            return ComponentValidation(component: component, className: className, report: nil, tensorCount: source.tensorNames.count,
                                       note: "no Swift model for this component yet: keys not checked")
        }
        let report = WeightLoader.check(module, against: source, ignoring: ignoring)
        return ComponentValidation(component: component, className: className, report: report, tensorCount: source.tensorNames.count, note: nil)
    }
}
