// A port of PyTorch's CPU random number generator (ATen `CPUGeneratorImpl` with its `mt19937` engine) and of the
// CPU `normal_` kernel behind `torch.randn(..., generator=g)`, so that a seed draws the same numbers here as in
// a diffusers run on the CPU. References (PyTorch source):
//   aten/src/ATen/core/MT19937RNGEngine.h            engine, seeding
//   aten/src/ATen/CPUGeneratorImpl.cpp               random(), random64(), cached Box–Muller sample
//   aten/src/ATen/core/TransformationHelper.h        uniform_real (24 / 53 bits)
//   aten/src/ATen/core/DistributionsHelper.h         normal_distribution<double> (tensors of < 16 elements)
//   aten/src/ATen/native/cpu/DistributionTemplates.h normal_fill / normal_fill_16 / normal_fill_AVX2 (>= 16)
//   aten/src/ATen/native/cpu/avx_mathfun.h           log256_ps, sincos256_ps (the AVX2 kernel's log and sincos)
import CRandom
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The 32-bit Mersenne Twister exactly as PyTorch's `at::mt19937` (MT19937 with the 2002 initialisation; only the
/// low 32 bits of the seed reach the state, so seeds `n` and `n + 2^32` draw the same stream).
public struct MT19937: Sendable {
    private static let n = 624
    private static let m = 397
    private var state = [UInt32](repeating: 0, count: MT19937.n)
    private var left = 1
    private var next = 0

    public init(seed: UInt64) {
        state[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<MT19937.n {
            let p = state[j - 1]
            state[j] = 1_812_433_253 &* (p ^ (p >> 30)) &+ UInt32(j)
        }
        left = 1
        next = 0
    }

    @inline(__always) private static func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
        (((u & 0x8000_0000) | (v & 0x7fff_ffff)) >> 1) ^ ((v & 1) != 0 ? 0x9908_b0df : 0)
    }

    private mutating func nextState() {
        let n = MT19937.n, m = MT19937.m
        state.withUnsafeMutableBufferPointer { s in
            for j in 0..<(n - m) { s[j] = s[j + m] ^ MT19937.twist(s[j], s[j + 1]) }
            for j in (n - m)..<(n - 1) { s[j] = s[j + m - n] ^ MT19937.twist(s[j], s[j + 1]) }
            s[n - 1] = s[m - 1] ^ MT19937.twist(s[n - 1], s[0])
        }
        left = n
        next = 0
    }

    /// The next 32-bit output.
    @inline(__always) public mutating func next32() -> UInt32 {
        left -= 1
        if left == 0 { nextState() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }
}

/// `torch.Generator("cpu")`: a seeded mt19937 stream plus PyTorch's rules for turning it into uniform and normal
/// values. Draws continue the stream, so several tensors drawn one after the other from one generator (initial
/// latents, then the DPM noises, …) match a PyTorch run that draws the same shapes in the same order.
///
/// ```swift
/// var g = TorchGenerator(seed: 42)            // torch.Generator().manual_seed(42)
/// let latents = g.randn(shape: [1, 13, 16, 60, 90])   // torch.randn(shape, generator=g)
/// ```
public struct TorchGenerator: Sendable {
    /// How tensors of at least 16 float32 elements are turned from uniforms into normals. PyTorch picks this by
    /// CPU: x86-64 builds run the AVX2 kernel (also on AVX-512 machines: `normal_stub` is registered without an
    /// AVX-512 variant), which uses the polynomial `log`/`sincos` of avx_mathfun.h; other CPUs (arm64, or
    /// `ATEN_CPU_CAPABILITY=default`) run the scalar kernel with the C library's `logf`, `cosf`, `sinf`.
    public enum NormalKernel: String, Sendable, CaseIterable {
        case avx2
        case scalar

        /// What PyTorch uses on the architecture this was built for.
        public static var native: NormalKernel {
            #if arch(x86_64)
            return .avx2
            #else
            return .scalar
            #endif
        }
    }

    private var engine: MT19937
    /// The second value of the last Box–Muller pair drawn for a small (< 16 element) tensor: PyTorch keeps it in
    /// the generator (`next_double_normal_sample`) and returns it at the next small draw.
    private var cachedNormal: Double?
    /// The seed given to `manualSeed` (all 64 bits, as `torch.Generator.initial_seed()` reports).
    public private(set) var initialSeed: UInt64
    public var kernel: NormalKernel
    /// Use the C AVX2 implementation of the `.avx2` kernel when the CPU has AVX2 and FMA (bit-identical to the Swift
    /// emulation, which runs otherwise; tests switch this off to check the emulation too).
    var vectorized = true

