import Foundation
import SafeTensors

/// `cogvideo-bench safetensors-open FILE [REPEATS]`: opens and fully validates a safetensors file REPEATS times;
/// prints the best wall time and the process's peak RSS as JSON.
func benchSafeTensorsOpen(_ args: [String]) throws {
    guard let path = args.first else { throw BenchError.usage("safetensors-open FILE [REPEATS]") }
    let repeats = args.count > 1 ? Int(args[1]) ?? 5 : 5
    var best = Double.infinity
    var tensors = 0
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let f = try SafeTensorsFile(path: path)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        tensors = f.tensors.count
        best = min(best, dt)
    }
    print(#"{"bench":"safetensors-open","impl":"swift","tensors":\#(tensors),"seconds":\#(best),"peak_rss_mb":\#(peakRSSMegabytes())}"#)
}

enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    var description: String { switch self { case .usage(let u): return "usage: cogvideo-bench \(u)" } }
}

/// Peak resident set size of this process in MB (getrusage ru_maxrss is in kB on Linux).
func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}
