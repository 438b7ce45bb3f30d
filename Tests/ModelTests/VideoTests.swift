import Foundation
import SafeTensors
import Testing
@testable import Model

// Frame conversion, PNG/GIF writers, the PNG reader and PIL-compatible Lanczos, checked against numpy/Pillow
// outputs in fixtures/video (tools/fixturegen/video.py). The GIF and PNG written here are also decoded by Pillow in
// Tests/interop/video_pillow.py (CI runs it after the Swift tests).

private let videoFile: SafeTensorsFile? = try? SafeTensorsFile(path: modelFixtures + "/video/video.safetensors")

private func u8(_ name: String) throws -> (shape: [Int], data: [UInt8]) {
    let f = try #require(videoFile)
    let info = try #require(f.info(name))
    return (info.shape, try f.elements(name, as: UInt8.self))
}

private func image(_ name: String) throws -> RGBImage {
    let (shape, data) = try u8(name)
    return try RGBImage(width: shape[1], height: shape[0], pixels: data)
}

private func testImage(width: Int, height: Int, seed: UInt64 = 1) throws -> RGBImage {
    var g = TorchGenerator(seed: seed)
    let px = (0..<(width * height * 3)).map { i -> UInt8 in
        let smooth = (i / 3 % width) * 255 / max(1, width - 1)
        return UInt8(clamping: smooth + Int(g.random() % 24) - 12)
    }
    return try RGBImage(width: width, height: height, pixels: px)
}

@Test func quantizationRoundsHalfToEvenLikeNumpyToPil() throws {
    let x = try #require(videoFile).floats("quantize.x")
    let (_, want) = try u8("quantize.u8")
    #expect(x.map(RGBImage.quantize) == want)
}

@Test func decodedVideoIsDenormalizedPerChannelAndFrame() throws {
    // [B=1, C=3, F=2, H=1, W=2]: channel planes, then frames.
    let t = Tensor(shape: [1, 3, 2, 1, 2], data: [-1, 1, 0, 2, /*G*/ 0.5, -0.5, -2, 1, /*B*/ 1, 1, -1, -1])
    let frames = try VideoFrames.fromDecoded(t)
    #expect(frames.count == 2)
    #expect(frames[0].pixels == [0, 191, 255, 255, 64, 255])
    #expect(frames[1].pixels == [128, 0, 0, 255, 255, 0])
    #expect(throws: VideoError.self) { try VideoFrames.fromDecoded(Tensor(zeros: [1, 4, 1, 1, 1])) }
}

@Test func pngRoundTripsThroughOurReader() throws {
    for (w, h) in [(1, 1), (17, 5), (64, 48)] {
        let img = try testImage(width: w, height: h, seed: UInt64(w))
        #expect(try PNG.decode(try PNG.encode(img)) == img)
    }
}

@Test(arguments: ["rgb", "rgba", "gray", "gray_alpha", "palette", "gray_1bit", "gray_2bit", "gray_4bit", "gray_16bit",
                  "palette_1bit", "palette_2bit", "palette_4bit", "rgb_16bit", "rgba_16bit", "gray_alpha_16bit",
                  "adam7_rgb", "adam7_palette_4bit", "adam7_gray_1bit"])
func pngReaderDecodesPillowFilesAsPILConvertRGB(name: String) throws {
    let got = try PNG.read(path: modelFixtures + "/video/\(name).png")
    #expect(got == (try image("png.\(name)")))
}

