import GGUFLike

/// A `WeightSource` that re-encodes the ≥ 2-D tensors of another source into `type` as they are requested
/// (1-D tensors and rows that do not fit the block stay as they are). Used to run a checkpoint at another precision
/// without converting it on disk, and by the precision tests.
public final class RequantizedWeightSource: WeightSource, @unchecked Sendable {
    public let base: WeightSource
    public let type: GGMLType

    public init(_ base: WeightSource, type: GGMLType) {
        self.base = base
        self.type = type
    }

    public var tensorNames: [String] { base.tensorNames }

    private func targetType(_ info: WeightInfo) -> GGMLType? {
        guard info.type != nil, info.shape.count >= 2, let last = info.shape.last, last % type.blockSize == 0 else { return nil }
        return type
    }

    public func info(_ name: String) -> WeightInfo? {
        guard let i = base.info(name) else { return nil }
        guard let t = targetType(i) else { return i }
        return WeightInfo(shape: i.shape, type: t, storedTypeName: t.name.uppercased())
    }

    public func tensor(_ name: String) throws -> WeightTensor {
        let w = try base.tensor(name)
        guard let i = base.info(name), let t = targetType(i) else { return w }
        let values = try w.floats()
        return WeightTensor.owned(name: name, shape: w.shape, type: t, encoded: try BlockCodec.quantize(t, values))
    }
}
