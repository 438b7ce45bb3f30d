import ArgumentParser

// Placeholder until the issue that owns `inspect` lands; it fails loudly rather than pretending to work.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "(inspect: not implemented yet)")
    func run() throws { throw CommandFailure("'inspect' is not implemented yet") }
}
