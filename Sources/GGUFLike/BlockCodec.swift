import CQuant

/// Errors from encoding or decoding tensor data.
public enum BlockCodecError: Error, Equatable, CustomStringConvertible {
    /// The element count is not a whole number of blocks.
    case notWholeBlocks(type: GGMLType, count: Int)
    /// The source and destination buffer sizes disagree.
    case sizeMismatch(type: GGMLType, elements: Int, bytes: Int)
    /// No encoder/decoder for this type.
    case unsupported(GGMLType, operation: String)

    public var description: String {
        switch self {
        case .notWholeBlocks(let t, let n): return "\(n) elements are not a whole number of \(t.name) blocks of \(t.blockSize)"
        case .sizeMismatch(let t, let n, let b): return "\(n) \(t.name) elements need \(t.byteCount(elements: n) ?? -1) bytes, buffer has \(b)"
        case .unsupported(let t, let op): return "\(op) is not implemented for \(t.name)"
        }
    }
}

/// Row/block encoders and decoders for the ggml types, bit-exact with gguf-py's `quants.py` (which is itself
/// bit-exact with ggml's reference `quantize_row_*_ref`): shared/reference/formats.md §2.5–2.7.
///
/// Both directions work on caller-owned buffers and never allocate, so the compute engine can decode one tile at a
/// time. Element counts must be whole blocks (`ne[0]` is always a multiple of the block size in GGUF).
public enum BlockCodec {
    /// Types `quantize` can write.
    public static let quantizable: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1]
    /// Types `dequantize` can read.
    public static let dequantizable: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// Encodes `src` (fp32, a whole number of blocks) as `type` into `dst` (exactly `type.byteCount(src.count)` bytes).
    public static func quantize(_ type: GGMLType, _ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) throws {
        try encode(type, src, into: dst, simd: true)
    }

    /// `quantize`, optionally without the AVX-512 kernels (`simd: false` runs the portable Swift code, which
    /// CPUs without AVX-512 use; the tests check both against gguf-py).
    static func encode(_ type: GGMLType, _ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer, simd: Bool) throws {
        let n = src.count
        guard n % type.blockSize == 0 else { throw BlockCodecError.notWholeBlocks(type: type, count: n) }
        guard type.byteCount(elements: n) == dst.count else { throw BlockCodecError.sizeMismatch(type: type, elements: n, bytes: dst.count) }
        guard n > 0, let s = src.baseAddress, let d = dst.baseAddress else { return }
        let blocks = n / type.blockSize
        switch type {
        case .f32: d.copyMemory(from: s, byteCount: n * 4)
        case .f16:
            let o = d.assumingMemoryBound(to: UInt16.self)
            if !simd || cq_f32_to_f16(s, o, n) == 0 { for i in 0..<n { o[i] = Float16(s[i]).bitPattern.littleEndian } }
        case .bf16:
            let o = d.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n { o[i] = bf16Bits(s[i]).littleEndian }
        case .q8_0:
            if !simd || cq_quantize_q8_0(s, d.assumingMemoryBound(to: UInt8.self), blocks) == 0 {
                for b in 0..<blocks { Q8_0.quantize(s + 32 * b, d + 34 * b) }
            }
        case .q4_0:
            if !simd || cq_quantize_q4_0(s, d.assumingMemoryBound(to: UInt8.self), blocks) == 0 {
                for b in 0..<blocks { Q4_0.quantize(s + 32 * b, d + 18 * b) }
            }
        case .q4_1:
            if !simd || cq_quantize_q4_1(s, d.assumingMemoryBound(to: UInt8.self), blocks) == 0 {
                for b in 0..<blocks { Q4_1.quantize(s + 32 * b, d + 20 * b) }
            }
        case .q5_0:
            if !simd || cq_quantize_q5_0(s, d.assumingMemoryBound(to: UInt8.self), blocks) == 0 {
                for b in 0..<blocks { Q5_0.quantize(s + 32 * b, d + 22 * b) }
            }
        case .q5_1:
            if !simd || cq_quantize_q5_1(s, d.assumingMemoryBound(to: UInt8.self), blocks) == 0 {
                for b in 0..<blocks { Q5_1.quantize(s + 32 * b, d + 24 * b) }
            }
        default: throw BlockCodecError.unsupported(type, operation: "quantization")
        }
    }

    /// Decodes `src` (`type`-encoded, a whole number of blocks) into fp32 `dst`.
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) throws {
        try decode(type, src, into: dst, simd: true)
    }

    /// `dequantize`, optionally without the AVX-512 kernels (see `encode`).
    static func decode(_ type: GGMLType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>, simd: Bool) throws {
        let n = dst.count
        guard n % type.blockSize == 0 else { throw BlockCodecError.notWholeBlocks(type: type, count: n) }
        guard type.byteCount(elements: n) == src.count else { throw BlockCodecError.sizeMismatch(type: type, elements: n, bytes: src.count) }
        guard n > 0, let s = src.baseAddress, let d = dst.baseAddress else { return }
        let blocks = n / type.blockSize
        switch type {
        case .f32: UnsafeMutableRawPointer(d).copyMemory(from: s, byteCount: n * 4)
        case .f16:
            if !simd || cq_f16_to_f32(s.assumingMemoryBound(to: UInt16.self), d, n) == 0 {
                for i in 0..<n { d[i] = Float(Float16(bitPattern: UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            }
        case .bf16:
            if !simd || cq_bf16_to_f32(s.assumingMemoryBound(to: UInt16.self), d, n) == 0 {
                for i in 0..<n { d[i] = Float(bitPattern: UInt32(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            }
        case .q8_0:
            if !simd || cq_dequantize_q8_0(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q8_0.dequantize(s + 34 * b, d + 32 * b) }
            }
        case .q4_0:
            if !simd || cq_dequantize_q4_0(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q4_0.dequantize(s + 18 * b, d + 32 * b) }
            }
        case .q4_1:
            if !simd || cq_dequantize_q4_1(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q4_1.dequantize(s + 20 * b, d + 32 * b) }
            }
        case .q5_0:
            if !simd || cq_dequantize_q5_0(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q5_0.dequantize(s + 22 * b, d + 32 * b) }
            }
        case .q5_1:
            if !simd || cq_dequantize_q5_1(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q5_1.dequantize(s + 24 * b, d + 32 * b) }
            }
        case .q4_K: for b in 0..<blocks { Q4_K.dequantize(s + 144 * b, d + 256 * b) }
        case .q5_K:
            if !simd || cq_dequantize_q5_k(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q5_K.dequantize(s + 176 * b, d + 256 * b) }
            }
        case .q6_K:
            if !simd || cq_dequantize_q6_k(s.assumingMemoryBound(to: UInt8.self), d, blocks) == 0 {
                for b in 0..<blocks { Q6_K.dequantize(s + 210 * b, d + 256 * b) }
            }
        default: throw BlockCodecError.unsupported(type, operation: "dequantization")
        }
    }

    /// Convenience: encodes an array.
    public static func quantize(_ type: GGMLType, _ values: [Float]) throws -> [UInt8] {
        guard let bytes = type.byteCount(elements: values.count) else { throw BlockCodecError.notWholeBlocks(type: type, count: values.count) }
        var out = [UInt8](repeating: 0, count: bytes)
        try values.withUnsafeBufferPointer { src in try out.withUnsafeMutableBytes { try quantize(type, src, into: $0) } }
        return out
    }

    /// Convenience: decodes bytes into an array of `count` floats.
    public static func dequantize(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBufferPointer { try dequantize(type, bytes, into: $0) }
        return out
    }

    /// fp32 → bf16 bits with round-to-nearest-even and NaN forced quiet (ggml_compute_fp32_to_bf16).
    @inline(__always) public static func bf16Bits(_ x: Float) -> UInt16 {
        var n = x.bitPattern
        if n & 0x7FFF_FFFF > 0x7F80_0000 { n = (n & 0xFFFF_0000) | (64 << 16) }
        return UInt16(truncatingIfNeeded: (UInt64(n) + UInt64(0x7FFF + ((n >> 16) & 1))) >> 16)
    }
}

