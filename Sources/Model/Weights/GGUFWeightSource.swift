import GGUFLike

/// A `WeightSource` over one component of our pipeline GGUF file: tensor names without the component prefix
/// (`transformer.proj_out.weight` is served as `proj_out.weight`), data viewed zero-copy from the mapping.
public final class GGUFWeightSource: WeightSource, @unchecked Sendable {
    public let file: GGUFFile
    public let prefix: String
    private let byName: [String: GGUFTensorInfo]
    public let tensorNames: [String]

    /// `component` is `transformer`, `vae` or `text_encoder`; pass nil to serve every tensor under its full name.
    public init(file: GGUFFile, component: String?) {
        self.file = file
        prefix = component.map { $0 + "." } ?? ""
        var map: [String: GGUFTensorInfo] = [:]
        for t in file.tensors where t.name.hasPrefix(prefix) { map[String(t.name.dropFirst(prefix.count))] = t }
        byName = map
        tensorNames = map.keys.sorted()
    }

    public convenience init(path: String, component: String?) throws {
        self.init(file: try GGUFFile(path: path), component: component)
    }

    public func info(_ name: String) -> WeightInfo? {
        guard let t = byName[name] else { return nil }
        return WeightInfo(shape: t.shape, type: t.type, storedTypeName: t.type.name.uppercased())
    }

    public func tensor(_ name: String) throws -> WeightTensor {
        guard let t = byName[name] else { throw GGUFError.tensorNotFound(prefix + name) }
        return WeightTensor(name: name, shape: t.shape, type: t.type, bytes: file.data(t), owner: file.owner)
    }
}
