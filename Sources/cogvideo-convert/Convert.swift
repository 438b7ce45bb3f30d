import ArgumentParser
import Convert
import Foundation
import GGUFLike
import Model

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a CogVideoX checkpoint into one quantized GGUF file.",
        discussion: """
            SRC is a diffusers pipeline folder (model_index.json + component folders), one component folder, a \
            single .safetensors file, or a SAT-named (original CogVideo) checkpoint in safetensors form, whose keys \
            are translated to diffusers names. The output holds every component (`transformer.`, `vae.`, \
            `text_encoder.` tensor prefixes), their configs, the scheduler config and the tokenizer model, so the \
            file alone can generate.

            Precision policy (override with --tensor-type, first match wins): large 2-D matrices take --type; \
            1-D tensors (biases, norms) and tensors of ≤ 1024 elements stay F32; embeddings, patch/time/ofs \
            embeddings, positional tables, norm_out.linear and proj_out stay 16-bit (BF16 from a BF16 source, \
            else F16); the VAE stays F16; rows whose length is not a multiple of the block fall back to F16.

            The output is written to a hidden temporary file beside OUT and renamed when complete: an interrupted \
            or failed conversion leaves no OUT, and the input is never modified.

            Examples:
              cogvideo-convert convert CogVideoX-2b/ -o cogvideox-2b-q8_0.gguf --type q8_0
              cogvideo-convert convert CogVideoX-5b/ -o 5b.gguf --type q4_0 --tensor-type 'attn1\\.to_v=q8_0'
              cogvideo-convert convert CogVideoX-5b/ -o t.gguf --type q8_0 --components transformer
            """)

    @Argument(help: "Checkpoint folder or file.", completion: .file())
    var source: String

    @Option(name: [.short, .customLong("output")], help: "Output .gguf file.")
    var output: String

    @Option(name: .customLong("type"), help: "Type of the large matrices: f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0.")
    var typeName: String = "q8_0"

    @Option(name: .customLong("tensor-type"), help: ArgumentHelp("Per-tensor override REGEX=TYPE, matched against the prefixed name (repeatable; first match wins).", valueName: "REGEX=TYPE"))
    var tensorTypes: [String] = []

    @Option(help: "Comma-separated components to convert (transformer, vae, text_encoder). Default: all.")
    var components: String?

    @Option(help: "Type of the VAE's kernels (default f16; f32 when --type f32).")
    var vaeType: String?

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    @Flag(help: "Print the per-tensor decisions and exit without writing.")
    var dryRun = false

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        guard let t = GGMLType(name: typeName), PrecisionPolicy.storableTypes.contains(t) else {
            throw ValidationError("--type \(typeName) is not one of \(PrecisionPolicy.storableTypes.map(\.name).joined(separator: ", "))")
        }
        if let v = vaeType, GGMLType(name: v).map({ PrecisionPolicy.storableTypes.contains($0) }) != true {
            throw ValidationError("--vae-type \(v) is not one of \(PrecisionPolicy.storableTypes.map(\.name).joined(separator: ", "))")
        }
        for r in tensorTypes {
            do { _ = try TensorTypeRule(parsing: r) } catch { throw ValidationError("--tensor-type \(error)") }
        }
        if let c = components {
            for name in c.split(separator: ",") where PipelineComponent(rawValue: String(name)) == nil {
                throw ValidationError("--components: unknown component '\(name)' (transformer, vae, text_encoder)")
            }
        }
        if !output.hasSuffix(".gguf") { throw ValidationError("OUT must end in .gguf") }
        if FileManager.default.fileExists(atPath: output) && !force && !dryRun {
            throw ValidationError("\(output) already exists; pass --force to replace it")
        }
    }

    func run() throws {
        let only = components.map { Set($0.split(separator: ",").map(String.init)) }
        let plan = try ConversionPlan(path: source, only: only)
        for m in plan.source.missingComponents where only == nil || only!.contains(m) {
            note("warning: model_index.json lists `\(m)` but its folder is missing; the output will not contain it")
        }
        let policy = PrecisionPolicy(requested: GGMLType(name: typeName)!, rules: try tensorTypes.map(TensorTypeRule.init(parsing:)),
                                     vaeType: vaeType.flatMap(GGMLType.init(name:)))
        let converter = Converter(plan: plan, policy: policy)
        if dryRun {
            let rows = converter.decisions().map { [$0.name, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", $0.source, $0.type.name.uppercased(), $0.reason] }
            print(formatTable(header: ["tensor", "shape", "from", "to", "why"], rows: rows), terminator: "")
            return
        }
        AtomicOutputCleanup.install()
        AtomicOutputCleanup.removeStaleTemporaries(of: output)
        let bar = ProgressBar(label: "converting", quiet: quiet)
        let name = (source as NSString).lastPathComponent
        let summary = try converter.run(to: output, name: name) { p in
            bar.update(p.bytesIn, of: p.bytesInTotal, detail: "\(p.tensorsDone)/\(p.tensorsTotal) tensors",
                       rate: { formatBytes(Int($0)) + "/s" })
        }
        bar.finish()
        var lines = ["wrote \(output)" + (summary.variant.map { " (CogVideoX \($0.rawValue))" } ?? "")]
        lines.append("  tensors: " + summary.tensorsPerType.map { "\($0.1) \($0.0.name.uppercased())" }.joined(separator: ", "))
        lines.append("  in: \(formatBytes(summary.bytesIn)), out: \(formatBytes(summary.bytesOut)) (\(String(format: "%.1f", Double(summary.bytesOut) / Double(max(summary.bytesIn, 1)) * 100))%)")
        lines.append("  time: \(String(format: "%.1f", summary.seconds)) s, \(formatBytes(Int(Double(summary.bytesIn) / max(summary.seconds, 1e-9))))/s")
        note(lines.joined(separator: "\n"))
    }
}
