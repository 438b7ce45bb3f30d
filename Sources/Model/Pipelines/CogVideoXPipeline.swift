// Port of diffusers' CogVideoXPipeline, CogVideoXImageToVideoPipeline and CogVideoXVideoToVideoPipeline
// (pipelines/cogvideo/*.py, 0.42.1): prompt encoding, classifier-free guidance (negative prompt first), dynamic CFG,
// the schedulers' loop, 1.5's latent-frame padding, image/video conditioning and decoding. Every random draw comes
// from one torch-compatible generator in diffusers' order, so a seed reproduces a diffusers run.
// shared/reference/cogvideox-spec.md §6 and §9.
import Foundation

/// One generation request (the pipeline's call arguments). Unset sizes default from the model config like diffusers.
public struct GenerationRequest: Sendable {
    public enum SchedulerKind: String, Sendable, CaseIterable { case ddim, dpm }
    public var prompt: String
    public var negativePrompt = ""
    public var frames: Int?
    public var height: Int?
    public var width: Int?
    public var steps = 50
    public var guidance = 6.0
    public var dynamicCFG = false
    public var seed: UInt64 = 42
    public var scheduler: SchedulerKind = .ddim
    /// Initial latents `[1, F, C, h, w]` instead of drawing them.
    public var latents: Tensor?
    /// Image-to-video: the conditioning image (RGB, any size; resized with Lanczos like PIL).
    public var image: RGBImage?
    /// Video-to-video: the input frames and the strength.
    public var video: [RGBImage]?
    public var strength = 0.8
    public var maxSequenceLength = 226

    public init(prompt: String) { self.prompt = prompt }
}

/// What the pipeline produced.
public struct GenerationResult: Sendable {
    /// Final latents `[1, F, C, h, w]` (1.5: including the pad frame, as diffusers' `output_type="latent"`).
    public let latents: Tensor
    /// Decoded frames `[F, H, W, 3]` in [0, 1] (nil when decoding was skipped).
    public let frames: Tensor?
}

/// Progress of a generation, for the command line's progress bar.
public enum GenerationStage: Sendable {
    case encodingPrompt
    case encodingImage
    case denoising(step: Int, of: Int)
    case decoding(chunk: Int, of: Int)
}

public final class CogVideoXPipeline {
    public let source: PipelineSource
    public let transformerConfig: CogVideoXTransformerConfig
    public let vaeConfig: CogVideoXVAEConfig

    public init(source: PipelineSource) throws {
        self.source = source
        transformerConfig = try CogVideoXTransformerConfig(json: source.transformerConfig)
        vaeConfig = try CogVideoXVAEConfig(json: source.vaeConfig)
    }

    var isV15: Bool { transformerConfig.patchSizeT != nil }
    var isImageToVideo: Bool { transformerConfig.inChannels == 2 * transformerConfig.outChannels }

    /// diffusers' defaults for a request: frames = sample_frames, size = sample size × 8.
    public func resolved(_ r: GenerationRequest) throws -> (frames: Int, height: Int, width: Int) {
        let frames = r.frames ?? transformerConfig.sampleFrames
        let height = r.height ?? transformerConfig.sampleHeight * vaeConfig.spatialScale
        let width = r.width ?? transformerConfig.sampleWidth * vaeConfig.spatialScale
        let tc = vaeConfig.temporalCompressionRatio
        guard frames >= 1, (frames - 1) % tc == 0 else {
            throw PipelineError.invalidRequest("--frames \(frames) is not a frame count the VAE can produce: use \(tc)·k + 1 (for example \(tc * 12 + 1))")
        }
        let unit = vaeConfig.spatialScale * transformerConfig.patchSize
        guard height > 0, width > 0, height % unit == 0, width % unit == 0 else {
            throw PipelineError.invalidRequest("height and width must be positive multiples of \(unit), got \(height)×\(width)")
        }
        if isImageToVideo && r.image == nil { throw PipelineError.invalidRequest("this is an image-to-video model: pass --image") }
        if !isImageToVideo && r.image != nil { throw PipelineError.invalidRequest("--image needs an image-to-video model (5b-I2V or 1.5-I2V)") }
        if transformerConfig.useLearnedPositionalEmbeddings &&
            (height != transformerConfig.sampleHeight * vaeConfig.spatialScale || width != transformerConfig.sampleWidth * vaeConfig.spatialScale) {
            throw PipelineError.invalidRequest("this model (learned positional table) only generates at \(transformerConfig.sampleHeight * 8)×\(transformerConfig.sampleWidth * 8)")
        }
        guard r.steps >= 1 else { throw PipelineError.invalidRequest("--steps must be at least 1") }
        return (frames, height, width)
    }

