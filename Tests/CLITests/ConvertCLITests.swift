import Foundation
import SafeTensors
import Testing

private func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("convert-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

/// A sparse safetensors file with one large F32 matrix named like a transformer weight (reads as zeros, no disk).
private func bigCheckpoint(in dir: URL, rows: Int, cols: Int) throws -> String {
    let name = "transformer_blocks.0.attn1.to_q.weight"
    let bytes = rows * cols * 4
    var header = #"{"\#(name)":{"dtype":"F32","shape":[\#(rows),\#(cols)],"data_offsets":[0,\#(bytes)]}}"#
    while (header.utf8.count + 8) % 8 != 0 { header += " " }
    let path = dir.appendingPathComponent("big.safetensors").path
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: header.utf8)
    _ = FileManager.default.createFile(atPath: path, contents: data)
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try h.truncate(atOffset: UInt64(data.count + bytes))
    try h.close()
    return path
}

@Test func convertWritesAGGUFThatValidatesClean() throws {
    let d = try tempDir()
    defer { try? FileManager.default.removeItem(at: d) }
    let out = d.appendingPathComponent("m.gguf").path
    let r = try runCLI(["convert", "fixtures/tiny/cogvideox-5b", "-o", out, "--type", "q4_0", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("wrote \(out) (CogVideoX 5b)"))
    #expect(r.stderr.contains("Q4_0"))
    let v = try runCLI(["validate", out])
    #expect(v.status == 0, "\(v.stdout)\(v.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: d.path) == ["m.gguf"])
}

@Test func validateReportsExactlyTheFourPlantedFindings() throws {
    // A copy of the tiny text encoder with one key renamed, one dropped, one extra and one wrong shape.
    let d = try tempDir()
    defer { try? FileManager.default.removeItem(at: d) }
    let src = repoRoot + "/fixtures/tiny/cogvideox-2b/text_encoder"
    let ckpt = try SafeTensorsCheckpoint(path: src)
    var w = SafeTensorsWriter()
    for name in ckpt.names where name != "encoder.block.0.layer.1.layer_norm.weight" {
        let info = ckpt.info(name)!
        var shape = info.shape
        var bytes = Array(try ckpt.rawBytes(name))
        var out = name
        if name == "encoder.block.1.layer.0.SelfAttention.q.weight" { out = "encoder.block.1.layer.0.SelfAttention.q_renamed.weight" }
        if name == "encoder.final_layer_norm.weight" { shape = [7]; bytes = [UInt8](repeating: 0, count: 7 * info.dtype.bits / 8) }
        try w.add(name: out, dtype: info.dtype, shape: shape, bytes: bytes)
    }
    try w.add(name: "encoder.extra_norm.weight", shape: [5], floats: [1, 1, 1, 1, 1])
    try w.write(to: d.appendingPathComponent("model.safetensors").path)
    try FileManager.default.copyItem(atPath: src + "/config.json", toPath: d.appendingPathComponent("config.json").path)
    let r = try runCLI(["validate", d.path, "--json"])
    #expect(r.status == 1)
    let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    let comp = (obj?["components"] as? [[String: Any]])?.first
    let renamed = comp?["renamed"] as? [[String: String]]
    #expect(renamed?.count == 1)
    #expect(renamed?.first?["expected"] == "encoder.block.1.layer.0.SelfAttention.q.weight")
    #expect(renamed?.first?["found"] == "encoder.block.1.layer.0.SelfAttention.q_renamed.weight")
    #expect(comp?["missing"] as? [String] == ["encoder.block.0.layer.1.layer_norm.weight"])
    #expect(comp?["unexpected"] as? [String] == ["encoder.extra_norm.weight"])
    let mism = comp?["shape_mismatches"] as? [[String: Any]]
    #expect(mism?.count == 1)
    #expect(mism?.first?["key"] as? String == "encoder.final_layer_norm.weight")
    #expect(mism?.first?["found"] as? [Int] == [7])
}

@Test func aKilledConversionLeavesNoOutputAndTheNextRunSucceeds() throws {
    let d = try tempDir()
    defer { try? FileManager.default.removeItem(at: d) }
    let src = try bigCheckpoint(in: d, rows: 16384, cols: 16384)  // 1 GiB of F32 (sparse)
    let out = d.appendingPathComponent("out.gguf").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: cliBinary())
    p.arguments = ["convert", src, "-o", out, "--type", "q8_0", "--quiet"]
    p.standardError = FileHandle.nullDevice
    try p.run()
    // Wait until the temporary output exists (data is being streamed), then SIGKILL.
    var sawTemporary = false
    for _ in 0..<2000 {
        if (try? FileManager.default.contentsOfDirectory(atPath: d.path))?.contains(where: { $0.hasPrefix(".out.gguf.tmp-") }) == true {
            sawTemporary = true
            break
        }
        usleep(1000)
    }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    #expect(sawTemporary)
    #expect(!FileManager.default.fileExists(atPath: out))
    // A later run is not disturbed by the dead run's temporary, removes it, and produces the file.
    let r = try runCLI(["convert", src, "-o", out, "--type", "q8_0", "--quiet"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: d.path).sorted() == ["big.safetensors", "out.gguf"])
}

