import GGUFLike

/// What a weight source knows about one tensor without touching its data.
public struct WeightInfo: Sendable, Equatable {
    /// PyTorch-order shape.
    public let shape: [Int]
    /// Stored element type, or nil when the stored dtype is one the engine cannot compute with
    /// (`storedTypeName` then says what it is, e.g. `F8_E4M3`, `I64`).
    public let type: GGMLType?
    public let storedTypeName: String

    public init(shape: [Int], type: GGMLType?, storedTypeName: String) {
        self.shape = shape
        self.type = type
        self.storedTypeName = storedTypeName
    }
}

/// One protocol over every place weights come from: a diffusers component folder (safetensors, possibly sharded)
/// or one component of our GGUF file. Names are the canonical diffusers/transformers state-dict keys, without a
/// component prefix (`transformer_blocks.0.attn1.to_q.weight`).
public protocol WeightSource: AnyObject, Sendable {
    /// Every tensor name in the source.
    var tensorNames: [String] { get }
    /// Shape and type of `name`, or nil when absent.
    func info(_ name: String) -> WeightInfo?
    /// A zero-copy view of `name`'s data. Throws when absent or when its dtype cannot be computed with.
    func tensor(_ name: String) throws -> WeightTensor
}
