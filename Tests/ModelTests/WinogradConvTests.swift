// Winograd F(m×m, 3×3) convolution of the VAE (VAE/Winograd.swift, CKernels/winograd.c) against the im2col + GEMM
// path of the same virtual input, on random data at sizes that are not multiples of the tile (partial tiles on the
// bottom and right edges), channel counts that are not multiples of the SIMD width, 1–3 frames, causal caches,
// replicated first frames, nearest-upsampled inputs and bands of a single tile row.
// Tolerance: max |winograd − im2col| ≤ 1e-5 · max |im2col| for F(4×4) and 3e-6 for F(2×2). Both are fp32; the
// transforms' rounding (coefficients up to 8, sums of 36 terms) is what separates them: measured ≤ 3.4e-6 for
// F(4×4) and ≤ 9.5e-7 for F(2×2) on these cases.
import Foundation
import Testing
import CKernels
@testable import Model

private func tolerance(_ tile: Int) -> Float { tile == 4 ? 1e-5 : 3e-6 }

/// The causal 3×3×3 convolution (kT = 3, padding 1) through Winograd and through im2col.
private func causalPair(tile: Int, batch: Int, channels: Int, out: Int, frames t: Int, height h: Int, width w: Int,
                        cached: Bool, seed: UInt64) throws -> (winograd: Tensor, im2col: Tensor) {
    var r = TestRandom(g: seed)
    let x = r.tensor([batch, channels, t, h, w])
    var parts = [x]
    var frames: [VirtualFrame]
    if cached {
        parts.append(r.tensor([batch, channels, 2, h, w]))
        frames = [VirtualFrame(part: 1, t: 0), VirtualFrame(part: 1, t: 1)]
    } else {
        frames = [VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 0)]
    }
    frames += (0..<t).map { VirtualFrame(part: 0, t: $0) }
    let weight = r.values(out * channels * 27), bias = r.values(out)
    func run(_ m: Int) throws -> Tensor {
        try virtualConvolve(parts, frames: frames, weight: weight, bias: bias, outChannels: out, kernel: (3, 3, 3),
                            padding: (1, 1), winogradTile: m)
    }
    return (try run(tile), try run(0))
}

@Test(arguments: [4, 2])
func winogradCausalConvMatchesIm2colAtOddSizes(_ tile: Int) throws {
    // (frames, H, W): partial tiles on both edges, single tile rows/columns, 1–3 frames.
    for (i, (t, h, w)) in [(3, 13, 11), (1, 7, 9), (2, tile, tile + 1), (2, tile + 1, 2 * tile + 3)].enumerated() {
        for cached in [false, true] {
            let (wg, ref) = try causalPair(tile: tile, batch: 2, channels: 19, out: 21, frames: t, height: h, width: w,
                                           cached: cached, seed: UInt64(10 + i))
            #expect(wg.shape == ref.shape)
            let err = relativeMaxError(wg.data, ref.data)
            #expect(err <= tolerance(tile), "F(\(tile)) T=\(t) \(h)×\(w) cached=\(cached): \(err)")
        }
    }
}

@Test(arguments: [4, 2])
func winogradRowBandsMatchIm2col(_ tile: Int) throws {
    // Bands of a single tile row (budget below one row, no minimum tile count): band offsets into the padded rows,
    // the packed operands and the output rows are exercised.
    var r = TestRandom(g: 99)
    let (c, co, t, h, w) = (23, 17, 3, 5 * tile + 3, 3 * tile + 1)
    let parts = [r.tensor([1, c, t, h, w]), r.tensor([1, c, 2, h, w])]
    let frames = [VirtualFrame(part: 1, t: 0), VirtualFrame(part: 1, t: 1)] + (0..<t).map { VirtualFrame(part: 0, t: $0) }
    let weight = r.values(co * c * 27), bias = r.values(co)
    let rowIndex = [-1] + Array(0..<h) + [-1]
    let banded = winogradConvolve(parts, frames: frames, rowIndex: rowIndex, colMap: nil, weight: weight, bias: bias,
                                      outChannels: co, kt: 3, outSize: (h, w), tile: tile, bandFloats: 1000, minimumBandTiles: 1)
    let ref = try virtualConvolve(parts, frames: frames, weight: weight, bias: bias, outChannels: co, kernel: (3, 3, 3),
                                  padding: (1, 1), winogradTile: 0)
    #expect(banded.shape == ref.shape)
    let err = relativeMaxError(banded.data, ref.data)
    #expect(err <= tolerance(tile), "F(\(tile)) one-row bands: \(err)")
}

