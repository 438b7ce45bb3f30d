import Foundation
import Testing
@testable import SafeTensors

// fixtures/safetensors/every_dtype.* : one tensor per dtype, written by the Rust serializer
// (tools/fixturegen/safetensors_files.py). F6 types have no Python writer and are covered by hand-made headers.

private struct FixtureTensor {
    let name: String
    let dtype: SafeTensorsDType
    let shape: [Int]
    let bytes: [UInt8]
}

private func everyDTypeFixture() throws -> (metadata: [(key: String, value: String)], tensors: [FixtureTensor]) {
    let j = try readJSON(fixturesPath + "/safetensors/every_dtype.json")
    let meta = (j["metadata"]?.object ?? JSONObject()).map { ($0.key, $0.value.string ?? "") }
    let tensors = try (j["tensors"]?.array ?? []).map { t in
        FixtureTensor(name: try #require(t["name"]?.string),
                      dtype: try #require(SafeTensorsDType(rawValue: t["dtype"]?.string ?? "")),
                      shape: try #require(t["shape"]?.array).compactMap(\.int),
                      bytes: hexBytes(t["hex"]?.string ?? ""))
    }
    return (meta, tensors)
}

private let everyDTypePath = fixturesPath + "/safetensors/every_dtype.safetensors"

@Test func everyDTypeWrittenByPythonReadsBackWithIdenticalBytesAndShapes() throws {
    let (_, expected) = try everyDTypeFixture()
    // The fixture really covers every dtype of formats.md §1.2 but the two F6 types.
    #expect(Set(expected.map(\.dtype)) == Set(SafeTensorsDType.allCases).subtracting([.f6_e2m3, .f6_e3m2]))
    let f = try SafeTensorsFile(path: everyDTypePath)
    #expect(f.names.count == expected.count)
    for e in expected {
        let info = try #require(f.info(e.name), "\(e.name)")
        #expect(info.dtype == e.dtype, "\(e.name)")
        #expect(info.shape == e.shape, "\(e.name)")
        #expect(Array(try f.rawBytes(e.name)) == e.bytes, "\(e.name)")
    }
    #expect(f.metadata.map(\.key) == ["made_by"])
}

@Test func swiftWriterMatchesPythonByteForByteForEveryDTypeAndNameOrder() throws {
    // Same-size dtypes sort by the reference enum (U64 > I64 > F64 > C64, F32 > U32 > I32, ...), names by UTF-8
    // bytes ("e\u{301}" before "f"), the header is space-padded to 8: any difference shows up as a byte diff.
    let (meta, tensors) = try everyDTypeFixture()
    var w = SafeTensorsWriter(metadata: meta)
    for t in tensors { try w.add(name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes) }
    let folder = TempFolder()
    try w.write(to: folder.path("ours.safetensors"))
    let ours = try Data(contentsOf: URL(fileURLWithPath: folder.path("ours.safetensors")))
    let theirs = try Data(contentsOf: URL(fileURLWithPath: everyDTypePath))
    #expect(ours == theirs)
}

/// The elements of `bytes` reinterpreted as `T` (little-endian host).
private func reinterpret<T>(_ bytes: [UInt8], as: T.Type) -> [T] {
    bytes.withUnsafeBytes { raw in (0..<(bytes.count / MemoryLayout<T>.stride)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) } }
}

