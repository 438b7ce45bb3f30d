import Foundation
@testable import SafeTensors

/// Writes test files into a fresh temporary folder removed at deinit.
final class TempFolder {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("st-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path(name)
        try? FileManager.default.createDirectory(at: URL(fileURLWithPath: p).deletingLastPathComponent(),
                                                 withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
}

/// A safetensors file from a header text and data bytes: u64 LE length, header, data.
func safetensorsBytes(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let n = lengthOverride ?? UInt64(h.count)
    return withUnsafeBytes(of: n.littleEndian) { Array($0) } + h + data
}

/// Opens bytes written to a temp file.
func openBytes(_ bytes: [UInt8]) throws -> SafeTensorsFile {
    let folder = TempFolder()
    let p = folder.write("t.safetensors", bytes)
    return try withExtendedLifetime(folder) { try SafeTensorsFile(path: p) }
}

/// The repository's fixtures/ folder.
let fixturesPath: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fixtures").path

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        out.append(UInt8(hex[i..<j], radix: 16)!)
        i = j
    }
    return out
}

func readJSON(_ path: String) throws -> JSONValue {
    try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Validates bytes in memory (the same code path as opening a file, without the file): for tests that try
/// thousands of variants.
func parseBytes(_ bytes: [UInt8]) throws -> SafeTensorsFile.ParsedHeader {
    try bytes.withUnsafeBytes { try SafeTensorsFile.parseHeader($0) }
}
