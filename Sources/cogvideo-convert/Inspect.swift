import ArgumentParser
import Convert
import Foundation
import SafeTensors

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors of a checkpoint: name, dtype, shape and size, grouped by component.",
        discussion: """
            PATH may be a .safetensors file, a *.safetensors.index.json, a diffusers component folder \
            (transformer/), a whole diffusers pipeline folder (model_index.json + component folders) or one of \
            our .gguf files. Only headers are read, so this is instant even for multi-gigabyte checkpoints.

            Examples:
              cogvideo-convert inspect CogVideoX-2b/
              cogvideo-convert inspect CogVideoX-2b/transformer --json
            """)

    @Argument(help: "Checkpoint file or folder.", completion: .file())
    var path: String

    @Flag(help: "Print JSON (same content as the table) instead of a table.")
    var json = false

    func run() throws {
        if path.hasSuffix(".gguf") {
            try inspectGGUF(path: path, json: json)
            return
        }
        let checkpoint = try CheckpointDiscovery.discover(path)
        var reports: [ComponentListing] = []
        for c in checkpoint.components {
            guard let weights = c.weightsPath else {
                reports.append(ComponentListing(name: c.name, className: c.className, source: c.configPath ?? c.folder ?? "", tensors: []))
                continue
            }
            let ckpt = try SafeTensorsCheckpoint(path: weights)
            let tensors = ckpt.names.compactMap { ckpt.info($0) }
            reports.append(ComponentListing(name: c.name, className: c.className, source: weights, tensors: tensors))
        }
        if json {
            print(Inspect.json(checkpoint: checkpoint, reports: reports).prettyPrinted())
        } else {
            print(Inspect.table(checkpoint: checkpoint, reports: reports), terminator: "")
        }
    }

    struct ComponentListing {
        let name: String
        let className: String?
        let source: String
        let tensors: [SafeTensorsTensorInfo]
        var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
        var byteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }
    }

    static func json(checkpoint: DiscoveredCheckpoint, reports: [ComponentListing]) -> JSONValue {
        var root = JSONObject()
        root["path"] = .string(checkpoint.path)
        root["kind"] = .string(checkpoint.kind.rawValue)
        if let p = checkpoint.pipelineClass { root["pipeline_class"] = .string(p) }
        root["components"] = .array(reports.map { r in
            var o = JSONObject()
            o["name"] = .string(r.name)
            o["class"] = r.className.map(JSONValue.string) ?? .null
            o["source"] = .string(r.source)
            o["tensor_count"] = .int(Int64(r.tensors.count))
            o["parameter_count"] = .int(Int64(r.parameterCount))
            o["bytes"] = .int(Int64(r.byteCount))
            o["tensors"] = .array(r.tensors.sorted { $0.name < $1.name }.map { t in
                ["name": .string(t.name), "dtype": .string(t.dtype.rawValue),
                 "shape": .array(t.shape.map { .int(Int64($0)) }), "bytes": .int(Int64(t.byteCount))]
            })
            return .object(o)
        })
        root["totals"] = ["tensor_count": .int(Int64(reports.reduce(0) { $0 + $1.tensors.count })),
                          "parameter_count": .int(Int64(reports.reduce(0) { $0 + $1.parameterCount })),
                          "bytes": .int(Int64(reports.reduce(0) { $0 + $1.byteCount }))]
        return .object(root)
    }

    static func table(checkpoint: DiscoveredCheckpoint, reports: [ComponentListing]) -> String {
        var out = "\(checkpoint.path) (\(checkpoint.kind.rawValue)\(checkpoint.pipelineClass.map { ", \($0)" } ?? ""))\n"
        for r in reports {
            out += "\n== \(r.name)" + (r.className.map { " (\($0))" } ?? "") + "\n"
            if r.tensors.isEmpty { out += "   no weights\n"; continue }
            let rows = r.tensors.sorted { $0.name < $1.name }.map {
                [$0.name, $0.dtype.rawValue, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", formatBytes($0.byteCount)]
            }
            out += formatTable(header: ["name", "dtype", "shape", "size"], rows: rows, rightAligned: [3])
            out += "   \(r.tensors.count) tensors, \(formatCount(r.parameterCount)) parameters, \(formatBytes(r.byteCount))\n"
        }
        let total = (tensors: reports.reduce(0) { $0 + $1.tensors.count }, params: reports.reduce(0) { $0 + $1.parameterCount },
                     bytes: reports.reduce(0) { $0 + $1.byteCount })
        if reports.count > 1 {
            out += "\nTotal: \(total.tensors) tensors, \(formatCount(total.params)) parameters, \(formatBytes(total.bytes))\n"
        }
        return out
    }
}

/// A plain-text table with two-space gutters.
func formatTable(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        "   " + cells.enumerated().map { i, c in
            let pad = String(repeating: " ", count: widths[i] - c.count)
            return rightAligned.contains(i) ? pad + c : (i == cells.count - 1 ? c : c + pad)
        }.joined(separator: "  ") + "\n"
    }
    return line(header) + rows.map(line).joined()
}

/// Decimal byte sizes (1 GB = 10⁹ bytes, as the Hub shows them).
func formatBytes(_ n: Int) -> String {
    let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
    for (scale, unit) in units where Double(n) >= scale {
        return String(format: "%.2f %@", Double(n) / scale, unit)
    }
    return "\(n) B"
}

/// Parameter counts: 1.69 B, 215.58 M, 4,096.
func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2f B", Double(n) / 1e9) }
    if n >= 1_000_000 { return String(format: "%.2f M", Double(n) / 1e6) }
    return "\(n)"
}
