// Port of diffusers' AutoencoderKLCogVideoX (encoder, decoder, frame-chunked _encode/_decode with causal caches,
// tiled_encode/tiled_decode, DiagonalGaussianDistribution). Layout of every tensor here: [B, C, T, H, W].
// shared/reference/cogvideox-spec.md §3 and §9 item 9.
import Foundation

final class CogVideoXDownBlock3D: Module {
    @ModuleInfo(key: "resnets") var resnets: [CogVideoXResnetBlock3D]
    @ModuleInfo(key: "downsamplers") var downsamplers: [CogVideoXDownsample3D]?

    init(_ inC: Int, _ outC: Int, layers: Int, groups: Int, eps: Float, addDownsample: Bool, compressTime: Bool) {
        super.init()
        _resnets.wrappedValue = (0..<layers).map { CogVideoXResnetBlock3D($0 == 0 ? inC : outC, outC, groups: groups, eps: eps, spatialNormDim: nil) }
        _downsamplers.wrappedValue = addDownsample ? [CogVideoXDownsample3D(channels: outC, compressTime: compressTime)] : nil
    }

    /// Runs the block on `h` in place (the caller's buffer is reused where the math allows).
    func forward(_ h: inout Tensor, cache: CausalCache?) throws {
        for r in resnets { try r.forward(&h, zq: nil, cache: cache) }
        for d in downsamplers ?? [] { h = try d(h) }
    }
}

final class CogVideoXUpBlock3D: Module {
    @ModuleInfo(key: "resnets") var resnets: [CogVideoXResnetBlock3D]
    @ModuleInfo(key: "upsamplers") var upsamplers: [CogVideoXUpsample3D]?

    init(_ inC: Int, _ outC: Int, layers: Int, groups: Int, eps: Float, zqChannels: Int, addUpsample: Bool, compressTime: Bool) {
        super.init()
        _resnets.wrappedValue = (0..<layers).map { CogVideoXResnetBlock3D($0 == 0 ? inC : outC, outC, groups: groups, eps: eps, spatialNormDim: zqChannels) }
        _upsamplers.wrappedValue = addUpsample ? [CogVideoXUpsample3D(channels: outC, compressTime: compressTime)] : nil
    }

    /// Runs the block on `h` in place (the caller's buffer is reused where the math allows).
    func forward(_ h: inout Tensor, zq: Tensor, cache: CausalCache?) throws {
        for r in resnets { try r.forward(&h, zq: zq, cache: cache) }
        for u in upsamplers ?? [] { h = try u(h, precision: cache?.precision ?? .environment, pool: cache?.pool) }
    }
}

final class CogVideoXMidBlock3D: Module {
    @ModuleInfo(key: "resnets") var resnets: [CogVideoXResnetBlock3D]

    init(_ c: Int, groups: Int, eps: Float, zqChannels: Int?) {
        super.init()
        _resnets.wrappedValue = (0..<2).map { _ in CogVideoXResnetBlock3D(c, c, groups: groups, eps: eps, spatialNormDim: zqChannels) }
    }

    /// Runs the block on `h` in place.
    func forward(_ h: inout Tensor, zq: Tensor?, cache: CausalCache?) throws {
        for r in resnets { try r.forward(&h, zq: zq, cache: cache) }
    }
}

final class CogVideoXEncoder3D: Module {
    @ModuleInfo(key: "conv_in") var convIn: CogVideoXCausalConv3d
    @ModuleInfo(key: "down_blocks") var downBlocks: [CogVideoXDownBlock3D]
    @ModuleInfo(key: "mid_block") var midBlock: CogVideoXMidBlock3D
    @ModuleInfo(key: "norm_out") var normOut: GroupNorm
    @ModuleInfo(key: "conv_out") var convOut: CogVideoXCausalConv3d

