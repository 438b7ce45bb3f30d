import Foundation
import SafeTensors

/// SentencePiece Unigram encoding (unigram_model.cc `EncodeOptimized` + the processor's unknown handling) with
/// T5's post-processing as transformers applies it: `<extra_id_N>`, `</s>`, `<pad>` and `<unk>` written in the text
/// are special tokens, `</s>` is appended, sequences are truncated to `maxLength − 1` pieces + `</s>` and padded
/// with `<pad>` to `maxLength`.
public struct T5Tokenizer: Sendable {
    public let model: SentencePieceModel
    let normalizer: SentencePieceNormalizer
    let pieceIDs: [String: Int]
    /// Trie over piece bytes (children by byte) for matching pieces at a position.
    let trie: [[UInt8: Int]]
    let trieID: [Int]
    let unkScore: Float
    /// `<extra_id_N>` tokens appended after the SentencePiece vocabulary, in T5's reversed order.
    public let extraIDs: Int
    public var vocabularySize: Int { model.pieces.count + extraIDs }

    public init(model: SentencePieceModel, extraIDs: Int = 100) throws {
        self.model = model
        self.extraIDs = extraIDs
        normalizer = try SentencePieceNormalizer(model: model)
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

    /// Loads `spiece.model` from a file, a tokenizer folder, or a pipeline folder (its `tokenizer/`).
    public init(path: String) throws {
        var isDir: ObjCBool = false
        var p = path
        if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
            let direct = (p as NSString).appendingPathComponent("spiece.model")
            let nested = (p as NSString).appendingPathComponent("tokenizer/spiece.model")
            p = FileManager.default.fileExists(atPath: direct) ? direct : nested
        }
        guard let data = FileManager.default.contents(atPath: p) else { throw TokenizerError.notFound(path) }
        try self.init(model: SentencePieceModel(bytes: [UInt8](data)))
    }

    /// The id of a piece string (including `<extra_id_N>`), or nil.
    public func id(of piece: String) -> Int? {
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
        return "<unk>"
    }

    /// Raw SentencePiece encoding of one text segment (no special tokens, no `</s>`): (id, piece) pairs.
    public func encodeSegment(_ text: String) -> [(id: Int, piece: String)] {
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

    /// Special-token strings recognised in the text (transformers' added tokens for T5).
    func specialTokens() -> [String] {
        var t = (0..<extraIDs).map { "<extra_id_\($0)>" }
        for p in model.pieces where p.type == .control || p.type == .unknown { t.append(p.piece) }
        return t.sorted { $0.count > $1.count }
    }

    /// Encodes a prompt like transformers' T5Tokenizer: special tokens split out, each text segment encoded, `</s>`
    /// appended. With `maxLength`, truncated to `maxLength − 1` tokens + `</s>` and right-padded with `<pad>`.
    public func encode(_ text: String, maxLength: Int? = nil) -> [(id: Int, piece: String)] {
        var tokens: [(id: Int, piece: String)] = []
        let specials = specialTokens()
        var rest = Substring(text)
        var segment = ""
        while !rest.isEmpty {
            if rest.first == "<", let sp = specials.first(where: { rest.hasPrefix($0) }), let id = id(of: sp) {
                tokens += encodeSegment(segment)
                segment = ""
                tokens.append((id, sp))
                rest = rest.dropFirst(sp.count)
            } else {
                segment.append(rest.removeFirst())
            }
        }
        tokens += encodeSegment(segment)
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
