import Foundation
import GGUFLike
import Model
import SafeTensors
import Testing
@testable import Convert

let fixturesPath: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures").path

final class TempFolder {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("convert-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

private func convert(_ source: String, _ type: GGMLType, to out: String) throws -> ConversionSummary {
    let plan = try ConversionPlan(path: source)
    return try Converter(plan: plan, policy: PrecisionPolicy(requested: type)).run(to: out, name: "test") { _ in }
}

@Test(arguments: ["cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b", "cogvideox1.5-5b-i2v"])
func variantsAreDetectedFromConfigAndConfirmedByShapes(_ variant: String) throws {
    let plan = try ConversionPlan(path: "\(fixturesPath)/tiny/\(variant)")
    let expected: [String: CogVideoXVariant] = ["cogvideox-2b": .v2b, "cogvideox-5b": .v5b, "cogvideox-5b-i2v": .v5bI2V,
                                                 "cogvideox1.5-5b": .v15, "cogvideox1.5-5b-i2v": .v15I2V]
    #expect(plan.variant == expected[variant])
    #expect(plan.components.map(\.name) == ["transformer", "vae", "text_encoder"])
}

@Test func aConfigThatContradictsTheWeightsIsReported() {
    let cfg: JSONValue = ["use_rotary_positional_embeddings": true, "in_channels": 16]
    let problem = CogVideoXVariant.detect(config: cfg).contradiction(shapeOf: { $0 == "patch_embed.proj.weight" ? [3072, 128] : nil }, config: cfg)
    #expect(problem?.contains("1.5 Linear") == true)
}

@Test(arguments: PrecisionPolicy.storableTypes)
func everyTypeConvertsTheTinyPipelineAndValidatesClean(_ type: GGMLType) throws {
    let folder = TempFolder()
    let out = folder.path("m.gguf")
    let summary = try convert("\(fixturesPath)/tiny/cogvideox-2b", type, to: out)
    let file = try GGUFFile(path: out)
    #expect(file.tensors.count == summary.decisions.count)
    #expect(file["general.file_type"] == .uint32(CogVideoXGGUFKeys.fileType(for: type)))
    #expect(file[CogVideoXGGUFKeys.variant] == .string("2b"))
    #expect(file[CogVideoXGGUFKeys.spieceModel]?.bytes?.isEmpty == false)
    for d in summary.decisions { #expect(file.tensor(d.name)?.type == d.type, "\(d.name)") }
    if type.isQuantized { #expect(summary.decisions.contains { $0.type == type }) }
    let results = try Validator.validate(path: out)
    let clean = results.allSatisfy { $0.isClean }
    #expect(clean, "\(results.compactMap { $0.report })")
    // Every tensor decodes close to its source.
    let source = try SafeTensorsCheckpoint(path: "\(fixturesPath)/tiny/cogvideox-2b/text_encoder")
    let w = try file.floats("text_encoder.encoder.block.0.layer.1.DenseReluDense.wi_0.weight")
    let ref = try source.floats("encoder.block.0.layer.1.DenseReluDense.wi_0.weight")
    let err = zip(w, ref).map { abs($0 - $1) }.max() ?? 0
    #expect(err <= (type == .f32 ? 0 : 0.25 * (ref.map(abs).max() ?? 1)))
}

@Test(arguments: [("cogvideox-2b-transformer", "cogvideox-2b/transformer"), ("cogvideox-5b-i2v-transformer", "cogvideox-5b-i2v/transformer"),
                  ("vae", "cogvideox-2b/vae")])
func satNamedInputConvertsToTheSameTensorsAsItsDiffusersTwin(_ sat: String, _ twin: String) throws {
    let folder = TempFolder()
    let out = folder.path("sat.gguf")
    _ = try convert("\(fixturesPath)/sat/\(sat).safetensors", .f32, to: out)
    let file = try GGUFFile(path: out)
    let reference = try SafeTensorsCheckpoint(path: "\(fixturesPath)/tiny/\(twin)")
    let prefix = twin.hasSuffix("vae") ? "vae." : "transformer."
    #expect(Set(file.tensors.map { String($0.name.dropFirst(prefix.count)) }) == Set(reference.names))
    for name in reference.names {
        #expect(try file.floats(prefix + name) == reference.floats(name), "\(name)")
        #expect(file.tensor(prefix + name)?.shape == reference.info(name)?.shape)
    }
}

@Test func unknownSATKeysStopTheConversionWithTheirName() throws {
    let folder = TempFolder()
    var w = SafeTensorsWriter()
    try w.add(name: "model.diffusion_model.mixins.patch_embed.proj.weight", shape: [4, 4], floats: [Float](repeating: 1, count: 16))
    try w.add(name: "model.diffusion_model.mixins.mystery.weight", shape: [4], floats: [1, 2, 3, 4])
    try w.write(to: folder.path("s.safetensors"))
    #expect(throws: ConvertError.unknownSATKey("model.diffusion_model.mixins.mystery.weight")) {
        try ConversionPlan(path: folder.path("s.safetensors"))
    }
}

@Test func f8SourcesAreUpcast() {
    #expect(SourceDecoding.f8e4m3(0x38) == 1.0)
    #expect(SourceDecoding.f8e4m3(0x7E) == 448)
    #expect(SourceDecoding.f8e4m3(0xB8) == -1.0)
    #expect(SourceDecoding.f8e4m3(0x7F).isNaN)
    #expect(SourceDecoding.f8e4m3(0x01) == 0.001953125)  // smallest subnormal, 2^-9
}
