import ArgumentParser

// Placeholder until the issue that owns `validate` lands; it fails loudly rather than pretending to work.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(validate: not implemented yet)")
    func run() throws { throw CommandFailure("'validate' is not implemented yet") }
}
