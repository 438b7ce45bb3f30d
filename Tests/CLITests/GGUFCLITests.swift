import Foundation
import Testing

@Test func inspectOfAGGUFFileShowsMetadataAndTypedTensors() throws {
    let r = try runCLI(["inspect", "fixtures/gguf/reference.gguf"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("general.architecture"))
    #expect(r.stdout.contains("\"cogvideox\""))
    #expect(r.stdout.contains("Q6_K"))
    #expect(r.stdout.contains("[4, 3, 3, 3, 2]"))  // orig_shape applied
    let j = try runCLI(["inspect", "fixtures/gguf/reference.gguf", "--json"])
    let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
    #expect((obj?["tensors"] as? [Any])?.count == 12)
}

@Test func exportDequantizesEveryTensorToSafetensors() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let out = dir.appendingPathComponent("out.safetensors").path
    let r = try runCLI(["export", "fixtures/gguf/reference.gguf", "-o", out, "--dtype", "f32"])
    #expect(r.status == 0, "\(r.stderr)")
    let listing = try runCLI(["inspect", out, "--json"])
    let obj = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [String: Any]
    let tensors = ((obj?["components"] as? [[String: Any]])?.first?["tensors"] as? [[String: Any]]) ?? []
    #expect(tensors.count == 12)
    #expect(tensors.allSatisfy { $0["dtype"] as? String == "F32" })
    #expect(tensors.first { $0["name"] as? String == "vae.conv.weight" }?["shape"] as? [Int] == [4, 3, 3, 3, 2])
    // An existing output is refused (usage error) unless --force.
    let again = try runCLI(["export", "fixtures/gguf/reference.gguf", "-o", out])
    #expect(again.status == 2)
}

@Test func exportOfACorruptGGUFFailsWithoutOutput() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let bad = dir.appendingPathComponent("bad.gguf")
    try Data("GGUF".utf8 + [3, 0, 0, 0]).write(to: bad)
    let r = try runCLI(["export", bad.path, "-o", dir.appendingPathComponent("o").path])
    #expect(r.status == 1)
    #expect(r.stderr.contains("file ends inside the header"))
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("o").path))
}