    init(_ c: CogVideoXVAEConfig) {
        super.init()
        let ch = c.blockOutChannels
        _convIn.wrappedValue = CogVideoXCausalConv3d(c.inChannels, ch[0], kernel: 3)
        var out = ch[0]
        var blocks: [CogVideoXDownBlock3D] = []
        for i in 0..<ch.count {
            let inC = out
            out = ch[i]
            blocks.append(CogVideoXDownBlock3D(inC, out, layers: c.layersPerBlock, groups: c.normNumGroups, eps: c.normEps,
                                               addDownsample: i != ch.count - 1, compressTime: i < c.temporalCompressLevel))
        }
        _downBlocks.wrappedValue = blocks
        _midBlock.wrappedValue = CogVideoXMidBlock3D(ch.last!, groups: c.normNumGroups, eps: c.normEps, zqChannels: nil)
        _normOut.wrappedValue = GroupNorm(groups: c.normNumGroups, channels: ch.last!, eps: 1e-6)
        _convOut.wrappedValue = CogVideoXCausalConv3d(ch.last!, 2 * c.latentChannels, kernel: 3)
    }

    func callAsFunction(_ x: Tensor, cache: CausalCache) throws -> Tensor {
        var h = try convIn(x, cache: cache)
        for b in downBlocks { try b.forward(&h, cache: cache) }
        try midBlock.forward(&h, zq: nil, cache: cache)
        try groupNormInPlace(&h, normOut, silu: true)
        return try convOut(h, cache: cache)
    }
}

final class CogVideoXDecoder3D: Module {
    @ModuleInfo(key: "conv_in") var convIn: CogVideoXCausalConv3d
    @ModuleInfo(key: "mid_block") var midBlock: CogVideoXMidBlock3D
    @ModuleInfo(key: "up_blocks") var upBlocks: [CogVideoXUpBlock3D]
    @ModuleInfo(key: "norm_out") var normOut: CogVideoXSpatialNorm3D
    @ModuleInfo(key: "conv_out") var convOut: CogVideoXCausalConv3d

    init(_ c: CogVideoXVAEConfig) {
        super.init()
        let ch = Array(c.blockOutChannels.reversed())
        _convIn.wrappedValue = CogVideoXCausalConv3d(c.latentChannels, ch[0], kernel: 3)
        _midBlock.wrappedValue = CogVideoXMidBlock3D(ch[0], groups: c.normNumGroups, eps: c.normEps, zqChannels: c.latentChannels)
        var out = ch[0]
        var blocks: [CogVideoXUpBlock3D] = []
        for i in 0..<ch.count {
            let inC = out
            out = ch[i]
            blocks.append(CogVideoXUpBlock3D(inC, out, layers: c.layersPerBlock + 1, groups: c.normNumGroups, eps: c.normEps,
                                             zqChannels: c.latentChannels, addUpsample: i != ch.count - 1,
                                             compressTime: i < c.temporalCompressLevel))
        }
        _upBlocks.wrappedValue = blocks
        _normOut.wrappedValue = CogVideoXSpatialNorm3D(channels: ch.last!, zqChannels: c.latentChannels, groups: c.normNumGroups)
        _convOut.wrappedValue = CogVideoXCausalConv3d(ch.last!, c.outChannels, kernel: 3)
    }

    func callAsFunction(_ z: Tensor, cache: CausalCache) throws -> Tensor {
        var h = try convIn(z, cache: cache)
        try midBlock.forward(&h, zq: z, cache: cache)
        for b in upBlocks { try b.forward(&h, zq: z, cache: cache) }
        try normOut.apply(&h, zq: z, cache: cache, silu: true)
        return try convOut(h, cache: cache)
    }
}

