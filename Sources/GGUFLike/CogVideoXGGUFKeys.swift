/// The metadata keys of our pipeline file, one GGUF holding a whole CogVideoX pipeline so that the file alone can
/// generate. Tensor names carry the component prefix (`transformer.`, `vae.`, `text_encoder.`) followed by the
/// diffusers/transformers state-dict key.
///
/// | key | type | content |
/// |---|---|---|
/// | `general.architecture` | STRING | `cogvideox` |
/// | `general.name` | STRING | the source folder's name |
/// | `general.file_type` | UINT32 | llama ftype of the requested `--type` (MOSTLY_Q8_0 = 7, …) |
/// | `general.quantization_version` | UINT32 | 2 |
/// | `cogvideox.variant` | STRING | `2b`, `5b`, `5b-i2v`, `1.5-5b`, `1.5-5b-i2v` |
/// | `cogvideox.model_index` | STRING | model_index.json text |
/// | `cogvideox.<component>.config` | STRING | that component's config.json text (`transformer`, `vae`, `text_encoder`) |
/// | `cogvideox.scheduler.config` | STRING | scheduler/scheduler_config.json text |
/// | `cogvideox.tokenizer.spiece_model` | ARRAY of UINT8 | tokenizer/spiece.model bytes |
/// | `cogvideox.tokenizer.config` | STRING | tokenizer_config.json text |
/// | `comfy.gguf.orig_shape.<tensor>` | ARRAY of INT32 | original PyTorch shape of a tensor stored with fewer dims |
public enum CogVideoXGGUFKeys {
    public static let architecture = "cogvideox"
    public static let variant = "cogvideox.variant"
    public static let modelIndex = "cogvideox.model_index"
    public static let schedulerConfig = "cogvideox.scheduler.config"
    public static let spieceModel = "cogvideox.tokenizer.spiece_model"
    public static let tokenizerConfig = "cogvideox.tokenizer.config"
    public static let origShapePrefix = "comfy.gguf.orig_shape."

    /// The config key of a model component (`transformer`, `vae`, `text_encoder`).
    public static func config(_ component: String) -> String { "cogvideox.\(component).config" }

    /// Components whose tensors a pipeline file holds, in file order.
    public static let components = ["transformer", "vae", "text_encoder"]

    /// llama `general.file_type` for a requested type (formats.md §2.6; not the ggml type id).
    public static func fileType(for type: GGMLType) -> UInt32 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q5_0: return 8
        case .q5_1: return 9
        case .bf16: return 32
        default: return 1024  // GUESSED
        }
    }
}
