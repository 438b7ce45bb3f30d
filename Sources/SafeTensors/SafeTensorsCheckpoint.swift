import Foundation

/// One logical checkpoint made of one or more safetensors files: a single file, a sharded set described by a
/// `*.safetensors.index.json`, or a component folder holding either.
///
/// Shards are validated as ordinary safetensors files; the index is checked against them: every `weight_map`
/// value must be a string naming a file inside the folder, every listed tensor must exist in its shard, and no
/// tensor may live in two shards (shared/reference/formats.md §1.6).
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    /// Where one tensor lives.
    public struct Location: Sendable {
        public let file: SafeTensorsFile
        public let info: SafeTensorsTensorInfo
    }

    /// The file or index the checkpoint was opened from.
    public let path: String
    /// The shard files in index order (one entry for a single file).
    public let files: [SafeTensorsFile]
    /// Tensor names, sorted.
    public let names: [String]
    private let locations: [String: Location]

    /// Opens a `.safetensors` file, a `*.safetensors.index.json`, or a folder holding one of them
    /// (an index is preferred when a folder has both).
    public convenience init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MappedFileError.cannotOpen(path: path, errno: ENOENT)
        }
        if isDir.boolValue {
            let found = try SafeTensorsCheckpoint.weightsPath(inFolder: path)
            try self.init(path: found)
        } else if path.hasSuffix(".json") {
            try self.init(indexPath: path)
        } else {
            let f = try SafeTensorsFile(path: path)
            try self.init(path: path, files: [f], mapping: Dictionary(uniqueKeysWithValues: f.tensors.map { ($0.name, Location(file: f, info: $0)) }))
        }
    }

    private init(path: String, files: [SafeTensorsFile], mapping: [String: Location]) throws {
        self.path = path
        self.files = files
        self.locations = mapping
        self.names = mapping.keys.sorted()
    }

    /// The weights file or index inside a component folder: `*.safetensors.index.json` if present, else the only
    /// (or the conventionally named) `*.safetensors` file.
    public static func weightsPath(inFolder folder: String) throws -> String {
        let items = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.sorted() ?? []
        if let index = items.first(where: { $0.hasSuffix(".safetensors.index.json") }) {
            return (folder as NSString).appendingPathComponent(index)
        }
        let files = items.filter { $0.hasSuffix(".safetensors") }
        for preferred in ["diffusion_pytorch_model.safetensors", "model.safetensors"] where files.contains(preferred) {
            return (folder as NSString).appendingPathComponent(preferred)
        }
        if files.count == 1 { return (folder as NSString).appendingPathComponent(files[0]) }
        throw SafeTensorsError.noWeights(folder: folder)
    }

    private convenience init(indexPath: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: indexPath)) } catch {
            throw SafeTensorsError.invalidIndex(path: indexPath, reason: "cannot read the file")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(data) } catch let e as JSONError {
            throw SafeTensorsError.invalidIndex(path: indexPath, reason: e.description)
        }
        guard case .object(let weightMap)? = json["weight_map"] else {
            throw SafeTensorsError.invalidIndex(path: indexPath, reason: "missing object `weight_map`")
        }
        let folder = (indexPath as NSString).deletingLastPathComponent
        var shardOrder: [String] = []
        var shardOf: [String: String] = [:]
        for (tensor, value) in weightMap {
            guard case .string(let written) = value else {
                throw SafeTensorsError.invalidIndex(path: indexPath, reason: "weight_map value for `\(tensor)` must be a file name string, found \(value.kindName)")
            }
            guard SafeTensorsCheckpoint.isContained(written) else {
                throw SafeTensorsError.shardPathEscapesFolder(tensor: tensor, path: written)
            }
            // "./a.safetensors" and "a.safetensors" are one shard, opened once.
            let shard = SafeTensorsCheckpoint.normalized(written)
            if !shardOrder.contains(shard) { shardOrder.append(shard) }
            shardOf[tensor] = shard
        }
        var files: [String: SafeTensorsFile] = [:]
        for shard in shardOrder {
            let p = (folder as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: p) else { throw SafeTensorsError.missingShard(path: p) }
            files[shard] = try SafeTensorsFile(path: p)
        }
        // A tensor present in two shards is an error even if the index names only one of them.
        var seen: [String: String] = [:]
        for shard in shardOrder {
            for name in files[shard]!.names {
                if let first = seen[name] { throw SafeTensorsError.tensorInTwoShards(tensor: name, first: first, second: shard) }
                seen[name] = shard
            }
        }
        var mapping: [String: Location] = [:]
        for (tensor, shard) in shardOf {
            guard let f = files[shard], let info = f.info(tensor) else {
                throw SafeTensorsError.tensorMissingFromShard(tensor: tensor, shard: shard)
            }
            mapping[tensor] = Location(file: f, info: info)
        }
        try self.init(path: indexPath, files: shardOrder.map { files[$0]! }, mapping: mapping)
    }

    /// True for a relative path that stays inside its folder (no absolute path, no `..` component).
    static func isContained(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.hasPrefix("\\") else { return false }
        let parts = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        return !parts.contains("..")
    }

    /// A contained relative path without `.` or empty components.
    static func normalized(_ path: String) -> String {
        path.split(whereSeparator: { $0 == "/" }).filter { $0 != "." }.joined(separator: "/")
    }

    /// Where `name` lives, or nil.
    public func location(_ name: String) -> Location? { locations[name] }

    /// Entry of `name`, or nil.
    public func info(_ name: String) -> SafeTensorsTensorInfo? { locations[name]?.info }

    /// Raw bytes of `name`, viewed in place.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let l = locations[name] else { throw SafeTensorsError.tensorNotFound(name) }
        return l.file.rawBytes(l.info)
    }

    /// Drops `name`'s pages from the resident set (see `MappedFile.release`).
    public func releasePages(_ name: String) {
        if let l = locations[name] { l.file.releasePages(l.info) }
    }

    /// fp32 values of a floating-point tensor.
    public func floats(_ name: String) throws -> [Float] {
        guard let l = locations[name] else { throw SafeTensorsError.tensorNotFound(name) }
        return try l.file.floats(name)
    }

    /// Total bytes of tensor data.
    public var totalBytes: Int { locations.values.reduce(0) { $0 + $1.info.byteCount } }
}
