import Foundation
import SafeTensors
import Testing
@testable import GGUFLike

private let reference = fixturesPath + "/gguf/reference.gguf"

@Test func readsEveryMetadataValueTypeWrittenByGGUFPy() throws {
    let f = try GGUFFile(path: reference)
    #expect(f.version == 3)
    #expect(f["general.architecture"] == .string("cogvideox"))
    #expect(f["general.name"] == .string("reference fixture"))
    #expect(f["test.u8"] == .uint8(200))
    #expect(f["test.i8"] == .int8(-100))
    #expect(f["test.u16"] == .uint16(60000))
    #expect(f["test.i16"] == .int16(-30000))
    #expect(f["test.u32"] == .uint32(4_000_000_000))
    #expect(f["test.i32"] == .int32(-2_000_000_000))
    #expect(f["test.f32"] == .float32(1.5))
    #expect(f["test.bool"] == .bool(true))
    #expect(f["test.string"] == .string("héllo ✓"))
    #expect(f["test.u64"] == .uint64((1 << 63) + 5))
    #expect(f["test.i64"] == .int64(-(1 << 62)))
    #expect(f["test.f64"] == .float64(-2.25))
    #expect(f["test.array_i32"] == .array(.int32, [.int32(1), .int32(-2), .int32(3)]))
    #expect(f["test.array_str"] == .array(.string, [.string("a"), .string("bc"), .string("")]))
    #expect(f["test.array_f32"] == .array(.float32, [.float32(0.5), .float32(-1)]))
    #expect(f["general.quantization_version"] == .uint32(2))
    #expect(f["general.file_type"] == .uint32(7))
}

@Test func tensorsMatchGGUFPysDequantizationInPyTorchShape() throws {
    let f = try GGUFFile(path: reference)
    let expected = try SafeTensorsFile(path: fixturesPath + "/gguf/reference_expected.safetensors")
    #expect(Set(f.tensors.map(\.name)) == Set(expected.names))
    for t in f.tensors {
        let e = try #require(expected.info(t.name))
        #expect(t.shape == e.shape, "\(t.name)")
        #expect(sameFloats(try f.floats(t.name), try expected.floats(t.name)), "\(t.name) (\(t.type))")
    }
    // The 5-D Conv3d kernel is stored 4-D and read back in its original shape.
    let conv = try #require(f.tensor("vae.conv.weight"))
    #expect(conv.ne == [2, 3, 3, 12])
    #expect(conv.shape == [4, 3, 3, 3, 2])
}

@Test func writerOutputReadsBackIdentically() throws {
    var w = try GGUFWriter(architecture: "cogvideox")
    try w.set("test.s", .string("x"))
    try w.set("test.arr", .array(.uint8, [.uint8(1), .uint8(2)]))
    let values = (0..<(2 * 64)).map { Float($0) * 0.01 - 0.5 }
    try w.addTensor(name: "a", shape: [2, 64], type: .q8_0, bytes: try BlockCodec.quantize(.q8_0, values))
    let conv = (0..<(4 * 3 * 3 * 3 * 2)).map { Float($0) }
    try w.addTensor(name: "conv", shape: [4, 3, 3, 3, 2], type: .f32, bytes: try BlockCodec.quantize(.f32, conv))
    try w.addTensor(name: "b", shape: [3], type: .f16, bytes: try BlockCodec.quantize(.f16, [1, 2, 3]))
    let folder = TempFolder()
    let path = folder.path("w.gguf")
    try w.write(to: path)
    let f = try GGUFFile(path: path)
    #expect(f.fileSize == w.fileSize)
    #expect(f.fileSize % 32 == 0)
    #expect(f["general.architecture"] == .string("cogvideox"))
    #expect(f["test.arr"]?.bytes == [1, 2])
    #expect(f.tensor("conv")?.shape == [4, 3, 3, 3, 2])
    #expect(f.tensor("conv")?.ne == [2, 3, 3, 12])
    #expect(try f.floats("conv") == conv)
    #expect(try f.floats("b") == [1, 2, 3])
    let back = try f.floats("a")
    #expect(zip(back, values).allSatisfy { abs($0 - $1) < 0.01 })
    // Offsets are packed in info order, each aligned (what ggml's strict reader wants).
    var expectedOffset = 0
    for t in f.tensors {
        #expect(t.offset == expectedOffset)
        expectedOffset += (t.byteCount + 31) / 32 * 32
    }
}

