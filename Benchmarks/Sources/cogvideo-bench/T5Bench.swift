import Foundation
import Model
import SafeTensors

/// `cogvideo-bench t5 DIR [REPEATS] [THREADS] [OUT.f32]`: loads the T5 encoder in DIR (config.json + safetensors),
/// runs it on the 226 ids `(i · 7919 + 13) mod vocab` REPEATS times; prints load seconds, first and best forward
/// seconds and peak RSS as JSON; writes `last_hidden_state` [1, 226, d_model] as little-endian fp32 to OUT.
func benchT5(_ args: [String]) throws {
    guard let dir = args.first else { throw BenchError.usage("t5 DIR [REPEATS] [THREADS] [OUT.f32]") }
    let repeats = args.count > 1 ? Int(args[1]) ?? 3 : 3
    if args.count > 2, let t = Int(args[2]) { Engine.threads = t }
    let t0 = DispatchTime.now().uptimeNanoseconds
    let config = try T5Config(json: JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))))
    let model = T5Encoder(config: config)
    let report = try WeightLoader.bind(model, to: SafeTensorsWeightSource(path: dir), ignoring: T5Encoder.isIgnoredKey)
    guard report.isClean else { throw BenchError.usage("t5: \(dir) does not match its config: \(report)") }
    let load = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let ids = [(0..<226).map { ($0 * 7919 + 13) % config.vocabSize }]
    var first = 0.0, best = Double.infinity
    var out = Tensor(zeros: [1])
    for r in 0..<max(1, repeats) {
        let s = DispatchTime.now().uptimeNanoseconds
        out = try model(ids)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
        if r == 0 { first = dt }
        best = min(best, dt)
    }
    if args.count > 3 {
        try out.data.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: args[3]))
    }
    print(#"{"bench":"t5","impl":"swift","threads":\#(Engine.threads),"blas":\#(Engine.blasAvailable),"load_seconds":\#(load),"first_seconds":\#(first),"best_seconds":\#(best),"peak_rss_mb":\#(peakRSSMegabytes())}"#)
}
