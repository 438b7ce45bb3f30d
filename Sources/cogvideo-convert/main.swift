// Entry point of `cogvideo-convert`. Exit status contract: 0 success, 1 the work failed, 2 usage error.
// swift-argument-parser's stock main() exits 64 (EX_USAGE) on a ValidationError, so we map it here
// (see shared/reference/style-anchors.md §6).
import ArgumentParser
import Foundation

do {
    var command = try CogVideoConvert.parseAsRoot()
    try command.run()
} catch {
    let code = CogVideoConvert.exitCode(for: error)
    let text = CogVideoConvert.fullMessage(for: error)
    if code.isSuccess {
        if !text.isEmpty { print(text) }
        exit(0)
    }
    if !text.isEmpty { FileHandle.standardError.write(Data((text + "\n").utf8)) }
    exit(code == .validationFailure ? 2 : code.rawValue)
}
