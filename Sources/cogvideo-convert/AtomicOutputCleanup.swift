import Foundation

/// On SIGINT/SIGTERM, removes the hidden temporary files of in-progress atomic writes (`.NAME.tmp-PID-*` in the
/// output's folder) before exiting, so an interrupted conversion leaves nothing behind. (SIGKILL cannot be caught:
/// then the hidden temporary remains, under a name no later run uses or reads.)
enum AtomicOutputCleanup {
    static func install() {
        // A parent may have spawned us with these signals blocked; unblock them so the handler runs.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { s in
                AtomicOutputCleanup.removeOwnTemporaries()
                _exit(128 + s)
            }
        }
    }

    /// Deletes `.*.tmp-<our pid>-*` files in the current directory and the folders named by our arguments.
    static func removeOwnTemporaries() {
        let pid = getpid()
        var folders = Set(["."])
        for a in CommandLine.arguments where a.hasSuffix(".gguf") || a.hasSuffix(".safetensors") {
            folders.insert((a as NSString).deletingLastPathComponent.isEmpty ? "." : (a as NSString).deletingLastPathComponent)
        }
        for f in folders {
            guard let items = try? FileManager.default.contentsOfDirectory(atPath: f) else { continue }
            for i in items where i.hasPrefix(".") && i.contains(".tmp-\(pid)-") {
                unlink((f as NSString).appendingPathComponent(i))
            }
        }
    }

    /// Deletes temporaries of `output` left by earlier runs that were killed (their process no longer exists).
    static func removeStaleTemporaries(of output: String) {
        let folder = (output as NSString).deletingLastPathComponent.isEmpty ? "." : (output as NSString).deletingLastPathComponent
        let prefix = "." + (output as NSString).lastPathComponent + ".tmp-"
        guard let items = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for i in items where i.hasPrefix(prefix) {
            let rest = i.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink((folder as NSString).appendingPathComponent(i)) }
        }
    }
}
