// Winograd F(m×m, 3×3) convolution for the VAE's stride-1, padding-1 3×3(×kT) convolutions (issue 6): 36 (m = 4)
// or 16 (m = 2) transform-domain products per m×m output tile instead of 9·m² multiplications per input channel,
// accumulated over the kT time taps in the transform domain, or, for causal 3-tap convolutions, with Winograd
// F(2,3) / F(4,3) in time on top (CKernels/winograd_time.c, WinogradTimePlan): 4 products per 2 output frames or
// 6 per 4 instead of 3 per frame. The spatial transforms are in Sources/CKernels/winograd.c; the products are one
// GEMM [out × kT·C]·[kT·C × tiles] per transform element (ck_winograd_gemm: AVX-512 register tiles on operands that
// the transforms write already packed, the kT taps accumulated in registers).
import CKernels
import Foundation

/// Output tile size of the Winograd path: 4 (F(4×4,3×3), default), 2 (F(2×2,3×3)) or 0 (im2col only), from
/// `COGVIDEO_VAE_WINOGRAD`.
let vaeWinogradTile: Int = {
    switch ProcessInfo.processInfo.environment["COGVIDEO_VAE_WINOGRAD"] {
    case "0", "off": return 0
    case "2": return 2
    default: return 4
    }
}()

/// Largest group of output frames that causal 3-tap convolutions compute together through Winograd in time
/// (`WinogradTimePlan`), from `COGVIDEO_VAE_WINOGRAD_TIME`: 4 (default: F(4,3) and F(2,3), 6 products per 4 frames
/// and 4 per 2 instead of 3 per frame), 2 (F(2,3) only) or 1 (off). Per convolution on random data F(4,3) on top of
/// F(4×4) in space rounds to 2.3e-5 of the output's range (5.2e-6 with F(2,3), 3.4e-6 with neither), but the
/// decoder's error against diffusers does not follow: 1.36e-5 with groups of 4, 1.61e-5 with pairs and 1.45e-5
/// without at 240×368 (Benchmarks/vae_decode.py; decode 79.5 / 94.2 / 117.4 s on machine B, BENCHMARKS.md), within
/// the 1e-4 bound either way.
let vaeWinogradTime: Int = {
    switch ProcessInfo.processInfo.environment["COGVIDEO_VAE_WINOGRAD_TIME"] {
    case "0", "1", "off": return 1
    case "2": return 2
    default: return 4
    }
}()

/// The 3×3 convolution of `virtualConvolve` (stride 1, one zero row/column of padding on each side) by Winograd
/// F(m×m, 3×3). `rowIndex[v]` is the source row of padded virtual row `v` (−1 = zero), `colMap` the source column
/// of each unpadded virtual column (nil = identity). Weights `[out, C·kT·3·3]` fp32. Output `[B, out, T', ho, wo]`.
/// Transformed input and products are held for one band of whole tile rows at a time, at most `bandFloats` floats
/// (or `minimumBandTiles` tiles, or one tile row, when more): memory stays bounded whatever the frame size.
///
/// Per band of tile rows, every distinct input frame is transformed once into one of kT slots and reused by the kT
/// output frames that read it; adjacent repeated virtual frames (replicated first frame, nearest time upsampling)
/// share a slot. The transformed weights (a²·out·kT·C floats, 4× the fp32 weights for m = 4: 113 MB for a 512→512
/// layer) are recomputed per call, ≈ 400 flops per kernel tap, and live with the band buffers in a workspace kept
/// between calls (`WinogradWorkspace`). They are not cached per convolution: for the decoder that would hold
/// 1.9 GB (4× its 468 MB of 3×3 kernels) to save about 1 % of the decode's CPU time (measured at 240×368).
func winogradConvolve(_ parts: [Tensor], frames: [VirtualFrame], rowIndex: [Int], colMap: [Int]?, weight: [Float],
                      bias: [Float]?, outChannels co: Int, kt: Int, outSize: (Int, Int), tile m: Int,
                      bandFloats: Int, minimumBandTiles: Int = 192, pool: ActivationPool? = nil, bf16: Bool = false,
                      timeGroups: Int = vaeWinogradTime, normalizing: InputNormalization? = nil) -> Tensor {
    weight.withUnsafeBufferPointer {
        winogradConvolve(parts, frames: frames, rowIndex: rowIndex, colMap: colMap, weight: $0, bias: bias, outChannels: co, kt: kt,
                         outSize: outSize, tile: m, bandFloats: bandFloats, minimumBandTiles: minimumBandTiles, pool: pool, bf16: bf16,
                         timeGroups: timeGroups, normalizing: normalizing)
    }
}

