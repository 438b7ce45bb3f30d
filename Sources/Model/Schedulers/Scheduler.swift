// The scheduler abstraction of the generation pipelines (after apple/ml-stable-diffusion's `Scheduler` protocol):
// the pipeline asks for the timesteps, runs the transformer, and hands its output to `step`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one denoising step returns.
public struct SchedulerStepOutput: Sendable {
    /// x_{t_prev}, the latents for the next step (same shape as the input sample).
    public var prevSample: Tensor
    /// x̂0, the model's prediction of the clean latents at this step.
    public var predOriginalSample: Tensor
}

/// A CogVideoX noise scheduler: the float64 schedule, its timesteps and the update rule.
///
/// Latents are fp32 `[B, F, C, H, W]` tensors (any shape works: the update is elementwise). Coefficients are
/// computed in float64 and rounded to float32 for each elementwise multiply, exactly as PyTorch does when a 0-dim
/// float64 tensor multiplies a float32 tensor.
public protocol Scheduler: Sendable {
    var config: SchedulerConfig { get }
    /// ᾱ_t, float64, one per training timestep.
    var alphasCumprod: [Double] { get }
    /// The timesteps of the current run, largest first (set by `setTimesteps`).
    var timesteps: [Int] { get }
    /// The `N` of `setTimesteps(N)`; the step size of `t_prev = t - numTrainTimesteps / N`.
    var inferenceStepCount: Int { get }
    /// Initial noise scale (1.0 for both CogVideoX schedulers).
    var initNoiseSigma: Double { get }

    /// Prepares a run of `steps` denoising steps (and clears any state kept between steps).
    mutating func setTimesteps(_ steps: Int) throws

    /// One denoising step from `timestep` (a value of `timesteps`). Steps must be called in the order of
    /// `timesteps`; a stochastic scheduler draws its noise from `generator`.
    mutating func step(modelOutput: Tensor, timestep: Int, sample: Tensor,
                       generator: inout TorchGenerator) throws -> SchedulerStepOutput
}

extension Scheduler {
    public var initNoiseSigma: Double { 1.0 }

    /// `add_noise` (video-to-video): √ᾱ_t x0 + √(1-ᾱ_t) ε, with ᾱ_t first cast to the sample dtype (float32) and
    /// the square roots taken in float32, as diffusers does.
    public func addNoise(original: Tensor, noise: Tensor, timestep: Int) throws -> Tensor {
        guard original.shape == noise.shape else {
            throw SchedulerError.shapeMismatch(what: "noise", expected: original.shape, found: noise.shape)
        }
        guard alphasCumprod.indices.contains(timestep) else {
            throw SchedulerError.timestepOutOfRange(timestep, trainTimesteps: alphasCumprod.count)
        }
        let a = Float(alphasCumprod[timestep])
        let sa = a.squareRoot()
        let so = (1 - a).squareRoot()
        return Tensor(shape: original.shape, data: elementwise(original.data, noise.data) { x, e in sa * x + so * e })
    }
}

/// Pipeline-level helpers around the schedule (spec §6.1 step 6, §6.3).
public enum SchedulerSchedule {
    /// The dynamic classifier-free-guidance scale of diffusers' CogVideoX pipelines:
    /// `1 + g · (1 - cos(π · ((N - t) / N)^5)) / 2` in double precision, where `t` is the **timestep value**
    /// (0..999), not the step index (SAT uses the index; diffusers does not, and we match diffusers), and `N` is
    /// the pipeline's `num_inference_steps` (after the strength truncation in video-to-video).
    public static func dynamicGuidanceScale(guidance g: Double, timestep t: Int, steps n: Int) -> Double {
        let x = Double(n - t) / Double(n)
        return 1 + g * ((1 - cos(Double.pi * pow(x, 5.0))) / 2)
    }

    /// Video-to-video timestep truncation (`get_timesteps`): keeps the last `min(Int(N · strength), N)` timesteps.
    /// Returns the kept timesteps; the first one is the noise level of `addNoise`.
    public static func truncated(_ timesteps: [Int], strength: Double) throws -> [Int] {
        guard strength >= 0, strength <= 1 else { throw SchedulerError.invalidStrength(strength) }
        let n = timesteps.count
        let initTimestep = min(Int(Double(n) * strength), n)
        let start = max(n - initTimestep, 0)
        return Array(timesteps[start...])
    }
}

/// The two CogVideoX schedulers, by the names the command line uses.
public enum SchedulerKind: String, Sendable, CaseIterable {
    /// CogVideoXDDIMScheduler (deterministic; the class named in every shipped scheduler_config.json).
    case ddim
    /// CogVideoXDPMScheduler (stochastic SDE DPM-Solver++ 2M; THUDM's recommendation for the 5b and 1.5 models).
    case dpm

    /// A scheduler of this kind built from `config` (both take the same configuration).
    public func make(config: SchedulerConfig) -> any Scheduler {
        switch self {
        case .ddim: return CogVideoXDDIMScheduler(config: config)
        case .dpm: return CogVideoXDPMScheduler(config: config)
        }
    }

    /// The kind a config's `_class_name` names, if it is one of ours.
    public init?(className: String) {
        switch className {
        case "CogVideoXDDIMScheduler": self = .ddim
        case "CogVideoXDPMScheduler": self = .dpm
        default: return nil
        }
    }
}
