import Testing
@testable import Convert

@Test func satTransformerLayerKeysMapToDiffusersNames() {
    let cases: [(String, String)] = [
        ("model.diffusion_model.time_embed.0.weight", "time_embedding.linear_1.weight"),
        ("model.diffusion_model.time_embed.2.bias", "time_embedding.linear_2.bias"),
        ("model.diffusion_model.ofs_embed.0.weight", "ofs_embedding.linear_1.weight"),
        ("model.diffusion_model.mixins.patch_embed.proj.weight", "patch_embed.proj.weight"),
        ("model.diffusion_model.mixins.patch_embed.text_proj.bias", "patch_embed.text_proj.bias"),
        ("model.diffusion_model.transformer.layers.7.input_layernorm.weight", "transformer_blocks.7.norm1.norm.weight"),
        ("model.diffusion_model.transformer.layers.7.post_attention_layernorm.bias", "transformer_blocks.7.norm2.norm.bias"),
        ("model.diffusion_model.transformer.layers.0.attention.dense.weight", "transformer_blocks.0.attn1.to_out.0.weight"),
        ("model.diffusion_model.transformer.layers.29.mlp.dense_h_to_4h.weight", "transformer_blocks.29.ff.net.0.proj.weight"),
        ("model.diffusion_model.transformer.layers.29.mlp.dense_4h_to_h.bias", "transformer_blocks.29.ff.net.2.bias"),
        ("model.diffusion_model.transformer.final_layernorm.weight", "norm_final.weight"),
        ("model.diffusion_model.mixins.adaln_layer.query_layernorm_list.3.weight", "transformer_blocks.3.attn1.norm_q.weight"),
        ("model.diffusion_model.mixins.adaln_layer.key_layernorm_list.3.bias", "transformer_blocks.3.attn1.norm_k.bias"),
        ("model.diffusion_model.mixins.final_layer.norm_final.weight", "norm_out.norm.weight"),
        ("model.diffusion_model.mixins.final_layer.linear.bias", "proj_out.bias"),
        ("model.diffusion_model.mixins.final_layer.adaLN_modulation.1.weight", "norm_out.linear.weight"),
    ]
    for (sat, diffusers) in cases {
        #expect(SATKeyMapping.transformerTarget(for: sat, keepLearnedPositions: false) == .rename(diffusers), "\(sat)")
    }
}

@Test func satFusedQKVSplitsIntoThreeRowBlocksInQKVOrder() {
    let t = SATKeyMapping.transformerTarget(for: "model.diffusion_model.transformer.layers.2.attention.query_key_value.weight",
                                            keepLearnedPositions: false)
    #expect(t == .splitRows(blockCount: 3, targets: [
        ("transformer_blocks.2.attn1.to_q.weight", [0]),
        ("transformer_blocks.2.attn1.to_k.weight", [1]),
        ("transformer_blocks.2.attn1.to_v.weight", [2]),
    ]))
}

@Test func satAdaLNModulationSplitsTwelveWaysIntoNorm1AndNorm2() {
    let t = SATKeyMapping.transformerTarget(for: "model.diffusion_model.mixins.adaln_layer.adaLN_modulations.5.1.bias",
                                            keepLearnedPositions: false)
    #expect(t == .splitRows(blockCount: 12, targets: [
        ("transformer_blocks.5.norm1.linear.bias", [0, 1, 2, 6, 7, 8]),
        ("transformer_blocks.5.norm2.linear.bias", [3, 4, 5, 9, 10, 11]),
    ]))
}

@Test func satPositionalTableIsKeptOnlyForLearnedVariants() {
    let key = "model.diffusion_model.mixins.pos_embed.pos_embedding"
    #expect(SATKeyMapping.transformerTarget(for: key, keepLearnedPositions: true) == .rename("patch_embed.pos_embedding"))
    if case .drop = SATKeyMapping.transformerTarget(for: key, keepLearnedPositions: false) {} else {
        Issue.record("2b's fixed sin-cos table must be dropped")
    }
    if case .drop = SATKeyMapping.transformerTarget(for: "model.diffusion_model.mixins.pos_embed.freqs_sin", keepLearnedPositions: true) {} else {
        Issue.record("RoPE buffers must be dropped")
    }
}

@Test func unknownSATKeysAreReportedNotGuessed() {
    #expect(SATKeyMapping.transformerTarget(for: "model.diffusion_model.transformer.layers.1.attention.rotary.weight",
                                            keepLearnedPositions: false) == .unknown)
    #expect(SATKeyMapping.transformerTarget(for: "conditioner.embedders.0.weight", keepLearnedPositions: false) == .unknown)
    #expect(SATKeyMapping.vaeTarget(for: "decoder.up.7.block.0.conv1.conv.weight") == .unknown)
}

@Test func satVAEKeysMapWithDecoderLevelsReversed() {
    let cases: [(String, String)] = [
        ("encoder.down.0.block.1.conv1.conv.weight", "encoder.down_blocks.0.resnets.1.conv1.conv.weight"),
        ("encoder.down.1.block.0.nin_shortcut.weight", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"),
        ("encoder.down.2.downsample.conv.bias", "encoder.down_blocks.2.downsamplers.0.conv.bias"),
        ("encoder.mid.block_2.norm1.weight", "encoder.mid_block.resnets.1.norm1.weight"),
        ("decoder.mid.block_1.norm2.norm_layer.weight", "decoder.mid_block.resnets.0.norm2.norm_layer.weight"),
        ("decoder.up.0.block.3.conv2.conv.weight", "decoder.up_blocks.3.resnets.3.conv2.conv.weight"),
        ("decoder.up.3.upsample.conv.weight", "decoder.up_blocks.0.upsamplers.0.conv.weight"),
        ("decoder.up.2.block.0.norm1.conv_y.conv.bias", "decoder.up_blocks.1.resnets.0.norm1.conv_y.conv.bias"),
        ("first_stage_model.decoder.conv_out.conv.weight", "decoder.conv_out.conv.weight"),
    ]
    for (sat, diffusers) in cases { #expect(SATKeyMapping.vaeTarget(for: sat) == .rename(diffusers), "\(sat)") }
    if case .drop = SATKeyMapping.vaeTarget(for: "loss.perceptual_loss.net.0.weight") {} else {
        Issue.record("loss tensors must be dropped")
    }
}
