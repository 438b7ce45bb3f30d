// bf16 products of the VAE's Winograd convolutions (CKernels/winograd_bf16.c, VAEPrecision): the pair layouts, the
// AVX-512 BF16 kernel against its portable form and against the fp32 kernel, a whole convolution against im2col,
// and a forced-bf16 decode of the tiny fixture against diffusers' fp32 output.
// Tolerances: the AVX-512 BF16 kernel and the scalar form multiply the same bf16 values exactly and differ only in
// fp32 summation order (≤ 1e-5 · max). Against fp32 operands each product carries two bf16 roundings (relative
// 2⁻⁹ each); over K = 2·37 random terms the error stays below 1e-2 · max. A whole causal 3×3×3 convolution: the
// F(4×4) inverse transform scales the products of the points ±2 by up to 8 per dimension, so the bf16 roundings of
// the transformed operands reach ≈ 7.8e-2 · max on random data (checked at 0.15); on the real decoder this is a PSNR
// of ≈ 49 dB (decodeWithForcedBF16ProductsKeepsHighPSNR: ≥ 45 dB on the tiny fixture).
import Foundation
import Testing
import CKernels
import SafeTensors
@testable import Model

private struct Rand {
    var g: UInt64
    mutating func next() -> Float {
        g = g &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: g >> 11) % 2_000_001 - 1_000_000) / 1_000_000
    }
    mutating func values(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}

/// bf16 bits of `f` rounded to nearest even (reference for the pair layout).
private func bf16Bits(_ f: Float) -> UInt16 {
    let u = f.bitPattern
    return UInt16((u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16)
}

@Test(arguments: [Int32(0), 1])
func bf16PairLayoutInterleavesRowPairsAndPadsAnOddRow(_ portable: Int32) {
    var r = Rand(g: 5)
    let (groups, k, lanes) = (3, 7, 12)
    let src = r.values(groups * k * lanes)
    let k2 = (k + 1) / 2
    var dst = [UInt16](repeating: 0xFFFF, count: groups * k2 * lanes * 2)
    ck_winograd_bf16_pairs(src, Int32(groups), Int32(k), Int32(lanes), &dst, portable)
    var mismatches = 0
    for g in 0..<groups {
        for p in 0..<k2 {
            for l in 0..<lanes {
                let first = bf16Bits(src[(g * k + 2 * p) * lanes + l])
                let second: UInt16 = 2 * p + 1 < k ? bf16Bits(src[(g * k + 2 * p + 1) * lanes + l]) : 0
                let at = ((g * k2 + p) * lanes + l) * 2
                if dst[at] != first || dst[at + 1] != second { mismatches += 1 }
            }
        }
    }
    #expect(mismatches == 0)
    // In place (the convolution's use): the same values.
    var inPlace = src
    inPlace.withUnsafeMutableBufferPointer { b in
        let raw = UnsafeMutableRawPointer(b.baseAddress!)
        ck_winograd_bf16_pairs(b.baseAddress!, Int32(groups), Int32(k), Int32(lanes), raw.assumingMemoryBound(to: UInt16.self), portable)
    }
    let converted = inPlace.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self).prefix(dst.count)) }
    #expect(converted == dst)
}

