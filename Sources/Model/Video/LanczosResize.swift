// PIL-compatible Lanczos resize of 8-bit RGB images: Pillow's ImagingResample (src/libImaging/Resample.c) with the
// LANCZOS filter (support 3), used by diffusers' VaeImageProcessor to bring the I2V input image to the video size
// (spec §6.2, §9 item 14). Reproduced exactly: float64 filter weights normalized per output pixel, converted to
// 22-bit fixed point with round-half-away, integer accumulation from 1 << 21, clip to [0, 255], and Pillow 13's
// choice of which pass runs first (checked against the Pillow 13.0.0 sources and outputs).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum LanczosResize {
    private static let precisionBits = 32 - 8 - 2

    private static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let y = x * Double.pi
        return sin(y) / y
    }

    private static func lanczos(_ x: Double) -> Double {
        (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0
    }

    /// Per output pixel: first input index, tap count, and fixed-point weights (`ksize` per pixel).
    private static func coefficients(inSize: Int, outSize: Int) -> (bounds: [(Int, Int)], k: [Int32], ksize: Int) {
        // box = (0, inSize) as floats: (in1 - in0) is float arithmetic, exact for sizes below 2^24.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterscale = max(scale, 1.0)
        let support = 3.0 * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var kk = [Int32](repeating: 0, count: outSize * ksize)
        var w = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = 0.0 + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let ss = 1.0 / filterscale
            var xmin = Int(center - support + 0.5)  // C cast: truncation toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            for x in 0..<xmax {
                let v = lanczos((Double(x + xmin) - center + 0.5) * ss)
                w[x] = v
                ww += v
            }
            for x in 0..<xmax {
                if ww != 0 { w[x] /= ww }
                let scaled = w[x] * Double(1 << precisionBits)
                kk[xx * ksize + x] = Int32(w[x] < 0 ? -0.5 + scaled : 0.5 + scaled)
            }
            bounds.append((xmin, xmax))
        }
        return (bounds, kk, ksize)
    }

    @inline(__always) private static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> Int32(precisionBits)
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    /// Resizes to `width` x `height` exactly as `PIL.Image.resize((width, height), Image.LANCZOS)` on an RGB image
    /// (Pillow 13: the vertical pass runs first when the height shrinks by more than twice what the width does,
    /// otherwise the horizontal pass runs first over just the rows the vertical pass reads).
    public static func resize(_ image: RGBImage, width: Int, height: Int) throws -> RGBImage {
        guard width > 0, height > 0, width <= 1 << 20, height <= 1 << 20 else {
            throw VideoError.invalidSize(width: width, height: height)
        }
        let needH = width != image.width
        let needV = height != image.height
        let shrinkY = image.height - height, shrinkX = image.width - width
        let horizontalFirst = !(shrinkY > 0 && shrinkY > shrinkX * 2)
        var cur = image.pixels
        let vert = coefficients(inSize: image.height, outSize: height)
        if horizontalFirst {
            if needH {
                // Only rows [yFirst, yLast) feed the vertical pass; the vertical bounds shift by yFirst.
                let yFirst = vert.bounds[0].0
                let yLast = vert.bounds[height - 1].0 + vert.bounds[height - 1].1
                cur = horizontalPass(cur, width: image.width, rows: yFirst..<yLast, outWidth: width)
                if needV { cur = verticalPass(cur, width: width, coefficients: vert, rowOffset: yFirst, outHeight: height) }
            } else if needV {
                cur = verticalPass(cur, width: image.width, coefficients: vert, rowOffset: 0, outHeight: height)
            }
        } else {
            if needV { cur = verticalPass(cur, width: image.width, coefficients: vert, rowOffset: 0, outHeight: height) }
            if needH { cur = horizontalPass(cur, width: image.width, rows: 0..<height, outWidth: width) }
        }
        return try RGBImage(width: width, height: height, pixels: cur)
    }

    private static func horizontalPass(_ src: [UInt8], width inW: Int, rows: Range<Int>, outWidth: Int) -> [UInt8] {
        let hor = coefficients(inSize: inW, outSize: outWidth)
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        let half = Int32(1 << (precisionBits - 1))
        for (yy, y) in rows.enumerated() {
            let inRow = y * inW * 3
            for xx in 0..<outWidth {
                let (xmin, xmax) = hor.bounds[xx]
                let kb = xx * hor.ksize
                var s0 = half, s1 = half, s2 = half
                for x in 0..<xmax {
                    let k = hor.k[kb + x]
                    let p = inRow + (x + xmin) * 3
                    s0 &+= Int32(src[p]) &* k
                    s1 &+= Int32(src[p + 1]) &* k
                    s2 &+= Int32(src[p + 2]) &* k
                }
                let o = (yy * outWidth + xx) * 3
                out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2)
            }
        }
        return out
    }

    private static func verticalPass(_ src: [UInt8], width w: Int,
                                     coefficients vert: (bounds: [(Int, Int)], k: [Int32], ksize: Int),
                                     rowOffset: Int, outHeight: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outHeight * w * 3)
        let half = Int32(1 << (precisionBits - 1))
        for yy in 0..<outHeight {
            let (ymin0, ymax) = vert.bounds[yy]
            let ymin = ymin0 - rowOffset
            let kb = yy * vert.ksize
            for xx in 0..<w {
                var s0 = half, s1 = half, s2 = half
                for y in 0..<ymax {
                    let k = vert.k[kb + y]
                    let p = ((y + ymin) * w + xx) * 3
                    s0 &+= Int32(src[p]) &* k
                    s1 &+= Int32(src[p + 1]) &* k
                    s2 &+= Int32(src[p + 2]) &* k
                }
                let o = (yy * w + xx) * 3
                out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2)
            }
        }
        return out
    }
}
