import Foundation
import Testing

@Test func generateWritesAGIFFromAFolderAndFromOurGGUF() throws {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("gen-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: d) }
    let gif = d.appendingPathComponent("a.gif").path
    let r = try runCLI(["generate", "--model", "fixtures/tiny/cogvideox-2b", "--prompt", "a panda", "--steps", "2", "--frames", "9",
                        "--height", "32", "--width", "48", "-o", gif, "--save-latents", d.appendingPathComponent("l.safetensors").path])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("denoising"))
    let bytes = try Data(contentsOf: URL(fileURLWithPath: gif))
    #expect(bytes.prefix(6) == Data("GIF89a".utf8))
    let latents = try runCLI(["inspect", d.appendingPathComponent("l.safetensors").path, "--json"])
    #expect(latents.stdout.contains("\"latents\""))
    #expect(latents.stdout.contains("[1, 3, 4, 4, 6]"))

    let gguf = d.appendingPathComponent("m.gguf").path
    #expect(try runCLI(["convert", "fixtures/tiny/cogvideox-2b", "-o", gguf, "--type", "q8_0", "--quiet"]).status == 0)
    let pngs = d.appendingPathComponent("frames").path
    let g = try runCLI(["generate", "--model", gguf, "--prompt", "a panda", "--steps", "2", "--frames", "9", "--height", "32",
                        "--width", "48", "-o", pngs, "--quiet", "--scheduler", "dpm"])
    #expect(g.status == 0, "\(g.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: pngs).filter { $0.hasSuffix(".png") }.count == 9)
}

@Test func impossibleGenerationRequestsAreUsageErrors() throws {
    let i2v = try runCLI(["generate", "--model", "fixtures/tiny/cogvideox-5b-i2v", "--prompt", "x", "-o", "/tmp/never.gif"])
    #expect(i2v.status == 2)
    #expect(i2v.stderr.contains("pass --image"))
    let frames = try runCLI(["generate", "--model", "fixtures/tiny/cogvideox-2b", "--prompt", "x", "--frames", "10", "-o", "/tmp/never.gif"])
    #expect(frames.status == 2)
    #expect(frames.stderr.contains("4·k + 1"))
    let size = try runCLI(["generate", "--model", "fixtures/tiny/cogvideox-2b", "--prompt", "x", "--height", "40", "-o", "/tmp/never.gif"])
    #expect(size.status == 2)
    #expect(try runCLI(["generate", "--model", "fixtures/tiny/cogvideox-2b", "--prompt", "x", "-o", "/tmp/never.avi"]).status == 2)
    #expect(!FileManager.default.fileExists(atPath: "/tmp/never.gif"))
    // An output folder that does not exist is refused before any work, not after the denoising loop.
    let missing = try runCLI(["generate", "--model", "fixtures/tiny/cogvideox-2b", "--prompt", "x",
                              "-o", "/tmp/cogvideo-no-such-folder-\(getpid())/out.gif"])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("does not exist"))
    #expect(!missing.stderr.contains("encoding prompt"))
}
