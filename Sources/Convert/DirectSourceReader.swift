import Foundation
import GGUFLike
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// How the converter reads source tensors.
public enum SourceReadMode: Sendable {
    /// Direct reads for the tensors whose pages are mostly not in the page cache, the mapping for the others.
    case automatic
    /// Always the memory mapping (page faults through the page cache).
    case mapped
    /// Direct reads for every contiguous tensor (tests; benchmarks).
    case direct
}

/// Reads source chunks from disk with `O_DIRECT` on a thread of its own, a few chunks ahead of the encoder, into
/// 4096-aligned buffers. On the machines measured (BENCHMARKS.md, issue 8) a cold checkpoint reads at 0.8 GB/s
/// through the page cache (what page faults on the mapping do) and 1.3 GB/s with direct reads; they also leave the
/// page cache alone. Tensors whose pages are already cached are read from the mapping instead (memory speed).
///
/// `jobs` are file byte ranges in the exact order the encoder takes them (`take(_:)` by index, then `recycle`).
final class DirectSourceReader: @unchecked Sendable {
    struct Job { let file: Int; let offset: Int; let count: Int }

    private static let align = 4096
    private let jobs: [Job]
    private let paths: [String]
    private var descriptors: [Int32]
    private let capacity: Int
    private let buffers: [UnsafeMutableRawPointer]

    private let lock = NSCondition()
    private var free: [Int]
    private var ready: [Int: (buffer: Int, delta: Int)] = [:]
    private var failure: Error?
    private var stopping = false
    private var exited = false
    private var taken: (job: Int, buffer: Int)?

    /// Opens `paths` for direct reading; nil when the platform or a file refuses it (the caller then maps).
    init?(paths: [String], jobs: [Job], depth: Int = 4) {
        guard let direct = LinuxIO.oDirect, !jobs.isEmpty else { return nil }
        var fds: [Int32] = []
        for p in paths {
            let fd = open(p, O_RDONLY | O_CLOEXEC | direct)
            if fd < 0 { for f in fds { close(f) }; return nil }
            fds.append(fd)
        }
        self.paths = paths
        descriptors = fds
        self.jobs = jobs
        let a = DirectSourceReader.align
        let largest = jobs.map(\.count).max() ?? 0
        capacity = (largest + 2 * a - 1) / a * a + a
        let capacity = capacity
        buffers = (0..<max(depth, 2)).map { _ in UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: a) }
        free = Array(buffers.indices)
        let thread = Thread { [self] in readerLoop() }
        thread.name = "source-reader"
        thread.start()
    }

    deinit {
        for b in buffers { b.deallocate() }
    }

    private func readerLoop() {
        lock.lock()
        for next in jobs.indices {
            while free.isEmpty && !stopping { lock.wait() }
            if stopping || failure != nil { break }
            let buffer = free.removeLast()
            lock.unlock()
            let job = jobs[next]
            let a = DirectSourceReader.align
            let start = job.offset / a * a, delta = job.offset - start
            let length = (job.offset + job.count + a - 1) / a * a - start
            var error: Error?
            do { try read(file: job.file, into: buffers[buffer], at: start, length: length, needed: delta + job.count) } catch let e { error = e }
            lock.lock()
            if let error { failure = error } else { ready[next] = (buffer, delta) }
            lock.broadcast()
        }
        exited = true
        lock.broadcast()
        lock.unlock()
    }

    /// Reads until `needed` bytes are in (a short read at the end of the file is fine past them). A filesystem that
    /// refuses a direct read (EINVAL) gets the same read through an ordinary descriptor.
    private func read(file: Int, into p: UnsafeMutableRawPointer, at offset: Int, length: Int, needed: Int) throws {
        var got = 0
        while got < needed {
            let n = pread(descriptors[file], p + got, length - got, off_t(offset + got))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL, let fallback = Optional(open(paths[file], O_RDONLY | O_CLOEXEC)), fallback >= 0 {
                    close(descriptors[file])
                    descriptors[file] = fallback
                    continue
                }
                throw ConvertError.sourceReadFailed(path: paths[file], reason: String(cString: strerror(errno)))
            }
            if n == 0 { throw ConvertError.sourceReadFailed(path: paths[file], reason: "the file ends before byte \(offset + needed)") }
            got += n
        }
    }

    /// The bytes of job `index` (waits for the reader). The previous job's buffer must have been recycled.
    func take(_ index: Int) throws -> UnsafeRawBufferPointer {
        lock.lock()
        defer { lock.unlock() }
        while ready[index] == nil && failure == nil { lock.wait() }
        guard let r = ready.removeValue(forKey: index) else { throw failure! }
        taken = (index, r.buffer)
        return UnsafeRawBufferPointer(start: buffers[r.buffer] + r.delta, count: jobs[index].count)
    }

    /// Gives the buffer of the last taken job back to the reader.
    func recycle() {
        lock.lock()
        if let t = taken { free.append(t.buffer); taken = nil }
        lock.broadcast()
        lock.unlock()
    }

    /// Stops the reader thread, waits for it and closes the files (idempotent).
    func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while !exited { lock.wait() }
        lock.unlock()
        for fd in descriptors where fd >= 0 { close(fd) }
        descriptors = descriptors.map { _ in -1 }
    }

    /// Fraction of the pages of `raw` (a part of a file mapping) that are in the page cache.
    static func residentFraction(_ raw: UnsafeRawBufferPointer) -> Double {
        guard let p = raw.baseAddress, raw.count > 0 else { return 1 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: p) / page * page
        let length = Int(bitPattern: p) + raw.count - start
        var vec = [UInt8](repeating: 0, count: (length + page - 1) / page)
        guard mincore(UnsafeMutableRawPointer(bitPattern: start), length, &vec) == 0 else { return 1 }
        return Double(vec.reduce(0) { $0 + Int($1 & 1) }) / Double(vec.count)
    }
}
