// The `tokenizers` (Hugging Face) encoding pipeline that transformers' T5Tokenizer runs: added tokens split out of
// the raw text, the Precompiled normalizer applied per grapheme cluster, WhitespaceSplit + Metaspace
// pre-tokenization and a Unigram model per word. It differs from sentencepiece on some inputs (a grapheme whose
// start is a normalization key is replaced whole: "à́" → "à"; every vocabulary entry — byte pieces, control
// tokens — can be matched as text; byte fallback is off for a T5Tokenizer built from spiece.model), which is why
// the diffusers pipelines (transformers 5) need this path and not sentencepiece's.
import Foundation
import SafeTensors

/// One step of a `tokenizers` normalizer.
enum NormalizerStep: Sendable {
    /// spm_precompiled: per grapheme (< 6 bytes) the replacement of the *shortest* key that prefixes it, else per
    /// scalar.
    case precompiled(SentencePieceNormalizer)
    /// `Replace` with a literal pattern.
    case replace(String, with: String)
    /// `Replace` with the regex ` {2,}`.
    case collapseSpaces(with: String)
    /// `Strip` of Unicode whitespace.
    case strip(left: Bool, right: Bool)
}

/// One step of a `tokenizers` pre-tokenizer.
enum PreTokenizerStep: Sendable {
    case whitespaceSplit
    /// `prepend`: 0 never, 1 first, 2 always.
    case metaspace(replacement: Unicode.Scalar, prepend: Int, split: Bool)
}

struct AddedToken: Sendable {
    let id: Int
    let content: String
    let special: Bool
    let lstrip: Bool
    let rstrip: Bool
}

/// A `tokenizers` Unigram pipeline (tokenizer.json, or the one transformers' T5Tokenizer builds from spiece.model).
struct TokenizersPipeline: Sendable {
    var normalizer: [NormalizerStep] = []
    var preTokenizer: [PreTokenizerStep] = []
    /// Unigram vocabulary in id order (piece, score).
    var vocab: [(piece: String, score: Float)] = []
    var unkID: Int?
    var byteFallback = false
    var added: [AddedToken] = []
    /// Template `single`: special-token ids before and after the sequence.
    var prefix: [(Int, String)] = []
    var suffix: [(Int, String)] = []

    // Built by `prepare()`.
    private(set) var tokenToID: [String: Int] = [:]
    private(set) var trie: [[UInt8: Int]] = [[:]]
    private(set) var trieID: [Int] = [-1]
    private(set) var minScore: Float = 0

    mutating func prepare() {
        tokenToID = [:]
        trie = [[:]]
        trieID = [-1]
        minScore = .greatestFiniteMagnitude
        for (i, v) in vocab.enumerated() {
            tokenToID[v.piece] = i  // last wins, as tokenizers' HashMap insert
            minScore = min(minScore, v.score)
            var node = 0
            for c in v.piece.utf8 {
                if let next = trie[node][c] { node = next } else {
                    trie.append([:]); trieID.append(-1)
                    trie[node][c] = trie.count - 1
                    node = trie.count - 1
                }
            }
            trieID[node] = i
        }
        if vocab.isEmpty { minScore = 0 }
        for a in added where tokenToID[a.content] == nil { tokenToID[a.content] = a.id }
    }

    /// Splits added tokens out of the raw text (leftmost-longest, as tokenizers' AddedVocabulary), honouring
    /// lstrip/rstrip. Returns text segments and matched tokens in order.
    func splitAdded(_ text: String) -> [(text: String, token: AddedToken?)] {
        guard !added.isEmpty else { return [(text, nil)] }
        let sorted = added.sorted { $0.content.utf8.count > $1.content.utf8.count }
        let scalars = Array(text.unicodeScalars)
        var out: [(String, AddedToken?)] = []
        var segment = String.UnicodeScalarView()
        var i = 0
        func flush() { if !segment.isEmpty { out.append((String(segment), nil)); segment = String.UnicodeScalarView() } }
        while i < scalars.count {
            var hit: AddedToken?
            for a in sorted where !a.content.isEmpty {
                let c = Array(a.content.unicodeScalars)
                if i + c.count <= scalars.count && Array(scalars[i..<(i + c.count)]) == c { hit = a; break }
            }
            if let a = hit {
                if a.lstrip { while let l = segment.last, l.properties.isWhitespace { segment.removeLast() } }
                flush()
                out.append(("", a))
                i += a.content.unicodeScalars.count
                if a.rstrip { while i < scalars.count && scalars[i].properties.isWhitespace { i += 1 } }
            } else {
                segment.append(scalars[i])
                i += 1
            }
        }
        flush()
        return out
    }

