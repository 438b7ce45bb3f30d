import SafeTensors

/// Typed reads of config.json fields: an absent or null key gives the default; a value of the wrong type throws
/// `ConfigError.wrongType` naming the key. One place for the rule every model config follows.
public struct ConfigReader {
    public let json: JSONValue
    public init(_ json: JSONValue) { self.json = json }

    private func value(_ k: String) -> JSONValue? {
        guard let v = json[k], !v.isNull else { return nil }
        return v
    }

    public func int(_ k: String, _ d: Int) throws -> Int { try optionalInt(k) ?? d }

    public func optionalInt(_ k: String) throws -> Int? {
        guard let v = value(k) else { return nil }
        guard let i = v.int else { throw ConfigError.wrongType(key: k, expected: "integer", found: v.kindName) }
        return i
    }

    public func bool(_ k: String, _ d: Bool) throws -> Bool {
        guard let v = value(k) else { return d }
        guard let b = v.bool else { throw ConfigError.wrongType(key: k, expected: "boolean", found: v.kindName) }
        return b
    }

    public func double(_ k: String, _ d: Double) throws -> Double {
        guard let v = value(k) else { return d }
        guard let x = v.double else { throw ConfigError.wrongType(key: k, expected: "number", found: v.kindName) }
        return x
    }

    public func string(_ k: String, _ d: String) throws -> String {
        guard let v = value(k) else { return d }
        guard let s = v.string else { throw ConfigError.wrongType(key: k, expected: "string", found: v.kindName) }
        return s
    }
}
