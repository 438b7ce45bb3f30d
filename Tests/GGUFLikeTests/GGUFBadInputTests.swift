import Testing
@testable import GGUFLike

// Hand-built files: each test is named after the malformation it stops (shared/reference/formats.md §2.2).

private struct Builder {
    var b = ByteBuffer()
    init(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        b.u32(0x4655_4747); b.u32(version); b.u64(tensors); b.u64(kvs)
    }
    mutating func kv(_ key: String, _ v: GGUFValue) { b.string(key); b.u32(v.type.rawValue); b.value(v) }
    mutating func info(_ name: String, ne: [UInt64], type: UInt32, offset: UInt64) {
        b.string(name); b.u32(UInt32(ne.count)); for d in ne { b.u64(d) }; b.u32(type); b.u64(offset)
    }
    mutating func data(_ n: Int) { b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: n); b.pad(to: 32) }
}

private func open(_ bytes: [UInt8], in folder: TempFolder? = nil) throws -> GGUFFile {
    let folder = folder ?? TempFolder()
    let p = folder.write("t.gguf", bytes)
    return try withExtendedLifetime(folder) { try GGUFFile(path: p) }
}

private func expectError(_ bytes: [UInt8], _ expected: GGUFError, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(throws: expected, sourceLocation: sourceLocation) { try open(bytes) }
}

@Test func emptyAndTinyFilesAreTruncated() {
    expectError([], .truncated(offset: 0, needed: 4, section: "header"))
    expectError([0x47, 0x47, 0x55, 0x46, 3, 0], .truncated(offset: 4, needed: 2, section: "header"))
}

@Test func wrongMagicIsRejected() {
    var b = Builder(tensors: 0, kvs: 0)
    b.b.bytes[0] = 0x00
    expectError(b.b.bytes, .badMagic(found: 0x4655_4700))
}

@Test func versionOneFourAndByteSwappedAreRejected() {
    expectError(Builder(version: 1, tensors: 0, kvs: 0).b.bytes, .unsupportedVersion(1))
    expectError(Builder(version: 4, tensors: 0, kvs: 0).b.bytes, .unsupportedVersion(4))
    expectError(Builder(version: 0x0300_0000, tensors: 0, kvs: 0).b.bytes, .byteSwapped(version: 0x0300_0000))
}

@Test func countsOfTwoToTheSixtyThreeAreRejectedBeforeAllocating() {
    expectError(Builder(tensors: 1 << 63, kvs: 0).b.bytes, .countTooLarge(what: "tensor", count: 1 << 63, offset: 8))
    expectError(Builder(tensors: 0, kvs: 1 << 63).b.bytes, .countTooLarge(what: "metadata", count: 1 << 63, offset: 16))
    var arr = Builder(tensors: 0, kvs: 1)
    arr.b.string("a"); arr.b.u32(GGUFValueType.array.rawValue); arr.b.u32(GGUFValueType.uint32.rawValue); arr.b.u64(1 << 62)
    arr.b.bytes += [UInt8](repeating: 0, count: 16)
    expectError(arr.b.bytes, .countTooLarge(what: "array 'a'", count: 1 << 62, offset: 41))
}

@Test func stringLengthPastEOFIsRejected() {
    var b = Builder(tensors: 0, kvs: 1)
    b.b.u64(1000); b.b.bytes += Array("abc".utf8) + [UInt8](repeating: 0, count: 20)
    expectError(b.b.bytes, .stringTooLong(length: 1000, offset: 24))
}

@Test func duplicateKeysAreRejected() {
    var b = Builder(tensors: 0, kvs: 2)
    b.kv("k", .uint8(1)); b.kv("k", .uint8(2))
    expectError(b.b.bytes, .duplicateKey("k"))
}

@Test func emptyKeysAreRejected() {
    var b = Builder(tensors: 0, kvs: 1)
    b.kv("", .uint8(1))
    expectError(b.b.bytes, .emptyKey(offset: 24))
}

@Test func unknownValueTypeIsRejected() {
    var b = Builder(tensors: 0, kvs: 1)
    b.b.string("k"); b.b.u32(13); b.b.u32(0)
    expectError(b.b.bytes, .unknownValueType(13, key: "k", offset: 33))
}

