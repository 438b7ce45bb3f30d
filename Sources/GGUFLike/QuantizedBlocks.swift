// One namespace per block format: `quantize(src, dst)` encodes one block of fp32 values, `dequantize(src, dst)`
// decodes one. Arithmetic order follows gguf-py's quants.py step by step (fp32 throughout, fp16 scales rounded
// to nearest even), which is what makes the results bit-exact with it and with ggml.

/// Q8_0: `d: f16`, `qs: int8[32]`; `y = d·q`. 34 bytes per 32 values.
public enum Q8_0 {
    @inline(__always) public static func quantize(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for i in 0..<32 { amax = max(amax, abs(x[i])) }
        let d = amax / 127
        let id: Float = d == 0 ? 0 : 1 / d
        storeF16(d, out)
        let q = (out + 2).assumingMemoryBound(to: Int8.self)
        for i in 0..<32 { q[i] = Int8(bitPattern: npLowByte(roundHalfAway(x[i] * id))) }
    }

    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b)
        let q = (b + 2).assumingMemoryBound(to: Int8.self)
        for i in 0..<32 { y[i] = Float(q[i]) * d }
    }
}

/// Q4_0: `d: f16`, `qs: u8[16]` (nibbles: low = element j, high = element j+16); `y = d·(q − 8)`.
public enum Q4_0 {
    @inline(__always) public static func quantize(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        let m = signedAbsMax(x, 32)
        let d = m / -8
        let id: Float = d == 0 ? 0 : 1 / d
        storeF16(d, out)
        let qs = (out + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q0 = min(15, npLowByte((x[j] * id + 8.5).rounded(.towardZero)))
            let q1 = min(15, npLowByte((x[j + 16] * id + 8.5).rounded(.towardZero)))
            qs[j] = q0 | (q1 << 4)
        }
    }

    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b)
        let qs = (b + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            y[j] = d * Float(Int(qs[j] & 0x0F) - 8)
            y[j + 16] = d * Float(Int(qs[j] >> 4) - 8)
        }
    }
}

/// Q4_1: `d: f16`, `m: f16`, `qs: u8[16]`; `y = d·q + m`.
public enum Q4_1 {
    @inline(__always) public static func quantize(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var lo = x[0], hi = x[0]
        for i in 1..<32 { lo = min(lo, x[i]); hi = max(hi, x[i]) }
        let d = (hi - lo) / 15
        let id: Float = d == 0 ? 0 : 1 / d
        storeF16(d, out)
        storeF16(lo, out + 2)
        let qs = (out + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q0 = min(15, npLowByte(((x[j] - lo) * id + 0.5).rounded(.towardZero)))
            let q1 = min(15, npLowByte(((x[j + 16] - lo) * id + 0.5).rounded(.towardZero)))
            qs[j] = q0 | (q1 << 4)
        }
    }

    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b), m = loadF16(b, 2)
        let qs = (b + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            y[j] = d * Float(qs[j] & 0x0F) + m
            y[j + 16] = d * Float(qs[j] >> 4) + m
        }
    }
}

/// Q5_0: `d: f16`, `qh: u32` (bit k = 5th bit of element k), `qs: u8[16]`; `y = d·(q − 16)`.
public enum Q5_0 {
    @inline(__always) public static func quantize(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        let m = signedAbsMax(x, 32)
        let d = m / -16
        let id: Float = d == 0 ? 0 : 1 / d
        storeF16(d, out)
        var qh: UInt32 = 0
        let qs = (out + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q0 = min(31, npLowByte((x[j] * id + 16.5).rounded(.towardZero)))
            let q1 = min(31, npLowByte((x[j + 16] * id + 16.5).rounded(.towardZero)))
            qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4)
            qh |= UInt32(q0 >> 4) << UInt32(j)
            qh |= UInt32(q1 >> 4) << UInt32(j + 16)
        }
        (out + 2).storeBytes(of: qh.littleEndian, as: UInt32.self)
    }

    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b)
        let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let qs = (b + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let h0 = UInt8((qh >> UInt32(j)) & 1) << 4
            let h1 = UInt8((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(Int((qs[j] & 0x0F) | h0) - 16)
            y[j + 16] = d * Float(Int((qs[j] >> 4) | h1) - 16)
        }
    }
}

