import ArgumentParser

// Placeholder until the issue that owns `tokenize` lands; it fails loudly rather than pretending to work.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(tokenize: not implemented yet)")
    func run() throws { throw CommandFailure("'tokenize' is not implemented yet") }
}
