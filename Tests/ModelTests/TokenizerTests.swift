import Foundation
import SafeTensors
import Testing
@testable import Model

private func corpus() throws -> [String] {
    try String(contentsOfFile: fixturesPath + "/tokenizer/corpus.txt", encoding: .utf8)
        .split(separator: "\n").map { try JSONParser.parse(String($0)).string ?? "" }
}

private let expectedJSON: JSONValue? = try? JSONParser.parse(
    Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/tokenizer/expected.json")))

/// The reference ids; "t5" and "json" are stored without their trailing `<pad>` (0) ids and re-padded to 226.
private func expected(_ model: String, _ kind: String) -> [[Int]] {
    (expectedJSON?[model]?[kind]?.array ?? []).map { e in
        let ids = e.array?.compactMap(\.int) ?? []
        return kind == "spm" ? ids : ids + [Int](repeating: 0, count: max(0, 226 - ids.count))
    }
}

private let spiece = ["tiny": tinyPath("cogvideox-2b", "tokenizer"), "bytefallback": fixturesPath + "/tokenizer/bytefallback",
                      "multilingual": fixturesPath + "/tokenizer/multilingual"]
private let models = ["tiny", "bytefallback", "multilingual"]

private func compare(_ name: String, _ label: String, _ want: [[Int]], _ encode: (String) -> [Int]) throws {
    let prompts = try corpus()
    #expect(prompts.count >= 300 && want.count == prompts.count, "\(name) \(label): \(want.count) references")
    var mismatches: [String] = []
    for (p, w) in zip(prompts, want) {
        let got = encode(p)
        if got != w { mismatches.append("\(p.debugDescription): \(got.prefix(24)) vs \(w.prefix(24))") }
    }
    print("\(name) \(label): \(prompts.count - mismatches.count)/\(prompts.count) prompts identical")
    #expect(mismatches.isEmpty, "\(mismatches.count) differ, e.g. \(mismatches.prefix(3))")
}

@Test(arguments: models)
func rawEncodingMatchesTheSentencePieceLibrary(_ name: String) throws {
    let tok = try T5Tokenizer(path: spiece[name]! + "/spiece.model", compatibility: .sentencepiece)
    try compare(name, "spiece.model vs sentencepiece", expected(name, "spm")) { tok.encodeSegment($0).map(\.id) }
}

@Test(arguments: models)
func paddedEncodingFromSpieceModelMatchesTransformersT5Tokenizer(_ name: String) throws {
    let tok = try T5Tokenizer(path: spiece[name]! + "/spiece.model")
    try compare(name, "spiece.model vs transformers T5Tokenizer", expected(name, "t5")) { tok.encode($0, maxLength: 226).map(\.id) }
}

@Test(arguments: models)
func paddedEncodingFromTokenizerJSONMatchesTheTokenizersLibrary(_ name: String) throws {
    let tok = try T5Tokenizer(path: fixturesPath + "/tokenizer/\(name)/tokenizer.json")
    try compare(name, "tokenizer.json vs tokenizers", expected(name, "json")) { tok.encode($0, maxLength: 226).map(\.id) }
}

/// sentencepiece's own post-processing (ids + `</s>`, truncated and padded as T5Tokenizer does) also matches
/// transformers wherever sentencepiece and tokenizers agree on the raw ids.
@Test func sentencepieceCompatibilityPadsAndTruncatesAsT5Does() throws {
    let tok = try T5Tokenizer(path: spiece["tiny"]!, compatibility: .sentencepiece)
    let prompts = try corpus(), raw = expected("tiny", "spm"), hf = expected("tiny", "t5")
    var compared = 0
    for (i, p) in prompts.enumerated() where !p.contains("<") {
        let spmPadded = Array(raw[i].prefix(225)) + [1] + [Int](repeating: 0, count: max(0, 225 - raw[i].count))
        guard spmPadded == hf[i] else { continue }
        compared += 1
        #expect(tok.encode(p, maxLength: 226).map(\.id) == hf[i], "\(p.debugDescription)")
    }
    #expect(compared >= 250)
}

@Test func pipelineFolderPrefersTokenizerJSONAndSentencepieceModeReadsSpieceModel() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)/tokenizer")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
    let src = fixturesPath + "/tokenizer/bytefallback/"
    try FileManager.default.copyItem(atPath: src + "spiece.model", toPath: dir.path + "/spiece.model")
    try FileManager.default.copyItem(atPath: src + "tokenizer.json", toPath: dir.path + "/tokenizer.json")
    let pipelineFolder = dir.deletingLastPathComponent().path
    // "☃" is outside this model's pieces: the tokenizer.json (byte_fallback on) gives bytes, spiece.model through
    // transformers gives <unk>, sentencepiece gives bytes with its own normalization.
    let json = try T5Tokenizer(path: pipelineFolder)
    let spm = try T5Tokenizer(path: pipelineFolder, compatibility: .sentencepiece)
    #expect(json.encode("☃").map(\.piece) == ["▁", "<0xE2>", "<0x98>", "<0x83>", "</s>"])
    #expect(spm.encode("☃").map(\.piece) == ["▁", "<0xE2>", "<0x98>", "<0x83>", "</s>"])
    #expect(try T5Tokenizer(path: src + "spiece.model").encode("☃").map(\.id) == [259, 2, 1])
}

