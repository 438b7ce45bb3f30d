import GGUFLike
import SafeTensors

/// A `WeightSource` over a safetensors checkpoint: one file, a sharded index, or a diffusers component folder.
/// Tensors are viewed zero-copy from the memory mappings.
public final class SafeTensorsWeightSource: WeightSource, @unchecked Sendable {
    public let checkpoint: SafeTensorsCheckpoint

    /// Opens `path` (file, index json, or component folder).
    public init(path: String) throws {
        checkpoint = try SafeTensorsCheckpoint(path: path)
    }

    public init(checkpoint: SafeTensorsCheckpoint) { self.checkpoint = checkpoint }

    public var tensorNames: [String] { checkpoint.names }

    /// The compute type for a safetensors dtype, or nil when the engine cannot compute with it.
    public static func ggmlType(for dtype: SafeTensorsDType) -> GGMLType? {
        switch dtype {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        case .i8: return .i8
        case .i16: return .i16
        case .i32: return .i32
        case .i64: return .i64
        default: return nil
        }
    }

    public func info(_ name: String) -> WeightInfo? {
        guard let i = checkpoint.info(name) else { return nil }
        return WeightInfo(shape: i.shape, type: Self.ggmlType(for: i.dtype), storedTypeName: i.dtype.rawValue)
    }

    public func tensor(_ name: String) throws -> WeightTensor {
        guard let l = checkpoint.location(name) else { throw SafeTensorsError.tensorNotFound(name) }
        guard let type = Self.ggmlType(for: l.info.dtype) else {
            throw SafeTensorsError.unsupportedDType(tensor: name, dtype: l.info.dtype, requested: "a compute type")
        }
        return WeightTensor(name: name, shape: l.info.shape, type: type, bytes: l.file.rawBytes(l.info), owner: l.file.owner)
    }
}
