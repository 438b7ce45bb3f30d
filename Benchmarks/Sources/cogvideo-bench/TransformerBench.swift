import Foundation
import GGUFLike
import Model
import SafeTensors

/// `cogvideo-bench transformer block FRAMES HEIGHT WIDTH BATCH THREADS [TYPE]`: one 2b-width CogVideoX block
/// (the 2b config with `num_layers` 1, random weights in memory, TYPE f32 by default) on a latent of FRAMES latent
/// frames × HEIGHT × WIDTH latent pixels and 226 text tokens (13 × 60 × 90 → 17,776 tokens, the 2b's 49 × 480×720).
/// The block is run through the public model, so patch embedding, text projection and the output head (a few
/// percent of the work) are included.
///
/// `cogvideo-bench transformer model CONFIG_DIR WEIGHTS INPUTS THREADS REPEATS`: the model of CONFIG_DIR/config.json
/// with the weights of WEIGHTS (a diffusers component folder, or a .gguf file made by `cogvideo-convert convert`)
/// on the inputs of INPUTS (safetensors: `hidden_states`, `encoder_hidden_states`, `timestep`, optional `output`
/// from diffusers, to which the cosine is reported).
///
/// Both print one JSON object on stdout: seconds per forward (best of the repeats), the peak RSS of the process and
/// the RSS after the weights were bound (so the difference is activations), and the attention precision that ran
/// (`COGVIDEO_ATTENTION=f32|bf16` forces one; by default bf16 only for Q8_0/Q4_0 weights).
func benchTransformer(_ args: [String]) throws {
    let usage = "transformer block FRAMES HEIGHT WIDTH BATCH THREADS [TYPE] | transformer model CONFIG_DIR WEIGHTS INPUTS THREADS REPEATS"
    guard let mode = args.first else { throw BenchError.usage(usage) }
    switch mode {
    case "block":
        guard args.count >= 6, let f = Int(args[1]), let h = Int(args[2]), let w = Int(args[3]), let b = Int(args[4]),
              let threads = Int(args[5]) else { throw BenchError.usage(usage) }
        let type = args.count > 6 ? GGMLType(name: args[6]) : .f32
        guard let type else { throw BenchError.usage(usage) }
        try benchBlock(frames: f, height: h, width: w, batch: b, threads: threads, type: type)
    case "model":
        guard args.count >= 6, let threads = Int(args[4]), let repeats = Int(args[5]) else { throw BenchError.usage(usage) }
        try benchModel(configDir: args[1], weights: args[2], inputs: args[3], threads: threads, repeats: repeats)
    default:
        throw BenchError.usage(usage)
    }
}

/// Random weights for every parameter a model declares: uniform in ±1/√(fan-in) for matrices (PyTorch's Linear
/// init range, so activations stay in a realistic range), 1 ± 0.1 for norm weights, ±0.02 for biases.
private final class RandomWeightSource: WeightSource, @unchecked Sendable {
    let shapes: [String: [Int]]
    let tensorNames: [String]

    init(_ model: Module) {
        let params = model.namedParameters()
        tensorNames = params.map(\.key)
        shapes = Dictionary(uniqueKeysWithValues: params.map { ($0.key, $0.parameter.shape) })
    }

    func info(_ name: String) -> WeightInfo? {
        shapes[name].map { WeightInfo(shape: $0, type: .f32, storedTypeName: "F32") }
    }

    func tensor(_ name: String) throws -> WeightTensor {
        guard let shape = shapes[name] else { throw BenchError.usage("no parameter \(name)") }
        let n = shape.reduce(1, *)
        let isNormWeight = shape.count == 1 && name.hasSuffix("weight")
        let range: Float = shape.count >= 2 ? 1 / Float(shape.dropFirst().reduce(1, *)).squareRoot() : (isNormWeight ? 0.1 : 0.02)
        var state = name.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 } | 1
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values[i] = (Float(state >> 40) / Float(1 << 24) * 2 - 1) * range + (isNormWeight ? 1 : 0)
        }
        return WeightTensor.owned(name: name, shape: shape, values: values)
    }
}

/// Resident and peak resident set size in bytes (Linux /proc/self/status VmRSS / VmHWM).
private func rss() -> (current: Int, peak: Int) {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        for line in s.split(separator: "\n") where line.hasPrefix(name + ":") {
            return (Int(line.split(separator: " ").dropFirst().first { Int($0) != nil } ?? "") ?? 0) * 1024
        }
        return 0
    }
    return (field("VmRSS"), field("VmHWM"))
}

private func deterministicTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var state = seed | 1
    var t = Tensor(zeros: shape)
    for i in 0..<t.count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        t.data[i] = (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
    return t
}

/// User + system CPU seconds of the process so far (on a loaded machine, wall time includes waiting for a core;
/// CPU time does not).
private func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

nonisolated(unsafe) private var lastCPUSeconds = 0.0

