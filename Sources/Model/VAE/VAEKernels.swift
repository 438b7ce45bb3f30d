// Memory-lean kernels of the CogVideoX VAE. At 480×720 one decoder activation is 0.7–1.4 GB, so nothing here
// materializes what the convolution can read in place: the causal time padding (cache frames + chunk frames), the
// nearest 2× upsampling (rows, columns and frames repeated) and the downsampler's zero padding are all resolved
// inside im2col; the SpatialNorm's 1×1×1 convolutions run at latent resolution and are read through the same
// nearest-neighbour index maps; GroupNorm + SpatialNorm + SiLU are applied in place.
import CKernels
import Foundation
import GGUFLike
import SafeTensors

/// One frame of a virtual convolution input: frame `t` of `parts[part]` (`[B, C, T, H, W]`, all parts sharing
/// B, C, H and W).
struct VirtualFrame: Equatable {
    var part: Int
    var t: Int
}

/// PyTorch's nearest index map for a resize from `n` to `m` elements: `min(floor(i · n/m), n − 1)` in fp32.
func nearestMap(from n: Int, to m: Int) -> [Int] {
    let s = Float(n) / Float(m)
    return (0..<m).map { min(Int((Float($0) * s).rounded(.down)), n - 1) }
}

/// Runs `body` with the fp32 values of a stored weight: the mapped bytes themselves when they are F32 (no copy of
/// the up to 28 MB kernel of a 512-channel convolution at every call), otherwise a decoded copy.
///
/// Afterwards the weight's pages of a safetensors mapping leave the resident set (`releaseMappedPages`): a decode
/// reads each kernel once per frame chunk, and keeping every kernel it has read resident would add the whole
/// decoder (≈ 420 MB in F32, 210 MB in F16) to the peak RSS; re-reading them from the page cache at the next chunk
/// costs a minor fault per 4 KB page (≈ 0.1 s per chunk).
func withWeightFloats<R>(_ p: Parameter, _ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
    let w = try p.weight(name)
    defer { releaseMappedPages(w) }
    if w.type == .f32, let base = w.bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0,
       w.bytes.count == w.count * MemoryLayout<Float>.stride {
        return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: w.count))
    }
    return try w.floats().withUnsafeBufferPointer(body)
}

/// Drops the whole pages of `w`'s bytes from the resident set when they belong to a read-only safetensors mapping
/// (`MappedFile`, PROT_READ + MAP_PRIVATE, never written): the next read faults them back in from the page cache
/// with the same contents. Weights in any other memory (owned copies, GGUF) are left alone.
func releaseMappedPages(_ w: WeightTensor) {
    guard w.owner is MappedFile, let base = w.bytes.baseAddress else { return }
    releaseWholePages(Int(bitPattern: base), Int(bitPattern: base) + w.bytes.count)
}

/// Drops the whole pages of `array`'s storage beyond its count from the resident set, for an activation buffer
/// that now holds less than it was made for (`pointwiseConvInPlace`). The storage stays allocated (its capacity);
/// those pages read as zeros if they are ever touched again, and nothing reads them before writing.
func releaseUnusedCapacity(_ array: inout [Float]) {
    let (count, capacity) = (array.count, array.capacity)
    array.withUnsafeMutableBufferPointer { p in
        guard let base = p.baseAddress else { return }
        releaseWholePages(Int(bitPattern: base + count), Int(bitPattern: base + capacity))
    }
}

/// `madvise(MADV_DONTNEED)` on the whole pages within the addresses `start ..< end` (Linux; a no-op elsewhere).
private func releaseWholePages(_ start: Int, _ end: Int) {
    #if os(Linux)
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let first = (start + page - 1) / page * page, last = end / page * page
    guard last > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
    _ = madvise(p, last - first, MADV_DONTNEED)
    #endif
}

/// Precision of the VAE's Winograd products (the 3×3 convolutions, ≈ 3/4 of a decode's CPU time).
public enum VAEPrecision: String, Sendable, CaseIterable {
    /// bf16 products for convolutions whose weights are stored F16 or BF16 (they already carry 16-bit rounding)
    /// on CPUs where bf16 products are the faster ones (`Engine.bf16ProductsPreferred`), fp32 otherwise and for
    /// F32 weights. The default.
    case auto
    /// fp32 products everywhere.
    case f32
    /// bf16 products for every Winograd convolution, F32 weights too.
    case bf16

    /// `COGVIDEO_VAE_PRECISION` (`f32` or `bf16`; unset or anything else: `auto`).
    public static let environment: VAEPrecision = {
        switch ProcessInfo.processInfo.environment["COGVIDEO_VAE_PRECISION"]?.lowercased() {
        case "f32", "fp32": return .f32
        case "bf16": return .bf16
        default: return .auto
        }
    }()