// MARK: - Shared pieces

@inline(__always) func storeF16(_ v: Float, _ p: UnsafeMutableRawPointer) {
    p.storeBytes(of: Float16(v).bitPattern.littleEndian, as: UInt16.self)
}

@inline(__always) func loadF16(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
    Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
}

/// C `roundf` (half away from zero), as gguf-py's `np_roundf`.
@inline(__always) func roundHalfAway(_ x: Float) -> Float {
    let a = abs(x)
    let f = a.rounded(.down)
    let r = f + (2 * (a - f)).rounded(.down)
    return x < 0 ? -r : (x > 0 ? r : 0)
}

/// numpy's `float32.astype(uint8/int8)` on x86 (what gguf-py's quantizers do before clipping): truncation through a
/// 32-bit integer conversion (cvttss2si), keeping the low byte. NaN, ±inf and values outside Int32 become
/// 0x80000000, whose low byte is 0. They occur when a block's scale is subnormal (1/d = inf) or when max − min
/// overflows; Swift's `UInt8(_: Float)` would trap there instead.
@inline(__always) func npLowByte(_ v: Float) -> UInt8 {
    guard v > -2_147_483_904, v < 2_147_483_648 else { return 0 }  // NaN fails both comparisons
    return UInt8(truncatingIfNeeded: Int32(v))
}

/// Index of the first element with the largest magnitude (numpy `argmax(abs)`).
@inline(__always) func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var best = x[0]
    var bestAbs = abs(x[0])
    for i in 1..<n where abs(x[i]) > bestAbs { best = x[i]; bestAbs = abs(x[i]) }
    return best
}

// MARK: - Row API

extension GGMLType {
    /// Decodes one stored row (or any whole number of blocks) of this type into fp32 `into`; `row` holds exactly
    /// `byteCount(elements: into.count)` bytes. Allocation-free: the engine calls it per weight panel.
    @inlinable public func dequantize(row: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<Float>) throws {
        try BlockCodec.dequantize(self, row, into: out)
    }

    /// Encodes one fp32 row (a whole number of blocks) as this type into `into`
    /// (exactly `byteCount(elements: row.count)` bytes), bit-exact with gguf-py. Allocation-free.
    @inlinable public func quantize(row: UnsafeBufferPointer<Float>, into out: UnsafeMutableRawBufferPointer) throws {
        try BlockCodec.quantize(self, row, into: out)
    }
}