@Test(arguments: [(30, 20), (100, 70), (64, 20), (13, 48), (64, 48), (7, 3), (96, 40), (63, 10), (15, 6), (46, 9), (65, 47)])
func lanczosResizeMatchesPillowExactly(width: Int, height: Int) throws {
    let src = try image("lanczos.src")
    let want = try image("lanczos.\(width)x\(height)")
    let got = try LanczosResize.resize(src, width: width, height: height)
    #expect(got.width == width && got.height == height)
    let diff = zip(got.pixels, want.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    #expect(diff == 0, "max |diff| = \(diff)")
}

// MARK: malformed PNG input

private func validPNG() throws -> [UInt8] { try PNG.encode(try testImage(width: 9, height: 4)) }

/// Rewrites the CRC of the chunk starting at `offset` after a deliberate change, so the change itself is tested.
private func fixCRC(_ b: inout [UInt8], chunkAt offset: Int) {
    let len = Int(b[offset]) << 24 | Int(b[offset + 1]) << 16 | Int(b[offset + 2]) << 8 | Int(b[offset + 3])
    let c = PNG.crc(Array(b[(offset + 4)..<(offset + 8)]), Array(b[(offset + 8)..<(offset + 8 + len)]))
    b.replaceSubrange((offset + 8 + len)..<(offset + 12 + len), with: PNG.be32(c))
}

@Test func pngWithoutSignatureIsRejected() throws {
    var b = try validPNG()
    b[1] = 0x51
    #expect(throws: PNGError.notPNG) { try PNG.decode(b) }
    #expect(throws: PNGError.notPNG) { try PNG.decode([0x89]) }
}

@Test func pngTruncatedAtEveryByteGivesATypedError() throws {
    let b = try validPNG()
    for n in 0..<b.count {
        #expect(throws: PNGError.self) { try PNG.decode(Array(b[0..<n])) }
    }
}

@Test func pngWithAFlippedBitFailsItsCRC() throws {
    var b = try validPNG()
    b[8 + 8 + 2] ^= 0x10  // inside IHDR data
    #expect(throws: PNGError.badCRC(chunk: "IHDR", offset: 8)) { try PNG.decode(b) }
}

@Test func pngChunkLengthPastTheEndIsRejected() throws {
    var b = try validPNG()
    b.replaceSubrange(33..<37, with: [0x7f, 0xff, 0xff, 0xf0])  // IDAT length
    guard case .truncatedChunk(let offset, _, _)? = catchPNG({ try PNG.decode(b) }) else {
        Issue.record("expected truncatedChunk")
        return
    }
    #expect(offset == 33)
}

private func catchPNG(_ body: () throws -> Any) -> PNGError? {
    do { _ = try body(); return nil } catch { return error as? PNGError }
}

@Test func invalidHeaderFieldsAndHugeSizesAreRejectedWithReasons() throws {
    var b = try validPNG()
    b[8 + 8 + 12] = 2  // interlace method
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.badIHDR(reason: "interlace method 2")) { try PNG.decode(b) }
    b = try validPNG()
    b[8 + 8 + 8] = 4  // bit depth 4 is not allowed for RGB
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.badIHDR(reason: "bit depth 4 with color type 2")) { try PNG.decode(b) }
    b = try validPNG()
    b.replaceSubrange(16..<24, with: [0x00, 0x10, 0, 0, 0x00, 0x10, 0, 0])  // 1048576 x 1048576
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.tooLarge(width: 1 << 20, height: 1 << 20)) { try PNG.decode(b) }
    b = try validPNG()
    b[8 + 8 + 9] = 5  // color type
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.badIHDR(reason: "color type 5")) { try PNG.decode(b) }
    b = try validPNG()
    b[8 + 8 + 12] = 1  // claims Adam7 over non-interlaced data: the pass sizes do not add up
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.self) { try PNG.decode(b) }
}

@Test func unknownFilterTypeAndPaletteIndexPastThePaletteAreRejected() throws {
    // Rebuild the IDAT of a 9x4 image with filter type 7 on row 2.
    let img = try testImage(width: 9, height: 4)
    var raw: [UInt8] = []
    for y in 0..<4 { raw += [y == 2 ? 7 : 0] + img.pixels[(y * 27)..<((y + 1) * 27)] }
    var b = Array(try validPNG()[0..<33])
    PNG.appendChunk("IDAT", try PNG.deflate(raw), to: &b)
    PNG.appendChunk("IEND", [], to: &b)
    #expect(throws: PNGError.badFilter(row: 2, type: 7)) { try PNG.decode(b) }
    // A 2x1 palette image whose second pixel uses index 5 of a 2-entry palette.
    var p = PNG.signature
    PNG.appendChunk("IHDR", PNG.be32(2) + PNG.be32(1) + [8, 3, 0, 0, 0], to: &p)
    PNG.appendChunk("PLTE", [0, 0, 0, 255, 255, 255], to: &p)
    PNG.appendChunk("IDAT", try PNG.deflate([0, 1, 5]), to: &p)
    PNG.appendChunk("IEND", [], to: &p)
    #expect(throws: PNGError.paletteIndexOutOfRange(index: 5, paletteSize: 2)) { try PNG.decode(p) }
    // The same without PLTE.
    var q = PNG.signature
    PNG.appendChunk("IHDR", PNG.be32(2) + PNG.be32(1) + [8, 3, 0, 0, 0], to: &q)
    PNG.appendChunk("IDAT", try PNG.deflate([0, 1, 0]), to: &q)
    PNG.appendChunk("IEND", [], to: &q)
    #expect(throws: PNGError.missingPalette) { try PNG.decode(q) }
}

