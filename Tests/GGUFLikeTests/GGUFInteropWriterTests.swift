import Foundation
import SafeTensors
import Testing
@testable import GGUFLike

/// Writes `.build/interop/swift_written.gguf` (and the fp32 inputs it was quantized from) for
/// Tests/interop/gguf_roundtrip.py, which CI runs after the Swift tests: gguf-py must read our file with identical
/// metadata, shapes and (re-quantized) bytes.
@Test func writeTheFileThatGGUFPyChecks() throws {
    let dir = URL(fileURLWithPath: fixturesPath).deletingLastPathComponent().appendingPathComponent(".build/interop").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var w = try GGUFWriter(architecture: "cogvideox")
    try w.set("general.name", .string("swift interop"))
    try w.set("test.u8", .uint8(250)); try w.set("test.i8", .int8(-7)); try w.set("test.u16", .uint16(65000))
    try w.set("test.i16", .int16(-32000)); try w.set("test.u32", .uint32(3_000_000_000)); try w.set("test.i32", .int32(-5))
    try w.set("test.f32", .float32(0.25)); try w.set("test.bool", .bool(false)); try w.set("test.string", .string("ünï ✓"))
    try w.set("test.u64", .uint64(1 << 60)); try w.set("test.i64", .int64(-3)); try w.set("test.f64", .float64(1e-300))
    try w.set("test.array_u8", .array(.uint8, (0..<200).map { .uint8(UInt8($0)) }))
    try w.set("test.array_str", .array(.string, [.string("x"), .string("yz")]))
    var inputs = SafeTensorsWriter()
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> Float {  // splitmix64 → uniform in [-1, 1)
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float(z >> 40) / Float(1 << 23) - 1
    }
    for type in [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1] {
        let values = (0..<(3 * 64)).map { _ in next() }
        try w.addTensor(name: "t.\(type.name)", shape: [3, 64], type: type, bytes: try BlockCodec.quantize(type, values))
        try inputs.add(name: "t.\(type.name)", shape: [3, 64], floats: values)
    }
    let conv = (0..<(4 * 2 * 3 * 3 * 3)).map { _ in next() }
    try w.addTensor(name: "vae.conv.weight", shape: [4, 2, 3, 3, 3], type: .f16, bytes: try BlockCodec.quantize(.f16, conv))
    try inputs.add(name: "vae.conv.weight", shape: [4, 2, 3, 3, 3], floats: conv)
    try w.write(to: dir + "/swift_written.gguf")
    try inputs.write(to: dir + "/swift_written_inputs.safetensors")
    // Our own reader agrees before Python looks.
    let f = try GGUFFile(path: dir + "/swift_written.gguf")
    #expect(f.tensors.count == 9)
    #expect(f.tensor("vae.conv.weight")?.shape == [4, 2, 3, 3, 3])
}
