import Foundation
import Testing

// inspect over the tiny diffusers pipeline (fixtures/tiny, written by diffusers/transformers). Expected contents
// come from the files themselves, read here with Foundation's JSON parser, not from our reader.

/// Tensor name -> byte size of a component folder, read independently: the index's weight_map and each
/// shard's header (or the single weights file's header).
private func independentListing(_ folder: String) throws -> [String: Int] {
    let fm = FileManager.default
    let items = try fm.contentsOfDirectory(atPath: folder)
    var files = items.filter { $0.hasSuffix(".safetensors") }
    if let index = items.first(where: { $0.hasSuffix(".safetensors.index.json") }) {
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(index)"))) as? [String: Any]
        files = Array(Set(((j?["weight_map"] as? [String: String]) ?? [:]).values))
    }
    var out: [String: Int] = [:]
    for f in files {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(f)"))
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any] ?? [:]
        for (k, v) in header where k != "__metadata__" {
            let offs = (v as? [String: Any])?["data_offsets"] as? [Int] ?? [0, 0]
            out[k] = offs[1] - offs[0]
        }
    }
    return out
}

@Test func inspectOfAPipelineFolderListsEveryComponentWithTotals() throws {
    let pipeline = "fixtures/tiny/cogvideox-2b"
    let r = try runCLI(["inspect", pipeline, "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(obj["kind"] as? String == "pipeline")
    #expect(obj["pipeline_class"] as? String == "CogVideoXPipeline")
    let modelIndex = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(repoRoot)/\(pipeline)/model_index.json"))) as? [String: Any] ?? [:]
    let components = try #require(obj["components"] as? [[String: Any]])
    #expect(Set(components.compactMap { $0["name"] as? String }) == Set(modelIndex.keys.filter { !$0.hasPrefix("_") }))
    var totalTensors = 0, totalBytes = 0
    for c in components {
        let name = try #require(c["name"] as? String)
        #expect(c["class"] as? String == (modelIndex[name] as? [String])?.last, "\(name)")
        let listed = (c["tensors"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) { $0[$1["name"] as? String ?? ""] = $1["bytes"] as? Int }
        let expected = ["text_encoder", "transformer", "vae"].contains(name) ? try independentListing("\(repoRoot)/\(pipeline)/\(name)") : [:]
        #expect(listed == expected, "\(name)")
        #expect(c["tensor_count"] as? Int == expected.count, "\(name)")
        #expect(c["bytes"] as? Int == expected.values.reduce(0, +), "\(name)")
        totalTensors += expected.count
        totalBytes += expected.values.reduce(0, +)
    }
    let totals = obj["totals"] as? [String: Any]
    #expect(totals?["tensor_count"] as? Int == totalTensors)
    #expect(totals?["bytes"] as? Int == totalBytes)

    // The table has the same content: one section per component, its tensor count, and the grand total.
    let table = try runCLI(["inspect", pipeline])
    #expect(table.status == 0)
    #expect(table.stderr.isEmpty)
    for c in components {
        let name = c["name"] as? String ?? ""
        #expect(table.stdout.contains("== \(name) (\(c["class"] as? String ?? ""))"))
        let count = c["tensor_count"] as? Int ?? 0
        #expect(count == 0 ? true : table.stdout.contains("   \(count) tensors, "), "\(name)")
    }
    #expect(table.stdout.contains("Total: \(totalTensors) tensors, "))
}

@Test func inspectOfAComponentFolderItsIndexAndOneShardAgree() throws {
    let folder = "fixtures/tiny/cogvideox-2b/transformer"
    let expected = try independentListing("\(repoRoot)/\(folder)")
    func listing(_ path: String) throws -> [String: Int] {
        let r = try runCLI(["inspect", path, "--json"])
        #expect(r.status == 0, "\(path): \(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let comps = obj?["components"] as? [[String: Any]] ?? []
        #expect(comps.count == 1, "\(path)")
        return (comps.first?["tensors"] as? [[String: Any]] ?? []).reduce(into: [:]) { $0[$1["name"] as? String ?? ""] = $1["bytes"] as? Int }
    }
    #expect(try listing(folder) == expected)
    #expect(try listing("\(folder)/diffusion_pytorch_model.safetensors.index.json") == expected)
    // A single shard is an ordinary file holding part of the tensors.
    let shard = try listing("\(folder)/diffusion_pytorch_model-00002-of-00002.safetensors")
    #expect(!shard.isEmpty && shard.count < expected.count)
    #expect(shard.allSatisfy { expected[$0.key] == $0.value })
}

@Test func inspectOfABrokenIndexFailsWithStatusOneAndNamesTheProblem() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try Data(#"{"weight_map":{"a":"../outside.safetensors"}}"#.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
    let r = try runCLI(["inspect", dir.path])
    #expect(r.status == 1)
    #expect(r.stdout.isEmpty)
    #expect(r.stderr.contains("../outside.safetensors, which is outside the checkpoint folder"))
}
