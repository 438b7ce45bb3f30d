import SafeTensors
import Testing
@testable import GGUFLike

private let vectors = fixturesPath + "/gguf/codec_vectors.safetensors"

// `simd: true` is what runs on this AVX-512 machine; `simd: false` is the portable Swift code other CPUs run.
@Test(arguments: ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"], [true, false])
func quantizationIsBitExactWithGGUFPy(_ typeName: String, simd: Bool) throws {
    let f = try SafeTensorsFile(path: vectors)
    let input = try f.floats("input")
    let type = try #require(GGMLType(name: typeName))
    var ours = [UInt8](repeating: 0xAA, count: try #require(type.byteCount(elements: input.count)))
    try input.withUnsafeBufferPointer { src in try ours.withUnsafeMutableBytes { try BlockCodec.encode(type, src, into: $0, simd: simd) } }
    let theirs = try f.elements("\(typeName).quantized", as: UInt8.self)
    #expect(ours.count == theirs.count)
    let firstDiff = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    #expect(firstDiff == nil, "first differing byte at \(firstDiff ?? -1) (block \((firstDiff ?? 0) / type.typeSize))")
    // The last 16 blocks (the edge-of-fp32 scales) as one batch: kernels that work 16 blocks at a time see them too.
    let tail = Array(input.suffix(512))
    var tailOurs = [UInt8](repeating: 0xAA, count: try #require(type.byteCount(elements: 512)))
    try tail.withUnsafeBufferPointer { src in try tailOurs.withUnsafeMutableBytes { try BlockCodec.encode(type, src, into: $0, simd: simd) } }
    #expect(tailOurs == Array(theirs.suffix(tailOurs.count)))
}

@Test(arguments: ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"], [true, false])
func dequantizationIsBitExactWithGGUFPy(_ typeName: String, simd: Bool) throws {
    let f = try SafeTensorsFile(path: vectors)
    let type = try #require(GGMLType(name: typeName))
    let q = try f.elements("\(typeName).quantized", as: UInt8.self)
    let expected = try f.floats("\(typeName).dequantized")
    var ours = [Float](repeating: .nan, count: expected.count)
    try q.withUnsafeBytes { src in try ours.withUnsafeMutableBufferPointer { try BlockCodec.decode(type, src, into: $0, simd: simd) } }
    #expect(sameFloats(ours, expected))
}

@Test func theRowAPIDecodesOneRowInPlace() throws {
    let f = try SafeTensorsFile(path: vectors)
    let q = try f.elements("Q4_0.quantized", as: UInt8.self)
    let expected = try f.floats("Q4_0.dequantized")
    // Row 1 of a [rows, 64] view: bytes 36..<72, values 64..<128.
    var row = [Float](repeating: 0, count: 64)
    try q.withUnsafeBytes { b in
        try row.withUnsafeMutableBufferPointer { try GGMLType.q4_0.dequantize(row: UnsafeRawBufferPointer(rebasing: b[36..<72]), into: $0) }
    }
    #expect(sameFloats(row, Array(expected[64..<128])))
    var back = [UInt8](repeating: 0, count: 36)
    try Array(try f.floats("input")[64..<128]).withUnsafeBufferPointer { src in
        try back.withUnsafeMutableBytes { try GGMLType.q4_0.quantize(row: src, into: $0) }
    }
    #expect(back == Array(q[36..<72]))
}

@Test(arguments: ["Q4_K", "Q5_K", "Q6_K"], [true, false])
func kQuantDequantizationIsBitExactWithGGUFPy(_ typeName: String, simd: Bool) throws {
    let f = try SafeTensorsFile(path: vectors)
    let type = try #require(GGMLType(name: typeName))
    let blocks = try f.elements("\(typeName).blocks", as: UInt8.self)
    let expected = try f.floats("\(typeName).dequantized")
    var ours = [Float](repeating: .nan, count: expected.count)
    try blocks.withUnsafeBytes { src in try ours.withUnsafeMutableBufferPointer { try BlockCodec.decode(type, src, into: $0, simd: simd) } }
    #expect(sameFloats(ours, expected))
}

@Test func partialBlocksAndWrongBufferSizesAreTypedErrors() {
    #expect(throws: BlockCodecError.notWholeBlocks(type: .q8_0, count: 31)) { try BlockCodec.quantize(.q8_0, [Float](repeating: 1, count: 31)) }
    #expect(throws: BlockCodecError.sizeMismatch(type: .q4_0, elements: 32, bytes: 17)) {
        try [UInt8](repeating: 0, count: 17).withUnsafeBytes { _ = try BlockCodec.dequantize(.q4_0, $0, count: 32) }
    }
    #expect(throws: BlockCodecError.unsupported(.q4_K, operation: "quantization")) { try BlockCodec.quantize(.q4_K, [Float](repeating: 1, count: 256)) }
}
