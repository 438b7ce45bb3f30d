import Foundation

/// Runs the built `cogvideo-convert` binary and captures stdout, stderr and the exit status separately.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The repository root.
let repoRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The executable next to the test bundle (SwiftPM builds it for the CLITests target's dependency).
func cliBinary() -> String {
    // The test runner lives in the build products folder next to the executable (.build/<config>/).
    let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: runner).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("cogvideo-convert").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return ProcessInfo.processInfo.environment["COGVIDEO_CONVERT"] ?? "cogvideo-convert"
}

func runCLI(_ args: [String], cwd: String = repoRoot) throws -> CLIResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: cliBinary())
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes before waiting so a chatty child cannot block on a full pipe.
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}
