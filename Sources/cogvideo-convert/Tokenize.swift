import ArgumentParser
import Foundation
import GGUFLike
import Model
import SafeTensors

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the T5 token ids (and pieces) of a prompt, as the pipeline feeds them to the text encoder.",
        discussion: """
            SRC is a spiece.model or tokenizer.json file, a tokenizer folder, a pipeline folder (its tokenizer/) or our .gguf file \
            (its embedded tokenizer). With --max-length the ids are truncated to N−1 pieces + </s> and padded with \
            <pad> to N, as diffusers does with N = 226.

            Example:
              cogvideo-convert tokenize --model CogVideoX-2b "a panda playing guitar" --max-length 226 --json
            """)

    @Option(help: "Tokenizer source (spiece.model, tokenizer folder, pipeline folder or .gguf).")
    var model: String

    @Option(help: "Truncate and pad to this many tokens (the pipelines use 226).")
    var maxLength: Int?

    @Flag(help: "Print JSON with the ids and pieces.")
    var json = false

    @Flag(help: "Encode as the sentencepiece library does instead of transformers' T5Tokenizer (they differ on a few inputs).")
    var sentencepiece = false

    @Argument(help: "The prompt.")
    var prompt: String

    func validate() throws {
        if let m = maxLength, m < 1 { throw ValidationError("--max-length must be at least 1") }
    }

    func run() throws {
        let tok = try Tokenize.load(model, compatibility: sentencepiece ? .sentencepiece : .transformers)
        let tokens = tok.encode(prompt, maxLength: maxLength)
        if json {
            print(JSONValue.object(JSONObject([("ids", .array(tokens.map { .int(Int64($0.id)) })),
                                               ("pieces", .array(tokens.map { .string($0.piece) }))])).serialized())
        } else {
            print(tokens.map { String($0.id) }.joined(separator: " "))
            print(tokens.map(\.piece).joined(separator: " "))
        }
    }

    /// A tokenizer from any of the accepted sources.
    static func load(_ path: String, compatibility: T5Tokenizer.Compatibility = .transformers) throws -> T5Tokenizer {
        if path.hasSuffix(".gguf") {
            let f = try GGUFFile(path: path)
            guard let bytes = f[CogVideoXGGUFKeys.spieceModel]?.bytes else {
                throw CommandFailure("\(path) has no embedded tokenizer (\(CogVideoXGGUFKeys.spieceModel))")
            }
            return try T5Tokenizer(model: SentencePieceModel(bytes: bytes), compatibility: compatibility)
        }
        return try T5Tokenizer(path: path, compatibility: compatibility)
    }
}
