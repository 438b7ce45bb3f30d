// Large activation blocks stay in malloc's heap (glibc) instead of being unmapped when freed.
import CKernels
import Foundation

extension Engine {
    /// glibc serves every allocation above 32 MB with its own mmap and unmaps it when freed, so the next tensor of
    /// that size is a fresh mapping the kernel zero-fills page by page on first touch. A CogVideoX block at 17,776
    /// tokens frees and reallocates ≈ 2 GB of such activations (the joint sequences, head outputs, projections and
    /// FFN outputs), and the page faults and clearing cost ≈ 15% of its CPU time (2b width, Q8_0, one 17,776-token
    /// block: 11.5 → 9.8 CPU s). So, once per process, the transformer raises malloc's mmap and trim thresholds to
    /// 1 GB (`mallopt`, `ck_malloc_keep_large_blocks`): freed blocks go back to the heap and are reused without faults. Peak RSS is unchanged (the
    /// same tensors are alive at the peak); up to 1 GB of freed heap may stay resident after a forward (and is
    /// reused by the next one, or by the VAE). `COGVIDEO_MALLOC=default` keeps glibc's policy. True when applied.
    static let largeBlocksStayInHeap: Bool = {
        guard ProcessInfo.processInfo.environment["COGVIDEO_MALLOC"] != "default" else { return false }
        return ck_malloc_keep_large_blocks(1 << 30) == 1
    }()
}