@Test func writerRejectsDuplicatesNestedArraysAndPartialRows() throws {
    var w = try GGUFWriter(architecture: "x")
    try w.set("k", .uint8(1))
    #expect(throws: GGUFError.duplicateKey("k")) { try w.set("k", .uint8(1)) }
    #expect(throws: GGUFError.nestedArray(key: "n")) { try w.set("n", .array(.array, [])) }
    try w.addTensor(name: "t", shape: [32], type: .q8_0, bytes: [UInt8](repeating: 0, count: 34))
    #expect(throws: GGUFError.duplicateTensorName("t")) { try w.addTensor(name: "t", shape: [32], type: .f32, bytes: []) }
    #expect(throws: GGUFError.rowNotWholeBlocks(tensor: "r", type: .q4_0, rowLength: 30)) {
        try w.addTensor(name: "r", shape: [2, 30], type: .q4_0, bytes: [])
    }
    #expect(throws: GGUFError.invalidAlignment("24 is not a power of two")) { try GGUFWriter(architecture: "x", alignment: 24) }
}

@Test func aRefusedTensorLeavesTheWriterUnchanged() throws {
    var w = try GGUFWriter(architecture: "x")
    #expect(throws: GGUFError.tensorDataSizeMismatch(tensor: "t", expected: 34, found: 33)) {
        try w.addTensor(name: "t", shape: [32], type: .q8_0, bytes: [UInt8](repeating: 0, count: 33))
    }
    #expect(throws: GGUFError.invalidDimension(tensor: "big", dims: [1, 1, 1, 1, 1 << 31])) {
        try w.addTensor(name: "big", shape: [1, 1, 1, 1, 1 << 31], type: .f32, bytes: [])
    }
    #expect(throws: GGUFError.invalidDimension(tensor: "neg", dims: [2, 0])) {
        try w.addTensor(name: "neg", shape: [2, -1], type: .f32, bytes: [])
    }
    #expect(w.tensorCount == 0)
    #expect(w.metadata.count == 1)  // only general.architecture: no orphaned orig_shape key
    try w.addTensor(name: "t", shape: [32], type: .q8_0, bytes: [UInt8](repeating: 0, count: 34))
    #expect(w.tensorCount == 1)
}

private struct ProducerFailed: Error {}

@Test func aWriteThatFailsMidwayLeavesNoFileBehind() throws {
    let folder = TempFolder()
    let path = folder.path("out.gguf")
    for failure in ["throws", "short", "long"] {
        var w = try GGUFWriter(architecture: "x")
        try w.addTensor(name: "a", shape: [64], type: .f32, bytes: [UInt8](repeating: 1, count: 256))
        try w.addTensor(name: "b", shape: [64], type: .q8_0) { emit in
            let half = [UInt8](repeating: 2, count: 34)
            try half.withUnsafeBytes { try emit($0) }
            switch failure {
            case "throws": throw ProducerFailed()
            case "long": try [UInt8](repeating: 3, count: 35).withUnsafeBytes { try emit($0) }
            default: break  // 34 of 68 bytes
            }
        }
        switch failure {
        case "throws": #expect(throws: ProducerFailed.self) { try w.write(to: path) }
        case "long": #expect(throws: GGUFError.tensorDataSizeMismatch(tensor: "b", expected: 68, found: 69)) { try w.write(to: path) }
        default: #expect(throws: GGUFError.tensorDataSizeMismatch(tensor: "b", expected: 68, found: 34)) { try w.write(to: path) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).isEmpty, "\(failure)")
    }
}

@Test func writingIntoAMissingFolderIsATypedError() throws {
    let w = try GGUFWriter(architecture: "x")
    let folder = TempFolder()
    #expect(throws: GGUFError.writeFailed(path: folder.path("no/such/dir/x.gguf"), reason: "No such file or directory")) {
        try w.write(to: folder.path("no/such/dir/x.gguf"))
    }
}
