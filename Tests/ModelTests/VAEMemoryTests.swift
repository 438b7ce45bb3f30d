// The VAE's buffer recycling (ActivationPool, VAE/VAEKernels.swift) and the Winograd band choice
// (winogradBandRows, VAE/Winograd.swift).
import Testing
@testable import Model

@Test func activationPoolReusesAReleasedBufferOfTheSameSize() {
    let pool = ActivationPool()
    var a = Tensor(repeating: 1, shape: [1, 2, ActivationPool.minimumFloats])
    let address = a.data.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
    pool.give(&a)
    #expect(a.count == 0)
    let b = pool.take([2, 1, ActivationPool.minimumFloats])
    #expect(b.shape == [2, 1, ActivationPool.minimumFloats])
    #expect(b.data.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } == address)
}

@Test func activationPoolFreesWhatItHoldsBeforeAnAllocationItCannotServe() {
    // Holding buffers of another size while allocating would raise the peak memory.
    let pool = ActivationPool()
    var a = Tensor(repeating: 1, shape: [ActivationPool.minimumFloats])
    pool.give(&a)
    #expect(pool.heldBuffers == 1)
    _ = pool.take([2 * ActivationPool.minimumFloats])
    #expect(pool.heldBuffers == 0)
    // Small buffers are not kept, and asking for one frees nothing.
    var big = Tensor(repeating: 1, shape: [ActivationPool.minimumFloats])
    var small = Tensor(repeating: 1, shape: [16])
    pool.give(&big)
    pool.give(&small)
    _ = pool.take([8])
    #expect(pool.heldBuffers == 1)
}

@Test func winogradBandsKeepBothThreadsBusy() {
    // 30 tile rows of 46 tiles (120×184): bands of 9 rows would pad least (414 → 416 tiles) but leave one of two
    // threads idle for a third of the convolution (bands 9, 9, 9, 3); the choice must not be slower than the
    // plain 5-row bands (6 bands of 256 padded tiles, 768 per thread).
    let r = winogradBandRows(base: 5, tileRows: 30, tilesPerRow: 46, lanes: 32, threads: 2)
    var bands: [Int] = []
    var r0 = 0
    while r0 < 30 { bands.append((min(r, 30 - r0) * 46 + 31) / 32 * 32); r0 += r }
    var load = [0, 0]
    for b in bands { load[load[0] <= load[1] ? 0 : 1] += b }
    #expect(bands.count >= 4)
    #expect(load.max()! <= 768)
    // One thread: only the padding counts.
    #expect(winogradBandRows(base: 5, tileRows: 30, tilesPerRow: 46, lanes: 32, threads: 1) == 9)
}
