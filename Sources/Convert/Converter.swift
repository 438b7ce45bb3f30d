import Dispatch
import Foundation
import GGUFLike
import Model
import SafeTensors

/// Progress of a running conversion (reported after every chunk of rows).
public struct ConversionProgress: Sendable {
    public let tensorsDone: Int
    public let tensorsTotal: Int
    public let bytesIn: Int
    public let bytesInTotal: Int
    public let currentTensor: String
}

/// What a finished conversion did.
public struct ConversionSummary: Sendable {
    public struct Decision: Sendable {
        public let name: String
        public let shape: [Int]
        public let source: String
        public let type: GGMLType
        public let reason: String
    }
    public var decisions: [Decision] = []
    public var bytesIn = 0
    public var bytesOut = 0
    public var seconds = 0.0
    public var variant: CogVideoXVariant?

    /// Tensor count per stored type.
    public var tensorsPerType: [(GGMLType, Int)] {
        Dictionary(grouping: decisions, by: \.type).map { ($0.key, $0.value.count) }.sorted { $0.1 > $1.1 }
    }
}

/// Streams a checkpoint into one GGUF file: one tensor in memory at a time (in chunks of ≈ 4 M elements), rows
/// decoded and quantized on all engine threads while a writer thread writes the previous chunks (GGUFWriter's
/// pipelined output), the output written to a temporary file and renamed at the end.
public struct Converter {
    public let plan: ConversionPlan
    public let policy: PrecisionPolicy
    /// How the output is written (direct I/O by default; same bytes either way).
    public var writeMode: GGUFWriteMode = .default
    /// How the source is read (direct reads for what is not in the page cache by default; same bytes either way).
    /// `COGVIDEO_CONVERT_READ=mapped|direct` overrides the default.
    public var readMode: SourceReadMode = {
        switch ProcessInfo.processInfo.environment["COGVIDEO_CONVERT_READ"] {
        case "mapped": return .mapped
        case "direct": return .direct
        default: return .automatic
        }
    }()

    public init(plan: ConversionPlan, policy: PrecisionPolicy) {
        self.plan = plan
        self.policy = policy
    }

    /// The decisions without writing anything (for `--dry-run` and the summary).
    public func decisions() -> [ConversionSummary.Decision] {
        plan.components.flatMap { c in
            c.tensors.map { t in
                let d = policy.decide(component: PipelineComponent(rawValue: c.name) ?? .transformer, name: t.name, shape: t.shape,
                                      source: Converter.policySourceType(t.sourceDType))
                return ConversionSummary.Decision(name: c.name + "." + t.name, shape: t.shape, source: t.sourceDType.rawValue,
                                                  type: d.type, reason: d.reason)
            }
        }
    }

    static func policySourceType(_ d: SafeTensorsDType) -> GGMLType {
        switch d {
        case .bf16: return .bf16
        case .f32, .f64: return .f32
        default: return .f16
        }
    }

