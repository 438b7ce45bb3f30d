import CKernels
import Foundation

/// The arithmetic of the two attention products (Q·Kᵀ and P·V).
public enum AttentionPrecision: String, Sendable, CaseIterable {
    /// fp32 inputs and accumulation (the reference: matches PyTorch's fp32 SDPA to ~1e-6 relative).
    case f32
    /// bf16 inputs (Q·scale, K, V and the softmax probabilities rounded to nearest even, 8-bit mantissa) with fp32
    /// accumulation, AVX-512 BF16 `vdpbf16ps`: ≈ 2× the fp32 rate. The scores, the online-softmax max and sum and
    /// the output stay fp32 (the way llama.cpp's and stable-diffusion.cpp's flash attention use f16 K/V). Output
    /// error ≈ 1e-3 relative per element (cosine to fp32 ≈ 0.99999 on random inputs). Needs a CPU with AVX-512
    /// BF16, a head size that is a multiple of 16 (≤ 256) and no score bias; otherwise the fp32 path runs.
    case bf16
}

extension Engine {
    /// The attention precision forced for every model that picks one automatically (the CogVideoX transformer),
    /// or nil (default) to let the model choose: the transformer uses `.bf16` when its attention projections are
    /// Q8_0/Q4_0 (whose activations already go through int8 quantization, so bf16 products cost no visible
    /// accuracy: cosine to diffusers stays ≥ 0.999) and `.f32` for F32/F16/BF16 weights (fp32 parity).
    /// `COGVIDEO_ATTENTION=f32|bf16` sets it for the process. `.bf16` falls back to fp32 where unsupported.
    nonisolated(unsafe) public static var attentionPrecision: AttentionPrecision? =
        ProcessInfo.processInfo.environment["COGVIDEO_ATTENTION"].flatMap { AttentionPrecision(rawValue: $0.lowercased()) }

    /// True when the CPU can run `.bf16` attention (AVX-512 BF16).
    public static let bf16AttentionAvailable: Bool = ck_attention_bf16_available() != 0

    /// True when the automatic choices (the transformer's attention on Q8_0/Q4_0 weights, `VAEPrecision.auto`)
    /// take bf16 products: the CPU has AVX-512 BF16 and runs `vdpbf16ps` faster than fp32 FMAs (AMD Zen 4/5; on
    /// Intel Sapphire/Emerald Rapids bf16 attention measured 0.69× the fp32 rate). `COGVIDEO_BF16_PRODUCTS=fast|slow`
    /// overrides the guess. Forced precisions (`COGVIDEO_ATTENTION`, `COGVIDEO_VAE_PRECISION`) ignore it.
    public static let bf16ProductsPreferred: Bool = bf16AttentionAvailable && ck_bf16_products_fast() != 0
}