    /// `torch.Generator().manual_seed(seed)`; PyTorch's default generator seed is 67280421310721.
    public init(seed: UInt64 = 67_280_421_310_721, kernel: NormalKernel = .native) {
        engine = MT19937(seed: seed)
        initialSeed = seed
        self.kernel = kernel
    }

    /// Restarts the stream (also drops the cached normal sample, as PyTorch does).
    public mutating func manualSeed(_ seed: UInt64) {
        engine = MT19937(seed: seed)
        cachedNormal = nil
        initialSeed = seed
    }

    /// `CPUGeneratorImpl::random()`: one 32-bit engine output.
    @inline(__always) public mutating func random() -> UInt32 { engine.next32() }

    /// `CPUGeneratorImpl::random64()`: two outputs, the first one in the high half.
    @inline(__always) public mutating func random64() -> UInt64 {
        let hi = UInt64(engine.next32())
        let lo = UInt64(engine.next32())
        return (hi << 32) | lo
    }

    /// A float32 uniform in [0, 1): the low 24 bits of one 32-bit draw times 2^-24.
    @inline(__always) public mutating func uniformFloat() -> Float {
        Float(random() & 0x00ff_ffff) * (1.0 / 16_777_216.0)
    }

    /// A float64 uniform in [0, 1): the low 53 bits of one 64-bit draw times 2^-53.
    @inline(__always) public mutating func uniformDouble() -> Double {
        Double(random64() & 0x001f_ffff_ffff_ffff) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// One standard normal by `at::normal_distribution<double>` (Box–Muller on two double uniforms, the second
    /// value of the pair cached in the generator). PyTorch uses this for tensors of fewer than 16 elements.
    public mutating func normalDouble() -> Double {
        if let c = cachedNormal {
            cachedNormal = nil
            return c * 1.0 + 0.0
        }
        let u1 = uniformDouble()
        let u2 = uniformDouble()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * sin(theta)
        return r * cos(theta) * 1.0 + 0.0
    }

    // MARK: - randn

    /// `torch.randn(count, generator=g)` in float32.
    public mutating func randn(_ count: Int) -> [Float] {
        guard count > 0 else { return [] }
        guard count >= 16 else { return (0..<count).map { _ in Float(normalDouble()) } }
        var data = [Float](unsafeUninitializedCapacity: count) { buf, n in
            for i in 0..<count { buf[i] = uniformFloat() }
            n = count
        }
        transform(&data, from: 0, blocks: count / 16)
        if count % 16 != 0 {
            // PyTorch redraws the last 16 values (overlapping the last full block) rather than handling a tail.
            let start = count - 16
            for i in start..<count { data[i] = uniformFloat() }
            transform(&data, from: start, blocks: 1)
        }
        return data
    }

    /// `torch.randn(shape, generator=g)` in float32 (row-major, as PyTorch fills a contiguous tensor).
    public mutating func randn(shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: randn(shape.reduce(1, *)))
    }

    /// Half-precision formats a draw can be rounded to.
    public enum ReducedPrecision: Sendable { case float16, bfloat16 }

    /// `torch.randn(count, generator=g, dtype=torch.float16 / torch.bfloat16)` as float32 values, for element counts
    /// that are multiples of 16: PyTorch 2.13 then gives exactly the float32 draw rounded to nearest-even (checked up
    /// to 1,123,200 values). Every latent and VAE-posterior draw of the pipelines qualifies (16 channels). Returns nil,
    /// without drawing, for other counts, whose recomputed tail block PyTorch fills differently for these types.
    public mutating func randn(_ count: Int, roundedTo precision: ReducedPrecision) -> [Float]? {
        guard count % 16 == 0 else { return nil }
        return randn(count).map { TorchGenerator.round($0, to: precision) }
    }

