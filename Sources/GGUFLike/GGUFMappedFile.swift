#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file: the one place in GGUFLike that owns a raw mapping.
/// (GGUFLike does not depend on SafeTensors, which has its own twin, by the one-way module rule.)
final class GGUFMappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 { bytes = UnsafeRawBufferPointer(start: nil, count: 0); return }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// A bounds-checked little-endian cursor over the mapped bytes. Every read checks the remaining length first.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var section = "header"

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= remaining else { throw GGUFError.truncated(offset: offset, needed: n - max(0, remaining), section: section) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readString() throws -> String {
        let start = offset
        let n = try read(UInt64.self)
        guard n <= UInt64(remaining), n <= 1 << 30 else { throw GGUFError.stringTooLong(length: n, offset: start) }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(n))])
        guard let s = String(validating: raw, as: UTF8.self) else { throw GGUFError.invalidUTF8(offset: start) }
        offset += Int(n)
        return s
    }
}
