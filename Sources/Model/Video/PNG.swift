// PNG (ISO/IEC 15948) 8-bit RGB writer and a strict reader for the `--image` input of image-to-video.
// zlib does the deflate; chunk CRCs are checked on read. The reader accepts every PNG color type and bit depth,
// interlaced or not, and returns what PIL's `convert("RGB")` gives (diffusers' `load_image`): alpha dropped,
// low-depth gray scaled, 16-bit samples reduced as PIL reduces them.
import CZlib
import SafeTensors

/// Why a PNG file was rejected. Offsets are byte positions in the file.
public enum PNGError: Error, Equatable, CustomStringConvertible {
    case notPNG
    case truncatedChunk(offset: Int, needed: Int, available: Int)
    case badCRC(chunk: String, offset: Int)
    case missingIHDR
    case badIHDR(reason: String)
    case unsupported(String)
    case missingPalette
    case paletteIndexOutOfRange(index: Int, paletteSize: Int)
    case missingImageData
    case missingIEND
    case corruptImageData(zlibCode: Int32)
    case imageDataSize(expected: Int, found: Int)
    case imageDataTooLong(expected: Int)
    case badFilter(row: Int, type: UInt8)
    case tooLarge(width: Int, height: Int)

    public var description: String {
        switch self {
        case .notPNG: return "the file does not start with the PNG signature"
        case .truncatedChunk(let o, let n, let a): return "the chunk at offset \(o) needs \(n) bytes but only \(a) remain"
        case .badCRC(let c, let o): return "the CRC of chunk \(c) at offset \(o) does not match its contents"
        case .missingIHDR: return "the first chunk is not IHDR"
        case .badIHDR(let r): return "invalid IHDR: \(r)"
        case .unsupported(let w): return "unsupported PNG: \(w)"
        case .missingPalette: return "a palette image has no PLTE chunk"
        case .paletteIndexOutOfRange(let i, let n): return "palette index \(i) is outside the \(n)-entry palette"
        case .missingImageData: return "the file has no IDAT chunk"
        case .missingIEND: return "the file ends without an IEND chunk"
        case .corruptImageData(let c): return "the compressed image data is corrupt (zlib code \(c))"
        case .imageDataSize(let e, let f): return "the image data inflates to \(f) bytes, expected \(e)"
        case .imageDataTooLong(let e): return "the image data inflates to more than the \(e) bytes the header implies"
        case .badFilter(let r, let t): return "row \(r) uses unknown filter type \(t)"
        case .tooLarge(let w, let h): return "a \(w)x\(h) image is larger than this reader accepts"
        }
    }
}