/// The CogVideoX 3D causal VAE. `decode` takes latents `[B, C, T, h, w]` already divided by the scaling factor and
/// returns pixels `[B, 3, T', 8h, 8w]` (nominally in [-1, 1]); `encode` returns the posterior of `[B, 3, T, H, W]`.
/// Frames are processed in chunks exactly as diffusers does (decode: 2 latent frames, the first chunk 3 when T is
/// odd; encode: 8 frames, the first 9), with causal caches flowing between chunks, because GroupNorm statistics are
/// per chunk and so part of the numerics.
public final class AutoencoderKLCogVideoX: Module {
    @ModuleInfo(key: "encoder") var encoder: CogVideoXEncoder3D
    @ModuleInfo(key: "decoder") var decoder: CogVideoXDecoder3D
    public let config: CogVideoXVAEConfig

    /// Spatial tiling (diffusers' `enable_tiling`): tile sizes in pixels and overlap factors. nil = off.
    public struct Tiling: Sendable, Equatable {
        public var sampleHeight: Int, sampleWidth: Int
        public var overlapHeight: Double = 1.0 / 6.0, overlapWidth: Double = 1.0 / 5.0
        public init(sampleHeight: Int, sampleWidth: Int, overlapHeight: Double = 1.0 / 6.0, overlapWidth: Double = 1.0 / 5.0) {
            self.sampleHeight = sampleHeight
            self.sampleWidth = sampleWidth
            self.overlapHeight = overlapHeight
            self.overlapWidth = overlapWidth
        }
    }
    public var tiling: Tiling?
    /// Precision of the Winograd products (`VAEPrecision`; default `COGVIDEO_VAE_PRECISION`, else `.auto`: bf16 for
    /// weights stored F16/BF16 on CPUs with AVX-512 BF16).
    public var precision: VAEPrecision = .environment

    public init(config: CogVideoXVAEConfig) {
        self.config = config
        super.init()
        _encoder.wrappedValue = CogVideoXEncoder3D(config)
        _decoder.wrappedValue = CogVideoXDecoder3D(config)
    }

    /// diffusers' default tiling: tiles of half the sample size, overlaps 1/6 (height) and 1/5 (width).
    public func enableTiling() { tiling = Tiling(sampleHeight: config.sampleHeight / 2, sampleWidth: config.sampleWidth / 2) }

    /// The chunk ranges `_encode`/`_decode` use for `frames` frames with chunks of `size`.
    static func chunks(_ frames: Int, size: Int) -> [Range<Int>] {
        let n = max(frames / size, 1), rem = frames % size
        return (0..<n).map { i in
            let start = size * i + (i == 0 ? 0 : rem)
            return start..<min(frames, size * (i + 1) + rem)
        }
    }

    /// Decodes latents `[B, C, T, h, w]` (already ÷ scaling factor) to pixels. `progress` gets (chunks done, total).
    ///
    /// `COGVIDEO_VAE_HEAP=1` keeps large freed blocks in malloc's heap during the decode (`Engine
    /// .withLargeBlocksInHeap`), trading memory for the kernel's page clearing of fresh activations: one 240×360 tile
    /// of 13 latent frames decoded in 105.1 s instead of 116.2 s at 3,489 MB instead of 2,645 MB peak RSS (AMD EPYC
    /// Zen 4, 2 threads), same output bits. Off by default: the default stays within 1/3 of diffusers' peak RSS.
    public func decode(_ z: Tensor, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        if ProcessInfo.processInfo.environment["COGVIDEO_VAE_HEAP"] == "1" {
            return try Engine.withLargeBlocksInHeap { try decodeChunks(z, progress: progress) }
        }
        return try decodeChunks(z, progress: progress)
    }

    private func decodeChunks(_ z: Tensor, progress: ((Int, Int) -> Void)?) throws -> Tensor {
        guard z.rank == 5, z.shape[1] == config.latentChannels else {
            throw ModuleError.shapeMismatch("VAE latents", expected: [-1, config.latentChannels, -1, -1, -1], found: z.shape)
        }
        if let t = tiling {
            let s = config.spatialScale
            let (lh, lw) = (t.sampleHeight / s, t.sampleWidth / s)
            if z.shape[4] > lw || z.shape[3] > lh {
                return try tiled(z, tileIn: (lh, lw), tileOut: (t.sampleHeight, t.sampleWidth), overlap: (t.overlapHeight, t.overlapWidth),
                                 chunk: 2, progress: progress) { try self.decoder($0, cache: $1) }
            }
        }
        return try chunked(z, chunk: 2, progress: progress) { try self.decoder($0, cache: $1) }
    }

