/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// GGUF dims as stored (`ne[0]` first, the fastest-varying dimension).
    public let ne: [Int]
    public let type: GGMLType
    /// Offset relative to the data section.
    public let offset: Int
    /// Bytes of data.
    public let byteCount: Int
    /// PyTorch-order shape: `comfy.gguf.orig_shape.<name>` when present, else the reverse of `ne`.
    public let shape: [Int]

    public var elementCount: Int { ne.reduce(1, *) }
}

/// A validated, memory-mapped GGUF v2/v3 file. Opening reads only the header, metadata and tensor infos;
/// tensor data is viewed in place.
///
/// Validation is as strict as ggml's C reader where it protects memory and meaning (counts, lengths, types, block
/// multiples, alignment, bounds, duplicates, nested arrays), but, like gguf-py, it accepts long tensor names, and
/// it requires only that tensors be aligned and not overlap (ggml additionally wants them packed in info order).
public final class GGUFFile: @unchecked Sendable {
    /// Default data alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// Most dimensions a tensor may have (GGML_MAX_DIMS).
    public static let maxDims = 4

    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    private let mapping: GGUFMappedFile
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public init(path: String) throws {
        mapping = try GGUFMappedFile(path: path)
        self.path = path
        let bytes = mapping.bytes
        var c = GGUFCursor(bytes)

        let magic = try c.read(UInt32.self)
        guard magic == 0x4655_4747 else { throw GGUFError.badMagic(found: magic) }
        let v = try c.read(UInt32.self)
        if v & 0xFFFF == 0 { throw GGUFError.byteSwapped(version: v) }
        guard v == 2 || v == 3 else { throw GGUFError.unsupportedVersion(v) }
        version = v
        let countsAt = c.offset
        let tensorCount = try c.read(UInt64.self)
        let kvCount = try c.read(UInt64.self)
        // Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 8 + 4 + 8.
        guard tensorCount <= UInt64(c.remaining / 32) else { throw GGUFError.countTooLarge(what: "tensor", count: tensorCount, offset: countsAt) }
        guard kvCount <= UInt64(c.remaining / 13) else { throw GGUFError.countTooLarge(what: "metadata", count: kvCount, offset: countsAt + 8) }

        c.section = "metadata"
        var meta: [(key: String, value: GGUFValue)] = []
        var metaIndex: [String: Int] = [:]
        for _ in 0..<Int(kvCount) {
            let keyAt = c.offset
            let key = try c.readString()
            guard !key.isEmpty else { throw GGUFError.emptyKey(offset: keyAt) }
            guard metaIndex[key] == nil else { throw GGUFError.duplicateKey(key) }
            let typeAt = c.offset
            let rawType = try c.read(UInt32.self)
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.unknownValueType(rawType, key: key, offset: typeAt)
            }
            let value = try GGUFFile.readValue(&c, type: type, key: key)
            metaIndex[key] = meta.count
            meta.append((key, value))
        }
        metadata = meta
        metadataIndex = metaIndex

        var align = GGUFFile.defaultAlignment
        if let i = metaIndex["general.alignment"] {
            guard case .uint32(let a) = meta[i].value else { throw GGUFError.invalidAlignment("must be a UINT32, found \(meta[i].value.type)") }
            guard a > 0, a & (a - 1) == 0 else { throw GGUFError.invalidAlignment("\(a) is not a power of two") }
            align = Int(a)
        }
        alignment = align

        c.section = "tensor infos"
        var raw: [(name: String, ne: [Int], type: GGMLType, offset: UInt64, bytes: Int)] = []
        var tIndex: [String: Int] = [:]
        for _ in 0..<Int(tensorCount) {
            let name = try c.readString()
            guard tIndex[name] == nil else { throw GGUFError.duplicateTensorName(name) }
            let nDims = try c.read(UInt32.self)
            guard nDims >= 1, nDims <= UInt32(GGUFFile.maxDims) else { throw GGUFError.tooManyDimensions(tensor: name, dims: nDims) }
            var dims: [UInt64] = []
            for _ in 0..<Int(nDims) { dims.append(try c.read(UInt64.self)) }
            var count: UInt64 = 1
            var overflow = false
            for d in dims {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                overflow = overflow || o
                count = p
            }
            guard !overflow, count <= UInt64(Int64.max), dims.allSatisfy({ $0 <= UInt64(Int64.max) }) else {
                throw GGUFError.invalidDimension(tensor: name, dims: dims)
            }
            let rawType = try c.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else { throw GGUFError.unknownTensorType(rawType, tensor: name) }
            let ne = dims.map { Int($0) }
            guard ne[0] % type.blockSize == 0 else { throw GGUFError.rowNotWholeBlocks(tensor: name, type: type, rowLength: ne[0]) }
            guard let nbytes = type.byteCount(elements: Int(count)) else { throw GGUFError.invalidDimension(tensor: name, dims: dims) }
            let offset = try c.read(UInt64.self)
            guard offset % UInt64(align) == 0 else { throw GGUFError.misalignedTensor(tensor: name, offset: offset, alignment: align) }
            tIndex[name] = raw.count
            raw.append((name, ne, type, offset, nbytes))
        }
        tensorIndex = tIndex

