import Testing
@testable import Model

private final class Leaf: Module {
    @ParameterInfo(key: "weight") var w = Parameter(shape: [4, 3])
    var bias: Parameter? = Parameter(shape: [4])
}
private final class Inner: Module {
    @ModuleInfo(key: "to_q") var toQ = Leaf()
    @ModuleInfo(key: "to_out.0") var toOut = Leaf()
    var absent: Leaf? = nil
}
private final class Outer: Module {
    @ModuleInfo(key: "transformer_blocks") var blocks = [Inner(), Inner()]
    @ModuleInfo(key: "norm_final") var norm = Leaf()
}

@Test func moduleKeysFollowPropertyWrappersAndArrays() {
    let keys = Outer().namedParameters().map(\.key)
    #expect(keys == [
        "transformer_blocks.0.to_q.weight", "transformer_blocks.0.to_q.bias",
        "transformer_blocks.0.to_out.0.weight", "transformer_blocks.0.to_out.0.bias",
        "transformer_blocks.1.to_q.weight", "transformer_blocks.1.to_q.bias",
        "transformer_blocks.1.to_out.0.weight", "transformer_blocks.1.to_out.0.bias",
        "norm_final.weight", "norm_final.bias",
    ])
}
