import Testing
@testable import SafeTensors

@Test func parsesNestedValuesKeepingKeyOrder() throws {
    let v = try JSONParser.parse(#" {"b": [1, -2, 3.5, true, null, "x\u00e9\n"], "a": {"z": 18446744073709551614}} "#)
    #expect(v.object?.keys == ["b", "a"])
    #expect(v["b"]?[0]?.int == 1)
    #expect(v["b"]?[1]?.int == -2)
    #expect(v["b"]?[2]?.double == 3.5)
    #expect(v["b"]?[2]?.int == nil)
    #expect(v["b"]?[3]?.bool == true)
    #expect(v["b"]?[4]?.isNull == true)
    #expect(v["b"]?[5]?.string == "xé\n")
    #expect(v["a"]?["z"] == .uint(18446744073709551614))
}

@Test func rejectsDuplicateKeysAtAnyDepth() {
    #expect(throws: JSONError.duplicateKey("a", offset: 9)) { try JSONParser.parse(#"{"a": 1, "a": 2}"#) }
    #expect(throws: JSONError.duplicateKey("k", offset: 16)) { try JSONParser.parse(#"{"x": [{"k": 1, "k": 1}]}"#) }
    // An escaped spelling of the same key is the same key.
    #expect(throws: JSONError.duplicateKey("ab", offset: 10)) { try JSONParser.parse(#"{"ab": 1, "a\u0062": 2}"#) }
    // Equal keys in different objects are fine.
    #expect((try? JSONParser.parse(#"{"a": {"k": 1}, "b": {"k": 2}}"#)) != nil)
}

@Test func rejectsMalformedText() {
    for bad in ["{", "[1,]", "{'a': 1}", "{\"a\" 1}", "nul", "{\"a\":1} x", "", "{\"a\":1}\0\0",
                "{\"a\": NaN}", "[Infinity]", "[1.]", "[.5]", "\"a\u{1}b\"", "{\"a\": 1} //x"] {
        #expect(throws: JSONError.self, "case \(bad.debugDescription)") { try JSONParser.parse(bad) }
    }
    #expect(throws: JSONError.invalidUTF8(offset: 2)) { try JSONParser.parse([0x22, 0x61, 0xFF, 0x22]) }
}

@Test func acceptsJSONWhitespaceAroundTheValue() throws {
    #expect(try JSONParser.parse("\t\n{}\r ") == .object(JSONObject()))
}

@Test func serializesCompactlyLikeSerde() throws {
    let v: JSONValue = ["name": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]], "s": "a\"\u{1}é"]
    #expect(v.serialized() == #"{"name":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"s":"a\"\u0001é"}"#)
    #expect(try JSONParser.parse(v.serialized()) == v)
}

@Test func integersOutsideSixtyFourBitsBecomeDoublesInsteadOfClampedIntegers() throws {
    // json-c clamps these to Int64.min / UInt64.max without an error; the parser must not hand out wrong integers.
    let v = try JSONParser.parse(#"[-9223372036854775808, -9223372036854775809, 18446744073709551615, 18446744073709551616, 1000000000000000019884624838656, {"k": -99999999999999999999}, 9223372036854775807]"#)
    #expect(v[0] == .int(Int64.min))
    #expect(v[1] == .double(-9223372036854775809.0))
    #expect(v[2] == .uint(UInt64.max))
    #expect(v[3] == .double(18446744073709551616.0))
    #expect(v[4]?.double == 1e30)   // tokenizer_config.json's usual model_max_length
    #expect(v[4]?.int == nil)
    #expect(v[5]?["k"] == .double(-1e20))
    #expect(v[6] == .int(Int64.max))
}

@Test func safetensorsShapeBeyondSixtyFourBitsIsRejectedNotClamped() {
    let header = #"{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}}"#
    #expect(throws: SafeTensorsError.invalidHeaderStructure(key: "a", reason: "`shape` must hold non-negative integers, found 1.8446744073709552e+19")) {
        try openBytes(safetensorsBytes(header: header, data: [0]))
    }
}

@Test func keysContainingNULAreRejectedBecauseJSONCWouldTruncateThem() throws {
    // json-c stores keys as C strings: both keys below would silently become "a", and one value would vanish.
    #expect(throws: JSONError.syntax(message: "an object key may not contain \\u0000", offset: 1)) {
        try JSONParser.parse(#"{"a\u0000b": 1, "a\u0000c": 2}"#)
    }
    // In a string value it is fine: json-c keeps the length.
    #expect(try JSONParser.parse(#"["a\u0000b"]"#)[0]?.string == "a\u{0}b")
}

@Test func nestingDeeperThanTheLimitIsTooDeep() {
    let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
    #expect(throws: JSONError.tooDeep(limit: JSONParser.maxDepth)) { try JSONParser.parse(deep) }
    let ok = String(repeating: "[", count: JSONParser.maxDepth - 1) + String(repeating: "]", count: JSONParser.maxDepth - 1)
    #expect((try? JSONParser.parse(ok)) != nil)
}

@Test func accessorsAnswerOnlyForTheirOwnKind() throws {
    let v = try JSONParser.parse(#"{"num_layers": 30, "scale": 0.5, "name": "x", "flags": [true], "sub": {"k": null}}"#)
    #expect(v["num_layers"]?.int == 30)
    #expect(v["num_layers"]?.double == 30)
    #expect(v["num_layers"]?.string == nil)
    #expect(v["scale"]?.int == nil)
    #expect(v["name"]?.string == "x")
    #expect(v["name"]?.int == nil)
    #expect(v["flags"]?.array == [.bool(true)])
    #expect(v["sub"]?.object?.keys == ["k"])
    #expect(v["sub"]?["k"]?.isNull == true)
    #expect(v["missing"] == nil)
    #expect(v[0] == nil)
    #expect(v["flags"]?[1] == nil)
}

@Test func prettyPrintedTextParsesBackToTheSameValue() throws {
    let v = try JSONParser.parse(#"{"b": [1, [2, {"c": "d"}]], "a": {"shape": [3, 4], "e": {}}, "f": 1e-7, "g": -0.25}"#)
    let pretty = v.prettyPrinted()
    #expect(pretty.contains("\n  \"b\": ["))
    #expect(pretty.contains("\"shape\": [3, 4]"))   // scalar arrays stay on one line
    #expect(try JSONParser.parse(pretty) == v)
    #expect(try JSONParser.parse(v.serialized()) == v)
}
