import Foundation
import SafeTensors

/// T5's tokenizer: a SentencePiece Unigram model with T5's post-processing as transformers applies it:
/// `<extra_id_N>`, `</s>`, `<pad>` and `<unk>` written in the text are special tokens, `</s>` is appended,
/// sequences are truncated to `maxLength − 1` pieces + `</s>` and padded with `<pad>` to `maxLength`.
///
/// Two encoders, chosen by `compatibility`:
/// - `.transformers` (default): the `tokenizers` pipeline transformers' `T5Tokenizer` runs (what diffusers feeds
///   the text encoder): Precompiled normalizer per grapheme, WhitespaceSplit + Metaspace, Unigram per word, no
///   byte fallback when built from spiece.model; or exactly what a tokenizer.json describes.
/// - `.sentencepiece`: the sentencepiece library (unigram_model.cc `EncodeOptimized`, normalizer.cc, unknown
///   merging, byte fallback).
/// They agree on ordinary text and differ on a few inputs (e.g. "à́", half-width voiced kana, "<0x41>" typed as
/// text, byte-fallback models).
///
/// Loading: `T5Tokenizer(path:)` takes a spiece.model or tokenizer.json file, a tokenizer folder or a pipeline
/// folder (its `tokenizer/`); `T5Tokenizer(model: SentencePieceModel(bytes:))` and `T5Tokenizer(tokenizerJSON:)`
/// take the bytes (e.g. embedded in our GGUF).
public struct T5Tokenizer: Sendable {
    public enum Compatibility: Sendable, Equatable { case transformers, sentencepiece }

    public let model: SentencePieceModel
    public let compatibility: Compatibility
    let pipeline: TokenizersPipeline
    let normalizer: SentencePieceNormalizer
    let pieceIDs: [String: Int]
    /// Trie over piece bytes (children by byte) for matching pieces at a position.
    let trie: [[UInt8: Int]]
    let trieID: [Int]
    let unkScore: Float
    /// `<extra_id_N>` tokens appended after the SentencePiece vocabulary, in T5's reversed order.
    public let extraIDs: Int
    public var vocabularySize: Int { model.pieces.count + extraIDs }

    /// From a parsed spiece.model; `.transformers` builds the pipeline transformers' T5Tokenizer builds from it
    /// (vocabulary = pieces + `<extra_id_N>` in reverse order, unk id 2, no byte fallback, as transformers 5 does).
    public init(model: SentencePieceModel, extraIDs: Int = 100, compatibility: Compatibility = .transformers) throws {
        self.model = model
        self.extraIDs = extraIDs
        self.compatibility = compatibility
        normalizer = try SentencePieceNormalizer(model: model)
        var p = TokenizersPipeline()
        if !model.precompiledCharsMap.isEmpty { p.normalizer = [.precompiled(normalizer)] }
        p.preTokenizer = [.whitespaceSplit, .metaspace(replacement: "\u{2581}" as Unicode.Scalar, prepend: 2, split: true)]
        p.vocab = model.pieces.map { ($0.piece, $0.score) } + (0..<extraIDs).reversed().map { ("<extra_id_\($0)>", 0) }
        p.unkID = p.vocab.count > 2 ? 2 : nil
        for (i, v) in p.vocab.enumerated() where ["<pad>", "</s>", "<unk>"].contains(v.piece) || i >= model.pieces.count {
            p.added.append(AddedToken(id: i, content: v.piece, special: true, lstrip: false, rstrip: false))
        }
        if let eos = p.vocab.lastIndex(where: { $0.piece == "</s>" }) { p.suffix = [(eos, "</s>")] }
        p.prepare()
        pipeline = p
        var ids: [String: Int] = [:]
        var trie: [[UInt8: Int]] = [[:]], trieID = [-1]
        var minScore = Float.greatestFiniteMagnitude
        for (i, p) in model.pieces.enumerated() {
            ids[p.piece] = ids[p.piece] ?? i
            guard p.type == .normal || p.type == .userDefined else { continue }
            if p.type == .normal { minScore = min(minScore, p.score) }
            var node = 0
            for c in p.piece.utf8 {
                if let next = trie[node][c] { node = next } else {
                    trie.append([:]); trieID.append(-1)
                    trie[node][c] = trie.count - 1
                    node = trie.count - 1
                }
            }
            if trieID[node] < 0 { trieID[node] = i }
        }
        pieceIDs = ids
        self.trie = trie
        self.trieID = trieID
        unkScore = minScore - 10
    }