@Test func typedViewsEqualTheStoredBitsForEveryComputableDType() throws {
    let (_, tensors) = try everyDTypeFixture()
    let f = try SafeTensorsFile(path: everyDTypePath)
    func check<T: Equatable>(_ t: FixtureTensor, _ type: T.Type) throws {
        #expect(try f.elements(t.name, as: type) == reinterpret(t.bytes, as: type), "\(t.name) as \(type)")
    }
    var viewed = 0
    for t in tensors {
        switch t.dtype {
        case .f32: try check(t, Float.self)     // bit patterns compared through Float ==: the fixture has no NaNs
            #expect(try f.floats(t.name).map(\.bitPattern) == reinterpret(t.bytes, as: UInt32.self))
        case .f16: try check(t, UInt16.self)
            #expect(try f.withElements(t.name, as: Float16.self) { $0.map(\.bitPattern) } == reinterpret(t.bytes, as: UInt16.self))
        case .bf16: try check(t, UInt16.self)
            #expect(try f.floats(t.name).map(\.bitPattern) == reinterpret(t.bytes, as: UInt16.self).map { UInt32($0) << 16 })
        case .f64: #expect(try f.withElements(t.name, as: Double.self) { $0.map(\.bitPattern) } == reinterpret(t.bytes, as: UInt64.self))
        case .i8: try check(t, Int8.self)
        case .u8: try check(t, UInt8.self)
        case .i16: try check(t, Int16.self)
        case .u16: try check(t, UInt16.self)
        case .i32: try check(t, Int32.self)
        case .u32: try check(t, UInt32.self)
        case .i64: try check(t, Int64.self)
        case .u64: try check(t, UInt64.self)
        case .bool: #expect(try f.elements(t.name, as: Bool.self) == t.bytes.map { $0 != 0 })
        case .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz: try check(t, UInt8.self)
            #expect(throws: SafeTensorsError.unsupportedDType(tensor: t.name, dtype: t.dtype, requested: "Float")) { try f.floats(t.name) }
        case .f4, .f6_e2m3, .f6_e3m2, .c64:
            // Parsed and listed, but no element view: asking for data is the error, not opening the file.
            #expect(throws: SafeTensorsError.unsupportedDType(tensor: t.name, dtype: t.dtype, requested: "UInt8")) {
                try f.elements(t.name, as: UInt8.self)
            }
            #expect(Array(try f.rawBytes(t.name)) == t.bytes)
        }
        viewed += 1
    }
    #expect(viewed == tensors.count)
    // A view of the wrong width or signedness is refused.
    #expect(throws: SafeTensorsError.unsupportedDType(tensor: "i32", dtype: .i32, requested: "Float")) { try f.elements("i32", as: Float.self) }
    #expect(throws: SafeTensorsError.unsupportedDType(tensor: "u64", dtype: .u64, requested: "Int64")) { try f.elements("u64", as: Int64.self) }
}

@Test func f6TensorsParseWhenTheyFillWholeBytesAndAreMisalignedOtherwise() throws {
    for dtype in ["F6_E2M3", "F6_E3M2"] {
        let ok = try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"\#(dtype)","shape":[2,2],"data_offsets":[0,3]}}"#, data: [1, 2, 3]))
        #expect(ok.info("a")?.dtype.rawValue == dtype)
        #expect(ok.info("a")?.shape == [2, 2])
        #expect(throws: SafeTensorsError.misalignedSlice(tensor: "a")) {
            try openBytes(safetensorsBytes(header: #"{"a":{"dtype":"\#(dtype)","shape":[3],"data_offsets":[0,3]}}"#, data: [1, 2, 3]))
        }
    }
}

@Test func writerRefusesATensorNamedLikeTheMetadataKey() {
    var w = SafeTensorsWriter(metadata: [("k", "v")])
    #expect(throws: SafeTensorsError.invalidHeaderStructure(key: "__metadata__", reason: "this key is reserved for metadata and cannot name a tensor")) {
        try w.add(name: "__metadata__", dtype: .u8, shape: [1], bytes: [0])
    }
}

