import Foundation

// Translation of SAT (the original CogVideo "SwissArmyTransformer" release) checkpoint keys into diffusers
// names. Table-driven port of diffusers' scripts/convert_cogvideox_to_diffusers.py and
// shared/reference/cogvideox-spec.md §7.3 (transformer) and §7.4 (VAE). The diffusers script applies ordered
// substring replacements; matching whole key patterns here avoids its order dependence.

/// Where one SAT tensor goes in the diffusers state dict.
public enum SATKeyTarget: Equatable, Sendable {
    /// The tensor keeps its data under a new name.
    case rename(String)
    /// The tensor is split into `blockCount` equal row blocks (along dim 0) and each target takes the
    /// concatenation of the listed blocks, in order (fused qkv → q, k, v; SAT's 12-way AdaLN → norm1 + norm2).
    case splitRows(blockCount: Int, targets: [(name: String, blocks: [Int])])
    /// The tensor has no diffusers counterpart (buffers diffusers recomputes, training-only tensors).
    case drop(reason: String)
    /// The key is not a known SAT name.
    case unknown

    public static func == (a: SATKeyTarget, b: SATKeyTarget) -> Bool {
        switch (a, b) {
        case let (.rename(x), .rename(y)): return x == y
        case let (.drop(x), .drop(y)): return x == y
        case (.unknown, .unknown): return true
        case let (.splitRows(n, t), .splitRows(m, u)):
            return n == m && t.count == u.count && zip(t, u).allSatisfy { $0.name == $1.name && $0.blocks == $1.blocks }
        default: return false
        }
    }
}

public enum SATKeyMapping {
    /// The prefix SAT puts on every transformer key.
    public static let transformerPrefix = "model.diffusion_model."

    /// True when `keys` look like a SAT transformer checkpoint.
    public static func looksLikeSATTransformer<S: Sequence>(_ keys: S) -> Bool where S.Element == String {
        keys.contains { $0.hasPrefix(transformerPrefix) || $0.hasPrefix("mixins.") || $0.hasPrefix("transformer.layers.") }
    }

    /// True when `keys` look like a SAT VAE checkpoint (`encoder.down.N…` / `decoder.up.N…`, `mid.block_1`).
    public static func looksLikeSATVAE<S: Sequence>(_ keys: S) -> Bool where S.Element == String {
        keys.contains { k in
            let k = k.hasPrefix("first_stage_model.") ? String(k.dropFirst("first_stage_model.".count)) : k
            return k.hasPrefix("encoder.down.") || k.hasPrefix("decoder.up.") || k.contains(".mid.block_")
        }
    }

