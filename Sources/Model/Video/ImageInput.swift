// Image and video inputs of the image-to-video and video-to-video pipelines, prepared as diffusers'
// VaeImageProcessor.preprocess does for PIL input (spec §6.2 step 1, §6.3): PIL Lanczos resize to exactly
// (width, height), `np.array(image).astype(float32) / 255`, then `2 * x - 1`, all in float32.

public enum ImageInput {
    /// One image as a `[3, H, W]` float32 tensor in [-1, 1] at `width` x `height`.
    public static func preprocess(_ image: RGBImage, width: Int, height: Int) throws -> Tensor {
        let img = (image.width == width && image.height == height)
            ? image : try LanczosResize.resize(image, width: width, height: height)
        let plane = width * height
        var data = [Float](repeating: 0, count: 3 * plane)
        for p in 0..<plane {
            for c in 0..<3 {
                let x = Float(img.pixels[3 * p + c]) / 255
                data[c * plane + p] = 2 * x - 1
            }
        }
        return Tensor(shape: [3, height, width], data: data)
    }

    /// Frames as the VAE input `[1, 3, F, H, W]` in [-1, 1] (video-to-video).
    public static func preprocessVideo(_ frames: [RGBImage], width: Int, height: Int) throws -> Tensor {
        guard !frames.isEmpty else { throw VideoError.noFrames }
        let each = try frames.map { try preprocess($0, width: width, height: height) }
        let plane = width * height, f = frames.count
        var data = [Float](repeating: 0, count: 3 * f * plane)
        for (fi, t) in each.enumerated() {
            for c in 0..<3 {
                let dst = (c * f + fi) * plane
                data.replaceSubrange(dst..<(dst + plane), with: t.data[(c * plane)..<((c + 1) * plane)])
            }
        }
        return Tensor(shape: [1, 3, f, height, width], data: data)
    }
}
