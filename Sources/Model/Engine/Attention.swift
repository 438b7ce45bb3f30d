import CKernels
import Foundation

extension Ops {
    /// Scaled dot-product attention without materializing the score matrix.
    ///
    /// q `[B, H, Sq, D]`, k and v `[B, H, Sk, D]` → `[B, H, Sq, D]`; `bias` (optional) `[1 or B, H, Sq, Sk]` is added
    /// to the scaled scores (T5's relative position bias). Queries are processed in tiles of 128 against key tiles
    /// of 256 with an online (flash-style) softmax in fp32, so memory is O(S·D) per head. Tiles of different heads
    /// and query ranges run in parallel; each uses the single-threaded built-in GEMM kernel.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, scale: Float, bias: Tensor? = nil) throws -> Tensor {
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
        // Vᵀ per head ([B, H, D, Sk]) so P·V is an NT product.
        let vt = Ops.permute(v, [0, 1, 3, 2])
        var out = Tensor(zeros: q.shape)
        let tq = 128, tk = 256
        let qTiles = (sq + tq - 1) / tq
        let biasBatch = bias?.shape[0] ?? 1
        q.data.withUnsafeBufferPointer { qp in
            k.data.withUnsafeBufferPointer { kp in
                vt.data.withUnsafeBufferPointer { vp in
                    out.data.withUnsafeMutableBufferPointer { op in
                        (bias?.data ?? []).withUnsafeBufferPointer { bp in
                            nonisolated(unsafe) let Q = qp.baseAddress!, K = kp.baseAddress!, VT = vp.baseAddress!, O = op.baseAddress!
                            // An empty array can still hand out a non-nil base address: key the bias on `bias`.
                            nonisolated(unsafe) let B = bias == nil ? nil : bp.baseAddress
                            Engine.parallelFor(b * h * qTiles) { task in
                                let bh = task / qTiles, qt = task % qTiles
                                let q0 = qt * tq, nq = min(tq, sq - q0)
                                let qBase = Q + (bh * sq + q0) * d
                                let kBase = K + bh * sk * d
                                let vtBase = VT + bh * d * sk
                                let oBase = O + (bh * sq + q0) * d
                                let biasBase: UnsafePointer<Float>? = B.map {
                                    let bi = bh / h, hi = bh % h
                                    return $0 + (((biasBatch == 1 ? 0 : bi) * h + hi) * sq + q0) * sk
                                }
                                var s = [Float](repeating: 0, count: nq * tk)
                                var m = [Float](repeating: -.infinity, count: nq)
                                var l = [Float](repeating: 0, count: nq)
                                s.withUnsafeMutableBufferPointer { sp in
                                    let S = sp.baseAddress!
                                    var k0 = 0
                                    while k0 < sk {
                                        let nk = min(tk, sk - k0)
                                        ck_sgemm_nt_builtin(Int32(nq), Int32(nk), Int32(d), qBase, Int32(d), kBase + k0 * d, Int32(d), S, Int32(nk), 0)
                                        for i in 0..<nq {
                                            let row = S + i * nk
                                            var rowMax = -Float.infinity
                                            if let bb = biasBase {
                                                let brow = bb + i * sk + k0
                                                for j in 0..<nk { row[j] = row[j] * scale + brow[j]; rowMax = max(rowMax, row[j]) }
                                            } else {
                                                for j in 0..<nk { row[j] *= scale; rowMax = max(rowMax, row[j]) }
                                            }
                                            let newMax = max(m[i], rowMax)
                                            let correction = m[i] == -.infinity ? 0 : Foundation.exp(m[i] - newMax)
                                            var sum: Float = 0
                                            for j in 0..<nk { let e = Foundation.exp(row[j] - newMax); row[j] = e; sum += e }
                                            l[i] = l[i] * correction + sum
                                            m[i] = newMax
                                            if correction != 1 {
                                                let orow = oBase + i * d
                                                for j in 0..<d { orow[j] *= correction }
                                            }
                                        }
                                        ck_sgemm_nt_builtin(Int32(nq), Int32(d), Int32(nk), S, Int32(nk), vtBase + k0, Int32(sk), oBase, Int32(d), 1)
                                        k0 += nk
                                    }
                                }
                                for i in 0..<nq {
                                    let inv = 1 / l[i]
                                    let orow = oBase + i * d
                                    for j in 0..<d { orow[j] *= inv }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
