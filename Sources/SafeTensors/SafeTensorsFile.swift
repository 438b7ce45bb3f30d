/// One tensor's entry in a safetensors header.
public struct SafeTensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    /// PyTorch-order shape (empty for a scalar).
    public let shape: [Int]
    /// Byte range inside the data section (relative to its start, as in the header).
    public let dataOffsets: Range<Int>

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of data bytes.
    public var byteCount: Int { dataOffsets.count }
}

/// A validated, memory-mapped safetensors file. Opening reads only the header; tensor data is viewed in place.
///
/// Validation follows the reference reader exactly (shared/reference/formats.md §1.3), in one pass, and adds:
/// duplicate keys rejected at any depth, NUL padding rejected, non-string metadata rejected, overflow-checked
/// shape products.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Largest header accepted (the reference's `MAX_HEADER_SIZE`).
    public static let maxHeaderSize: UInt64 = 100_000_000

    public let path: String
    /// Tensors in file order (sorted by data offset).
    public let tensors: [SafeTensorsTensorInfo]
    /// The `__metadata__` map, in header order.
    public let metadata: [(key: String, value: String)]
    /// Byte offset of the data section in the file (`8 + N`).
    public let dataStart: Int
    private let mapping: MappedFile
    private let byName: [String: Int]

    /// Opens and validates `path`.
    public convenience init(path: String) throws {
        try self.init(mapping: MappedFile(path: path))
    }

    /// Validates an existing mapping.
    public init(mapping: MappedFile) throws {
        self.mapping = mapping
        self.path = mapping.path
        let parsed = try SafeTensorsFile.parseHeader(mapping.bytes)
        tensors = parsed.tensors
        metadata = parsed.metadata
        dataStart = parsed.dataStart
        byName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// Tensor names in file order.
    public var names: [String] { tensors.map(\.name) }

    /// The entry for `name`, or nil.
    public func info(_ name: String) -> SafeTensorsTensorInfo? { byName[name].map { tensors[$0] } }

    /// The raw bytes of `name`, viewed in place (alive as long as this file object).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let t = info(name) else { throw SafeTensorsError.tensorNotFound(name) }
        return rawBytes(t)
    }

    /// The raw bytes of an entry of this file.
    public func rawBytes(_ t: SafeTensorsTensorInfo) -> UnsafeRawBufferPointer {
        guard t.byteCount > 0, let base = mapping.bytes.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + dataStart + t.dataOffsets.lowerBound, count: t.byteCount)
    }

    /// Drops the pages of tensor `t` from the process's resident set (after it has been streamed).
    public func releasePages(_ t: SafeTensorsTensorInfo) {
        mapping.release((dataStart + t.dataOffsets.lowerBound)..<(dataStart + t.dataOffsets.upperBound))
    }

    /// The object that keeps the mapping alive (hand it to views that outlive this call).
    public var owner: AnyObject { mapping }

    /// Views `name`'s elements as `T` without copying. `T` must match the dtype exactly
    /// (`Float` for F32, `Float16` for F16, `UInt16` bits for BF16, `Int8`, `UInt8`, `Int16`, `UInt16`, `Int32`,
    /// `UInt32`, `Int64`, `UInt64`, `Double` for F64, `Bool` for BOOL); anything else is `unsupportedDType`.
    public func withElements<T, R>(_ name: String, as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) throws -> R {
        guard let t = info(name) else { throw SafeTensorsError.tensorNotFound(name) }
        guard SafeTensorsFile.dtype(t.dtype, canBeViewedAs: type) else {
            throw SafeTensorsError.unsupportedDType(tensor: name, dtype: t.dtype, requested: String(describing: type))
        }
        let raw = rawBytes(t)
        let count = t.byteCount / MemoryLayout<T>.stride
        if count == 0 { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        // safetensors does not guarantee element alignment (third-party writers may pad oddly); copy if needed.
        if Int(bitPattern: raw.baseAddress) % MemoryLayout<T>.alignment != 0 {
            let copy = [UInt8](raw)
            return try copy.withUnsafeBytes { try body($0.bindMemory(to: T.self)) }
        }
        return try body(raw.bindMemory(to: T.self))
    }

    /// Copies `name`'s elements into an array of `T` (same dtype rules as `withElements`).
    public func elements<T>(_ name: String, as type: T.Type) throws -> [T] {
        try withElements(name, as: type) { Array($0) }
    }

    /// Converts a floating-point tensor (F32, F16, BF16, F64) to fp32 values.
    public func floats(_ name: String) throws -> [Float] {
        guard let t = info(name) else { throw SafeTensorsError.tensorNotFound(name) }
        switch t.dtype {
        case .f32: return try elements(name, as: Float.self)
        case .f16: return try withElements(name, as: Float16.self) { $0.map(Float.init) }
        case .bf16: return try withElements(name, as: UInt16.self) { $0.map { Float(bitPattern: UInt32($0) << 16) } }
        case .f64: return try withElements(name, as: Double.self) { $0.map(Float.init) }
        default: throw SafeTensorsError.unsupportedDType(tensor: name, dtype: t.dtype, requested: "Float")
        }
    }

    static func dtype<T>(_ d: SafeTensorsDType, canBeViewedAs type: T.Type) -> Bool {
        switch d {
        case .f32: return type == Float.self
        case .f16: return type == Float16.self || type == UInt16.self
        case .bf16: return type == UInt16.self
        case .f64: return type == Double.self
        case .i8: return type == Int8.self
        case .u8: return type == UInt8.self
        case .bool: return type == Bool.self || type == UInt8.self
        case .i16: return type == Int16.self
        case .u16: return type == UInt16.self
        case .i32: return type == Int32.self
        case .u32: return type == UInt32.self
        case .i64: return type == Int64.self
        case .u64: return type == UInt64.self
        case .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz: return type == UInt8.self
        case .f4, .f6_e2m3, .f6_e3m2, .c64: return false
        }
    }

    // MARK: - Validation (one pass, reference order)

    struct ParsedHeader {
        var tensors: [SafeTensorsTensorInfo]
        var metadata: [(key: String, value: String)]
        var dataStart: Int
    }

    static func parseHeader(_ bytes: UnsafeRawBufferPointer) throws -> ParsedHeader {
        let size = bytes.count
        guard size >= 8 else { throw SafeTensorsError.headerTooSmall(fileSize: size) }
        let n = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n <= maxHeaderSize else { throw SafeTensorsError.headerTooLarge(length: n) }
        let headerLength = Int(n)
        guard 8 + headerLength <= size else { throw SafeTensorsError.invalidHeaderLength(length: n, fileSize: size) }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])

        let json: JSONValue
        do { json = try JSONParser.parse(headerBytes) } catch let e as JSONError {
            throw SafeTensorsError.invalidHeader(e)
        }
        guard case .object(let root) = json else {
            throw SafeTensorsError.invalidHeaderStructure(key: nil, reason: "the header must be a JSON object, found \(json.kindName)")
        }

        var metadata: [(key: String, value: String)] = []
        var entries: [(name: String, dtype: SafeTensorsDType, shape: [UInt64], begin: UInt64, end: UInt64)] = []
        entries.reserveCapacity(root.count)
        for (key, value) in root {
            if key == "__metadata__" {
                guard case .object(let m) = value else {
                    throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "must be an object of strings, found \(value.kindName)")
                }
                for (mk, mv) in m {
                    guard case .string(let s) = mv else { throw SafeTensorsError.invalidMetadata(key: mk, found: mv.kindName) }
                    metadata.append((mk, s))
                }
                continue
            }
            guard case .object(let entry) = value else {
                throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "must be an object, found \(value.kindName)")
            }
            guard case .string(let dtypeName)? = entry["dtype"] else {
                throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "missing string field `dtype`")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw SafeTensorsError.unknownDType(tensor: key, dtype: dtypeName)
            }
            guard case .array(let shapeValues)? = entry["shape"] else {
                throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "missing array field `shape`")
            }
            let shape = try shapeValues.map { try nonNegative($0, key: key, field: "shape") }
            guard case .array(let offs)? = entry["data_offsets"] else {
                throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "missing array field `data_offsets`")
            }
            guard offs.count == 2 else {
                throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "`data_offsets` must have exactly 2 entries, found \(offs.count)")
            }
            let begin = try nonNegative(offs[0], key: key, field: "data_offsets")
            let end = try nonNegative(offs[1], key: key, field: "data_offsets")
            entries.append((key, dtype, shape, begin, end))
        }

        // Walk in offset order with a cursor (the reference sorts by data_offsets; stable for equal ranges).
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor: UInt64 = 0
        var tensors: [SafeTensorsTensorInfo] = []
        tensors.reserveCapacity(entries.count)
        let dataBytes = size - 8 - headerLength
        for e in entries {
            guard e.begin == cursor, e.end >= e.begin else {
                throw SafeTensorsError.invalidOffset(tensor: e.name, begin: e.begin, end: e.end, expectedBegin: cursor)
            }
            var count: UInt64 = 1
            for d in e.shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw SafeTensorsError.validationOverflow(tensor: e.name) }
                count = p
            }
            let (bits, o) = count.multipliedReportingOverflow(by: UInt64(e.dtype.bits))
            guard !o else { throw SafeTensorsError.validationOverflow(tensor: e.name) }
            guard bits % 8 == 0 else { throw SafeTensorsError.misalignedSlice(tensor: e.name) }
            guard e.end - e.begin == bits / 8 else {
                throw SafeTensorsError.tensorInvalidInfo(tensor: e.name, expectedBytes: bits / 8, foundBytes: e.end - e.begin)
            }
            cursor = e.end
            // The coverage check below guarantees end ≤ dataBytes, so these conversions cannot trap afterwards;
            // check here anyway so no out-of-file range is ever built.
            guard e.end <= UInt64(dataBytes), let shape = e.shape.asInts else {
                throw SafeTensorsError.metadataIncompleteBuffer(dataBytes: dataBytes, coveredBytes: e.end)
            }
            tensors.append(SafeTensorsTensorInfo(name: e.name, dtype: e.dtype, shape: shape,
                                                 dataOffsets: Int(e.begin)..<Int(e.end)))
        }
        guard cursor == UInt64(dataBytes) else {
            throw SafeTensorsError.metadataIncompleteBuffer(dataBytes: dataBytes, coveredBytes: cursor)
        }
        return ParsedHeader(tensors: tensors, metadata: metadata, dataStart: 8 + headerLength)
    }

    private static func nonNegative(_ v: JSONValue, key: String, field: String) throws -> UInt64 {
        switch v {
        case .int(let i) where i >= 0: return UInt64(i)
        case .uint(let u): return u
        default:
            throw SafeTensorsError.invalidHeaderStructure(key: key, reason: "`\(field)` must hold non-negative integers, found \(v.serialized())")
        }
    }
}

private extension Array where Element == UInt64 {
    /// The values as Int when every one fits.
    var asInts: [Int]? {
        var out: [Int] = []
        out.reserveCapacity(count)
        for v in self { guard let i = Int(exactly: v) else { return nil }; out.append(i) }
        return out
    }
}