@Test func nestedArraysAreRejected() {
    var b = Builder(tensors: 0, kvs: 1)
    b.b.string("k"); b.b.u32(GGUFValueType.array.rawValue); b.b.u32(GGUFValueType.array.rawValue); b.b.u64(0)
    expectError(b.b.bytes, .nestedArray(key: "k"))
}

@Test func boolsOtherThanZeroOrOneAreRejected() {
    var b = Builder(tensors: 0, kvs: 1)
    b.b.string("k"); b.b.u32(GGUFValueType.bool.rawValue); b.b.u8(2)
    expectError(b.b.bytes, .invalidBool(2, key: "k"))
}

@Test func badAlignmentIsRejected() {
    var b = Builder(tensors: 0, kvs: 1)
    b.kv("general.alignment", .uint32(48))
    expectError(b.b.bytes, .invalidAlignment("48 is not a power of two"))
    var c = Builder(tensors: 0, kvs: 1)
    c.kv("general.alignment", .uint64(32))
    expectError(c.b.bytes, .invalidAlignment("must be a UINT32, found uint64"))
}

@Test func duplicateTensorNamesAreRejected() {
    var b = Builder(tensors: 2, kvs: 0)
    b.info("t", ne: [4], type: 0, offset: 0); b.info("t", ne: [4], type: 0, offset: 32); b.data(64)
    expectError(b.b.bytes, .duplicateTensorName("t"))
}

@Test func unknownTensorTypeIsRejected() {
    var b = Builder(tensors: 1, kvs: 0)
    b.info("t", ne: [4], type: 4, offset: 0); b.data(16)
    expectError(b.b.bytes, .unknownTensorType(4, tensor: "t"))
}

@Test func rowsThatAreNotWholeBlocksAreRejected() {
    var b = Builder(tensors: 1, kvs: 0)
    b.info("t", ne: [33, 2], type: GGMLType.q8_0.rawValue, offset: 0); b.data(64)
    expectError(b.b.bytes, .rowNotWholeBlocks(tensor: "t", type: .q8_0, rowLength: 33))
}

@Test func zeroOrFiveDimensionsAreRejected() {
    var b = Builder(tensors: 1, kvs: 0)
    b.info("t", ne: [], type: 0, offset: 0); b.data(0)
    expectError(b.b.bytes, .tooManyDimensions(tensor: "t", dims: 0))
    var c = Builder(tensors: 1, kvs: 0)
    c.info("t", ne: [1, 1, 1, 1, 1], type: 0, offset: 0); c.data(4)
    expectError(c.b.bytes, .tooManyDimensions(tensor: "t", dims: 5))
}

@Test func elementCountsThatOverflowAreRejected() {
    var b = Builder(tensors: 1, kvs: 0)
    b.info("t", ne: [1 << 32, 1 << 32], type: 0, offset: 0); b.data(4)
    expectError(b.b.bytes, .invalidDimension(tensor: "t", dims: [1 << 32, 1 << 32]))
}

@Test func misalignedOffsetsAreRejected() {
    var b = Builder(tensors: 1, kvs: 0)
    b.info("t", ne: [4], type: 0, offset: 8); b.data(64)
    expectError(b.b.bytes, .misalignedTensor(tensor: "t", offset: 8, alignment: 32))
}

@Test func overlappingTensorsAreRejected() {
    var b = Builder(tensors: 2, kvs: 0)
    b.info("a", ne: [16], type: 0, offset: 0); b.info("b", ne: [4], type: 0, offset: 32); b.data(96)
    expectError(b.b.bytes, .overlappingTensors("a", "b"))
}

@Test func tensorsPastTheEndOfTheFileAreRejected() {
    var b = Builder(tensors: 1, kvs: 0)
    b.info("t", ne: [64], type: 0, offset: 0); b.data(32)
    let size = b.b.bytes.count
    expectError(b.b.bytes, .tensorPastEnd(tensor: "t", end: UInt64(size - 32 + 256), fileSize: size))
}

