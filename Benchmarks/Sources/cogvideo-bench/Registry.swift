// One line per benchmark; each benchmark lives in its own file in this folder and prints one JSON object per
// measurement on stdout (the Python drivers in Benchmarks/ parse it).
enum BenchmarkRegistry {
    nonisolated(unsafe) static let all: [String: ([String]) throws -> Void] = [
        "safetensors-open": benchSafeTensorsOpen,
        "codec": benchCodec,
        "gemm": benchGEMM,
        "attention": benchAttention,
        "randn": benchRandnScheduler,
        "t5": benchT5,
        "transformer": benchTransformer,
        "vae": benchVAE,
    ]
}
