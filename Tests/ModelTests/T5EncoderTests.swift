import GGUFLike
import SafeTensors
import Testing
@testable import Model

private func loadT5(_ type: GGMLType? = nil) throws -> T5Encoder {
    let config = try T5Config(json: readConfig(tinyPath("cogvideox-2b", "text_encoder") + "/config.json"))
    let model = T5Encoder(config: config)
    var source: WeightSource = try SafeTensorsWeightSource(path: tinyPath("cogvideox-2b", "text_encoder"))
    if let type { source = RequantizedWeightSource(source, type: type) }
    let report = try WeightLoader.bind(model, to: source, ignoring: T5Encoder.isIgnoredKey)
    #expect(report.isClean, "\(report)")
    return model
}

@Test func relativePositionBucketsMatchTransformers() throws {
    let ref = try SafeTensorsFile(path: fixturesPath + "/t5/reference.safetensors")
    let expected = try ints(ref, "buckets")
    let ours = (-225...225).map { T5Encoder.relativePositionBucket($0, buckets: 32, maxDistance: 128) }
    #expect(ours == expected)
}

@Test(arguments: ["prompt", "empty", "random"])
func t5EncoderMatchesTransformersInFP32(_ name: String) throws {
    let ref = try SafeTensorsFile(path: fixturesPath + "/t5/reference.safetensors")
    let model = try loadT5()
    let out = try model([ints(ref, "ids.\(name)")])
    let expected = try ref.floats("output.\(name)")
    #expect(out.shape == ref.info("output.\(name)")!.shape)
    let err = relativeMaxError(out.data, expected)
    print("T5 fp32 \(name): max |swift − transformers| / max |ref| = \(err)")
    #expect(err <= 1e-4, "max |swift − transformers| / max |ref| = \(err)")
}

@Test(arguments: [(GGMLType.f16, 0.9999), (.bf16, 0.999), (.q8_0, 0.999)])
func t5EncoderOnStoredTypesStaysClose(_ type: GGMLType, _ minimum: Double) throws {
    let ref = try SafeTensorsFile(path: fixturesPath + "/t5/reference.safetensors")
    let model = try loadT5(type)
    let out = try model([ints(ref, "ids.prompt")])
    let c = cosine(out.data, try ref.floats("output.prompt"))
    print("T5 \(type.name) cosine to fp32 transformers: \(c)")
    #expect(c >= minimum)
}

@Test func loaderReportsMissingExtraAndMisshapedKeysAsFindings() throws {
    final class Edited: WeightSource, @unchecked Sendable {
        let base: WeightSource
        init(_ b: WeightSource) { base = b }
        var tensorNames: [String] { base.tensorNames.filter { $0 != "encoder.final_layer_norm.weight" } + ["encoder.extra.weight"] }
        func info(_ n: String) -> WeightInfo? {
            if n == "encoder.final_layer_norm.weight" { return nil }
            if n == "encoder.extra.weight" { return WeightInfo(shape: [1], type: .f32, storedTypeName: "F32") }
            if n == "shared.weight", let i = base.info(n) { return WeightInfo(shape: [i.shape[0] + 1, i.shape[1]], type: i.type, storedTypeName: i.storedTypeName) }
            return base.info(n)
        }
        func tensor(_ n: String) throws -> WeightTensor { try base.tensor(n) }
    }
    let config = try T5Config(json: readConfig(tinyPath("cogvideox-2b", "text_encoder") + "/config.json"))
    let source = Edited(try SafeTensorsWeightSource(path: tinyPath("cogvideox-2b", "text_encoder")))
    let report = try WeightLoader.bind(T5Encoder(config: config), to: source)
    #expect(report.missing == ["encoder.final_layer_norm.weight"])
    #expect(report.unexpected == ["encoder.extra.weight"])
    #expect(report.shapeMismatches.map(\.key) == ["shared.weight"])
}
