// swift-tools-version: 6.0
// cogvideo-swift: convert, validate and run CogVideoX text-to-video models on the CPU.
// Module layout and dependency direction are fixed by ARCHITECTURE.md:
//   SafeTensors, GGUFLike  <-  Model  <-  Convert  <-  cogvideo-convert
import PackageDescription

let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "cogvideo-swift",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cogvideo-convert", targets: ["cogvideo-convert"]),
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
        .library(name: "GGUFLike", targets: ["GGUFLike"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Convert", targets: ["Convert"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System-library shims (Debian: libjson-c-dev, zlib1g-dev).
        .systemLibrary(name: "CJSONC", path: "Sources/CJSONC", pkgConfig: "json-c",
                       providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Hand-written SIMD kernels (AVX-512 / AVX2 with runtime dispatch) used by the compute engine.
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])], linkerSettings: [.linkedLibrary("dl")]),

        .target(name: "SafeTensors", dependencies: ["CJSONC"], swiftSettings: optimize),
        // AVX-512 block quantizers (bit-exact with gguf-py: no FMA contraction).
        .target(name: "CQuant", path: "Sources/CQuant",
                cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno"])]),
        .target(name: "GGUFLike", dependencies: ["CQuant"], swiftSettings: optimize),
        // AVX2 Box-Muller of torch.randn (bit-identical to the Swift emulation: no implicit FMA contraction).
        .target(name: "CRandom", path: "Sources/CRandom",
                cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno"])]),
        .target(name: "Model", dependencies: ["SafeTensors", "GGUFLike", "CKernels", "CZlib", "CRandom"],
                swiftSettings: optimize),
        .target(name: "Convert", dependencies: ["Model", "SafeTensors", "GGUFLike"], swiftSettings: optimize),
        .executableTarget(name: "cogvideo-convert",
                          dependencies: ["Convert", "Model", "SafeTensors", "GGUFLike",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: optimize),

        // Benchmarks: a Swift driver run side by side with the PyTorch reference (see Benchmarks/README.md).
        .executableTarget(name: "cogvideo-bench",
                          dependencies: ["Convert", "Model", "SafeTensors", "GGUFLike"],
                          path: "Benchmarks/Sources/cogvideo-bench", swiftSettings: optimize),

        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors"]),
        .testTarget(name: "GGUFLikeTests", dependencies: ["GGUFLike", "SafeTensors"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "SafeTensors", "GGUFLike"]),
        .testTarget(name: "ConvertTests", dependencies: ["Convert", "Model", "SafeTensors", "GGUFLike"]),
        .testTarget(name: "CLITests", dependencies: ["cogvideo-convert", "SafeTensors"]),
    ]
)
