#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// (GGUFLike's twin of SafeTensors.AtomicFile; the modules do not depend on each other.)
/// Writes a file by streaming into a temporary sibling (`.NAME.tmp-PID-RANDOM`) and renaming it into place on
/// `commit()`. If the writer is discarded or dropped without committing (an error, a cancelled conversion) the
/// temporary file is removed; if the process is killed, only a hidden temporary file can remain, never a partial
/// output, and a later run never reads it (its name is unique).
///
/// With `directIO` (Linux), the file is opened with `O_DIRECT`: writes go from our buffers to the device without
/// passing through the page cache, so nothing is left to flush at `commit()` and the page cache is not filled with
/// gigabytes of output. Callers must then write 4096-aligned memory at 4096-aligned offsets in multiples of 4096
/// bytes (`GGUFStagedOutput` does). Filesystems that refuse `O_DIRECT` (at open or at the first write) silently
/// get ordinary buffered writes; `isDirect` tells which is in use.
final class GGUFAtomicFile: @unchecked Sendable {
    /// Memory, offset and length alignment that direct writes need (the largest logical block size in use).
    static let directAlignment = 4096

    let path: String
    let temporaryPath: String
    private var fd: Int32
    private var committed = false
    /// True while writes bypass the page cache (`O_DIRECT`).
    private(set) var isDirect = false

    init(path: String, directIO: Bool = false) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        temporaryPath = (dir.isEmpty ? "" : dir + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC
        fd = -1
        if directIO, let direct = LinuxIO.oDirect {
            fd = open(temporaryPath, flags | direct, 0o644)
            isDirect = fd >= 0
            if fd < 0 && errno != EINVAL { throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        }
        if fd < 0 { fd = open(temporaryPath, flags, 0o644) }
        guard fd >= 0 else {
            throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    deinit { discard() }

    /// Closes and removes the temporary file unless it was committed (idempotent).
    func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        if !committed { unlink(temporaryPath); committed = true }
    }

    private func failure(_ code: Int32 = errno) -> GGUFError {
        GGUFError.writeFailed(path: path, reason: String(cString: strerror(code)))
    }

    /// Writes bytes at `offset`, retrying short writes and EINTR. A direct write the filesystem refuses (EINVAL)
    /// switches the file to buffered writes and is retried.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count, at = offset
        while left > 0 {
            let n = pwrite(fd, p, left, off_t(at))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL && isDirect {
                    try dropDirectIO()
                    continue
                }
                throw failure()
            }
            left -= n
            p += n
            at += n
        }
    }

    private func dropDirectIO() throws {
        guard let direct = LinuxIO.oDirect else { return }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~direct) == 0 else { throw failure() }
        isDirect = false
    }

    /// Reserves `size` bytes on disk up front where the filesystem can (Linux `fallocate`): the extents are laid
    /// out contiguously and a disk too small fails now, before any work, rather than after minutes of converting.
    func preallocate(_ size: Int) throws {
        guard size > 0, let fallocate = LinuxIO.fallocate else { return }
        if fallocate(fd, 0, off_t(0), off_t(size)) != 0 {
            let code = errno
            // Not supported here (tmpfs on old kernels, some network filesystems): write without the reservation.
            if code == ENOSPC || code == EFBIG || code == EDQUOT || code == EIO { throw failure(code) }
        }
    }

    /// Starts writing `count` bytes at `offset` back to the disk without waiting (buffered mode only).
    func startWriteback(offset: Int, count: Int) {
        guard !isDirect, let sfr = LinuxIO.syncFileRange else { return }
        _ = sfr(fd, off_t(offset), off_t(count), LinuxIO.syncFileRangeWrite)
    }

    /// Waits until `count` bytes at `offset` are on the disk, then drops them from the page cache (buffered mode
    /// only): the final `fsync` then has little left to do and the page cache does not fill with output.
    func finishWriteback(offset: Int, count: Int) {
        guard !isDirect, let sfr = LinuxIO.syncFileRange else { return }
        _ = sfr(fd, off_t(offset), off_t(count), LinuxIO.syncFileRangeWaitWrite)
        _ = posix_fadvise(fd, off_t(offset), off_t(count), Int32(POSIX_FADV_DONTNEED))
    }

    /// Sets the file's length (drops the padding of the last direct write, or a reservation's unused tail).
    func truncate(to size: Int) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw failure() }
    }

    /// Flushes to disk and renames the temporary file into place.
    func commit() throws {
        guard fsync(fd) == 0, close(fd) == 0 else {
            let reason = failure()
            fd = -1
            throw reason
        }
        fd = -1
        guard rename(temporaryPath, path) == 0 else { throw failure() }
        committed = true
    }
}

/// Linux I/O calls that Swift's Glibc module does not import (GNU extensions), looked up at run time.
/// Package-wide: the converter's direct source reader opens its inputs with `oDirect` too.
package enum LinuxIO {
    #if os(Linux) && arch(x86_64)
    package static let oDirect: Int32? = 0o40000
    #elseif os(Linux) && arch(arm64)
    package static let oDirect: Int32? = 0o200000
    #else
    package static let oDirect: Int32? = nil
    #endif

    typealias Fallocate = @convention(c) (Int32, Int32, off_t, off_t) -> Int32
    typealias SyncFileRange = @convention(c) (Int32, off_t, off_t, UInt32) -> Int32
    /// SYNC_FILE_RANGE_WRITE, and WAIT_BEFORE | WRITE | WAIT_AFTER.
    static let syncFileRangeWrite: UInt32 = 2
    static let syncFileRangeWaitWrite: UInt32 = 7

    static let fallocate: Fallocate? = symbol("fallocate")
    static let syncFileRange: SyncFileRange? = symbol("sync_file_range")

    private static func symbol<F>(_ name: String) -> F? {
        #if os(Linux)
        guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else { return nil }
        return unsafeBitCast(p, to: F.self)
        #else
        return nil
        #endif
    }
}
