import Testing
@testable import SafeTensors

// Each test is named after the attack or mistake it stops (shared/reference/formats.md §1.5).

@Test func emptyFileIsHeaderTooSmall() {
    #expect(throws: SafeTensorsError.headerTooSmall(fileSize: 0)) { try openBytes([]) }
    #expect(throws: SafeTensorsError.headerTooSmall(fileSize: 7)) { try openBytes([1, 0, 0, 0, 0, 0, 0]) }
}

@Test func headerLengthPointingPastEndIsInvalidHeaderLength() {
    #expect(throws: SafeTensorsError.invalidHeaderLength(length: 60, fileSize: 8)) {
        try openBytes(safetensorsBytes(header: "", lengthOverride: 60))
    }
}

@Test func headerLengthWithHighBytesIsHeaderTooLarge() {
    var bytes = safetensorsBytes(header: "{}")
    bytes[7] = 0xFF
    bytes[6] = 0xFF
    #expect(throws: SafeTensorsError.headerTooLarge(length: 0xFFFF_0000_0000_0002)) { try openBytes(bytes) }
    #expect(throws: SafeTensorsError.headerTooLarge(length: UInt64.max)) {
        try openBytes(safetensorsBytes(header: "{}", lengthOverride: UInt64.max))
    }
    #expect(throws: SafeTensorsError.headerTooLarge(length: 100_000_001)) {
        try openBytes(safetensorsBytes(header: "{}", lengthOverride: 100_000_001))
    }
}

@Test func invalidUTF8HeaderIsInvalidHeader() {
    #expect(throws: SafeTensorsError.invalidHeader(.invalidUTF8(offset: 0))) {
        try openBytes(withUnsafeBytes(of: UInt64(1).littleEndian) { Array($0) } + [0xFF])
    }
}

@Test func truncatedJSONIsInvalidHeader() {
    #expect(throws: SafeTensorsError.invalidHeader(.syntax(message: "unexpected end of input", offset: 1))) {
        try openBytes(safetensorsBytes(header: "{"))
    }
}

@Test func manyViewsOfOneRegionAreInvalidOffset() {
    // The "JSON attack": ten tensors all claiming bytes [0, 16).
    let entries = (0..<10).map { #""t\#($0)":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}"# }
    let header = "{" + entries.joined(separator: ",") + "}"
    #expect(throws: SafeTensorsError.self) { try openBytes(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 16))) }
    do { _ = try openBytes(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 16))) }
    catch let e as SafeTensorsError {
        guard case .invalidOffset(_, 0, 16, 16) = e else { Issue.record("expected invalidOffset, got \(e)"); return }
    } catch { Issue.record("\(error)") }
}

@Test func trailingOrMissingBytesAreMetadataIncompleteBuffer() {
    let header = #"{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#
    #expect(throws: SafeTensorsError.metadataIncompleteBuffer(dataBytes: 18, coveredBytes: 16)) {
        try openBytes(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 18)))
    }
    #expect(throws: SafeTensorsError.metadataIncompleteBuffer(dataBytes: 14, coveredBytes: 16)) {
        try openBytes(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 14)))
    }
}

@Test func byteRangeThatDisagreesWithShapeIsTensorInvalidInfo() {
    let header = #"{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}"#
    #expect(throws: SafeTensorsError.tensorInvalidInfo(tensor: "test", expectedBytes: 16, foundBytes: 4)) {
        try openBytes(safetensorsBytes(header: header, data: [0, 0, 0, 0]))
    }
}

@Test func hugeShapesAreValidationOverflow() {
    for shape in ["[2, 18446744073709551614]", "[2, 9223372036854775807]"] {
        let header = #"{"test":{"dtype":"I32","shape":\#(shape),"data_offsets":[0,16]}}"#
        #expect(throws: SafeTensorsError.validationOverflow(tensor: "test")) {
            try openBytes(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 16)))
        }
    }
}

@Test func oddF4ElementCountIsMisalignedSlice() {
    let header = #"{"test":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#
    #expect(throws: SafeTensorsError.misalignedSlice(tensor: "test")) { try openBytes(safetensorsBytes(header: header, data: [0, 0])) }
}

@Test func whitespacePaddingIsAccepted() throws {
    #expect(try openBytes(safetensorsBytes(header: "{}\r \t\n")).tensors.isEmpty)
    #expect(try openBytes(safetensorsBytes(header: "\t\n{}\r ")).tensors.isEmpty)
    #expect(try openBytes(safetensorsBytes(header: "{}      ")).tensors.isEmpty)  // 16 bytes: the minimal file
}

@Test func nulPaddingIsRejected() {
    #expect(throws: SafeTensorsError.invalidHeader(.syntax(message: "NUL byte is not allowed in JSON text", offset: 2))) {
        try openBytes(safetensorsBytes(header: "{}\0\0"))
    }
}

@Test func emptyAndScalarTensorsAreAccepted() throws {
    let f = try openBytes(safetensorsBytes(header: #"{"e":{"dtype":"I32","shape":[2,0],"data_offsets":[0,0]},"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}"#,
                                           data: [7, 0, 0, 0]))
    #expect(f.info("e")?.shape == [2, 0])
    #expect(f.info("s")?.shape == [])
    #expect(try f.elements("s", as: Int32.self) == [7])
    #expect(try f.elements("e", as: Int32.self) == [])
}

@Test func duplicateTensorKeysAreRejected() {
    let header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
    #expect(throws: SafeTensorsError.invalidHeader(.duplicateKey("a", offset: 53))) { try openBytes(safetensorsBytes(header: header, data: [1])) }
}

