/// Writes a GGUF v3 file that gguf-py's `GGUFReader` and ggml's strict reader accept (for tensors of ≤ 4 dims
/// and names under 64 bytes): metadata in insertion order, tensor infos, then the data section with every tensor
/// (the last one too) padded to `alignment`. Tensor bytes are streamed from producers at write time, one tensor
/// at a time, into a temporary file renamed into place. The file is written by a pipeline (`GGUFStagedOutput`):
/// producers fill a few staging buffers while a writer thread writes the previous ones, so encoding and disk
/// writes overlap and memory stays at a few tens of MB whatever the file size.
///
/// Tensors with more than 4 dims (Conv3d kernels `[out, in, kT, kH, kW]`) are stored with their leading dims
/// merged into one (`[out·in, kT, kH, kW]`) plus `comfy.gguf.orig_shape.<name>` (ARRAY of INT32, PyTorch order),
/// the ComfyUI-GGUF convention that our reader and ComfyUI's loader both undo.
public struct GGUFWriter {
    /// Produces one tensor's bytes: call `emit` with consecutive chunks totalling exactly the tensor's size.
    public typealias Producer = (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    /// Produces one tensor's bytes into a sink that can hand out regions of the output to encode in place.
    public typealias SinkProducer = (_ sink: GGUFTensorSink) throws -> Void

    private struct Entry {
        let name: String
        let ne: [Int]
        let type: GGMLType
        let byteCount: Int
        let produce: SinkProducer
    }

    public let alignment: Int
    private(set) var metadata: [(key: String, value: GGUFValue)] = []
    private var keys: Set<String> = []
    private var entries: [Entry] = []
    private var names: Set<String> = []

    /// Starts a file whose `general.architecture` is `architecture` (written first, as gguf-py does).
    public init(architecture: String, alignment: Int = GGUFFile.defaultAlignment) throws {
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw GGUFError.invalidAlignment("\(alignment) is not a power of two") }
        self.alignment = alignment
        try set("general.architecture", .string(architecture))
        if alignment != GGUFFile.defaultAlignment { try set("general.alignment", .uint32(UInt32(alignment))) }
    }

    /// Adds a metadata key (each key once; nested arrays are refused).
    public mutating func set(_ key: String, _ value: GGUFValue) throws {
        guard !key.isEmpty else { throw GGUFError.emptyKey(offset: 0) }
        guard keys.insert(key).inserted else { throw GGUFError.duplicateKey(key) }
        if case .array(let t, let items) = value {
            guard t != .array else { throw GGUFError.nestedArray(key: key) }
            guard items.allSatisfy({ $0.type == t }) else { throw GGUFError.invalidMetadata(key: key, reason: "array elements are not all \(t)") }
        }
        metadata.append((key, value))
    }