extension Ops {
    /// Scaled dot-product attention without materializing the score matrix.
    ///
    /// q `[B, H, Sq, D]`, k and v `[B, H, Sk, D]` → `[B, H, Sq, D]`; `bias` (optional) `[1 or B, H, Sq, Sk]` is added
    /// to the scaled scores (T5's relative position bias). Each task takes one head and a tile of 96 queries and
    /// walks the keys in tiles of 256 with an online (flash-style) softmax in fp32 (`ck_attention_rows_packed` on K
    /// packed in groups of 16 keys, AVX-512 or AVX2; `ck_attention_rows` on Kᵀ elsewhere, same results), so extra memory is
    /// one repacked copy of K plus ~100 KB per thread. Tasks run on `Engine.threads`.
    /// `precision: .bf16` runs both products in bf16 inputs with fp32 accumulation (`ck_attention_rows_bf16`, see
    /// `AttentionPrecision`) on a bf16 copy of K and V (half the size of the fp32 K, V) when the CPU, the head size
    /// and the absence of a bias allow it, else fp32.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float, bias: Tensor? = nil,
                                 precision: AttentionPrecision = .f32) throws -> Tensor {
        guard q.rank == 4, k.rank == 4, v.shape == k.shape, q.shape[0] == k.shape[0], q.shape[1] == k.shape[1],
              q.shape[3] == k.shape[3] else {
            throw ModuleError.shapeMismatch("attention q/k/v", expected: q.shape, found: k.shape)
        }
        let (b, h, sq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let sk = k.shape[2]
        if let bias {
            guard bias.rank == 4, bias.shape[0] == 1 || bias.shape[0] == b, bias.shape[1] == h, bias.shape[2] == sq,
                  bias.shape[3] == sk else {
                throw ModuleError.shapeMismatch("attention bias", expected: [b, h, sq, sk], found: bias.shape)
            }
        }
        var out = Tensor(zeros: q.shape)
        guard sq > 0, d > 0 else { return out }
        let bf16 = precision == .bf16 && bias == nil && bf16Applies(headDim: d)
        if sk > 0 && (bf16 || ck_attention_packed_available() != 0) {
            let biasBatch = bias?.shape[0] ?? 1
            try q.data.withUnsafeBufferPointer { qp in
                try k.data.withUnsafeBufferPointer { kp in
                    try v.data.withUnsafeBufferPointer { vp in
                        try out.data.withUnsafeMutableBufferPointer { op in
                            try (bias?.data ?? []).withUnsafeBufferPointer { bp in
                                let biasHeads = bias == nil ? nil
                                    : (bp.baseAddress!, StridedHeads(batch: biasBatch == 1 ? 0 : h * sq * sk, head: sq * sk, row: sk))
                                try attentionStrided(bf16 ? .bf16 : .f32, batch: b, heads: h, sq: sq, sk: sk, d: d, scale: scale,
                                                     q: qp.baseAddress!, StridedHeads(batch: h * sq * d, head: sq * d, row: d),
                                                     k: kp.baseAddress!, v: vp.baseAddress!, StridedHeads(batch: h * sk * d, head: sk * d, row: d),
                                                     bias: biasHeads,
                                                     out: op.baseAddress!, StridedHeads(batch: h * sq * d, head: sq * d, row: d))
                            }
                        }
                    }
                }
            }
            return out
        }
        // Kᵀ per head ([B, H, D, Sk]) so Q·Kᵀ streams 16 keys per vector.
        let kt = Ops.permute(k, [0, 1, 3, 2])
        let tq = 96
        let qTiles = (sq + tq - 1) / tq
        let biasBatch = bias?.shape[0] ?? 1
        var failed = false
        q.data.withUnsafeBufferPointer { qp in
            kt.data.withUnsafeBufferPointer { kp in
                v.data.withUnsafeBufferPointer { vp in
                    out.data.withUnsafeMutableBufferPointer { op in
                        (bias?.data ?? []).withUnsafeBufferPointer { bp in
                            nonisolated(unsafe) let Q = qp.baseAddress!, KT = kp.baseAddress, V = vp.baseAddress,
                                                    O = op.baseAddress!
                            // An empty array can still hand out a non-nil base address: key the bias on `bias`.
                            nonisolated(unsafe) let B = bias == nil ? nil : bp.baseAddress
                            nonisolated(unsafe) var failedTasks = 0
                            let lock = NSLock()
                            Engine.parallelFor(b * h * qTiles) { task in
                                let bh = task / qTiles, qt = task % qTiles
                                let q0 = qt * tq, nq = min(tq, sq - q0)
                                let biasBase: UnsafePointer<Float>? = B.map {
                                    let bi = bh / h, hi = bh % h
                                    return $0 + (((biasBatch == 1 ? 0 : bi) * h + hi) * sq + q0) * sk
                                }
                                let rc = ck_attention_rows(Int32(nq), Int32(sk), Int32(d), Q + (bh * sq + q0) * d,
                                                           KT.map { $0 + bh * d * sk }, V.map { $0 + bh * sk * d },
                                                           scale, biasBase, Int32(sk), O + (bh * sq + q0) * d)
                                if rc != 0 { lock.lock(); failedTasks += 1; lock.unlock() }
                            }
                            failed = failedTasks > 0
                        }
                    }
                }
            }
        }
        if failed { throw ModuleError.invalidInput("attention: out of memory for a \(tq)×256 score tile") }
        return out
    }

    /// True when the bf16 kernel can run heads of size `headDim` on this CPU.
    static func bf16Applies(headDim d: Int) -> Bool { Engine.bf16AttentionAvailable && d % 16 == 0 && d <= 256 }

    /// Attention (`precision`, no bias) of `heads` heads of size `headDim` stored as column blocks of token-major
    /// tensors, the layout the projections produce: q `[B, Sq, heads·headDim]`, k and v `[B, Sk, heads·headDim]`
    /// (head i in columns i·headDim ..< (i+1)·headDim); head i's output goes to columns `column + i·headDim ..<` of
    /// out `[B, Sq, W]`, other columns untouched. No [B, S, H, D] ↔ [B, H, S, D] permutes and no separate output
    /// tensor. The same results as `attention` on the permuted tensors. Returns false (nothing written) where
    /// neither strided kernel applies (neither AVX-512 nor AVX2; `.bf16` also falls back to fp32 without AVX-512 BF16 or for a head
    /// size that is not a multiple of 16 up to 256): the caller runs `attention` then.
    static func attentionColumns(q: Tensor, k: Tensor, v: Tensor, heads: Int, headDim d: Int, scale: Float,
                                 precision: AttentionPrecision, into out: inout Tensor, column: Int) throws -> Bool {
        let bf16 = precision == .bf16 && bf16Applies(headDim: d)
        guard bf16 || ck_attention_packed_available() != 0, heads > 0, d > 0 else { return false }
        let (b, sq, w) = (q.shape[0], q.shape[1], heads * d), sk = k.shape[1]
        guard q.rank == 3, q.shape[2] == w, k.rank == 3, k.shape == v.shape, k.shape[0] == b, k.shape[2] == w,
              out.rank == 3, out.shape[0] == b, out.shape[1] == sq, column >= 0, column + w <= out.shape[2] else {
            throw ModuleError.shapeMismatch("attention q/k/v columns", expected: [b, sq, w], found: k.shape)
        }
        if sq == 0 { return true }
        guard sk > 0 else { return false }
        let ldo = out.shape[2]
        try q.data.withUnsafeBufferPointer { qp in
            try k.data.withUnsafeBufferPointer { kp in
                try v.data.withUnsafeBufferPointer { vp in
                    try out.data.withUnsafeMutableBufferPointer { op in
                        try attentionStrided(bf16 ? .bf16 : .f32, batch: b, heads: heads, sq: sq, sk: sk, d: d, scale: scale,
                                             q: qp.baseAddress!, StridedHeads(batch: sq * w, head: d, row: w),
                                             k: kp.baseAddress!, v: vp.baseAddress!, StridedHeads(batch: sk * w, head: d, row: w),
                                             bias: nil,
                                             out: op.baseAddress! + column, StridedHeads(batch: sq * ldo, head: d, row: ldo))
                    }
                }
            }
        }
        return true
    }

    /// Where head (bi, hi) of a tensor starts (bi·batch + hi·head) and the distance between its rows.
    struct StridedHeads { let batch: Int, head: Int, row: Int }

    /// K (and for bf16 V) of every head packed (`ck_attention_pack_k` / `ck_attention_pack_kv_bf16`, one task per
    /// head), then one task per head and tile of 96 queries (`ck_attention_rows_packed` / `ck_attention_rows_bf16`).
    private static func attentionStrided(_ precision: AttentionPrecision, batch b: Int, heads h: Int, sq: Int, sk: Int,
                                         d: Int, scale: Float,
                                         q: UnsafePointer<Float>, _ ql: StridedHeads,
                                         k: UnsafePointer<Float>, v: UnsafePointer<Float>, _ kvl: StridedHeads,
                                         bias: (UnsafePointer<Float>, StridedHeads)?,
                                         out: UnsafeMutablePointer<Float>, _ ol: StridedHeads) throws {
        let skp = Int(ck_attention_bf16_padded_keys(Int32(sk)))
        let bf16 = precision == .bf16
        // bf16: K and V as bf16; f32: K only (V is read in place).
        // The pack functions write every element, padding included: no clearing first.
        func uninitialized<T>(_ n: Int, _: T.Type) -> [T] { [T](unsafeUninitializedCapacity: n) { _, count in count = n } }
        var kp16 = uninitialized(bf16 ? b * h * skp * d : 0, UInt16.self)
        var vp16 = uninitialized(bf16 ? b * h * skp * d : 0, UInt16.self)
        var kp32 = uninitialized(bf16 ? 0 : b * h * skp * d, Float.self)
        nonisolated(unsafe) let K = k, V = v, Q = q, O = out
        kp16.withUnsafeMutableBufferPointer { k16 in
            vp16.withUnsafeMutableBufferPointer { v16 in
                kp32.withUnsafeMutableBufferPointer { k32 in
                    nonisolated(unsafe) let K16 = k16.baseAddress, V16 = v16.baseAddress, K32 = k32.baseAddress
                    Engine.parallelFor(b * h) { bh in
                        let off = (bh / h) * kvl.batch + (bh % h) * kvl.head
                        if bf16 {
                            _ = ck_attention_pack_kv_bf16(Int32(sk), Int32(d), K + off, Int32(kvl.row), V + off, Int32(kvl.row),
                                                          K16! + bh * skp * d, V16! + bh * skp * d)
                        } else {
                            _ = ck_attention_pack_k(Int32(sk), Int32(d), K + off, Int32(kvl.row), K32! + bh * skp * d)
                        }
                    }
                }
            }
        }
        let tq = 96
        let qTiles = (sq + tq - 1) / tq
        var failedTasks = 0
        kp16.withUnsafeBufferPointer { k16 in
            vp16.withUnsafeBufferPointer { v16 in
                kp32.withUnsafeBufferPointer { k32 in
                    nonisolated(unsafe) let K16 = k16.baseAddress, V16 = v16.baseAddress, K32 = k32.baseAddress
                    nonisolated(unsafe) let biasBase = bias?.0
                    let bl = bias?.1
                    nonisolated(unsafe) var failed = 0
                    let lock = NSLock()
                    Engine.parallelFor(b * h * qTiles) { task in
                        let bh = task / qTiles, q0 = (task % qTiles) * tq, nq = min(tq, sq - q0)
                        let (bi, hi) = (bh / h, bh % h)
                        let qRows = Q + bi * ql.batch + hi * ql.head + q0 * ql.row
                        let oRows = O + bi * ol.batch + hi * ol.head + q0 * ol.row
                        let rc: Int32
                        if bf16 {
                            rc = ck_attention_rows_bf16(Int32(nq), Int32(sk), Int32(d), qRows, Int32(ql.row), K16! + bh * skp * d,
                                                        V16! + bh * skp * d, scale, oRows, Int32(ol.row))
                        } else {
                            let biasRows = biasBase.map { $0 + bi * bl!.batch + hi * bl!.head + q0 * bl!.row }
                            rc = ck_attention_rows_packed(Int32(nq), Int32(sk), Int32(d), qRows, Int32(ql.row), K32! + bh * skp * d,
                                                          V + (bi * kvl.batch + hi * kvl.head), Int32(kvl.row), scale,
                                                          biasRows, Int32(bl?.row ?? 0), oRows, Int32(ol.row))
                        }
                        if rc != 0 { lock.lock(); failed += 1; lock.unlock() }
                    }
                    failedTasks = failed
                }
            }
        }
        if failedTasks > 0 { throw ModuleError.invalidInput("attention: out of memory for a \(tq)×256 score tile") }
    }
}
