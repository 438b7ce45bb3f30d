// GroupNorm (or CogVideoX's SpatialNorm) + SiLU of one activation, prepared once and then applied row by row: in
// place, or to the rows a convolution reads as it reads them (`virtualConvolve(normalizing:)`). The second form
// lets a resnet block keep its input unnormalized for the shortcut without a normalized copy of it: at 480×720 the
// 256-channel input of the decoder's last up block is 708 MB per frame chunk and tile.
import CKernels
import Foundation

/// GroupNorm (affine) of a `[B, C, T, H, W]` activation, optionally modulated per pixel as by SpatialNorm
/// (`· conv_y(zq) + conv_b(zq)`, read at latent size through nearest index maps), then SiLU when `silu`.
///
/// The statistics are those of the activation it was made from (`groupNormalization`, `CogVideoXSpatialNorm3D
/// .normalization`): the values of the frame chunk, as diffusers computes them.
struct InputNormalization: Sendable {
    /// Shape `[B, C, T, H, W]` of the activation the statistics belong to.
    let shape: [Int]
    /// Per (batch, channel): `x · scale + shift` is the affine GroupNorm.
    let scale: [Float], shift: [Float]
    let modulation: Modulation?
    let silu: Bool

    /// SpatialNorm's per-pixel factor and offset: `conv_y(zq)` and `conv_b(zq)` `[B, C, tz, hz, wz]` with the
    /// activation's frame, row and column `i` reading latent frame/row/column `tmap[i]`/`hmap[i]`/`wmap[i]`.
    struct Modulation: Sendable {
        let y: [Float], b: [Float]
        let tz: Int, hz: Int, wz: Int
        let tmap: [Int], hmap: [Int], wmap: [Int]
    }

    var width: Int { shape[4] }

    /// Floats of scratch that `normalize` needs.
    var scratchFloats: Int { 2 * shape[4] }

    /// Normalizes source rows `rows` of plane `bc` (batch · C + channel), frame `t`, whose first value is at `plane`,
    /// into consecutive rows of `width` floats at `dst` (`dst` may be `plane + rows.lowerBound · width`: in place).
    /// `scratch` holds `scratchFloats` floats.
    func normalize(bc: Int, t: Int, rows: Range<Int>, plane: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                   scratch: UnsafeMutablePointer<Float>) {
        let w = shape[4], scale = self.scale[bc], shift = self.shift[bc]
        guard let mod = modulation else {  // the rows are contiguous in the plane and at dst: one pass
            let src = plane + rows.lowerBound * w
            if UnsafePointer(dst) != src { dst.update(from: src, count: rows.count * w) }
            ck_scale_shift(dst, rows.count * w, scale, shift, silu ? 1 : 0)
            return
        }
        let ey = scratch, eb = scratch + w
        let zf = (bc * mod.tz + mod.tmap[t]) * mod.hz * mod.wz
        var expanded = -1
        mod.y.withUnsafeBufferPointer { Y in
            mod.b.withUnsafeBufferPointer { Bv in
                mod.wmap.withUnsafeBufferPointer { wmap in
                    for i in rows {
                        if mod.hmap[i] != expanded {  // the latent row of factors and offsets, at full width once
                            expanded = mod.hmap[i]
                            let yr = Y.baseAddress! + zf + expanded * mod.wz, br = Bv.baseAddress! + zf + expanded * mod.wz
                            for j in 0..<w { ey[j] = yr[wmap[j]]; eb[j] = br[wmap[j]] }
                        }
                        let o = dst + (i - rows.lowerBound) * w, s = plane + i * w
                        for j in 0..<w { o[j] = (s[j] * scale + shift) * ey[j] + eb[j] }
                        if silu { ck_silu(o, w) }
                    }
                }
            }
        }
    }

    /// Normalizes `f` in place, or `source` (the activation itself) into `f` (same shape, values never read).
    /// With `frames`, `f` holds other frames: its frame `k` is frame `frames[k]` of the activation (`nil`: left as it
    /// is), as for a causal cache gathered from the chunk.
    func apply(to f: inout Tensor, source: Tensor? = nil, frames: [Int?]? = nil) throws {
        let (b, c, h, w) = (shape[0], shape[1], shape[3], shape[4])
        let frames = frames ?? (0..<shape[2]).map { $0 }
        guard f.rank == 5, f.shape[0] == b, f.shape[1] == c, f.shape[3] == h, f.shape[4] == w, frames.count == f.shape[2],
              frames.allSatisfy({ $0 == nil || (0..<shape[2]).contains($0!) }) else {
            throw ModuleError.shapeMismatch("normalized activation", expected: shape, found: f.shape)
        }
        let ft = f.shape[2]
        if let source, source.shape != shape {
            throw ModuleError.shapeMismatch("normalization source", expected: shape, found: source.shape)
        }
        let sourceFrames = shape[2], scratchFloats = self.scratchFloats
        func run(_ F: UnsafeMutablePointer<Float>, _ S: UnsafePointer<Float>?) {
            nonisolated(unsafe) let F = F, S = S
            Engine.parallelFor(b * c * ft) { row in
                let bc = row / ft, k = row % ft
                guard let t = frames[k] else { return }
                let dst = F + row * h * w
                let src = S.map { $0 + (bc * sourceFrames + t) * h * w } ?? UnsafePointer(dst)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchFloats) { ex in
                    normalize(bc: bc, t: t, rows: 0..<h, plane: src, into: dst, scratch: ex.baseAddress!)
                }
            }
        }
        f.data.withUnsafeMutableBufferPointer { fp in
            if let source {
                source.data.withUnsafeBufferPointer { sp in run(fp.baseAddress!, sp.baseAddress!) }
            } else {
                run(fp.baseAddress!, nil)
            }
        }
    }
}

/// The GroupNorm of `x` with `norm`'s affine parameters (then SiLU when `silu`), to apply later.
func groupNormalization(of x: Tensor, _ norm: GroupNorm, silu: Bool) throws -> InputNormalization {
    guard x.rank == 5, x.shape[1] == norm.channels, norm.channels % norm.groups == 0 else {
        throw ModuleError.shapeMismatch("GroupNorm input", expected: [-1, norm.channels, -1, -1, -1], found: x.shape)
    }
    let gamma = try norm.weight?.floats("weight"), beta = try norm.bias?.floats("bias")
    let stats = groupNormStatistics(x, groups: norm.groups, eps: norm.eps)
    let (scale, shift) = affineCoefficients(batch: x.shape[0], channels: norm.channels, groups: norm.groups,
                                            stats: stats, gamma: gamma, beta: beta)
    return InputNormalization(shape: x.shape, scale: scale, shift: shift, modulation: nil, silu: silu)
}
