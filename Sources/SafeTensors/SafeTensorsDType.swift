/// The element types of the safetensors format (safetensors 0.8.0, shared/reference/formats.md §1.2), in the
/// reference's declaration order, which is also its order of increasing alignment.
public enum SafeTensorsDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case bool = "BOOL"
    case f4 = "F4"
    case f6_e2m3 = "F6_E2M3"
    case f6_e3m2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8_e5m2 = "F8_E5M2"
    case f8_e4m3 = "F8_E4M3"
    case f8_e8m0 = "F8_E8M0"
    case f8_e4m3fnuz = "F8_E4M3FNUZ"
    case f8_e5m2fnuz = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bits per element.
    public var bits: Int {
        switch self {
        case .f4: return 4
        case .f6_e2m3, .f6_e3m2: return 6
        case .bool, .u8, .i8, .f8_e5m2, .f8_e4m3, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Position in the reference enum (the writer sorts by it, descending).
    public var order: Int { SafeTensorsDType.allCases.firstIndex(of: self)! }

    public var description: String { rawValue }
}