    /// Encodes pixels `[B, 3, T, H, W]` to the posterior parameters `[B, 2C, T', H/8, W/8]` (mean then logvar).
    public func encodeMoments(_ x: Tensor, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        guard x.rank == 5, x.shape[1] == config.inChannels else {
            throw ModuleError.shapeMismatch("VAE input", expected: [-1, config.inChannels, -1, -1, -1], found: x.shape)
        }
        if let t = tiling, x.shape[4] > t.sampleWidth || x.shape[3] > t.sampleHeight {
            let s = config.spatialScale
            return try tiled(x, tileIn: (t.sampleHeight, t.sampleWidth), tileOut: (t.sampleHeight / s, t.sampleWidth / s),
                             overlap: (t.overlapHeight, t.overlapWidth), chunk: 8, progress: progress) { try self.encoder($0, cache: $1) }
        }
        return try chunked(x, chunk: 8, progress: progress) { try self.encoder($0, cache: $1) }
    }

    /// Posterior of `encodeMoments`.
    public func encode(_ x: Tensor, progress: ((Int, Int) -> Void)? = nil) throws -> DiagonalGaussian {
        DiagonalGaussian(moments: try encodeMoments(x, progress: progress))
    }

    private func chunked(_ x: Tensor, chunk: Int, progress: ((Int, Int) -> Void)?, _ run: (Tensor, CausalCache) throws -> Tensor) throws -> Tensor {
        let cache = CausalCache(precision: precision)
        let ranges = AutoencoderKLCogVideoX.chunks(x.shape[2], size: chunk)
        var parts: [Tensor] = []
        for (i, r) in ranges.enumerated() {
            cache.isLastChunk = i == ranges.count - 1
            parts.append(try run(Ops.slice(x, axis: 2, r), cache))
            progress?(i + 1, ranges.count)
        }
        return parts.count == 1 ? parts[0] : Ops.concat(parts, axis: 2)
    }

    /// diffusers' tiled_decode / tiled_encode: overlapping tiles, each run frame-chunked with its own caches, then
    /// blended with the tile above and to the left and cropped.
    ///
    /// Each tile is blended and cropped as soon as it is decoded (diffusers' order: a tile blends with its already
    /// blended neighbours), and only what later tiles read is kept of it: its last `blendH` rows for the tile below
    /// and its last `blendW` columns for the tile to its right. At 480×720 holding every finished tile until the end
    /// kept ≈ 450 MB alive while the last tiles decoded.
    private func tiled(_ x: Tensor, tileIn: (Int, Int), tileOut: (Int, Int), overlap: (Double, Double), chunk: Int,
                       progress: ((Int, Int) -> Void)?, _ run: (Tensor, CausalCache) throws -> Tensor) throws -> Tensor {
        let (h, w) = (x.shape[3], x.shape[4])
        let strideH = Int(Double(tileIn.0) * (1 - overlap.0)), strideW = Int(Double(tileIn.1) * (1 - overlap.1))
        let blendH = Int(Double(tileOut.0) * overlap.0), blendW = Int(Double(tileOut.1) * overlap.1)
        let limitH = tileOut.0 - blendH, limitW = tileOut.1 - blendW
        guard strideH > 0, strideW > 0 else { throw ModuleError.invalidInput("VAE tile size is too small for its overlap") }
        let rowStarts = Array(stride(from: 0, to: h, by: strideH)), colStarts = Array(stride(from: 0, to: w, by: strideW))
        var above = [Tensor?](repeating: nil, count: colStarts.count)  // last rows of the blended tiles of the row above
        var resultRows: [Tensor] = []
        var done = 0
        for i in rowStarts {
            var left: Tensor?  // last columns of the blended tile to the left
            var cropped: [Tensor] = []
            for (jc, j) in colStarts.enumerated() {
                let input = Ops.slice(Ops.slice(x, axis: 3, i..<min(h, i + tileIn.0)), axis: 4, j..<min(w, j + tileIn.1))
                var t = try chunked(input, chunk: chunk, progress: nil, run)
                if let a = above[jc] { AutoencoderKLCogVideoX.blendV(a, &t, extent: blendH) }
                if let l = left { AutoencoderKLCogVideoX.blendH(l, &t, extent: blendW) }
                let (th, tw) = (t.shape[3], t.shape[4])
                above[jc] = Ops.slice(t, axis: 3, max(0, th - blendH)..<th)
                left = Ops.slice(t, axis: 4, max(0, tw - blendW)..<tw)
                cropped.append(Ops.slice(Ops.slice(t, axis: 3, 0..<min(limitH, th)), axis: 4, 0..<min(limitW, tw)))
                done += 1
                progress?(done, rowStarts.count * colStarts.count)
            }
            resultRows.append(Ops.concat(cropped, axis: 4))
        }
        return Ops.concat(resultRows, axis: 3)
    }

