import Foundation
import SafeTensors
import Testing
@testable import Model

// Replays the scheduler side of the diffusers pipeline reference runs (fixtures/pipelines, written by the pipeline
// fixture generator) with our RNG and schedulers: every torch.randn draw of a run, in order, from
// TorchGenerator(seed); then the denoising loop driven by the recorded transformer outputs (CFG applied as the
// pipeline does, dynamic CFG included) must give the recorded latents after every step. Tolerance 1e-6 relative
// to the step's max |latent| (observed: bit-identical).

private let pipelinesRoot = modelFixtures + "/pipelines"

private func caseNames() -> [String] {
    guard let data = FileManager.default.contents(atPath: pipelinesRoot + "/index.json"),
          let index = try? JSONParser.parse(Array(data)) else { return [] }
    return index["cases"]?.array?.compactMap(\.string) ?? []
}

private func load(_ name: String) throws -> (JSONValue, SafeTensorsFile) {
    let data = try #require(FileManager.default.contents(atPath: "\(pipelinesRoot)/\(name)/case.json"))
    return (try JSONParser.parse(Array(data)), try SafeTensorsFile(path: "\(pipelinesRoot)/\(name)/reference.safetensors"))
}

@Test func pipelineFixturesArePresent() {
    #expect(caseNames().count >= 20, "fixtures/pipelines/index.json is missing or short")
}

@Test(arguments: caseNames())
func everyRNGDrawOfAPipelineRunMatchesTorch(name: String) throws {
    let (c, ref) = try load(name)
    let seed = UInt64(try #require(c["seed"]?.int))
    var g = TorchGenerator(seed: seed)
    for draw in try #require(c["rng_draws"]?.array) {
        let shape = try #require(draw["shape"]?.array).compactMap(\.int)
        let tensor = try #require(draw["tensor"]?.string)
        let got = g.randn(shape: shape)
        let want = try ref.floats(tensor)
        #expect(got.data.map(\.bitPattern) == want.map(\.bitPattern), "\(name): \(tensor)")
    }
}

@Test(arguments: caseNames())
func denoisingLoopReproducesEveryStepOfThePipeline(name: String) throws {
    let (c, ref) = try load(name)
    let variant = try #require(c["variant"]?.string)
    let config = try SchedulerConfig(contentsOf: "\(modelFixtures)/tiny/\(variant)/scheduler/scheduler_config.json")
    let className = try #require(c["scheduler"]?.string)
    let kind = try #require(SchedulerKind(className: className))
    var scheduler = kind.make(config: config)
    let steps = try #require(c["num_inference_steps"]?.int)
    try scheduler.setTimesteps(steps)
    #expect(scheduler.timesteps == (try #require(c["timesteps"]?.array).compactMap(\.int)))
    var timesteps = scheduler.timesteps
    if let strength = c["strength"]?.double { timesteps = try SchedulerSchedule.truncated(timesteps, strength: strength) }

    // The generator as the loop finds it: every draw before the first DPM step noise has been made.
    var g = TorchGenerator(seed: UInt64(try #require(c["seed"]?.int)))
    for draw in try #require(c["rng_draws"]?.array) where draw["source"]?.string != "DPM step noise" {
        _ = g.randn(shape: try #require(draw["shape"]?.array).compactMap(\.int))
    }

    let latentShape = try #require(ref.info("initial_latents")).shape
    var latents = Tensor(shape: latentShape, data: try ref.floats("initial_latents"))
    let outputs = try ref.floats("transformer_outputs")
    let expected = try ref.floats("step_latents")
    let n = latents.count
    let guidance = try #require(c["guidance_scale"]?.double)
    let cfg = guidance > 1
    let dynamic = c["use_dynamic_cfg"]?.bool ?? false
    #expect(outputs.count == timesteps.count * n * (cfg ? 2 : 1))
    for (i, t) in timesteps.enumerated() {
        let perStep = n * (cfg ? 2 : 1)
        let out = outputs[(i * perStep)..<((i + 1) * perStep)]
        var v: [Float]
        if cfg {
            let g32 = Float(dynamic ? SchedulerSchedule.dynamicGuidanceScale(guidance: guidance, timestep: t,
                                                                                 steps: timesteps.count) : guidance)
            let base = out.startIndex
            v = (0..<n).map { k in
                let u = out[base + k], cond = out[base + n + k]
                return u + g32 * (cond - u)
            }
        } else {
            v = Array(out)
        }
        latents = try scheduler.step(modelOutput: Tensor(shape: latentShape, data: v), timestep: t, sample: latents,
                                     generator: &g).prevSample
        let want = expected[(i * n)..<((i + 1) * n)]
        let scale = want.map { abs(Double($0)) }.max() ?? 1
        let diff = zip(latents.data, want).map { abs(Double($0) - Double($1)) }.max() ?? 0
        #expect(diff <= 1e-6 * scale, "\(name) step \(i) (t = \(t)): max |diff| \(diff)")
    }
}