public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Largest image the reader accepts (pixels); guards the inflate buffer against hostile headers.
    public static let maxPixels = 1 << 28

    // MARK: Writing

    /// Encodes an 8-bit RGB PNG (adaptive per-row filters, zlib level 6).
    public static func encode(_ image: RGBImage) throws -> [UInt8] {
        let stride = image.width * 3
        var raw = [UInt8](repeating: 0, count: image.height * (stride + 1))
        var prior = [UInt8](repeating: 0, count: stride)
        var candidate = [UInt8](repeating: 0, count: stride)
        var best = [UInt8](repeating: 0, count: stride)
        for y in 0..<image.height {
            let row = Array(image.pixels[(y * stride)..<((y + 1) * stride)])
            var bestType: UInt8 = 0
            var bestScore = Int.max
            for type in UInt8(0)...4 {
                filterRow(type, row, prior, bpp: 3, into: &candidate)
                var score = 0
                for b in candidate { score += b < 128 ? Int(b) : 256 - Int(b) }
                if score < bestScore { bestScore = score; bestType = type; swap(&best, &candidate) }
            }
            raw[y * (stride + 1)] = bestType
            raw.replaceSubrange((y * (stride + 1) + 1)..<((y + 1) * (stride + 1)), with: best)
            prior = row
        }
        var out = signature
        var ihdr = be32(UInt32(image.width)) + be32(UInt32(image.height))
        ihdr += [8, 2, 0, 0, 0]  // bit depth 8, RGB, deflate, adaptive filtering, no interlace
        appendChunk("IHDR", ihdr, to: &out)
        appendChunk("IDAT", try deflate(raw), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// Writes `image` to `path` through a temporary file renamed into place.
    public static func write(_ image: RGBImage, to path: String) throws {
        try writeAtomically(try encode(image), to: path)
    }

    private static func filterRow(_ type: UInt8, _ row: [UInt8], _ prior: [UInt8], bpp: Int, into out: inout [UInt8]) {
        for i in 0..<row.count {
            let a = i >= bpp ? row[i - bpp] : 0
            let b = prior[i]
            let c = i >= bpp ? prior[i - bpp] : 0
            switch type {
            case 1: out[i] = row[i] &- a
            case 2: out[i] = row[i] &- b
            case 3: out[i] = row[i] &- UInt8((Int(a) + Int(b)) / 2)
            case 4: out[i] = row[i] &- paeth(a, b, c)
            default: out[i] = row[i]
            }
        }
    }

    @inline(__always) static func paeth(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8 {
        let p = Int(a) + Int(b) - Int(c)
        let pa = abs(p - Int(a)), pb = abs(p - Int(b)), pc = abs(p - Int(c))
        if pa <= pb && pa <= pc { return a }
        return pb <= pc ? b : c
    }

    static func deflate(_ data: [UInt8]) throws -> [UInt8] {
        var destLen = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(destLen))
        let code = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in compress2(o.baseAddress, &destLen, i.baseAddress, uLong(i.count), 6) }
        }
        guard code == Z_OK else { throw VideoError.compressionFailed(code: code) }
        out.removeSubrange(Int(destLen)...)
        return out
    }

    static func crc(_ type: [UInt8], _ data: [UInt8]) -> UInt32 {
        var c = crc32(0, nil, 0)
        c = type.withUnsafeBufferPointer { crc32(c, $0.baseAddress, uInt($0.count)) }
        if !data.isEmpty { c = data.withUnsafeBufferPointer { crc32(c, $0.baseAddress, uInt($0.count)) } }
        return UInt32(c)
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        let t = Array(type.utf8)
        out += be32(UInt32(data.count)) + t + data + be32(crc(t, data))
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    // MARK: Reading

    /// Reads a PNG file as RGB.
    public static func read(path: String) throws -> RGBImage {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw VideoError.readFailed(path: path, reason: "\(error)") }
        return try decode(Array(file.bytes))
    }

    /// Decodes PNG bytes as RGB. Every length is checked against the bytes that remain; CRCs are verified.
    public static func decode(_ bytes: [UInt8]) throws -> RGBImage {
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw PNGError.notPNG }
        var pos = 8
        var header: (w: Int, h: Int, depth: UInt8, color: UInt8)?
        var interlaced = false
        var palette: [UInt8]?
        var idat: [UInt8] = []
        var sawIDAT = false, sawIEND = false
        while pos < bytes.count {
            let chunkStart = pos
            guard bytes.count - pos >= 12 else {
                throw PNGError.truncatedChunk(offset: chunkStart, needed: 12, available: bytes.count - pos)
            }
            let length = Int(readBE32(bytes, pos))
            guard length <= 0x7fff_ffff, bytes.count - pos - 12 >= length else {
                throw PNGError.truncatedChunk(offset: chunkStart, needed: length + 12, available: bytes.count - pos)
            }
            let type = Array(bytes[(pos + 4)..<(pos + 8)])
            let data = Array(bytes[(pos + 8)..<(pos + 8 + length)])
            let stored = readBE32(bytes, pos + 8 + length)
            let name = String(decoding: type, as: UTF8.self)
            guard crc(type, data) == stored else { throw PNGError.badCRC(chunk: name, offset: chunkStart) }
            pos += 12 + length
            if header == nil && name != "IHDR" { throw PNGError.missingIHDR }
            switch name {
            case "IHDR":
                guard header == nil else { throw PNGError.badIHDR(reason: "a second IHDR chunk") }
                guard length == 13 else { throw PNGError.badIHDR(reason: "length \(length), expected 13") }
                let w = Int(readBE32(data, 0)), h = Int(readBE32(data, 4))
                let depth = data[8], color = data[9]
                guard w > 0, h > 0, w <= 0x7fff_ffff, h <= 0x7fff_ffff else {
                    throw PNGError.badIHDR(reason: "size \(w)x\(h)")
                }
                guard [0, 2, 3, 4, 6].contains(color) else { throw PNGError.badIHDR(reason: "color type \(color)") }
                guard data[10] == 0, data[11] == 0 else {
                    throw PNGError.badIHDR(reason: "compression \(data[10]) / filter method \(data[11])")
                }
                let allowed: [UInt8: [UInt8]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard allowed[color]?.contains(depth) == true else {
                    throw PNGError.badIHDR(reason: "bit depth \(depth) with color type \(color)")
                }
                guard data[12] <= 1 else { throw PNGError.badIHDR(reason: "interlace method \(data[12])") }
                guard w.multipliedReportingOverflow(by: h).partialValue <= maxPixels, w <= maxPixels, h <= maxPixels else {
                    throw PNGError.tooLarge(width: w, height: h)
                }
                interlaced = data[12] == 1
                header = (w, h, depth, color)
            case "PLTE":
                guard length % 3 == 0, length > 0, length <= 768 else {
                    throw PNGError.unsupported("a PLTE chunk of \(length) bytes")
                }
                palette = data
            case "IDAT":
                sawIDAT = true
                idat += data
            case "IEND":
                sawIEND = true
            default:
                // Critical chunks we do not know cannot be skipped (PNG spec 5.4: uppercase first letter).
                if type[0] & 0x20 == 0 { throw PNGError.unsupported("critical chunk \(name)") }
            }
            if sawIEND { break }
        }
        guard let hd = header else { throw PNGError.missingIHDR }
        guard sawIDAT else { throw PNGError.missingImageData }
        guard sawIEND else { throw PNGError.missingIEND }
        let channels: Int
        switch hd.color {
        case 0, 3: channels = 1
        case 4: channels = 2
        case 6: channels = 4
        default: channels = 3
        }
        let pal = palette ?? []
        if hd.color == 3 && pal.isEmpty { throw PNGError.missingPalette }
        let depth = Int(hd.depth)
        let bitsPerPixel = channels * depth
        let bpp = max(1, bitsPerPixel / 8)  // filter distance in bytes
        func rowBytes(_ pixels: Int) -> Int { (pixels * bitsPerPixel + 7) / 8 }
        // (x0, y0, dx, dy) of each pass: one full pass, or the seven Adam7 passes.
        let passes: [(Int, Int, Int, Int)] = interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)]
        func passSize(_ p: (Int, Int, Int, Int)) -> (Int, Int) {
            (hd.w > p.0 ? (hd.w - p.0 + p.2 - 1) / p.2 : 0, hd.h > p.1 ? (hd.h - p.1 + p.3 - 1) / p.3 : 0)
        }
        var expected = 0
        for p in passes {
            let (pw, ph) = passSize(p)
            if pw > 0 && ph > 0 { expected += ph * (rowBytes(pw) + 1) }
        }
        var raw = [UInt8](repeating: 0, count: expected)
        var destLen = uLongf(expected)
        let code = raw.withUnsafeMutableBufferPointer { o in
            idat.withUnsafeBufferPointer { i in uncompress(o.baseAddress, &destLen, i.baseAddress, uLong(i.count)) }
        }
        if code == Z_BUF_ERROR && Int(destLen) == expected { throw PNGError.imageDataTooLong(expected: expected) }
        guard code == Z_OK else { throw PNGError.corruptImageData(zlibCode: code) }
        guard Int(destLen) == expected else { throw PNGError.imageDataSize(expected: expected, found: Int(destLen)) }

        var rgb = [UInt8](repeating: 0, count: hd.w * hd.h * 3)
        var offset = 0
        var rowIndex = 0
        for p in passes {
            let (pw, ph) = passSize(p)
            guard pw > 0 && ph > 0 else { continue }
            let stride = rowBytes(pw)
            var prior = [UInt8](repeating: 0, count: stride)
            for py in 0..<ph {
                let type = raw[offset]
                var row = Array(raw[(offset + 1)..<(offset + 1 + stride)])
                offset += stride + 1
                try unfilter(&row, prior: prior, type: type, bpp: bpp, rowIndex: rowIndex)
                rowIndex += 1
                let y = p.1 + py * p.3
                for px in 0..<pw {
                    let x = p.0 + px * p.2
                    let (r, g, b) = try pixel(row, px, color: hd.color, depth: depth, channels: channels, palette: pal)
                    let o = (y * hd.w + x) * 3
                    rgb[o] = r; rgb[o + 1] = g; rgb[o + 2] = b
                }
                prior = row
            }
        }
        return try RGBImage(width: hd.w, height: hd.h, pixels: rgb)
    }

    private static func unfilter(_ row: inout [UInt8], prior: [UInt8], type: UInt8, bpp: Int, rowIndex: Int) throws {
        let n = row.count
        switch type {
        case 0: break
        case 1: if n > bpp { for i in bpp..<n { row[i] = row[i] &+ row[i - bpp] } }
        case 2: for i in 0..<n { row[i] = row[i] &+ prior[i] }
        case 3:
            for i in 0..<n {
                let a = i >= bpp ? Int(row[i - bpp]) : 0
                row[i] = row[i] &+ UInt8((a + Int(prior[i])) / 2)
            }
        case 4:
            for i in 0..<n {
                let a = i >= bpp ? row[i - bpp] : 0
                let c = i >= bpp ? prior[i - bpp] : 0
                row[i] = row[i] &+ paeth(a, prior[i], c)
            }
        default: throw PNGError.badFilter(row: rowIndex, type: type)
        }
    }

    /// Sample `k` of a row (big-endian packing for depths below 8, two bytes for 16).
    @inline(__always) private static func sample(_ row: [UInt8], _ k: Int, depth: Int) -> Int {
        switch depth {
        case 8: return Int(row[k])
        case 16: return Int(row[2 * k]) << 8 | Int(row[2 * k + 1])
        default:
            let bit = k * depth
            let shift = 8 - depth - bit % 8
            return Int(row[bit / 8] >> UInt8(shift)) & ((1 << depth) - 1)
        }
    }

    /// Pixel `x` of an unfiltered row as PIL's `convert("RGB")` sees it: gray of 1/2/4 bits scaled to 0...255, 16-bit
    /// gray clipped to 255 (PIL opens it as I;16), other 16-bit samples reduced to their high byte, alpha dropped.
    private static func pixel(_ row: [UInt8], _ x: Int, color: UInt8, depth: Int, channels: Int,
                              palette: [UInt8]) throws -> (UInt8, UInt8, UInt8) {
        let k = x * channels
        func byte(_ i: Int) -> UInt8 { depth == 16 ? row[2 * i] : row[i] }
        switch color {
        case 0:
            let v = sample(row, x, depth: depth)
            let g: UInt8
            switch depth {
            case 1: g = v == 0 ? 0 : 255
            case 2: g = UInt8(v * 85)
            case 4: g = UInt8(v * 17)
            case 16: g = UInt8(min(v, 255))
            default: g = UInt8(v)
            }
            return (g, g, g)
        case 3:
            let i = sample(row, x, depth: depth)
            guard i * 3 + 2 < palette.count else {
                throw PNGError.paletteIndexOutOfRange(index: i, paletteSize: palette.count / 3)
            }
            return (palette[3 * i], palette[3 * i + 1], palette[3 * i + 2])
        case 4:
            let g = byte(k)
            return (g, g, g)
        default:  // 2 (RGB) and 6 (RGBA)
            return (byte(k), byte(k + 1), byte(k + 2))
        }
    }

    private static func readBE32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }
}

/// Writes bytes to `path` through a temporary sibling file renamed into place.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    do {
        let f = try AtomicFile(path: path)
        try f.write(bytes)
        try f.commit()
    } catch let e as SafeTensorsError {
        if case .writeFailed(_, let reason) = e { throw VideoError.writeFailed(path: path, reason: reason) }
        throw VideoError.writeFailed(path: path, reason: "\(e)")
    }
}
