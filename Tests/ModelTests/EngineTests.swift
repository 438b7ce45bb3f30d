import Foundation
import GGUFLike
import Testing
@testable import Model

private struct LCG {
    var g: UInt64
    mutating func next() -> Float { g = g &* 6364136223846793005 &+ 1442695040888963407; return Float(g >> 40) / Float(1 << 24) - 0.5 }
    mutating func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in next() }) }
}

/// Softmax attention computed the obvious way (scores materialized), the reference for the tiled kernel.
private func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float, bias: Tensor?) -> [Float] {
    let (bh, sq, d) = (q.shape[0] * q.shape[1], q.shape[2], q.shape[3]), sk = k.shape[2]
    var out = [Float](repeating: 0, count: bh * sq * d)
    for h in 0..<bh { for i in 0..<sq {
        var s = [Double](repeating: 0, count: sk)
        for j in 0..<sk {
            var a = 0.0
            for t in 0..<d { a += Double(q.data[(h * sq + i) * d + t]) * Double(k.data[(h * sk + j) * d + t]) }
            s[j] = a * Double(scale) + Double(bias?.data[(h * sq + i) * sk + j] ?? 0)
        }
        let m = s.max()!
        let e = s.map { Foundation.exp($0 - m) }
        let z = e.reduce(0, +)
        for t in 0..<d {
            var acc = 0.0
            for j in 0..<sk { acc += e[j] / z * Double(v.data[(h * sk + j) * d + t]) }
            out[(h * sq + i) * d + t] = Float(acc)
        }
    } }
    return out
}

@Test(arguments: [(5, 7, 8, false), (130, 130, 16, false), (298, 298, 64, true), (300, 517, 64, false), (1, 600, 32, true)])
func tiledAttentionMatchesMaterializedSoftmax(_ sq: Int, _ sk: Int, _ d: Int, _ withBias: Bool) throws {
    var r = LCG(g: UInt64(sq * 1000 + d))
    let q = r.tensor([1, 2, sq, d]), k = r.tensor([1, 2, sk, d]), v = r.tensor([1, 2, sk, d])
    let bias = withBias ? r.tensor([1, 2, sq, sk]) : nil
    let o = try Ops.attention(q: q, k: k, v: v, scale: 1 / Float(d).squareRoot(), bias: bias)
    #expect(relativeMaxError(o.data, naiveAttention(q, k, v, scale: 1 / Float(d).squareRoot(), bias: bias)) < 1e-5)
}

@Test(arguments: [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0])
func linearOnEveryStoredTypeMatchesItsDecodedWeights(_ type: GGMLType) throws {
    var r = LCG(g: 7)
    let (m, n, k) = (37, 96, 64)
    let w = (0..<(n * k)).map { _ in r.next() }
    let encoded = try BlockCodec.quantize(type, w)
    let decoded = try encoded.withUnsafeBytes { try BlockCodec.dequantize(type, $0, count: w.count) }
    let lin = Linear(inFeatures: k, outFeatures: n)
    lin.weight.value = WeightTensor.owned(name: "w", shape: [n, k], type: type, encoded: encoded)
    lin.bias!.value = WeightTensor.owned(name: "b", shape: [n], values: (0..<n).map { Float($0) * 0.01 })
    let x = r.tensor([m, k])
    let y = try lin(x)
    var ref = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n {
        var a = 0.0
        for t in 0..<k { a += Double(x.data[i * k + t]) * Double(decoded[j * k + t]) }
        ref[i * n + j] = Float(a) + Float(j) * 0.01
    } }
    // Q8_0/Q4_0 run on int8-quantized activations (Linear+Int8.swift): compare with the same quantized sums.
    if (type == .q8_0 || type == .q4_0) && Engine.int8Activations {
        let bias = (0..<m * n).map { Float($0 % n) * 0.01 }
        ref = zip(int8ActivationReference(x.data, m: m, k: k, weights: decoded, n: n), bias).map { $0 + $1 }
    }
    #expect(relativeMaxError(y.data, ref) < 1e-5)
}

@Test func conv3dMatchesADirectConvolution() throws {
    var r = LCG(g: 3)
    let conv = Conv3d(inChannels: 3, outChannels: 5, kernel: (3, 3, 3), stride: (1, 2, 1), padding: (0, 1, 1))
    let w = r.tensor([5, 3, 3, 3, 3]), b = r.tensor([5])
    conv.weight.value = WeightTensor.owned(name: "w", shape: w.shape, values: w.data)
    conv.bias!.value = WeightTensor.owned(name: "b", shape: [5], values: b.data)
    let x = r.tensor([2, 3, 4, 7, 6])
    let y = try conv(x)
    #expect(y.shape == [2, 5, 2, 4, 6])
    var ref = [Float](repeating: 0, count: y.count)
    for n in 0..<2 { for o in 0..<5 { for t in 0..<2 { for i in 0..<4 { for j in 0..<6 {
        var a = Double(b.data[o])
        for c in 0..<3 { for kt in 0..<3 { for kh in 0..<3 { for kw in 0..<3 {
            let ih = i * 2 - 1 + kh, iw = j - 1 + kw
            guard ih >= 0, ih < 7, iw >= 0, iw < 6 else { continue }
            a += Double(w.data[(((o * 3 + c) * 3 + kt) * 3 + kh) * 3 + kw]) * Double(x.data[(((n * 3 + c) * 4 + t + kt) * 7 + ih) * 6 + iw])
        } } } }
        ref[(((n * 5 + o) * 2 + t) * 4 + i) * 6 + j] = Float(a)
    } } } } }
    #expect(relativeMaxError(y.data, ref) < 1e-5)
}

@Test func groupNormAndLayerNormMatchTheirDefinitions() throws {
    var r = LCG(g: 11)
    let x = r.tensor([2, 4, 3, 5])
    let gn = GroupNorm(groups: 2, channels: 4, eps: 1e-6)
    gn.weight!.value = WeightTensor.owned(name: "w", shape: [4], values: [1, 2, 3, 4])
    gn.bias!.value = WeightTensor.owned(name: "b", shape: [4], values: [0.1, 0.2, 0.3, 0.4])
    let y = try gn(x)
    for b in 0..<2 { for g in 0..<2 {
        let idx = (0..<2).flatMap { c in (0..<15).map { ((b * 4 + g * 2 + c) * 15) + $0 } }
        let vals = idx.map { Double(x.data[$0]) }
        let mean = vals.reduce(0, +) / 30, variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 30
        for (n, i) in idx.enumerated() {
            let c = g * 2 + n / 15
            let expected = (vals[n] - mean) / (variance + 1e-6).squareRoot() * Double(c + 1) + Double(c + 1) * 0.1
            #expect(abs(Double(y.data[i]) - expected) < 1e-5)
        }
    } }
}
