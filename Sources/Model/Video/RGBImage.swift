// 8-bit RGB frames and the float -> uint8 conversion of diffusers' VideoProcessor.postprocess_video (spec §6.1
// step 8): denormalize with clamp(x * 0.5 + 0.5, 0, 1), then `(x * 255).round()` with numpy's round-half-to-even.

/// Why a frame, a video file or an image could not be produced or read.
public enum VideoError: Error, Equatable, CustomStringConvertible {
    case wrongShape(what: String, expected: String, found: [Int])
    case noFrames
    case frameSizesDiffer(index: Int, expected: [Int], found: [Int])
    case imageTooLarge(width: Int, height: Int, limit: String)
    case invalidSize(width: Int, height: Int)
    case invalidFPS(Double)
    case writeFailed(path: String, reason: String)
    case readFailed(path: String, reason: String)
    case ffmpegNotFound
    case ffmpegFailed(status: Int32, message: String)
    case unsupportedOutput(path: String)
    case compressionFailed(code: Int32)

    public var description: String {
        switch self {
        case .wrongShape(let w, let e, let f): return "\(w) has shape \(f), expected \(e)"
        case .noFrames: return "there are no frames to write"
        case .frameSizesDiffer(let i, let e, let f): return "frame \(i) is \(f[0])x\(f[1]), frame 0 is \(e[0])x\(e[1])"
        case .imageTooLarge(let w, let h, let l): return "a \(w)x\(h) image is larger than \(l)"
        case .invalidSize(let w, let h): return "\(w)x\(h) is not a valid image size"
        case .invalidFPS(let f): return "frames per second must be positive and finite, got \(f)"
        case .writeFailed(let p, let r): return "could not write \(p): \(r)"
        case .readFailed(let p, let r): return "could not read \(p): \(r)"
        case .ffmpegNotFound:
            return "writing .mp4 needs ffmpeg, which is not on PATH (install it, e.g. `apt-get install ffmpeg`), or write .gif or PNG frames instead"
        case .ffmpegFailed(let s, let m): return "ffmpeg exited with status \(s): \(m)"
        case .unsupportedOutput(let p): return "cannot tell the output format of \(p): use .mp4, .gif, .png or a folder"
        case .compressionFailed(let c): return "zlib failed with code \(c)"
        }
    }
}

/// One 8-bit RGB image, rows top to bottom, pixels left to right, `[H, W, 3]` interleaved.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0 else { throw VideoError.invalidSize(width: width, height: height) }
        let (n, o1) = width.multipliedReportingOverflow(by: height)
        let (c, o2) = n.multipliedReportingOverflow(by: 3)
        guard !o1, !o2, pixels.count == c else {
            throw VideoError.wrongShape(what: "pixel buffer", expected: "\(height)x\(width)x3 bytes", found: [pixels.count])
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// diffusers' `numpy_to_pil` rounding: `round(x * 255)` half to even after clamping to [0, 1] (the clamp is done
    /// by the denormalization before; values are clamped here too so any input is safe).
    @inline(__always) public static func quantize(_ x: Float) -> UInt8 {
        let c = x.isNaN ? 0 : min(max(x, 0), 1)
        return UInt8((c * 255).rounded(.toNearestOrEven))
    }
}

public enum VideoFrames {
    /// Frames `[F, H, W, 3]` with values in [0, 1] (diffusers' `output_type="np"`) -> 8-bit frames.
    public static func fromUnitRange(_ t: Tensor) throws -> [RGBImage] {
        guard t.rank == 4, t.dim(3) == 3, t.dim(0) > 0 else {
            throw VideoError.wrongShape(what: "frames", expected: "[F, H, W, 3]", found: t.shape)
        }
        let (f, h, w) = (t.dim(0), t.dim(1), t.dim(2))
        let n = h * w * 3
        return try (0..<f).map { i in
            try RGBImage(width: w, height: h, pixels: t.data[(i * n)..<((i + 1) * n)].map(RGBImage.quantize))
        }
    }

    /// The VAE output `[B, 3, F, H, W]` in [-1, 1] (batch element `batch`) -> 8-bit frames, with the pipeline's
    /// `clamp(x * 0.5 + 0.5, 0, 1)` in float32 then `round(x * 255)`.
    public static func fromDecoded(_ t: Tensor, batch: Int = 0) throws -> [RGBImage] {
        guard t.rank == 5, t.dim(1) == 3, (0..<t.dim(0)).contains(batch), t.dim(2) > 0 else {
            throw VideoError.wrongShape(what: "decoded video", expected: "[B, 3, F, H, W]", found: t.shape)
        }
        let (f, h, w) = (t.dim(2), t.dim(3), t.dim(4))
        let plane = h * w
        let base = batch * 3 * f * plane
        return try (0..<f).map { fi in
            var px = [UInt8](repeating: 0, count: plane * 3)
            for c in 0..<3 {
                let src = base + (c * f + fi) * plane
                for p in 0..<plane {
                    let x = t.data[src + p] * 0.5 + 0.5
                    px[p * 3 + c] = RGBImage.quantize(min(max(x, 0), 1))
                }
            }
            return try RGBImage(width: w, height: h, pixels: px)
        }
    }
}
