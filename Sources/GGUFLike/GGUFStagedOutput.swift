import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `GGUFWriter` writes its file. Both give the same bytes.
public enum GGUFWriteMode: Sendable {
    /// `O_DIRECT` where the filesystem allows it (else buffered): no page-cache copy, nothing left for the final
    /// fsync, the page cache not filled with output. Fastest on the disks measured (BENCHMARKS.md, issue 8).
    case direct
    /// Through the page cache, each block's writeback started at once and waited for a few blocks later.
    case buffered

    /// `direct`, unless the environment sets `COGVIDEO_GGUF_IO=buffered`.
    public static var `default`: GGUFWriteMode {
        ProcessInfo.processInfo.environment["COGVIDEO_GGUF_IO"] == "buffered" ? .buffered : .direct
    }
}

/// A pipelined atomic output file: the producer appends bytes (or encodes them in place) into one of a few
/// 4096-aligned staging buffers while a writer thread writes the previous, full buffers to the temporary file,
/// so encoding the next chunk overlaps writing the last one. At most `depth` buffers exist (memory stays at
/// `depth × capacity` whatever the file size); a producer that gets ahead of the disk waits for a free buffer.
///
/// Writes go through `O_DIRECT` where the filesystem allows it (whole aligned blocks at aligned offsets; the
/// last block is zero-padded and the file truncated to its length afterwards); otherwise they are buffered, and
/// the writer starts each block's writeback at once and waits for it a few blocks later, so that the final
/// `fsync` is short and the page cache does not fill with output. Either way `finish()` fsyncs the temporary file
/// and renames it into place; `close()` without `finish()` (any error, on any thread) removes it.
///
/// Not thread-safe on the producer side: one thread appends (the engine's threads may fill a reserved region).
final class GGUFStagedOutput: @unchecked Sendable {
    private struct Job { let buffer: Int; let offset: Int; let count: Int }

    let file: GGUFAtomicFile
    /// Bytes per staging buffer (a multiple of the direct-I/O alignment).
    let capacity: Int
    private let align = GGUFAtomicFile.directAlignment
    private let buffers: [UnsafeMutableRawPointer]

    // Shared with the writer thread, under `lock`.
    private let lock = NSCondition()
    private var free: [Int]
    private var queue: [Job] = []
    private var writing = false
    private var stopping = false
    private var exited = false
    private var failure: Error?

    // Producer state: the buffer being filled, its fill level and the file offset of its first byte.
    private var current: Int
    private var fill = 0
    private var base = 0
    private var closed = false