@Test(arguments: [(32, 24), (64, 48), (96, 40)])
func imagePreprocessingMatchesDiffusersVideoProcessor(width: Int, height: Int) throws {
    let src = try image("lanczos.src")
    let want = try #require(videoFile).floats("preprocess.\(width)x\(height)")
    let got = try ImageInput.preprocess(src, width: width, height: height)
    #expect(got.shape == [3, height, width])
    let mismatches = zip(got.data, want).filter { $0.bitPattern != $1.bitPattern }.count
    #expect(got.data.count == want.count && mismatches == 0, "\(mismatches) values differ")
}

@Test func pngImageDataOfTheWrongSizeIsRejected() throws {
    // A 9x4 header over the data of a 9x3 image: inflates short; the reverse inflates long.
    var b = try PNG.encode(try testImage(width: 9, height: 3))
    b[8 + 8 + 7] = 4
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.imageDataSize(expected: 4 * 28, found: 3 * 28)) { try PNG.decode(b) }
    b = try PNG.encode(try testImage(width: 9, height: 3))
    b[8 + 8 + 7] = 2
    fixCRC(&b, chunkAt: 8)
    #expect(throws: PNGError.imageDataTooLong(expected: 2 * 28)) { try PNG.decode(b) }
    // Corrupt deflate stream with a valid CRC.
    b = try validPNG()
    b[41] ^= 0xff
    b[42] ^= 0xff
    fixCRC(&b, chunkAt: 33)
    #expect(throws: PNGError.self) { try PNG.decode(b) }
}

@Test func pngWithoutIENDOrIDATIsRejected() throws {
    let b = try validPNG()
    #expect(throws: PNGError.missingIEND) { try PNG.decode(Array(b.dropLast(12))) }
    var noData = Array(b[0..<33])
    PNG.appendChunk("IEND", [], to: &noData)
    #expect(throws: PNGError.missingImageData) { try PNG.decode(noData) }
}

// MARK: GIF

@Test func gifHasHeaderLoopExtensionAndOneImagePerFrame() throws {
    let frames = try (0..<3).map { try testImage(width: 20, height: 10, seed: UInt64($0)) }
    let gif = try GIF.encode(frames, fps: 8)
    #expect(Array(gif[0..<6]) == Array("GIF89a".utf8))
    #expect(gif.last == 0x3B)
    #expect(gif.count(where: { $0 == 0x2C }) >= 3)
    let netscape = Array("NETSCAPE2.0".utf8)
    #expect((0..<(gif.count - netscape.count)).contains { Array(gif[$0..<($0 + netscape.count)]) == netscape })
    #expect(GIF.delay(fps: 8) == 12 && GIF.delay(fps: 16) == 6)
    #expect(throws: VideoError.noFrames) { try GIF.encode([], fps: 8) }
    #expect(throws: VideoError.invalidFPS(0)) { try GIF.encode(frames, fps: 0) }
}

/// A plain LZW decoder (GIF rules), to check that what the encoder writes decodes to the palette indices.
private func lzwDecode(_ data: [UInt8], minCodeSize: Int) -> [UInt8] {
    let clear = 1 << minCodeSize, end = clear + 1
    var table: [[UInt8]] = (0..<clear).map { [UInt8($0)] } + [[], []]
    var codeSize = minCodeSize + 1
    var out: [UInt8] = []
    var bitPos = 0
    var prev: [UInt8]?
    while bitPos + codeSize <= data.count * 8 {
        var code = 0
        for i in 0..<codeSize where data[(bitPos + i) / 8] & (1 << ((bitPos + i) % 8)) != 0 { code |= 1 << i }
        bitPos += codeSize
        if code == clear {
            table = Array(table[0..<(clear + 2)]); codeSize = minCodeSize + 1; prev = nil; continue
        }
        if code == end { break }
        let entry: [UInt8]
        if code < table.count { entry = table[code] } else if let p = prev { entry = p + [p[0]] } else { return [] }
        out += entry
        if let p = prev, table.count < 4096 { table.append(p + [entry[0]]) }
        prev = entry
        if table.count == (1 << codeSize) && codeSize < 12 { codeSize += 1 }
    }
    return out
}

