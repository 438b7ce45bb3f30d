// Port of diffusers' CogVideoXDPMScheduler.step (schedulers/scheduling_dpm_cogvideox.py, diffusers 0.42.1;
// spec §5.5): the SDE variant of DPM-Solver++(2M) from SAT's VPSDEDPMPP2MSampler. Stochastic: every step draws
// one noise tensor from the generator, and a middle step draws a second one (the first is then unused), so the
// generator advances exactly as in a diffusers run. The edge cases are plain IEEE arithmetic, as in PyTorch:
// at t = 999 (ᾱ = 0) λ_t = -∞ and h = +∞; at the last step (ᾱ_prev = 1) λ_prev = +∞ and σ = 0.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Coefficients of one DPM step, float64.
public struct DPMCoefficients: Sendable, Equatable {
    public var alphaProdT: Double
    public var alphaProdTPrev: Double
    public var h: Double
    /// nil on a first step (no look-back timestep).
    public var r: Double?
    /// mult[0] … mult[3] of diffusers (mult3/mult4 only with a look-back timestep) and the noise scale σ.
    public var m1: Double
    public var m2: Double
    public var m3: Double?
    public var m4: Double?
    public var noiseScale: Double
}

public struct CogVideoXDPMScheduler: Scheduler {
    public let config: SchedulerConfig
    public let alphasCumprod: [Double]
    public let finalAlphaCumprod: Double
    public private(set) var timesteps: [Int] = []
    public private(set) var inferenceStepCount = 0
    /// State between calls of the protocol `step`: the previous step's x̂0 and timestep (diffusers' pipeline
    /// passes them as `old_pred_original_sample` and `timesteps[i - 1]`).
    private var previous: (x0: Tensor, timestep: Int)?

    public init(config: SchedulerConfig) {
        self.config = config
        alphasCumprod = NoiseSchedule.alphasCumprod(config)
        finalAlphaCumprod = config.setAlphaToOne ? 1.0 : alphasCumprod[0]
    }

    public mutating func setTimesteps(_ steps: Int) throws {
        timesteps = try NoiseSchedule.timesteps(config, steps: steps)
        inferenceStepCount = steps
        previous = nil
    }

    /// Forgets the previous step (the next `step` is treated as a first step).
    public mutating func resetHistory() { previous = nil }

    public func coefficients(timestep t: Int, timestepBack: Int?) throws -> DPMCoefficients {
        let (at, aPrev) = try alphas(config: config, alphasCumprod: alphasCumprod, final: finalAlphaCumprod,
                                     steps: inferenceStepCount, timestep: t)
        func lambda(_ a: Double) -> Double { log((a / (1 - a)).squareRoot()) }
        let lamb = lambda(at)
        let lambNext = lambda(aPrev)
        let h = lambNext - lamb
        var r: Double?
        if let tb = timestepBack {
            guard alphasCumprod.indices.contains(tb) else {
                throw SchedulerError.timestepOutOfRange(tb, trainTimesteps: alphasCumprod.count)
            }
            let hLast = lamb - lambda(alphasCumprod[tb])
            r = hLast / h
        }
        let m1 = ((1 - aPrev) / (1 - at)).squareRoot() * exp(-h)
        let m2 = expm1(-2 * h) * aPrev.squareRoot()
        let m3 = r.map { 1 + 1 / (2 * $0) }
        let m4 = r.map { 1 / (2 * $0) }
        let noise = (1 - aPrev).squareRoot() * (1 - exp(-2 * h)).squareRoot()
        return DPMCoefficients(alphaProdT: at, alphaProdTPrev: aPrev, h: h, r: r, m1: m1, m2: m2, m3: m3, m4: m4,
                               noiseScale: noise)
    }

    /// Protocol step: uses and updates the previous step's x̂0 and timestep kept by the scheduler.
    public mutating func step(modelOutput: Tensor, timestep: Int, sample: Tensor,
                              generator: inout TorchGenerator) throws -> SchedulerStepOutput {
        let out = try step(modelOutput: modelOutput, oldPredOriginalSample: previous?.x0, timestep: timestep,
                           timestepBack: previous?.timestep, sample: sample, generator: &generator)
        previous = (out.predOriginalSample, timestep)
        return out
    }

    /// diffusers' `step(model_output, old_pred_original_sample, timestep, timestep_back, sample, generator)`.
    public func step(modelOutput: Tensor, oldPredOriginalSample: Tensor?, timestep: Int, timestepBack: Int?,
                     sample: Tensor, generator: inout TorchGenerator) throws -> SchedulerStepOutput {
        guard modelOutput.shape == sample.shape else {
            throw SchedulerError.shapeMismatch(what: "model output", expected: sample.shape, found: modelOutput.shape)
        }
        if let old = oldPredOriginalSample, old.shape != sample.shape {
            throw SchedulerError.shapeMismatch(what: "previous x0", expected: sample.shape, found: old.shape)
        }
        let c = try coefficients(timestep: timestep, timestepBack: oldPredOriginalSample == nil ? nil : timestepBack)
        let x0 = predictOriginal(config.predictionType, sqrtAlpha: c.alphaProdT.squareRoot(),
                                 sqrtBeta: (1 - c.alphaProdT).squareRoot(), sample: sample.data,
                                 output: modelOutput.data)
        let m1 = Float(c.m1), m2 = Float(c.m2), sigma = Float(c.noiseScale)
        let x = sample.data
        var noise = generator.randn(x.count)
        let prevT = timestep - config.numTrainTimesteps / inferenceStepCount
        let result: [Float]
        if let old = oldPredOriginalSample, prevT >= 0, let m3d = c.m3, let m4d = c.m4 {
            // The first draw is discarded; diffusers draws it anyway, so the stream must advance.
            noise = generator.randn(x.count)
            let m3 = Float(m3d), m4 = Float(m4d)
            result = elementwise(x, x0, old.data, noise) { xt, p, o, e in
                let d = m3 * p - m4 * o
                return (m1 * xt - m2 * d) + sigma * e
            }
        } else {
            result = elementwise(x, x0, noise, noise) { xt, p, e, _ in (m1 * xt - m2 * p) + sigma * e }
        }
        return SchedulerStepOutput(prevSample: Tensor(shape: sample.shape, data: result),
                                   predOriginalSample: Tensor(shape: sample.shape, data: x0))
    }
}
