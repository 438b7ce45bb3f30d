// Building blocks of diffusers' AutoencoderKLCogVideoX (models/autoencoders/autoencoder_kl_cogvideox.py,
// models/downsampling.py, models/upsampling.py, 0.42.1). shared/reference/cogvideox-spec.md §3.2.
import CKernels
import Foundation

/// The causal convolution caches of one encode/decode pass, keyed by module: each `CogVideoXCausalConv3d` keeps
/// the last `kT − 1` frames of its padded input for the next frame chunk.
final class CausalCache {
    var frames: [ObjectIdentifier: Tensor] = [:]
    /// Set for the last frame chunk: nothing follows, so caches are dropped as they are consumed instead of being
    /// replaced (at 480×720 the caches of one pass hold about 1.3 GB).
    var isLastChunk = false
    /// Large activation buffers released by one block for the next (see `ActivationPool`).
    let pool = ActivationPool()
    /// The same for the cached frames (another size: the last kT − 1 frames of an activation).
    let framePool = ActivationPool()
    /// Precision of the Winograd products of this pass.
    let precision: VAEPrecision

    init(precision: VAEPrecision = .environment) { self.precision = precision }
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

    /// Causal convolution of the chunk `x` `[B, C, T, H, W]` → `[B, out, T, H, W]`. The padded input is never
    /// built: im2col reads the cached (or replicated first) frames and the chunk's frames in place.
    ///
    /// With `normalizing` (the norm of `x` and SiLU before this conv) the convolution reads `x` normalized, and the
    /// next chunk's cache holds normalized frames, as diffusers' cache of the conv's input does; `x` itself is not
    /// modified. The cached frames of the previous chunk are already normalized (with that chunk's statistics).
    func callAsFunction(_ x: Tensor, cache: CausalCache?, normalizing: InputNormalization? = nil) throws -> Tensor {
        guard kt > 1 else {
            guard let normalizing else { return try pointwiseConv(x, conv) }
            var n = uninitializedTensor(x.shape)
            try normalizing.apply(to: &n, source: x)
            return try pointwiseConv(n, conv)
        }
        let id = ObjectIdentifier(self)
        var parts = [x]
        var frames: [VirtualFrame]
        if let cached = cache?.frames[id] {
            parts.append(cached)
            frames = (0..<cached.shape[2]).map { VirtualFrame(part: 1, t: $0) }
        } else {
            frames = Array(repeating: VirtualFrame(part: 0, t: 0), count: kt - 1)
        }
        frames += (0..<x.shape[2]).map { VirtualFrame(part: 0, t: $0) }
        let y = try withWeightFloats(conv.weight, "conv.weight") {
            try virtualConvolve(parts, frames: frames, weight: $0, bias: conv.bias?.floats("conv.bias"),
                                outChannels: conv.outChannels, kernel: conv.kernel, padding: (conv.padding.1, conv.padding.2),
                                pool: cache?.pool, bf16: (cache?.precision ?? .environment).usesBF16(weights: conv.weight.value?.type),
                                normalizing: normalizing)
        }
        // The next chunk's cache (the last kT − 1 input frames) is gathered after the convolution, so that it does not
        // coexist with the convolution's buffers at the pass's peak (≈ 180 MB per 256-channel cache at 240×360). When
        // those frames all come from this chunk, the consumed cache goes back to the pool first and its buffer is
        // reused; otherwise (a 1-frame chunk) they include a cached frame, which is copied before it is released.
        // The last chunk makes no more caches: the consumed one is released with `parts`.
        if let cache {
            cache.frames[id] = nil  // `parts` holds the only other reference, so the pool can reuse the buffer
            guard !cache.isLastChunk else { return y }
            let suffix = Array(frames.suffix(kt - 1))
            let fromChunk = suffix.allSatisfy { $0.part == 0 }
            func releaseConsumed() {
                guard parts.count > 1 else { return }
                var consumed = parts.removeLast()
                cache.framePool.give(&consumed)
            }
            if fromChunk { releaseConsumed() }
            var next = gatherFrames(parts, suffix, pool: cache.framePool)
            if let normalizing { try normalizing.apply(to: &next, frames: suffix.map { $0.part == 0 ? $0.t : nil }) }
            cache.frames[id] = next
            if !fromChunk { releaseConsumed() }
        }
        return y
    }
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
        var out = f
        try apply(&out, zq: zq, cache: cache, silu: false)
        return out
    }

    /// Normalizes `f` `[B, C, T, H, W]` in place (then SiLU when `silu`); with `source`, normalizes `source` (same
    /// shape) into `f` instead, whose values are then never read.
    func apply(_ f: inout Tensor, zq: Tensor, cache: CausalCache?, silu: Bool, source: Tensor? = nil) throws {
        try normalization(of: source ?? f, zq: zq, cache: cache, silu: silu).apply(to: &f, source: source)
    }

    /// The SpatialNorm of `f` `[B, C, T, H, W]` (then SiLU when `silu`), to apply in place or as a convolution reads
    /// `f`. `conv_y`/`conv_b` are 1×1×1, so they commute with the nearest resize: they run on `zq` at latent size,
    /// and `InputNormalization` reads them through the index maps.
    func normalization(of f: Tensor, zq: Tensor, cache: CausalCache?, silu: Bool) throws -> InputNormalization {
        guard f.rank == 5, zq.rank == 5, f.shape[1] == normLayer.channels, normLayer.channels % normLayer.groups == 0 else {
            throw ModuleError.shapeMismatch("SpatialNorm input", expected: [-1, normLayer.channels, -1, -1, -1], found: f.shape)
        }
        let (bn, ch, t, h, w) = (f.shape[0], f.shape[1], f.shape[2], f.shape[3], f.shape[4])
        let (tz, hz, wz) = (zq.shape[2], zq.shape[3], zq.shape[4])
        let tmap: [Int]
        if t > 1 && t % 2 == 1 {
            guard tz > 1 else { throw ModuleError.invalidInput("SpatialNorm of \(t) frames needs more than one latent frame") }
            tmap = [0] + nearestMap(from: tz - 1, to: t - 1).map { $0 + 1 }
        } else {
            tmap = nearestMap(from: tz, to: t)
        }
        let y = try convY(zq, cache: cache), bb = try convB(zq, cache: cache)
        guard y.shape == [bn, ch, tz, hz, wz], bb.shape == y.shape else {
            throw ModuleError.shapeMismatch("SpatialNorm zq", expected: [bn, ch, tz, hz, wz], found: y.shape)
        }
        let gamma = try normLayer.weight?.floats("norm_layer.weight"), beta = try normLayer.bias?.floats("norm_layer.bias")
        let stats = groupNormStatistics(f, groups: normLayer.groups, eps: normLayer.eps)
        let (scale, shift) = affineCoefficients(batch: bn, channels: ch, groups: normLayer.groups, stats: stats, gamma: gamma, beta: beta)
        let modulation = InputNormalization.Modulation(y: y.data, b: bb.data, tz: tz, hz: hz, wz: wz, tmap: tmap,
                                                       hmap: nearestMap(from: hz, to: h), wmap: nearestMap(from: wz, to: w))
        return InputNormalization(shape: f.shape, scale: scale, shift: shift, modulation: modulation, silu: silu)
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

    /// The norm (GroupNorm, or SpatialNorm with `zq`) of `x`, then SiLU.
    private func normalization(_ n: Module, of x: Tensor, zq: Tensor?, cache: CausalCache?) throws -> InputNormalization {
        if let s = n as? CogVideoXSpatialNorm3D {
            guard let zq else { throw ModuleError.invalidInput("a SpatialNorm resnet block needs the latent zq") }
            return try s.normalization(of: x, zq: zq, cache: cache, silu: true)
        } else if let g = n as? GroupNorm {
            return try groupNormalization(of: x, g, silu: true)
        }
        throw ModuleError.invalidInput("resnet norm is neither GroupNorm nor SpatialNorm")
    }

    func callAsFunction(_ x: Tensor, zq: Tensor?, cache: CausalCache?) throws -> Tensor {
        var h = x
        try forward(&h, zq: zq, cache: cache)
        return h
    }

    /// The block on `x` in place. `norm1` + SiLU are applied as `conv1` reads `x` (`InputNormalization`), so `x`
    /// stays the block's input without a normalized copy; the shortcut then runs on it in its own buffer
    /// (`pointwiseConvInPlace`: 256 → 128 channels in the last up block, whose input is 708 MB per frame chunk of a
    /// 240×360 tile, the decoder's peak), or `x` is the residual.
    ///
    /// Every buffer the block is done with goes back to the pass's `ActivationPool`: in a chain of blocks of one
    /// size both conv outputs and the residual reuse each other's memory.
    func forward(_ x: inout Tensor, zq: Tensor?, cache: CausalCache?) throws {
        let pool = cache?.pool
        var h = try conv1(x, cache: cache, normalizing: try normalization(norm1, of: x, zq: zq, cache: cache))
        var residual = x
        x = Tensor(shape: [0], data: [])  // `residual` holds the only reference, for the in-place shortcut
        if let shortcut = convShortcut { try pointwiseConvInPlace(&residual, shortcut, pool: pool) }
        try normalization(norm2, of: h, zq: zq, cache: cache).apply(to: &h)
        x = try conv2(h, cache: cache)
        pool?.give(&h)
        addInPlace(&x, residual)
        pool?.give(&residual)
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
        return try virtualConvolve([x], frames: (0..<x.shape[2]).map { VirtualFrame(part: 0, t: $0) },
                                   weight: conv.weight.floats("conv.weight"), bias: conv.bias?.floats("conv.bias"),
                                   outChannels: conv.outChannels, kernel: (1, 3, 3), stride: (2, 2), padding: (0, 0), extraEnd: (1, 1))
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

    /// The upsampled input is never built: im2col reads every source pixel through nearest index maps. The output
    /// comes from `pool` when given: a buffer of another size makes the pool free what it holds first, so the
    /// finished level's released buffers are not kept beside the (4× larger) upsampled activation.
    func callAsFunction(_ x: Tensor, precision: VAEPrecision = .environment, pool: ActivationPool? = nil) throws -> Tensor {
        let (t, h, w) = (x.shape[2], x.shape[3], x.shape[4])
        let frames: [Int]
        if compressTime && t > 1 && t % 2 == 1 {
            frames = [0] + nearestMap(from: t - 1, to: 2 * (t - 1)).map { $0 + 1 }
        } else if compressTime && t > 1 {
            frames = nearestMap(from: t, to: 2 * t)
        } else {
            frames = Array(0..<t)
        }
        return try withWeightFloats(conv.weight, "conv.weight") {
            try virtualConvolve([x], frames: frames.map { VirtualFrame(part: 0, t: $0) },
                                rows: nearestMap(from: h, to: 2 * h), cols: nearestMap(from: w, to: 2 * w),
                                weight: $0, bias: conv.bias?.floats("conv.bias"),
                                outChannels: conv.outChannels, kernel: (1, 3, 3), padding: (1, 1), pool: pool,
                                bf16: precision.usesBF16(weights: conv.weight.value?.type))
        }
    }
}
