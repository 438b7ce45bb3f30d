// Normalization on read (VAE/InputNormalization.swift) and the in-place shortcut (pointwiseConvInPlace): a
// convolution that normalizes its input as it reads it must give exactly what it gives on a normalized copy (the same
// values reach the same transforms), for the Winograd path (several bands, both threading modes, cached, replicated
// and upsampled frames) and the im2col path; a resnet block built on both must match the unfused composition of its
// parts over two frame chunks, causal caches included. Parity of the whole decoder with diffusers is in VAETests.
import Foundation
import Testing
@testable import Model

/// A random normalization of an activation of `shape`: per-channel affine, optionally a SpatialNorm modulation
/// from a latent of `latent` (t, h, w), SiLU or not.
private func randomNormalization(_ r: inout TestRandom, shape: [Int], latent: (Int, Int, Int)?, silu: Bool) -> InputNormalization {
    let bc = shape[0] * shape[1]
    let modulation = latent.map { (tz, hz, wz) in
        InputNormalization.Modulation(y: r.values(bc * tz * hz * wz, scale: 2), b: r.values(bc * tz * hz * wz), tz: tz, hz: hz, wz: wz,
                                      tmap: nearestMap(from: tz, to: shape[2]), hmap: nearestMap(from: hz, to: shape[3]),
                                      wmap: nearestMap(from: wz, to: shape[4]))
    }
    return InputNormalization(shape: shape, scale: r.values(bc, scale: 3), shift: r.values(bc), modulation: modulation, silu: silu)
}

private func normalizedCopy(_ x: Tensor, _ n: InputNormalization) throws -> Tensor {
    var out = Tensor(zeros: x.shape)
    try n.apply(to: &out, source: x)
    return out
}

@Test(arguments: [4, 2, 0])
func convolutionReadingNormalizedInputMatchesANormalizedCopy(_ tile: Int) throws {
    var r = TestRandom(g: 77)
    let (c, co, h, w) = (6, 5, 13, 10)
    let chunk: [VirtualFrame] = (0..<3).map { VirtualFrame(part: 0, t: $0) }
    let cases: [(String, [VirtualFrame])] = [
        ("cached", [VirtualFrame(part: 1, t: 0), VirtualFrame(part: 1, t: 1)] + chunk),
        ("replicated", [VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 0)] + chunk),
    ]
    for (kind, frames) in cases {
        for (latent, silu) in [((2, 4, 3), true), (nil, true), ((1, 13, 10), false)] as [((Int, Int, Int)?, Bool)] {
            let x = r.tensor([2, c, 3, h, w], scale: 4), cached = r.tensor([2, c, 2, h, w])
            let n = randomNormalization(&r, shape: x.shape, latent: latent, silu: silu)
            let weight = r.values(co * c * 27), bias = r.values(co)
            let ref = try virtualConvolve([try normalizedCopy(x, n), cached], frames: frames, weight: weight, bias: bias, outChannels: co,
                                          kernel: (3, 3, 3), padding: (1, 1), winogradTile: tile)
            let fused = try virtualConvolve([x, cached], frames: frames, weight: weight, bias: bias, outChannels: co,
                                            kernel: (3, 3, 3), padding: (1, 1), winogradTile: tile, normalizing: n)
            let same = fused == ref  // a Bool: a failing #expect on tensors would print every value
            #expect(same, "\(kind) tile \(tile) latent \(String(describing: latent)): \(relativeMaxError(fused.data, ref.data))")
            if tile > 0 {
                // Bands of one tile row: every band stages other source rows (and the threads run whole bands).
                let rowIndex = [-1] + Array(0..<h) + [-1]
                let banded = winogradConvolve([x, cached], frames: frames, rowIndex: rowIndex, colMap: nil, weight: weight, bias: bias,
                                              outChannels: co, kt: 3, outSize: (h, w), tile: tile, bandFloats: 1000,
                                              minimumBandTiles: 1, normalizing: n)
                #expect(relativeMaxError(banded.data, ref.data) <= 1e-6, "\(kind) tile \(tile): one-row bands")
            }
        }
    }
    // A nearest ×2 upsampled read (the upsampler's rows, columns and frames repeated), 3×3 in space.
    let x = r.tensor([1, c, 2, 5, 7], scale: 2)
    let n = randomNormalization(&r, shape: x.shape, latent: (1, 3, 4), silu: true)
    let frames = [0, 0, 1, 1].map { VirtualFrame(part: 0, t: $0) }
    let weight = r.values(co * c * 9)
    let rows = nearestMap(from: 5, to: 10), cols = nearestMap(from: 7, to: 14)
    let ref = try virtualConvolve([try normalizedCopy(x, n)], frames: frames, rows: rows, cols: cols, weight: weight, bias: nil,
                                  outChannels: co, kernel: (1, 3, 3), padding: (1, 1), winogradTile: tile)
    let fused = try virtualConvolve([x], frames: frames, rows: rows, cols: cols, weight: weight, bias: nil, outChannels: co,
                                    kernel: (1, 3, 3), padding: (1, 1), winogradTile: tile, normalizing: n)
    let same = fused == ref
    #expect(same, "upsampled tile \(tile): \(relativeMaxError(fused.data, ref.data))")
}

