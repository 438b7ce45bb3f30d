// Building blocks of diffusers' AutoencoderKLCogVideoX (models/autoencoders/autoencoder_kl_cogvideox.py,
// models/downsampling.py, models/upsampling.py, 0.42.1). shared/reference/cogvideox-spec.md §3.2.
import Foundation

/// The causal convolution caches of one encode/decode pass, keyed by module: each `CogVideoXCausalConv3d` keeps
/// the last `kT − 1` frames of its padded input for the next frame chunk.
final class CausalCache {
    var frames: [ObjectIdentifier: Tensor] = [:]
}

/// `CogVideoXCausalConv3d` (pad_mode "first"/"constant"): time padding with copies of the first frame (or the
/// cache of the previous chunk), spatial zero padding inside the conv.
final class CogVideoXCausalConv3d: Module {
    @ModuleInfo(key: "conv") var conv: Conv3d
    let kt: Int

    init(_ inC: Int, _ outC: Int, kernel: Int) {
        kt = kernel
        super.init()
        _conv.wrappedValue = Conv3d(inChannels: inC, outChannels: outC, kernel: (kernel, kernel, kernel),
                                    padding: (0, (kernel - 1) / 2, (kernel - 1) / 2))
    }

    func callAsFunction(_ x: Tensor, cache: CausalCache?) throws -> Tensor {
        guard kt > 1 else { return try conv(x) }
        let id = ObjectIdentifier(self)
        let front: Tensor
        if let cached = cache?.frames[id] { front = cached } else {
            let first = Ops.slice(x, axis: 2, 0..<1)
            front = Ops.concat([Tensor](repeating: first, count: kt - 1), axis: 2)
        }
        let padded = Ops.concat([front, x], axis: 2)
        cache?.frames[id] = Ops.slice(padded, axis: 2, (padded.shape[2] - (kt - 1))..<padded.shape[2])
        return try conv(padded)
    }
}

/// Nearest-neighbour resize of `[B, C, T, H, W]` to `(t, h, w)`, PyTorch's rule `src = floor(dst · in/out)`.
func resizeNearest(_ x: Tensor, to size: (Int, Int, Int)) -> Tensor {
    let (b, c, t0, h0, w0) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let (t1, h1, w1) = size
    let st = Float(t0) / Float(t1), sh = Float(h0) / Float(h1), sw = Float(w0) / Float(w1)
    let ti = (0..<t1).map { min(Int((Float($0) * st).rounded(.down)), t0 - 1) }
    let hi = (0..<h1).map { min(Int((Float($0) * sh).rounded(.down)), h0 - 1) }
    let wi = (0..<w1).map { min(Int((Float($0) * sw).rounded(.down)), w0 - 1) }
    var out = Tensor(zeros: [b, c, t1, h1, w1])
    x.data.withUnsafeBufferPointer { s in
        out.data.withUnsafeMutableBufferPointer { d in
            nonisolated(unsafe) let S = s.baseAddress!, D = d.baseAddress!
            Engine.parallelRanges(b * c * t1, minimumChunk: 1) { r in
                for bct in r {
                    let bc = bct / t1, t = bct % t1
                    let src = S + (bc * t0 + ti[t]) * h0 * w0
                    let dst = D + bct * h1 * w1
                    for i in 0..<h1 { let srow = src + hi[i] * w0, drow = dst + i * w1; for j in 0..<w1 { drow[j] = srow[wi[j]] } }
                }
            }
        }
    }
    return out
}

/// `CogVideoXSpatialNorm3D`: `GroupNorm(f) · conv_y(zq') + conv_b(zq')` with zq resized to f (first latent frame
/// alone when f has an odd frame count > 1).
final class CogVideoXSpatialNorm3D: Module {
    @ModuleInfo(key: "norm_layer") var normLayer: GroupNorm
    @ModuleInfo(key: "conv_y") var convY: CogVideoXCausalConv3d
    @ModuleInfo(key: "conv_b") var convB: CogVideoXCausalConv3d

    init(channels: Int, zqChannels: Int, groups: Int) {
        super.init()
        _normLayer.wrappedValue = GroupNorm(groups: groups, channels: channels, eps: 1e-6)
        _convY.wrappedValue = CogVideoXCausalConv3d(zqChannels, channels, kernel: 1)
        _convB.wrappedValue = CogVideoXCausalConv3d(zqChannels, channels, kernel: 1)
    }

    func callAsFunction(_ f: Tensor, zq: Tensor, cache: CausalCache?) throws -> Tensor {
        let (t, h, w) = (f.shape[2], f.shape[3], f.shape[4])
        let z: Tensor
        if t > 1 && t % 2 == 1 {
            let first = resizeNearest(Ops.slice(zq, axis: 2, 0..<1), to: (1, h, w))
            let rest = resizeNearest(Ops.slice(zq, axis: 2, 1..<zq.shape[2]), to: (t - 1, h, w))
            z = Ops.concat([first, rest], axis: 2)
        } else {
            z = resizeNearest(zq, to: (t, h, w))
        }
        let y = try convY(z, cache: cache), bb = try convB(z, cache: cache)
        var out = try normLayer(f)
        out.data.withUnsafeMutableBufferPointer { o in
            y.data.withUnsafeBufferPointer { yp in bb.data.withUnsafeBufferPointer { bp in
                for i in 0..<o.count { o[i] = o[i] * yp[i] + bp[i] }
            } }
        }
        return out
    }
}