    /// Round-to-nearest-even of a float32 to float16 (including its subnormals) or bfloat16, returned as float32.
    static func round(_ x: Float, to precision: ReducedPrecision) -> Float {
        guard x.isFinite, x != 0 else { return x }
        let mantissaBits: Int, minExponent: Int
        switch precision {
        case .float16: (mantissaBits, minExponent) = (10, -14)
        case .bfloat16: (mantissaBits, minExponent) = (7, -126)
        }
        // The spacing of the target format at x (subnormal spacing below its smallest normal); scaling by a power
        // of two is exact, so rounding the scaled value rounds x.
        let e = max(Int(x.exponent), minExponent)
        let ulp = Float(sign: .plus, exponent: e - mantissaBits, significand: 1)
        let r = (x / ulp).rounded(.toNearestOrEven) * ulp
        if precision == .float16 && abs(r) > 65504 { return r < 0 ? -.infinity : .infinity }
        return r
    }

    /// `torch.randn(count, generator=g, dtype=torch.float64)`.
    public mutating func randnDouble(_ count: Int) -> [Double] {
        guard count > 0 else { return [] }
        guard count >= 16 else { return (0..<count).map { _ in normalDouble() } }
        var data = (0..<count).map { _ in uniformDouble() }
        var i = 0
        while i + 16 <= count {
            TorchGenerator.normal16Double(&data, at: i)
            i += 16
        }
        if count % 16 != 0 {
            let start = count - 16
            for i in start..<count { data[i] = uniformDouble() }
            TorchGenerator.normal16Double(&data, at: start)
        }
        return data
    }

    // MARK: - Box–Muller over blocks of 16 uniforms (u1 = 1 - data[j], u2 = data[j + 8])

    private func transform(_ data: inout [Float], from start: Int, blocks: Int) {
        let kernel = self.kernel, vectorized = self.vectorized
        data.withUnsafeMutableBufferPointer { d in
            if kernel == .avx2, vectorized, let base = d.baseAddress,
               crandom_normal16_avx2(base + start, blocks) != 0 {
                return
            }
            for b in 0..<blocks { TorchGenerator.normal16(d, at: start + 16 * b, kernel: kernel) }
        }
    }

    @inline(__always)
    private static func normal16(_ d: UnsafeMutableBufferPointer<Float>, at base: Int, kernel: NormalKernel) {
        switch kernel {
        case .avx2:
            for j in 0..<8 {
                let u1 = 1 - d[base + j]
                let u2 = d[base + j + 8]
                let radius = (-2 * AVXMathFun.log(u1)).squareRoot()
                let theta = AVXMathFun.twoPi * u2
                let (s, c) = AVXMathFun.sincos(theta)
                // fmadd(n, std = 1, mean = 0) is exact.
                d[base + j] = radius * c
                d[base + j + 8] = radius * s
            }
        case .scalar:
            for j in 0..<8 {
                let u1 = 1 - d[base + j]
                let u2 = d[base + j + 8]
                let radius = (-2 * logf(u1)).squareRoot()
                // `2.0f * c10::pi<double> * u2` is evaluated in double, then stored as float.
                let theta = Float(2.0 * Double.pi * Double(u2))
                d[base + j] = radius * cosf(theta)
                d[base + j + 8] = radius * sinf(theta)
            }
        }
    }

    private static func normal16Double(_ d: inout [Double], at base: Int) {
        for j in 0..<8 {
            let u1 = 1 - d[base + j]
            let u2 = d[base + j + 8]
            let radius = (-2 * log(u1)).squareRoot()
            let theta = 2.0 * Double.pi * u2
            d[base + j] = radius * cos(theta)
            d[base + j + 8] = radius * sin(theta)
        }
    }
}

/// Scalar, bit-exact emulation of the two avx_mathfun.h routines PyTorch's AVX2 `normal_fill` uses (cephes-style
/// `log256_ps` and `sincos256_ps`), including the multiply-adds GCC contracts into FMA instructions when it
/// compiles the AVX2 kernel (-mfma): every Horner step, the `y*z + e*q1` and `e*q2` terms of the log, the
/// Cody–Waite reduction of sincos and its `y*z - z/2` and `y2*x + x` steps. Verified bit-for-bit against
/// torch.randn on millions of values (fixtures/rng).
enum AVXMathFun {
    static let twoPi = Float(bitPattern: 0x40C9_0FDB)  // (float)(2.0f * pi<double>)

