/// Every way a GGUF file can be wrong (the checks of ggml's `gguf.cpp`, shared/reference/formats.md §2.2), plus
/// writer failures. Each case carries the offending key, tensor or byte offset.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case truncated(offset: Int, needed: Int, section: String)
    case badMagic(found: UInt32)
    case byteSwapped(version: UInt32)
    case unsupportedVersion(UInt32)
    case countTooLarge(what: String, count: UInt64, offset: Int)
    case stringTooLong(length: UInt64, offset: Int)
    case invalidUTF8(offset: Int)
    case emptyKey(offset: Int)
    case duplicateKey(String)
    case unknownValueType(UInt32, key: String, offset: Int)
    case nestedArray(key: String)
    case invalidBool(UInt8, key: String)
    case invalidAlignment(String)
    case duplicateTensorName(String)
    case tooManyDimensions(tensor: String, dims: UInt32)
    case invalidDimension(tensor: String, dims: [UInt64])
    case unknownTensorType(UInt32, tensor: String)
    case rowNotWholeBlocks(tensor: String, type: GGMLType, rowLength: Int)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case tensorPastEnd(tensor: String, end: UInt64, fileSize: Int)
    case overlappingTensors(String, String)
    case invalidOriginalShape(tensor: String, reason: String)
    case tensorNotFound(String)
    case writeFailed(path: String, reason: String)
    case invalidMetadata(key: String, reason: String)
    case tensorDataSizeMismatch(tensor: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): return "cannot open \(p): \(r)"
        case .truncated(let o, let n, let s): return "file ends inside the \(s) at byte \(o) (\(n) more bytes needed)"
        case .badMagic(let m): return "not a GGUF file (magic 0x\(String(m, radix: 16)), expected 'GGUF')"
        case .byteSwapped(let v): return "GGUF version field 0x\(String(v, radix: 16)) looks byte-swapped: big-endian files are not supported"
        case .unsupportedVersion(let v): return "GGUF version \(v) is not supported (2 and 3 are)"
        case .countTooLarge(let w, let c, let o): return "\(w) count \(c) at byte \(o) cannot fit in the file"
        case .stringTooLong(let l, let o): return "string length \(l) at byte \(o) runs past the end of the file"
        case .invalidUTF8(let o): return "string at byte \(o) is not valid UTF-8"
        case .emptyKey(let o): return "empty metadata key at byte \(o)"
        case .duplicateKey(let k): return "duplicate metadata key '\(k)'"
        case .unknownValueType(let t, let k, let o): return "metadata '\(k)' has unknown value type \(t) at byte \(o)"
        case .nestedArray(let k): return "metadata '\(k)' is an array of arrays, which GGUF readers reject"
        case .invalidBool(let v, let k): return "metadata '\(k)' holds bool byte \(v) (must be 0 or 1)"
        case .invalidAlignment(let r): return "general.alignment \(r)"
        case .duplicateTensorName(let n): return "duplicate tensor name '\(n)'"
        case .tooManyDimensions(let t, let d): return "tensor '\(t)' has \(d) dimensions (at most 4 are allowed)"
        case .invalidDimension(let t, let d): return "tensor '\(t)' has invalid dimensions \(d) (element count must fit in 63 bits)"
        case .unknownTensorType(let ty, let t): return "tensor '\(t)' has unknown ggml type \(ty)"
        case .rowNotWholeBlocks(let t, let ty, let n): return "tensor '\(t)': row length \(n) is not a multiple of \(ty.name)'s block size \(ty.blockSize)"
        case .misalignedTensor(let t, let o, let a): return "tensor '\(t)' has offset \(o), not a multiple of the alignment \(a)"
        case .tensorPastEnd(let t, let e, let s): return "tensor '\(t)' ends at byte \(e), past the end of the file (\(s) bytes)"
        case .overlappingTensors(let a, let b): return "tensors '\(a)' and '\(b)' overlap"
        case .invalidOriginalShape(let t, let r): return "comfy.gguf.orig_shape for '\(t)': \(r)"
        case .tensorNotFound(let n): return "no tensor named '\(n)'"
        case .writeFailed(let p, let r): return "cannot write \(p): \(r)"
        case .invalidMetadata(let k, let r): return "metadata '\(k)': \(r)"
        case .tensorDataSizeMismatch(let t, let e, let f): return "tensor '\(t)' needs \(e) bytes but \(f) were supplied"
        }
    }
}
