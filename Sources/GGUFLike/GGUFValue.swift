import Foundation

/// GGUF metadata value types (shared/reference/formats.md §2.1).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Fixed encoded size, or nil for strings and arrays.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
}

/// One metadata value. Arrays hold elements of one type and never nest (ggml rejects nested arrays).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32), float32(Float)
    case bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    /// Any integer value as Int (nil if not an integer or out of range).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(exactly: v)
        default: return nil
        }
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }

    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    /// Array elements, when this is an array.
    public var array: [GGUFValue]? { if case .array(_, let a) = self { return a }; return nil }

    /// Bytes of an ARRAY of UINT8/INT8 (how blobs such as a tokenizer model are stored).
    public var bytes: [UInt8]? {
        guard case .array(let t, let a) = self, t == .uint8 || t == .int8 else { return nil }
        return a.map { if case .uint8(let v) = $0 { return v }; if case .int8(let v) = $0 { return UInt8(bitPattern: v) }; return 0 }
    }

    /// A short human form for `inspect` (long strings and arrays abbreviated).
    public func summary(maxLength: Int = 60) -> String {
        switch self {
        case .string(let s):
            let flat = s.replacingOccurrences(of: "\n", with: "\\n")
            return flat.count > maxLength ? "\"\(flat.prefix(maxLength))…\" (\(s.utf8.count) bytes)" : "\"\(flat)\""
        case .array(let t, let a):
            let shown = a.prefix(8).map { $0.summary(maxLength: 20) }.joined(separator: ", ")
            return "[\(shown)\(a.count > 8 ? ", …" : "")] (\(a.count) × \(t))"
        case .bool(let b): return b ? "true" : "false"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .uint64(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        default: return int.map(String.init) ?? "?"
        }
    }
}

