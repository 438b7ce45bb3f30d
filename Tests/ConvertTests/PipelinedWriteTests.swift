import Foundation
import GGUFLike
import SafeTensors
import Testing
@testable import Convert

/// A checkpoint of `count` F16 matrices [rows, cols] named like transformer weights (so they take `--type`), as
/// one sparse safetensors file: the data reads as zeros without using disk.
private func sparseCheckpoint(in folder: TempFolder, count: Int, rows: Int, cols: Int) throws -> String {
    let bytes = rows * cols * 2
    var entries: [String] = []
    for i in 0..<count {
        entries.append(#""transformer_blocks.\#(i).ff.net.2.weight":{"dtype":"F16","shape":[\#(rows),\#(cols)],"data_offsets":[\#(i * bytes),\#((i + 1) * bytes)]}"#)
    }
    var header = "{" + entries.joined(separator: ",") + "}"
    while header.utf8.count % 8 != 0 { header += " " }
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: header.utf8)
    let path = folder.path("big.safetensors")
    _ = FileManager.default.createFile(atPath: path, contents: data)
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try h.truncate(atOffset: UInt64(data.count + count * bytes))
    try h.close()
    return path
}

private struct StopHalfWay: Error {}

/// Stops the pipelined writer in the middle of a tensor, after several staging buffers have been handed to (and
/// written by) the writer thread: the error comes out, and neither the output nor its temporary file remains.
@Test(arguments: [(GGUFWriteMode.direct, SourceReadMode.direct), (.buffered, .mapped), (.direct, .automatic)])
func aConversionStoppedHalfWayLeavesNoOutputAndNoTemporary(_ mode: GGUFWriteMode, _ read: SourceReadMode) throws {
    let folder = TempFolder()
    // 8 tensors of 1024 × 4096 F16 (8 MiB each): ≈ 4.4 MB of Q8_0 each, so the stop in tensor 6 comes after
    // ≈ 22 MB, several 8 MiB staging buffers, went to the writer thread.
    let source = try sparseCheckpoint(in: folder, count: 8, rows: 1024, cols: 4096)
    let out = folder.path("m.gguf")
    let before = try FileManager.default.attributesOfItem(atPath: source)
    var converter = Converter(plan: try ConversionPlan(path: source), policy: PrecisionPolicy(requested: .q8_0))
    converter.writeMode = mode
    converter.readMode = read
    var temporarySizeAtStop = 0
    #expect(throws: StopHalfWay.self) {
        _ = try converter.run(to: out, name: "test") { p in
            guard p.currentTensor == "transformer.transformer_blocks.6.ff.net.2.weight" else { return }
            let items = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
            if let t = items.first(where: { $0.hasPrefix(".m.gguf.tmp-") }) {
                temporarySizeAtStop = (try FileManager.default.attributesOfItem(atPath: folder.path(t))[.size] as? Int) ?? 0
            }
            throw StopHalfWay()
        }
    }
    #expect(temporarySizeAtStop > 0)  // the temporary existed when the error was thrown
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["big.safetensors"])
    // The input is untouched.
    let after = try FileManager.default.attributesOfItem(atPath: source)
    #expect(after[.size] as? Int == before[.size] as? Int)
    #expect(after[.modificationDate] as? Date == before[.modificationDate] as? Date)
}

/// Direct and buffered writes give byte-identical files, whose size is not a multiple of the 4096-byte direct
/// I/O block (the last block is padded for the write and truncated after).
@Test func directAndBufferedWritesGiveTheSameBytes() throws {
    let folder = TempFolder()
    let plan = try ConversionPlan(path: "\(fixturesPath)/tiny/cogvideox-2b")
    var files: [Data] = []
    for mode in [GGUFWriteMode.direct, .buffered] {
        var converter = Converter(plan: plan, policy: PrecisionPolicy(requested: .q4_0))
        converter.writeMode = mode
        let out = folder.path("\(mode).gguf")
        let summary = try converter.run(to: out, name: "test") { _ in }
        files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(files.last?.count == summary.bytesOut)
    }
    #expect(files[0].count % 4096 != 0)
    #expect(files[0] == files[1])
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted() == ["buffered.gguf", "direct.gguf"])
}

/// Reading the source with direct reads (a thread ahead of the encoder) or through the mapping gives the same
/// file, for plain tensors and for SAT row blocks (which always use the mapping).
@Test(arguments: ["tiny/cogvideox-2b", "sat/cogvideox-5b-i2v-transformer.safetensors"])
func directAndMappedSourceReadsGiveTheSameBytes(_ source: String) throws {
    let folder = TempFolder()
    let plan = try ConversionPlan(path: "\(fixturesPath)/\(source)")
    var files: [Data] = []
    for read in [SourceReadMode.mapped, .direct] {
        var converter = Converter(plan: plan, policy: PrecisionPolicy(requested: .q8_0))
        converter.readMode = read
        let out = folder.path("\(read).gguf")
        _ = try converter.run(to: out, name: "test") { _ in }
        files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
    }
    #expect(files[0].count > 100_000)
    #expect(files[0] == files[1])
}

@Test func theDirectReaderReadsEveryPlainTensorInChunkOrder() throws {
    let plan = try ConversionPlan(path: "\(fixturesPath)/tiny/cogvideox-2b")
    let entries = plan.components.flatMap { c in c.tensors.map { (checkpoint: c.checkpoint, tensor: $0, type: GGMLType.q8_0) } }
    let (reader, firstJobs) = Converter.directReader(entries, mode: .direct, maximumFill: 4096)
    defer { reader?.stop() }
    #expect(reader != nil)
    // Job indices rise with the tensors; each job holds exactly the bytes the mapping shows.
    var expectedJob = 0
    for (i, e) in entries.enumerated() {
        guard let first = firstJobs[i] else { continue }
        #expect(first == expectedJob)
        let raw = try e.checkpoint.rawBytes(e.tensor.sourceName)
        let c = Converter.chunking(e.tensor, type: .q8_0, maximumFill: 4096)
        let bytesPerSlice = c.sliceElements * e.tensor.sourceDType.bits / 8
        for (k, s0) in stride(from: 0, to: c.slices, by: c.perChunk).enumerated() {
            let got = try #require(reader).take(first + k)
            let n = min(c.perChunk, c.slices - s0)
            #expect(Array(got) == Array(raw[(s0 * bytesPerSlice)..<((s0 + n) * bytesPerSlice)]), "\(e.tensor.name) chunk \(k)")
            reader?.recycle()
            expectedJob += 1
        }
    }
    #expect(firstJobs.allSatisfy { $0 != nil })  // every tensor of a diffusers folder is plain
    #expect(expectedJob > entries.count)         // and a 4 KB fill splits some into several chunks
}
