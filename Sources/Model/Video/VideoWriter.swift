// Writes generated frames by output path: `.gif` (our encoder), `.png` (one frame: that file; several: NAME_0000.png
// …), a folder (frame_0000.png …), `.mp4` (ffmpeg, fed raw RGB frames on stdin). Every file is written to a
// temporary name in its target folder and renamed into place, so a failure never leaves a partial output.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum VideoWriter {
    public enum Format: Equatable, Sendable { case gif, png, pngFolder, mp4 }

    /// The format chosen for an output path: by extension, or a folder when the path has no extension or names an
    /// existing directory.
    public static func format(for path: String) throws -> Format {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return .pngFolder }
        let name = (path as NSString).lastPathComponent
        switch (name as NSString).pathExtension.lowercased() {
        case "gif": return .gif
        case "png": return .png
        case "mp4": return .mp4
        case "": return .pngFolder
        default: throw VideoError.unsupportedOutput(path: path)
        }
    }

    /// Writes `frames` to `path`; returns the files written.
    @discardableResult
    public static func write(_ frames: [RGBImage], fps: Double, to path: String) throws -> [String] {
        guard let first = frames.first else { throw VideoError.noFrames }
        for (i, f) in frames.enumerated() where f.width != first.width || f.height != first.height {
            throw VideoError.frameSizesDiffer(index: i, expected: [first.width, first.height], found: [f.width, f.height])
        }
        switch try format(for: path) {
        case .gif:
            try GIF.write(frames, fps: fps, to: path)
            return [path]
        case .png:
            if frames.count == 1 {
                try PNG.write(first, to: path)
                return [path]
            }
            let stem = String(path.dropLast(4))
            return try frames.enumerated().map { i, f in
                let p = stem + "_" + pad4(i) + ".png"
                try PNG.write(f, to: p)
                return p
            }
        case .pngFolder:
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw VideoError.writeFailed(path: path, reason: "\(error)")
            }
            return try frames.enumerated().map { i, f in
                let p = (path as NSString).appendingPathComponent("frame_" + pad4(i) + ".png")
                try PNG.write(f, to: p)
                return p
            }
        case .mp4:
            try writeMP4(frames, fps: fps, to: path)
            return [path]
        }
    }

    private static func pad4(_ i: Int) -> String {
        let s = String(i)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// The ffmpeg executable on PATH, if any.
    public static func ffmpegPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let dirs = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for d in dirs {
            let p = String(d) + "/ffmpeg"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// H.264 MP4 (yuv420p, CRF 18) through ffmpeg: raw RGB24 frames are piped to `ffmpeg -f rawvideo`, which
    /// writes a temporary file in the target folder that is renamed into place when ffmpeg succeeds.
    public static func writeMP4(_ frames: [RGBImage], fps: Double, to path: String,
                                ffmpeg: String? = ffmpegPath()) throws {
        guard let first = frames.first else { throw VideoError.noFrames }
        guard fps > 0, fps.isFinite else { throw VideoError.invalidFPS(fps) }
        guard let exe = ffmpeg else { throw VideoError.ffmpegNotFound }
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        let tmp = (dir.isEmpty ? "" : dir + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).mp4"
        defer { unlink(tmp) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["-hide_banner", "-loglevel", "error", "-y",
                       "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(first.width)x\(first.height)",
                       "-r", "\(fps)", "-i", "-",
                       // yuv420p needs even sizes: pad by one pixel when odd.
                       "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                       "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-f", "mp4", tmp]
        let input = Pipe(), errors = Pipe()
        p.standardInput = input
        p.standardError = errors
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { throw VideoError.ffmpegFailed(status: -1, message: "\(error)") }
        // A dying ffmpeg must surface as an error from write(2), not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let fd = input.fileHandleForWriting.fileDescriptor
        var writeError: String?
        outer: for f in frames {
            let ok = f.pixels.withUnsafeBytes { buf -> Bool in
                guard let base = buf.baseAddress else { return true }
                var off = 0
                while off < buf.count {
                    let n = systemWrite(fd, base + off, buf.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        writeError = String(cString: strerror(errno))
                        return false
                    }
                    off += n
                }
                return true
            }
            if !ok { break outer }
        }
        try? input.fileHandleForWriting.close()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, writeError == nil else {
            let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
            throw VideoError.ffmpegFailed(status: p.terminationStatus, message: text.isEmpty ? (writeError ?? "") : text)
        }
        guard rename(tmp, path) == 0 else {
            throw VideoError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }
}

@inline(__always) private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}
