import Foundation
import Testing
@testable import SafeTensors

@Test func filesWrittenByPythonReadBackWithIdenticalBytesAndShapes() throws {
    let dir = fixturesPath + "/safetensors"
    let expected = try readJSON(dir + "/dtypes.json")
    let f = try SafeTensorsFile(path: dir + "/dtypes.safetensors")
    let tensors = try #require(expected["tensors"]?.object)
    #expect(Set(f.names) == Set(tensors.keys))
    for (name, e) in tensors {
        let info = try #require(f.info(name))
        #expect(info.dtype.rawValue == e["dtype"]?.string, "\(name)")
        #expect(info.shape == e["shape"]?.array?.compactMap(\.int), "\(name)")
        #expect(Array(try f.rawBytes(name)) == hexBytes(e["hex"]?.string ?? ""), "\(name)")
    }
    #expect(f.metadata.map(\.key).sorted() == ["format", "note"])
    #expect(f.metadata.first { $0.key == "note" }?.value == "fixture ünïcode")
    // Typed views agree with the raw bytes.
    #expect(try f.elements("i64", as: Int64.self) == [-(1 << 62), 5, 1 << 40])
    #expect(try f.elements("bool", as: Bool.self) == [true, false, true])
    #expect(try f.floats("scalar") == [3.25])
    #expect(try f.floats("empty") == [])
    #expect(try f.floats("f16").count == 10)
    #expect(try f.floats("bf16").count == 12)
}

@Test func swiftWriterIsByteIdenticalToPythonSafetensors() throws {
    let dir = fixturesPath + "/safetensors"
    let input = try readJSON(dir + "/writer_input.json")
    var w = SafeTensorsWriter(metadata: (input["metadata"]?.object ?? JSONObject()).map { ($0.key, $0.value.string ?? "") })
    for t in input["tensors"]?.array ?? [] {
        try w.add(name: t["name"]!.string!, dtype: SafeTensorsDType(rawValue: t["dtype"]!.string!)!,
                  shape: t["shape"]!.array!.compactMap(\.int), bytes: hexBytes(t["hex"]!.string!))
    }
    let folder = TempFolder()
    let out = folder.path("w.safetensors")
    try w.write(to: out)
    let ours = try Data(contentsOf: URL(fileURLWithPath: out))
    let theirs = try Data(contentsOf: URL(fileURLWithPath: dir + "/writer_expected.safetensors"))
    #expect(ours == theirs)
    // And nothing but the output is left in the folder.
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["w.safetensors"])
}

@Test func writerRoundTripsEveryDTypeItWrites() throws {
    var w = SafeTensorsWriter()
    try w.add(name: "a", shape: [2, 2], floats: [1, -2, 3.5, 0])
    try w.add(name: "b", dtype: .bf16, shape: [1], bytes: [0x80, 0x3F])
    try w.add(name: "c", dtype: .u8, shape: [], bytes: [9])
    try w.add(name: "d", dtype: .i32, shape: [0, 3], bytes: [])
    let folder = TempFolder()
    try w.write(to: folder.path("x.safetensors"))
    let f = try SafeTensorsFile(path: folder.path("x.safetensors"))
    #expect(try f.floats("a") == [1, -2, 3.5, 0])
    #expect(try f.floats("b") == [1])
    #expect(try f.elements("c", as: UInt8.self) == [9])
    #expect(f.info("d")?.shape == [0, 3])
}

@Test func writerRejectsDuplicateNamesAndWrongSizesAndLeavesNoFile() throws {
    var w = SafeTensorsWriter()
    try w.add(name: "a", shape: [1], floats: [1])
    #expect(throws: SafeTensorsError.duplicateTensorName("a")) { try w.add(name: "a", shape: [1], floats: [1]) }
    #expect(throws: SafeTensorsError.tensorDataSizeMismatch(tensor: "b", expected: 8, found: 4)) {
        try w.add(name: "b", dtype: .f32, shape: [2], bytes: [0, 0, 0, 0])
    }
    var bad = SafeTensorsWriter()
    try bad.add(name: "x", dtype: .f32, shape: [2]) { emit in try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try emit($0) } }
    let folder = TempFolder()
    #expect(throws: SafeTensorsError.tensorDataSizeMismatch(tensor: "x", expected: 8, found: 4)) { try bad.write(to: folder.path("y.safetensors")) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).isEmpty)
}

@Test func writerFailsClearlyOnAnUnwritableFolder() throws {
    var w = SafeTensorsWriter()
    try w.add(name: "a", shape: [1], floats: [1])
    #expect(throws: SafeTensorsError.self) { try w.write(to: "/nonexistent-folder-xyz/out.safetensors") }
}