@Test func winogradBF16KernelMatchesItsPortableFormAndTheFP32Kernel() {
    // Two register tiles of output channels and tiles, three time taps, an odd K (a padded pair per tap).
    var r = Rand(g: 43)
    let (kt, ci, co, tiles) = (3, 37, 2 * Int(CK_WG_MR), 2 * Int(CK_WG_NR))
    let mr = Int(CK_WG_MR), nr = Int(CK_WG_NR), ci2 = (ci + 1) / 2
    let u = r.values(co * kt * ci)                      // [strip][t·ci + c][MR]
    let v = (0..<kt).map { _ in r.values(tiles * ci) }  // [tile strip][c][NR]
    var ub = [UInt16](repeating: 0, count: co * kt * ci2 * 2)
    ck_winograd_bf16_pairs(u, Int32(co / mr * kt), Int32(ci), Int32(mr), &ub, 1)
    let vb: [[UInt16]] = v.map { taps in
        var o = [UInt16](repeating: 0, count: tiles * ci2 * 2)
        ck_winograd_bf16_pairs(taps, Int32(tiles / nr), Int32(ci), Int32(nr), &o, 1)
        return o
    }
    func runBF16(_ portable: Int32) -> [Float] {
        var p = [Float](repeating: 0, count: co * tiles)
        ub.withUnsafeBufferPointer { up in
            vb[0].withUnsafeBufferPointer { v0 in
                vb[1].withUnsafeBufferPointer { v1 in
                    vb[2].withUnsafeBufferPointer { v2 in
                        let b: [UnsafePointer<UInt16>?] = [v0.baseAddress, v1.baseAddress, v2.baseAddress]
                        let a: [UnsafePointer<UInt16>?] = (0..<kt).map { up.baseAddress! + $0 * ci2 * mr * 2 }
                        ck_winograd_gemm_bf16(Int32(kt), Int32(ci), Int32(co), Int32(tiles), a, kt * ci2 * mr * 2, b, &p, Int32(tiles), portable)
                    }
                }
            }
        }
        return p
    }
    func runF32() -> [Float] {
        var p = [Float](repeating: 0, count: co * tiles)
        u.withUnsafeBufferPointer { up in
            v[0].withUnsafeBufferPointer { v0 in
                v[1].withUnsafeBufferPointer { v1 in
                    v[2].withUnsafeBufferPointer { v2 in
                        let b: [UnsafePointer<Float>?] = [v0.baseAddress, v1.baseAddress, v2.baseAddress]
                        let a: [UnsafePointer<Float>?] = (0..<kt).map { up.baseAddress! + $0 * ci * mr }
                        ck_winograd_gemm(Int32(kt), Int32(ci), Int32(co), Int32(tiles), a, kt * ci * mr, b, &p, Int32(tiles), 1)
                    }
                }
            }
        }
        return p
    }
    let simd = runBF16(0), portable = runBF16(1), fp32 = runF32()
    #expect(portable.contains { $0 != 0 })
    #expect(relativeMaxError(simd, portable) <= 1e-5)
    let err = relativeMaxError(portable, fp32)
    #expect(err <= 1e-2, "bf16 vs fp32 products: \(err)")
    #expect(err > 0, "the bf16 products round their operands")
}

@Test func winogradConvolutionWithBF16ProductsStaysCloseToIm2col() throws {
    // A causal 3×3×3 convolution (replicated first frame: the merged prefix-sum taps too) over an odd channel count.
    var r = Rand(g: 91)
    let (c, co, h, w) = (9, 14, 13, 21)
    let x = Tensor(shape: [1, c, 2, h, w], data: r.values(c * 2 * h * w))
    let frames = [0, 0, 0, 1].map { VirtualFrame(part: 0, t: $0) }
    let weight = r.values(co * c * 27), bias = r.values(co)
    func run(_ tile: Int, bf16: Bool) throws -> Tensor {
        try weight.withUnsafeBufferPointer {
            try virtualConvolve([x], frames: frames, weight: $0, bias: bias, outChannels: co, kernel: (3, 3, 3), padding: (1, 1),
                                winogradTile: tile, bf16: bf16)
        }
    }
    let ref = try run(0, bf16: false), wg = try run(4, bf16: true), wg32 = try run(4, bf16: false)
    let err = relativeMaxError(wg.data, ref.data)
    #expect(err <= 0.15, "bf16 Winograd vs im2col: \(err)")
    if ck_winograd_bf16_available() != 0 { #expect(wg.data != wg32.data, "bf16 products were used") }
}

@Test func decodeWithForcedBF16ProductsKeepsHighPSNR() throws {
    let ref = try SafeTensorsFile(path: fixturesPath + "/vae/reference.safetensors")
    let vae = try loadVAE()
    vae.precision = .bf16
    let z = Tensor(shape: ref.info("decode.T5.z")!.shape, data: try ref.floats("decode.T5.z"))
    let out = try vae.decode(z)
    let p = psnr(out.data, try ref.floats("decode.T5.out"))
    print("VAE decode with bf16 Winograd products (F32 weights): PSNR \(p) dB vs fp32 diffusers")
    #expect(p >= 45)
}

@Test func vaePrecisionPicksBF16ForSixteenBitWeightsOnly() {
    #expect(VAEPrecision.auto.usesBF16(weights: .f16) == Engine.bf16ProductsPreferred)
    #expect(VAEPrecision.auto.usesBF16(weights: .bf16) == Engine.bf16ProductsPreferred)
    #expect(!VAEPrecision.auto.usesBF16(weights: .f32))
    #expect(!VAEPrecision.f32.usesBF16(weights: .bf16))
    #expect(VAEPrecision.bf16.usesBF16(weights: .f32))
}
