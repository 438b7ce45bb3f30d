import Foundation
import GGUFLike
import Model

/// Deterministic pseudo-random values in [-scale, scale) (LCG; the benchmark needs data, not statistics).
private func randomFloats(_ n: Int, seed: UInt32, scale: Float) -> [Float] {
    var s = seed
    var x = [Float](repeating: 0, count: n)
    for i in 0..<n { s = s &* 1_664_525 &+ 1_013_904_223; x[i] = (Float(s >> 8) / Float(1 << 24) * 2 - 1) * scale }
    return x
}

/// Process CPU time (user + system) in seconds.
private func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// Best wall-clock seconds of `repeats` runs, and the CPU seconds of that run (on a shared machine, CPU time shows
/// the work done when wall time is inflated by other processes).
private func bestSeconds(_ repeats: Int, _ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    var best = (wall: Double.infinity, cpu: Double.infinity)
    for _ in 0..<max(repeats, 1) {
        let c0 = cpuSeconds(), t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        if wall < best.wall { best = (wall, cpuSeconds() - c0) }
    }
    return best
}

/// `cogvideo-bench gemm TYPE M K N [REPEATS] [THREADS]`: `Linear(K → N)` with its weight stored as TYPE (f32, f16,
/// bf16, q8_0, q4_0, …) applied to an fp32 input [M, K]; prints GFLOP/s (2·M·N·K per call, best of REPEATS) as JSON.
func benchGEMM(_ args: [String]) throws {
    guard args.count >= 4, let type = GGMLType(name: args[0]), let m = Int(args[1]), let k = Int(args[2]),
          let n = Int(args[3]) else {
        throw BenchError.usage("gemm TYPE M K N [REPEATS] [THREADS]")
    }
    let repeats = args.count > 4 ? Int(args[4]) ?? 3 : 3
    if args.count > 5, let t = Int(args[5]) { Engine.threads = t }
    let values = randomFloats(n * k, seed: 7, scale: 0.05)
    let weight: WeightTensor
    if type == .f32 {
        weight = .owned(name: "weight", shape: [n, k], values: values)
    } else {
        weight = .owned(name: "weight", shape: [n, k], type: type, encoded: try BlockCodec.quantize(type, values))
    }
    let linear = Linear(inFeatures: k, outFeatures: n, bias: false)
    linear.weight.value = weight
    let x = Tensor(shape: [m, k], data: randomFloats(m * k, seed: 11, scale: 1))
    _ = try linear(Tensor(shape: [min(m, 64), k], data: Array(x.data[0..<(min(m, 64) * k)])))  // warm-up (BLAS load)
    var sink: Float = 0
    let t = try bestSeconds(repeats) { let y = try linear(x); sink += y.data[y.count / 2] }
    let gflops = 2 * Double(m) * Double(n) * Double(k) / t.wall / 1e9
    print(#"{"bench":"gemm","impl":"swift","type":"\#(type.name)","m":\#(m),"k":\#(k),"n":\#(n),"threads":\#(Engine.threads),"blas":\#(Engine.blasAvailable),"blas_core":"\#(Engine.blasCoreName ?? "none")","seconds":\#(t.wall),"cpu_seconds":\#(t.cpu),"gflops":\#(gflops),"sink":\#(sink.isFinite ? 0 : 1)}"#)
}

/// `cogvideo-bench attention S H D [REPEATS] [THREADS] [f32|bf16]`: `Ops.attention` on q, k, v of shape [1, H, S, D]
/// in the given precision (f32 default; see `AttentionPrecision`); prints seconds and GFLOP/s (4·H·S²·D per call:
/// Q·Kᵀ and P·V) as JSON, best of REPEATS, and the precision that ran.
func benchAttention(_ args: [String]) throws {
    guard args.count >= 3, let s = Int(args[0]), let h = Int(args[1]), let d = Int(args[2]) else {
        throw BenchError.usage("attention S H D [REPEATS] [THREADS] [f32|bf16]")
    }
    let precision = args.count > 5 ? AttentionPrecision(rawValue: args[5]) : .f32
    guard let precision else { throw BenchError.usage("attention S H D [REPEATS] [THREADS] [f32|bf16]") }
    let ran: AttentionPrecision = precision == .bf16 && Engine.bf16AttentionAvailable && d % 16 == 0 && d <= 256 ? .bf16 : .f32
    let repeats = args.count > 3 ? Int(args[3]) ?? 1 : 1
    if args.count > 4, let t = Int(args[4]) { Engine.threads = t }
    let shape = [1, h, s, d]
    let q = Tensor(shape: shape, data: randomFloats(h * s * d, seed: 1, scale: 1))
    let k = Tensor(shape: shape, data: randomFloats(h * s * d, seed: 2, scale: 1))
    let v = Tensor(shape: shape, data: randomFloats(h * s * d, seed: 3, scale: 1))
    var sink: Float = 0
    let t = try bestSeconds(repeats) {
        let o = try Ops.attention(q: q, k: k, v: v, scale: 1 / Float(d).squareRoot(), precision: precision)
        sink += o.data[o.count / 2]
    }
    let gflops = 4 * Double(h) * Double(s) * Double(s) * Double(d) / t.wall / 1e9
    print(#"{"bench":"attention","impl":"swift","precision":"\#(ran.rawValue)","s":\#(s),"h":\#(h),"d":\#(d),"threads":\#(Engine.threads),"seconds":\#(t.wall),"cpu_seconds":\#(t.cpu),"gflops":\#(gflops),"sink":\#(sink.isFinite ? 0 : 1)}"#)
}