    /// Creates the temporary file beside `path` for a file of `expectedSize` bytes (reserved on disk up front
    /// where possible) and starts the writer thread.
    init(path: String, expectedSize: Int, mode: GGUFWriteMode = .default,
         capacity requested: Int = 4 << 20, depth: Int = 4) throws {
        let file = try GGUFAtomicFile(path: path, directIO: mode == .direct)
        do { try file.preallocate(expectedSize) } catch {
            file.discard()
            throw error
        }
        self.file = file
        let a = GGUFAtomicFile.directAlignment
        // Small files get small buffers (room for the whole file plus one alignment block).
        let capacity = max(2 * a, min(requested, (expectedSize + 2 * a - 1) / a * a))
        self.capacity = capacity
        buffers = (0..<max(depth, 2)).map { _ in UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: a) }
        free = Array(1..<buffers.count)
        current = 0
        let thread = Thread { [self] in writerLoop() }
        thread.name = "gguf-writer"
        thread.start()
    }

    deinit {
        for b in buffers { b.deallocate() }
    }

    /// The largest region `fill(_:_:)` can hand out in one piece.
    var maximumFill: Int { capacity - align }

    /// Bytes appended so far (the file offset of the next byte).
    var position: Int { base + fill }

    /// Copies `bytes` to the end of the file (any size; split across buffers as needed).
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            if fill == capacity { try rotate() }
            let n = min(left, capacity - fill)
            (buffers[current] + fill).copyMemory(from: p, byteCount: n)
            fill += n
            left -= n
            p += n
        }
    }

    /// Appends `count` zero bytes.
    func appendZeros(_ count: Int) throws {
        var left = count
        while left > 0 {
            if fill == capacity { try rotate() }
            let n = min(left, capacity - fill)
            (buffers[current] + fill).initializeMemory(as: UInt8.self, repeating: 0, count: n)
            fill += n
            left -= n
        }
    }

    /// Lets `body` write the next `count` bytes of the file in place (no copy): `count ≤ maximumFill`. The region
    /// counts as written only if `body` returns.
    func fill(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        precondition(count <= maximumFill, "fill of \(count) bytes exceeds the staging buffer")
        if capacity - fill < count { try rotate() }
        try body(UnsafeMutableRawBufferPointer(start: buffers[current] + fill, count: count))
        fill += count
    }

    /// Hands the aligned part of the current buffer to the writer and continues in a free buffer, carrying the
    /// unaligned tail (< 4096 bytes) over to its start.
    private func rotate() throws {
        let aligned = fill / align * align
        let next = try takeFreeBuffer()
        let tail = fill - aligned
        if tail > 0 { buffers[next].copyMemory(from: buffers[current] + aligned, byteCount: tail) }
        try submit(Job(buffer: current, offset: base, count: aligned))
        base += aligned
        current = next
        fill = tail
    }

    private func takeFreeBuffer() throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        while free.isEmpty && failure == nil { lock.wait() }
        if let failure { throw failure }
        return free.removeLast()
    }

    private func submit(_ job: Job) throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        queue.append(job)
        lock.broadcast()
    }

    private func writerLoop() {
        // Buffered mode: ranges whose writeback was started and not yet waited for (oldest first).
        var inFlight: [(offset: Int, count: Int)] = []
        lock.lock()
        while true {
            while queue.isEmpty && !stopping { lock.wait() }
            if queue.isEmpty { break }
            let job = queue.removeFirst()
            let skip = failure != nil
            writing = true
            lock.unlock()
            var error: Error?
            if !skip {
                do {
                    try file.write(UnsafeRawBufferPointer(start: buffers[job.buffer], count: job.count), at: job.offset)
                    if !file.isDirect {
                        file.startWriteback(offset: job.offset, count: job.count)
                        inFlight.append((job.offset, job.count))
                        if inFlight.count > 4 {
                            let old = inFlight.removeFirst()
                            file.finishWriteback(offset: old.offset, count: old.count)
                        }
                    }
                } catch let e { error = e }
            }
            lock.lock()
            writing = false
            if let error, failure == nil { failure = error }
            free.append(job.buffer)
            lock.broadcast()
        }
        exited = true
        lock.broadcast()
        lock.unlock()
    }

    /// Stops the writer thread after the queued jobs (skipped if a failure was recorded) and waits for it.
    private func stopWriter() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while !exited { lock.wait() }
        lock.unlock()
    }

    /// Writes what is left, waits for the writer, fsyncs and renames the temporary file into place.
    func finish() throws {
        let total = base + fill
        // Direct writes need whole aligned blocks: pad with zeros; the truncate below drops the padding.
        let count = file.isDirect ? (fill + align - 1) / align * align : fill
        if count > fill { (buffers[current] + fill).initializeMemory(as: UInt8.self, repeating: 0, count: count - fill) }
        if count > 0 { try submit(Job(buffer: current, offset: base, count: count)) }
        stopWriter()
        closed = true
        if let failure { file.discard(); throw failure }
        do {
            try file.truncate(to: total)
            try file.commit()
        } catch {
            file.discard()
            throw error
        }
    }

    /// Abandons the file unless `finish()` succeeded: stops the writer and removes the temporary (idempotent).
    func close() {
        guard !closed else { return }
        closed = true
        lock.lock()
        if failure == nil { failure = GGUFError.writeFailed(path: file.path, reason: "the write was abandoned") }
        lock.unlock()
        stopWriter()
        file.discard()
    }
}
