import ArgumentParser

// Placeholder until the issue that owns `convert` lands; it fails loudly rather than pretending to work.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(convert: not implemented yet)")
    func run() throws { throw CommandFailure("'convert' is not implemented yet") }
}
