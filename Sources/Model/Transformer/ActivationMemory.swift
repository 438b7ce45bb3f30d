// Large activation blocks stay in malloc's heap (glibc) while a transformer forward runs.
import CKernels
import Foundation

extension Engine {
    /// Runs `body` with large allocations kept in malloc's heap.
    ///
    /// glibc serves every allocation above 32 MB with its own mmap and unmaps it when freed, so the next tensor of
    /// that size is a fresh mapping the kernel zero-fills page by page on first touch. A CogVideoX block at 17,776
    /// tokens frees and reallocates ≈ 2 GB of such activations (the joint sequences, head outputs, projections and
    /// FFN outputs), and the page faults and clearing cost ≈ 15% of its CPU time (2b width, Q8_0, one 17,776-token
    /// block: 11.5 → 9.8 CPU s). So while a forward runs, malloc's mmap and trim thresholds are 1 GB
    /// (`ck_malloc_keep_large_blocks`): freed blocks go back to the heap and are reused without faults. Peak RSS
    /// grows by ≈ 10% (heap fragmentation; 2b width, 2 layers, batch 2 at 17,776 tokens: 1.16 → 1.31 GB). When the
    /// last concurrent forward ends, glibc's policy returns and the free heap memory is released
    /// (`ck_malloc_release_large_blocks`), so T5 and the VAE run as before. `COGVIDEO_MALLOC=default` turns this off.
    static func withLargeBlocksInHeap<T>(_ body: () throws -> T) rethrows -> T {
        guard keepLargeBlocks else { return try body() }
        heapPolicyLock.lock()
        if heapPolicyUsers == 0 { _ = ck_malloc_keep_large_blocks(1 << 30) }
        heapPolicyUsers += 1
        heapPolicyLock.unlock()
        defer {
            heapPolicyLock.lock()
            heapPolicyUsers -= 1
            if heapPolicyUsers == 0 { ck_malloc_release_large_blocks() }
            heapPolicyLock.unlock()
        }
        return try body()
    }

    private static let keepLargeBlocks = ProcessInfo.processInfo.environment["COGVIDEO_MALLOC"] != "default"
    private static let heapPolicyLock = NSLock()
    nonisolated(unsafe) private static var heapPolicyUsers = 0
}
