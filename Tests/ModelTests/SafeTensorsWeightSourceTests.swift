import Foundation
import GGUFLike
import Testing
@testable import Model
import SafeTensors

// SafeTensorsWeightSource over Python-written files (fixtures/safetensors, tools/fixturegen/safetensors_files.py).

@Test func computeDTypesMapToGGMLTypesAndOthersReportTheirStoredName() throws {
    let source = try SafeTensorsWeightSource(path: fixturesPath + "/safetensors/every_dtype.safetensors")
    let file = try SafeTensorsFile(path: fixturesPath + "/safetensors/every_dtype.safetensors")
    let expected: [String: GGMLType?] = ["f32": .f32, "f16": .f16, "bf16": .bf16, "f64": .f64, "i8": .i8, "i16": .i16,
                                         "i32": .i32, "i64.scalar": .i64, "u8": nil, "u16": nil, "u32": nil, "u64": nil,
                                         "bool": nil, "c64": nil, "f4": nil, "f8_e4m3": nil, "f8_e5m2": nil, "f8_e8m0": nil]
    for (name, type) in expected {
        let info = try #require(source.info(name), "\(name)")
        #expect(info.type == type, "\(name)")
        #expect(info.storedTypeName == file.info(name)?.dtype.rawValue, "\(name)")
        #expect(info.shape == file.info(name)?.shape, "\(name)")
    }
    #expect(source.info("absent") == nil)
    #expect(Set(source.tensorNames) == Set(file.names))
}

@Test func tensorsAreZeroCopyViewsOfTheFileAndUncomputableOnesAreRefused() throws {
    let source = try SafeTensorsWeightSource(path: fixturesPath + "/safetensors/every_dtype.safetensors")
    let file = try SafeTensorsFile(path: fixturesPath + "/safetensors/every_dtype.safetensors")
    let t = try source.tensor("bf16")
    #expect(t.type == .bf16)
    #expect(t.shape == [3])
    #expect(Array(t.bytes) == Array(try file.rawBytes("bf16")))
    #expect(t.owner != nil)
    #expect(throws: SafeTensorsError.unsupportedDType(tensor: "f8_e4m3", dtype: .f8_e4m3, requested: "a compute type")) {
        try source.tensor("f8_e4m3")
    }
    #expect(throws: SafeTensorsError.tensorNotFound("absent")) { try source.tensor("absent") }
}

@Test func shardedFolderIsOneWeightSource() throws {
    let source = try SafeTensorsWeightSource(path: fixturesPath + "/safetensors/sharded")
    #expect(source.tensorNames == ["layer.0.bias", "layer.0.weight", "layer.1.weight"])
    #expect(source.info("layer.1.weight") == WeightInfo(shape: [3, 2], type: .f32, storedTypeName: "F32"))
    #expect(try source.tensor("layer.1.weight").bytes.count == 24)
}
