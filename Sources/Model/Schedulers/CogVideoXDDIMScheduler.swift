// Port of diffusers' CogVideoXDDIMScheduler.step (schedulers/scheduling_ddim_cogvideox.py, diffusers 0.42.1;
// spec §5.4): deterministic DDIM (η = 0) with `t_prev = t - num_train_timesteps // N`, which for N that does not
// divide 1000 is not the next entry of the timestep list (N = 30: 966 -> 933 while the list continues with 932).

/// Coefficients of one DDIM step, float64 (they are rounded to float32 where they multiply latents).
public struct DDIMCoefficients: Sendable, Equatable {
    public var alphaProdT: Double
    public var alphaProdTPrev: Double
    /// x̂0 = sampleScale · x_t − outputScale · v (v-prediction).
    public var sqrtAlphaProdT: Double
    public var sqrtBetaProdT: Double
    /// x_prev = a · x_t + b · x̂0.
    public var a: Double
    public var b: Double
}

public struct CogVideoXDDIMScheduler: Scheduler {
    public let config: SchedulerConfig
    public let alphasCumprod: [Double]
    /// ᾱ used after the last step (1.0 with `set_alpha_to_one`, else ᾱ_0).
    public let finalAlphaCumprod: Double
    public private(set) var timesteps: [Int] = []
    public private(set) var inferenceStepCount = 0

    public init(config: SchedulerConfig) {
        self.config = config
        alphasCumprod = NoiseSchedule.alphasCumprod(config)
        finalAlphaCumprod = config.setAlphaToOne ? 1.0 : alphasCumprod[0]
    }

    public mutating func setTimesteps(_ steps: Int) throws {
        timesteps = try NoiseSchedule.timesteps(config, steps: steps)
        inferenceStepCount = steps
    }

    /// The float64 coefficients of the step from `timestep`.
    public func coefficients(timestep t: Int) throws -> DDIMCoefficients {
        let (at, aPrev) = try alphas(config: config, alphasCumprod: alphasCumprod, final: finalAlphaCumprod,
                                     steps: inferenceStepCount, timestep: t)
        let a = ((1 - aPrev) / (1 - at)).squareRoot()
        let b = aPrev.squareRoot() - at.squareRoot() * a
        return DDIMCoefficients(alphaProdT: at, alphaProdTPrev: aPrev, sqrtAlphaProdT: at.squareRoot(),
                                sqrtBetaProdT: (1 - at).squareRoot(), a: a, b: b)
    }

    public mutating func step(modelOutput: Tensor, timestep: Int, sample: Tensor,
                              generator: inout TorchGenerator) throws -> SchedulerStepOutput {
        try step(modelOutput: modelOutput, timestep: timestep, sample: sample)
    }

    /// The DDIM step (no randomness).
    public func step(modelOutput: Tensor, timestep: Int, sample: Tensor) throws -> SchedulerStepOutput {
        guard modelOutput.shape == sample.shape else {
            throw SchedulerError.shapeMismatch(what: "model output", expected: sample.shape, found: modelOutput.shape)
        }
        let c = try coefficients(timestep: timestep)
        let x0 = predictOriginal(config.predictionType, sqrtAlpha: c.sqrtAlphaProdT, sqrtBeta: c.sqrtBetaProdT,
                                 sample: sample.data, output: modelOutput.data)
        let a = Float(c.a), b = Float(c.b)
        let prev = elementwise(sample.data, x0) { x, p in a * x + b * p }
        return SchedulerStepOutput(prevSample: Tensor(shape: sample.shape, data: prev),
                                   predOriginalSample: Tensor(shape: sample.shape, data: x0))
    }
}

/// ᾱ_t and ᾱ_{t_prev} (or the final value when t_prev < 0) for a step from `t`.
func alphas(config: SchedulerConfig, alphasCumprod: [Double], final: Double, steps: Int,
            timestep t: Int) throws -> (Double, Double) {
    guard steps > 0 else { throw SchedulerError.invalidStepCount(0, trainTimesteps: config.numTrainTimesteps) }
    guard alphasCumprod.indices.contains(t) else {
        throw SchedulerError.timestepOutOfRange(t, trainTimesteps: alphasCumprod.count)
    }
    let prev = t - config.numTrainTimesteps / steps
    return (alphasCumprod[t], prev >= 0 ? alphasCumprod[prev] : final)
}

/// x̂0 from the model output, in float32 with float32-rounded coefficients (diffusers' fp32 tensor arithmetic).
func predictOriginal(_ type: SchedulerConfig.PredictionType, sqrtAlpha: Double, sqrtBeta: Double,
                     sample: [Float], output: [Float]) -> [Float] {
    let sa = Float(sqrtAlpha), sb = Float(sqrtBeta)
    switch type {
    case .vPrediction: return elementwise(sample, output) { x, v in sa * x - sb * v }
    case .epsilon: return elementwise(sample, output) { x, e in (x - sb * e) / sa }
    case .sample: return output
    }
}

/// out[i] = f(a[i], b[i]) over equal-length arrays (the elementwise kernels of the scheduler steps).
@inline(__always)
func elementwise(_ a: [Float], _ b: [Float], _ f: (Float, Float) -> Float) -> [Float] {
    let n = min(a.count, b.count)
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            [Float](unsafeUninitializedCapacity: n) { out, count in
                for i in 0..<n { out[i] = f(pa[i], pb[i]) }
                count = n
            }
        }
    }
}

/// out[i] = f(a[i], b[i], c[i], d[i]) over equal-length arrays.
@inline(__always)
func elementwise(_ a: [Float], _ b: [Float], _ c: [Float], _ d: [Float],
                 _ f: (Float, Float, Float, Float) -> Float) -> [Float] {
    let n = min(a.count, b.count, c.count, d.count)
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeBufferPointer { pc in
                d.withUnsafeBufferPointer { pd in
                    [Float](unsafeUninitializedCapacity: n) { out, count in
                        for i in 0..<n { out[i] = f(pa[i], pb[i], pc[i], pd[i]) }
                        count = n
                    }
                }
            }
        }
    }
}
