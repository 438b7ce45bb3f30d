import ArgumentParser

// Placeholder until the issue that owns `generate` lands; it fails loudly rather than pretending to work.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(generate: not implemented yet)")
    func run() throws { throw CommandFailure("'generate' is not implemented yet") }
}
