import ArgumentParser
import Foundation
import Model
import SafeTensors

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a video from a prompt (text-, image- or video-to-video), seed for seed like diffusers.",
        discussion: """
            --model is a diffusers CogVideoX folder or a .gguf file made by `convert` (weights run in their stored \
            type: F32, F16, BF16, Q8_0, Q4_0…). --seed N draws the same numbers as torch.Generator("cpu").manual_seed(N), \
            so the same settings give the same video as diffusers. Defaults follow the model's config like diffusers \
            (49 frames at 480×720, 50 steps, guidance 6 for CogVideoX 1.0; pass --height/--width for 1.5, e.g. 768×1360).

            -o OUT: .gif and .png (one file per frame) or a folder of PNGs are written by us; .mp4 needs ffmpeg.

            Examples:
              cogvideo-convert generate --model cogvideox-2b-q8_0.gguf --prompt "a panda playing guitar" -o panda.mp4
              cogvideo-convert generate --model CogVideoX-5b-I2V --image cat.png --prompt "the cat jumps" -o cat.gif
              cogvideo-convert generate --model CogVideoX-5b --video in/ --strength 0.7 --prompt "in snow" -o out.gif
            """)

    @Option(help: "Model: diffusers pipeline folder or our .gguf file.") var model: String
    @Option(help: "The prompt.") var prompt: String
    @Option(help: "Negative prompt (default: empty, as diffusers).") var negativePrompt = ""
    @Option(help: "Number of frames (4k+1; default: the model's sample_frames).") var frames: Int?
    @Option(help: "Height in pixels (multiple of 16).") var height: Int?
    @Option(help: "Width in pixels (multiple of 16).") var width: Int?
    @Option(help: "Denoising steps.") var steps = 50
    @Option(help: "Classifier-free guidance scale (≤ 1 disables CFG).") var guidance = 6.0
    @Flag(help: "Dynamic CFG (diffusers' use_dynamic_cfg).") var dynamicCfg = false
    @Option(help: "Random seed (torch.Generator-compatible).") var seed: UInt64 = 42
    @Option(help: "Scheduler: ddim or dpm (CogVideoX's DPM-Solver++ 2M SDE).") var scheduler: GenerationRequest.SchedulerKind = .ddim
    @Option(help: "Initial latents from a safetensors file (tensor `latents`, [B, F, C, H, W]).") var latents: String?
    @Option(help: "Image-to-video: conditioning image (PNG).") var image: String?
    @Option(help: "Video-to-video: input frames (a folder of PNGs, or a video file when ffmpeg is installed).") var video: String?
    @Option(help: "Video-to-video strength (0…1).") var strength = 0.8
    @Option(help: "Also save the final latents as safetensors (tensor `latents`).") var saveLatents: String?
    @Option(help: "Frames per second of the output (default 8 for 1.0, 16 for 1.5).") var fps: Double?
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Option(name: [.short, .customLong("output")], help: "Output: .mp4, .gif, .png, or a folder.") var output: String
    @Flag(help: "No progress bar.") var quiet = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard (0...1).contains(strength) else { throw ValidationError("--strength must be in 0…1") }
        if image != nil && video != nil { throw ValidationError("--image and --video cannot be combined") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        do { _ = try VideoWriter.format(for: output) } catch { throw ValidationError("\(error)") }
        // Checked before minutes of denoising, not after: the folder that will hold the output must be writable.
        var trimmed = output
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        let parent = (trimmed as NSString).deletingLastPathComponent
        let dir = parent.isEmpty ? "." : parent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("cannot write \(output): folder \(dir) does not exist")
        }
        guard access(dir, W_OK) == 0 else { throw ValidationError("cannot write \(output): folder \(dir) is not writable") }
        if output.hasSuffix(".mp4") && VideoWriter.ffmpegPath() == nil {
            throw ValidationError("writing .mp4 needs ffmpeg, which is not installed; use .gif, .png or a folder")
        }
    }


    func run() throws {
        if let t = threads { Engine.threads = t }
        let started = Date()
        let pipeline = try CogVideoXPipeline(source: PipelineSource(path: model))
        var r = GenerationRequest(prompt: prompt)
        r.negativePrompt = negativePrompt
        r.frames = frames
        r.height = height
        r.width = width
        r.steps = steps
        r.guidance = guidance
        r.dynamicCFG = dynamicCfg
        r.seed = seed
        r.scheduler = scheduler
        r.strength = strength
        if let latents {
            let f = try SafeTensorsFile(path: latents)
            guard let info = f.info("latents") else { throw CommandFailure("\(latents) has no tensor named `latents`") }
            r.latents = Tensor(shape: info.shape, data: try f.floats("latents"))
        }
        if let image { r.image = try PNG.read(path: image) }
        if let video { r.video = try Generate.readFrames(video) }
        // A request the model cannot make is a usage mistake (exit 2), reported before any work.
        do { _ = try pipeline.resolved(r) } catch let PipelineError.invalidRequest(message) { throw ValidationError(message) }

        let bar = ProgressBar(label: "denoising ", quiet: quiet)
        let decodeBar = ProgressBar(label: "decoding  ", quiet: quiet)
        let result = try pipeline.generate(r) { stage in
            switch stage {
            case .encodingPrompt: if !quiet { note("encoding prompt…") }
            case .encodingImage: if !quiet { note("encoding conditioning frames…") }
            case .denoising(let i, let n):
                bar.update(i, of: n, detail: "step \(i)/\(n)")
                if i == n { bar.finish() }
            case .decoding(let c, let n):
                decodeBar.update(c, of: n, detail: "chunk \(c)/\(n)")
                if c == n { decodeBar.finish() }
            }
            return true
        }
        if let saveLatents {
            var w = SafeTensorsWriter()
            try w.add(name: "latents", shape: result.latents.shape, floats: result.latents.data)
            try w.write(to: saveLatents)
        }
        guard let frames = result.frames else { return }
        let images = try VideoFrames.fromUnitRange(frames)
        let rate = fps ?? (pipeline.transformerConfig.patchSizeT != nil ? 16 : 8)
        let written = try VideoWriter.write(images, fps: rate, to: output)
        note("wrote \(written.count == 1 ? written[0] : "\(written.count) frames to \(output)") (\(images.count) frames, "
             + "\(images[0].width)×\(images[0].height)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// Frames from a folder of PNGs (sorted by name), one PNG, or a video file decoded by ffmpeg.
    static func readFrames(_ path: String) throws -> [RGBImage] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CommandFailure("\(path) does not exist") }
        if isDir.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.lowercased().hasSuffix(".png") }.sorted()
            guard !names.isEmpty else { throw CommandFailure("\(path) holds no .png frames") }
            return try names.map { try PNG.read(path: (path as NSString).appendingPathComponent($0)) }
        }
        if path.lowercased().hasSuffix(".png") { return [try PNG.read(path: path)] }
        guard let ffmpeg = VideoWriter.ffmpegPath() else { throw CommandFailure("reading \(path) needs ffmpeg (or pass a folder of PNG frames)") }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("cogvideo-frames-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ffmpeg)
        p.arguments = ["-loglevel", "error", "-i", path, (tmp as NSString).appendingPathComponent("f_%05d.png")]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CommandFailure("ffmpeg could not decode \(path)") }
        return try readFrames(tmp)
    }
}

extension GenerationRequest.SchedulerKind: ExpressibleByArgument {}
