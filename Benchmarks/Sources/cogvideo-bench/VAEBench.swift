import Foundation
import GGUFLike
import Model
import SafeTensors

/// `cogvideo-bench vae decode|encode VAE_DIR INPUT.safetensors OUT.safetensors [--type f32|f16|bf16|q8_0-flat]
/// [--tile H W] [--threads N]`: runs the CogVideoX VAE of the diffusers component folder VAE_DIR on the tensor
/// `input` of INPUT (latents `[B, 16, T, h, w]` already ÷ scaling factor for decode, pixels `[B, 3, F, H, W]` for
/// encode), writes the result as `output` to OUT and prints load/run wall time and peak RSS as JSON.
///
/// `--type` re-encodes the stored weights at load time (the folder's own dtype when absent). `q8_0-flat` quantizes
/// every ≥ 2-D kernel in Q8_0 blocks of 32 along its flattened `[out, in·kT·kH·kW]` rows and decodes it back to F32
/// (a fake-quant: it measures whether Q8_0 holds up on conv kernels; the stored GGUF folding keeps `kW = 3` last, so
/// the converter cannot store conv kernels in block types). `--tile H W` turns on diffusers' tiling with tiles of
/// H×W pixels (default overlaps).
func benchVAE(_ args: [String]) throws {
    let usage = "vae decode|encode VAE_DIR INPUT.safetensors OUT.safetensors [--type T] [--tile H W] [--threads N]"
    guard args.count >= 4, args[0] == "decode" || args[0] == "encode" else { throw BenchError.usage(usage) }
    let (mode, dir, input, output) = (args[0], args[1], args[2], args[3])
    var type: String?
    var tile: (Int, Int)?
    var i = 4
    while i < args.count {
        switch args[i] {
        case "--type" where i + 1 < args.count: type = args[i + 1]; i += 2
        case "--tile" where i + 2 < args.count:
            guard let h = Int(args[i + 1]), let w = Int(args[i + 2]) else { throw BenchError.usage(usage) }
            tile = (h, w); i += 3
        case "--threads" where i + 1 < args.count:
            guard let n = Int(args[i + 1]) else { throw BenchError.usage(usage) }
            Engine.threads = n; i += 2
        default: throw BenchError.usage(usage)
        }
    }

    let t0 = DispatchTime.now().uptimeNanoseconds
    let config = try CogVideoXVAEConfig(json: JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))))
    let vae = AutoencoderKLCogVideoX(config: config)
    var source: WeightSource = try SafeTensorsWeightSource(path: dir)
    switch type {
    case nil: break
    case "q8_0-flat": source = FlatFakeQuantWeightSource(source, type: .q8_0)
    case let name?:
        guard let t = GGMLType(name: name) else { throw BenchError.usage(usage) }
        source = RequantizedWeightSource(source, type: t)
    }
    let report = try WeightLoader.bind(vae, to: source)
    // A decode-only or encode-only checkpoint is fine; anything else wrong with the keys is not.
    let side = mode == "decode" ? "decoder." : "encoder."
    guard report.missing.allSatisfy({ !$0.hasPrefix(side) }), report.shapeMismatches.isEmpty, report.unsupported.isEmpty else {
        throw BenchVAEError.badCheckpoint("\(report)")
    }
    if let tile { vae.tiling = .init(sampleHeight: tile.0, sampleWidth: tile.1) }
    let file = try SafeTensorsFile(path: input)
    guard let info = file.info("input") else { throw BenchVAEError.badCheckpoint("\(input) has no tensor 'input'") }
    let x = Tensor(shape: info.shape, data: try file.floats("input"))
    let t1 = DispatchTime.now().uptimeNanoseconds, c1 = processCPUSeconds()

    // Progress on stderr: tiles (or frame chunks) done, with the current and peak RSS (where memory goes).
    let progress: (Int, Int) -> Void = { done, total in
        let s = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
        FileHandle.standardError.write("vae \(mode): \(done)/\(total) after \(String(format: "%.1f", s)) s, RSS \(memoryStatus("VmRSS")) MB, peak \(memoryStatus("VmHWM")) MB\n".data(using: .utf8)!)
    }
    let y = mode == "decode" ? try vae.decode(x, progress: progress) : try vae.encodeMoments(x, progress: progress)
    let t2 = DispatchTime.now().uptimeNanoseconds, c2 = processCPUSeconds()

    var writer = SafeTensorsWriter()
    try writer.add(name: "output", shape: y.shape, floats: y.data)
    try writer.write(to: output)
    let load = Double(t1 - t0) / 1e9, run = Double(t2 - t1) / 1e9
    let shape = y.shape.map(String.init).joined(separator: ",")
    print(#"{"bench":"vae","impl":"swift","mode":"\#(mode)","type":"\#(type ?? "stored")","vae_precision":"\#(vae.precision.rawValue)","threads":\#(Engine.threads),"load_seconds":\#(load),"seconds":\#(run),"cpu_seconds":\#(c2 - c1),"peak_rss_mb":\#(peakRSSMegabytes()),"shape":[\#(shape)]}"#)
}

/// A memory line of /proc/self/status (`VmRSS`, `VmHWM`) in MB, or "?" where there is none.
func memoryStatus(_ key: String) -> String {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return "?" }
    return String(format: "%.0f", kb / 1024)
}

/// User + system CPU time of this process so far, in seconds (robust against other load on a shared machine).
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

enum BenchVAEError: Error, CustomStringConvertible {
    case badCheckpoint(String)
    var description: String { switch self { case .badCheckpoint(let s): return "VAE checkpoint does not fit: \(s)" } }
}

/// Quantizes every ≥ 2-D tensor whose element count is a multiple of `type`'s block in blocks along its flattened
/// storage, then hands out the dequantized F32 values (fake-quant, to measure the accuracy of block types on conv
/// kernels whose last dimension is the 3-wide kernel).
final class FlatFakeQuantWeightSource: WeightSource, @unchecked Sendable {
    let base: WeightSource
    let type: GGMLType

    init(_ base: WeightSource, type: GGMLType) {
        self.base = base
        self.type = type
    }

    var tensorNames: [String] { base.tensorNames }

    func info(_ name: String) -> WeightInfo? {
        guard let i = base.info(name) else { return nil }
        return WeightInfo(shape: i.shape, type: i.type == nil ? nil : .f32, storedTypeName: i.type == nil ? i.storedTypeName : "F32")
    }

    func tensor(_ name: String) throws -> WeightTensor {
        let w = try base.tensor(name)
        let values = try w.floats()
        guard w.shape.count >= 2, values.count % type.blockSize == 0 else {
            return .owned(name: name, shape: w.shape, values: values)
        }
        let encoded = try BlockCodec.quantize(type, values)
        let back = try encoded.withUnsafeBytes { try BlockCodec.dequantize(type, $0, count: values.count) }
        return .owned(name: name, shape: w.shape, values: back)
    }
}
