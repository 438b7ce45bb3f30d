import Foundation
import SafeTensors
import Testing

/// The reference ids of corpus line `index` for `model` ("t5": transformers' T5Tokenizer padded to 226, stored
/// without trailing pads; "spm": sentencepiece).
private let corpusLines = (try? String(contentsOfFile: repoRoot + "/fixtures/tokenizer/corpus.txt", encoding: .utf8))?
    .split(separator: "\n").map(String.init) ?? []
private let expectedIDs = try? JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: repoRoot + "/fixtures/tokenizer/expected.json")))

private func reference(_ model: String, _ kind: String, _ index: Int) throws -> (prompt: String, ids: [Int]) {
    let prompt = try JSONParser.parse(corpusLines[index]).string ?? ""
    return (prompt, expectedIDs?[model]?[kind]?[index]?.array?.compactMap(\.int) ?? [])
}

private func ids(_ r: CLIResult) -> [Int] {
    (r.stdout.split(separator: "\n").first ?? "").split(separator: " ").compactMap { Int($0) }
}

@Test func tokenizeGivesTransformersIdsFromEverySourceKind() throws {
    let (prompt, want) = try reference("tiny", "t5", 3)  // the long panda prompt, truncated at 226
    let padded = want + [Int](repeating: 0, count: 226 - want.count)
    for src in ["fixtures/tiny/cogvideox-2b", "fixtures/tiny/cogvideox-2b/tokenizer",
                "fixtures/tiny/cogvideox-2b/tokenizer/spiece.model", "fixtures/tokenizer/tiny/tokenizer.json"] {
        let r = try runCLI(["tokenize", "--model", src, "--max-length", "226", prompt])
        #expect(r.status == 0, "\(src): \(r.stderr)")
        #expect(ids(r) == padded, "\(src)")
        #expect(r.stdout.split(separator: "\n").count == 2)  // ids line, pieces line
    }
}

@Test func tokenizeReadsTheTokenizerEmbeddedInOurGGUF() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokcli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let gguf = dir.appendingPathComponent("tiny.gguf").path
    let c = try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", gguf, "--quiet"])
    #expect(c.status == 0, "\(c.stderr)")
    let (prompt, want) = try reference("tiny", "t5", 20)
    let r = try runCLI(["tokenize", "--model", gguf, "--max-length", "226", prompt])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(ids(r) == want + [Int](repeating: 0, count: 226 - want.count))
}

@Test func sentencepieceFlagFollowsTheSentencepieceLibrary() throws {
    // The first two corpus prompts (without special tokens) on which the two libraries differ, e.g. on "à́".
    var checked = 0
    for index in 0..<60 {
        let (prompt, spm) = try reference("tiny", "spm", index)
        let (_, t5) = try reference("tiny", "t5", index)
        guard !prompt.contains("<"), spm + [1] != t5, spm.count < 200 else { continue }
        let a = try runCLI(["tokenize", "--model", "fixtures/tiny/cogvideox-2b", "--sentencepiece", prompt])
        let b = try runCLI(["tokenize", "--model", "fixtures/tiny/cogvideox-2b", prompt])
        #expect(ids(a) == spm + [1], "\(prompt.debugDescription)")
        #expect(ids(b) == t5, "\(prompt.debugDescription)")
        checked += 1
        if checked == 2 { break }
    }
    #expect(checked == 2)
}

@Test func tokenizeJSONOutputAndBadSources() throws {
    let r = try runCLI(["tokenize", "--model", "fixtures/tokenizer/multilingual", "--json", "a panda 东京 🐼"])
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try JSONParser.parse(r.stdout)
    #expect(obj["ids"]?.array?.count == obj["pieces"]?.array?.count)
    #expect(obj["pieces"]?.array?.last?.string == "</s>")
    let bad = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).json").path
    try Data("{\"model\":{\"type\":\"WordPiece\"}}".utf8).write(to: URL(fileURLWithPath: bad))
    defer { try? FileManager.default.removeItem(atPath: bad) }
    let e = try runCLI(["tokenize", "--model", bad, "x"])
    #expect(e.status == 1)
    #expect(e.stderr.contains("WordPiece"))
}
