import Foundation
import Testing

@Test func inspectPrintsAShardedCheckpointAsOneTable() throws {
    let r = try runCLI(["inspect", "fixtures/safetensors/sharded"])
    #expect(r.status == 0)
    #expect(r.stderr.isEmpty)
    for name in ["layer.0.bias", "layer.0.weight", "layer.1.weight"] { #expect(r.stdout.contains(name)) }
    #expect(r.stdout.contains("3 tensors, 12 parameters, 48 B"))
}

@Test func inspectJSONHasTheSameContent() throws {
    let r = try runCLI(["inspect", "fixtures/safetensors/dtypes.safetensors", "--json"])
    #expect(r.status == 0)
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let comps = obj?["components"] as? [[String: Any]]
    #expect(comps?.count == 1)
    let tensors = comps?.first?["tensors"] as? [[String: Any]]
    #expect(tensors?.count == 9)
    let bf16 = tensors?.first { $0["name"] as? String == "bf16" }
    #expect(bf16?["dtype"] as? String == "BF16")
    #expect(bf16?["shape"] as? [Int] == [4, 3])
    #expect((obj?["totals"] as? [String: Any])?["tensor_count"] as? Int == 9)
}

@Test func inspectOfAMissingPathFailsWithStatusOneOnStderr() throws {
    let r = try runCLI(["inspect", "does/not/exist.safetensors"])
    #expect(r.status == 1)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr.contains("does not exist"))
}

@Test func inspectOfACorruptFileFailsWithTheSpecificError() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let bad = dir.appendingPathComponent("bad.safetensors")
    try Data([60, 0, 0, 0, 0, 0, 0, 0]).write(to: bad)
    let r = try runCLI(["inspect", bad.path])
    #expect(r.status == 1)
    #expect(r.stderr.contains("invalid header length"))
}

@Test func usageMistakesExitWithStatusTwo() throws {
    let missing = try runCLI(["inspect"])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("Missing expected argument"))
    let unknown = try runCLI(["inspect", "x", "--frobnicate"])
    #expect(unknown.status == 2)
}

@Test func helpExplainsAndExitsZero() throws {
    let r = try runCLI(["inspect", "--help"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("grouped by component"))
}

@Test func tokenizePrintsIdsAndPiecesPaddedToMaxLength() throws {
    let r = try runCLI(["tokenize", "--model", "fixtures/tiny/cogvideox-2b", "--max-length", "8", "--json", "a cat <extra_id_0>"])
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let ids = obj?["ids"] as? [Int]
    #expect(ids?.count == 8)
    #expect(ids?.contains(299) == true)   // <extra_id_0> is the last id of the 300-token vocabulary
    #expect((obj?["pieces"] as? [String])?.contains("</s>") == true)
    #expect(try runCLI(["tokenize", "--model", "fixtures/tiny/cogvideox-2b", "--max-length", "0", "x"]).status == 2)
    #expect(try runCLI(["tokenize", "--model", "nowhere", "x"]).status == 1)
}