    /// Whether a convolution with weights stored as `type` takes bf16 products (CPUs without AVX-512 BF16 always
    /// use fp32, whatever this says).
    func usesBF16(weights type: GGMLType?) -> Bool {
        switch self {
        case .f32: return false
        case .bf16: return true
        case .auto: return (type == .f16 || type == .bf16) && Engine.bf16ProductsPreferred
        }
    }
}

/// A tensor whose values are left uninitialized, for outputs that a kernel writes in full: at 480×720 a decoder
/// activation is up to 1.4 GB, and clearing it first would be a single-threaded pass (plus its page faults) over
/// memory that is overwritten anyway.
/// Forwards to `Tensor.uninitialized` (transparent huge pages for buffers of 4 MB and more: one fault per 2 MB).
func uninitializedTensor(_ shape: [Int]) -> Tensor { Tensor.uninitialized(shape) }

/// Recycles the decoder's large activation buffers within one pass (owned by its `CausalCache`). Every decoder
/// activation used to be a fresh allocation of up to 1.4 GB that the allocator maps anew and the kernel faults in
/// and zeroes page by page, about a tenth of the decode's CPU time; a resnet block's conv outputs, normalized
/// copies and residuals all have one size, so the buffers a block releases are the ones the next block needs.
///
/// Peak memory is not raised: a request the pool cannot serve exactly first frees everything the pool holds, and
/// the pool keeps at most `capacity` buffers. Buffers handed in must be referenced only by the tensor given (a
/// shared one stays correct, since writers copy on write, but is not reused in place).
final class ActivationPool {
    private var buffers: [[Float]] = []
    let capacity: Int

    /// Smaller buffers are neither kept nor a reason to free the kept ones.
    static let minimumFloats = 1 << 20

    init(capacity: Int = 2) { self.capacity = capacity }

    /// Number of buffers held for reuse.
    var heldBuffers: Int { buffers.count }

    /// A tensor of `shape` with unspecified contents, for outputs that a kernel writes in full.
    func take(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        if let i = buffers.lastIndex(where: { $0.count == n }) {
            return Tensor(shape: shape, data: buffers.remove(at: i))
        }
        if n >= Self.minimumFloats { buffers.removeAll() }
        return uninitializedTensor(shape)
    }

    /// Takes `t`'s buffer (leaving `t` empty) for reuse.
    func give(_ t: inout Tensor) {
        let data = t.data
        t = Tensor(shape: [0], data: [])
        guard data.count >= Self.minimumFloats else { return }
        buffers.append(data)
        if buffers.count > capacity { buffers.removeFirst() }
    }
}

/// Runs `body` with the base pointers of every tensor in `tensors`.
func withBases<R>(_ tensors: ArraySlice<Tensor>, _ acc: [UnsafePointer<Float>],
                          _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
    guard let first = tensors.first else { return try body(acc) }
    return try first.data.withUnsafeBufferPointer { try withBases(tensors.dropFirst(), acc + [$0.baseAddress!], body) }
}

/// Convolution over a virtual input `[B, C, frames.count, rows.count (or H), cols.count (or W)]` whose frame `i` is
/// `frames[i]` of `parts` and whose row/column `j` is source row/column `rows[j]`/`cols[j]` (nil = identity).
/// Valid in time (stride 1), zero padding `padding` in space plus `extraEnd` zero rows/columns after the end,
/// spatial `stride`. Weights `[out, C·kT·kH·kW]` fp32. Output `[B, out, T', H', W']`.
///
/// 3×3 kernels with stride 1 and padding 1 whose output is at least `winogradTile` in both dimensions run through
/// Winograd F(m×m, 3×3) (`winogradConvolve`, m = `winogradTile`, 0 = never; bands of about `bandFloats` transform
/// floats). Every other shape: im2col + GEMM one output frame and one band of output rows at a time
/// (≤ `bandFloats` column floats), as the engine's `convolve`, with interior rows copied as runs.
func virtualConvolve(_ parts: [Tensor], frames: [VirtualFrame], rows rowMap: [Int]? = nil, cols colMap: [Int]? = nil,
                     weight: [Float], bias: [Float]?, outChannels co: Int, kernel: (Int, Int, Int), stride: (Int, Int) = (1, 1),
                     padding: (Int, Int), extraEnd: (Int, Int) = (0, 0), bandFloats: Int = 1 << 22,
                     winogradTile: Int = vaeWinogradTile, pool: ActivationPool? = nil,
                     normalizing: InputNormalization? = nil) throws -> Tensor {
    try weight.withUnsafeBufferPointer {
        try virtualConvolve(parts, frames: frames, rows: rowMap, cols: colMap, weight: $0, bias: bias, outChannels: co, kernel: kernel,
                            stride: stride, padding: padding, extraEnd: extraEnd, bandFloats: bandFloats, winogradTile: winogradTile,
                            pool: pool, normalizing: normalizing)
    }
}

