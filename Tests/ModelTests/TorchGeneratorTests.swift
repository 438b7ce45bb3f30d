import Foundation
import SafeTensors
import Testing
@testable import Model

// Parity with torch.randn (fixtures/rng/randn.safetensors, written by tools/fixturegen/rng.py).
// Tolerance: at most 1 ulp per value (observed: bit-identical), sums within 1e-9 relative.

private let rngFile: SafeTensorsFile? = try? SafeTensorsFile(path: modelFixtures + "/rng/randn.safetensors")
private let seeds: [UInt64] = [0, 42, 1234, (1 << 32) + 7, (1 << 63) + 5]

private func maxUlp(_ a: [Float], _ b: [Float]) -> Int { zip(a, b).map { ulpDistance($0, $1) }.max() ?? 0 }

@Test func randnFixtureIsPresent() throws {
    #expect(rngFile != nil, "fixtures/rng/randn.safetensors is missing: run tools/make_fixtures.py --only rng")
}

@Test(arguments: [1, 15, 16, 17, 1000])
func randnMatchesTorchForSmallAndBlockEdgeSizes(count: Int) throws {
    let file = try #require(rngFile)
    for seed in seeds {
        let want = try file.floats("f32.s\(seed).n\(count)")
        var g = TorchGenerator(seed: seed, kernel: .avx2)
        let got = g.randn(count)
        #expect(got.count == want.count)
        #expect(maxUlp(got, want) <= 1, "seed \(seed), n \(count)")
    }
}

@Test(arguments: [true, false])
func randn65536MatchesTorchValueForValue(vectorized: Bool) throws {
    // Both the C AVX2 path (when the CPU has it) and the portable Swift emulation of the same kernel.
    let file = try #require(rngFile)
    let want = try file.floats("f32.s0.n65536")
    var g = TorchGenerator(seed: 0, kernel: .avx2)
    g.vectorized = vectorized
    let got = g.randn(65536)
    #expect(maxUlp(got, want) <= 1)
    #expect(zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count == 0, "expected bit-identical")
}

@Test func vectorizedAndPortableKernelsAgreeOnOddSizes() {
    for n in [16, 17, 31, 33, 1001] {
        var a = TorchGenerator(seed: UInt64(n), kernel: .avx2), b = a
        b.vectorized = false
        #expect(a.randn(n).map(\.bitPattern) == b.randn(n).map(\.bitPattern), "n = \(n)")
    }
}

@Test(arguments: [(65536, UInt64(42)), (65536, (UInt64(1) << 32) + 7), (1_000_000, 0), (1_000_000, 42)])
func longRandnRunsMatchTorchSampledValuesAndSum(count: Int, seed: UInt64) throws {
    let file = try #require(rngFile)
    let prefix = "f32.s\(seed).n\(count)"
    let idx = try file.elements(prefix + ".idx", as: Int64.self)
    let val = try file.floats(prefix + ".val")
    let sum = try file.elements(prefix + ".sum", as: Double.self)[0]
    var g = TorchGenerator(seed: seed, kernel: .avx2)
    let got = g.randn(count)
    #expect(got.count == count)
    let picked = idx.map { got[Int($0)] }
    #expect(maxUlp(picked, val) <= 1)
    // The AVX2 kernel is pure IEEE arithmetic (no libm), so it is bit-identical on every machine.
    #expect(zip(picked, val).filter { $0.bitPattern != $1.bitPattern }.isEmpty)
    let ourSum = got.reduce(0.0) { $0 + Double($1) }
    #expect(abs(ourSum - sum) <= 1e-9 * max(1, abs(sum)), "sum \(ourSum) vs torch \(sum)")
}

@Test func seedsDifferingAbove32BitsDrawTheSameStream() throws {
    // at::mt19937 only keeps the low 32 bits of the seed; the fixture for 2^32 + 7 was drawn by torch.
    var a = TorchGenerator(seed: 7), b = TorchGenerator(seed: (1 << 32) + 7)
    #expect(a.randn(100) == b.randn(100))
    #expect(b.initialSeed == (1 << 32) + 7)
}

@Test(arguments: [1, 5, 16, 17, 1000])
func float64RandnMatchesTorch(count: Int) throws {
    let file = try #require(rngFile)
    let want = try file.elements("f64.s0.n\(count)", as: Double.self)
    var g = TorchGenerator(seed: 0)
    let got = g.randnDouble(count)
    #expect(zip(got, want).map { ulpDistance($0, $1) }.max() ?? 0 <= 1)
}

@Test func drawsInSequenceContinueTheStreamAndTheCachedNormal() throws {
    // Small draws use normal_distribution<double>, whose second Box–Muller value waits in the generator for the
    // next small draw; large draws do not touch that cache. This sequence mixes both and both dtypes.
    let file = try #require(rngFile)
    let want = try file.elements("seq.s1234", as: Double.self)
    let shapes = [[3], [1], [20], [2, 3], [16], [5, 7], [1000], [1], [4], [17]]
    let f64: Set<Int> = [3, 8]
    var g = TorchGenerator(seed: 1234, kernel: .avx2)
    var got: [Double] = []
    for (i, shape) in shapes.enumerated() {
        let n = shape.reduce(1, *)
        if f64.contains(i) { got += g.randnDouble(n) } else { got += g.randn(shape: shape).data.map(Double.init) }
    }
    #expect(got.count == want.count)
    #expect(zip(got, want).map { ulpDistance($0, $1) }.max() ?? 0 <= 1)
}

@Test(arguments: [16, 17, 1000, 4099])
func scalarKernelMatchesTorchDefaultCapability(count: Int) throws {
    let file = try #require(rngFile)
    let want = try file.floats("scalar.f32.s0.n\(count)")
    var g = TorchGenerator(seed: 0, kernel: .scalar)
    #expect(maxUlp(g.randn(count), want) <= 1)
}

@Test func manualSeedRestartsTheStreamAndDropsTheCachedSample() {
    var g = TorchGenerator(seed: 5)
    let first = g.randn(3)  // leaves a cached normal behind
    g.manualSeed(5)
    #expect(g.randn(3) == first)
}

@Test func halfPrecisionDrawsMatchTorchForLatentSizes() throws {
    let file = try #require(rngFile)
    for (name, precision) in [("f16", TorchGenerator.ReducedPrecision.float16), ("bf16", .bfloat16)] {
        var g = TorchGenerator(seed: 42)
        let drawn = g.randn(1584, roundedTo: precision)
        let got = try #require(drawn)
        #expect(got.map(\.bitPattern) == (try file.floats("\(name).s42.n1584")).map(\.bitPattern), "\(name)")
    }
    var g = TorchGenerator(seed: 1)
    #expect(g.randn(17, roundedTo: .bfloat16) == nil)
    #expect(g.randn(16) == TorchGenerator(seed: 1).randnCopy(16), "a refused draw must not consume the stream")
    // Values from torch's own conversions: a float16 subnormal, overflow, and a bfloat16 tie.
    #expect(TorchGenerator.round(1e-7, to: .float16) == 0x1p-23)
    #expect(TorchGenerator.round(65520, to: .float16) == .infinity)
    #expect(TorchGenerator.round(1.00390625, to: .bfloat16) == 1)  // halfway: ties to even
}

private extension TorchGenerator {
    func randnCopy(_ n: Int) -> [Float] { var c = self; return c.randn(n) }
}
