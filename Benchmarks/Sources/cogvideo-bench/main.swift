// Swift side of the benchmarks. Run through the scripts in Benchmarks/ that time the PyTorch reference in the
// same run and print ratios. Usage: cogvideo-bench NAME [args...]; `cogvideo-bench list` lists the benchmarks.
import Foundation

let args = Array(CommandLine.arguments.dropFirst())
guard let name = args.first, name != "list" else {
    print(BenchmarkRegistry.all.keys.sorted().joined(separator: "\n"))
    exit(0)
}
guard let bench = BenchmarkRegistry.all[name] else {
    FileHandle.standardError.write(Data("unknown benchmark '\(name)'; try `cogvideo-bench list`\n".utf8))
    exit(2)
}
do { try bench(Array(args.dropFirst())) } catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