@Test func lzwOutputDecodesBackIncludingTableResets() throws {
    var g = TorchGenerator(seed: 3)
    // Random bytes fill the 4096-entry table several times (clear codes); a run tests long matches.
    let input = (0..<40_000).map { _ in UInt8(g.random() % 200) } + [UInt8](repeating: 7, count: 5000)
    #expect(lzwDecode(GIF.lzw(input, minCodeSize: 8), minCodeSize: 8) == input)
    #expect(lzwDecode(GIF.lzw([5], minCodeSize: 8), minCodeSize: 8) == [5])
}

// MARK: writer dispatch and interop files

@Test func writerPicksTheFormatFromThePathAndWritesAtomically() throws {
    let dir = ScratchFolder()
    let frames = try (0..<2).map { try testImage(width: 8, height: 6, seed: UInt64($0)) }
    #expect(try VideoWriter.format(for: dir.path("a.GIF")) == .gif)
    #expect(try VideoWriter.format(for: dir.path("a.mp4")) == .mp4)
    #expect(try VideoWriter.format(for: dir.path("frames")) == .pngFolder)
    #expect(throws: VideoError.unsupportedOutput(path: dir.path("a.avi"))) { try VideoWriter.format(for: dir.path("a.avi")) }
    let pngs = try VideoWriter.write(frames, fps: 8, to: dir.path("out.png"))
    #expect(pngs.map { ($0 as NSString).lastPathComponent } == ["out_0000.png", "out_0001.png"])
    #expect(try PNG.read(path: pngs[1]) == frames[1])
    let folder = try VideoWriter.write(frames, fps: 8, to: dir.path("seq"))
    #expect(try PNG.read(path: folder[0]) == frames[0])
    try VideoWriter.write(frames, fps: 8, to: dir.path("v.gif"))
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.hasPrefix(".") }
    #expect(leftovers.isEmpty)
    #expect(throws: VideoError.self) { try VideoWriter.write([], fps: 8, to: dir.path("x.gif")) }
}

@Test func mp4WithoutFFmpegIsAClearError() throws {
    let frames = [try testImage(width: 8, height: 6)]
    #expect(throws: VideoError.ffmpegNotFound) {
        try VideoWriter.writeMP4(frames, fps: 8, to: ScratchFolder().path("a.mp4"), ffmpeg: nil)
    }
    #expect(VideoWriter.ffmpegPath(environment: ["PATH": "/nonexistent"]) == nil)
}

@Test func mp4IsWrittenThroughFFmpegWhenInstalled() throws {
    // Runs ffmpeg only where it is installed; the check that matters without it is the test above.
    guard let ffmpeg = VideoWriter.ffmpegPath() else { return }
    let dir = ScratchFolder()
    let frames = try (0..<4).map { try testImage(width: 17, height: 9, seed: UInt64($0)) }
    try VideoWriter.writeMP4(frames, fps: 8, to: dir.path("a.mp4"), ffmpeg: ffmpeg)
    let data = try #require(FileManager.default.contents(atPath: dir.path("a.mp4")))
    #expect(data.count > 100 && Array(data[4..<8]) == Array("ftyp".utf8))
}

/// Writes the files Tests/interop/video_pillow.py decodes with Pillow (.build/interop/video/).
@Test func writeTheFilesThatPillowChecks() throws {
    let dir = URL(fileURLWithPath: modelFixtures).deletingLastPathComponent()
        .appendingPathComponent(".build/interop/video").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let frames = try (0..<5).map { try testImage(width: 33, height: 21, seed: UInt64(10 + $0)) }
    try PNG.write(frames[0], to: dir + "/frame.png")
    try GIF.write(frames, fps: 8, to: dir + "/video.gif")
    var w = SafeTensorsWriter(metadata: [("fps", "8")])
    try w.add(name: "frames", dtype: .u8, shape: [5, 21, 33, 3], bytes: frames.flatMap(\.pixels))
    try w.write(to: dir + "/expected.safetensors")
    #expect(try PNG.read(path: dir + "/frame.png") == frames[0])
}
