import Foundation
import GGUFLike
import SafeTensors

/// One tensor of the output file and where its data comes from: a whole source tensor, or (for SAT checkpoints)
/// some row blocks of one.
public struct SourceTensor: Sendable {
    /// Name without the component prefix (diffusers key).
    public let name: String
    /// PyTorch-order shape of the output tensor.
    public let shape: [Int]
    /// The source tensor's name, dtype and shape.
    public let sourceName: String
    public let sourceDType: SafeTensorsDType
    public let sourceShape: [Int]
    /// Row blocks of the source taken, in order (nil: the whole tensor): the source's dim 0 split into `blockCount`.
    public let blocks: [Int]?
    public let blockCount: Int

    /// Number of elements of the output tensor.
    public var count: Int { shape.reduce(1, *) }
    /// Row length (last dimension).
    public var rowLength: Int { shape.last ?? 1 }
}

/// Errors of checkpoint conversion.
public enum ConvertError: Error, Equatable, CustomStringConvertible {
    case unsupportedSourceDType(tensor: String, dtype: String)
    case noComponents(String)
    case unknownSATKey(String)
    case badSplit(tensor: String, rows: Int, blocks: Int)
    case variantContradiction(String)
    case outputExists(String)
    case interrupted
    case sourceReadFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedSourceDType(let t, let d):
            return "tensor `\(t)` is stored as \(d); only F32, F16, BF16, F64 and F8 (E4M3, E5M2) sources can be converted"
        case .noComponents(let p): return "\(p) holds no transformer, vae or text_encoder weights to convert"
        case .unknownSATKey(let k): return "`\(k)` is not a known SAT (CogVideo original) key; cannot map it to a diffusers name"
        case .badSplit(let t, let r, let b): return "`\(t)` has \(r) rows, which do not split into \(b) equal blocks"
        case .variantContradiction(let m): return m
        case .outputExists(let p): return "\(p) already exists (pass --force to replace it)"
        case .interrupted: return "conversion interrupted"
        case .sourceReadFailed(let p, let r): return "cannot read \(p): \(r)"
        }
    }
}

enum SourceDecoding {
    /// Decodes `count` elements of a source dtype starting at element `start` of `raw` into fp32.
    static func decode(_ dtype: SafeTensorsDType, _ raw: UnsafeRawBufferPointer, start: Int, count: Int,
                       into out: UnsafeMutablePointer<Float>, tensor: String) throws {
        switch dtype {
        case .f32:
            let bytes = UnsafeRawBufferPointer(rebasing: raw[(start * 4)..<((start + count) * 4)])
            UnsafeMutableRawPointer(out).copyMemory(from: bytes.baseAddress!, byteCount: count * 4)
        case .f16:
            try BlockCodec.dequantize(.f16, UnsafeRawBufferPointer(rebasing: raw[(start * 2)..<((start + count) * 2)]),
                                      into: UnsafeMutableBufferPointer(start: out, count: count))
        case .bf16:
            try BlockCodec.dequantize(.bf16, UnsafeRawBufferPointer(rebasing: raw[(start * 2)..<((start + count) * 2)]),
                                      into: UnsafeMutableBufferPointer(start: out, count: count))
        case .f64:
            for i in 0..<count { out[i] = Float(raw.loadUnaligned(fromByteOffset: (start + i) * 8, as: Double.self)) }
        case .f8_e4m3:
            for i in 0..<count { out[i] = f8e4m3(raw[start + i]) }
        case .f8_e5m2:
            for i in 0..<count { out[i] = Float(Float16(bitPattern: UInt16(raw[start + i]) << 8)) }
        default:
            throw ConvertError.unsupportedSourceDType(tensor: tensor, dtype: dtype.rawValue)
        }
    }

    /// float8_e4m3fn (no infinities; 0x7F/0xFF are NaN; bias 7).
    static func f8e4m3(_ b: UInt8) -> Float {
        let sign: Float = b & 0x80 != 0 ? -1 : 1
        let e = Int((b >> 3) & 0x0F), m = Float(b & 0x07)
        if e == 0x0F && b & 0x07 == 0x07 { return .nan }
        if e == 0 { return sign * m / 8 * Float(pow(2.0, -6.0)) }
        return sign * (1 + m / 8) * Float(pow(2.0, Double(e - 7)))
    }

    static var convertible: Set<SafeTensorsDType> { [.f32, .f16, .bf16, .f64, .f8_e4m3, .f8_e5m2] }
}
