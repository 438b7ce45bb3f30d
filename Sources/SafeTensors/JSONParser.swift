import CJSONC

/// Why a JSON text was rejected.
public enum JSONError: Error, Equatable, CustomStringConvertible {
    /// The bytes are not valid UTF-8 (offset of the first bad byte).
    case invalidUTF8(offset: Int)
    /// json-c rejected the text; `offset` is where it stopped.
    case syntax(message: String, offset: Int)
    /// Something follows the top-level value (other than whitespace).
    case trailingCharacters(offset: Int)
    /// An object holds the same key twice (json-c would silently keep the last one).
    case duplicateKey(String, offset: Int)
    /// Nesting deeper than the parser allows.
    case tooDeep(limit: Int)

    public var description: String {
        switch self {
        case .invalidUTF8(let o): return "invalid UTF-8 in JSON at byte \(o)"
        case .syntax(let m, let o): return "invalid JSON at byte \(o): \(m)"
        case .trailingCharacters(let o): return "unexpected characters after the JSON value at byte \(o)"
        case .duplicateKey(let k, let o): return "duplicate key \"\(k)\" in JSON object at byte \(o)"
        case .tooDeep(let l): return "JSON nested deeper than \(l) levels"
        }
    }
}

/// Parses JSON text through json-c (strict mode), rejecting duplicate keys at every level.
public enum JSONParser {
    /// Maximum nesting depth accepted.
    public static let maxDepth = 64

    /// Parses `bytes` as one JSON value; JSON whitespace (space, tab, CR, LF) may surround it.
    public static func parse<C: Collection>(_ bytes: C) throws -> JSONValue where C.Element == UInt8 {
        let buffer = Array(bytes)
        if let bad = firstInvalidUTF8(buffer) { throw JSONError.invalidUTF8(offset: bad) }
        // A NUL byte is never valid JSON text (json-c would stop at it and accept what came before).
        if let nul = buffer.firstIndex(of: 0) {
            throw JSONError.syntax(message: "NUL byte is not allowed in JSON text", offset: nul)
        }
        var saturated = SaturatedIntegers(values: try DuplicateKeyScanner(buffer).run())
        guard let tok = json_tokener_new_ex(Int32(maxDepth)) else { throw JSONError.syntax(message: "out of memory", offset: 0) }
        defer { json_tokener_free(tok) }
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT)
        let obj: OpaquePointer? = buffer.withUnsafeBufferPointer { p -> OpaquePointer? in
            p.baseAddress.flatMap { base in
                base.withMemoryRebound(to: CChar.self, capacity: p.count) { json_tokener_parse_ex(tok, $0, Int32(p.count)) }
            }
        }
        let err = json_tokener_get_error(tok)
        let end = Int(json_tokener_get_parse_end(tok))
        guard let root = obj, err == json_tokener_success else {
            if err == json_tokener_error_depth { throw JSONError.tooDeep(limit: maxDepth) }
            let message = err == json_tokener_continue ? "unexpected end of input" : String(cString: json_tokener_error_desc(err))
            if let o = obj { json_object_put(o) }
            throw JSONError.syntax(message: message, offset: err == json_tokener_continue ? buffer.count : end)
        }
        defer { json_object_put(root) }
        if let t = buffer[end...].firstIndex(where: { !isJSONWhitespace($0) }) {
            throw JSONError.trailingCharacters(offset: t)
        }
        return convert(root, &saturated)
    }

    /// Parses a String.
    public static func parse(_ text: String) throws -> JSONValue { try parse(Array(text.utf8)) }

    /// Integer literals json-c clamps to Int64.min / UInt64.max, in document order (see `DuplicateKeyScanner`).
    struct SaturatedIntegers {
        var values: [DuplicateKeyScanner.SaturatedInteger]
        var next = 0
        mutating func pop() -> DuplicateKeyScanner.SaturatedInteger? {
            guard next < values.count else { return nil }
            defer { next += 1 }
            return values[next]
        }
    }

    /// Converts json-c's tree, visiting values in document order (arrays by index, objects in insertion order,
    /// which is document order because duplicate keys were rejected).
    private static func convert(_ o: OpaquePointer?, _ saturated: inout SaturatedIntegers) -> JSONValue {
        guard let o else { return .null }
        switch json_object_get_type(o) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(o) != 0)
        case json_type_int:
            // json-c clamps integers outside [Int64.min, UInt64.max] silently; those literals were recorded by the
            // scanner and become doubles (as serde_json and JavaScript read them) instead of wrong integers.
            let v = json_object_get_int64(o)
            if v == Int64.min, let s = saturated.pop() { return s.exact ? .int(v) : .double(s.value) }
            if v == Int64.max {
                let u = json_object_get_uint64(o)
                if u == UInt64.max, let s = saturated.pop() { return s.exact ? .uint(u) : .double(s.value) }
                if u > UInt64(Int64.max) { return .uint(u) }
            }
            return .int(v)
        case json_type_double: return .double(json_object_get_double(o))
        case json_type_string: return .string(string(of: o))
        case json_type_array:
            let n = json_object_array_length(o)
            var out: [JSONValue] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(convert(json_object_array_get_idx(o, i), &saturated)) }
            return .array(out)
        case json_type_object:
            var result = JSONObject()
            var it = json_object_iter_begin(o)
            let end = json_object_iter_end(o)
            var endIt = end
            while json_object_iter_equal(&it, &endIt) == 0 {
                let key = String(cString: json_object_iter_peek_name(&it))
                result[key] = convert(json_object_iter_peek_value(&it), &saturated)
                json_object_iter_next(&it)
            }
            return .object(result)
        default: return .null
        }
    }

    private static func string(of o: OpaquePointer) -> String {
        let n = Int(json_object_get_string_len(o))
        guard let p = json_object_get_string(o) else { return "" }
        return p.withMemoryRebound(to: UInt8.self, capacity: n) {
            String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
        }
    }

    static func isJSONWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Offset of the first byte that breaks UTF-8, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 { i += 1; continue }
            let len: Int
            let minScalar: UInt32
            var scalar: UInt32
            if b & 0xE0 == 0xC0 { len = 2; minScalar = 0x80; scalar = UInt32(b & 0x1F) }
            else if b & 0xF0 == 0xE0 { len = 3; minScalar = 0x800; scalar = UInt32(b & 0x0F) }
            else if b & 0xF8 == 0xF0 { len = 4; minScalar = 0x10000; scalar = UInt32(b & 0x07) }
            else { return i }
            guard i + len <= n else { return i }
            for k in 1..<len {
                let c = bytes[i + k]
                guard c & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(c & 0x3F)
            }
            if scalar < minScalar || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return i }
            i += len
        }
        return nil
    }
}