    func normalize(_ text: String) -> String {
        var s = text
        for step in normalizer {
            switch step {
            case .precompiled(let n): s = n.normalizeGraphemes(s)
            case .replace(let p, let r): s = TokenizersPipeline.replaceScalars(s, p, r)
            case .collapseSpaces(let r):
                var out = String.UnicodeScalarView(), run = 0
                for u in s.unicodeScalars {
                    if u == " " { run += 1; continue }
                    if run == 1 { out.append(" ") } else if run > 1 { out.append(contentsOf: r.unicodeScalars) }
                    run = 0
                    out.append(u)
                }
                if run == 1 { out.append(" ") } else if run > 1 { out.append(contentsOf: r.unicodeScalars) }
                s = String(out)
            case .strip(let l, let r):
                var u = Array(s.unicodeScalars)
                if r { while let x = u.last, x.properties.isWhitespace { u.removeLast() } }
                if l { let k = u.firstIndex { !$0.properties.isWhitespace } ?? u.count; u.removeFirst(k) }
                var v = String.UnicodeScalarView(); v.append(contentsOf: u); s = String(v)
            }
        }
        return s
    }

    /// Literal replacement on Unicode scalars (Foundation's replacement can match across grapheme boundaries
    /// differently from tokenizers' byte-level `str::replace`).
    static func replaceScalars(_ s: String, _ pattern: String, _ with: String) -> String {
        let p = Array(pattern.unicodeScalars), u = Array(s.unicodeScalars)
        guard !p.isEmpty else { return s }
        var out = String.UnicodeScalarView(), i = 0
        while i < u.count {
            if i + p.count <= u.count && Array(u[i..<(i + p.count)]) == p { out.append(contentsOf: with.unicodeScalars); i += p.count } else { out.append(u[i]); i += 1 }
        }
        return String(out)
    }

