import Foundation
import Model

/// `cogvideo-bench randn COUNT STEPS`: time of TorchGenerator.randn(COUNT) (the 2b latent is 1,123,200 values)
/// and of one CogVideoX DPM step on COUNT latents (two noise draws plus the update) and one DDIM step; best of
/// STEPS repetitions, printed as JSON (seconds).
func benchRandnScheduler(_ args: [String]) throws {
    guard args.count >= 2, let count = Int(args[0]), let reps = Int(args[1]), count > 0, reps > 0 else {
        throw BenchError.usage("randn COUNT REPETITIONS")
    }
    func best(_ body: () throws -> Void) rethrows -> Double {
        var b = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            b = min(b, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return b
    }
    var g = TorchGenerator(seed: 42)
    var sink: Float = 0
    let tRandn = best { sink += g.randn(count)[count - 1] }
    let x = Tensor(shape: [count], data: g.randn(count))
    let v = Tensor(shape: [count], data: g.randn(count))
    let old = Tensor(shape: [count], data: g.randn(count))
    var dpm = CogVideoXDPMScheduler(config: .cogVideoX(snrShiftScale: 1))
    try dpm.setTimesteps(50)
    let tDPM = try best {
        sink += try dpm.step(modelOutput: v, oldPredOriginalSample: old, timestep: 979, timestepBack: 999, sample: x,
                             generator: &g).prevSample.data[0]
    }
    var ddim = CogVideoXDDIMScheduler(config: .cogVideoX(snrShiftScale: 1))
    try ddim.setTimesteps(50)
    let tDDIM = try best { sink += try ddim.step(modelOutput: v, timestep: 979, sample: x).prevSample.data[0] }
    print("{\"bench\": \"randn\", \"count\": \(count), \"randn_s\": \(tRandn), \"dpm_step_s\": \(tDPM), \"ddim_step_s\": \(tDDIM), \"sink\": \(sink.isFinite ? 1 : 0)}")
}
