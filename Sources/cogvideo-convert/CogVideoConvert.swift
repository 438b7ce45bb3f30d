import ArgumentParser

/// The root command. Each subcommand lives in its own file.
struct CogVideoConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cogvideo-convert",
        abstract: "Convert, validate and run CogVideoX text-to-video models on the CPU.",
        discussion: """
            Typical session with a checkpoint downloaded from the Hugging Face Hub:
              cogvideo-convert inspect CogVideoX-2b/
              cogvideo-convert convert CogVideoX-2b/ -o cogvideox-2b-q8_0.gguf --type q8_0
              cogvideo-convert validate cogvideox-2b-q8_0.gguf
              cogvideo-convert generate --model cogvideox-2b-q8_0.gguf --prompt "a cat" -o cat.mp4
            """,
        version: "0.1.0",
        subcommands: [Inspect.self, Convert.self, Validate.self, Export.self, Tokenize.self, Generate.self]
    )
}

/// A failure of the command's work (exit status 1), as opposed to a usage mistake (exit status 2).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
