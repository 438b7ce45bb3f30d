import GGUFLike

extension WeightTensor {
    /// Decodes rows `rows` (of `rowLength` elements each) into `out` as fp32, whatever the stored type.
    public func decodeRows(_ rows: Range<Int>, into out: UnsafeMutablePointer<Float>) throws {
        let rb = rowBytes
        let src = UnsafeRawBufferPointer(rebasing: bytes[(rows.lowerBound * rb)..<(rows.upperBound * rb)])
        let dst = UnsafeMutableBufferPointer(start: out, count: rows.count * rowLength)
        switch type {
        case .f64:
            for i in 0..<dst.count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        default:
            try BlockCodec.dequantize(type, src, into: dst)
        }
    }

    /// Every element as fp32 (a copy: for small tensors such as biases and norm weights).
    public func floats() throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let rows = rowCount
        try out.withUnsafeMutableBufferPointer { try decodeRows(0..<rows, into: $0.baseAddress!) }
        return out
    }
}

extension Parameter {
    /// The bound weight as fp32 values.
    public func floats(_ name: @autoclosure () -> String = "parameter") throws -> [Float] {
        try weight(name()).floats()
    }
}
