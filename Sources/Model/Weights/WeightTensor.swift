import GGUFLike

/// One stored weight tensor, viewed zero-copy in its stored element type.
///
/// `bytes` points into a memory mapping (safetensors or GGUF) that `owner` keeps alive; nothing is converted or
/// copied until a kernel reads it. `shape` is PyTorch order (`[out, in]` for a Linear weight): for block-quantized
/// types the blocks run along the last dimension (GGUF `ne[0]`).
public struct WeightTensor: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let type: GGMLType
    public let bytes: UnsafeRawBufferPointer
    /// Keeps the mapping behind `bytes` alive.
    public let owner: AnyObject?

    public init(name: String, shape: [Int], type: GGMLType, bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.name = name
        self.shape = shape
        self.type = type
        self.bytes = bytes
        self.owner = owner
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Length of one row (the last dimension; 1 for a scalar).
    public var rowLength: Int { shape.last ?? 1 }
    /// Number of rows (product of all but the last dimension).
    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    /// Bytes of one row in the stored type.
    public var rowBytes: Int { rowLength / type.blockSize * type.typeSize }
}

/// Owns a weight tensor converted in memory (a fp32 copy made for tests, a quantized copy made on the fly).
public final class OwnedWeightStorage: @unchecked Sendable {
    public let pointer: UnsafeMutableRawBufferPointer
    public init(byteCount: Int) {
        pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0)
    }
    deinit { pointer.deallocate() }
}

extension WeightTensor {
    /// A weight that owns an fp32 copy of `values` (for tests and for tensors computed at load time).
    public static func owned(name: String, shape: [Int], values: [Float]) -> WeightTensor {
        precondition(values.count == shape.reduce(1, *))
        let storage = OwnedWeightStorage(byteCount: values.count * 4)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0) }
        return WeightTensor(name: name, shape: shape, type: .f32,
                            bytes: UnsafeRawBufferPointer(start: storage.pointer.baseAddress, count: values.count * 4),
                            owner: storage)
    }

    /// A weight that owns a copy of already-encoded bytes of `type`.
    public static func owned(name: String, shape: [Int], type: GGMLType, encoded: [UInt8]) -> WeightTensor {
        let storage = OwnedWeightStorage(byteCount: encoded.count)
        encoded.withUnsafeBytes { storage.pointer.copyMemory(from: $0) }
        return WeightTensor(name: name, shape: shape, type: type,
                            bytes: UnsafeRawBufferPointer(start: storage.pointer.baseAddress, count: encoded.count),
                            owner: storage)
    }
}
