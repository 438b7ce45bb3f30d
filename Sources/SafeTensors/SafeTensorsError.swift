/// Every way a safetensors file (or a sharded checkpoint) can be wrong. Cases mirror the reference reader's
/// (`safetensors/src/tensor.rs`), plus the stricter checks this toolkit adds; each carries what is needed to find
/// the problem.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible {
    /// Shorter than the 8-byte header length field.
    case headerTooSmall(fileSize: Int)
    /// The header length is above the 100,000,000-byte cap (or does not fit in memory).
    case headerTooLarge(length: UInt64)
    /// `8 + N` runs past the end of the file.
    case invalidHeaderLength(length: UInt64, fileSize: Int)
    /// The header is not UTF-8, not JSON, or holds a duplicate key.
    case invalidHeader(JSONError)
    /// The header is valid JSON of the wrong shape (not an object, missing/extra structure); `key` names the entry.
    case invalidHeaderStructure(key: String?, reason: String)
    /// A dtype string this format does not define.
    case unknownDType(tensor: String, dtype: String)
    /// `__metadata__` holds a non-string value.
    case invalidMetadata(key: String, found: String)
    /// Data offsets leave a gap, overlap, or run backwards.
    case invalidOffset(tensor: String, begin: UInt64, end: UInt64, expectedBegin: UInt64)
    /// Shape × dtype overflows.
    case validationOverflow(tensor: String)
    /// A sub-byte dtype whose total bits are not a whole number of bytes.
    case misalignedSlice(tensor: String)
    /// The byte range does not match shape × dtype size.
    case tensorInvalidInfo(tensor: String, expectedBytes: UInt64, foundBytes: UInt64)
    /// The data section is not exactly covered by the tensors (trailing bytes or missing bytes).
    case metadataIncompleteBuffer(dataBytes: Int, coveredBytes: UInt64)
    /// No tensor of that name.
    case tensorNotFound(String)
    /// The tensor's dtype cannot be viewed as the requested element type.
    case unsupportedDType(tensor: String, dtype: SafeTensorsDType, requested: String)

    // Sharded checkpoints (*.safetensors.index.json).
    case invalidIndex(path: String, reason: String)
    case shardPathEscapesFolder(tensor: String, path: String)
    case missingShard(path: String)
    case tensorMissingFromShard(tensor: String, shard: String)
    case tensorInTwoShards(tensor: String, first: String, second: String)
    case noWeights(folder: String)

    // Writer.
    case duplicateTensorName(String)
    case writeFailed(path: String, reason: String)
    case tensorDataSizeMismatch(tensor: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .headerTooSmall(let n): return "header too small: the file has \(n) bytes, fewer than the 8-byte length field"
        case .headerTooLarge(let n): return "header too large: \(n) bytes (the limit is 100,000,000)"
        case .invalidHeaderLength(let n, let size):
            return "invalid header length: \(n) bytes of header do not fit in a file of \(size) bytes"
        case .invalidHeader(let e): return "invalid header: \(e)"
        case .invalidHeaderStructure(let key, let reason):
            return "invalid header" + (key.map { " entry `\($0)`" } ?? "") + ": \(reason)"
        case .unknownDType(let t, let d): return "tensor `\(t)` has unknown dtype \"\(d)\""
        case .invalidMetadata(let k, let f): return "__metadata__ value for `\(k)` must be a string, found \(f)"
        case .invalidOffset(let t, let b, let e, let x):
            return "invalid offset for tensor `\(t)`: data_offsets [\(b), \(e)] but the previous tensor ends at \(x) (gap, overlap or reversed range)"
        case .validationOverflow(let t): return "overflow computing the byte size of tensor `\(t)` from its shape and dtype"
        case .misalignedSlice(let t): return "tensor `\(t)` does not occupy a whole number of bytes"
        case .tensorInvalidInfo(let t, let e, let f):
            return "invalid shape, data type, or offset for tensor `\(t)`: shape and dtype need \(e) bytes, data_offsets give \(f)"
        case .metadataIncompleteBuffer(let d, let c):
            return "incomplete metadata, file not fully covered: the data section has \(d) bytes, tensors cover \(c)"
        case .tensorNotFound(let n): return "no tensor named `\(n)`"
        case .unsupportedDType(let t, let d, let r): return "tensor `\(t)` has dtype \(d), which cannot be read as \(r)"
        case .invalidIndex(let p, let r): return "invalid index \(p): \(r)"
        case .shardPathEscapesFolder(let t, let p): return "index maps `\(t)` to \(p), which is outside the checkpoint folder"
        case .missingShard(let p): return "shard file \(p) listed in the index does not exist"
        case .tensorMissingFromShard(let t, let s): return "index maps `\(t)` to \(s), but that shard has no such tensor"
        case .tensorInTwoShards(let t, let a, let b): return "tensor `\(t)` is present in two shards: \(a) and \(b)"
        case .noWeights(let f): return "no safetensors weights found in \(f)"
        case .duplicateTensorName(let n): return "tensor name `\(n)` added twice"
        case .writeFailed(let p, let r): return "cannot write \(p): \(r)"
        case .tensorDataSizeMismatch(let t, let e, let f): return "tensor `\(t)` needs \(e) bytes but \(f) were supplied"
        }
    }
}
