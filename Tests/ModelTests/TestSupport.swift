import Foundation
import SafeTensors
@testable import Model

/// The repository's fixtures folder (committed reference outputs written by tools/make_fixtures.py).
let modelFixtures: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures").path

/// Distance in units in the last place between two finite floats of the same sign region (0 when equal).
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    func key(_ x: Float) -> Int64 {
        let b = Int64(Int32(bitPattern: x.bitPattern))
        return b < 0 ? Int64(Int32.min) - b : b
    }
    return Int(abs(key(a) - key(b)))
}

func ulpDistance(_ a: Double, _ b: Double) -> Int {
    func key(_ x: Double) -> Int64 {
        let b = Int64(bitPattern: x.bitPattern)
        return b < 0 ? Int64.min - b : b
    }
    let d = key(a).subtractingReportingOverflow(key(b))
    return d.overflow ? Int.max : Int(d.partialValue.magnitude)
}

final class ScratchFolder {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("model-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// The tests' random values: a 64-bit linear congruential generator (Knuth's MMIX constants) whose top 24 bits give
/// uniform floats in [−0.5, 0.5), times `scale`. The same seed gives the same sequence in every suite.
struct TestRandom {
    var g: UInt64
    mutating func next() -> Float { g = g &* 6364136223846793005 &+ 1442695040888963407; return Float(g >> 40) / Float(1 << 24) - 0.5 }
    mutating func values(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in next() * scale } }
    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor { Tensor(shape: shape, data: values(shape.reduce(1, *), scale: scale)) }
}
