// The float64 noise schedule and the inference timesteps shared by both CogVideoX schedulers, reproducing the
// operation order of diffusers' CogVideoXDDIMScheduler.__init__ / set_timesteps (spec §5.2, §5.3): PyTorch's
// linspace (start + step*i for the first half, end - step*(n-1-i) for the second), sequential cumprod, the SNR
// shift and the zero-terminal-SNR rescale with the ratio computed before the multiply, and numpy's arange/round
// for the timesteps.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum NoiseSchedule {
    /// `alphas_cumprod` (ᾱ_t for t = 0..<numTrainTimesteps) in float64, after the SNR shift and, when configured,
    /// the zero-terminal-SNR rescale. With the shipped config ᾱ_999 = 0 exactly.
    public static func alphasCumprod(_ c: SchedulerConfig) -> [Double] {
        let n = c.numTrainTimesteps
        let betas: [Double]
        switch c.betaSchedule {
        case .scaledLinear:
            // torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=float64) ** 2 (Python's ** is C pow).
            betas = torchLinspace(pow(c.betaStart, 0.5), pow(c.betaEnd, 0.5), n).map { $0 * $0 }
        case .linear:
            // torch.linspace(beta_start, beta_end, n, dtype=float32): float32 betas, promoted when mixed below.
            betas = torchLinspaceFloat(Float(c.betaStart), Float(c.betaEnd), n).map(Double.init)
        }
        var ac = [Double](repeating: 0, count: n)
        var running = 1.0
        for i in 0..<n {
            running *= (1.0 - betas[i])
            ac[i] = running
        }
        let s = c.snrShiftScale
        for i in 0..<n { ac[i] = ac[i] / (s + (1 - s) * ac[i]) }
        if c.rescaleBetasZeroSNR {
            var q = ac.map { $0.squareRoot() }
            let q0 = q[0], qT = q[n - 1]
            let ratio = q0 / (q0 - qT)
            for i in 0..<n { q[i] -= qT }
            for i in 0..<n { q[i] *= ratio }
            ac = q.map { $0 * $0 }
        }
        return ac
    }

    /// The inference timesteps for `steps` denoising steps, largest first.
    public static func timesteps(_ c: SchedulerConfig, steps: Int) throws -> [Int] {
        let t = c.numTrainTimesteps
        guard steps >= 1, steps <= t else { throw SchedulerError.invalidStepCount(steps, trainTimesteps: t) }
        switch c.timestepSpacing {
        case .trailing:
            // np.round(np.arange(t, 0, -t / steps)).astype(int64) - 1
            return numpyArange(Double(t), 0, -Double(t) / Double(steps)).map { Int($0.rounded(.toNearestOrEven)) - 1 }
        case .leading:
            let ratio = t / steps
            return (0..<steps).reversed().map { $0 * ratio + c.stepsOffset }
        case .linspace:
            // np.linspace(0, t - 1, steps).round()[::-1]
            return numpyLinspace(0, Double(t - 1), steps).map { Int($0.rounded(.toNearestOrEven)) }.reversed()
        }
    }

    /// `torch.linspace` in float64 (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp). The compiler contracts
    /// `start + step * idx` into a fused multiply-add in PyTorch's builds (verified: the plain form differs from
    /// torch in 149 of the 1000 CogVideoX betas, the fused form in none).
    static func torchLinspace(_ start: Double, _ end: Double, _ steps: Int) -> [Double] {
        if steps == 1 { return [start] }
        let step = (end - start) / Double(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in
            i < halfway ? start.addingProduct(step, Double(i)) : end.addingProduct(-step, Double(steps - i - 1))
        }
    }

    static func torchLinspaceFloat(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        if steps == 1 { return [start] }
        let step = (end - start) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in
            i < halfway ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(steps - i - 1))
        }
    }

    /// `np.arange(start, stop, step)` for floats: length ceil((stop - start) / step), values start + i * delta with
    /// delta = (start + step) - start, as numpy's fill does.
    static func numpyArange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
        let length = Int(((stop - start) / step).rounded(.up))
        guard length > 0 else { return [] }
        if length == 1 { return [start] }
        let delta = (start + step) - start
        return (0..<length).map { i in i == 0 ? start : (i == 1 ? start + step : start + Double(i) * delta) }
    }

    /// `np.linspace(start, stop, num)` (endpoint included): i * (delta / div) + start, last value = stop.
    static func numpyLinspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        if num == 1 { return [start] }
        let step = (stop - start) / Double(num - 1)
        var y = (0..<num).map { Double($0) * step + start }
        y[num - 1] = stop
        return y
    }
}