@Test func writerRefusesAHeaderOverTheSizeCapAndLeavesNoFile() throws {
    // The reference test: a 100 MB metadata value makes the header too large at write time.
    let big = String(decoding: [UInt8](repeating: UInt8(ascii: "a"), count: 100_000_000), as: UTF8.self)
    var w = SafeTensorsWriter(metadata: [("big", big)])
    try w.add(name: "x", dtype: .u8, shape: [1], bytes: [1])
    let folder = TempFolder()
    do {
        try w.write(to: folder.path("big.safetensors"))
        Issue.record("a header of more than 100,000,000 bytes was written")
    } catch let e as SafeTensorsError {
        guard case .headerTooLarge(let n) = e else { Issue.record("expected headerTooLarge, got \(e)"); return }
        #expect(n > SafeTensorsFile.maxHeaderSize)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).isEmpty)
}

// MARK: - Fuzz-ish: seeded random corruption of a real Python-written file

/// SplitMix64: a tiny deterministic generator so failures reproduce.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Validates `bytes` in memory and, when that succeeds, checks what a consumer relies on: every tensor's range
/// lies inside the buffer after the header and its size is shape x dtype. Returns nil on success or the typed
/// error; any other error fails the test (and a crash fails the run).
private func openAndRead(_ bytes: [UInt8]) -> SafeTensorsError? {
    do {
        let parsed = try parseBytes(bytes)
        for t in parsed.tensors {
            #expect(t.dataOffsets.lowerBound >= 0 && parsed.dataStart + t.dataOffsets.upperBound <= bytes.count, "\(t.name)")
            #expect(t.byteCount * 8 == t.elementCount * t.dtype.bits, "\(t.name)")
        }
        return nil
    } catch let e as SafeTensorsError {
        return e
    } catch {
        Issue.record("untyped error \(error)")
        return nil
    }
}

@Test func truncationAtEveryByteGivesTheErrorForWhereTheCutFalls() throws {
    let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: everyDTypePath)))
    let n = Int(valid[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    for cut in 0..<valid.count {
        let e = openAndRead(Array(valid[..<cut]))
        switch cut {
        case ..<8: #expect(e == .headerTooSmall(fileSize: cut))
        case ..<(8 + n): #expect(e == .invalidHeaderLength(length: UInt64(n), fileSize: cut))
        default:
            guard case .metadataIncompleteBuffer(let dataBytes, _)? = e else { Issue.record("cut \(cut): \(String(describing: e))"); continue }
            #expect(dataBytes == cut - 8 - n)
        }
    }
}

@Test func randomByteCorruptionGivesATypedErrorOrAValidFileNeverACrash() throws {
    let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: everyDTypePath)))
    let n = Int(valid[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    var rng = SplitMix64(state: 0x5AFE_7E45)
    var rejected = 0, accepted = 0
    // Mostly hit the header (where parsing happens), sometimes the length field or the data.
    let interesting: [UInt8] = Array("{}[]\",:-.0123456789eE \t\n\\u".utf8) + [0, 0x80, 0xC3, 0xFF]
    for round in 0..<1500 {
        var b = valid
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = round % 10 == 0 ? Int.random(in: 0..<8, using: &rng)
                : round % 10 == 1 ? Int.random(in: 0..<b.count, using: &rng)
                : Int.random(in: 8..<(8 + n), using: &rng)
            b[at] = Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
        if openAndRead(b) == nil { accepted += 1 } else { rejected += 1 }
    }
    #expect(rejected + accepted == 1500)
    #expect(rejected > 1000)  // nearly every header mutation breaks JSON, a dtype, a shape or an offset
    // Flipping bits only in the data section never matters: values are not validated.
    for _ in 0..<50 {
        var b = valid
        b[Int.random(in: (8 + n)..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
        #expect(openAndRead(b) == nil)
    }
}

@Test func randomJSONCorruptionGivesAJSONErrorOrAValueThatSerializesBack() throws {
    let text = Array(#"{"a": [1, -2, 3.5e3, true, false, null, "x\u00e9\n"], "b": {"c": {}, "d": []}, "n": 18446744073709551615}"#.utf8)
    var rng = SplitMix64(state: 42)
    let interesting: [UInt8] = Array("{}[]\",:-.0123456789eEtfn \\u".utf8) + [0, 0xFF]
    var parsed = 0
    for _ in 0..<3000 {
        var b = text
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let at = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: b[at] = interesting.randomElement(using: &rng)!
            case 1: b.remove(at: at)
            default: b.insert(interesting.randomElement(using: &rng)!, at: at)
            }
        }
        do {
            let v = try JSONParser.parse(b)
            parsed += 1
            // Whatever was accepted is a value we can write and read again.
            #expect(throws: Never.self) { try JSONParser.parse(v.serialized()) }
        } catch is JSONError {
        } catch {
            Issue.record("untyped error \(error)")
        }
    }
    #expect(parsed < 3000)
}
