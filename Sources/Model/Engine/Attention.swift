import CKernels
import Foundation

extension Ops {
    /// Scaled dot-product attention without materializing the score matrix.
    ///
    /// q `[B, H, Sq, D]`, k and v `[B, H, Sk, D]` → `[B, H, Sq, D]`; `bias` (optional) `[1 or B, H, Sq, Sk]` is added
    /// to the scaled scores (T5's relative position bias). Each task takes one head and a tile of 96 queries and
    /// walks the keys in tiles of 256 with an online (flash-style) softmax in fp32 (`ck_attention_rows`, AVX-512),
    /// so extra memory is one transposed copy of K plus ~100 KB per thread. Tasks run on `Engine.threads`.
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
        var out = Tensor(zeros: q.shape)
        guard sq > 0, d > 0 else { return out }
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
}
