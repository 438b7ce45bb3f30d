import GGUFLike
import SafeTensors

/// `inspect FILE.gguf`: metadata (long values abbreviated) and the tensor table with stored types.
func inspectGGUF(path: String, json: Bool) throws {
    let f = try GGUFFile(path: path)
    if json {
        var root = JSONObject()
        root["path"] = .string(path)
        root["version"] = .int(Int64(f.version))
        root["alignment"] = .int(Int64(f.alignment))
        root["metadata"] = .object(JSONObject(f.metadata.map { ($0.key, jsonValue($0.value)) }))
        root["tensors"] = .array(f.tensors.map { t in
            ["name": .string(t.name), "type": .string(t.type.name.uppercased()),
             "shape": .array(t.shape.map { .int(Int64($0)) }), "bytes": .int(Int64(t.byteCount))]
        })
        root["totals"] = ["tensor_count": .int(Int64(f.tensors.count)),
                          "parameter_count": .int(Int64(f.tensors.reduce(0) { $0 + $1.elementCount })),
                          "bytes": .int(Int64(f.tensors.reduce(0) { $0 + $1.byteCount }))]
        print(JSONValue.object(root).prettyPrinted())
        return
    }
    var out = "\(path) (GGUF v\(f.version), alignment \(f.alignment), \(formatBytes(f.fileSize)))\n\n== metadata\n"
    out += formatTable(header: ["key", "type", "value"],
                       rows: f.metadata.map { [$0.key, "\($0.value.type)", $0.value.summary()] })
    var byType: [GGMLType: Int] = [:]
    for t in f.tensors { byType[t.type, default: 0] += 1 }
    out += "\n== tensors\n"
    out += formatTable(header: ["name", "type", "shape", "size"], rows: f.tensors.map {
        [$0.name, $0.type.name.uppercased(), "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", formatBytes($0.byteCount)]
    }, rightAligned: [3])
    let params = f.tensors.reduce(0) { $0 + $1.elementCount }
    out += "   \(f.tensors.count) tensors (" + byType.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key.name.uppercased())" }.joined(separator: ", ")
        + "), \(formatCount(params)) parameters, \(formatBytes(f.tensors.reduce(0) { $0 + $1.byteCount }))\n"
    print(out, terminator: "")
}

/// JSON form of a metadata value (long byte arrays summarized by length).
func jsonValue(_ v: GGUFValue) -> JSONValue {
    switch v {
    case .string(let s): return .string(s)
    case .bool(let b): return .bool(b)
    case .float32(let x): return .double(Double(x))
    case .float64(let x): return .double(x)
    case .uint64(let x): return .uint(x)
    case .array(let t, let items):
        if (t == .uint8 || t == .int8) && items.count > 64 { return .string("<\(items.count) bytes>") }
        return .array(items.map(jsonValue))
    default: return .int(Int64(v.int ?? 0))
    }
}