/// Q5_1: `d: f16`, `m: f16`, `qh: u32`, `qs: u8[16]`; `y = d·q + m`.
public enum Q5_1 {
    @inline(__always) public static func quantize(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var lo = x[0], hi = x[0]
        for i in 1..<32 { lo = min(lo, x[i]); hi = max(hi, x[i]) }
        let d = (hi - lo) / 31
        let id: Float = d == 0 ? 0 : 1 / d
        storeF16(d, out)
        storeF16(lo, out + 2)
        var qh: UInt32 = 0
        let qs = (out + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q0 = min(31, npLowByte(((x[j] - lo) * id + 0.5).rounded(.towardZero)))
            let q1 = min(31, npLowByte(((x[j + 16] - lo) * id + 0.5).rounded(.towardZero)))
            qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4)
            qh |= UInt32(q0 >> 4) << UInt32(j)
            qh |= UInt32(q1 >> 4) << UInt32(j + 16)
        }
        (out + 4).storeBytes(of: qh.littleEndian, as: UInt32.self)
    }

    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b), m = loadF16(b, 2)
        let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let qs = (b + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let h0 = UInt8((qh >> UInt32(j)) & 1) << 4
            let h1 = UInt8((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float((qs[j] & 0x0F) | h0) + m
            y[j + 16] = d * Float((qs[j] >> 4) | h1) + m
        }
    }
}

/// Q4_K: 256 values in 8 sub-blocks of 32 with 6-bit scales and mins: `y = (d·sc)·q − dmin·m`.
public enum Q4_K {
    /// Unpacks the 12 scale bytes into eight 6-bit scales and eight 6-bit mins.
    @inline(__always) static func scaleMin(_ s: UnsafePointer<UInt8>, _ j: Int) -> (Float, Float) {
        if j < 4 { return (Float(s[j] & 63), Float(s[j + 4] & 63)) }
        return (Float((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)), Float((s[j + 4] >> 4) | ((s[j] >> 6) << 4)))
    }

    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b), dmin = loadF16(b, 2)
        let scales = (b + 4).assumingMemoryBound(to: UInt8.self)
        let qs = (b + 16).assumingMemoryBound(to: UInt8.self)
        for c in 0..<4 {
            let (sc0, m0) = scaleMin(scales, 2 * c)
            let (sc1, m1) = scaleMin(scales, 2 * c + 1)
            let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
            for l in 0..<32 {
                let q = qs[32 * c + l]
                y[64 * c + l] = d0 * Float(q & 0x0F) - dm0
                y[64 * c + 32 + l] = d1 * Float(q >> 4) - dm1
            }
        }
    }
}

/// Q5_K: Q4_K plus a fifth bit per value from `qh`.
public enum Q5_K {
    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadF16(b), dmin = loadF16(b, 2)
        let scales = (b + 4).assumingMemoryBound(to: UInt8.self)
        let qh = (b + 16).assumingMemoryBound(to: UInt8.self)
        let qs = (b + 48).assumingMemoryBound(to: UInt8.self)
        for c in 0..<4 {
            let (sc0, m0) = Q4_K.scaleMin(scales, 2 * c)
            let (sc1, m1) = Q4_K.scaleMin(scales, 2 * c + 1)
            let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
            for l in 0..<32 {
                let q = qs[32 * c + l]
                let h0 = ((qh[l] >> UInt8(2 * c)) & 1) << 4
                let h1 = ((qh[l] >> UInt8(2 * c + 1)) & 1) << 4
                y[64 * c + l] = d0 * Float((q & 0x0F) | h0) - dm0
                y[64 * c + 32 + l] = d1 * Float((q >> 4) | h1) - dm1
            }
        }
    }
}

/// Q6_K: `ql: u8[128]`, `qh: u8[64]`, `scales: i8[16]`, `d: f16` (last); `y = (d·scale)·(q − 32)`.
public enum Q6_K {
    @inline(__always) public static func dequantize(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let ql = b.assumingMemoryBound(to: UInt8.self)
        let qh = (b + 128).assumingMemoryBound(to: UInt8.self)
        let sc = (b + 192).assumingMemoryBound(to: Int8.self)
        let d = loadF16(b, 208)
        for n in 0..<2 {
            let l0 = ql + 64 * n, h0 = qh + 32 * n, y0 = y + 128 * n
            for l in 0..<32 {
                let q1 = Int(l0[l] & 0x0F | ((h0[l] >> 0) & 3) << 4) - 32
                let q2 = Int(l0[l + 32] & 0x0F | ((h0[l] >> 2) & 3) << 4) - 32
                let q3 = Int(l0[l] >> 4 | ((h0[l] >> 4) & 3) << 4) - 32
                let q4 = Int(l0[l + 32] >> 4 | ((h0[l] >> 6) & 3) << 4) - 32
                y0[l] = (d * Float(sc[8 * n + l / 16])) * Float(q1)
                y0[l + 32] = (d * Float(sc[8 * n + 2 + l / 16])) * Float(q2)
                y0[l + 64] = (d * Float(sc[8 * n + 4 + l / 16])) * Float(q3)
                y0[l + 96] = (d * Float(sc[8 * n + 6 + l / 16])) * Float(q4)
            }
        }
    }
}
