import GGUFLike

/// What binding a weight source to a model found: every problem, not just the first.
public struct LoadReport: Sendable, Equatable, CustomStringConvertible {
    public struct Mismatch: Sendable, Equatable {
        public let key: String
        public let expected: [Int]
        public let found: [Int]
    }
    public struct Unsupported: Sendable, Equatable {
        public let key: String
        public let storedType: String
    }
    /// Keys the model declares that the source lacks.
    public var missing: [String] = []
    /// Keys the source has that the model does not declare.
    public var unexpected: [String] = []
    /// Keys present in both whose shapes differ.
    public var shapeMismatches: [Mismatch] = []
    /// Keys whose stored dtype the engine cannot compute with.
    public var unsupported: [Unsupported] = []
    /// A missing key and an unexpected key with the same shape and the same last name component (`…weight`),
    /// paired as one probable rename (and removed from `missing` / `unexpected`).
    public var renamed: [(expected: String, found: String)] = []
    /// Number of parameters (elements) the model declares, and how many were bound.
    public var declaredParameterCount = 0
    public var boundParameterCount = 0

    public init() {}

    /// True when every declared key was bound with the right shape and nothing unexpected was found.
    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty && unsupported.isEmpty && renamed.isEmpty }

    public static func == (a: LoadReport, b: LoadReport) -> Bool {
        a.missing == b.missing && a.unexpected == b.unexpected && a.shapeMismatches == b.shapeMismatches
            && a.unsupported == b.unsupported && a.renamed.map(\.expected) == b.renamed.map(\.expected)
            && a.renamed.map(\.found) == b.renamed.map(\.found)
    }

    /// Total number of findings (a rename counts once).
    public var findingCount: Int { missing.count + unexpected.count + shapeMismatches.count + unsupported.count + renamed.count }

    public var description: String {
        var lines: [String] = []
        for r in renamed { lines.append("renamed: \(r.expected) is stored as \(r.found)") }
        for k in missing { lines.append("missing: \(k)") }
        for k in unexpected { lines.append("unexpected: \(k)") }
        for m in shapeMismatches { lines.append("shape mismatch: \(m.key) expected \(m.expected), found \(m.found)") }
        for u in unsupported { lines.append("unsupported dtype: \(u.key) is \(u.storedType)") }
        return lines.isEmpty ? "clean" : lines.joined(separator: "\n")
    }
}

/// Binds a weight source to a model's declared parameters.
public enum WeightLoader {
    /// Binds every parameter it can and reports the rest. `ignoring` lists source keys that are known to be
    /// irrelevant (e.g. a T5 decoder in an encoder-only load) and must not count as unexpected.
    @discardableResult
    public static func bind(_ model: Module, to source: WeightSource,
                            ignoring: (String) -> Bool = { _ in false }) throws -> LoadReport {
        let report = check(model, against: source, ignoring: ignoring)
        let bad = Set(report.missing + report.shapeMismatches.map(\.key) + report.unsupported.map(\.key) + report.renamed.map(\.expected))
        for (key, p) in model.namedParameters() where !bad.contains(key) {
            p.value = try source.tensor(key)
        }
        return report
    }

    /// Checks declared keys against a source without binding (for `validate`).
    public static func check(_ model: Module, against source: WeightSource,
                             ignoring: (String) -> Bool = { _ in false }) -> LoadReport {
        var report = LoadReport()
        var declaredKeys = Set<String>()
        for (key, p) in model.namedParameters() {
            declaredKeys.insert(key)
            let n = p.shape.reduce(1, *)
            report.declaredParameterCount += n
            guard let info = source.info(key) else { report.missing.append(key); continue }
            if info.shape != p.shape {
                report.shapeMismatches.append(.init(key: key, expected: p.shape, found: info.shape))
            } else if info.type == nil {
                report.unsupported.append(.init(key: key, storedType: info.storedTypeName))
            } else {
                report.boundParameterCount += n
            }
        }
        report.unexpected = source.tensorNames.filter { !declaredKeys.contains($0) && !ignoring($0) }.sorted()
        pairRenames(&report, declared: Dictionary(model.namedParameters().map { ($0.key, $0.parameter.shape) }, uniquingKeysWith: { a, _ in a }),
                    source: source)
        return report
    }

    /// Pairs each missing key with the single unexpected key of the same shape and leaf name.
    static func pairRenames(_ report: inout LoadReport, declared: [String: [Int]], source: WeightSource) {
        var unexpected = report.unexpected
        var missing: [String] = []
        for key in report.missing {
            let leaf = key.split(separator: ".").last
            let candidates = unexpected.filter { source.info($0)?.shape == declared[key] && $0.split(separator: ".").last == leaf }
            if candidates.count == 1, let found = candidates.first {
                report.renamed.append((key, found))
                unexpected.removeAll { $0 == found }
            } else {
                missing.append(key)
            }
        }
        report.missing = missing
        report.unexpected = unexpected
    }
}