    /// Maps one SAT transformer key. `keepLearnedPositions` is true for variants whose diffusers model has a
    /// learned `patch_embed.pos_embedding` (5b-I2V); otherwise SAT's fixed sin-cos table is dropped because
    /// diffusers recomputes it.
    public static func transformerTarget(for satKey: String, keepLearnedPositions: Bool) -> SATKeyTarget {
        let key = satKey.hasPrefix(transformerPrefix) ? String(satKey.dropFirst(transformerPrefix.count)) : satKey
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let leaf = parts.last, parts.count >= 2 else { return .unknown }
        let stem = parts.dropLast().joined(separator: ".")

        if key.contains("freqs_sin") || key.contains("freqs_cos") || key.contains("position_embedding")
            || key.contains("embed_tokens") {
            return .drop(reason: "buffer recomputed by diffusers")
        }
        if stem == "mixins.pos_embed" && leaf == "pos_embedding" {
            return keepLearnedPositions ? .rename("patch_embed.pos_embedding")
                                        : .drop(reason: "fixed sin-cos table, recomputed by diffusers")
        }
        let simple: [String: String] = [
            "time_embed.0": "time_embedding.linear_1",
            "time_embed.2": "time_embedding.linear_2",
            "ofs_embed.0": "ofs_embedding.linear_1",
            "ofs_embed.2": "ofs_embedding.linear_2",
            "mixins.patch_embed.proj": "patch_embed.proj",
            "mixins.patch_embed.text_proj": "patch_embed.text_proj",
            "transformer.final_layernorm": "norm_final",
            "mixins.final_layer.norm_final": "norm_out.norm",
            "mixins.final_layer.linear": "proj_out",
            "mixins.final_layer.adaLN_modulation.1": "norm_out.linear",
        ]
        if let target = simple[stem] { return .rename(target + "." + leaf) }

        // transformer.layers.{l}.<sub>.<leaf>
        if parts.count >= 5, parts[0] == "transformer", parts[1] == "layers", let l = Int(parts[2]) {
            let sub = parts[3..<(parts.count - 1)].joined(separator: ".")
            let block = "transformer_blocks.\(l)."
            switch sub {
            case "input_layernorm": return .rename(block + "norm1.norm." + leaf)
            case "post_attention_layernorm": return .rename(block + "norm2.norm." + leaf)
            case "attention.dense": return .rename(block + "attn1.to_out.0." + leaf)
            case "mlp.dense_h_to_4h": return .rename(block + "ff.net.0.proj." + leaf)
            case "mlp.dense_4h_to_h": return .rename(block + "ff.net.2." + leaf)
            case "attention.query_key_value":
                return .splitRows(blockCount: 3, targets: [
                    (block + "attn1.to_q." + leaf, [0]),
                    (block + "attn1.to_k." + leaf, [1]),
                    (block + "attn1.to_v." + leaf, [2]),
                ])
            default: return .unknown
            }
        }
        // mixins.adaln_layer.<list>.{l}[.1].<leaf>
        if parts.count >= 5, parts[0] == "mixins", parts[1] == "adaln_layer", let l = Int(parts[3]) {
            let block = "transformer_blocks.\(l)."
            switch parts[2] {
            case "query_layernorm_list" where parts.count == 5: return .rename(block + "attn1.norm_q." + leaf)
            case "key_layernorm_list" where parts.count == 5: return .rename(block + "attn1.norm_k." + leaf)
            case "adaLN_modulations" where parts.count == 6 && parts[4] == "1":
                // SAT order: shift/scale/gate for msa, mlp, then text msa, text mlp (12 blocks of D rows).
                return .splitRows(blockCount: 12, targets: [
                    (block + "norm1.linear." + leaf, [0, 1, 2, 6, 7, 8]),
                    (block + "norm2.linear." + leaf, [3, 4, 5, 9, 10, 11]),
                ])
            default: return .unknown
            }
        }
        return .unknown
    }

    /// Maps one SAT VAE key (`3d-vae.pt` names, optionally under `first_stage_model.`).
    public static func vaeTarget(for satKey: String) -> SATKeyTarget {
        var key = satKey
        if key.hasPrefix("first_stage_model.") { key = String(key.dropFirst("first_stage_model.".count)) }
        if key.contains("loss") { return .drop(reason: "training loss module") }
        guard key.hasPrefix("encoder.") || key.hasPrefix("decoder.") else { return .unknown }
        let replacements: [(String, String)] = [
            ("block.", "resnets."), ("down.", "down_blocks."), ("downsample", "downsamplers.0"),
            ("upsample", "upsamplers.0"), ("nin_shortcut", "conv_shortcut"),
            ("encoder.mid.block_1", "encoder.mid_block.resnets.0"),
            ("encoder.mid.block_2", "encoder.mid_block.resnets.1"),
            ("decoder.mid.block_1", "decoder.mid_block.resnets.0"),
            ("decoder.mid.block_2", "decoder.mid_block.resnets.1"),
        ]
        for (from, to) in replacements { key = key.replacingOccurrences(of: from, with: to) }
        // SAT numbers decoder levels from the highest resolution; diffusers in execution order.
        var parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2, parts[0] == "decoder", parts[1] == "up" {
            guard let level = Int(parts[2]), (0..<4).contains(level) else { return .unknown }
            parts[1] = "up_blocks"
            parts[2] = String(3 - level)
            key = parts.joined(separator: ".")
        }
        return .rename(key)
    }
}
