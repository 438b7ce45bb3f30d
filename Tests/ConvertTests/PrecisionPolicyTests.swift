import GGUFLike
import Testing
@testable import Convert

@Test func largeBlockMatricesTakeTheRequestedType() {
    let p = PrecisionPolicy(requested: .q8_0)
    #expect(p.decide(component: .transformer, name: "transformer_blocks.0.attn1.to_q.weight", shape: [1920, 1920], source: .f16).type == .q8_0)
    #expect(p.decide(component: .textEncoder, name: "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", shape: [10240, 4096], source: .bf16).type == .q8_0)
}

@Test func biasesNormsAndSmallTensorsStayF32() {
    let p = PrecisionPolicy(requested: .q4_0)
    #expect(p.decide(component: .transformer, name: "transformer_blocks.0.attn1.to_q.bias", shape: [1920], source: .f16).type == .f32)
    #expect(p.decide(component: .transformer, name: "transformer_blocks.0.attn1.norm_q.weight", shape: [64], source: .bf16).type == .f32)
    #expect(p.decide(component: .textEncoder, name: "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                     shape: [32, 32], source: .f16).type == .f32)
}

@Test func embeddingsAndOutputLayersStaySixteenBitMatchingTheSource() {
    let p = PrecisionPolicy(requested: .q8_0)
    #expect(p.decide(component: .transformer, name: "patch_embed.proj.weight", shape: [1920, 16, 2, 2], source: .f16).type == .f16)
    #expect(p.decide(component: .transformer, name: "proj_out.weight", shape: [64, 3072], source: .bf16).type == .bf16)
    #expect(p.decide(component: .transformer, name: "norm_out.linear.weight", shape: [3840, 512], source: .f32).type == .f16)
    #expect(p.decide(component: .textEncoder, name: "shared.weight", shape: [32128, 4096], source: .bf16).type == .bf16)
    #expect(PrecisionPolicy(requested: .f32).decide(component: .transformer, name: "proj_out.weight", shape: [64, 1920], source: .f16).type == .f32)
}

@Test func vaeDefaultsToF16AndRowsThatDoNotFitABlockFallBack() {
    let p = PrecisionPolicy(requested: .q4_0)
    #expect(p.decide(component: .vae, name: "decoder.conv_in.conv.weight", shape: [512, 16, 3, 3, 3], source: .f32).type == .f16)
    let odd = p.decide(component: .transformer, name: "transformer_blocks.0.ff.net.2.weight", shape: [100, 1000], source: .f32)
    #expect(odd.type == .f16)
    #expect(odd.reason.contains("block"))
}

@Test func userRulesWinInOrder() throws {
    let rules = [try TensorTypeRule(parsing: "attn1\\.to_v=q8_0"), try TensorTypeRule(parsing: "^transformer\\.=bf16")]
    let p = PrecisionPolicy(requested: .q4_0, rules: rules)
    #expect(p.decide(component: .transformer, name: "transformer_blocks.1.attn1.to_v.weight", shape: [64, 64], source: .f32).type == .q8_0)
    #expect(p.decide(component: .transformer, name: "transformer_blocks.1.attn1.to_q.weight", shape: [64, 64], source: .f32).type == .bf16)
    #expect(throws: PrecisionPolicyError.unknownType("q9_9", rule: "x=q9_9")) { try TensorTypeRule(parsing: "x=q9_9") }
    #expect(throws: PrecisionPolicyError.malformedRule("nothing")) { try TensorTypeRule(parsing: "nothing") }
    #expect(throws: PrecisionPolicyError.invalidRegex("(")) { try TensorTypeRule(parsing: "(=f16") }
}