    /// Writes the GGUF to `output`. `progress` is called from the converting thread after every chunk; an error it
    /// throws stops the conversion (nothing is left at `output`, and no temporary file).
    public func run(to output: String, name: String, progress: @escaping (ConversionProgress) throws -> Void) throws -> ConversionSummary {
        let start = DispatchTime.now().uptimeNanoseconds
        var summary = ConversionSummary()
        summary.variant = plan.variant
        summary.decisions = decisions()
        var writer = try GGUFWriter(architecture: CogVideoXGGUFKeys.architecture)
        try writer.set("general.name", .string(name))
        try writer.set("general.file_type", .uint32(CogVideoXGGUFKeys.fileType(for: policy.requested)))
        try writer.set("general.quantization_version", .uint32(2))
        if let v = plan.variant { try writer.set(CogVideoXGGUFKeys.variant, .string(v.rawValue)) }
        if let t = plan.modelIndexText { try writer.set(CogVideoXGGUFKeys.modelIndex, .string(t)) }
        for c in plan.components { if let t = c.configText { try writer.set(CogVideoXGGUFKeys.config(c.name), .string(t)) } }
        if let t = plan.schedulerText { try writer.set(CogVideoXGGUFKeys.schedulerConfig, .string(t)) }
        if let t = plan.tokenizerConfigText { try writer.set(CogVideoXGGUFKeys.tokenizerConfig, .string(t)) }
        if let m = plan.spieceModel { try writer.set(CogVideoXGGUFKeys.spieceModel, .array(.uint8, m.map { .uint8($0) })) }

        let total = plan.components.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.count * $1.sourceDType.bits / 8 } }
        let tensorsTotal = plan.components.reduce(0) { $0 + $1.tensors.count }
        // The direct reader is set up when the first tensor is produced (its chunks depend on the staging size).
        let entries = zip(plan.components.flatMap { c in c.tensors.map { (c.checkpoint, $0) } }, summary.decisions).map {
            (checkpoint: $0.0.0, tensor: $0.0.1, type: $0.1.type)
        }
        let readMode = readMode
        nonisolated(unsafe) var reader: DirectSourceReader?
        nonisolated(unsafe) var firstJobs: [Int?]?
        defer { reader?.stop() }
        var decisionIndex = 0
        nonisolated(unsafe) var bytesIn = 0
        nonisolated(unsafe) var done = 0
        nonisolated(unsafe) let report = progress
        for c in plan.components {
            for t in c.tensors {
                let decision = summary.decisions[decisionIndex]
                let index = decisionIndex
                decisionIndex += 1
                guard SourceDecoding.convertible.contains(t.sourceDType) else {
                    throw ConvertError.unsupportedSourceDType(tensor: c.name + "." + t.name, dtype: t.sourceDType.rawValue)
                }
                let checkpoint = c.checkpoint
                let fullName = c.name + "." + t.name
                try writer.addTensor(name: fullName, shape: t.shape, type: decision.type, into: { sink in
                    let raw = try checkpoint.rawBytes(t.sourceName)
                    var tensorBytesIn = 0
                    if firstJobs == nil { (reader, firstJobs) = Converter.directReader(entries, mode: readMode, maximumFill: sink.maximumFill) }
                    try Converter.stream(t, raw: raw, type: decision.type, into: sink, reader: reader,
                                         firstJob: firstJobs?[index]) { inBytes in
                        bytesIn += inBytes
                        tensorBytesIn += inBytes
                        // The chunk that finishes a tensor reports it as done, so the last report reads N/N.
                        let finished = tensorBytesIn >= raw.count ? 1 : 0
                        try report(ConversionProgress(tensorsDone: done + finished, tensorsTotal: tensorsTotal, bytesIn: bytesIn,
                                                      bytesInTotal: total, currentTensor: fullName))
                    }
                    checkpoint.releasePages(t.sourceName)
                    done += 1
                })
            }
        }
        summary.bytesOut = writer.fileSize
        try writer.write(to: output, mode: writeMode)
        summary.bytesIn = bytesIn
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return summary
    }

    /// How `stream` cuts a tensor into chunks: dim-0 slices (single elements for a split 1-D tensor), elements per
    /// slice and slices per chunk (≈ 4 M elements whose encoding fits one staging buffer and whose source is at
    /// most 4 MiB, except 1-D tensors: one chunk).
    static func chunking(_ t: SourceTensor, type: GGMLType, maximumFill: Int) -> (slices: Int, sliceElements: Int, perChunk: Int) {
        let dim0 = t.shape.first ?? 1
        let inner = t.shape.count <= 1 ? t.count : t.count / max(dim0, 1)   // elements per dim-0 slice
        let slices = t.shape.count <= 1 ? 1 : dim0
        // For a 1-D split (a fused bias), slices are single elements.
        let sliceCount = t.blocks != nil && t.shape.count <= 1 ? t.count : slices
        let sliceElements = t.blocks != nil && t.shape.count <= 1 ? 1 : inner
        let fitting = maximumFill / type.typeSize * type.blockSize
        let sourceFitting = maxSourceChunk * 8 / max(t.sourceDType.bits, 1)
        let perChunk = t.shape.count <= 1 ? sliceCount : max(1, min(1 << 22, fitting, sourceFitting) / max(sliceElements, 1))
        return (sliceCount, sliceElements, perChunk)
    }

    /// Largest source range of a chunk (bytes), so that direct reads fit the reader's buffers.
    static let maxSourceChunk = 4 << 20

    /// The direct reader for the tensors of `entries` (in write order) that `mode` and the page cache say to read
    /// from disk, and the index of each such tensor's first job (nil: read from the mapping).
    static func directReader(_ entries: [(checkpoint: SafeTensorsCheckpoint, tensor: SourceTensor, type: GGMLType)],
                             mode: SourceReadMode, maximumFill: Int) -> (DirectSourceReader?, [Int?]) {
        var firstJob = [Int?](repeating: nil, count: entries.count)
        guard mode != .mapped else { return (nil, firstJob) }
        var paths: [String] = [], fileIndex: [String: Int] = [:], jobs: [DirectSourceReader.Job] = []
        for (i, e) in entries.enumerated() {
            let t = e.tensor
            guard t.blocks == nil, t.count > 0, t.rowLength > 0, SourceDecoding.convertible.contains(t.sourceDType),
                  let location = e.checkpoint.location(t.sourceName), let raw = try? e.checkpoint.rawBytes(t.sourceName) else { continue }
            let c = chunking(t, type: e.type, maximumFill: maximumFill)
            let bytesPerSlice = c.sliceElements * t.sourceDType.bits / 8
            guard c.perChunk * bytesPerSlice <= maxSourceChunk else { continue }
            if mode == .automatic && DirectSourceReader.residentFraction(raw) >= 0.5 { continue }
            let path = location.file.path
            let file = fileIndex[path] ?? paths.count
            if file == paths.count { fileIndex[path] = file; paths.append(path) }
            let start = location.file.dataStart + location.info.dataOffsets.lowerBound
            firstJob[i] = jobs.count
            for s0 in stride(from: 0, to: c.slices, by: c.perChunk) {
                let n = min(c.perChunk, c.slices - s0)
                jobs.append(.init(file: file, offset: start + s0 * bytesPerSlice, count: n * bytesPerSlice))
            }
        }
        guard let reader = DirectSourceReader(paths: paths, jobs: jobs) else {
            return (nil, [Int?](repeating: nil, count: entries.count))
        }
        return (reader, firstJob)
    }

    /// Drops the whole pages inside `range` (bytes of `raw`) from our resident set once a chunk has been converted
    /// (they stay in the page cache): a 263 MB embedding table then never is resident at once.
    static func release(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard let p = raw.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: p) + range.lowerBound + page - 1) / page * page
        let end = (Int(bitPattern: p) + range.upperBound) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
    }

    /// Converts one tensor chunk by chunk: source rows are decoded to fp32 and encoded as `type` on all engine
    /// threads, straight into the output's staging buffer (a few hundred rows at a time per thread, so the fp32
    /// rows stay in cache), while the writer thread writes the previous buffers. `chunkDone` gets the source bytes
    /// of each chunk.
    static func stream(_ t: SourceTensor, raw: UnsafeRawBufferPointer, type: GGMLType, into sink: GGUFTensorSink,
                       reader: DirectSourceReader? = nil, firstJob: Int? = nil, chunkDone: (Int) throws -> Void) throws {
        guard t.count > 0, t.rowLength > 0 else { return }
        let elementBits = t.sourceDType.bits
        let dim0 = t.shape.first ?? 1
        let inner = t.shape.count <= 1 ? t.count : t.count / max(dim0, 1)   // elements per dim-0 slice
        let sourceDim0 = t.sourceShape.first ?? 1
        let rowsPerBlock = t.blocks == nil ? 0 : sourceDim0 / t.blockCount
        let sourceInner = t.sourceShape.count <= 1 ? 1 : t.sourceShape.dropFirst().reduce(1, *)
        let (sliceCount, sliceElements, slicesPerChunk) = chunking(t, type: type, maximumFill: sink.maximumFill)
        precondition(t.blocks == nil || sliceElements == sourceInner)
        /// Source element offset of output slice `i`.
        func sourceStart(_ i: Int) -> Int {
            guard let blocks = t.blocks else { return i * inner }
            let b = blocks[i / rowsPerBlock], r = i % rowsPerBlock
            return (b * rowsPerBlock + r) * sourceInner
        }
        let rowLength = t.rowLength
        var s0 = 0, chunk = 0
        while s0 < sliceCount {
            let n = min(slicesPerChunk, sliceCount - s0)
            // The chunk's source: read ahead by the direct reader, or the mapping.
            var source = raw, base = 0   // `base`: element index of `source`'s first element
            if let reader, let firstJob {
                source = try reader.take(firstJob + chunk)
                base = s0 * sliceElements
            }
            nonisolated(unsafe) let src = source
            let elements = n * sliceElements
            guard let outBytes = type.byteCount(elements: elements) else {
                throw BlockCodecError.notWholeBlocks(type: type, count: elements)
            }
            let first = s0
            try sink.fill(outBytes) { out in
                nonisolated(unsafe) var failure: Error?
                nonisolated(unsafe) let e = out.baseAddress!
                // Each thread converts whole rows (row boundaries are block boundaries), a batch of ≈ 16 K
                // elements at a time through a small fp32 scratch.
                Engine.parallelRanges(elements / rowLength, minimumChunk: 16) { r in
                    let batchRows = max(1, min(r.count, (1 << 14) / rowLength))
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: batchRows * rowLength)
                    defer { scratch.deallocate() }
                    do {
                        var row = r.lowerBound
                        while row < r.upperBound {
                            let rows = min(batchRows, r.upperBound - row)
                            let e0 = row * rowLength, e1 = (row + rows) * rowLength
                            // Decode source elements slice by slice.
                            var pos = e0
                            while pos < e1 {
                                let slice = first + pos / sliceElements, within = pos % sliceElements
                                let len = min(sliceElements - within, e1 - pos)
                                try SourceDecoding.decode(t.sourceDType, src, start: sourceStart(slice) + within - base, count: len,
                                                          into: scratch + (pos - e0), tensor: t.sourceName)
                                pos += len
                            }
                            let b0 = e0 / type.blockSize * type.typeSize, b1 = e1 / type.blockSize * type.typeSize
                            try BlockCodec.quantize(type, UnsafeBufferPointer(start: scratch, count: e1 - e0),
                                                    into: UnsafeMutableRawBufferPointer(start: e + b0, count: b1 - b0))
                            row += rows
                        }
                    } catch { failure = error }
                }
                if let failure { throw failure }
            }
            if let reader, firstJob != nil {
                reader.recycle()
            } else if t.blocks == nil {
                // A plain tensor's chunk is one contiguous source range: let its pages go now.
                release(raw, (first * sliceElements * elementBits / 8)..<((first + n) * sliceElements * elementBits / 8))
            }
            try chunkDone(elements * elementBits / 8)
            s0 += n
            chunk += 1
        }
    }
}
