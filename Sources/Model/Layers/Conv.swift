/// `nn.Conv3d` with zero padding: input `[B, C, T, H, W]` → `[B, out, T', H', W']`.
///
/// Implemented as im2col + GEMM, one output frame and one band of output rows at a time (≤ 64 MB of columns), so
/// memory stays bounded at 480×720. The kernel is decoded to fp32 once per call (conv kernels are small).
public final class Conv3d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inChannels: Int, outChannels: Int
    public let kernel: (Int, Int, Int), stride: (Int, Int, Int), padding: (Int, Int, Int)

    public init(inChannels: Int, outChannels: Int, kernel: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1),
                padding: (Int, Int, Int) = (0, 0, 0), bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        weight = Parameter(shape: [outChannels, inChannels, kernel.0, kernel.1, kernel.2])
        self.bias = bias ? Parameter(shape: [outChannels]) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 5, x.shape[1] == inChannels else {
            throw ModuleError.shapeMismatch("Conv3d input", expected: [-1, inChannels, -1, -1, -1], found: x.shape)
        }
        return try convolve(x, weight: weight.floats("weight"), bias: bias?.floats("bias"), outChannels: outChannels,
                            kernel: kernel, stride: stride, padding: padding)
    }
}

/// `nn.Conv2d` with zero padding: `[N, C, H, W]` → `[N, out, H', W']` (square kernel, stride and padding).
public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        weight = Parameter(shape: [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? Parameter(shape: [outChannels]) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == inChannels else {
            throw ModuleError.shapeMismatch("Conv2d input", expected: [-1, inChannels, -1, -1], found: x.shape)
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let y = try convolve(x.reshaped([n, c, 1, h, w]), weight: weight.floats("weight"), bias: bias?.floats("bias"),
                             outChannels: outChannels, kernel: (1, kernel, kernel), stride: (1, stride, stride),
                             padding: (0, padding, padding))
        return y.reshaped([n, outChannels, y.shape[3], y.shape[4]])
    }
}

/// Shared im2col + GEMM convolution over `[B, C, T, H, W]` with fp32 weights `[out, C·kT·kH·kW]`.
/// `extraEnd` adds zero padding after the last row and column only (the VAE downsampler pads right/bottom by 1).
func convolve(_ x: Tensor, weight: [Float], bias: [Float]?, outChannels co: Int, kernel: (Int, Int, Int),
              stride: (Int, Int, Int), padding: (Int, Int, Int), extraEnd: (Int, Int) = (0, 0)) throws -> Tensor {
    let (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let (kt, kh, kw) = kernel, (st, sh, sw) = stride, (pt, ph, pw) = padding
    let to = (t + 2 * pt - kt) / st + 1, ho = (h + 2 * ph + extraEnd.0 - kh) / sh + 1, wo = (w + 2 * pw + extraEnd.1 - kw) / sw + 1
    guard to > 0, ho > 0, wo > 0 else { throw ModuleError.invalidInput("convolution input \(x.shape) is smaller than the kernel") }
    let k = c * kt * kh * kw
    var out = Tensor(zeros: [b, co, to, ho, wo])
    let bandRows = max(1, min(ho, (1 << 24) / max(k * wo, 1)))
    var col = [Float](repeating: 0, count: k * bandRows * wo)
    let plane = ho * wo
    x.data.withUnsafeBufferPointer { xp in
        weight.withUnsafeBufferPointer { wp in
            col.withUnsafeMutableBufferPointer { cp in
                out.data.withUnsafeMutableBufferPointer { op in
                    nonisolated(unsafe) let X = xp.baseAddress!, Col = cp.baseAddress!
                    for bi in 0..<b {
                        for ot in 0..<to {
                            var r0 = 0
                            while r0 < ho {
                                let rows = min(bandRows, ho - r0), p = rows * wo
                                let band0 = r0
                                Engine.parallelRanges(k, minimumChunk: 4) { range in
                                    for r in range {
                                        let kwi = r % kw, khi = (r / kw) % kh, kti = (r / (kw * kh)) % kt, ci = r / (kw * kh * kt)
                                        let it = ot * st - pt + kti
                                        let dst = Col + r * p
                                        guard it >= 0 && it < t else { dst.update(repeating: 0, count: p); continue }
                                        let src = X + (((bi * c + ci) * t + it) * h) * w
                                        for orow in 0..<rows {
                                            let ih = (band0 + orow) * sh - ph + khi
                                            let d = dst + orow * wo
                                            guard ih >= 0 && ih < h else { d.update(repeating: 0, count: wo); continue }
                                            let s = src + ih * w
                                            for ow in 0..<wo {
                                                let iw = ow * sw - pw + kwi
                                                d[ow] = (iw >= 0 && iw < w) ? s[iw] : 0
                                            }
                                        }
                                    }
                                }
                                let dst = op.baseAddress! + ((bi * co) * to + ot) * plane + r0 * wo
                                sgemmNN(co, p, k, wp.baseAddress!, k, Col, p, dst, to * plane)
                                r0 += rows
                            }
                        }
                    }
                    if let bias {
                        for bi in 0..<b { for o in 0..<co {
                            let base = op.baseAddress! + (bi * co + o) * to * plane
                            let v = bias[o]
                            for i in 0..<(to * plane) { base[i] += v }
                        } }
                    }
                }
            }
        }
    }
    return out
}
