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
