import CKernels
import Foundation
import GGUFLike

/// `nn.Linear`: `y = x Wᵀ + b` with W `[out, in]` in its stored type (F32, F16, BF16, Q8_0, Q4_0, …).
///
/// F32 weights go straight to the GEMM. Q8_0 and Q4_0 weights multiply int8-quantized activations with VNNI dot
/// products (`Engine.int8Activations`; `COGVIDEO_Q8_ACTIVATIONS=f32` turns it off). Other types are decoded one panel
/// at a time inside the GEMM's packing step, so no full-precision copy of the matrix ever exists.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures])
        self.bias = bias ? Parameter(shape: [outFeatures]) : nil
    }

    /// x `[..., in]` → `[..., out]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == inFeatures else {
            throw ModuleError.shapeMismatch("Linear input", expected: [-1, inFeatures], found: x.shape)
        }
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        let m = Tensor.count(Array(x.shape.dropLast()))
        // Every product overwrites its output (a K = 0 product writes nothing, so that one starts from zeros).
        var out = inFeatures > 0 ? Tensor.uninitialized(outShape) : Tensor(zeros: outShape)
        try apply(x.data, rows: m, into: &out.data)
        return out
    }

    /// Computes `rows` rows of x·Wᵀ (+b) from `input` (row-major [rows, in]) into `output` ([rows, out]).
    public func apply(_ input: [Float], rows m: Int, into output: inout [Float]) throws {
        let w = try weight.weight("weight")
        let k = inFeatures, n = outFeatures
        guard m > 0 else { return }
        try input.withUnsafeBufferPointer { a in
            try output.withUnsafeMutableBufferPointer { c in
                let A = a.baseAddress!, C = c.baseAddress!
                if w.type == .f32, Int(bitPattern: w.bytes.baseAddress) % 4 == 0 {
                    sgemmNT(m, n, k, A, k, w.bytes.baseAddress!.assumingMemoryBound(to: Float.self), k, C, n)
                } else if w.type == .q8_0 || w.type == .q4_0, k % 32 == 0, Engine.int8Activations {
                    try int8GEMM(w, m: m, n: n, k: k, A, C)
                } else if w.type != .f64, k % w.type.blockSize == 0, !Engine.decodedWeightsThroughBLAS {
                    try decodedGEMM(w, m: m, n: n, k: k, A, C)
                } else {
                    try panelGEMM(w, m: m, n: n, k: k, A, C)
                }
            }
        }
        if let b = try bias?.floats("bias") {
            output.withUnsafeMutableBufferPointer { c in
                b.withUnsafeBufferPointer { bp in
                    nonisolated(unsafe) let C = c.baseAddress!, B = bp.baseAddress!
                    Engine.parallelRanges(m, minimumChunk: max(1, (1 << 16) / max(n, 1))) { rows in
                        for i in rows { let row = C + i * n; for j in 0..<n { row[j] += B[j] } }
                    }
                }
            }
        }
    }

    /// x·Wᵀ for a stored (F16/BF16/Q8_0/…) weight through the built-in packed GEMM: each thread decodes its own
    /// columns of W one 1024-wide K block × 2048 rows at a time (8 MB per thread) straight into the packing step.
    private func decodedGEMM(_ w: WeightTensor, m: Int, n: Int, k: Int, _ A: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>) throws {
        // Decoding the first block up front turns an unsupported type into a typed error before any work.
        var probe = [Float](repeating: 0, count: w.type.blockSize)
        try probe.withUnsafeMutableBufferPointer {
            try BlockCodec.dequantize(w.type, UnsafeRawBufferPointer(rebasing: w.bytes[0..<w.type.typeSize]), into: $0)
        }
        guard w.bytes.count >= n * w.rowBytes, let base = w.bytes.baseAddress else {
            throw ModuleError.invalidInput("weight '\(w.name)' holds \(w.bytes.count) bytes, expected \(n * w.rowBytes)")
        }
        var ctx = DecodeContext(base: base, rowBytes: w.rowBytes, type: w.type)
        nonisolated(unsafe) let C = C
        var failures = 0
        withUnsafeMutablePointer(to: &ctx) { ctxp in
            nonisolated(unsafe) let ctxp = ctxp
            nonisolated(unsafe) var failed = 0
            let lock = NSLock()
            parallelGEMMSplit(m, n) { rows, cols in
                let rc = ck_gemm_nt_decoded(Int32(rows.count), Int32(cols.count), Int32(k), A + rows.lowerBound * k, Int32(k),
                                            decodeRowsCallback, UnsafeMutableRawPointer(ctxp), Int32(cols.lowerBound),
                                            C + rows.lowerBound * n + cols.lowerBound, Int32(n), 0)
                if rc != 0 { lock.lock(); failed += 1; lock.unlock() }
            }
            failures = failed
        }
        if failures > 0 { throw ModuleError.invalidInput("Linear: out of memory for the GEMM packing buffers") }
    }

    /// x·Wᵀ by decoding panels of whole output rows (≈ 4 MB) then one fp32 GEMM each (OpenBLAS when loaded).
    private func panelGEMM(_ w: WeightTensor, m: Int, n: Int, k: Int, _ A: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>) throws {
        let panel = max(16, min(n, (1 << 20) / max(k, 1)))
        var buffer = [Float](repeating: 0, count: panel * k)
        try buffer.withUnsafeMutableBufferPointer { bp in
            let B = bp.baseAddress!
            var n0 = 0
            while n0 < n {
                let p = min(panel, n - n0)
                nonisolated(unsafe) var failure: Error?
                let base = n0
                Engine.parallelRanges(p, minimumChunk: 8) { r in
                    do { try w.decodeRows((base + r.lowerBound)..<(base + r.upperBound), into: B + r.lowerBound * k) }
                    catch { failure = error }
                }
                if let failure { throw failure }
                sgemmNT(m, p, k, A, k, B, k, C + n0, n)
                n0 += p
            }
        }
    }
}

/// Where `decodeRowsCallback` reads a stored weight from.
private struct DecodeContext {
    let base: UnsafeRawPointer
    let rowBytes: Int
    let type: GGMLType
}

/// `ck_decode_fn` for `ck_gemm_nt_decoded`: columns start on a block boundary (a multiple of 256). The type and
/// sizes were checked by `decodedGEMM` before the GEMM started, so decoding cannot fail here.
private let decodeRowsCallback: @convention(c) (UnsafeMutableRawPointer?, Int32, Int32, Int32, Int32, UnsafeMutablePointer<Float>?) -> Void = {
    ctx, row0, nrows, col0, ncols, dst in
    guard let c = ctx?.assumingMemoryBound(to: DecodeContext.self).pointee, let dst else { return }
    let bs = c.type.blockSize, ts = c.type.typeSize
    let off = Int(col0) / bs * ts, len = Int(ncols) / bs * ts
    for r in 0..<Int(nrows) {
        let src = UnsafeRawBufferPointer(start: c.base + (Int(row0) + r) * c.rowBytes + off, count: len)
        try? BlockCodec.dequantize(c.type, src, into: UnsafeMutableBufferPointer(start: dst + r * Int(ncols), count: Int(ncols)))
    }
}