    /// Encodes prompt and negative prompt with T5 (then releases it): `[2 or 1, 226, d]`, negative first.
    public func encodePrompts(_ r: GenerationRequest, cfg: Bool) throws -> Tensor {
        let t5 = try source.load("text_encoder", T5Encoder(config: T5Config(json: source.textEncoderConfig)), ignoring: T5Encoder.isIgnoredKey)
        var ids = [source.tokenizer.encode(r.prompt, maxLength: r.maxSequenceLength).map(\.id)]
        if cfg { ids.insert(source.tokenizer.encode(r.negativePrompt, maxLength: r.maxSequenceLength).map(\.id), at: 0) }
        return try t5(ids)
    }

    /// Runs the whole pipeline. `progress` may return false to cancel.
    public func generate(_ r: GenerationRequest, decode: Bool = true,
                         progress: (GenerationStage) -> Bool = { _ in true }) throws -> GenerationResult {
        var (frames, height, width) = try resolved(r)
        let cfg = r.guidance > 1
        guard progress(.encodingPrompt) else { throw PipelineError.cancelled }
        let embeds = try encodePrompts(r, cfg: cfg)

        var scheduler: any Scheduler = r.scheduler == .ddim ? CogVideoXDDIMScheduler(config: source.schedulerConfig)
                                                             : CogVideoXDPMScheduler(config: source.schedulerConfig)
        try scheduler.setTimesteps(r.steps)
        var timesteps = scheduler.timesteps
        var generator = TorchGenerator(seed: r.seed)

        let tc = vaeConfig.temporalCompressionRatio, s = vaeConfig.spatialScale
        let c = transformerConfig.outChannels, (h, w) = (height / s, width / s)
        var extra = 0
        var latentFrames = (frames - 1) / tc + 1
        if isV15 && r.video == nil, latentFrames % 2 != 0 {
            extra = 2 - latentFrames % 2
            frames += extra * tc
            latentFrames = (frames - 1) / tc + 1
        }

        let transformer = try source.load("transformer", CogVideoXTransformer3D(config: transformerConfig))
        let vae = try source.load("vae", AutoencoderKLCogVideoX(config: vaeConfig))
        let scale = Float(vaeConfig.scalingFactor)

        // Conditioning latents (I2V) or noised video latents (V2V). The posterior draws come before the noise.
        var imageLatents: Tensor? = nil
        var latents: Tensor
        if let image = r.image {
            guard progress(.encodingImage) else { throw PipelineError.cancelled }
            let pixels = try CogVideoXPipeline.preprocess(image, width: width, height: height)      // [1, 3, 1, H, W]
            let post = try vae.encode(pixels)
            var il = try post.sample(noise: generator.randn(post.mean.count))                      // [1, C, 1, h, w]
            for i in il.data.indices { il.data[i] = vaeConfig.invertScaleLatents ? il.data[i] / scale : il.data[i] * scale }
            il = Ops.permute(il, [0, 2, 1, 3, 4])                                                  // [1, 1, C, h, w]
            var padded = Ops.concat([il, Tensor(zeros: [1, latentFrames - 1, c, h, w])], axis: 1)
            if isV15 && padded.shape[1] % 2 == 1 { padded = Ops.concat([Ops.slice(padded, axis: 1, 0..<1), padded], axis: 1) }
            imageLatents = padded
            latents = r.latents ?? Tensor(shape: [1, latentFrames, c, h, w], data: generator.randn(latentFrames * c * h * w))
        } else if let video = r.video {
            guard progress(.encodingImage) else { throw PipelineError.cancelled }
            let pixels = try CogVideoXPipeline.preprocess(video: video, width: width, height: height)  // [1, 3, F, H, W]
            let post = try vae.encode(pixels)
            var vl = try post.sample(noise: generator.randn(post.mean.count))
            for i in vl.data.indices { vl.data[i] *= scale }
            vl = Ops.permute(vl, [0, 2, 1, 3, 4])                                                  // [1, F, C, h, w]
            if isV15 && vl.shape[1] % 2 != 0 {
                throw PipelineError.invalidRequest("CogVideoX 1.5 video-to-video needs an even number of latent frames; got \(vl.shape[1])")
            }
            timesteps = try SchedulerSchedule.truncated(timesteps, strength: r.strength)
            guard let first = timesteps.first else { throw PipelineError.invalidRequest("--strength \(r.strength) leaves no denoising steps") }
            let noise = r.latents ?? Tensor(shape: vl.shape, data: generator.randn(vl.count))
            latents = try scheduler.addNoise(original: vl, noise: noise, timestep: first)
        } else {
            latents = r.latents ?? Tensor(shape: [1, latentFrames, c, h, w], data: generator.randn(latentFrames * c * h * w))
        }
        if let given = r.latents, r.video == nil, given.shape != [1, latentFrames, c, h, w] {
            throw PipelineError.invalidRequest("--latents has shape \(given.shape), expected \([1, latentFrames, c, h, w])")
        }

        let rotary = transformerConfig.useRotaryPositionalEmbeddings
            ? try PositionalEmbeddings.rotary3D(config: transformerConfig, latentFrames: latents.shape[1], latentHeight: h, latentWidth: w) : nil
        let n = timesteps.count
        for (i, t) in timesteps.enumerated() {
            guard progress(.denoising(step: i, of: n)) else { throw PipelineError.cancelled }
            var input = cfg ? Ops.concat([latents, latents], axis: 0) : latents
            if let il = imageLatents { input = Ops.concat([input, cfg ? Ops.concat([il, il], axis: 0) : il], axis: 2) }
            let out = try transformer(hiddenStates: input, encoderHiddenStates: embeds, timestep: [Float](repeating: Float(t), count: input.shape[0]),
                                      ofs: transformerConfig.ofsEmbedDim != nil ? 2.0 : nil, rotary: rotary)
            var v: Tensor
            if cfg {
                let g = r.dynamicCFG ? SchedulerSchedule.dynamicGuidanceScale(guidance: r.guidance, timestep: t, steps: n) : r.guidance
                let u = Ops.slice(out, axis: 0, 0..<1), cnd = Ops.slice(out, axis: 0, 1..<2)
                v = u
                let gf = Float(g)
                for k in v.data.indices { v.data[k] = u.data[k] + gf * (cnd.data[k] - u.data[k]) }
            } else {
                v = out
            }
            latents = try scheduler.step(modelOutput: v, timestep: t, sample: latents, generator: &generator).prevSample
        }
        guard progress(.denoising(step: n, of: n)) else { throw PipelineError.cancelled }
        guard decode else { return GenerationResult(latents: latents, frames: nil) }
        var z = Ops.slice(latents, axis: 1, extra..<latents.shape[1])
        z = Ops.permute(z, [0, 2, 1, 3, 4])
        let inv = Float(1 / vaeConfig.scalingFactor)
        for k in z.data.indices { z.data[k] *= inv }
        let video = try withoutActuallyEscaping(progress) { report in
            try vae.decode(z) { done, total in _ = report(.decoding(chunk: done, of: total)) }
        }
        return GenerationResult(latents: latents, frames: CogVideoXPipeline.postprocess(video))
    }

