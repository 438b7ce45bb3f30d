import SafeTensors
import Testing
@testable import GGUFLike

private let vectors = fixturesPath + "/gguf/codec_vectors.safetensors"

@Test(arguments: ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
func quantizationIsBitExactWithGGUFPy(_ typeName: String) throws {
    let f = try SafeTensorsFile(path: vectors)
    let input = try f.floats("input")
    let type = try #require(GGMLType(name: typeName))
    let ours = try BlockCodec.quantize(type, input)
    let theirs = try f.elements("\(typeName).quantized", as: UInt8.self)
    #expect(ours.count == theirs.count)
    let firstDiff = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    #expect(firstDiff == nil, "first differing byte at \(firstDiff ?? -1) (block \((firstDiff ?? 0) / type.typeSize))")
}

@Test(arguments: ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
func dequantizationIsBitExactWithGGUFPy(_ typeName: String) throws {
    let f = try SafeTensorsFile(path: vectors)
    let type = try #require(GGMLType(name: typeName))
    let q = try f.elements("\(typeName).quantized", as: UInt8.self)
    let expected = try f.floats("\(typeName).dequantized")
    let ours = try q.withUnsafeBytes { try BlockCodec.dequantize(type, $0, count: expected.count) }
    #expect(sameFloats(ours, expected))
}

@Test(arguments: ["Q4_K", "Q5_K", "Q6_K"])
func kQuantDequantizationIsBitExactWithGGUFPy(_ typeName: String) throws {
    let f = try SafeTensorsFile(path: vectors)
    let type = try #require(GGMLType(name: typeName))
    let blocks = try f.elements("\(typeName).blocks", as: UInt8.self)
    let expected = try f.floats("\(typeName).dequantized")
    let ours = try blocks.withUnsafeBytes { try BlockCodec.dequantize(type, $0, count: expected.count) }
    #expect(sameFloats(ours, expected))
}

@Test func partialBlocksAndWrongBufferSizesAreTypedErrors() {
    #expect(throws: BlockCodecError.notWholeBlocks(type: .q8_0, count: 31)) { try BlockCodec.quantize(.q8_0, [Float](repeating: 1, count: 31)) }
    #expect(throws: BlockCodecError.sizeMismatch(type: .q4_0, elements: 32, bytes: 17)) {
        try [UInt8](repeating: 0, count: 17).withUnsafeBytes { _ = try BlockCodec.dequantize(.q4_0, $0, count: 32) }
    }
    #expect(throws: BlockCodecError.unsupported(.q4_K, operation: "quantization")) { try BlockCodec.quantize(.q4_K, [Float](repeating: 1, count: 256)) }
}