@Test(arguments: [4, 2])
func winogradUpsampledConvMatchesIm2col(_ tile: Int) throws {
    // CogVideoXUpsample3D's conv: 3×3 per frame (kT = 1) read through nearest ×2 maps in rows, columns and frames.
    var r = TestRandom(g: 5)
    let (c, co, h, w) = (17, 13, 5, 7)
    let x = r.tensor([1, c, 2, h, w])
    let frames = [0, 0, 1, 1].map { VirtualFrame(part: 0, t: $0) }
    let weight = r.values(co * c * 9), bias = r.values(co)
    func run(_ m: Int) throws -> Tensor {
        try virtualConvolve([x], frames: frames, rows: nearestMap(from: h, to: 2 * h), cols: nearestMap(from: w, to: 2 * w),
                            weight: weight, bias: bias, outChannels: co, kernel: (1, 3, 3), padding: (1, 1), winogradTile: m)
    }
    let wg = try run(tile), ref = try run(0)
    #expect(wg.shape == [1, co, 4, 2 * h, 2 * w])
    let err = relativeMaxError(wg.data, ref.data)
    #expect(err <= tolerance(tile), "F(\(tile)) upsampled: \(err)")
}

@Test func winogradGEMMKernelMatchesItsPortableForm() {
    // Two register tiles of output channels and tiles, three time taps: AVX-512 kernel vs the scalar loops.
    var r = TestRandom(g: 41)
    let (kt, ci, co, tiles) = (3, 37, 2 * Int(CK_WG_MR), 2 * Int(CK_WG_NR))
    let u = r.values(co * kt * ci)
    let v = (0..<kt).map { _ in r.values(tiles * ci) }
    func run(_ portable: Int32) -> [Float] {
        var p = [Float](repeating: 0, count: co * tiles)
        u.withUnsafeBufferPointer { up in
            v[0].withUnsafeBufferPointer { v0 in
                v[1].withUnsafeBufferPointer { v1 in
                    v[2].withUnsafeBufferPointer { v2 in
                        let taps: [UnsafePointer<Float>?] = [v0.baseAddress, v1.baseAddress, v2.baseAddress]
                        let mr = Int(CK_WG_MR)
                        let a: [UnsafePointer<Float>?] = (0..<kt).map { up.baseAddress! + $0 * ci * mr }
                        taps.withUnsafeBufferPointer { tp in
                            a.withUnsafeBufferPointer { apt in
                                ck_winograd_gemm(Int32(kt), Int32(ci), Int32(co), Int32(tiles), apt.baseAddress, kt * ci * mr,
                                                 tp.baseAddress, &p, Int32(tiles), portable)
                            }
                        }
                    }
                }
            }
        }
        return p
    }
    let simd = run(0), portable = run(1)
    #expect(portable.contains { $0 != 0 })
    #expect(relativeMaxError(simd, portable) <= 1e-6)
}

@Test(arguments: [false, true])
func winogradWideRowsMatchIm2col(_ upsampled: Bool) throws {
    // Rows of 37–38 tiles (several 16-tile vectors of the AVX-512 transforms, a partial last one) in bands of three
    // tile rows, whose later rows start inside a strip of NR tiles: vectors that cross into the next strip.
    var r = TestRandom(g: 77)
    let (c, co) = (5, 7)
    let (h, w) = upsampled ? (7, 75) : (13, 147)
    let x = r.tensor([1, c, upsampled ? 1 : 2, h, w])
    let kt = upsampled ? 1 : 3
    let frames = upsampled ? [VirtualFrame(part: 0, t: 0)]
                           : [VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 1)]
    let weight = r.values(co * c * kt * 9), bias = r.values(co)
    let rows = upsampled ? nearestMap(from: h, to: 2 * h) : nil, cols = upsampled ? nearestMap(from: w, to: 2 * w) : nil
    let (ho, wo) = (rows?.count ?? h, cols?.count ?? w)
    let rowIndex = [-1] + (rows ?? Array(0..<h)) + [-1]
    let banded = winogradConvolve([x], frames: frames, rowIndex: rowIndex, colMap: cols, weight: weight, bias: bias,
                                  outChannels: co, kt: kt, outSize: (ho, wo), tile: 4, bandFloats: 1000, minimumBandTiles: 80)
    let ref = try virtualConvolve([x], frames: frames, rows: rows, cols: cols, weight: weight, bias: bias, outChannels: co,
                                  kernel: (kt, 3, 3), padding: (1, 1), winogradTile: 0)
    #expect(banded.shape == ref.shape)
    let err = relativeMaxError(banded.data, ref.data)
    #expect(err <= tolerance(4), "wide rows (upsampled: \(upsampled)): \(err)")
}
