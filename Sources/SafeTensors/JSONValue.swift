/// A parsed JSON value. Objects keep their keys in document order (config files and safetensors headers are
/// read and reported in the order they were written).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer literal that fits in Int64.
    case int(Int64)
    /// A non-negative integer literal above Int64.max (still exact; safetensors shapes can be attacked this way).
    case uint(UInt64)
    /// A literal with a fraction or exponent.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The value of `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// Element `index` when this is an array and the index is in range.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    /// An integer value as Int (nil for non-integers and integers that do not fit).
    public var int: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .uint(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// A number as Double (integers are converted).
    public var double: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { self == .null }

    /// A short name of the value's kind, for error messages ("string", "object", …).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .uint: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// A JSON object: key/value pairs in document order with O(1) lookup. Keys are unique (the parser rejects
/// duplicates).
public struct JSONObject: Sendable, Equatable, Sequence {
    public private(set) var entries: [(key: String, value: JSONValue)] = []
    private var index: [String: Int] = [:]

    public init() {}

    public init(_ pairs: [(String, JSONValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    /// Objects up to this size are searched linearly (no hash index): safetensors headers hold tens of
    /// thousands of 3-key objects.
    private static let indexThreshold = 8

    private func position(of key: String) -> Int? {
        if entries.count <= JSONObject.indexThreshold { return entries.firstIndex { $0.key == key } }
        return index[key]
    }

    public subscript(key: String) -> JSONValue? {
        get { position(of: key).map { entries[$0].value } }
        set {
            if let i = position(of: key) {
                if let v = newValue { entries[i].value = v } else {
                    entries.remove(at: i)
                    rebuildIndex()
                }
            } else if let v = newValue {
                entries.append((key, v))
                if entries.count == JSONObject.indexThreshold + 1 { rebuildIndex() }
                else if entries.count > JSONObject.indexThreshold { index[key] = entries.count - 1 }
            }
        }
    }

    private mutating func rebuildIndex() {
        index = entries.count > JSONObject.indexThreshold
            ? Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) }) : [:]
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { entries.makeIterator() }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}
