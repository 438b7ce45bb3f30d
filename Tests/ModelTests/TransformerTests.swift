import GGUFLike
import SafeTensors
import Testing
@testable import Model

private let cases: [(String, String)] = [
    ("cogvideox-2b", "native"), ("cogvideox-2b", "other"), ("cogvideox-5b", "native"), ("cogvideox-5b", "other"),
    ("cogvideox-5b-i2v", "native"), ("cogvideox-5b-i2v", "frames"), ("cogvideox1.5-5b", "native"), ("cogvideox1.5-5b", "other"),
    ("cogvideox1.5-5b-i2v", "native"), ("cogvideox1.5-5b-i2v", "other"),
]

func loadTransformer(_ variant: String, _ type: GGMLType? = nil) throws -> CogVideoXTransformer3D {
    let config = try CogVideoXTransformerConfig(json: readConfig(tinyPath(variant, "transformer") + "/config.json"))
    let model = CogVideoXTransformer3D(config: config)
    var source: WeightSource = try SafeTensorsWeightSource(path: tinyPath(variant, "transformer"))
    if let type { source = RequantizedWeightSource(source, type: type) }
    let report = try WeightLoader.bind(model, to: source)
    #expect(report.isClean, "\(report)")
    return model
}

private func run(_ model: CogVideoXTransformer3D, _ ref: SafeTensorsFile, ourRope: Bool) throws -> Tensor {
    let x = Tensor(shape: ref.info("hidden_states")!.shape, data: try ref.floats("hidden_states"))
    let enc = Tensor(shape: ref.info("encoder_hidden_states")!.shape, data: try ref.floats("encoder_hidden_states"))
    var rotary: RotaryTables? = nil
    if ref.info("rope_cos") != nil {
        if ourRope {
            rotary = try PositionalEmbeddings.rotary3D(config: model.config, latentFrames: x.shape[1], latentHeight: x.shape[3], latentWidth: x.shape[4])
        } else {
            rotary = RotaryTables(cos: Tensor(shape: ref.info("rope_cos")!.shape, data: try ref.floats("rope_cos")),
                                  sin: Tensor(shape: ref.info("rope_sin")!.shape, data: try ref.floats("rope_sin")))
        }
    }
    let ofs = ref.info("ofs") != nil ? try ref.floats("ofs")[0] : nil
    return try model(hiddenStates: x, encoderHiddenStates: enc, timestep: try ref.floats("timestep"), ofs: ofs, rotary: rotary)
}

@Test(arguments: cases)
func transformerMatchesDiffusersInFP32(_ variant: String, _ name: String) throws {
    let ref = try SafeTensorsFile(path: "\(fixturesPath)/transformer/\(variant)/\(name).safetensors")
    let out = try run(try loadTransformer(variant), ref, ourRope: true)
    #expect(out.shape == ref.info("output")!.shape)
    let err = relativeMaxError(out.data, try ref.floats("output"))
    #expect(err <= 1e-4, "\(variant)/\(name): max |swift − diffusers| / max |ref| = \(err)")
}

@Test(arguments: cases.filter { $0.0 != "cogvideox-2b" })
func ropeTablesMatchThePipelines(_ variant: String, _ name: String) throws {
    let ref = try SafeTensorsFile(path: "\(fixturesPath)/transformer/\(variant)/\(name).safetensors")
    let config = try CogVideoXTransformerConfig(json: readConfig(tinyPath(variant, "transformer") + "/config.json"))
    let shape = ref.info("hidden_states")!.shape
    let r = try PositionalEmbeddings.rotary3D(config: config, latentFrames: shape[1], latentHeight: shape[3], latentWidth: shape[4])
    #expect(relativeMaxError(r.cos.data, try ref.floats("rope_cos")) <= 1e-6)
    #expect(relativeMaxError(r.sin.data, try ref.floats("rope_sin")) <= 1e-6)
}

@Test(arguments: [(GGMLType.f16, 0.9999), (.bf16, 0.999), (.q8_0, 0.999), (.q4_0, 0.9)])
func transformerOnStoredTypesStaysClose(_ type: GGMLType, _ minimum: Double) throws {
    for variant in ["cogvideox-2b", "cogvideox-5b", "cogvideox1.5-5b-i2v"] {
        let ref = try SafeTensorsFile(path: "\(fixturesPath)/transformer/\(variant)/native.safetensors")
        let out = try run(try loadTransformer(variant, type), ref, ourRope: true)
        let c = cosine(out.data, try ref.floats("output"))
        print("transformer \(variant) \(type.name): cosine to fp32 diffusers \(c)")
        #expect(c >= minimum, "\(variant) \(type.name)")
    }
}
