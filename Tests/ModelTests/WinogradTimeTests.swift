// Winograd F(2,3) / F(4,3) along time (VAE/WinogradTimePlan.swift, CKernels/winograd_time.c) against the im2col +
// GEMM path of the same virtual input: 1–9 output frames (single frames, pairs and groups of 4 in every mix), causal
// caches, replicated first frames, nearest-upsampled (repeated) frames, several bands per frame and one band per
// worker thread. Tolerance on max |winograd − im2col| / max |im2col|: with F(2,3) in time (the default) 1e-5 for
// F(4×4) in space (measured 5.2e-6; 3.4e-6 without time groups) and 3e-6 for F(2×2) (measured 6.6e-7); with F(4,3)
// in time 5e-5 (measured 2.3e-5: three F(4) dimensions compound) and 3e-6 (measured 1.3e-6).
import Foundation
import Testing
@testable import Model

private func frames(_ kind: String, _ t: Int) -> [VirtualFrame] {
    switch kind {
    case "cached": return [VirtualFrame(part: 1, t: 0), VirtualFrame(part: 1, t: 1)] + (0..<t).map { VirtualFrame(part: 0, t: $0) }
    case "replicated": return [VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 0)] + (0..<t).map { VirtualFrame(part: 0, t: $0) }
    default:  // a nearest ×2 time upsampling after the kept first frame, replicated: 0 0 | 0 1 1 2 2 …
        let src = [0] + (0..<t - 1).map { 1 + $0 / 2 }
        return [VirtualFrame(part: 0, t: 0), VirtualFrame(part: 0, t: 0)] + src.map { VirtualFrame(part: 0, t: $0) }
    }
}

@Test(arguments: [(4, 4), (4, 2), (2, 4), (2, 2)])
func winogradTimeGroupsMatchIm2col(_ tile: Int, _ group: Int) throws {
    var r = TestRandom(g: 2024)
    let (c, co, h, w) = (19, 21, 2 * tile + 3, 3 * tile + 1)
    var worst: Float = 0
    for kind in ["cached", "replicated", "upsampled"] {
        for t in 1...9 {
            let distinctFrames = kind == "upsampled" ? 1 + t / 2 : t
            let parts = [r.tensor([2, c, distinctFrames, h, w]), r.tensor([2, c, 2, h, w])]
            let fr = frames(kind, t)
            let weight = r.values(co * c * 27), bias = r.values(co)
            let rowIndex = [-1] + Array(0..<h) + [-1]
            let ref = try virtualConvolve(parts, frames: fr, weight: weight, bias: bias, outChannels: co, kernel: (3, 3, 3),
                                          padding: (1, 1), winogradTile: 0)
            // One band per frame (threads share its steps) and one-row bands (whole bands per thread).
            for (band, minTiles) in [(1 << 22, 192), (1000, 1)] {
                let wg = winogradConvolve(parts, frames: fr, rowIndex: rowIndex, colMap: nil, weight: weight, bias: bias,
                                          outChannels: co, kt: 3, outSize: (h, w), tile: tile, bandFloats: band,
                                          minimumBandTiles: minTiles, timeGroups: group)
                #expect(wg.shape == ref.shape)
                let err = relativeMaxError(wg.data, ref.data)
                worst = max(worst, err)
                #expect(err <= (tile == 2 ? 3e-6 : group == 4 ? 5e-5 : 1e-5), "F(\(tile)) groups of \(group) \(kind) T=\(t) band \(band): \(err)")
            }
        }
    }
    print("Winograd F(\(tile)×\(tile)) with time groups of up to \(group): worst relative max error vs im2col \(worst)")
}

@Test func winogradTimePlanPrefersGroupsWhereTheySaveProducts() {
    func plan(_ fr: [VirtualFrame], group: Int = 4, budget: Int = 60 << 20, unit: Int = 1000) -> WinogradTimePlan {
        WinogradTimePlan.make(frames: fr, kt: 3, merge: fr[0] == fr[1], largestGroup: group, unitFloats: unit, budgetFloats: budget)
    }
    // 8 cached frames: two groups of 4, 12 products instead of 24.
    let p8 = plan(frames("cached", 8))
    #expect(p8.items.map(\.count) == [4, 4] && p8.products == 12)
    // 9 frames after a replicated first frame: the first one alone (its 3 taps read one frame: 1 product), then 2 × 4.
    let p9 = plan(frames("replicated", 9))
    #expect(p9.items.map(\.count) == [1, 4, 4] && p9.products == 13)
    // Pairs only (the default): after a replicated first frame the first two frames alone (1 + 2 products), then
    // pairs: 15 products for 8 frames instead of 21; with a cache, 4 pairs: 16 instead of 24.
    let r8 = plan(frames("replicated", 8), group: 2)
    #expect(r8.items.map(\.count) == [1, 1, 2, 2, 2] && r8.products == 15)
    #expect(plan(frames("cached", 8), group: 2).products == 16)
    // 2 and 3 frames: a pair; a single frame plus a pair.
    #expect(plan(frames("cached", 2)).items.map(\.count) == [2])
    #expect(plan(frames("cached", 3)).items.map(\.count) == [1, 2])
    #expect(plan(frames("cached", 1)).items.map(\.count) == [1])
    // Without groups, or with a weight budget below what groups need beyond single frames: 3 taps per frame.
    let none = WinogradTimePlan.make(frames: frames("cached", 8), kt: 3, merge: false, largestGroup: 1, unitFloats: 1000,
                                     budgetFloats: 1 << 30)
    #expect(none.items.count == 8 && none.products == 24)
    let tight = plan(frames("cached", 8), budget: 0, unit: 1 << 20)
    #expect(tight.items.allSatisfy { $0.count == 1 })
    // kT = 1 (per-frame 3×3 convolutions): one product per frame.
    let flat = WinogradTimePlan.make(frames: (0..<4).map { VirtualFrame(part: 0, t: $0) }, kt: 1, merge: false, largestGroup: 4,
                                     unitFloats: 1000, budgetFloats: 1 << 30)
    #expect(flat.items.count == 4 && flat.products == 4)
}
