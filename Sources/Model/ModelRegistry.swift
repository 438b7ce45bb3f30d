import SafeTensors

/// Builds the Swift module that declares a pipeline component's parameters from its config.json, so a checkpoint
/// can be validated (key by key, shape by shape) without running anything.
public enum ModelRegistry {
    /// The module for `component` configured by `config`, and a filter for checkpoint keys it deliberately
    /// ignores (e.g. a T5 decoder). Returns nil for components that have no Swift model (tokenizer, scheduler,
    /// or a model not implemented yet).
    public static func module(for component: String, config: JSONValue) throws -> (module: Module, ignoring: @Sendable (String) -> Bool)? {
        switch component {
        case "text_encoder":
            return (T5Encoder(config: try T5Config(json: config)), T5Encoder.isIgnoredKey)
        case "vae":
            return (AutoencoderKLCogVideoX(config: try CogVideoXVAEConfig(json: config)), { _ in false })
        case "transformer":
            return (CogVideoXTransformer3D(config: try CogVideoXTransformerConfig(json: config)), { _ in false })
        default:
            return nil
        }
    }
}