/// `winogradConvolve` with the weights read in place.
///
/// With `bf16` (and a CPU with AVX-512 BF16, else ignored) the transform-domain products take bf16 operands with
/// fp32 accumulation (`ck_winograd_gemm_bf16`): the fp32 transformed weights and inputs are rounded to bf16 in place
/// once they are complete. Transforms, accumulation and output stay fp32.
///
/// With `normalizing` (its shape that of `parts[0]`), the frames of `parts[0]` are normalized as they are read: per
/// band and channel, the source rows the band's tiles read go normalized into a per-thread staging plane that the
/// input transform reads instead (the band's 2 rows of overlap are normalized twice).
func winogradConvolve(_ parts: [Tensor], frames: [VirtualFrame], rowIndex: [Int], colMap: [Int]?, weight: UnsafeBufferPointer<Float>,
                      bias: [Float]?, outChannels co: Int, kt: Int, outSize: (Int, Int), tile m: Int,
                      bandFloats: Int, minimumBandTiles: Int = 192, pool: ActivationPool? = nil, bf16 requested: Bool = false,
                      timeGroups: Int = vaeWinogradTime, normalizing: InputNormalization? = nil) -> Tensor {
    let bf16 = requested && ck_winograd_bf16_available() != 0
    let s0 = parts[0].shape
    let (b, c, h, w) = (s0[0], s0[1], s0[3], s0[4])
    let partFrames = parts.map { $0.shape[2] }
    let (ho, wo) = outSize, to = frames.count - kt + 1
    let a = m + 2, xi = a * a
    let ntw = (wo + m - 1) / m, nth = (ho + m - 1) / m
    var rowIdx = [Int32](repeating: -1, count: m * nth + 2)
    for v in 0..<min(rowIdx.count, rowIndex.count) { rowIdx[v] = Int32(rowIndex[v]) }
    let colIdx: [Int32]? = colMap.map { map in
        (0..<(m * ntw + 2)).map { x in x >= 1 && x <= map.count ? Int32(map[x - 1]) : -1 }
    }

    // Packed operands (CKernels.h): weights in strips of MR output channels, inputs in strips of NR tiles.
    let mr = Int(CK_WG_MR), nr = Int(CK_WG_NR)
    let coPad = (co + mr - 1) / mr * mr
    // A causal convolution's first outputs read the replicated first frame with several taps: those taps are merged
    // into one product with prefix sums of the transformed weights (S, same layout as U).
    let merge = kt > 1 && frames.count > 1 && frames[0] == frames[1]
    // Output frames in groups of 2 or 4 through Winograd along time where that needs fewer products (fp32 products).
    let unit = xi * coPad * c
    let plan = WinogradTimePlan.make(frames: frames, kt: kt, merge: merge, largestGroup: bf16 ? 1 : timeGroups,
                                     unitFloats: unit, budgetFloats: 60 << 20)
    let group = plan.largestGroup
    // Transformed weights: U (the kt spatial taps) and S for single frames, T2 / T4 for groups of 2 / 4.
    let uCount = plan.usesSingles ? unit * kt : 0, sCount = plan.usesSingles && merge ? uCount : 0
    let t2Count = plan.usesPairs ? unit * 4 : 0, t4Count = plan.usesQuads ? unit * 6 : 0
    let weightFloats = uCount + sCount + t2Count + t4Count
    // Per band: a ring of transformed input frames (every window of kt − 1 + group virtual frames fits) and one
    // product buffer per output frame of a group. The time-transformed frame and the 2 products beyond the group's
    // outputs are per transform element (scratch of the thread that runs it), so a group costs 2 more slots and
    // group − 1 more product buffers than single frames.
    let nSlots = kt - 1 + group, nP = group
    let perTileRow = xi * (nSlots * c + nP * coPad) * ntw
    // Bands small enough for the transformed inputs to stay in cache between their transform and their products,
    // but of at least `minimumBandTiles` tiles (192 = 6 register tiles of the GEMM), 128 for groups (their band
    // buffers are 2–3× larger: at 240×360 with 256 input channels 86 MB per thread in 3-row bands).
    let minimumTiles = group > 1 ? min(minimumBandTiles, 128) : minimumBandTiles
    let baseRows = max(1, min(nth, max((minimumTiles + ntw - 1) / ntw, bandFloats / max(perTileRow, 1))))
    let bandRows = winogradBandRows(base: baseRows, tileRows: nth, tilesPerRow: ntw, lanes: nr)
    let maxTiles = (bandRows * ntw + nr - 1) / nr * nr
    let slotStride = xi * c * maxTiles
    let vCount = nSlots * slotStride, pCount = xi * coPad * maxTiles
    var out = pool?.take([b, co, to, ho, wo]) ?? uninitializedTensor([b, co, to, ho, wo])  // the inverse transforms write every output value
    let plane = ho * wo
    let scratchFloats = Int(ck_winograd_scratch_floats(Int32(m), Int32(ntw)))

    // Distinct input frames (adjacent repeated virtual frames: replicated first frame, nearest time upsampling) are
    // transformed once, into slot (distinct index mod nSlots) of the ring.
    var distinct = [Int](repeating: 0, count: frames.count)
    for f in frames.indices.dropFirst() { distinct[f] = distinct[f - 1] + (frames[f] == frames[f - 1] ? 0 : 1) }
    let slotOf = distinct.map { $0 % nSlots }

    // Bands are independent: when there are enough of them, each thread runs whole bands (transforms, products and
    // inverse transforms) with its own V and P, with no joins inside the convolution; otherwise the threads share
    // each band's steps.
    let nBands = (nth + bandRows - 1) / bandRows, jobs = b * nBands
    let workers = Engine.threads > 1 && jobs >= 2 * Engine.threads ? Engine.threads : 1
    let perWorker = vCount + nP * pCount
    let uPer = coPad * kt * c

    // U, V and P are overwritten before they are read (V's padding lanes only reach discarded product columns), so
    // the workspace is not cleared.
    WinogradWorkspace.shared.withBuffer(floats: weightFloats + workers * perWorker) { work in
        withBases(parts[...], []) { bases in
            do {
                let wp = weight
                out.data.withUnsafeMutableBufferPointer { op in
                    rowIdx.withUnsafeBufferPointer { rp in
                        withOptionalPointer(colIdx) { cip in
                            nonisolated(unsafe) let U = work, S = work + uCount, buffers = work + weightFloats
                            nonisolated(unsafe) let T2 = work + uCount + sCount, T4 = work + uCount + sCount + t2Count
                            nonisolated(unsafe) let O = op.baseAddress!, RI = rp.baseAddress!, CI = cip, B = bases
                            nonisolated(unsafe) let W = wp.baseAddress!
                            /// Spatial transform of kernels `k` `[co][c][taps][3][3]` into the packed operands at `dst`.
                            func transformWeights(_ k: UnsafePointer<Float>, taps: Int, into dst: UnsafeMutablePointer<Float>) {
                                nonisolated(unsafe) let k = k, dst = dst
                                Engine.parallelRanges(coPad / mr) { r in  // whole strips of MR output channels
                                    ck_winograd_weights(Int32(m), k, Int32(co), Int32(r.lowerBound * mr), Int32(min(co, r.upperBound * mr)),
                                                        Int32(c), Int32(taps), dst)
                                }
                            }
                            if plan.usesSingles { transformWeights(W, taps: kt, into: U) }
                            for (mt, T) in [(2, T2), (4, T4)] where mt == 2 ? plan.usesPairs : plan.usesQuads {
                                // Time taps combined on the raw kernels, then the spatial transform of mt + 2 taps.
                                let at = mt + 2
                                var wt = [Float](repeating: 0, count: co * c * at * 9)
                                wt.withUnsafeMutableBufferPointer { wtp in
                                    nonisolated(unsafe) let WT = wtp.baseAddress!
                                    Engine.parallelRanges(co) { r in
                                        ck_winograd_time_kernels(Int32(mt), W + r.lowerBound * c * 27, r.count * c, WT + r.lowerBound * c * at * 9)
                                    }
                                    transformWeights(WT, taps: at, into: T)
                                }
                            }
                            if sCount > 0 {
                                Engine.parallelFor(xi) { e in ck_winograd_prefix_sums(Int32(kt), Int32(c), Int32(co), U + e * uPer, S + e * uPer) }
                            }
                            if bf16 {  // U (and S) rounded to the pair layout in place
                                Engine.parallelFor(xi) { e in
                                    ck_winograd_bf16_pairs(U + e * uPer, Int32(coPad / mr * kt), Int32(c), Int32(mr), halves(U + e * uPer), 0)
                                    if sCount > 0 {
                                        ck_winograd_bf16_pairs(S + e * uPer, Int32(coPad / mr * kt), Int32(c), Int32(mr), halves(S + e * uPer), 0)
                                    }
                                }
                            }

                            /// `body` over 0..<count, split across the engine's threads when `split`.
                            func ranges(_ count: Int, _ split: Bool, _ body: (Range<Int>) -> Void) {
                                if split { Engine.parallelRanges(count, minimumChunk: 4, body) } else { body(0..<count) }
                            }

                            /// Batch element `bi`, tile rows tr0 ..< tr0 + bandRows, with V and P of one worker.
                            func band(_ bi: Int, _ tr0: Int, _ V: UnsafeMutablePointer<Float>, _ P: UnsafeMutablePointer<Float>, split: Bool) {
                                let nrt = min(bandRows, nth - tr0), tiles = nrt * ntw, r0 = tr0 * m
                                let ldt = (tiles + nr - 1) / nr * nr  // row length of the packed inputs and products
                                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: split ? 0 : scratchFloats)
                                defer { scratch.deallocate() }

                                // With `normalizing`: the source rows of the band (virtual rows m·tr0 ..< m·(tr0 +
                                // nrt) + 2), their indices within the staged rows, and the staging plane (with the
                                // normalization's scratch) of this band, or of each range of channels when split.
                                var stagedRows = 0..<0, stagedIndex: [Int32] = [], stagingFloats = 0
                                if let normalizing {
                                    let bandRowIndex = (0..<(m * nrt + 2)).map { Int(RI[m * tr0 + $0]) }
                                    let firstRow = bandRowIndex.filter { $0 >= 0 }.min() ?? 0
                                    stagedRows = firstRow..<((bandRowIndex.max() ?? -1) + 1)
                                    stagedIndex = bandRowIndex.map { Int32($0 >= 0 ? $0 - firstRow : -1) }
                                    stagingFloats = stagedRows.count * w + normalizing.scratchFloats
                                }
                                let staging = UnsafeMutablePointer<Float>.allocate(capacity: split ? 0 : stagingFloats)
                                defer { staging.deallocate() }

                                /// Transformed input frame f into its slot.
                                func transform(_ f: Int) {
                                    let s = slotOf[f], fr = frames[f], pf = partFrames[fr.part]
                                    let norm = fr.part == 0 ? normalizing : nil
                                    ranges(c, split) { range in
                                        let sc = split ? UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats) : scratch
                                        defer { if split { sc.deallocate() } }
                                        guard let norm else {
                                            for ch in range {
                                                let src = B[fr.part] + ((bi * c + ch) * pf + fr.t) * h * w
                                                ck_winograd_input(Int32(m), src, Int32(w), RI + m * tr0, CI, Int32(ntw), Int32(nrt),
                                                                  sc, V + s * slotStride + ch * nr, c * ldt, c * nr)
                                            }
                                            return
                                        }
                                        let staged = split ? UnsafeMutablePointer<Float>.allocate(capacity: stagingFloats) : staging
                                        defer { if split { staged.deallocate() } }
                                        stagedIndex.withUnsafeBufferPointer { si in
                                            for ch in range {
                                                let src = B[0] + ((bi * c + ch) * pf + fr.t) * h * w
                                                norm.normalize(bc: bi * c + ch, t: fr.t, rows: stagedRows, plane: src, into: staged,
                                                               scratch: staged + stagedRows.count * w)
                                                ck_winograd_input(Int32(m), staged, Int32(w), si.baseAddress!, CI, Int32(ntw), Int32(nrt),
                                                                  sc, V + s * slotStride + ch * nr, c * ldt, c * nr)
                                            }
                                        }
                                    }
                                    if bf16 {  // the slot rounded to the pair layout in place, per transform element
                                        let toPairs = { (e: Int) in
                                            let v = V + s * slotStride + e * c * ldt
                                            ck_winograd_bf16_pairs(v, Int32(ldt / nr), Int32(c), Int32(nr), halves(v), 0)
                                        }
                                        if split { Engine.parallelFor(xi, toPairs) } else { for e in 0..<xi { toPairs(e) } }
                                    }
                                }

                                /// Inverse spatial transform of the products at `src` into output frame `ot`.
                                func emit(_ src: UnsafeMutablePointer<Float>, _ ot: Int) {
                                    ranges(co, split) { range in
                                        let sc = split ? UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats) : scratch
                                        defer { if split { sc.deallocate() } }
                                        for o in range {
                                            let dst = O + ((bi * co + o) * to + ot) * plane + r0 * wo
                                            ck_winograd_output(Int32(m), src + o * ldt, coPad * ldt, Int32(ntw), Int32(nrt), bias?[o] ?? 0,
                                                               dst, Int32(wo), Int32(ho - r0), Int32(wo), sc)
                                        }
                                    }
                                }

                                /// One output frame from its kt taps.
                                func single(_ ot: Int) {
                                    let slots = (0..<kt).map { slotOf[ot + $0] }
                                    // Leading taps on one transformed frame: one product with their weights' prefix sum.
                                    var run = 1
                                    while merge && run < kt && slots[run] == slots[0] { run += 1 }
                                    // Weights of a tap: (U or S, tap slot within it).
                                    let taps: [(sums: Bool, tap: Int, slot: Int)] = run > 1
                                        ? [(true, run - 2, slots[0])] + (run..<kt).map { (false, $0, slots[$0]) }
                                        : (0..<kt).map { (false, $0, slots[$0]) }
                                    let product = { (e: Int) in
                                        if bf16 {
                                            let c2 = (c + 1) / 2
                                            let a: [UnsafePointer<UInt16>?] = taps.map {
                                                UnsafePointer(halves(($0.sums ? S : U) + e * uPer) + $0.tap * c2 * mr * 2)
                                            }
                                            let v: [UnsafePointer<UInt16>?] = taps.map { UnsafePointer(halves(V + $0.slot * slotStride + e * c * ldt)) }
                                            a.withUnsafeBufferPointer { ap in
                                                v.withUnsafeBufferPointer { vp in
                                                    ck_winograd_gemm_bf16(Int32(taps.count), Int32(c), Int32(co), Int32(tiles), ap.baseAddress!,
                                                                          kt * c2 * mr * 2, vp.baseAddress!, P + e * coPad * ldt, Int32(ldt), 0)
                                                }
                                            }
                                            return
                                        }
                                        let a: [UnsafePointer<Float>?] = taps.map {
                                            UnsafePointer(($0.sums ? S : U) + $0.tap * c * mr + e * uPer)
                                        }
                                        let v: [UnsafePointer<Float>?] = taps.map { UnsafePointer(V + $0.slot * slotStride + e * c * ldt) }
                                        a.withUnsafeBufferPointer { ap in
                                            v.withUnsafeBufferPointer { vp in
                                                ck_winograd_gemm(Int32(taps.count), Int32(c), Int32(co), Int32(tiles), ap.baseAddress!, kt * c * mr,
                                                                 vp.baseAddress!, P + e * coPad * ldt, Int32(ldt), 0)
                                            }
                                        }
                                    }
                                    if split { Engine.parallelFor(xi, product) } else { for e in 0..<xi { product(e) } }
                                    emit(P, ot)
                                }

                                /// Output frames ot ..< ot + mt from input frames ot ..< ot + mt + 2 by Winograd F(mt, 3) in
                                /// time: per transform element, mt + 2 time-transformed frames (in scratch), one product
                                /// each (weights T2 / T4), and the inverse time transform in place.
                                func grouped(_ ot: Int, _ mt: Int) {
                                    let at = mt + 2, T = mt == 2 ? T2 : T4, uStrip = at * c * mr
                                    let n = c * ldt, np = coPad * ldt
                                    let frameSlots = (0..<at).map { V + slotOf[ot + $0] * slotStride }
                                    let products = { (range: Range<Int>) in
                                        // Scratch of this range: the time-transformed frame and products mt, mt + 1.
                                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n + 2 * np)
                                        defer { scratch.deallocate() }
                                        for e in range {
                                            let v = frameSlots.map { UnsafePointer($0 + e * n) as UnsafePointer<Float>? }
                                            var p = (0..<at).map { k -> UnsafeMutablePointer<Float>? in
                                                k < mt ? P + k * pCount + e * np : scratch + n + (k - mt) * np
                                            }
                                            v.withUnsafeBufferPointer { vp in
                                                for k in 0..<at {
                                                    ck_winograd_time_input(Int32(mt), Int32(k), vp.baseAddress!, n, scratch)
                                                    var a: UnsafePointer<Float>? = UnsafePointer(T + e * coPad * at * c + k * c * mr)
                                                    var ev: UnsafePointer<Float>? = UnsafePointer(scratch)
                                                    ck_winograd_gemm(1, Int32(c), Int32(co), Int32(tiles), &a, uStrip, &ev, p[k]!, Int32(ldt), 0)
                                                }
                                            }
                                            p.withUnsafeMutableBufferPointer { ck_winograd_time_output(Int32(mt), $0.baseAddress!, np) }
                                        }
                                    }
                                    if split { Engine.parallelRanges(xi, products) } else { products(0..<xi) }
                                    for i in 0..<mt { emit(P + i * pCount, ot + i) }
                                }

                                var next = 0  // next virtual frame to transform
                                for item in plan.items {
                                    while next < item.start + item.count + kt - 1 {
                                        if next == 0 || frames[next] != frames[next - 1] { transform(next) }
                                        next += 1
                                    }
                                    if item.count == 1 { single(item.start) } else { grouped(item.start, item.count) }
                                }
                            }
                            if workers == 1 {
                                for j in 0..<jobs { band(j / nBands, (j % nBands) * bandRows, buffers, buffers + vCount, split: true) }
                            } else {
                                let lock = NSLock()
                                nonisolated(unsafe) var next = 0  // next job, taken under `lock`
                                Engine.parallelFor(workers) { k in
                                    let V = buffers + k * perWorker, P = V + vCount
                                    while true {
                                        lock.lock()
                                        let j = next
                                        next += 1
                                        lock.unlock()
                                        guard j < jobs else { break }
                                        band(j / nBands, (j % nBands) * bandRows, V, P, split: false)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Tile rows per band: of `base` … 2·`base` (at most `tileRows`), the count that finishes first on `threads`
/// threads, counting each band's tiles rounded up to a multiple of `lanes` (the GEMM's padding columns) and the
/// threads' idle tail (`winogradConvolve` hands whole bands to threads when there are at least 2 per thread,
/// otherwise the threads share each band's steps, counted 10 % slower for their joins); fewer padding columns,
/// then fewer rows on ties. With 46 tiles per row (120×184) bands of 5 rows pad 230 tiles to 256.
func winogradBandRows(base: Int, tileRows: Int, tilesPerRow: Int, lanes: Int, threads: Int = Engine.threads) -> Int {
    var best = base, bestSpan = Int.max, bestPadded = Int.max
    for r in base...max(base, min(tileRows, 2 * base)) {
        var bands: [Int] = []
        var r0 = 0
        while r0 < tileRows {
            bands.append((min(r, tileRows - r0) * tilesPerRow + lanes - 1) / lanes * lanes)
            r0 += r
        }
        let padded = bands.reduce(0, +)
        let span: Int
        if threads > 1 && bands.count >= 2 * threads {
            var load = [Int](repeating: 0, count: threads)
            for t in bands { load[load.indices.min { load[$0] < load[$1] }!] += t }
            span = load.max()!
        } else {
            span = padded * 11 / (10 * max(threads, 1))
        }
        if span < bestSpan || (span == bestSpan && padded < bestPadded) { best = r; bestSpan = span; bestPadded = padded }
    }
    return best
}

/// The same memory as bf16 values (the in-place pair layouts of the bf16 products).
private func halves(_ p: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<UInt16> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt16.self)
}

/// Runs `body` with the base address of `array`, or nil.
private func withOptionalPointer<R>(_ array: [Int32]?, _ body: (UnsafePointer<Int32>?) throws -> R) rethrows -> R {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBufferPointer { try body($0.baseAddress!) }
}

/// Scratch memory of the Winograd convolutions (transformed weights, inputs and products), kept between calls:
/// a fresh allocation of up to ≈ 160 MB per layer would cost its page faults every time. Shrinks when a call needs
/// less than half of it, so what it retains stays within twice the current layer's need. A call made while another
/// holds the buffer gets a temporary one.
final class WinogradWorkspace: @unchecked Sendable {
    static let shared = WinogradWorkspace()
    private let lock = NSLock()
    private var buffer: UnsafeMutablePointer<Float>?
    private var capacity = 0
    private var busy = false

    func withBuffer<R>(floats n: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        lock.lock()
        if busy {
            lock.unlock()
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { p.deallocate() }
            return try body(p)
        }
        busy = true
        if capacity < n || capacity > 2 * n {
            buffer?.deallocate()
            buffer = .allocate(capacity: n)
            capacity = n
        }
        let p = buffer!
        lock.unlock()
        defer { lock.lock(); busy = false; lock.unlock() }
        return try body(p)
    }
}
