import Foundation
import GGUFLike

/// `cogvideo-bench codec TYPE MEGAFLOATS THREADS`: quantize and dequantize throughput of TYPE over MEGAFLOATS·2^20
/// fp32 values split across THREADS; prints GB/s of fp32 (4 bytes per value) as JSON, best of 3.
func benchCodec(_ args: [String]) throws {
    guard args.count >= 3, let type = GGMLType(name: args[0]), let mega = Int(args[1]), let threads = Int(args[2]) else {
        throw BenchError.usage("codec TYPE MEGAFLOATS THREADS")
    }
    let n = mega << 20
    var x = [Float](repeating: 0, count: n)
    var s: UInt32 = 12345
    for i in 0..<n { s = s &* 1_664_525 &+ 1_013_904_223; x[i] = (Float(s >> 8) / Float(1 << 24) - 0.5) * 0.1 }
    let bytes = type.byteCount(elements: n)!
    var q = [UInt8](repeating: 0, count: bytes)
    var y = [Float](repeating: 0, count: n)
    let chunk = (n / threads / type.blockSize) * type.blockSize
    func timed(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return best
    }
    let tq = x.withUnsafeBufferPointer { src in
        q.withUnsafeMutableBytes { dst in
            nonisolated(unsafe) let src = src, dst = dst
            return timed {
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    let lo = t * chunk, hi = t == threads - 1 ? n : lo + chunk
                    let bl = lo / type.blockSize * type.typeSize, bh = hi / type.blockSize * type.typeSize
                    try? BlockCodec.quantize(type, UnsafeBufferPointer(rebasing: src[lo..<hi]),
                                             into: UnsafeMutableRawBufferPointer(rebasing: dst[bl..<bh]))
                }
            }
        }
    }
    let td = q.withUnsafeBytes { src in
        y.withUnsafeMutableBufferPointer { dst in
            nonisolated(unsafe) let src = src, dst = dst
            return timed {
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    let lo = t * chunk, hi = t == threads - 1 ? n : lo + chunk
                    let bl = lo / type.blockSize * type.typeSize, bh = hi / type.blockSize * type.typeSize
                    try? BlockCodec.dequantize(type, UnsafeRawBufferPointer(rebasing: src[bl..<bh]),
                                               into: UnsafeMutableBufferPointer(rebasing: dst[lo..<hi]))
                }
            }
        }
    }
    let gb = Double(n * 4) / 1e9
    print(#"{"bench":"codec","impl":"swift","type":"\#(type.name)","threads":\#(threads),"quantize_gbps":\#(gb / tq),"dequantize_gbps":\#(gb / td)}"#)
}
