// Positional information of CogVideoX (diffusers models/embeddings.py and the pipelines'
// _prepare_rotary_positional_embeddings; shared/reference/cogvideox-spec.md §2.4, §2.6). Operation order and
// precision follow diffusers: float32 positions, float64 sin-cos tables, float32 RoPE tables.
import Foundation

public enum PositionalEmbeddings {
    /// `get_timestep_embedding(t, dim, flip_sin_to_cos: true, shift: 0)`: float32 `[t.count, dim]`, cos half first.
    public static func timestep(_ t: [Float], dim: Int, flipSinToCos: Bool = true, downscaleFreqShift: Double = 0) -> Tensor {
        let half = dim / 2
        let logPeriod = Float(Foundation.log(10000.0))
        var freqs = [Float](repeating: 0, count: half)
        for i in 0..<half {
            let exponent = -logPeriod * Float(i)
            freqs[i] = Foundation.exp(exponent / Float(Double(half) - downscaleFreqShift))
        }
        var out = Tensor(zeros: [t.count, dim])
        for (b, tv) in t.enumerated() {
            for i in 0..<half {
                let a = tv * freqs[i]
                let s = Foundation.sin(a), c = Foundation.cos(a)
                out.data[b * dim + i] = flipSinToCos ? c : s
                out.data[b * dim + half + i] = flipSinToCos ? s : c
            }
        }
        return out
    }

    /// `get_1d_sincos_pos_embed_from_grid` in float64: `[sin(p·ω) | cos(p·ω)]`, ω_k = 1/10000^(k/(d/2)).
    static func sinCos1D(_ d: Int, _ positions: [Float]) -> [[Double]] {
        let half = d / 2
        let omega = (0..<half).map { 1.0 / Foundation.pow(10000.0, Double($0) / (Double(d) / 2.0)) }
        return positions.map { p in
            let pd = Double(p)
            return omega.map { Foundation.sin(pd * $0) } + omega.map { Foundation.cos(pd * $0) }
        }
    }

    /// The 2b table `get_3d_sincos_pos_embed(D, (W, H), T, 1.875, 1.0)` as fp32 rows `[T·H·W, D]`, tokens ordered
    /// (frame, row, column); features `[time D/4 | column 3D/8 | row 3D/8]`.
    public static func sinCos3D(dim: Int, height: Int, width: Int, frames: Int,
                                spatialScale: Double, temporalScale: Double) -> [Float] {
        let dt = dim / 4, ds = 3 * dim / 4
        let cols = sinCos1D(ds / 2, (0..<width).map { Float($0) / Float(spatialScale) })
        let rows = sinCos1D(ds / 2, (0..<height).map { Float($0) / Float(spatialScale) })
        let times = sinCos1D(dt, (0..<frames).map { Float($0) / Float(temporalScale) })
        var out = [Float](repeating: 0, count: frames * height * width * dim)
        var o = 0
        for f in 0..<frames { for i in 0..<height { for j in 0..<width {
            for v in times[f] { out[o] = Float(v); o += 1 }
            for v in cols[j] { out[o] = Float(v); o += 1 }
            for v in rows[i] { out[o] = Float(v); o += 1 }
        } } }
        return out
    }

    /// Python's `round` (half to even) for the crop-region arithmetic.
    static func pyRound(_ x: Double) -> Int { Int(x.rounded(.toNearestOrEven)) }

    /// `get_resize_crop_region_for_grid((h, w), tw, th)` → ((top, left), (bottom, right)).
    static func cropRegion(gridHeight h: Int, gridWidth w: Int, baseWidth tw: Int, baseHeight th: Int) -> ((Int, Int), (Int, Int)) {
        let r = Double(h) / Double(w)
        let rh: Int, rw: Int
        if r > Double(th) / Double(tw) {
            rh = th
            rw = pyRound(Double(th) / Double(h) * Double(w))
        } else {
            rw = tw
            rh = pyRound(Double(tw) / Double(w) * Double(h))
        }
        let top = pyRound(Double(th - rh) / 2.0), left = pyRound(Double(tw - rw) / 2.0)
        return ((top, left), (top + rh, left + rw))
    }