    static func blendV(_ a: Tensor, _ b: inout Tensor, extent e0: Int) {
        let e = min(a.shape[3], b.shape[3], e0)
        guard e > 0 else { return }
        let (bc, ha, hb, w) = (a.shape[0] * a.shape[1] * a.shape[2], a.shape[3], b.shape[3], b.shape[4])
        guard a.shape[4] == w else { return }
        for y in 0..<e {
            let wa = Float(1 - Double(y) / Double(e)), wb = Float(Double(y) / Double(e))
            for p in 0..<bc {
                let ra = (p * ha + ha - e + y) * w, rb = (p * hb + y) * w
                for x in 0..<w { b.data[rb + x] = a.data[ra + x] * wa + b.data[rb + x] * wb }
            }
        }
    }

    static func blendH(_ a: Tensor, _ b: inout Tensor, extent e0: Int) {
        let e = min(a.shape[4], b.shape[4], e0)
        guard e > 0 else { return }
        let (bch, wa, wb) = (a.shape[0] * a.shape[1] * a.shape[2] * a.shape[3], a.shape[4], b.shape[4])
        guard a.shape[3] == b.shape[3] else { return }
        for x in 0..<e {
            let fa = Float(1 - Double(x) / Double(e)), fb = Float(Double(x) / Double(e))
            for p in 0..<bch { b.data[p * wb + x] = a.data[p * wa + wa - e + x] * fa + b.data[p * wb + x] * fb }
        }
    }
}

/// diffusers' `DiagonalGaussianDistribution` over moments `[B, 2C, …]`: mean and clamped log-variance.
public struct DiagonalGaussian: Sendable {
    public let mean: Tensor
    public let logvar: Tensor

    public init(moments: Tensor) {
        let c = moments.shape[1] / 2
        mean = Ops.slice(moments, axis: 1, 0..<c)
        var lv = Ops.slice(moments, axis: 1, c..<(2 * c))
        for i in lv.data.indices { lv.data[i] = min(max(lv.data[i], -30), 20) }
        logvar = lv
    }

    /// The mode (mean).
    public var mode: Tensor { mean }

    /// `mean + std · ε` with ε `[mean.shape]` from `noise` (e.g. the torch-compatible generator's randn).
    public func sample(noise: [Float]) throws -> Tensor {
        guard noise.count == mean.count else { throw ModuleError.invalidInput("posterior noise has \(noise.count) values for \(mean.count)") }
        var out = mean
        for i in out.data.indices { out.data[i] += Foundation.exp(0.5 * logvar.data[i]) * noise[i] }
        return out
    }
}
