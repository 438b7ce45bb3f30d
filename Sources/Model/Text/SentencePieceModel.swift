// A bounds-checked reader for SentencePiece's `ModelProto` (sentencepiece_model.proto): the pieces with their
// scores and types, the trainer options encoding needs, and the normalizer spec with its precompiled charsmap.

/// Errors reading a tokenizer model.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case truncated(offset: Int, what: String)
    case invalidWireType(Int, field: Int, offset: Int)
    case lengthTooLarge(UInt64, offset: Int)
    case invalidUTF8(field: String)
    case unsupportedModelType(Int)
    case brokenCharsMap(String)
    case noPieces
    case missingSpecialToken(String)
    case notFound(String)
    case malformedTokenizerJSON(String)
    case unsupportedTokenizerJSON(String)

    public var description: String {
        switch self {
        case .truncated(let o, let w): return "spiece.model ends inside \(w) at byte \(o)"
        case .invalidWireType(let t, let f, let o): return "spiece.model: field \(f) has invalid wire type \(t) at byte \(o)"
        case .lengthTooLarge(let n, let o): return "spiece.model: length \(n) at byte \(o) runs past the end"
        case .invalidUTF8(let f): return "spiece.model: \(f) is not valid UTF-8"
        case .unsupportedModelType(let t): return "spiece.model uses model type \(t); only Unigram (1) is supported (T5 uses Unigram)"
        case .brokenCharsMap(let r): return "spiece.model: the precompiled normalization map is broken: \(r)"
        case .noPieces: return "spiece.model holds no pieces"
        case .missingSpecialToken(let t): return "the tokenizer has no \(t) token"
        case .notFound(let p): return "no tokenizer model (spiece.model or tokenizer.json) in \(p)"
        case .malformedTokenizerJSON(let r): return "tokenizer.json is malformed: \(r)"
        case .unsupportedTokenizerJSON(let r): return "tokenizer.json uses \(r), which this tokenizer does not implement"
        }
    }
}

/// The parts of a SentencePiece model that encoding uses.
public struct SentencePieceModel: Sendable {
    public enum PieceType: Int, Sendable { case normal = 1, unknown = 2, control = 3, userDefined = 4, byte = 6, unused = 5 }
    public struct Piece: Sendable {
        public let piece: String
        public let score: Float
        public let type: PieceType
    }

    public var pieces: [Piece] = []
    public var modelType = 1
    public var byteFallback = false
    public var treatWhitespaceAsSuffix = false
    public var unkID = 0
    public var bosID = 1
    public var eosID = 2
    public var padID = -1
    public var addDummyPrefix = true
    public var removeExtraWhitespaces = true
    public var escapeWhitespaces = true
    public var precompiledCharsMap: [UInt8] = []

    /// An empty model, filled field by field (tokenizer.json).
    init() {}

    /// Parses a serialized ModelProto.
    public init(bytes: [UInt8]) throws {
        var r = ProtoReader(bytes)
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, 2): pieces.append(try SentencePieceModel.parsePiece(try r.bytesField("pieces")))
            case (2, 2): try parseTrainerSpec(try r.bytesField("trainer_spec"))
            case (3, 2): try parseNormalizerSpec(try r.bytesField("normalizer_spec"))
            default: try r.skip(wire, field: field)
            }
        }
        guard !pieces.isEmpty else { throw TokenizerError.noPieces }
        guard modelType == 1 else { throw TokenizerError.unsupportedModelType(modelType) }
    }

    static func parsePiece(_ b: [UInt8]) throws -> Piece {
        var r = ProtoReader(b)
        var piece = "", score: Float = 0, type = PieceType.normal
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (1, 2):
                guard let s = String(validating: try r.bytesField("piece"), as: UTF8.self) else { throw TokenizerError.invalidUTF8(field: "piece") }
                piece = s
            case (2, 5): score = Float(bitPattern: try r.fixed32())
            case (3, 0): type = PieceType(rawValue: Int(try r.varint())) ?? .normal
            default: try r.skip(wire, field: field)
            }
        }
        return Piece(piece: piece, score: score, type: type)
    }

    mutating func parseTrainerSpec(_ b: [UInt8]) throws {
        var r = ProtoReader(b)
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (3, 0): modelType = Int(try r.varint())
            case (24, 0): treatWhitespaceAsSuffix = try r.varint() != 0
            case (35, 0): byteFallback = try r.varint() != 0
            case (40, 0): unkID = Int(Int32(truncatingIfNeeded: try r.varint()))
            case (41, 0): bosID = Int(Int32(truncatingIfNeeded: try r.varint()))
            case (42, 0): eosID = Int(Int32(truncatingIfNeeded: try r.varint()))
            case (43, 0): padID = Int(Int32(truncatingIfNeeded: try r.varint()))
            default: try r.skip(wire, field: field)
            }
        }
    }

    mutating func parseNormalizerSpec(_ b: [UInt8]) throws {
        var r = ProtoReader(b)
        while let (field, wire) = try r.nextField() {
            switch (field, wire) {
            case (2, 2): precompiledCharsMap = try r.bytesField("precompiled_charsmap")
            case (3, 0): addDummyPrefix = try r.varint() != 0
            case (4, 0): removeExtraWhitespaces = try r.varint() != 0
            case (5, 0): escapeWhitespaces = try r.varint() != 0
            default: try r.skip(wire, field: field)
            }
        }
    }
}

/// Protocol-buffer wire reader: every length is checked against the bytes that remain.
struct ProtoReader {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard i < b.count else { throw TokenizerError.truncated(offset: i, what: "a varint") }
            let byte = b[i]; i += 1
            guard shift < 64 else { throw TokenizerError.truncated(offset: i, what: "an over-long varint") }
            v |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return v }
            shift += 7
        }
    }

    mutating func nextField() throws -> (Int, Int)? {
        guard i < b.count else { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func fixed32() throws -> UInt32 {
        guard b.count - i >= 4 else { throw TokenizerError.truncated(offset: i, what: "a fixed32") }
        let v = UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
        i += 4
        return v
    }

    mutating func bytesField(_ what: String) throws -> [UInt8] {
        let at = i
        let n = try varint()
        guard n <= UInt64(b.count - i) else { throw TokenizerError.lengthTooLarge(n, offset: at) }
        defer { i += Int(n) }
        return Array(b[i..<(i + Int(n))])
    }

    mutating func skip(_ wire: Int, field: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: guard b.count - i >= 8 else { throw TokenizerError.truncated(offset: i, what: "a fixed64") }; i += 8
        case 2: _ = try bytesField("field \(field)")
        case 5: _ = try fixed32()
        default: throw TokenizerError.invalidWireType(wire, field: field, offset: i)
        }
    }
}