    /// Adds a tensor of PyTorch-order `shape`, stored as `type`, whose bytes `produce` writes at write time.
    /// Every check happens before anything is recorded, so a refused tensor leaves the writer unchanged.
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, produce: @escaping Producer) throws {
        try addTensor(name: name, shape: shape, type: type, into: { sink in try produce { try sink.write($0) } })
    }

    /// Adds a tensor of PyTorch-order `shape`, stored as `type`, whose bytes `produce` writes into a sink at write
    /// time (`GGUFTensorSink.fill` lets it encode straight into the output's staging buffers).
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, into produce: @escaping SinkProducer) throws {
        let (ne, bytes) = try storedLayout(name: name, shape: shape, type: type)
        if shape.count > GGUFFile.maxDims {
            try set(CogVideoXGGUFKeys.origShapePrefix + name, .array(.int32, shape.map { .int32(Int32($0)) }))
        }
        names.insert(name)
        entries.append(Entry(name: name, ne: ne, type: type, byteCount: bytes, produce: produce))
    }

    /// Adds a tensor from bytes already encoded as `type` (exactly the tensor's byte size).
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) throws {
        let (_, expected) = try storedLayout(name: name, shape: shape, type: type)
        guard bytes.count == expected else {
            throw GGUFError.tensorDataSizeMismatch(tensor: name, expected: expected, found: bytes.count)
        }
        try addTensor(name: name, shape: shape, type: type) { emit in try bytes.withUnsafeBytes { try emit($0) } }
    }

    /// GGUF dims (`ne`, at most 4: leading PyTorch dims merged) and byte size of a tensor, after every check.
    private func storedLayout(name: String, shape: [Int], type: GGMLType) throws -> (ne: [Int], bytes: Int) {
        guard !names.contains(name) else { throw GGUFError.duplicateTensorName(name) }
        let dims = shape.map { UInt64(clamping: $0) }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw GGUFError.invalidDimension(tensor: name, dims: dims) }
        var stored = shape.isEmpty ? [1] : shape
        if stored.count > GGUFFile.maxDims {
            // The original shape goes into an ARRAY of INT32 (what ComfyUI-GGUF's loader accepts).
            guard shape.allSatisfy({ $0 <= Int(Int32.max) }) else { throw GGUFError.invalidDimension(tensor: name, dims: dims) }
            guard !keys.contains(CogVideoXGGUFKeys.origShapePrefix + name) else {
                throw GGUFError.duplicateKey(CogVideoXGGUFKeys.origShapePrefix + name)
            }
            var lead = 1
            for d in stored.prefix(stored.count - GGUFFile.maxDims + 1) {
                let (p, o) = lead.multipliedReportingOverflow(by: d)
                guard !o else { throw GGUFError.invalidDimension(tensor: name, dims: dims) }
                lead = p
            }
            stored = [lead] + stored.suffix(GGUFFile.maxDims - 1)
        }
        let ne = Array(stored.reversed())
        guard ne[0] % type.blockSize == 0 else { throw GGUFError.rowNotWholeBlocks(tensor: name, type: type, rowLength: ne[0]) }
        var count = 1
        for d in ne {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw GGUFError.invalidDimension(tensor: name, dims: dims) }
            count = p
        }
        guard let bytes = type.byteCount(elements: count) else { throw GGUFError.invalidDimension(tensor: name, dims: dims) }
        return (ne, bytes)
    }

    /// Number of tensors added.
    public var tensorCount: Int { entries.count }

    private func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Total file size that `write` will produce.
    public var fileSize: Int {
        var header = ByteBuffer()
        encodeHeader(into: &header)
        return padded(header.bytes.count) + entries.reduce(0) { $0 + padded($1.byteCount) }
    }

    private func encodeHeader(into b: inout ByteBuffer) {
        b.u32(0x4655_4747)
        b.u32(3)
        b.u64(UInt64(entries.count))
        b.u64(UInt64(metadata.count))
        for (k, v) in metadata {
            b.string(k)
            b.u32(v.type.rawValue)
            b.value(v)
        }
        var offset = 0
        for e in entries {
            b.string(e.name)
            b.u32(UInt32(e.ne.count))
            for d in e.ne { b.u64(UInt64(d)) }
            b.u32(e.type.rawValue)
            b.u64(UInt64(offset))
            offset += padded(e.byteCount)
        }
    }

    /// Writes the file to `path` via a temporary file and a rename; on any error nothing appears at `path`.
    /// `progress` is called after each tensor with (tensors done, bytes written so far).
    /// `mode` chooses direct or buffered I/O (same bytes either way).
    public func write(to path: String, mode: GGUFWriteMode = .default, progress: ((Int, Int) -> Void)? = nil) throws {
        var header = ByteBuffer()
        encodeHeader(into: &header)
        header.pad(to: alignment)
        let out = try GGUFStagedOutput(path: path, expectedSize: fileSize, mode: mode)
        defer { out.close() }
        try header.bytes.withUnsafeBytes { try out.append($0) }
        for (i, e) in entries.enumerated() {
            let sink = GGUFTensorSink(out, tensor: e.name, byteCount: e.byteCount)
            try e.produce(sink)
            guard sink.written == e.byteCount else {
                throw GGUFError.tensorDataSizeMismatch(tensor: e.name, expected: e.byteCount, found: sink.written)
            }
            try out.appendZeros(padded(e.byteCount) - e.byteCount)
            progress?(i + 1, out.position)
        }
        try out.finish()
    }
}

/// Where one tensor's bytes go during `GGUFWriter.write`: appended in order, each call checked against the
/// tensor's size (a producer that writes too much fails at once, one that writes too little after it returns).
public final class GGUFTensorSink {
    private let out: GGUFStagedOutput
    public let tensor: String
    /// The tensor's size in bytes.
    public let byteCount: Int
    /// Bytes written so far.
    public private(set) var written = 0

    init(_ out: GGUFStagedOutput, tensor: String, byteCount: Int) {
        self.out = out
        self.tensor = tensor
        self.byteCount = byteCount
    }

    /// The largest region `fill` hands out in one piece (a few MB).
    public var maximumFill: Int { out.maximumFill }

    private func reserve(_ count: Int) throws {
        guard written + count <= byteCount else {
            throw GGUFError.tensorDataSizeMismatch(tensor: tensor, expected: byteCount, found: written + count)
        }
    }

    /// Appends bytes (copied).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try reserve(bytes.count)
        try out.append(bytes)
        written += bytes.count
    }

    /// Lets `body` write the next `count` bytes directly into the output's staging buffer (`count ≤ maximumFill`;
    /// larger counts go through a temporary buffer). `body` may hand the region to several threads.
    public func fill(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try reserve(count)
        if count <= out.maximumFill {
            try out.fill(count, body)
        } else {
            let temporary = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 64)
            defer { temporary.deallocate() }
            try body(temporary)
            try out.append(UnsafeRawBufferPointer(temporary))
        }
        written += count
    }
}

/// Little-endian encoding into a growing byte array.
struct ByteBuffer {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
    mutating func pad(to alignment: Int) {
        let r = bytes.count % alignment
        if r != 0 { bytes.append(contentsOf: repeatElement(0, count: alignment - r)) }
    }
    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): u8(x)
        case .int8(let x): u8(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .bool(let x): u8(x ? 1 : 0)
        case .string(let s): string(s)
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float64(let x): u64(x.bitPattern)
        case .array(let t, let items):
            u32(t.rawValue)
            u64(UInt64(items.count))
            for i in items { value(i) }
        }
    }
}