@Test func malformedOriginalShapesAreRejected() {
    var b = Builder(tensors: 1, kvs: 1)
    b.kv("comfy.gguf.orig_shape.t", .array(.uint32, [.uint32(2), .uint32(2)]))
    b.info("t", ne: [4], type: 0, offset: 0); b.data(16)
    expectError(b.b.bytes, .invalidOriginalShape(tensor: "t", reason: "must be an ARRAY of INT32, found array"))
    var c = Builder(tensors: 1, kvs: 1)
    c.kv("comfy.gguf.orig_shape.t", .array(.int32, [.int32(3), .int32(2)]))
    c.info("t", ne: [4], type: 0, offset: 0); c.data(16)
    expectError(c.b.bytes, .invalidOriginalShape(tensor: "t", reason: "[3, 2] has 6 elements, the tensor has 4"))
}

@Test func truncationAtEveryByteAndRandomFlipsNeverCrash() throws {
    var w = try GGUFWriter(architecture: "cogvideox")
    try w.set("a.string", .string("hello"))
    try w.set("a.array", .array(.int32, [.int32(1), .int32(2)]))
    try w.addTensor(name: "q", shape: [2, 32], type: .q8_0, bytes: [UInt8](repeating: 1, count: 68))
    try w.addTensor(name: "f", shape: [3], type: .f32, bytes: [UInt8](repeating: 0, count: 12))
    let folder = TempFolder()
    try w.write(to: folder.path("v.gguf"))
    let valid = Array(try GGUFFile(path: folder.path("v.gguf")).data("q").count == 68 ? try readAll(folder.path("v.gguf")) : [])
    #expect(!valid.isEmpty)
    var rejected = 0
    for cut in 0..<valid.count where cut < 400 {
        do { _ = try open(Array(valid[..<cut]), in: folder) } catch is GGUFError { rejected += 1 }
    }
    #expect(rejected >= 300)  // everything up to the end of the data section must be rejected
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
        var b = valid
        for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
        // Must not crash: any outcome is a typed error or a valid file whose tensors all decode.
        if let f = try? open(b, in: folder) {
            for t in f.tensors where BlockCodec.dequantizable.contains(t.type) { #expect(throws: Never.self) { _ = try f.floats(t.name) } }
        }
    }
}

private func readAll(_ path: String) throws -> [UInt8] {
    let f = try GGUFMappedFile(path: path)
    return Array(f.bytes)
}

/// A file cut at each section boundary (and inside sections) fails with the error of that section.
/// Layout of the file below: header 0..<24; metadata `general.architecture = "x"` 24..<65 (key length 8, key 20,
/// type 4, string length 8, "x" 1); tensor info for `t` ([32] F32) 65..<98; padding to 128; data 128..<256.
@Test func truncationAtEachSectionBoundaryNamesTheSection() throws {
    var w = try GGUFWriter(architecture: "x")
    try w.addTensor(name: "t", shape: [32], type: .f32, bytes: [UInt8](repeating: 0, count: 128))
    let folder = TempFolder()
    try w.write(to: folder.path("v.gguf"))
    let valid = try readAll(folder.path("v.gguf"))
    #expect(valid.count == 256)
    func cut(_ n: Int) -> [UInt8] { Array(valid[..<n]) }
    expectError(cut(0), .truncated(offset: 0, needed: 4, section: "header"))
    expectError(cut(20), .truncated(offset: 16, needed: 4, section: "header"))
    // Right after the header, one tensor info (≥ 32 bytes) can no longer fit: refused before any allocation.
    expectError(cut(24), .countTooLarge(what: "tensor", count: 1, offset: 8))
    expectError(cut(65), .truncated(offset: 65, needed: 8, section: "tensor infos"))
    expectError(cut(94), .truncated(offset: 90, needed: 4, section: "tensor infos"))  // inside the u64 offset
    expectError(cut(98), .truncated(offset: 98, needed: 30, section: "padding before the data section"))
    expectError(cut(128), .tensorPastEnd(tensor: "t", end: 256, fileSize: 128))
    expectError(cut(255), .tensorPastEnd(tensor: "t", end: 256, fileSize: 255))
    // Without tensors the metadata section is the last one.
    let meta = Array(valid[..<65])
    var noTensors = meta
    noTensors[8] = 0  // tensor_count = 0
    expectError(Array(noTensors[..<50]), .stringTooLong(length: 20, offset: 24))
    expectError(Array(noTensors[..<54]), .truncated(offset: 52, needed: 2, section: "metadata"))
    expectError(Array(noTensors[..<60]), .truncated(offset: 56, needed: 4, section: "metadata"))
    #expect(try open(noTensors).metadata.count == 1)
}