@Test func normalizationOfAnotherShapeIsATypedError() throws {
    var r = TestRandom(g: 5)
    let x = r.tensor([1, 4, 2, 6, 6])
    let n = randomNormalization(&r, shape: [1, 4, 3, 6, 6], latent: nil, silu: true)
    #expect(throws: ModuleError.self) {
        try virtualConvolve([x], frames: [0, 0, 0, 1].map { VirtualFrame(part: 0, t: $0) }, weight: r.values(4 * 4 * 27), bias: nil,
                            outChannels: 4, kernel: (3, 3, 3), padding: (1, 1), normalizing: n)
    }
    var y = x
    #expect(throws: ModuleError.self) { try n.apply(to: &y) }
}

@Test(arguments: [(7, 3, true), (7, 7, false), (3, 7, true)])
func pointwiseConvInPlaceMatchesPointwiseConv(_ c: Int, _ co: Int, _ withBias: Bool) throws {
    var r = TestRandom(g: 11)
    let conv = Conv3d(inChannels: c, outChannels: co, kernel: (1, 1, 1), bias: withBias)
    conv.weight.value = WeightTensor.owned(name: "w", shape: [co, c, 1, 1, 1], values: r.values(co * c))
    if withBias { conv.bias!.value = WeightTensor.owned(name: "b", shape: [co], values: r.values(co)) }
    // 3 × 31 × 45 = 4,185 columns per channel: three blocks, the last one partial; two batch elements.
    let x = r.tensor([2, c, 3, 31, 45])
    let ref = try pointwiseConv(x, conv)
    var y = x
    try pointwiseConvInPlace(&y, conv)
    #expect(y.shape == [2, co, 3, 31, 45])
    #expect(relativeMaxError(y.data, ref.data) <= 1e-6)
}

/// Every parameter of `module` set to random values (norm weights around 1).
private func randomize(_ module: Module, _ r: inout TestRandom) {
    for (key, p) in module.namedParameters() {
        let n = p.shape.reduce(1, *)
        let values = key.hasSuffix("norm_layer.weight") || (key.hasPrefix("norm") && key.hasSuffix(".weight"))
            ? r.values(n, scale: 0.5).map { $0 + 1 } : r.values(n, scale: 0.6)
        p.value = WeightTensor.owned(name: key, shape: p.shape, values: values)
    }
}

@Test(arguments: [(8, 4, 3), (8, 4, nil), (6, 6, 3), (4, 6, nil)] as [(Int, Int, Int?)])
func resnetBlockMatchesTheUnfusedComposition(_ inC: Int, _ outC: Int, _ zqChannels: Int?) throws {
    var r = TestRandom(g: 31)
    let block = CogVideoXResnetBlock3D(inC, outC, groups: 2, eps: 1e-6, spatialNormDim: zqChannels)
    randomize(block, &r)
    let zq = zqChannels.map { r.tensor([1, $0, 2, 3, 4]) }
    /// The block as its parts compose without normalization on read: normalized copies, a separate shortcut.
    func unfused(_ x: Tensor, cache: CausalCache) throws -> Tensor {
        func normalized(_ norm: Module, _ v: Tensor) throws -> Tensor {
            var out = v
            if let s = norm as? CogVideoXSpatialNorm3D { try s.apply(&out, zq: zq!, cache: cache, silu: true) }
            else { try groupNormInPlace(&out, norm as! GroupNorm, silu: true) }
            return out
        }
        let residual = try block.convShortcut.map { try pointwiseConv(x, $0) } ?? x
        let h = try block.conv1(try normalized(block.norm1, x), cache: cache)
        var y = try block.conv2(try normalized(block.norm2, h), cache: cache)
        addInPlace(&y, residual)
        return y
    }
    let fusedCache = CausalCache(precision: .f32), refCache = CausalCache(precision: .f32)
    // A 3-frame chunk then a 2-frame one (the cache of each causal conv carries over); 9×10 runs Winograd,
    // 3×10 (outputs under one 4×4 tile) the im2col path.
    for (t, hw) in [(3, (9, 10)), (2, (9, 10))] {
        let x = r.tensor([1, inC, t, hw.0, hw.1], scale: 3)
        let ref = try unfused(x, cache: refCache)
        let y = try block(x, zq: zq, cache: fusedCache)
        #expect(y.shape == ref.shape)
        #expect(relativeMaxError(y.data, ref.data) <= 1e-6, "\(inC)→\(outC) zq \(String(describing: zqChannels)) T=\(t)")
        let id = ObjectIdentifier(block.conv1)
        let sameCache = fusedCache.frames[id] != nil && fusedCache.frames[id] == refCache.frames[id]
        #expect(sameCache, "conv1's next-chunk cache holds the normalized frames")
    }
    let small = r.tensor([1, inC, 2, 3, 10], scale: 3)
    let c1 = CausalCache(precision: .f32), c2 = CausalCache(precision: .f32)
    #expect(relativeMaxError(try block(small, zq: zq, cache: c1).data, try unfused(small, cache: c2).data) <= 1e-6)
}