@Test func componentFolderWithOneFileOpensThatFile() throws {
    let folder = TempFolder()
    folder.write("diffusion_pytorch_model.safetensors", shardAB)
    folder.write("config.json", Array("{}".utf8))
    let c = try SafeTensorsCheckpoint(path: folder.url.path)
    #expect(c.path == folder.path("diffusion_pytorch_model.safetensors"))
    #expect(c.names == ["a", "b"])
    #expect(Array(try c.rawBytes("b")) == [2])
    let empty = TempFolder()
    #expect(throws: SafeTensorsError.noWeights(folder: empty.url.path)) { try SafeTensorsCheckpoint(path: empty.url.path) }
}

@Test func shardedCheckpointOpensAsOneLogicalCheckpoint() throws {
    let c = try SafeTensorsCheckpoint(path: fixturesPath + "/safetensors/sharded")
    #expect(c.names == ["layer.0.bias", "layer.0.weight", "layer.1.weight"])
    #expect(c.files.count == 2)
    #expect(c.info("layer.1.weight")?.shape == [3, 2])
    #expect(try c.floats("layer.0.bias").count == 2)
}

private func shardedFolder(index: String, shards: [String: [UInt8]]) -> TempFolder {
    let folder = TempFolder()
    folder.write("model.safetensors.index.json", Array(index.utf8))
    for (n, b) in shards { folder.write(n, b) }
    return folder
}

private let shardA = safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [1])
private let shardB = safetensorsBytes(header: #"{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [2])
private let shardAB = safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [1, 2])

@Test func indexWithNonStringShardIsRejected() {
    let f = shardedFolder(index: #"{"weight_map":{"a":{"file":"x","offset":0}}}"#, shards: [:])
    #expect(throws: SafeTensorsError.invalidIndex(path: f.path("model.safetensors.index.json"),
                                                  reason: "weight_map value for `a` must be a file name string, found object")) {
        try SafeTensorsCheckpoint(path: f.url.path)
    }
    let noMap = shardedFolder(index: #"{"metadata":{"total_size":1}}"#, shards: [:])
    #expect(throws: SafeTensorsError.invalidIndex(path: noMap.path("model.safetensors.index.json"), reason: "missing object `weight_map`")) {
        try SafeTensorsCheckpoint(path: noMap.url.path)
    }
    let dup = shardedFolder(index: #"{"weight_map":{"a":"s1.safetensors","a":"s2.safetensors"}}"#, shards: [:])
    #expect(throws: SafeTensorsError.invalidIndex(path: dup.path("model.safetensors.index.json"),
                                                  reason: "duplicate key \"a\" in JSON object at byte 36")) {
        try SafeTensorsCheckpoint(path: dup.url.path)
    }
}

@Test func indexPathsEscapingTheFolderAreRejected() {
    for p in ["../evil.safetensors", "/etc/passwd", "sub/../../x.safetensors"] {
        let f = shardedFolder(index: #"{"weight_map":{"a":"\#(p)"}}"#, shards: [:])
        #expect(throws: SafeTensorsError.shardPathEscapesFolder(tensor: "a", path: p)) { try SafeTensorsCheckpoint(path: f.url.path) }
    }
}

@Test func indexNamingAMissingShardIsRejected() {
    let f = shardedFolder(index: #"{"weight_map":{"a":"gone.safetensors"}}"#, shards: [:])
    #expect(throws: SafeTensorsError.missingShard(path: f.url.path + "/gone.safetensors")) { try SafeTensorsCheckpoint(path: f.url.path) }
}

@Test func tensorListedButAbsentFromItsShardIsRejected() {
    let f = shardedFolder(index: #"{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}}"#, shards: ["s1.safetensors": shardA])
    #expect(throws: SafeTensorsError.tensorMissingFromShard(tensor: "b", shard: "s1.safetensors")) { try SafeTensorsCheckpoint(path: f.url.path) }
}

@Test func tensorPresentInTwoShardsIsRejected() {
    let f = shardedFolder(index: #"{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}"#,
                          shards: ["s1.safetensors": shardA, "s2.safetensors": shardAB])
    #expect(throws: SafeTensorsError.tensorInTwoShards(tensor: "a", first: "s1.safetensors", second: "s2.safetensors")) {
        try SafeTensorsCheckpoint(path: f.url.path)
    }
    let ok = shardedFolder(index: #"{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}"#,
                           shards: ["s1.safetensors": shardA, "s2.safetensors": shardB])
    #expect((try? SafeTensorsCheckpoint(path: ok.url.path))?.names == ["a", "b"])
}

@Test func oneShardSpelledTwoWaysIsOpenedOnceNotReportedAsTwoShards() throws {
    let f = shardedFolder(index: #"{"weight_map":{"a":"./s.safetensors","b":"s.safetensors"}}"#, shards: ["s.safetensors": shardAB])
    let c = try SafeTensorsCheckpoint(path: f.url.path)
    #expect(c.files.count == 1)
    #expect(c.names == ["a", "b"])
    #expect(Array(try c.rawBytes("a")) == [1])
}