@Test func duplicateMetadataAndNonStringMetadataAreRejected() {
    #expect(throws: SafeTensorsError.invalidHeader(.duplicateKey("__metadata__", offset: 19))) {
        try openBytes(safetensorsBytes(header: #"{"__metadata__":{},"__metadata__":{}}"#))
    }
    #expect(throws: SafeTensorsError.invalidHeader(.duplicateKey("k", offset: 25))) {
        try openBytes(safetensorsBytes(header: #"{"__metadata__":{"k":"a","k":"b"}}"#))
    }
    #expect(throws: SafeTensorsError.invalidMetadata(key: "n", found: "integer")) {
        try openBytes(safetensorsBytes(header: #"{"__metadata__":{"n":1}}"#))
    }
    #expect(throws: SafeTensorsError.invalidHeaderStructure(key: "__metadata__", reason: "must be an object of strings, found array")) {
        try openBytes(safetensorsBytes(header: #"{"__metadata__":["x"]}"#))
    }
}

@Test func extraFieldsInAnEntryAreIgnoredLikeTheReference() throws {
    let f = try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"foo":1}}"#, data: [9]))
    #expect(try f.elements("a", as: UInt8.self) == [9])
}

@Test func dataOffsetsWithOneOrThreeEntriesAreRejected() {
    for offs in ["[0]", "[0,1,2]"] {
        #expect(throws: SafeTensorsError.invalidHeaderStructure(key: "a", reason: "`data_offsets` must have exactly 2 entries, found \(offs == "[0]" ? 1 : 3)")) {
            try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":\#(offs)}}"#, data: [9]))
        }
    }
}

@Test func floatsAndNegativesInShapeOrOffsetsAreRejected() {
    let cases: [(shape: String, offsets: String, field: String, found: String)] = [
        ("[1.0]", "[0,1]", "shape", "1.0"), ("[-1]", "[0,1]", "shape", "-1"), ("[1e0]", "[0,1]", "shape", "1.0"),
        ("[1]", "[0,1.5]", "data_offsets", "1.5"), ("[1]", "[-1,0]", "data_offsets", "-1"),
        ("[\"1\"]", "[0,1]", "shape", "\"1\""), ("[null]", "[0,1]", "shape", "null"),
    ]
    for c in cases {
        let header = #"{"a":{"dtype":"U8","shape":\#(c.shape),"data_offsets":\#(c.offsets)}}"#
        #expect(throws: SafeTensorsError.invalidHeaderStructure(key: "a", reason: "`\(c.field)` must hold non-negative integers, found \(c.found)"),
                "\(c.shape) \(c.offsets)") { try openBytes(safetensorsBytes(header: header, data: [9])) }
    }
}

@Test func headerEndingExactlyAtEOFWithNoTensorsIsAccepted() throws {
    let f = try openBytes(safetensorsBytes(header: "{}"))
    #expect(f.tensors.isEmpty)
    #expect(f.dataStart == 10)
}

@Test func headerThatIsAJSONArrayIsRejected() {
    #expect(throws: SafeTensorsError.invalidHeaderStructure(key: nil, reason: "the header must be a JSON object, found array")) {
        try openBytes(safetensorsBytes(header: "[]"))
    }
}

@Test func unknownOrLowercaseDTypeIsRejected() {
    #expect(throws: SafeTensorsError.unknownDType(tensor: "a", dtype: "f32")) {
        try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
    }
    #expect(throws: SafeTensorsError.unknownDType(tensor: "a", dtype: "F8_E4M3FN")) {
        try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"F8_E4M3FN","shape":[1],"data_offsets":[0,1]}}"#, data: [0]))
    }
}

@Test func gapsAndReversedRangesAreInvalidOffset() {
    let gap = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
    #expect(throws: SafeTensorsError.invalidOffset(tensor: "a", begin: 1, end: 2, expectedBegin: 0)) { try openBytes(safetensorsBytes(header: gap, data: [0, 0])) }
    let overlap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#
    #expect(throws: SafeTensorsError.invalidOffset(tensor: "b", begin: 1, end: 3, expectedBegin: 2)) { try openBytes(safetensorsBytes(header: overlap, data: [0, 0, 0])) }
}

@Test func requestingTheWrongElementTypeIsUnsupportedDType() throws {
    let f = try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: [0x38]))
    #expect(f.info("a")?.dtype == .f8_e4m3)
    #expect(throws: SafeTensorsError.unsupportedDType(tensor: "a", dtype: .f8_e4m3, requested: "Float")) { try f.floats("a") }
    #expect(throws: SafeTensorsError.tensorNotFound("b")) { try f.floats("b") }
}

@Test func corruptedFilesNeverCrash() throws {
    // Truncate and flip bytes of a valid file at every position: each result is a typed error or a valid file.
    let header = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}"#
    let valid = safetensorsBytes(header: header, data: [UInt8](repeating: 1, count: 11))
    var outcomes = (ok: 0, rejected: 0)
    for cut in 0..<valid.count {
        do { _ = try parseBytes(Array(valid[..<cut])); outcomes.ok += 1 } catch is SafeTensorsError { outcomes.rejected += 1 }
    }
    for i in 0..<valid.count {
        for flip: UInt8 in [0x01, 0x80, 0xFF] {
            var b = valid
            b[i] ^= flip
            do { _ = try parseBytes(b); outcomes.ok += 1 } catch is SafeTensorsError { outcomes.rejected += 1 }
        }
    }
    #expect(outcomes.rejected > valid.count)  // every truncation, and most flips, are rejected
}
