import ArgumentParser
import Convert
import Foundation
import Model
import SafeTensors

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that every checkpoint key maps onto a parameter of the Swift model, with the right shape and dtype.",
        discussion: """
            SRC is a diffusers pipeline folder, a component folder or our .gguf file. For each component the Swift \
            model is built from its config.json (nothing is run), and every key is matched: missing keys (declared \
            by the model, absent from the checkpoint), unexpected keys, shape mismatches and dtypes the engine \
            cannot compute with are listed, with counts and parameter totals. Exit status 0 when clean, 1 otherwise.

            Examples:
              cogvideo-convert validate CogVideoX-5b/
              cogvideo-convert validate cogvideox-5b-q8_0.gguf --json
            """)

    @Argument(help: "Checkpoint folder or .gguf file.", completion: .file())
    var source: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let results = try Validator.validate(path: source)
        if json {
            print(Validate.json(results).prettyPrinted())
        } else {
            var out = ""
            for r in results {
                out += "== \(r.component)" + (r.className.map { " (\($0))" } ?? "") + ": \(r.tensorCount) tensors\n"
                if let note = r.note { out += "   \(note)\n" }
                guard let rep = r.report else { continue }
                for r in rep.renamed { out += "   renamed     \(r.expected) is stored as \(r.found)\n" }
                for k in rep.missing { out += "   missing     \(k)\n" }
                for k in rep.unexpected { out += "   unexpected  \(k)\n" }
                for m in rep.shapeMismatches { out += "   shape       \(m.key): model \(m.expected), checkpoint \(m.found)\n" }
                for u in rep.unsupported { out += "   dtype       \(u.key): \(u.storedType) cannot be computed with\n" }
                out += "   \(rep.isClean ? "clean" : "NOT clean"): \(rep.renamed.count) renamed, \(rep.missing.count) missing, \(rep.unexpected.count) unexpected, "
                    + "\(rep.shapeMismatches.count) shape mismatches, \(rep.unsupported.count) unsupported dtypes; "
                    + "\(formatCount(rep.boundParameterCount)) of \(formatCount(rep.declaredParameterCount)) parameters matched\n"
            }
            print(out, terminator: "")
        }
        if !results.allSatisfy(\.isClean) { throw ExitCode(1) }
    }

    static func json(_ results: [ComponentValidation]) -> JSONValue {
        .object(JSONObject([
            ("clean", .bool(results.allSatisfy(\.isClean))),
            ("components", .array(results.map { r in
                var o = JSONObject()
                o["component"] = .string(r.component)
                o["class"] = r.className.map(JSONValue.string) ?? .null
                o["tensor_count"] = .int(Int64(r.tensorCount))
                o["checked"] = .bool(r.report != nil)
                if let note = r.note { o["note"] = .string(note) }
                if let rep = r.report {
                    o["clean"] = .bool(rep.isClean)
                    o["renamed"] = .array(rep.renamed.map { ["expected": .string($0.expected), "found": .string($0.found)] })
                    o["missing"] = .array(rep.missing.map(JSONValue.string))
                    o["unexpected"] = .array(rep.unexpected.map(JSONValue.string))
                    o["shape_mismatches"] = .array(rep.shapeMismatches.map {
                        ["key": .string($0.key), "expected": .array($0.expected.map { .int(Int64($0)) }), "found": .array($0.found.map { .int(Int64($0)) })]
                    })
                    o["unsupported_dtypes"] = .array(rep.unsupported.map { ["key": .string($0.key), "dtype": .string($0.storedType)] })
                    o["declared_parameters"] = .int(Int64(rep.declaredParameterCount))
                    o["matched_parameters"] = .int(Int64(rep.boundParameterCount))
                }
                return .object(o)
            })),
        ]))
    }
}
