import ArgumentParser
import Foundation
import GGUFLike
import SafeTensors

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the tensors of a GGUF file back out as safetensors, dequantized.",
        discussion: """
            A pipeline file made by `convert` becomes a diffusers folder again (model_index.json, one folder per \
            component with its config.json and weights, scheduler/ and tokenizer/), so any other tool can use \
            what we wrote. Any other GGUF file becomes one .safetensors file (OUT ending in .safetensors) or \
            OUT/model.safetensors. Tensors are processed one at a time; the output appears only when complete.

            --dtype auto (the default) keeps F32, F16 and BF16 tensors bit-for-bit and writes quantized tensors \
            as F32; f32, f16 and bf16 convert every tensor to that type.

            Examples:
              cogvideo-convert export cogvideox-2b-q8_0.gguf -o CogVideoX-2b-roundtrip
              cogvideo-convert export model.gguf -o model.safetensors --dtype f16
            """)

    enum DType: String, ExpressibleByArgument, CaseIterable { case auto, f32, f16, bf16 }

    @Argument(help: "The .gguf file to export.", completion: .file(extensions: ["gguf"]))
    var source: String

    @Option(name: [.short, .customLong("output")], help: "Output folder (or .safetensors file for a non-pipeline GGUF).")
    var output: String

    @Option(help: "Element type of the written tensors: \(DType.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dtype: DType = .auto

    @Flag(help: "Replace OUT if it already exists.")
    var force = false

    func validate() throws {
        if FileManager.default.fileExists(atPath: output) && !force {
            throw ValidationError("\(output) already exists; pass --force to replace it")
        }
    }

    func run() throws {
        let file = try GGUFFile(path: source)
        let isPipeline = file[CogVideoXGGUFKeys.modelIndex] != nil
            || CogVideoXGGUFKeys.components.contains { file[CogVideoXGGUFKeys.config($0)] != nil }
        if !isPipeline {
            let target = output.hasSuffix(".safetensors") ? output : (output as NSString).appendingPathComponent("model.safetensors")
            try writeFolderAtomically(output.hasSuffix(".safetensors") ? nil : output) { staging in
                let path = staging.map { ($0 as NSString).appendingPathComponent("model.safetensors") } ?? target
                try writeSafetensors(file, tensors: file.tensors, stripPrefix: "", to: path)
            }
            FileHandle.standardError.write(Data("exported \(file.tensors.count) tensors to \(target)\n".utf8))
            return
        }
        try writeFolderAtomically(output) { staging in
            guard let staging else { return }
            var modelIndex: JSONValue? = nil
            if let text = file[CogVideoXGGUFKeys.modelIndex]?.string { modelIndex = try? JSONParser.parse(text) }
            for component in CogVideoXGGUFKeys.components {
                let prefix = component + "."
                let tensors = file.tensors.filter { $0.name.hasPrefix(prefix) }
                guard !tensors.isEmpty else { continue }
                let dir = (staging as NSString).appendingPathComponent(component)
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                if let cfg = file[CogVideoXGGUFKeys.config(component)]?.string {
                    try Data(cfg.utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("config.json")))
                }
                let name = component == "text_encoder" ? "model.safetensors" : "diffusion_pytorch_model.safetensors"
                try writeSafetensors(file, tensors: tensors, stripPrefix: prefix, to: (dir as NSString).appendingPathComponent(name))
                FileHandle.standardError.write(Data("\(component): \(tensors.count) tensors\n".utf8))
            }
            if let sched = file[CogVideoXGGUFKeys.schedulerConfig]?.string {
                let dir = (staging as NSString).appendingPathComponent("scheduler")
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try Data(sched.utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("scheduler_config.json")))
            }
            if let spm = file[CogVideoXGGUFKeys.spieceModel]?.bytes {
                let dir = (staging as NSString).appendingPathComponent("tokenizer")
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try Data(spm).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("spiece.model")))
                if let cfg = file[CogVideoXGGUFKeys.tokenizerConfig]?.string {
                    try Data(cfg.utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("tokenizer_config.json")))
                }
            }
            if let modelIndex {
                try Data(modelIndex.prettyPrinted().utf8).write(to: URL(fileURLWithPath: (staging as NSString).appendingPathComponent("model_index.json")))
            }
        }
        FileHandle.standardError.write(Data("exported pipeline to \(output)\n".utf8))
    }

    /// Runs `body` with a staging folder next to `folder` and renames it into place when `body` succeeds; with a
    /// nil folder, runs `body(nil)` (the body writes a single file atomically itself).
    private func writeFolderAtomically(_ folder: String?, _ body: (String?) throws -> Void) throws {
        guard let folder else { try body(nil); return }
        let parent = (folder as NSString).deletingLastPathComponent
        let staging = (parent.isEmpty ? "." : parent) + "/." + (folder as NSString).lastPathComponent + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        do {
            try body(staging)
            if FileManager.default.fileExists(atPath: folder) { try FileManager.default.removeItem(atPath: folder) }
            try FileManager.default.moveItem(atPath: staging, toPath: folder)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    private func writeSafetensors(_ file: GGUFFile, tensors: [GGUFTensorInfo], stripPrefix: String, to path: String) throws {
        var w = SafeTensorsWriter(metadata: [("format", "pt")])
        for t in tensors {
            let outType: GGMLType
            switch dtype {
            case .auto: outType = [.f32, .f16, .bf16].contains(t.type) ? t.type : .f32
            case .f32: outType = .f32
            case .f16: outType = .f16
            case .bf16: outType = .bf16
            }
            let stDType: SafeTensorsDType = outType == .f32 ? .f32 : (outType == .f16 ? .f16 : .bf16)
            let name = String(t.name.dropFirst(stripPrefix.count))
            try w.add(name: name, dtype: stDType, shape: t.shape) { emit in
                let data = file.data(t)
                if outType == t.type { try emit(data); return }
                // Convert a few rows at a time (≈ 4 M elements) so memory stays bounded.
                let rowLength = t.ne[0]
                let rows = max(1, t.elementCount / max(rowLength, 1))
                let rowsPerChunk = max(1, (1 << 22) / max(rowLength, 1))
                var floats = [Float](repeating: 0, count: rowsPerChunk * rowLength)
                var encoded = [UInt8](repeating: 0, count: rowsPerChunk * rowLength * (outType == .f32 ? 4 : 2))
                var r = 0
                while r < rows {
                    let n = min(rowsPerChunk, rows - r)
                    let src = UnsafeRawBufferPointer(rebasing: data[(r * t.byteCount / rows)..<((r + n) * t.byteCount / rows)])
                    try floats.withUnsafeMutableBufferPointer { f in
                        let dst = UnsafeMutableBufferPointer(rebasing: f[0..<(n * rowLength)])
                        try BlockCodec.dequantize(t.type, src, into: dst)
                        try encoded.withUnsafeMutableBytes { e in
                            let out = UnsafeMutableRawBufferPointer(rebasing: e[0..<(n * rowLength * (outType == .f32 ? 4 : 2))])
                            try BlockCodec.quantize(outType, UnsafeBufferPointer(dst), into: out)
                            try emit(UnsafeRawBufferPointer(out))
                        }
                    }
                    r += n
                }
            }
        }
        try w.write(to: path)
    }
}
