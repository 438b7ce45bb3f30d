/// Writes a safetensors file in the reference layout (shared/reference/formats.md §1.4): tensors sorted by dtype
/// (widest first, the reference enum's descending order) then by name, `__metadata__` first in the header, the
/// header padded with spaces to a multiple of 8. Tensor data is streamed one tensor at a time from the closures
/// given to `add`, so the whole file never sits in memory. Output goes to a temporary file renamed into place.
public struct SafeTensorsWriter {
    /// Produces one tensor's bytes: call `emit` one or more times with consecutive chunks.
    public typealias Producer = (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    private struct Entry {
        let name: String
        let dtype: SafeTensorsDType
        let shape: [Int]
        let byteCount: Int
        let produce: Producer
    }

    private var entries: [Entry] = []
    private var names: Set<String> = []
    public var metadata: [(key: String, value: String)] = []

    public init(metadata: [(key: String, value: String)] = []) { self.metadata = metadata }

    /// Adds a tensor whose bytes come from `produce` at write time.
    public mutating func add(name: String, dtype: SafeTensorsDType, shape: [Int], produce: @escaping Producer) throws {
        guard name != "__metadata__" else {
            throw SafeTensorsError.invalidHeaderStructure(key: name, reason: "this key is reserved for metadata and cannot name a tensor")
        }
        guard names.insert(name).inserted else { throw SafeTensorsError.duplicateTensorName(name) }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard d >= 0, !o else { throw SafeTensorsError.validationOverflow(tensor: name) }
            count = p
        }
        let (bits, o) = count.multipliedReportingOverflow(by: dtype.bits)
        guard !o else { throw SafeTensorsError.validationOverflow(tensor: name) }
        guard bits % 8 == 0 else { throw SafeTensorsError.misalignedSlice(tensor: name) }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, byteCount: bits / 8, produce: produce))
    }

    /// Adds a tensor from bytes already in memory (copied).
    public mutating func add(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) throws {
        try add(name: name, dtype: dtype, shape: shape) { emit in try bytes.withUnsafeBytes { try emit($0) } }
        if let e = entries.last, e.byteCount != bytes.count {
            entries.removeLast()
            names.remove(name)
            throw SafeTensorsError.tensorDataSizeMismatch(tensor: name, expected: e.byteCount, found: bytes.count)
        }
    }

    /// Adds an fp32 tensor.
    public mutating func add(name: String, shape: [Int], floats: [Float]) throws {
        try add(name: name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    /// The header text exactly as it will be written (including the space padding).
    public func headerText() -> (text: [UInt8], order: [Int]) {
        let order = entries.indices.sorted {
            let a = entries[$0], b = entries[$1]
            // Names compare by UTF-8 bytes, as Rust's String order does (Swift's `<` compares canonically
            // normalized text, which orders "e\u{301}" after "f").
            return a.dtype.order != b.dtype.order ? a.dtype.order > b.dtype.order
                : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        var root = JSONObject()
        if !metadata.isEmpty {
            root["__metadata__"] = .object(JSONObject(metadata.map { ($0.key, JSONValue.string($0.value)) }))
        }
        var offset = 0
        for i in order {
            let e = entries[i]
            root[e.name] = ["dtype": .string(e.dtype.rawValue), "shape": .array(e.shape.map { .int(Int64($0)) }),
                            "data_offsets": [.int(Int64(offset)), .int(Int64(offset + e.byteCount))]]
            offset += e.byteCount
        }
        var text = Array(JSONValue.object(root).serialized().utf8)
        let pad = (8 - (text.count + 8) % 8) % 8
        text += [UInt8](repeating: 0x20, count: pad)
        return (text, order)
    }

    /// Writes the file to `path` (temporary file + rename). Throws before anything appears at `path`.
    public func write(to path: String) throws {
        let (header, order) = headerText()
        guard UInt64(header.count) <= SafeTensorsFile.maxHeaderSize else {
            throw SafeTensorsError.headerTooLarge(length: UInt64(header.count))
        }
        let file = try AtomicFile(path: path)
        try file.write(withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) })
        try file.write(header)
        for i in order {
            let e = entries[i]
            var written = 0
            try e.produce { chunk in
                written += chunk.count
                guard written <= e.byteCount else {
                    throw SafeTensorsError.tensorDataSizeMismatch(tensor: e.name, expected: e.byteCount, found: written)
                }
                try file.write(chunk)
            }
            guard written == e.byteCount else {
                throw SafeTensorsError.tensorDataSizeMismatch(tensor: e.name, expected: e.byteCount, found: written)
            }
        }
        try file.commit()
    }
}