@Test func anInterruptedConversionRemovesItsTemporary() throws {
    let d = try tempDir()
    defer { try? FileManager.default.removeItem(at: d) }
    let src = try bigCheckpoint(in: d, rows: 16384, cols: 16384)
    let out = d.appendingPathComponent("out.gguf").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: cliBinary())
    p.arguments = ["convert", src, "-o", out, "--type", "q8_0", "--quiet"]
    p.standardError = FileHandle.nullDevice
    try p.run()
    for _ in 0..<2000 {
        if (try? FileManager.default.contentsOfDirectory(atPath: d.path))?.contains(where: { $0.hasPrefix(".out.gguf.tmp-") }) == true { break }
        usleep(1000)
    }
    kill(p.processIdentifier, SIGINT)
    p.waitUntilExit()
    #expect(p.terminationStatus == 130)
    #expect(try FileManager.default.contentsOfDirectory(atPath: d.path) == ["big.safetensors"])
}

@Test func aReadOnlyOrFullTargetGivesAClearError() throws {
    let ro = try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", "/sys/cogvideo-test.gguf", "--quiet"])
    #expect(ro.status == 1)
    #expect(ro.stderr.contains("cannot write /sys/cogvideo-test.gguf"))
    // A disk that fills up, simulated with a 64 kB file-size limit (SIGXFSZ ignored so write() reports EFBIG).
    let d = try tempDir()
    defer { try? FileManager.default.removeItem(at: d) }
    let out = d.appendingPathComponent("full.gguf").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", "trap '' XFSZ; ulimit -f 64; exec \"$0\" convert fixtures/tiny/cogvideox-2b -o \"$1\" --quiet", cliBinary(), out]
    p.currentDirectoryURL = URL(fileURLWithPath: repoRoot)
    let err = Pipe()
    p.standardError = err
    try p.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    #expect(p.terminationStatus == 1)
    #expect(text.contains("cannot write \(out): File too large"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: d.path).isEmpty)
}

@Test func convertUsageMistakesExitTwo() throws {
    #expect(try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", "x.gguf", "--type", "q9"]).status == 2)
    #expect(try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", "x.bin"]).status == 2)
    #expect(try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", "x.gguf", "--tensor-type", "(=f16"]).status == 2)
    #expect(try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", "x.gguf", "--components", "unet"]).status == 2)
}

/// (The tiny 5b-I2V stores its learned table as F64, which an F32 conversion narrows by design, so the two variants
/// here are the ones whose sources are F32 throughout.)
@Test(arguments: ["cogvideox-2b", "cogvideox1.5-5b-i2v"])
func f32ConversionExportsBitIdenticalToTheSourceAndValidatesClean(_ variant: String) throws {
    let d = try tempDir()
    defer { try? FileManager.default.removeItem(at: d) }
    let gguf = d.appendingPathComponent("f32.gguf").path, back = d.appendingPathComponent("back").path
    #expect(try runCLI(["convert", "fixtures/tiny/" + variant, "-o", gguf, "--type", "f32", "--quiet"]).status == 0)
    #expect(try runCLI(["export", gguf, "-o", back]).status == 0)
    #expect(try runCLI(["validate", back]).status == 0)
    for component in ["transformer", "vae", "text_encoder"] {
        let src = try SafeTensorsCheckpoint(path: repoRoot + "/fixtures/tiny/" + variant + "/" + component)
        let out = try SafeTensorsCheckpoint(path: back + "/" + component)
        let ignored = Set(["encoder.embed_tokens.weight"])
        #expect(Set(out.names) == Set(src.names).subtracting(ignored), "\(component)")
        for name in out.names {
            #expect(out.info(name)?.dtype == src.info(name)?.dtype && out.info(name)?.shape == src.info(name)?.shape, "\(name): \(String(describing: out.info(name))) vs \(String(describing: src.info(name)))")
            #expect(Array(try out.rawBytes(name)) == Array(try src.rawBytes(name)), "\(component).\(name)")
        }
    }
}