    func preTokenize(_ text: String, first: Bool) -> [String] {
        var words = [text]
        for step in preTokenizer {
            switch step {
            case .whitespaceSplit:
                words = words.flatMap { w in
                    w.unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace }).map { String(String.UnicodeScalarView($0)) }
                }
            case .metaspace(let rep, let prepend, let split):
                var out: [String] = []
                for (k, w0) in words.enumerated() {
                    // Scalar-level: String.hasPrefix compares grapheme clusters ("▁" + ZWJ is one Character).
                    var w = Array(w0.unicodeScalars).map { $0 == " " ? rep : $0 }
                    if (prepend == 2 || (prepend == 1 && first && k == 0)) && w.first != rep { w.insert(rep, at: 0) }
                    guard split else { out.append(String(String.UnicodeScalarView(w))); continue }
                    var cur = String.UnicodeScalarView()
                    for u in w {
                        if u == rep && !cur.isEmpty { out.append(String(cur)); cur = String.UnicodeScalarView() }
                        cur.append(u)
                    }
                    if !cur.isEmpty { out.append(String(cur)) }
                }
                words = out
            }
        }
        return words.filter { !$0.isEmpty }
    }

    /// tokenizers' `Unigram::encode_optimized` + `tokenize` (unknown fusion, byte fallback) on one word.
    func unigram(_ word: String) -> [(id: Int, piece: String)] {
        let s = Array(word.utf8)
        let n = s.count
        guard n > 0 else { return [] }
        let unkScore = minScore - 10
        var best = [Float](repeating: 0, count: n + 1)
        var from = [Int](repeating: -1, count: n + 1), pid = [Int](repeating: -1, count: n + 1)
        var start = 0
        while start < n {
            let b = s[start]
            let mblen = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            var hasSingle = false
            var node = 0, i = start
            while i < n, let next = trie[node][s[i]] {
                node = next
                i += 1
                let id = trieID[node]
                guard id >= 0 else { continue }
                let candidate = best[start] + vocab[id].score
                if from[i] < 0 || candidate > best[i] { best[i] = candidate; from[i] = start; pid[i] = id }
                if i - start == mblen { hasSingle = true }
            }
            if !hasSingle, let unk = unkID {
                let end = min(n, start + mblen)
                let candidate = best[start] + unkScore
                if from[end] < 0 || candidate > best[end] { best[end] = candidate; from[end] = start; pid[end] = unk }
            }
            start += mblen
        }
        var strings: [String] = []
        var unkRun: [String] = []
        var end = n
        while end > 0 {
            let st = from[end]
            guard st >= 0 else { break }  // no unk id and no piece: tokenizers errors; we stop
            let piece = String(decoding: s[st..<end], as: UTF8.self)
            if let unk = unkID, pid[end] == unk { unkRun.append(piece) } else {
                if !unkRun.isEmpty { strings.append(unkRun.reversed().joined()); unkRun = [] }
                strings.append(piece)
            }
            end = st
        }
        if !unkRun.isEmpty { strings.append(unkRun.reversed().joined()) }
        var out: [(id: Int, piece: String)] = []
        for p in strings.reversed() {
            if let id = tokenToID[p] { out.append((id, p)); continue }
            if byteFallback {
                let bytes = p.utf8.map { String(format: "<0x%02X>", $0) }
                let ids = bytes.compactMap { tokenToID[$0] }
                if ids.count == bytes.count { out += zip(ids, bytes).map { ($0, $1) }; continue }
            }
            if let unk = unkID { out.append((unk, p)) }
        }
        return out
    }

    /// One text segment (no added tokens in it): normalized, pre-tokenized and encoded.
    func encodeText(_ text: String, first: Bool = true) -> [(id: Int, piece: String)] {
        preTokenize(normalize(text), first: first).flatMap { unigram($0) }
    }

    /// Added tokens split out, every segment encoded; no template.
    func encodeContent(_ text: String) -> [(id: Int, piece: String)] {
        var out: [(id: Int, piece: String)] = []
        for (k, part) in splitAdded(text).enumerated() {
            if let a = part.token { out.append((a.id, a.content)) } else { out += encodeText(part.text, first: k == 0) }
        }
        return out
    }
}

