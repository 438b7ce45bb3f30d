import Foundation
import GGUFLike
import SafeTensors
@testable import Model

let fixturesPath: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures").path

func tinyPath(_ variant: String, _ component: String) -> String { "\(fixturesPath)/tiny/\(variant)/\(component)" }

func readConfig(_ path: String) throws -> JSONValue {
    try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: path)))
}

/// max |a − b| / max |b|.
func relativeMaxError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    if a.contains(where: { !$0.isFinite }) { return .infinity }  // max() would silently skip NaN
    var diff: Float = 0, scale: Float = 0
    for i in 0..<a.count { diff = max(diff, abs(a[i] - b[i])); scale = max(scale, abs(b[i])) }
    return scale == 0 ? diff : diff / scale
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var ab = 0.0, aa = 0.0, bb = 0.0
    for i in 0..<a.count { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i]) * Double(a[i]); bb += Double(b[i]) * Double(b[i]) }
    return ab / (aa.squareRoot() * bb.squareRoot())
}

func ints(_ f: SafeTensorsFile, _ name: String) throws -> [Int] { try f.elements(name, as: Int64.self).map { Int($0) } }