        // The data section starts at the next multiple of the alignment (ggml pads even with no tensors).
        let (padded, o) = c.offset.addingReportingOverflow((align - c.offset % align) % align)
        guard !o else { throw GGUFError.truncated(offset: c.offset, needed: align, section: "padding") }
        dataOffset = padded
        if !raw.isEmpty && padded > bytes.count {
            throw GGUFError.truncated(offset: c.offset, needed: padded - bytes.count, section: "padding before the data section")
        }
        let dataBytes = UInt64(max(0, bytes.count - padded))
        for t in raw {
            let (end, o) = t.offset.addingReportingOverflow(UInt64(t.bytes))
            guard !o, end <= dataBytes else {
                throw GGUFError.tensorPastEnd(tensor: t.name, end: o ? UInt64.max : end + UInt64(padded), fileSize: bytes.count)
            }
        }
        let byOffset = raw.indices.sorted { raw[$0].offset < raw[$1].offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where raw[a].offset + UInt64(raw[a].bytes) > raw[b].offset {
            throw GGUFError.overlappingTensors(raw[a].name, raw[b].name)
        }

        var infos: [GGUFTensorInfo] = []
        for t in raw {
            var shape = Array(t.ne.reversed())
            if let i = metaIndex["comfy.gguf.orig_shape." + t.name] {
                shape = try GGUFFile.originalShape(meta[i].value, tensor: t.name, elements: t.ne.reduce(1, *))
            }
            infos.append(GGUFTensorInfo(name: t.name, ne: t.ne, type: t.type, offset: Int(t.offset), byteCount: t.bytes, shape: shape))
        }
        tensors = infos
    }

    static func originalShape(_ v: GGUFValue, tensor: String, elements: Int) throws -> [Int] {
        guard case .array(.int32, let items) = v else {
            throw GGUFError.invalidOriginalShape(tensor: tensor, reason: "must be an ARRAY of INT32, found \(v.type)")
        }
        let dims = items.compactMap(\.int)
        guard !dims.isEmpty, dims.allSatisfy({ $0 >= 0 }) else {
            throw GGUFError.invalidOriginalShape(tensor: tensor, reason: "dimensions \(dims) are not valid")
        }
        var count = 1
        for d in dims {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw GGUFError.invalidOriginalShape(tensor: tensor, reason: "dimensions \(dims) overflow") }
            count = p
        }
        guard count == elements else {
            throw GGUFError.invalidOriginalShape(tensor: tensor, reason: "\(dims) has \(count) elements, the tensor has \(elements)")
        }
        return dims
    }

    static func readValue(_ c: inout GGUFCursor, type: GGUFValueType, key: String) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try c.read(UInt8.self))
        case .int8: return .int8(try c.read(Int8.self))
        case .uint16: return .uint16(try c.read(UInt16.self))
        case .int16: return .int16(try c.read(Int16.self))
        case .uint32: return .uint32(try c.read(UInt32.self))
        case .int32: return .int32(try c.read(Int32.self))
        case .float32: return .float32(Float(bitPattern: try c.read(UInt32.self)))
        case .uint64: return .uint64(try c.read(UInt64.self))
        case .int64: return .int64(try c.read(Int64.self))
        case .float64: return .float64(Double(bitPattern: try c.read(UInt64.self)))
        case .bool:
            let b = try c.read(UInt8.self)
            guard b <= 1 else { throw GGUFError.invalidBool(b, key: key) }
            return .bool(b == 1)
        case .string: return .string(try c.readString())
        case .array:
            let typeAt = c.offset
            let rawElement = try c.read(UInt32.self)
            guard let element = GGUFValueType(rawValue: rawElement) else {
                throw GGUFError.unknownValueType(rawElement, key: key, offset: typeAt)
            }
            guard element != .array else { throw GGUFError.nestedArray(key: key) }
            let countAt = c.offset
            let n = try c.read(UInt64.self)
            let minSize = UInt64(element.fixedSize ?? 8)
            guard n <= UInt64(c.remaining) / minSize else { throw GGUFError.countTooLarge(what: "array '\(key)'", count: n, offset: countAt) }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { items.append(try readValue(&c, type: element, key: key)) }
            return .array(element, items)
        }
    }

    /// The value of a metadata key.
    public subscript(key: String) -> GGUFValue? { metadataIndex[key].map { metadata[$0].value } }

    /// The info of tensor `name`, or nil.
    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The bytes of a tensor, viewed in place (alive as long as this object).
    public func data(_ t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard t.byteCount > 0, let base = mapping.bytes.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + dataOffset + t.offset, count: t.byteCount)
    }

    /// The bytes of the tensor named `name`.
    public func data(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let t = tensor(name) else { throw GGUFError.tensorNotFound(name) }
        return data(t)
    }

    /// fp32 values of tensor `name` (dequantized), in its PyTorch shape order.
    public func floats(_ name: String) throws -> [Float] {
        guard let t = tensor(name) else { throw GGUFError.tensorNotFound(name) }
        return try BlockCodec.dequantize(t.type, data(t), count: t.elementCount)
    }

    /// The object keeping the mapping alive.
    public var owner: AnyObject { mapping }

    /// File size in bytes.
    public var fileSize: Int { mapping.bytes.count }
}
