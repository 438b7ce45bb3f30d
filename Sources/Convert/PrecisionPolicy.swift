import Foundation
import GGUFLike

/// Which pipeline component a tensor belongs to (the GGUF name prefix).
public enum PipelineComponent: String, Sendable, CaseIterable {
    case transformer, vae, textEncoder = "text_encoder"

    /// Prefix of this component's tensor names in our GGUF file (`transformer.`).
    public var prefix: String { rawValue + "." }
}

/// The stored type chosen for one tensor, and why (printed by `convert --verbose` and in the summary).
public struct PrecisionDecision: Sendable, Equatable {
    public let type: GGMLType
    public let reason: String
}

/// A user rule `REGEX=TYPE` from `--tensor-type`, matched against the prefixed tensor name.
public struct TensorTypeRule: Sendable {
    public let pattern: String
    public let type: GGMLType
    let regex: NSRegularExpression

    /// Parses `REGEX=TYPE` (the last `=` separates the type so the regex may contain `=`).
    public init(parsing text: String) throws {
        guard let eq = text.lastIndex(of: "=") else { throw PrecisionPolicyError.malformedRule(text) }
        let pattern = String(text[..<eq])
        let typeName = String(text[text.index(after: eq)...])
        guard let type = GGMLType(name: typeName) else { throw PrecisionPolicyError.unknownType(typeName, rule: text) }
        guard PrecisionPolicy.storableTypes.contains(type) else { throw PrecisionPolicyError.unsupportedType(type, rule: text) }
        do { regex = try NSRegularExpression(pattern: pattern) } catch {
            throw PrecisionPolicyError.invalidRegex(pattern)
        }
        self.pattern = pattern
        self.type = type
    }

    func matches(_ name: String) -> Bool {
        regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }
}

public enum PrecisionPolicyError: Error, CustomStringConvertible, Equatable {
    case malformedRule(String)
    case unknownType(String, rule: String)
    case unsupportedType(GGMLType, rule: String)
    case invalidRegex(String)

    public var description: String {
        switch self {
        case .malformedRule(let r): return "tensor-type rule '\(r)' is not of the form REGEX=TYPE"
        case .unknownType(let t, let r): return "tensor-type rule '\(r)' names unknown type '\(t)'"
        case .unsupportedType(let t, let r):
            return "tensor-type rule '\(r)': type \(t.name) cannot be written (supported: \(PrecisionPolicy.storableTypes.map(\.name).joined(separator: ", ")))"
        case .invalidRegex(let p): return "tensor-type rule pattern '\(p)' is not a valid regular expression"
        }
    }
}

/// Chooses the stored type of every tensor in a conversion.
///
/// The rules, learnt from ComfyUI-GGUF and stable-diffusion.cpp (shared/reference/formats.md §3):
/// 1. user rules (`--tensor-type REGEX=TYPE`, first match wins) override everything;
/// 2. 1-D tensors (biases, norm weights) and tensors of ≤ 1024 elements stay F32: they are tiny, and rounding them
///    costs accuracy for no memory;
/// 3. the VAE stays 16-bit (F16) unless the requested type is F32: conv kernels are few and sensitive, block
///    quantizing them saves little (sd.cpp runs every conv in F16);
/// 4. input/output/embedding layers (token embeddings, patch/text/time/ofs embeddings, positional tables, the final
///    AdaLN `norm_out.linear` and `proj_out`) stay 16-bit: every tool excludes them from quantization;
/// 5. other ≥ 2-D tensors take the requested type;
/// 6. a block type whose block does not divide the row length falls back to F16.
/// "16-bit" is BF16 when the source tensor is BF16 (F16 cannot hold BF16's range), F16 otherwise, and never lower
/// than the requested type's precision (an F32 conversion keeps everything F32).
public struct PrecisionPolicy: Sendable {
    /// Types the converter can write (quantizers exist for these).
    public static let storableTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1]

    public var requested: GGMLType
    public var rules: [TensorTypeRule]
    /// Stored type for the VAE's conv kernels (F16 by default).
    public var vaeType: GGMLType

    public init(requested: GGMLType, rules: [TensorTypeRule] = [], vaeType: GGMLType? = nil) {
        self.requested = requested
        self.rules = rules
        self.vaeType = vaeType ?? (requested == .f32 ? .f32 : (requested == .bf16 ? .bf16 : .f16))
    }

    /// Name fragments of layers kept in 16 bits (embeddings, in/out projections).
    static let keepSixteenBit: [String] = [
        "patch_embed.", "time_embedding.", "ofs_embedding.", "pos_embedding", "norm_out.linear.", "proj_out.",
        "shared.weight", "embed_tokens.", "relative_attention_bias",
    ]

    /// Decides the stored type of `name` (unprefixed diffusers key) in `component`.
    /// - Parameters:
    ///   - shape: PyTorch-order shape.
    ///   - source: the stored type in the source checkpoint (F32, F16 or BF16 after any F8 upcast).
    public func decide(component: PipelineComponent, name: String, shape: [Int], source: GGMLType) -> PrecisionDecision {
        let full = component.prefix + name
        let rowLength = shape.last ?? 1
        let count = shape.reduce(1, *)
        let sixteen: GGMLType = requested == .f32 ? .f32 : (source == .bf16 ? .bf16 : .f16)

        func fitted(_ t: GGMLType, _ reason: String) -> PrecisionDecision {
            if t.blockSize > 1 && rowLength % t.blockSize != 0 {
                return PrecisionDecision(type: sixteen == .f32 ? .f32 : .f16,
                                         reason: "row length \(rowLength) is not a multiple of \(t.name)'s block of \(t.blockSize)")
            }
            return PrecisionDecision(type: t, reason: reason)
        }

        if let rule = rules.first(where: { $0.matches(full) }) {
            return fitted(rule.type, "rule \(rule.pattern)=\(rule.type.name)")
        }
        if shape.count <= 1 { return PrecisionDecision(type: .f32, reason: "1-D tensor (bias or norm)") }
        if count <= 1024 { return PrecisionDecision(type: .f32, reason: "small tensor (≤ 1024 elements)") }
        if component == .vae { return fitted(vaeType, "VAE kernels stay 16-bit") }
        if PrecisionPolicy.keepSixteenBit.contains(where: { name.contains($0) }) {
            return PrecisionDecision(type: sixteen, reason: "embedding / input-output layer stays 16-bit")
        }
        if shape.count > 2 { return PrecisionDecision(type: sixteen, reason: "\(shape.count)-D kernel stays 16-bit") }
        return fitted(requested, "large matrix takes --type")
    }
}
