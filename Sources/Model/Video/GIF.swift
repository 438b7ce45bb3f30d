// Animated GIF89a writer: a fixed 6x7x6 color cube (252 colors; green gets 7 levels because the eye resolves it
// best), nearest-level quantization, our own LZW encoder, the NETSCAPE2.0 extension for endless looping, and a
// per-frame delay of (1000 / fps) ms in whole centiseconds as PIL writes diffusers' `export_to_gif`.

public enum GIF {
    static let levels = (r: 6, g: 7, b: 6)

    /// The 256-entry global color table (the 4 unused entries are black).
    static let palette: [UInt8] = {
        var p = [UInt8](repeating: 0, count: 768)
        var i = 0
        for r in 0..<levels.r {
            for g in 0..<levels.g {
                for b in 0..<levels.b {
                    p[3 * i] = UInt8((r * 255 + (levels.r - 1) / 2) / (levels.r - 1))
                    p[3 * i + 1] = UInt8((g * 255 + (levels.g - 1) / 2) / (levels.g - 1))
                    p[3 * i + 2] = UInt8((b * 255 + (levels.b - 1) / 2) / (levels.b - 1))
                    i += 1
                }
            }
        }
        return p
    }()

    /// Palette index of the cube color nearest to (r, g, b).
    @inline(__always) static func index(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let ri = (Int(r) * (levels.r - 1) + 127) / 255
        let gi = (Int(g) * (levels.g - 1) + 127) / 255
        let bi = (Int(b) * (levels.b - 1) + 127) / 255
        return UInt8((ri * levels.g + gi) * levels.b + bi)
    }

    /// Frame delay in centiseconds for `fps` (PIL: duration = 1000 // fps ms, stored as duration // 10).
    public static func delay(fps: Double) -> UInt16 {
        UInt16(clamping: Int((1000 / fps).rounded(.down)) / 10)
    }

    /// Encodes frames (all the same size, at most 65535 pixels a side) as a looping GIF.
    public static func encode(_ frames: [RGBImage], fps: Double) throws -> [UInt8] {
        guard let first = frames.first else { throw VideoError.noFrames }
        guard fps > 0, fps.isFinite else { throw VideoError.invalidFPS(fps) }
        let (w, h) = (first.width, first.height)
        guard w <= 65535, h <= 65535 else { throw VideoError.imageTooLarge(width: w, height: h, limit: "65535x65535 (GIF)") }
        var out = Array("GIF89a".utf8)
        out += le16(w) + le16(h) + [0xF7, 0, 0]  // global table of 256 entries, 8-bit color resolution
        out += palette
        out += [0x21, 0xFF, 0x0B] + Array("NETSCAPE2.0".utf8) + [0x03, 0x01, 0x00, 0x00, 0x00]
        let d = delay(fps: fps)
        for (i, f) in frames.enumerated() {
            guard f.width == w, f.height == h else {
                throw VideoError.frameSizesDiffer(index: i, expected: [w, h], found: [f.width, f.height])
            }
            out += [0x21, 0xF9, 0x04, 0x04, UInt8(d & 0xff), UInt8(d >> 8), 0x00, 0x00]  // disposal: leave in place
            out += [0x2C] + le16(0) + le16(0) + le16(w) + le16(h) + [0x00]
            var indices = [UInt8](repeating: 0, count: w * h)
            for p in 0..<(w * h) { indices[p] = index(f.pixels[3 * p], f.pixels[3 * p + 1], f.pixels[3 * p + 2]) }
            out.append(8)  // LZW minimum code size
            let data = lzw(indices, minCodeSize: 8)
            var k = 0
            while k < data.count {
                let n = min(255, data.count - k)
                out.append(UInt8(n))
                out += data[k..<(k + n)]
                k += n
            }
            out.append(0)
        }
        out.append(0x3B)
        return out
    }

    public static func write(_ frames: [RGBImage], fps: Double, to path: String) throws {
        try writeAtomically(try encode(frames, fps: fps), to: path)
    }

    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }

    /// GIF-flavoured LZW as the classic `compress`-derived GIF encoders write it: codes LSB first, the code size
    /// grows when the next free code no longer fits (checked after each code is written, so the decoder, which adds
    /// its entries one code later, widens at the same point), and a clear code resets the table once all 4096
    /// codes are taken. The dictionary is a trie (first child / next sibling per code).
    static func lzw(_ input: [UInt8], minCodeSize: Int) -> [UInt8] {
        let clear = 1 << minCodeSize, end = clear + 1
        let maxCodes = 4096
        var firstChild = [Int16](repeating: -1, count: maxCodes)
        var nextSibling = [Int16](repeating: -1, count: maxCodes)
        var suffix = [UInt8](repeating: 0, count: maxCodes)
        var nextCode = end + 1
        var codeSize = minCodeSize + 1
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var bitBuffer: UInt32 = 0, bitCount = 0
        func output(_ code: Int) {
            bitBuffer |= UInt32(code) << UInt32(bitCount)
            bitCount += codeSize
            while bitCount >= 8 {
                out.append(UInt8(bitBuffer & 0xff))
                bitBuffer >>= 8
                bitCount -= 8
            }
            if code == clear {
                codeSize = minCodeSize + 1
            } else if nextCode >= (1 << codeSize) && codeSize < 12 {
                codeSize += 1
            }
        }
        output(clear)
        if let head = input.first {
            var prefix = Int(head)
            for k in 1..<input.count {
                let c = input[k]
                var child = Int(firstChild[prefix])
                while child >= 0 && suffix[child] != c { child = Int(nextSibling[child]) }
                if child >= 0 {
                    prefix = child
                    continue
                }
                output(prefix)
                if nextCode < maxCodes {
                    suffix[nextCode] = c
                    firstChild[nextCode] = -1
                    nextSibling[nextCode] = firstChild[prefix]
                    firstChild[prefix] = Int16(nextCode)
                    nextCode += 1
                } else {
                    for i in 0..<clear { firstChild[i] = -1 }
                    nextCode = end + 1
                    output(clear)
                }
                prefix = Int(c)
            }
            output(prefix)
        }
        output(end)
        if bitCount > 0 { out.append(UInt8(bitBuffer & 0xff)) }
        return out
    }
}