/// `CogVideoXResnetBlock3D` (no time embedding): GroupNorm or SpatialNorm, SiLU, causal convs, 1×1×1 shortcut.
final class CogVideoXResnetBlock3D: Module {
    @ModuleInfo(key: "norm1") var norm1: Module
    @ModuleInfo(key: "conv1") var conv1: CogVideoXCausalConv3d
    @ModuleInfo(key: "norm2") var norm2: Module
    @ModuleInfo(key: "conv2") var conv2: CogVideoXCausalConv3d
    @ModuleInfo(key: "conv_shortcut") var convShortcut: Conv3d?

    init(_ inC: Int, _ outC: Int, groups: Int, eps: Float, spatialNormDim: Int?) {
        super.init()
        if let z = spatialNormDim {
            _norm1.wrappedValue = CogVideoXSpatialNorm3D(channels: inC, zqChannels: z, groups: groups)
            _norm2.wrappedValue = CogVideoXSpatialNorm3D(channels: outC, zqChannels: z, groups: groups)
        } else {
            _norm1.wrappedValue = GroupNorm(groups: groups, channels: inC, eps: eps)
            _norm2.wrappedValue = GroupNorm(groups: groups, channels: outC, eps: eps)
        }
        _conv1.wrappedValue = CogVideoXCausalConv3d(inC, outC, kernel: 3)
        _conv2.wrappedValue = CogVideoXCausalConv3d(outC, outC, kernel: 3)
        _convShortcut.wrappedValue = inC != outC ? Conv3d(inChannels: inC, outChannels: outC, kernel: (1, 1, 1)) : nil
    }

    private func normalize(_ n: Module, _ x: Tensor, zq: Tensor?, cache: CausalCache?) throws -> Tensor {
        if let s = n as? CogVideoXSpatialNorm3D, let zq { return try s(x, zq: zq, cache: cache) }
        return try (n as! GroupNorm)(x)
    }

    func callAsFunction(_ x: Tensor, zq: Tensor?, cache: CausalCache?) throws -> Tensor {
        var h = try normalize(norm1, x, zq: zq, cache: cache)
        Ops.siluInPlace(&h.data)
        h = try conv1(h, cache: cache)
        h = try normalize(norm2, h, zq: zq, cache: cache)
        Ops.siluInPlace(&h.data)
        h = try conv2(h, cache: cache)
        let shortcut = try convShortcut.map { try $0(x) } ?? x
        return Ops.add(h, shortcut)
    }
}

/// `CogVideoXDownsample3D`: optional time compression (pairs averaged; an odd first frame kept), then a stride-2
/// 3×3 Conv2d per frame after zero padding right and bottom by one.
final class CogVideoXDownsample3D: Module {
    @ModuleInfo(key: "conv") var conv: Conv2d
    let compressTime: Bool

    init(channels: Int, compressTime: Bool) {
        self.compressTime = compressTime
        super.init()
        _conv.wrappedValue = Conv2d(inChannels: channels, outChannels: channels, kernel: 3, stride: 2, padding: 0)
    }

    func callAsFunction(_ input: Tensor) throws -> Tensor {
        var x = input
        if compressTime {
            let (b, c, t, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
            let keepFirst = t % 2 == 1
            let pairs = (t - (keepFirst ? 1 : 0)) / 2
            let t1 = pairs + (keepFirst ? 1 : 0)
            var out = Tensor(zeros: [b, c, t1, h, w])
            let plane = h * w
            for bc in 0..<(b * c) {
                let src = bc * t * plane, dst = bc * t1 * plane
                var o = 0
                if keepFirst { for i in 0..<plane { out.data[dst + i] = x.data[src + i] }; o = 1 }
                for p in 0..<pairs {
                    let f0 = src + ((keepFirst ? 1 : 0) + 2 * p) * plane, f1 = f0 + plane, d = dst + (o + p) * plane
                    for i in 0..<plane { out.data[d + i] = (x.data[f0 + i] + x.data[f1 + i]) / 2 }
                }
            }
            x = out
        }
        return try convolve(x, weight: conv.weight.floats("conv.weight"), bias: conv.bias?.floats("conv.bias"),
                            outChannels: conv.outChannels, kernel: (1, 3, 3), stride: (1, 2, 2), padding: (0, 0, 0), extraEnd: (1, 1))
    }
}

/// `CogVideoXUpsample3D`: nearest ×2 (also in time when compressing, an odd first frame only spatially), then a
/// 3×3 Conv2d per frame.
final class CogVideoXUpsample3D: Module {
    @ModuleInfo(key: "conv") var conv: Conv2d
    let compressTime: Bool

    init(channels: Int, compressTime: Bool) {
        self.compressTime = compressTime
        super.init()
        _conv.wrappedValue = Conv2d(inChannels: channels, outChannels: channels, kernel: 3, stride: 1, padding: 1)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (t, h, w) = (x.shape[2], x.shape[3], x.shape[4])
        let up: Tensor
        if compressTime && t > 1 && t % 2 == 1 {
            let first = resizeNearest(Ops.slice(x, axis: 2, 0..<1), to: (1, 2 * h, 2 * w))
            let rest = resizeNearest(Ops.slice(x, axis: 2, 1..<t), to: (2 * (t - 1), 2 * h, 2 * w))
            up = Ops.concat([first, rest], axis: 2)
        } else if compressTime && t > 1 {
            up = resizeNearest(x, to: (2 * t, 2 * h, 2 * w))
        } else {
            up = resizeNearest(x, to: (t, 2 * h, 2 * w))
        }
        return try convolve(up, weight: conv.weight.floats("conv.weight"), bias: conv.bias?.floats("conv.bias"),
                            outChannels: conv.outChannels, kernel: (1, 3, 3), stride: (1, 1, 1), padding: (0, 1, 1))
    }
}
