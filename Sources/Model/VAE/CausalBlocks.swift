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
    func callAsFunction(_ x: Tensor, cache: CausalCache?) throws -> Tensor {
        guard kt > 1 else { return try pointwiseConv(x, conv) }
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
                                pool: cache?.pool, bf16: (cache?.precision ?? .environment).usesBF16(weights: conv.weight.value?.type))
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
            cache.frames[id] = gatherFrames(parts, suffix, pool: cache.framePool)
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
    /// shape) into `f` instead, whose values are then never read. `conv_y`/`conv_b` are 1×1×1, so they commute
    /// with the nearest resize: they run on `zq` at latent size, and each of their rows is expanded to full width
    /// once for the output rows that share it.
    func apply(_ f: inout Tensor, zq: Tensor, cache: CausalCache?, silu: Bool, source: Tensor? = nil) throws {
        let (bn, ch, t, h, w) = (f.shape[0], f.shape[1], f.shape[2], f.shape[3], f.shape[4])
        let (tz, hz, wz) = (zq.shape[2], zq.shape[3], zq.shape[4])
        guard ch == normLayer.channels else {
            throw ModuleError.shapeMismatch("SpatialNorm input", expected: [-1, normLayer.channels, -1, -1, -1], found: f.shape)
        }
        if let source, source.shape != f.shape {
            throw ModuleError.shapeMismatch("SpatialNorm source", expected: f.shape, found: source.shape)
        }
        let tmap: [Int]
        if t > 1 && t % 2 == 1 {
            guard tz > 1 else { throw ModuleError.invalidInput("SpatialNorm of \(t) frames needs more than one latent frame") }
            tmap = [0] + nearestMap(from: tz - 1, to: t - 1).map { $0 + 1 }
        } else {
            tmap = nearestMap(from: tz, to: t)
        }
        let hmap = nearestMap(from: hz, to: h), wmap = nearestMap(from: wz, to: w)
        let y = try convY(zq, cache: cache), bb = try convB(zq, cache: cache)
        let gamma = try normLayer.weight?.floats("norm_layer.weight"), beta = try normLayer.bias?.floats("norm_layer.bias")
        let stats = groupNormStatistics(source ?? f, groups: normLayer.groups, eps: normLayer.eps)
        let cpg = ch / normLayer.groups, groups = normLayer.groups
        /// Rows `row` of the output from `S` (the source, or `F` itself).
        func run(_ F: UnsafeMutablePointer<Float>, _ S: UnsafePointer<Float>, _ Y: UnsafePointer<Float>, _ Bv: UnsafePointer<Float>) {
            nonisolated(unsafe) let F = F, S = S, Y = Y, Bv = Bv
            Engine.parallelFor(bn * ch * t) { row in
                let bc = row / t, tt = row % t, c = bc % ch
                let st = stats[(bc / ch) * groups + c / cpg]
                let scale = (gamma?[c] ?? 1) * st.inv
                let shift = (beta?[c] ?? 0) - st.mean * scale
                let frame = F + row * h * w, src = S + row * h * w
                let zf = (bc * tz + tmap[tt]) * hz * wz
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * w) { ex in
                    let ey = ex.baseAddress!, eb = ey + w
                    var expanded = -1
                    for i in 0..<h {
                        if hmap[i] != expanded {
                            expanded = hmap[i]
                            let yr = Y + zf + expanded * wz, br = Bv + zf + expanded * wz
                            for j in 0..<w { ey[j] = yr[wmap[j]]; eb[j] = br[wmap[j]] }
                        }
                        let o = frame + i * w, s = src + i * w
                        for j in 0..<w { o[j] = (s[j] * scale + shift) * ey[j] + eb[j] }
                        if silu { ck_silu(o, w) }
                    }
                }
            }
        }
        f.data.withUnsafeMutableBufferPointer { fp in
            y.data.withUnsafeBufferPointer { yp in
                bb.data.withUnsafeBufferPointer { bp in
                    if let source {
                        source.data.withUnsafeBufferPointer { sp in run(fp.baseAddress!, sp.baseAddress!, yp.baseAddress!, bp.baseAddress!) }
                    } else {
                        run(fp.baseAddress!, UnsafePointer(fp.baseAddress!), yp.baseAddress!, bp.baseAddress!)
                    }
                }
            }
        }
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

    /// norm (GroupNorm, or SpatialNorm with `zq`) then SiLU, in place.
    private func normalize(_ n: Module, _ x: inout Tensor, zq: Tensor?, cache: CausalCache?) throws {
        if let s = n as? CogVideoXSpatialNorm3D {
            guard let zq else { throw ModuleError.invalidInput("a SpatialNorm resnet block needs the latent zq") }
            try s.apply(&x, zq: zq, cache: cache, silu: true)
        } else if let g = n as? GroupNorm {
            try groupNormInPlace(&x, g, silu: true)
        } else {
            throw ModuleError.invalidInput("resnet norm is neither GroupNorm nor SpatialNorm")
        }
    }

    func callAsFunction(_ x: Tensor, zq: Tensor?, cache: CausalCache?) throws -> Tensor {
        var h = x
        try forward(&h, zq: zq, cache: cache)
        return h
    }

    /// The block on `x` in place. With a shortcut conv the shortcut is taken first so that `x` itself can be
    /// normalized in place (at 480×720 the 256-channel input of the last up block is 1.4 GB per chunk).
    ///
    /// Every buffer the block is done with goes back to the pass's `ActivationPool`: in a chain of blocks of one
    /// size the normalized copy, both conv outputs and the residual reuse each other's memory.
    func forward(_ x: inout Tensor, zq: Tensor?, cache: CausalCache?) throws {
        let pool = cache?.pool
        var residual: Tensor
        if let shortcut = convShortcut {
            residual = try pointwiseConv(x, shortcut, pool: pool)
            try normalize(norm1, &x, zq: zq, cache: cache)
        } else if let s = norm1 as? CogVideoXSpatialNorm3D, let zq {
            // The residual keeps the input: normalized into another buffer.
            residual = x
            x = pool?.take(residual.shape) ?? uninitializedTensor(residual.shape)
            try s.apply(&x, zq: zq, cache: cache, silu: true, source: residual)
        } else {
            residual = x
            x = pooledCopy(residual, pool)  // normalized in place while the residual keeps the input
            try normalize(norm1, &x, zq: zq, cache: cache)
        }
        var h = try conv1(x, cache: cache)
        pool?.give(&x)
        try normalize(norm2, &h, zq: zq, cache: cache)
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
