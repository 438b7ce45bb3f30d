// SentencePiece's normalizer (src/normalizer.cc): longest-prefix rewriting through the model's precompiled
// charsmap (a darts-clone double-array trie plus a pool of NUL-terminated replacements), whitespace collapsing,
// `▁` escaping and the dummy prefix.

struct SentencePieceNormalizer: Sendable {
    let units: [UInt32]
    let pool: [UInt8]
    /// The precompiled charsmap as stored (size + units + pool).
    let blob: [UInt8]
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    let treatWhitespaceAsSuffix: Bool

    init(model m: SentencePieceModel) throws {
        addDummyPrefix = m.addDummyPrefix
        removeExtraWhitespaces = m.removeExtraWhitespaces
        escapeWhitespaces = m.escapeWhitespaces
        treatWhitespaceAsSuffix = m.treatWhitespaceAsSuffix
        blob = m.precompiledCharsMap
        (units, pool) = try SentencePieceNormalizer.parse(blob)
    }

    /// Only the charsmap (tokenizers' `Precompiled` normalizer); the whitespace options keep sentencepiece's
    /// defaults and are not used by `normalizeGraphemes`.
    init(charsMap: [UInt8]) throws {
        addDummyPrefix = true
        removeExtraWhitespaces = true
        escapeWhitespaces = true
        treatWhitespaceAsSuffix = false
        blob = charsMap
        (units, pool) = try SentencePieceNormalizer.parse(charsMap)
    }

    /// Splits the blob: little-endian uint32 trie size, the darts-clone units, the NUL-terminated string pool.
    static func parse(_ blob: [UInt8]) throws -> ([UInt32], [UInt8]) {
        if blob.isEmpty { return ([], []) }
        guard blob.count > 4 else { throw TokenizerError.brokenCharsMap("shorter than its size field") }
        let size = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard size < blob.count - 4 + 1, size % 4 == 0, 4 + size <= blob.count else {
            throw TokenizerError.brokenCharsMap("trie size \(size) exceeds the blob of \(blob.count) bytes")
        }
        let units = stride(from: 4, to: 4 + size, by: 4).map {
            UInt32(blob[$0]) | UInt32(blob[$0 + 1]) << 8 | UInt32(blob[$0 + 2]) << 16 | UInt32(blob[$0 + 3]) << 24
        }
        return (units, Array(blob[(4 + size)...]))
    }

    /// darts-clone `commonPrefixSearch`: (value, length) of every key that is a prefix of `key[start...]`.
    func prefixMatches(_ key: [UInt8], from start: Int) -> [(value: Int, length: Int)] {
        guard !units.isEmpty else { return [] }
        func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }
        var results: [(Int, Int)] = []
        var node = offset(units[0])
        for i in start..<key.count {
            let c = Int(key[i])
            node ^= c
            guard node < units.count else { return results }
            let u = units[node]
            guard Int(u & ((1 << 31) | 0xFF)) == c else { return results }
            node ^= offset(u)
            guard node < units.count else { return results }
            if (u >> 8) & 1 == 1 { results.append((Int(units[node] & ((1 << 31) - 1)), i - start + 1)) }
        }
        return results
    }

    /// `NormalizePrefix`: the replacement bytes for the start of `input[at...]` and how many bytes it consumes.
    func normalizePrefix(_ input: [UInt8], at: Int) -> ([UInt8], Int) {
        var longest = 0, value = 0
        for m in prefixMatches(input, from: at) where longest == 0 || m.length > longest {
            longest = m.length
            value = m.value
        }
        if longest > 0, value < pool.count {
            var end = value
            while end < pool.count && pool[end] != 0 { end += 1 }
            return (Array(pool[value..<end]), longest)
        }
        let len = SentencePieceNormalizer.validUTF8Length(input, at)
        if len == 0 { return ([0xEF, 0xBF, 0xBD], 1) }  // malformed: U+FFFD, one byte consumed
        return (Array(input[at..<(at + len)]), len)
    }

    /// Length of the valid UTF-8 character at `i`, or 0 when malformed.
    static func validUTF8Length(_ s: [UInt8], _ i: Int) -> Int {
        let b = s[i]
        let n: Int, minV: UInt32
        var v: UInt32
        if b < 0x80 { return 1 }
        else if b & 0xE0 == 0xC0 { n = 2; minV = 0x80; v = UInt32(b & 0x1F) }
        else if b & 0xF0 == 0xE0 { n = 3; minV = 0x800; v = UInt32(b & 0x0F) }
        else if b & 0xF8 == 0xF0 { n = 4; minV = 0x10000; v = UInt32(b & 0x07) }
        else { return 0 }
        guard i + n <= s.count else { return 0 }
        for k in 1..<n { guard s[i + k] & 0xC0 == 0x80 else { return 0 }; v = v << 6 | UInt32(s[i + k] & 0x3F) }
        if v < minV || v > 0x10FFFF || (0xD800...0xDFFF).contains(v) { return 0 }
        return n
    }

    static let space: [UInt8] = [0xE2, 0x96, 0x81]  // U+2581

    /// `Normalizer::Normalize`.
    func normalize(_ text: String) -> [UInt8] {
        var input = Array(text.utf8)
        var pos = 0
        if removeExtraWhitespaces {
            while pos < input.count {
                let (p, n) = normalizePrefix(input, at: pos)
                if p != [0x20] { break }
                pos += n
            }
        }
        if pos >= input.count { return [] }
        input = Array(input[pos...])
        pos = 0
        var out: [UInt8] = []
        func addWS() { if escapeWhitespaces { out += SentencePieceNormalizer.space } else { out.append(0x20) } }
        if !treatWhitespaceAsSuffix && addDummyPrefix { addWS() }
        var prevSpace = removeExtraWhitespaces
        while pos < input.count {
            var (sp, n) = normalizePrefix(input, at: pos)
            if prevSpace { while sp.first == 0x20 { sp.removeFirst() } }
            if !sp.isEmpty {
                for c in sp { if escapeWhitespaces && c == 0x20 { out += SentencePieceNormalizer.space } else { out.append(c) } }
                prevSpace = sp.last == 0x20
            }
            pos += n
            if !removeExtraWhitespaces { prevSpace = false }
        }
        if removeExtraWhitespaces {
            let s = escapeWhitespaces ? SentencePieceNormalizer.space : [0x20]
            while out.count >= s.count && Array(out.suffix(s.count)) == s { out.removeLast(s.count) }
        }
        if treatWhitespaceAsSuffix && addDummyPrefix { addWS() }
        return out
    }
}