/// A light structural pass over JSON text before json-c parses it. It finds duplicate keys in any object, and
/// rejects what json-c accepts even in strict mode but JSON (RFC 8259) does not: single-quoted strings, `NaN` and
/// `Infinity`, raw control characters inside strings, numbers ending in a bare `.` (`1.`), and keys holding
/// `\u0000` (json-c keeps keys as C strings, so `"a\u0000b"` and `"a\u0000c"` would both become `"a"`).
/// It also records integer literals outside the 64-bit range, which json-c clamps without telling.
/// Everything else (structure, numbers, literals) is left to json-c.
struct DuplicateKeyScanner {
    /// An integer literal json-c stores clamped (at or below Int64.min, at or above UInt64.max).
    struct SaturatedInteger {
        /// The literal is exactly Int64.min or UInt64.max (the clamped value is right).
        let exact: Bool
        /// The literal's value as a Double.
        let value: Double
    }

    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Scans the text; returns the clamped integer literals in document order.
    func run() throws -> [SaturatedInteger] {
        var saturated: [SaturatedInteger] = []
        // One entry per open container: its key set (nil for arrays) and whether the next string is a key.
        // Sets are mutated in place through the array subscript (no copy per key).
        var keySets: [Set<String>?] = []
        var expectingKey: [Bool] = []
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "{"):
                keySets.append([]); expectingKey.append(true); i += 1
            case UInt8(ascii: "["):
                keySets.append(nil); expectingKey.append(false); i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !keySets.isEmpty { keySets.removeLast(); expectingKey.removeLast() }
                i += 1
            case UInt8(ascii: ","):
                if let last = keySets.indices.last, keySets[last] != nil { expectingKey[last] = true }
                i += 1
            case UInt8(ascii: "'"):
                throw JSONError.syntax(message: "single-quoted strings are not JSON", offset: i)
            case UInt8(ascii: "N"), UInt8(ascii: "I"):
                throw JSONError.syntax(message: "NaN and Infinity are not JSON numbers", offset: i)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                i = try scanNumber(at: i, saturated: &saturated)
            case UInt8(ascii: "."):
                guard i + 1 < n, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i + 1]) else {
                    throw JSONError.syntax(message: "a decimal point must be followed by a digit", offset: i)
                }
                i += 1
            case UInt8(ascii: "\""):
                let start = i
                let isKey = keySets.last.map { $0 != nil } == true && expectingKey[expectingKey.count - 1]
                guard isKey else {
                    // A value string: only skip it (checking for raw control characters).
                    guard let next = try skipString(at: i) else { return saturated }
                    i = next
                    continue
                }
                guard let (value, next) = try decodeString(at: i) else { return saturated }  // json-c will report it
                if value.utf8.contains(0) {
                    throw JSONError.syntax(message: "an object key may not contain \\u0000", offset: start)
                }
                i = next
                if let last = keySets.indices.last, keySets[last] != nil, expectingKey[last] {
                    if !keySets[last]!.insert(value).inserted { throw JSONError.duplicateKey(value, offset: start) }
                    expectingKey[last] = false
                }
            default:
                i += 1
            }
        }
        return saturated
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// Skips the number starting at `start`, checks that a `.` is followed by a digit, and records integer
    /// literals json-c would clamp. Malformed numbers are left for json-c to report.
    private func scanNumber(at start: Int, saturated: inout [SaturatedInteger]) throws -> Int {
        let n = bytes.count
        var i = start
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let digitsStart = i
        while i < n, isDigit(bytes[i]) { i += 1 }
        let digits = bytes[digitsStart..<i]
        var isInteger = true
        if i < n, bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            guard i + 1 < n, isDigit(bytes[i + 1]) else {
                throw JSONError.syntax(message: "a decimal point must be followed by a digit", offset: i)
            }
            i += 1
            while i < n, isDigit(bytes[i]) { i += 1 }
        }
        if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            while i < n, isDigit(bytes[i]) { i += 1 }
        }
        guard isInteger, !digits.isEmpty else { return i }
        // Digit strings of equal length compare like the numbers they spell (JSON forbids leading zeros).
        let limit = Array((negative ? "9223372036854775808" : "18446744073709551615").utf8)
        if digits.count > limit.count || (digits.count == limit.count && !digits.lexicographicallyPrecedes(limit)) {
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            saturated.append(SaturatedInteger(exact: digits.elementsEqual(limit), value: Double(text) ?? .nan))
        }
        return i
    }

    /// Skips the string literal starting at `start`; returns the offset after its closing quote.
    private func skipString(at start: Int) throws -> Int? {
        var i = start + 1
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return i + 1 }
            if b == UInt8(ascii: "\\") { i += 2; continue }
            if b < 0x20 {
                throw JSONError.syntax(message: "control character 0x\(String(b, radix: 16)) must be escaped in a string", offset: i)
            }
            i += 1
        }
        return nil
    }

    /// Decodes the string literal starting at `start` (the opening quote). Returns nil on malformed input.
    private func decodeString(at start: Int) throws -> (String, Int)? {
        var i = start + 1
        var out: [UInt8] = []
        var pendingHigh: UInt32? = nil
        func appendScalar(_ v: UInt32) {
            guard let s = Unicode.Scalar(v) else { out.append(contentsOf: [0xEF, 0xBF, 0xBD]); return }
            out.append(contentsOf: Array(String(Character(s)).utf8))
        }
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                if let h = pendingHigh { appendScalar(h) }
                return (String(decoding: out, as: UTF8.self), i + 1)
            }
            if b == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { return nil }
                let e = bytes[i + 1]
                if e == UInt8(ascii: "u") {
                    guard i + 6 <= bytes.count,
                          let v = UInt32(String(decoding: bytes[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) else { return nil }
                    if (0xD800...0xDBFF).contains(v) {
                        if let h = pendingHigh { appendScalar(h) }
                        pendingHigh = v
                    } else if (0xDC00...0xDFFF).contains(v), let h = pendingHigh {
                        appendScalar(0x10000 + ((h - 0xD800) << 10) + (v - 0xDC00))
                        pendingHigh = nil
                    } else {
                        if let h = pendingHigh { appendScalar(h); pendingHigh = nil }
                        appendScalar(v)
                    }
                    i += 6
                    continue
                }
                if let h = pendingHigh { appendScalar(h); pendingHigh = nil }
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                default: out.append(e)
                }
                i += 2
                continue
            }
            if b < 0x20 {
                throw JSONError.syntax(message: "control character 0x\(String(b, radix: 16)) must be escaped in a string", offset: i)
            }
            if let h = pendingHigh { appendScalar(h); pendingHigh = nil }
            out.append(b)
            i += 1
        }
        return nil
    }
}