/// Wall seconds of `body`; its CPU seconds go to `lastCPUSeconds`.
private func seconds(_ body: () throws -> Void) rethrows -> Double {
    let c0 = cpuSeconds()
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    lastCPUSeconds = cpuSeconds() - c0
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

private func benchBlock(frames: Int, height: Int, width: Int, batch: Int, threads: Int, type: GGMLType) throws {
    Engine.threads = threads
    var config = CogVideoXTransformerConfig()    // the class defaults are the 2b's
    config.numLayers = 1
    let model = CogVideoXTransformer3D(config: config)
    var source: WeightSource = RandomWeightSource(model)
    if type != .f32 { source = RequantizedWeightSource(source, type: type) }
    let report = try WeightLoader.bind(model, to: source)
    guard report.isClean else { throw BenchError.usage("random weights did not bind: \(report)") }
    let x = deterministicTensor([batch, frames, config.inChannels, height, width], seed: 1)
    let enc = deterministicTensor([batch, config.maxTextSeqLength, config.textEmbedDim], seed: 2, scale: 0.2)
    let timestep = (0..<batch).map { Float(999 - 100 * $0) }
    let before = rss()
    var out = Tensor(zeros: [0])
    let t = try seconds { out = try model(hiddenStates: x, encoderHiddenStates: enc, timestep: timestep) }
    let after = rss()
    let tokens = config.maxTextSeqLength + frames * (height / config.patchSize) * (width / config.patchSize)
    let finite = out.data.allSatisfy(\.isFinite)
    print(#"{"bench":"transformer-block","impl":"swift","type":"\#(type.name)","attention":"\#(model.attentionPrecision.rawValue)","tokens":\#(tokens),"batch":\#(batch),"threads":\#(threads),"seconds":\#(t),"cpu_seconds":\#(lastCPUSeconds),"rss_weights_mb":\#(Double(before.current) / 1e6),"peak_rss_mb":\#(Double(after.peak) / 1e6),"activation_peak_mb":\#(Double(after.peak - before.current) / 1e6),"finite":\#(finite)}"#)
}

private func benchModel(configDir: String, weights: String, inputs: String, threads: Int, repeats: Int) throws {
    Engine.threads = threads
    let json = try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: configDir + "/config.json")))
    let config = try CogVideoXTransformerConfig(json: json)
    let model = CogVideoXTransformer3D(config: config)
    let source: WeightSource
    var type = "f32"
    if weights.hasSuffix(".gguf") {
        let file = try GGUFFile(path: weights)
        source = GGUFWeightSource(file: file, component: "transformer")
        type = source.info("transformer_blocks.0.attn1.to_q.weight")?.storedTypeName.lowercased() ?? "?"
    } else {
        source = try SafeTensorsWeightSource(path: weights)
    }
    let report = try WeightLoader.bind(model, to: source)
    guard report.isClean else { throw BenchError.usage("weights of \(weights) do not fit: \(report)") }

    let ref = try SafeTensorsFile(path: inputs)
    func tensor(_ name: String) throws -> Tensor {
        guard let info = ref.info(name) else { throw BenchError.usage("\(inputs) has no \(name)") }
        return Tensor(shape: info.shape, data: try ref.floats(name))
    }
    let x = try tensor("hidden_states"), enc = try tensor("encoder_hidden_states")
    let timestep = try ref.floats("timestep")
    let rotary = config.useRotaryPositionalEmbeddings
        ? try PositionalEmbeddings.rotary3D(config: config, latentFrames: x.shape[1], latentHeight: x.shape[3], latentWidth: x.shape[4])
        : nil
    let before = rss()
    var out = Tensor(zeros: [0])
    var times: [Double] = [], cpu: [Double] = []
    for _ in 0..<max(1, repeats) {
        times.append(try seconds { out = try model(hiddenStates: x, encoderHiddenStates: enc, timestep: timestep, rotary: rotary) })
        cpu.append(lastCPUSeconds)
    }
    let after = rss()
    var cosineText = "null"
    if ref.info("output") != nil {
        let r = try ref.floats("output")
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in 0..<min(r.count, out.count) {
            dot += Double(out.data[i]) * Double(r[i]); na += Double(out.data[i] * out.data[i]); nb += Double(r[i] * r[i])
        }
        cosineText = "\(dot / (na.squareRoot() * nb.squareRoot()))"
    }
    let s = config.maxTextSeqLength + x.shape[1] * (x.shape[3] / config.patchSize) * (x.shape[4] / config.patchSize)
    print(#"{"bench":"transformer-model","impl":"swift","type":"\#(type)","attention":"\#(model.attentionPrecision.rawValue)","layers":\#(config.numLayers),"tokens":\#(s),"batch":\#(x.shape[0]),"threads":\#(threads),"seconds":\#(times.min()!),"all_seconds":\#(times),"cpu_seconds":\#(cpu.min()!),"rss_weights_mb":\#(Double(before.current) / 1e6),"peak_rss_mb":\#(Double(after.peak) / 1e6),"cosine_to_diffusers":\#(cosineText)}"#)
}