    /// From a `tokenizers` tokenizer.json (Unigram model; Precompiled/Replace/Strip normalizers; WhitespaceSplit
    /// and Metaspace pre-tokenizers; added tokens; TemplateProcessing). Always `.transformers` compatibility.
    public init(tokenizerJSON bytes: [UInt8]) throws {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw TokenizerError.malformedTokenizerJSON("\(error)") }
        let p = try TokenizersPipeline(json: json)
        var m = SentencePieceModel()
        let specials = Dictionary(p.added.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        m.pieces = p.vocab.enumerated().map { i, v in
            let type: SentencePieceModel.PieceType = i == p.unkID ? .unknown : specials[i]?.special == true ? .control
                : (v.piece.hasPrefix("<0x") && v.piece.count == 6 && v.piece.hasSuffix(">")) ? .byte : .normal
            return .init(piece: v.piece, score: v.score, type: type)
        }
        guard !m.pieces.isEmpty else { throw TokenizerError.noPieces }
        m.byteFallback = p.byteFallback
        m.unkID = p.unkID ?? -1
        m.eosID = p.suffix.last?.0 ?? p.tokenToID["</s>"] ?? -1
        m.bosID = p.prefix.first?.0 ?? -1
        m.padID = p.tokenToID["<pad>"] ?? -1
        for case .precompiled(let n) in p.normalizer { m.precompiledCharsMap = n.blob }
        model = m
        extraIDs = 0
        compatibility = .transformers
        normalizer = try SentencePieceNormalizer(model: m)
        pieceIDs = p.tokenToID
        trie = [[:]]
        trieID = [-1]
        unkScore = p.minScore - 10
        pipeline = p
    }

