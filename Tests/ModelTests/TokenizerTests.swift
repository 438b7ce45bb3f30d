import Foundation
import SafeTensors
import Testing
@testable import Model

private func corpus() throws -> [String] {
    try String(contentsOfFile: fixturesPath + "/tokenizer/corpus.txt", encoding: .utf8)
        .split(separator: "\n").map { try JSONParser.parse(String($0)).string ?? "" }
}

private func expected(_ model: String, _ kind: String) throws -> [[Int]] {
    let j = try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: fixturesPath + "/tokenizer/expected.json")))
    return (j[model]?[kind]?.array ?? []).map { $0.array?.compactMap(\.int) ?? [] }
}

private let models = ["tiny": tinyPath("cogvideox-2b", "tokenizer"), "bytefallback": fixturesPath + "/tokenizer/bytefallback"]

@Test(arguments: ["tiny", "bytefallback"])
func rawEncodingMatchesTheSentencePieceLibrary(_ name: String) throws {
    let tok = try T5Tokenizer(path: models[name]!)
    let prompts = try corpus(), want = try expected(name, "spm")
    #expect(prompts.count >= 300 && want.count == prompts.count)
    var mismatches: [String] = []
    for (p, w) in zip(prompts, want) {
        let got = tok.encodeSegment(p).map(\.id)
        if got != w { mismatches.append("\(p.debugDescription): \(got) vs \(w)") }
    }
    print("\(name): \(prompts.count - mismatches.count)/\(prompts.count) prompts identical to sentencepiece")
    #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
}

/// transformers' T5Tokenizer (a `tokenizers` Unigram) and sentencepiece disagree on some inputs with combining
/// marks (e.g. "à́"); where they disagree we follow sentencepiece, the model's own library. Everywhere else (and on
/// every prompt with special tokens written in the text) the padded ids must equal transformers'.
@Test func paddedT5EncodingMatchesTransformers() throws {
    let tok = try T5Tokenizer(path: models["tiny"]!)
    let prompts = try corpus(), hf = try expected("tiny", "t5"), raw = try expected("tiny", "spm")
    var agree = 0, mismatches: [String] = []
    for (i, p) in prompts.enumerated() {
        let got = tok.encode(p, maxLength: 226).map(\.id)
        let spmPadded = Array(raw[i].prefix(225)) + [1] + [Int](repeating: 0, count: max(0, 225 - raw[i].count))
        let hasSpecial = p.contains("<extra_id_") || p.contains("</s>") || p.contains("<pad>") || p.contains("<unk>")
        let reference = (hasSpecial || hf[i] == spmPadded) ? hf[i] : spmPadded
        if reference == hf[i] { agree += 1 }
        if got != reference { mismatches.append("\(p.debugDescription): \(got.prefix(20)) vs \(reference.prefix(20))") }
    }
    print("T5 padded: \(prompts.count - mismatches.count)/\(prompts.count) as expected; \(agree) compared with transformers directly")
    #expect(agree >= 290)
    #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
}

@Test func malformedModelFilesAreTypedErrors() throws {
    #expect(throws: TokenizerError.noPieces) { try SentencePieceModel(bytes: []) }
    #expect(throws: TokenizerError.self) { try SentencePieceModel(bytes: [0x0A, 0xFF, 0xFF, 0xFF, 0x7F]) }
    let real = try [UInt8](Data(contentsOf: URL(fileURLWithPath: models["tiny"]! + "/spiece.model")))
    for cut in stride(from: 1, to: real.count, by: max(1, real.count / 200)) {
        _ = try? SentencePieceModel(bytes: Array(real[..<cut]))  // never crashes
    }
}