    /// `[1, 3, F, H, W]` in [-1, 1] → `[F, H, W, 3]` in [0, 1] (`clamp(x·0.5 + 0.5, 0, 1)`).
    static func postprocess(_ v: Tensor) -> Tensor {
        let (f, h, w) = (v.shape[2], v.shape[3], v.shape[4])
        var out = Tensor(zeros: [f, h, w, 3])
        let plane = h * w
        for fi in 0..<f { for ch in 0..<3 {
            let src = (ch * f + fi) * plane
            for p in 0..<plane { out.data[(fi * plane + p) * 3 + ch] = min(max(v.data[src + p] * 0.5 + 0.5, 0), 1) }
        } }
        return out
    }

    /// diffusers' VaeImageProcessor: Lanczos resize to (width, height), /255, 2x − 1 → `[1, 3, 1, H, W]`.
    static func preprocess(_ image: RGBImage, width: Int, height: Int) throws -> Tensor {
        let img = (image.width == width && image.height == height) ? image : try LanczosResize.resize(image, width: width, height: height)
        var t = Tensor(zeros: [1, 3, 1, height, width])
        for p in 0..<(width * height) { for ch in 0..<3 { t.data[ch * width * height + p] = Float(img.pixels[p * 3 + ch]) / 255 * 2 - 1 } }
        return t
    }

    /// The same for a video: `[1, 3, F, H, W]`.
    static func preprocess(video: [RGBImage], width: Int, height: Int) throws -> Tensor {
        let frames = try video.map { try preprocess($0, width: width, height: height) }
        return Ops.concat(frames, axis: 2)
    }
}