    /// Loads a spiece.model or tokenizer.json file, a tokenizer folder or a pipeline folder (its `tokenizer/`).
    /// A folder with both is read as transformers reads it: tokenizer.json for `.transformers`, spiece.model for
    /// `.sentencepiece`.
    public init(path: String, compatibility: Compatibility = .transformers) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        var p = path
        if fm.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
            let names = (compatibility == .transformers ? ["tokenizer.json"] : []) + ["spiece.model"]
            let candidates = names.map { (p as NSString).appendingPathComponent($0) }
                + names.map { (p as NSString).appendingPathComponent("tokenizer/" + $0) }
            guard let found = candidates.first(where: { fm.fileExists(atPath: $0) }) else { throw TokenizerError.notFound(path) }
            p = found
        }
        guard let data = fm.contents(atPath: p) else { throw TokenizerError.notFound(path) }
        if p.hasSuffix(".json") {
            guard compatibility == .transformers else { throw TokenizerError.notFound(path + " (spiece.model for sentencepiece compatibility)") }
            try self.init(tokenizerJSON: [UInt8](data))
        } else {
            try self.init(model: SentencePieceModel(bytes: [UInt8](data)), compatibility: compatibility)
        }
    }

    /// The id of a piece string (including `<extra_id_N>`), or nil.
    public func id(of piece: String) -> Int? {
        if compatibility == .transformers, let i = pipeline.tokenToID[piece] { return i }
        if let i = pieceIDs[piece] { return i }
        if piece.hasPrefix("<extra_id_"), piece.hasSuffix(">"), let n = Int(piece.dropFirst(10).dropLast()), n >= 0, n < extraIDs {
            return vocabularySize - 1 - n
        }
        return nil
    }

    /// The piece string of an id.
    public func piece(of id: Int) -> String {
        if id >= 0 && id < model.pieces.count { return model.pieces[id].piece }
        if id >= model.pieces.count && id < vocabularySize { return "<extra_id_\(vocabularySize - 1 - id)>" }
        if let a = pipeline.added.first(where: { $0.id == id }) { return a.content }
        return "<unk>"
    }

    /// Encoding of one text segment without special-token splitting or `</s>`: (id, piece) pairs. With
    /// `.sentencepiece`, sentencepiece's `encode`.
    public func encodeSegment(_ text: String) -> [(id: Int, piece: String)] {
        if compatibility == .transformers { return pipeline.encodeText(text) }
        let s = normalizer.normalize(text)
        guard !s.isEmpty else { return [] }
        let n = s.count
        var best = [Float](repeating: 0, count: n + 1)
        var from = [Int](repeating: -1, count: n + 1), pid = [Int](repeating: -1, count: n + 1)
        from[0] = 0
        var start = 0
        while start < n {
            guard from[start] >= 0 || start == 0 else { start += 1; continue }
            let mblen = max(1, SentencePieceNormalizer.validUTF8Length(s, start))
            var hasSingle = false
            var node = 0, i = start
            while i < n, let next = trie[node][s[i]] {
                node = next
                i += 1
                let id = trieID[node]
                guard id >= 0 else { continue }
                let p = model.pieces[id]
                let score = p.type == .userDefined ? 0 : p.score
                let candidate = best[start] + score
                if from[i] < 0 || candidate > best[i] { best[i] = candidate; from[i] = start; pid[i] = id }
                if i - start == mblen { hasSingle = true }
            }
            if !hasSingle {
                let end = min(n, start + mblen)
                let candidate = best[start] + unkScore
                if from[end] < 0 || candidate > best[end] { best[end] = candidate; from[end] = start; pid[end] = model.unkID }
            }
            start += mblen
        }
        var out: [(Int, String)] = []
        var end = n
        while end > 0 {
            let st = from[end]
            out.append((pid[end], String(decoding: s[st..<end], as: UTF8.self)))
            end = st
        }
        out.reverse()
        // Unknown pieces: merged into one unk, or split into <0xNN> byte pieces when byte fallback is on.
        var merged: [(id: Int, piece: String)] = []
        for (id, p) in out {
            if id == model.unkID && model.byteFallback {
                for b in p.utf8 { merged.append((pieceIDs[String(format: "<0x%02X>", b)] ?? model.unkID, String(format: "<0x%02X>", b))) }
            } else if id == model.unkID, let last = merged.last, last.id == model.unkID, !model.byteFallback {
                merged[merged.count - 1] = (model.unkID, last.piece + p)
            } else {
                merged.append((id, p))
            }
        }
        return merged
    }

    /// Encodes a prompt like transformers' T5Tokenizer: special tokens split out, each text segment encoded, `</s>`
    /// appended. With `maxLength`, truncated to `maxLength − 1` tokens + `</s>` and right-padded with `<pad>`.
    public func encode(_ text: String, maxLength: Int? = nil) -> [(id: Int, piece: String)] {
        if compatibility == .transformers {
            var tokens = pipeline.encodeContent(text)
            let specials = pipeline.prefix.count + pipeline.suffix.count
            if let maxLength, tokens.count + specials > maxLength { tokens = Array(tokens.prefix(max(0, maxLength - specials))) }
            tokens = pipeline.prefix.map { (id: $0.0, piece: $0.1) } + tokens + pipeline.suffix.map { (id: $0.0, piece: $0.1) }
            if let maxLength {
                let pad = pipeline.tokenToID["<pad>"] ?? max(0, model.padID)
                while tokens.count < maxLength { tokens.append((pad, piece(of: pad))) }
            }
            return tokens
        }
        // Special tokens are split out on Unicode scalars as transformers does (a combining mark after `>` must
        // not hide the token, which Character-level matching would).
        var tokens: [(id: Int, piece: String)] = []
        for part in pipeline.splitAdded(text) {
            if let a = part.token { tokens.append((a.id, a.content)) } else { tokens += encodeSegment(part.text) }
        }
        let eos = (model.eosID, piece(of: model.eosID))
        if let maxLength {
            if tokens.count > maxLength - 1 { tokens = Array(tokens.prefix(max(0, maxLength - 1))) }
            tokens.append(eos)
            let pad = model.padID >= 0 ? model.padID : 0
            while tokens.count < maxLength { tokens.append((pad, piece(of: pad))) }
        } else {
            tokens.append(eos)
        }
        return tokens
    }
}
