import Foundation

/// A one-line progress bar on stderr with rate and ETA, redrawn at most 10 times a second. Silent when `quiet`.
final class ProgressBar {
    let label: String
    let quiet: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let isTTY = isatty(STDERR_FILENO) != 0

    init(label: String, quiet: Bool) {
        self.label = label
        self.quiet = quiet
    }

    /// `done` of `total` units; `unit` formats amounts (bytes, steps).
    func update(_ done: Int, of total: Int, detail: String = "", rate formatter: ((Double) -> String)? = nil, force: Bool = false) {
        guard !quiet else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 || done >= total else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 28
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 && done < total ? Double(total - done) / rate : 0
        var line = "\(label) \(bar) \(String(format: "%3.0f%%", fraction * 100)) \(ProgressBar.time(elapsed))"
        if done < total { line += " ETA \(ProgressBar.time(eta))" }
        if let formatter { line += " " + formatter(rate) }
        if !detail.isEmpty { line += " " + detail }
        let out = isTTY ? "\r\u{1B}[K" + line : line + "\n"
        if isTTY || done >= total || force { FileHandle.standardError.write(Data(out.utf8)) }
    }

    func finish() {
        guard !quiet, isTTY else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func time(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// Writes a line to stderr.
func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
