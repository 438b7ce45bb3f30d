import CKernels
import Foundation
import GGUFLike

extension Linear {
    /// x·Wᵀ for Q8_0 / Q4_0 weights as llama.cpp computes it: each 32-wide block of an input row is quantized to
    /// int8 with its own scale (max|x| / 127), and every output is Σ_blocks d_w · d_x · (int8 dot product), with
    /// AVX-512 VNNI. Exact integer dot products; the only approximation beyond the weights' own is the activation
    /// rounding (relative error ≈ 0.4 % per element, averaging out over K: cosine to fp32 ≥ 0.99999 in the tests).
    /// Costs m·k bytes + m·k/8 bytes for the quantized input; the weight is repacked 256 rows at a time per thread.
    func int8GEMM(_ w: WeightTensor, m: Int, n: Int, k: Int, _ A: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>) throws {
        let type: Int32 = w.type == .q8_0 ? Int32(CK_GGML_Q8_0) : Int32(CK_GGML_Q4_0)
        guard w.bytes.count >= n * w.rowBytes, w.rowBytes == k / 32 * w.type.typeSize, let base = w.bytes.baseAddress else {
            throw ModuleError.invalidInput("weight '\(w.name)' holds \(w.bytes.count) bytes, expected \(n) rows of \(k / 32 * w.type.typeSize)")
        }
        let nb = k / 32
        var qa = [UInt8](repeating: 0, count: m * k)
        var da = [Float](repeating: 0, count: m * nb)
        var failures = 0
        qa.withUnsafeMutableBufferPointer { qp in
            da.withUnsafeMutableBufferPointer { dp in
                nonisolated(unsafe) let Q = qp.baseAddress!, D = dp.baseAddress!, C = C
                Engine.parallelRanges(m, minimumChunk: 16) { rows in
                    ck_quantize_rows_int8(A + rows.lowerBound * k, Int32(rows.count), Int32(k), Int32(k),
                                          Q + rows.lowerBound * k, D + rows.lowerBound * nb, 0)
                }
                let W = base.assumingMemoryBound(to: UInt8.self), rowBytes = w.rowBytes
                nonisolated(unsafe) var failed = 0
                let lock = NSLock()
                parallelGEMMSplit(m, n) { rows, cols in
                    let rc = ck_gemm_int8(type, Int32(rows.count), Int32(cols.count), Int32(k), Q + rows.lowerBound * k,
                                          D + rows.lowerBound * nb, W + cols.lowerBound * rowBytes, rowBytes,
                                          C + rows.lowerBound * n + cols.lowerBound, Int32(n), 0)
                    if rc != 0 { lock.lock(); failed += 1; lock.unlock() }
                }
                failures = failed
            }
        }
        if failures > 0 { throw ModuleError.invalidInput("Linear: out of memory for the int8 GEMM's packing buffer") }
    }
}