/// `virtualConvolve` with the weights `[out, C·kT·kH·kW]` fp32 read in place (`withWeightFloats`). `bf16`: the
/// Winograd products in bf16 (`winogradConvolve`). `normalizing`: `parts[0]` is read normalized (the other parts
/// as they are): by the Winograd path row band by row band as it reads them, otherwise from a normalized copy.
func virtualConvolve(_ parts: [Tensor], frames: [VirtualFrame], rows rowMap: [Int]? = nil, cols colMap: [Int]? = nil,
                     weight: UnsafeBufferPointer<Float>, bias: [Float]?, outChannels co: Int, kernel: (Int, Int, Int),
                     stride: (Int, Int) = (1, 1), padding: (Int, Int), extraEnd: (Int, Int) = (0, 0), bandFloats: Int = 1 << 22,
                     winogradTile: Int = vaeWinogradTile, pool: ActivationPool? = nil, bf16: Bool = false,
                     normalizing: InputNormalization? = nil) throws -> Tensor {
    let s0 = parts[0].shape
    let (b, c, h, w) = (s0[0], s0[1], s0[3], s0[4])
    for p in parts where p.shape[0] != b || p.shape[1] != c || p.shape[3] != h || p.shape[4] != w {
        throw ModuleError.shapeMismatch("VAE convolution input part", expected: [b, c, -1, h, w], found: p.shape)
    }
    if let normalizing, normalizing.shape != s0 {
        throw ModuleError.shapeMismatch("normalized VAE convolution input", expected: normalizing.shape, found: s0)
    }
    let partFrames = parts.map { $0.shape[2] }
    let vh = rowMap?.count ?? h, vw = colMap?.count ?? w
    let (kt, kh, kw) = kernel, (sh, sw) = stride, (ph, pw) = padding
    let to = frames.count - kt + 1
    let ho = (vh + 2 * ph + extraEnd.0 - kh) / sh + 1, wo = (vw + 2 * pw + extraEnd.1 - kw) / sw + 1
    guard to > 0, ho > 0, wo > 0 else { throw ModuleError.invalidInput("VAE convolution input \(frames.count)×\(vh)×\(vw) is smaller than the kernel") }
    let k = c * kt * kh * kw
    guard weight.count == co * k else { throw ModuleError.invalidInput("VAE convolution weight has \(weight.count) values for \(co)×\(k)") }

    // Per kernel column: source column of every output column, or −1 for padding. Identity maps with stride 1
    // take the run-copy path instead.
    let contiguousCols = colMap == nil && sw == 1
    var colIndex = [Int](repeating: -1, count: kw * wo)
    for kwi in 0..<kw {
        for ow in 0..<wo {
            let iw = ow * sw - pw + kwi
            if iw >= 0 && iw < vw { colIndex[kwi * wo + ow] = colMap?[iw] ?? iw }
        }
    }
    let rowIndex: [Int] = (0..<(vh + 2 * ph + extraEnd.0)).map { v in
        let ih = v - ph
        return ih >= 0 && ih < vh ? (rowMap?[ih] ?? ih) : -1
    }

    let m = winogradTile
    if m > 0 && kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph == 1 && pw == 1 && extraEnd == (0, 0) && ho >= m && wo >= m {
        return winogradConvolve(parts, frames: frames, rowIndex: rowIndex, colMap: colMap, weight: weight, bias: bias,
                                outChannels: co, kt: kt, outSize: (ho, wo), tile: m,
                                bandFloats: bandFloats, pool: pool, bf16: bf16, normalizing: normalizing)
    }
    if let normalizing {
        var normalized = parts
        normalized[0] = uninitializedTensor(s0)
        try normalizing.apply(to: &normalized[0], source: parts[0])
        return try virtualConvolve(normalized, frames: frames, rows: rowMap, cols: colMap, weight: weight, bias: bias, outChannels: co,
                                   kernel: kernel, stride: stride, padding: padding, extraEnd: extraEnd, bandFloats: bandFloats,
                                   winogradTile: winogradTile, pool: pool, bf16: bf16)
    }

    var out = Tensor(zeros: [b, co, to, ho, wo])
    let bandRows = max(1, min(ho, bandFloats / max(k * wo, 1)))
    var col = [Float](repeating: 0, count: k * bandRows * wo)
    let plane = ho * wo
    withBases(parts[...], []) { bases in
        do {
            let wp = weight
            col.withUnsafeMutableBufferPointer { cp in
                out.data.withUnsafeMutableBufferPointer { op in
                    colIndex.withUnsafeBufferPointer { cip in
                        rowIndex.withUnsafeBufferPointer { rip in
                            nonisolated(unsafe) let Col = cp.baseAddress!, CI = cip.baseAddress!, RI = rip.baseAddress!
                            nonisolated(unsafe) let B = bases
                            for bi in 0..<b {
                                for ot in 0..<to {
                                    var r0 = 0
                                    while r0 < ho {
                                        let nrows = min(bandRows, ho - r0), p = nrows * wo, band0 = r0
                                        Engine.parallelRanges(k, minimumChunk: 4) { range in
                                            for r in range {
                                                let kwi = r % kw, khi = (r / kw) % kh, kti = (r / (kw * kh)) % kt, ci = r / (kw * kh * kt)
                                                let f = frames[ot + kti]
                                                let src = B[f.part] + ((bi * c + ci) * partFrames[f.part] + f.t) * h * w
                                                let dst = Col + r * p
                                                let lo = max(0, pw - kwi), hi = min(wo, w + pw - kwi)
                                                for orow in 0..<nrows {
                                                    let d = dst + orow * wo
                                                    let sr = RI[(band0 + orow) * sh + khi]
                                                    guard sr >= 0 else { d.update(repeating: 0, count: wo); continue }
                                                    let s = src + sr * w
                                                    if contiguousCols {
                                                        if lo > 0 { d.update(repeating: 0, count: lo) }
                                                        if hi > lo { d.advanced(by: lo).update(from: s + (lo - pw + kwi), count: hi - lo) }
                                                        if hi < wo { (d + max(hi, 0)).update(repeating: 0, count: wo - max(hi, 0)) }
                                                    } else {
                                                        let ix = CI + kwi * wo
                                                        for ow in 0..<wo { let i = ix[ow]; d[ow] = i >= 0 ? s[i] : 0 }
                                                    }
                                                }
                                            }
                                        }
                                        let dst = op.baseAddress! + ((bi * co) * to + ot) * plane + r0 * wo
                                        sgemmNN(co, p, k, wp.baseAddress!, k, Col, p, dst, to * plane)
                                        r0 += nrows
                                    }
                                }
                            }
                            if let bias {
                                nonisolated(unsafe) let O = op.baseAddress!
                                let n = to * plane
                                Engine.parallelFor(b * co) { bo in
                                    let base = O + bo * n, v = bias[bo % co]
                                    for i in 0..<n { base[i] += v }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Copies virtual frames of `parts` into a new `[B, C, frames.count, H, W]` tensor (the next causal cache).
func gatherFrames(_ parts: [Tensor], _ frames: [VirtualFrame], pool: ActivationPool? = nil) -> Tensor {
    let s0 = parts[0].shape
    let (b, c, plane) = (s0[0], s0[1], s0[3] * s0[4])
    var out = pool?.take([b, c, frames.count, s0[3], s0[4]]) ?? uninitializedTensor([b, c, frames.count, s0[3], s0[4]])  // every frame is copied
    let nf = frames.count, partFrames = parts.map { $0.shape[2] }
    withBases(parts[...], []) { bases in
        out.data.withUnsafeMutableBufferPointer { o in
            nonisolated(unsafe) let O = o.baseAddress!, B = bases
            Engine.parallelFor(b * c) { bc in  // up to 180 MB per cache at 480×720: copied by all threads
                for (i, f) in frames.enumerated() {
                    (O + (bc * nf + i) * plane).update(from: B[f.part] + (bc * partFrames[f.part] + f.t) * plane, count: plane)
                }
            }
        }
    }
    return out
}

/// GroupNorm of `x` `[B, C, T, H, W]` in place (the module's affine parameters), then SiLU when `silu`.
func groupNormInPlace(_ x: inout Tensor, _ norm: GroupNorm, silu: Bool) throws {
    try groupNormalization(of: x, norm, silu: silu).apply(to: &x)
}

/// `x += y` elementwise (same shape).
func addInPlace(_ x: inout Tensor, _ y: Tensor) {
    x.data.withUnsafeMutableBufferPointer { xp in
        y.data.withUnsafeBufferPointer { yp in
            nonisolated(unsafe) let X = xp.baseAddress!, Y = yp.baseAddress!
            Engine.parallelRanges(xp.count, minimumChunk: 1 << 16) { r in for i in r { X[i] += Y[i] } }
        }
    }
}

/// A 1×1×1 `Conv3d` (no padding, stride 1) as one GEMM per batch element and frame straight on the input planes.
func pointwiseConv(_ x: Tensor, _ conv: Conv3d, pool: ActivationPool? = nil) throws -> Tensor {
    guard x.rank == 5, x.shape[1] == conv.inChannels, conv.kernel == (1, 1, 1), conv.stride == (1, 1, 1), conv.padding == (0, 0, 0) else {
        return try conv(x)
    }
    let (b, c, t, plane) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3] * x.shape[4])
    let co = conv.outChannels
    let weight = try conv.weight.floats("weight"), bias = try conv.bias?.floats("bias")
    var out = pool?.take([b, co, t, x.shape[3], x.shape[4]]) ?? uninitializedTensor([b, co, t, x.shape[3], x.shape[4]])  // every plane is a GEMM output
    x.data.withUnsafeBufferPointer { xp in
        weight.withUnsafeBufferPointer { wp in
            out.data.withUnsafeMutableBufferPointer { op in
                for bi in 0..<b {
                    for ti in 0..<t {
                        sgemmNN(co, plane, c, wp.baseAddress!, c, xp.baseAddress! + (bi * c * t + ti) * plane, t * plane,
                                op.baseAddress! + (bi * co * t + ti) * plane, t * plane)
                    }
                }
                if let bias {
                    nonisolated(unsafe) let O = op.baseAddress!
                    let n = t * plane
                    Engine.parallelFor(b * co) { bo in
                        let base = O + bo * n, v = bias[bo % co]
                        for i in 0..<n { base[i] += v }
                    }
                }
            }
        }
    }
    return out
}

/// A 1×1×1 `Conv3d` to fewer channels (`out ≤ in`) computed in `x`'s own buffer, which then holds `[B, out, T, H, W]`
/// and gives its unused pages back (`releaseUnusedCapacity`): the decoder's 256 → 128 shortcut of a 708 MB input
/// needs no second 354 MB buffer. Blocks of columns (pixels of all frames) run in parallel: the outputs of a block
/// are written over the same columns of the first `out` input rows (of this or an earlier batch element), which the
/// block has read, into a per-thread scratch first. More output channels than input channels: `pointwiseConv` into
/// a new buffer, the input's going back to `pool`.
func pointwiseConvInPlace(_ x: inout Tensor, _ conv: Conv3d, pool: ActivationPool? = nil) throws {
    guard x.rank == 5, x.shape[1] == conv.inChannels, conv.outChannels <= conv.inChannels, conv.kernel == (1, 1, 1),
          conv.stride == (1, 1, 1), conv.padding == (0, 0, 0) else {
        var y = try pointwiseConv(x, conv, pool: pool)
        swap(&x, &y)
        pool?.give(&y)
        return
    }
    let (b, c, co) = (x.shape[0], x.shape[1], conv.outChannels)
    let (t, h, w) = (x.shape[2], x.shape[3], x.shape[4])
    let n = t * h * w  // columns: every pixel of every frame of one channel
    let weight = try conv.weight.floats("weight"), bias = try conv.bias?.floats("bias")
    let blockColumns = 2048, blocks = (n + blockColumns - 1) / blockColumns
    var data = x.data
    x = Tensor(shape: [0], data: [])  // `data` is the buffer's only reference: written in place
    data.withUnsafeMutableBufferPointer { xp in
        weight.withUnsafeBufferPointer { wp in
            nonisolated(unsafe) let X = xp.baseAddress!, W = wp.baseAddress!
            for bi in 0..<b {  // in order: batch element bi writes over rows of bi and earlier ones only
                Engine.parallelRanges(blocks) { range in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: co * blockColumns)
                    defer { scratch.deallocate() }
                    for block in range {
                        let c0 = block * blockColumns, nc = min(blockColumns, n - c0)
                        ck_sgemm_nn(Int32(co), Int32(nc), Int32(c), W, Int32(c), X + bi * c * n + c0, Int32(n), scratch, Int32(nc), 0)
                        for o in 0..<co {
                            let dst = X + (bi * co + o) * n + c0, src = scratch + o * nc
                            if let bias { let v = bias[o]; for i in 0..<nc { dst[i] = src[i] + v } } else { dst.update(from: src, count: nc) }
                        }
                    }
                }
            }
        }
    }
    data.removeLast(data.count - b * co * n)
    releaseUnusedCapacity(&data)
    x = Tensor(shape: [b, co, t, h, w], data: data)
}