    // Constants as C's (float)<double literal>.
    private static let minNormPos = Float(bitPattern: 0x0080_0000)
    private static let sqrtHF = Float(bitPattern: 0x3F35_04F3)  // 0.707106781186547524
    private static let logP: [Float] = [
        0x3D90_21BB, 0xBDEB_D1B8, 0x3DEF_251A, 0xBDFE_5D4F, 0x3E11_E9BF, 0xBE2A_AE50, 0x3E4C_CEAC, 0xBE7F_FFFC,
        0x3EAA_AAAA,
    ].map { Float(bitPattern: $0) }  // 7.0376836292E-2 … 3.3333331174E-1
    private static let logQ1 = Float(bitPattern: 0xB95E_8083)  // -2.12194440e-4
    private static let logQ2 = Float(bitPattern: 0x3F31_8000)  // 0.693359375
    private static let minusDP1 = Float(bitPattern: 0xBF49_0000)  // -0.78515625
    private static let minusDP2 = Float(bitPattern: 0xB97D_A000)  // -2.4187564849853515625e-4
    private static let minusDP3 = Float(bitPattern: 0xB322_2169)  // -3.77489497744594108e-8
    private static let sinP0 = Float(bitPattern: 0xB94C_A1F9)  // -1.9515295891E-4
    private static let sinP1 = Float(bitPattern: 0x3C08_839E)  // 8.3321608736E-3
    private static let sinP2 = Float(bitPattern: 0xBE2A_AAA3)  // -1.6666654611E-1
    private static let cosP0 = Float(bitPattern: 0x37CC_F5CE)  // 2.443315711809948E-005
    private static let cosP1 = Float(bitPattern: 0xBAB6_061A)  // -1.388731625493765E-003
    private static let cosP2 = Float(bitPattern: 0x3D2A_AAA5)  // 4.166664568298827E-002
    private static let fourOverPi = Float(bitPattern: 0x3FA2_F983)  // 1.27323954473516

    /// `log256_ps` on one lane (NaN for x <= 0).
    @inline(__always) static func log(_ input: Float) -> Float {
        let invalid = input <= 0
        var x = input > minNormPos ? input : minNormPos  // _mm256_max_ps(x, min_norm_pos)
        var imm0 = Int32(bitPattern: x.bitPattern >> 23)
        x = Float(bitPattern: (x.bitPattern & ~UInt32(0x7f80_0000)) | Float(0.5).bitPattern)
        imm0 &-= 0x7f
        var e = Float(imm0) + 1
        let mask = x < sqrtHF
        let tmp: Float = mask ? x : 0
        x = x - 1
        e = e - (mask ? 1 : 0)
        x = x + tmp
        let z = x * x
        var y = logP[0]
        for k in 1..<9 { y = logP[k].addingProduct(y, x) }
        y = y * x
        y = (e * logQ1).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = (x + y).addingProduct(e, logQ2)
        return invalid ? Float(bitPattern: 0xffff_ffff) : x
    }

    /// `sincos256_ps` on one lane: (sin x, cos x).
    @inline(__always) static func sincos(_ input: Float) -> (Float, Float) {
        var signSin = input.bitPattern & 0x8000_0000
        var x = Float(bitPattern: input.bitPattern & 0x7fff_ffff)
        var y = x * fourOverPi
        // _mm256_cvttps_epi32: truncation; out of range gives 0x80000000.
        var imm2: Int32 = (y.isFinite && y < 2_147_483_648) ? Int32(y) : Int32.min
        imm2 = (imm2 &+ 1) & ~1
        y = Float(imm2)
        var imm4 = imm2
        let swapSignSin = UInt32(bitPattern: imm2 & 4) << 29
        let polyMask = (imm2 & 2) == 0
        x = x.addingProduct(y, minusDP1)
        x = x.addingProduct(y, minusDP2)
        x = x.addingProduct(y, minusDP3)
        imm4 = imm4 &- 2
        let signCos = UInt32(bitPattern: ~imm4 & 4) << 29
        signSin ^= swapSignSin
        let z = x * x
        var yc = cosP0
        yc = cosP1.addingProduct(yc, z)
        yc = cosP2.addingProduct(yc, z)
        yc = yc * z
        yc = (-(z * 0.5)).addingProduct(yc, z)
        yc = yc + 1
        var ys = sinP0
        ys = sinP1.addingProduct(ys, z)
        ys = sinP2.addingProduct(ys, z)
        ys = ys * z
        ys = x.addingProduct(ys, x)
        let ysin2: Float = polyMask ? ys : 0
        let ysin1: Float = polyMask ? 0 : yc
        ys = ys - ysin2
        yc = yc - ysin1
        let s = ysin1 + ysin2
        let c = yc + ys
        return (Float(bitPattern: s.bitPattern ^ signSin), Float(bitPattern: c.bitPattern ^ signCos))
    }
}
