#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// (GGUFLike's twin of SafeTensors.AtomicFile; the modules do not depend on each other.)
/// Writes a file by streaming into a temporary sibling (`.NAME.tmp-PID-RANDOM`) and renaming it into place on
/// `commit()`. If the writer is dropped without committing (an error, a cancelled conversion) the temporary file
/// is removed; if the process is killed, only a hidden temporary file can remain, never a partial output, and a
/// later run never reads it (its name is unique).
final class GGUFAtomicFile {
    let path: String
    let temporaryPath: String
    private var fd: Int32
    private var committed = false

    init(path: String) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        temporaryPath = (dir.isEmpty ? "" : dir + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
    }

    /// Appends bytes, retrying short writes and EINTR.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            left -= n
            p += n
        }
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Flushes to disk and renames the temporary file into place.
    func commit() throws {
        guard fsync(fd) == 0, close(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            fd = -1
            throw GGUFError.writeFailed(path: path, reason: reason)
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        committed = true
    }
}
