import Foundation
import SSHAuditCore

/// Tells the kernel programs where each trusted sshd writes its log (bpf/events.h, SA_LOG_*): the
/// file it opened for -E, and whether -e sends the log to its standard error. Syslog datagrams need
/// nothing from here.
///
/// It follows the listeners the kernel trusts: those the start-up scan found and those the kernel
/// reports starting (exec records flagged as a new root), with their children until they accept a
/// connection (sshd without -D goes on in a child). An sshd started for one connection (sshd -i,
/// flagged `connection`) is followed the same way: it has no listener, and it is its own monitor. The -E path is resolved inside the listener's
/// root and working directory at start (/proc/PID/root: sshd may run chrooted in another tree), and
/// the file is registered only once the listener holds it open: sshd opens it just after exec, so a
/// listener whose file is not there yet is tried again on each `retry()` and on its accepts.
public final class LogChannels {
    private struct Listener {
        var options: SSHDLogOptions
        /// Working directory at exec, inside the listener's root (nil: ask /proc now).
        var cwd: String?
        var accepted: Bool
        var file: KernelFileID?
        var attempts = 0
    }

    private let tracer: BPFTracer
    private let warn: (String) -> Void
    private var listeners: [UInt32: Listener] = [:]
    /// The files registered by this recorder.
    private var registered: Set<KernelFileID> = []
    /// Registrations the kernel's tables refused: that sshd's lines are not read.
    public private(set) var failures: UInt64 = 0

    public init(tracer: BPFTracer, warn: @escaping (String) -> Void) {
        self.tracer = tracer
        self.warn = warn
    }

    /// A listener found running by the start-up scan (its argv read from its process title).
    public func seed(pid: UInt32, argv: [String]) {
        add(pid: pid, startNs: 0, Listener(options: SSHDLogOptions(arguments: SSHDLogOptions.argv(fromTitle: argv)),
                                           cwd: nil, accepted: true))
    }

    /// Forgets the files a killed recorder registered for listeners that are gone (call after `seed`).
    public func dropStale() {
        for file in tracer.watchedLogFiles() where !registered.contains(file) { tracer.unwatchLogFile(file) }
    }

    /// Follows the listeners through the event stream (called with every event, before the correlator).
    public func observe(_ event: Event) {
        let pid = event.process.tgid
        switch event.kind {
        case let .exec(info) where info.newRoot || listeners[pid] != nil:
            // A new listener, or one re-executing itself (SIGHUP): its options and file may be new.
            // A per-connection sshd forks only its connection's processes: none of them goes on listening.
            add(pid: pid, startNs: event.process.startNs,
                Listener(options: SSHDLogOptions(arguments: info.argv), cwd: info.cwd,
                         accepted: info.connection || (listeners[pid]?.accepted ?? false)))
        case let .fork(child):
            guard let parent = listeners[pid], !parent.accepted else { return }
            add(pid: child.tgid, startNs: child.startNs, parent)
        case .accept:
            guard listeners[pid] != nil else { return }
            listeners[pid]?.accepted = true
            resolve(pid)
        case .exit:
            listeners.removeValue(forKey: pid)
        default:
            return
        }
    }

    /// Tries again for listeners whose log file could not be registered yet: often at first, then
    /// about every 40 calls (the recorder calls this every 50 ms).
    public func retry() {
        for (pid, listener) in listeners where listener.options.logFile != nil && listener.file == nil {
            if listener.attempts < 40 || listener.attempts % 40 == 0 {
                resolve(pid)
            } else {
                listeners[pid]?.attempts += 1
            }
        }
    }

    private func add(pid: UInt32, startNs: UInt64, _ listener: Listener) {
        listeners[pid] = listener
        if listener.options.stderr {
            do {
                try tracer.logToStderr(pid: pid, startNs: startNs)
            } catch {
                failures += 1
                warn("\(error); the log lines of sshd \(pid) are not read")
            }
        }
        if listener.file == nil { resolve(pid) }
    }

    private func resolve(_ pid: UInt32) {
        guard var listener = listeners[pid], let path = listener.options.logFile, listener.file == nil else { return }
        listener.attempts += 1
        defer { listeners[pid] = listener }
        guard let file = Self.openLogFile(pid: pid, path: path, cwd: listener.cwd) else {
            if listener.attempts == 40 {
                warn("sshd \(pid) logs to \(path), which it does not hold open as sshaudit resolves it; its log lines are not read until it does")
            }
            return
        }
        if !registered.contains(file) {
            do {
                try tracer.watchLogFile(file)
            } catch {
                failures += 1
                warn("\(error); the log lines of sshd \(pid) in \(path) are not read")
                listener.options.logFile = nil  // not again for every event
                return
            }
            registered.insert(file)
        }
        listener.file = file
    }

    /// The file at `path` as sshd `pid` sees it (inside its root; relative to `cwd` or its working
    /// directory), if it is a regular file that sshd holds open.
    static func openLogFile(pid: UInt32, path: String, cwd: String?) -> KernelFileID? {
        let proc = "/proc/\(pid)"
        let target: String
        if path.hasPrefix("/") {
            target = proc + "/root" + path
        } else if let cwd {
            target = proc + "/root" + (cwd.hasSuffix("/") ? cwd : cwd + "/") + path
        } else {
            target = proc + "/cwd/" + path
        }
        guard let file = FileStatus.of(path: target), file.mode & 0o170000 == 0o100000 else { return nil }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: proc + "/fd")) ?? []
        guard let fd = fds.first(where: { FileStatus.of(path: proc + "/fd/" + $0)?.identity == file.identity }) else { return nil }
        return KernelFileID.of(descriptor: fd, process: String(pid), file: file.identity)
    }
}
