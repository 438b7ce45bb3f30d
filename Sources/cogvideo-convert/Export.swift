import ArgumentParser

// Placeholder until the issue that owns `export` lands; it fails loudly rather than pretending to work.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(export: not implemented yet)")
    func run() throws { throw CommandFailure("'export' is not implemented yet") }
}
