import Foundation
import GGUFLike
import SafeTensors
import Testing
@testable import Model

private let reference = fixturesPath + "/vae/reference.safetensors"

func loadVAE(_ variant: String = "cogvideox-2b", _ type: GGMLType? = nil) throws -> AutoencoderKLCogVideoX {
    let config = try CogVideoXVAEConfig(json: readConfig(tinyPath(variant, "vae") + "/config.json"))
    let vae = AutoencoderKLCogVideoX(config: config)
    var source: WeightSource = try SafeTensorsWeightSource(path: tinyPath(variant, "vae"))
    if let type { source = RequantizedWeightSource(source, type: type) }
    let report = try WeightLoader.bind(vae, to: source)
    #expect(report.isClean, "\(report)")
    return vae
}

private func tensor(_ f: SafeTensorsFile, _ name: String) throws -> Tensor {
    Tensor(shape: f.info(name)!.shape, data: try f.floats(name))
}

@Test func chunkRangesFollowDiffusers() {
    #expect(AutoencoderKLCogVideoX.chunks(13, size: 2) == [0..<3, 3..<5, 5..<7, 7..<9, 9..<11, 11..<13])
    #expect(AutoencoderKLCogVideoX.chunks(1, size: 2) == [0..<1])
    #expect(AutoencoderKLCogVideoX.chunks(49, size: 8) == [0..<9, 9..<17, 17..<25, 25..<33, 33..<41, 41..<49])
    #expect(AutoencoderKLCogVideoX.chunks(22, size: 2).count == 11)
}

@Test(arguments: [1, 2, 3, 5])
func decodeMatchesDiffusers(_ frames: Int) throws {
    let ref = try SafeTensorsFile(path: reference)
    let out = try loadVAE().decode(try tensor(ref, "decode.T\(frames).z"))
    #expect(out.shape == ref.info("decode.T\(frames).out")!.shape)
    let err = relativeMaxError(out.data, try ref.floats("decode.T\(frames).out"))
    print("VAE decode T=\(frames): relative max error vs diffusers \(err)")
    #expect(err <= 1e-4, "decode T=\(frames): \(err)")
}

@Test func tiledDecodeMatchesDiffusers() throws {
    let ref = try SafeTensorsFile(path: reference)
    let vae = try loadVAE()
    vae.tiling = .init(sampleHeight: 32, sampleWidth: 48)
    let out = try vae.decode(try tensor(ref, "decode_tiled.T3.z"))
    #expect(out.shape == ref.info("decode_tiled.T3.out")!.shape)
    #expect(relativeMaxError(out.data, try ref.floats("decode_tiled.T3.out")) <= 1e-4)
}

@Test(arguments: [1, 9, 17])
func encodeMatchesDiffusers(_ frames: Int) throws {
    let ref = try SafeTensorsFile(path: reference)
    let out = try loadVAE().encodeMoments(try tensor(ref, "encode.F\(frames).x"))
    #expect(out.shape == ref.info("encode.F\(frames).moments")!.shape)
    let err = relativeMaxError(out.data, try ref.floats("encode.F\(frames).moments"))
    print("VAE encode F=\(frames): relative max error vs diffusers \(err)")
    #expect(err <= 1e-4, "encode F=\(frames): \(err)")
}

@Test func tiledEncodeAndPosteriorMatchDiffusers() throws {
    let ref = try SafeTensorsFile(path: reference)
    let vae = try loadVAE()
    vae.tiling = .init(sampleHeight: 32, sampleWidth: 48)
    let moments = try vae.encodeMoments(try tensor(ref, "encode_tiled.F9.x"))
    #expect(relativeMaxError(moments.data, try ref.floats("encode_tiled.F9.moments")) <= 1e-4)
    let post = DiagonalGaussian(moments: try tensor(ref, "encode.F9.moments"))
    let sample = try post.sample(noise: try ref.floats("posterior.noise"))
    #expect(relativeMaxError(sample.data, try ref.floats("posterior.sample")) <= 1e-5)
}

/// PSNR (dB) of decoded frames in [-1, 1] against the fp32 reference.
func psnr(_ a: [Float], _ b: [Float]) -> Double {
    var mse = 0.0
    for i in 0..<a.count { let d = Double(max(-1, min(1, a[i]))) - Double(max(-1, min(1, b[i]))); mse += d * d }
    mse /= Double(a.count)
    return 10 * Foundation.log10(4 / max(mse, 1e-30))  // peak-to-peak 2
}

@Test(arguments: [GGMLType.f16, .bf16])
func decodeWithSixteenBitWeightsKeepsHighPSNR(_ type: GGMLType) throws {
    let ref = try SafeTensorsFile(path: reference)
    let out = try loadVAE("cogvideox-2b", type).decode(try tensor(ref, "decode.T5.z"))
    let p = psnr(out.data, try ref.floats("decode.T5.out"))
    print("VAE decode with \(type.name) weights: PSNR \(p) dB vs fp32 diffusers")
    #expect(p >= 45)
}