extension SentencePieceNormalizer {
    /// spm_precompiled's `normalize_string` (the `Precompiled` normalizer of tokenizers).
    func normalizeGraphemes(_ text: String) -> String {
        guard !units.isEmpty else { return text }
        var out: [UInt8] = []
        func transform(_ b: [UInt8]) -> [UInt8]? {
            guard let first = prefixMatches(b, from: 0).first, first.value < pool.count else { return nil }
            var end = first.value
            while end < pool.count && pool[end] != 0 { end += 1 }
            return Array(pool[first.value..<end])
        }
        for g in text {
            let bytes = Array(g.utf8)
            if bytes.count < 6, let r = transform(bytes) { out += r; continue }
            for u in g.unicodeScalars {
                let b = Array(String(u).utf8)
                out += transform(b) ?? b
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

// MARK: - tokenizer.json

extension TokenizersPipeline {
    /// Reads a Unigram tokenizer.json. Unsupported components are typed errors, never silently skipped.
    init(json: JSONValue) throws {
        func bad(_ what: String) -> TokenizerError { .malformedTokenizerJSON(what) }
        guard let model = json["model"] else { throw bad("no \"model\"") }
        guard model["type"]?.string == "Unigram" else {
            throw TokenizerError.unsupportedTokenizerJSON("model type \(model["type"]?.string ?? "?") (only Unigram)")
        }
        guard let v = model["vocab"]?.array else { throw bad("model.vocab is not an array") }
        vocab = try v.enumerated().map { i, e in
            guard let p = e[0]?.string, let sc = e[1]?.double else { throw bad("model.vocab[\(i)] is not [piece, score]") }
            return (p, Float(sc))
        }
        if let u = model["unk_id"], !u.isNull {
            guard let id = u.int, id >= 0, id < vocab.count else { throw bad("model.unk_id is not a vocabulary id") }
            unkID = id
        }
        byteFallback = model["byte_fallback"]?.bool ?? false
        if let n = json["normalizer"], !n.isNull { normalizer = try TokenizersPipeline.normalizerSteps(n) }
        if let p = json["pre_tokenizer"], !p.isNull { preTokenizer = try TokenizersPipeline.preTokenizerSteps(p) }
        for (i, a) in (json["added_tokens"]?.array ?? []).enumerated() {
            guard let id = a["id"]?.int, id >= 0, let c = a["content"]?.string else { throw bad("added_tokens[\(i)] has no id/content") }
            if a["single_word"]?.bool == true { throw TokenizerError.unsupportedTokenizerJSON("added token \(c) with single_word") }
            added.append(AddedToken(id: id, content: c, special: a["special"]?.bool ?? false,
                                    lstrip: a["lstrip"]?.bool ?? false, rstrip: a["rstrip"]?.bool ?? false))
        }
        if let pp = json["post_processor"], !pp.isNull {
            guard pp["type"]?.string == "TemplateProcessing", let single = pp["single"]?.array else {
                throw TokenizerError.unsupportedTokenizerJSON("post_processor \(pp["type"]?.string ?? "?")")
            }
            var seenSequence = false
            for item in single {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let name = item["SpecialToken"]?["id"]?.string,
                      let ids = pp["special_tokens"]?[name]?["ids"]?.array, ids.count == 1, let id = ids[0].int else {
                    throw bad("post_processor.single item is neither a Sequence nor a known SpecialToken")
                }
                if seenSequence { suffix.append((id, name)) } else { prefix.append((id, name)) }
            }
        }
        prepare()
    }

    static func normalizerSteps(_ n: JSONValue) throws -> [NormalizerStep] {
        switch n["type"]?.string {
        case "Sequence":
            return try (n["normalizers"]?.array ?? []).flatMap { try normalizerSteps($0) }
        case "Precompiled":
            guard let b64 = n["precompiled_charsmap"]?.string, let data = Data(base64Encoded: b64) else {
                throw TokenizerError.malformedTokenizerJSON("Precompiled.precompiled_charsmap is not base64")
            }
            return [.precompiled(try SentencePieceNormalizer(charsMap: [UInt8](data)))]
        case "Replace":
            let content = n["content"]?.string ?? ""
            if let s = n["pattern"]?["String"]?.string { return [.replace(s, with: content)] }
            if n["pattern"]?["Regex"]?.string == " {2,}" { return [.collapseSpaces(with: content)] }
            throw TokenizerError.unsupportedTokenizerJSON("Replace pattern \(n["pattern"].map { $0.serialized() } ?? "?")")
        case "Strip":
            return [.strip(left: n["strip_left"]?.bool ?? true, right: n["strip_right"]?.bool ?? true)]
        default:
            throw TokenizerError.unsupportedTokenizerJSON("normalizer \(n["type"]?.string ?? "?")")
        }
    }

    static func preTokenizerSteps(_ p: JSONValue) throws -> [PreTokenizerStep] {
        switch p["type"]?.string {
        case "Sequence": return try (p["pretokenizers"]?.array ?? []).flatMap { try preTokenizerSteps($0) }
        case "WhitespaceSplit": return [.whitespaceSplit]
        case "Metaspace":
            guard let r = p["replacement"]?.string, r.unicodeScalars.count == 1, let rep = r.unicodeScalars.first else {
                throw TokenizerError.malformedTokenizerJSON("Metaspace.replacement is not one character")
            }
            let prepend: Int
            switch p["prepend_scheme"]?.string {
            case "always": prepend = 2
            case "first": prepend = 1
            case "never": prepend = 0
            case nil: prepend = (p["add_prefix_space"]?.bool ?? true) ? 2 : 0
            case let s?: throw TokenizerError.unsupportedTokenizerJSON("Metaspace prepend_scheme \(s)")
            }
            return [.metaspace(replacement: rep, prepend: prepend, split: p["split"]?.bool ?? true)]
        default:
            throw TokenizerError.unsupportedTokenizerJSON("pre_tokenizer \(p["type"]?.string ?? "?")")
        }
    }
}