    /// `torch.linspace(start, end, steps)` in float32 (step in float32; first half from the start, second half from
    /// the end, as PyTorch's CPU kernel).
    static func linspace(_ start: Double, _ end: Double, _ steps: Int) -> [Float] {
        guard steps > 1 else { return steps == 1 ? [Float(start)] : [] }
        let s = Float(start), e = Float(end)
        let step = (e - s) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in i < halfway ? s + step * Float(i) : e - step * Float(steps - i - 1) }
    }

    /// `get_1d_rotary_pos_embed(dim, pos, use_real: true)`: float32 cos and sin `[S, dim]`, each value repeated twice.
    static func rotary1D(_ dim: Int, _ pos: [Float]) -> (cos: [[Float]], sin: [[Float]]) {
        let freqs = stride(from: 0, to: dim, by: 2).map { Float(1.0) / Foundation.pow(Float(10000.0), Float($0) / Float(dim)) }
        var c: [[Float]] = [], s: [[Float]] = []
        for p in pos {
            var cr: [Float] = [], sr: [Float] = []
            for f in freqs {
                let a = p * f
                let cv = Foundation.cos(a), sv = Foundation.sin(a)
                cr += [cv, cv]
                sr += [sv, sv]
            }
            c.append(cr)
            s.append(sr)
        }
        return (c, s)
    }

    /// RoPE tables for the video tokens as the pipelines compute them: `cos`, `sin` each `[T·gh·gw, headDim]`,
    /// tokens ordered (t, row, col), features `[t (hd/4) | h (3hd/8) | w (3hd/8)]`.
    /// - Parameters: latentFrames is the transformer's frame count F (1.5: before temporal patching);
    ///   height/width are latent sizes (pixels / 8).
    public static func rotary3D(config c: CogVideoXTransformerConfig, latentFrames: Int, latentHeight: Int, latentWidth: Int) throws -> RotaryTables {
        let p = c.patchSize
        let gh = latentHeight / p, gw = latentWidth / p
        let baseW = c.sampleWidth / p, baseH = c.sampleHeight / p
        let hd = c.attentionHeadDim
        let dt = hd / 4, dh = hd / 8 * 3, dw = hd / 8 * 3
        let tPos: [Float], hPos: [Float], wPos: [Float], t: Int
        if let pt = c.patchSizeT {
            t = (latentFrames + pt - 1) / pt
            guard gh <= baseH, gw <= baseW else {
                throw ModuleError.invalidInput("a \(gh)×\(gw) token grid exceeds the model's RoPE table of \(baseH)×\(baseW) (sample_height/width)")
            }
            tPos = (0..<t).map(Float.init)
            hPos = (0..<gh).map(Float.init)
            wPos = (0..<gw).map(Float.init)
        } else {
            t = latentFrames
            let ((top, left), (bottom, right)) = cropRegion(gridHeight: gh, gridWidth: gw, baseWidth: baseW, baseHeight: baseH)
            hPos = linspace(Double(top), Double(bottom) * Double(gh - 1) / Double(gh), gh)
            wPos = linspace(Double(left), Double(right) * Double(gw - 1) / Double(gw), gw)
            tPos = linspace(0, Double(t) * Double(t - 1) / Double(t), t)
        }
        let ft = rotary1D(dt, tPos), fh = rotary1D(dh, hPos), fw = rotary1D(dw, wPos)
        var cos = [Float](), sin = [Float]()
        cos.reserveCapacity(t * gh * gw * hd)
        sin.reserveCapacity(t * gh * gw * hd)
        for ti in 0..<t { for i in 0..<gh { for j in 0..<gw {
            cos += ft.cos[ti] + fh.cos[i] + fw.cos[j]
            sin += ft.sin[ti] + fh.sin[i] + fw.sin[j]
        } } }
        return RotaryTables(cos: Tensor(shape: [t * gh * gw, hd], data: cos), sin: Tensor(shape: [t * gh * gw, hd], data: sin))
    }
}

/// RoPE tables `(cos, sin)`, each `[N_video, head_dim]` fp32.
public struct RotaryTables: Sendable {
    public let cos: Tensor
    public let sin: Tensor
    public init(cos: Tensor, sin: Tensor) {
        self.cos = cos
        self.sin = sin
    }
}