@Test func extraIDsAreSpecialTokensWithT5Ids() throws {
    for tok in [try T5Tokenizer(path: spiece["tiny"]!), try T5Tokenizer(path: fixturesPath + "/tokenizer/tiny/tokenizer.json"),
                try T5Tokenizer(path: spiece["tiny"]!, compatibility: .sentencepiece)] {
        #expect(tok.id(of: "<extra_id_0>") == 299 && tok.id(of: "<extra_id_99>") == 200)
        #expect(tok.piece(of: 299) == "<extra_id_0>")
        let ids = tok.encode("<extra_id_7>a</s>", maxLength: 6).map(\.id)
        #expect(ids.first == 292 && ids.contains(1) && ids.count == 6 && ids.last == 0)
        #expect(tok.encode("a b c d e f g", maxLength: 3).count == 3)
        #expect(tok.encode("a b c d e f g", maxLength: 3).last?.id == 1)
    }
}

@Test func malformedModelFilesAreTypedErrors() throws {
    #expect(throws: TokenizerError.noPieces) { try SentencePieceModel(bytes: []) }
    #expect(throws: TokenizerError.lengthTooLarge(0x0FFF_FFFF, offset: 1)) { try SentencePieceModel(bytes: [0x0A, 0xFF, 0xFF, 0xFF, 0x7F]) }
    #expect(throws: TokenizerError.invalidWireType(7, field: 1, offset: 1)) { try SentencePieceModel(bytes: [0x0F]) }
    let real = try [UInt8](Data(contentsOf: URL(fileURLWithPath: spiece["tiny"]! + "/spiece.model")))
    var failures = 0
    for cut in stride(from: 1, to: real.count, by: max(1, real.count / 200)) {
        do { _ = try SentencePieceModel(bytes: Array(real[..<cut])) } catch is TokenizerError { failures += 1 }
    }
    #expect(failures > 150)  // a cut inside a field is an error, never a crash
}

@Test func malformedOrUnsupportedTokenizerJSONIsATypedError() throws {
    let valid = try String(contentsOfFile: fixturesPath + "/tokenizer/tiny/tokenizer.json", encoding: .utf8)
    #expect(throws: TokenizerError.self) { try T5Tokenizer(tokenizerJSON: Array("{".utf8)) }
    #expect(throws: TokenizerError.unsupportedTokenizerJSON("model type BPE (only Unigram)")) {
        try T5Tokenizer(tokenizerJSON: Array(#"{"model":{"type":"BPE"}}"#.utf8))
    }
    #expect(throws: TokenizerError.malformedTokenizerJSON("model.vocab[0] is not [piece, score]")) {
        try T5Tokenizer(tokenizerJSON: Array(#"{"model":{"type":"Unigram","vocab":[["a"]]}}"#.utf8))
    }
    #expect(throws: TokenizerError.unsupportedTokenizerJSON("normalizer Lowercase")) {
        try T5Tokenizer(tokenizerJSON: Array(valid.replacingOccurrences(of: #""type":"Precompiled""#, with: #""type":"Lowercase""#).utf8))
    }
    #expect(throws: TokenizerError.unsupportedTokenizerJSON("pre_tokenizer ByteLevel")) {
        try T5Tokenizer(tokenizerJSON: Array(valid.replacingOccurrences(of: #""type":"WhitespaceSplit""#, with: #""type":"ByteLevel""#).utf8))
    }
    #expect(throws: TokenizerError.malformedTokenizerJSON("Precompiled.precompiled_charsmap is not base64")) {
        try T5Tokenizer(tokenizerJSON: Array(valid.replacingOccurrences(of: #""precompiled_charsmap":""#, with: #""precompiled_charsmap":"%"#).utf8))
    }
}

/// The ids diffusers' pipelines fed the text encoder in every committed pipeline reference run.
@Test func pipelinePromptsTokenizeAsInTheDiffusersReferenceRuns() throws {
    let prompts = try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/pipelines/prompts.json")))
    let ref = try SafeTensorsFile(path: fixturesPath + "/pipelines/prompts.safetensors")
    let tok = try T5Tokenizer(path: tinyPath("cogvideox-2b", "tokenizer"))
    var n = 0
    for (key, value) in prompts.object ?? JSONObject() {
        #expect(tok.encode(value.string ?? "", maxLength: 226).map(\.id) == (try ints(ref, "\(key).ids")), "\(key)")
        n += 1
    }
    #expect(n >= 2)
}

/// A corrupted normalization trie (random units and pool, valid size field) must still give a tokenization, never
/// an out-of-bounds read: every trie index and pool offset is checked.
@Test func corruptedCharsMapNeverReadsOutOfBounds() throws {
    var model = try SentencePieceModel(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: spiece["tiny"]! + "/spiece.model"))))
    var blob = model.precompiledCharsMap, state: UInt32 = 12345
    for i in 4..<blob.count where i % 3 != 0 {  // deterministic LCG bytes
        state = state &* 1_664_525 &+ 1_013_904_223
        blob[i] = UInt8(truncatingIfNeeded: state >> 24)
    }
    model.precompiledCharsMap = blob
    let prompts = try corpus().prefix(80)
    for compatibility in [T5Tokenizer.Compatibility.transformers, .sentencepiece] {
        let tok = try T5Tokenizer(model: model, compatibility: compatibility)
        for p in prompts {
            let ids = tok.encode(p, maxLength: 64).map(\.id)
            #expect(ids.count == 64 && ids.contains(1) && ids.allSatisfy { $0 >= 0 && $0 < tok.vocabularySize })
        }
    }
}
