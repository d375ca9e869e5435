import ArgumentParser
import Foundation
import SSHAuditBPF
import SSHAuditCore
import SSHAuditRecorder
import SSHAuditStore

extension TracerError: RuntimeFailure {}

/// `sshaudit record`: parses and checks the options; SSHAuditRecorder.Recorder records.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach to the kernel and record SSH sessions until SIGINT or SIGTERM.")

    @Option(help: "Database file.")
    var db: String = AuditStore.defaultPath

    @Option(help: ArgumentHelp("Prune sessions that ended longer ago than this, at start and hourly: "
                               + RetentionPeriod.help + ".", valueName: "PERIOD"))
    var retain: RetentionPeriod?

    @Option(help: ArgumentHelp("Also write every raw kernel record to FILE (for replay and test fixtures).",
                               valueName: "FILE"))
    var events: String?

    @Option(name: .customLong("sshd"), parsing: .upToNextOption, help: ArgumentHelp(
        "Trust only sshd listeners that run one of these executables (repeatable). Without it, a listener "
        + "is any process named sshd that runs as root (real and effective uid) from a file owned by root "
        + "that neither its group nor others may write; nothing else named sshd is followed. The files "
        + "are pinned by device and inode: restart the recorder after replacing one (an upgrade).",
        valueName: "PATH"))
    var sshdPaths: [String] = []

    @OptionGroup var ttyOptions: TTYOptions

    @Option(help: ArgumentHelp(
        "Seconds the session hooks (32-bit calls, file and network activity) stay attached after the last "
        + "session ended (0 to 3600). They cost every process on the machine, so they are attached only "
        + "while sessions are open; connections come in bursts.", valueName: "SECONDS"))
    var sessionHooksLinger: Double = 30

    @Option(help: ArgumentHelp(
        "Run this much above the default CPU priority (nice -N, 0 to 19; auditd's priority_boost), so that "
        + "a session saturating the machine does not starve the recorder while the kernel's buffer fills.",
        valueName: "N"))
    var priorityBoost: Int32 = 4

    func validate() throws {
        guard (0...3600).contains(sessionHooksLinger) else {
            throw ValidationError("--session-hooks-linger: between 0 and 3600 seconds")
        }
        guard (0...19).contains(priorityBoost) else { throw ValidationError("--priority-boost: between 0 and 19") }
        _ = try listenerTrust()
        _ = try ttyOptions.resolved()
    }

    /// Which sshd listeners count (--sshd): for the start-up scan, and the same files as the kernel
    /// programs name them (nil: no --sshd). A path that cannot be the trusted sshd is a usage error.
    func listenerTrust() throws -> (scan: ListenerTrust, kernel: Set<KernelFileID>?) {
        guard !sshdPaths.isEmpty else { return (ListenerTrust(), nil) }
        guard sshdPaths.count <= 64 else { throw ValidationError("--sshd: at most 64 executables") }  // sshd_binaries' size
        var files: Set<FileIdentity> = []
        var kernel: Set<KernelFileID> = []
        for path in sshdPaths {
            guard let file = FileStatus.of(path: path), let id = KernelFileID.of(path: path) else {
                throw ValidationError("--sshd \(path): \(String(cString: strerror(errno)))")
            }
            if let why = file.whyNotRootControlled {
                throw ValidationError("--sshd \(path): \(why), so it cannot be the trusted sshd")
            }
            files.insert(file.identity)
            kernel.insert(id)
        }
        return (ListenerTrust(binaries: files), kernel)
    }

    func run() throws {
        let (trust, kernelBinaries) = try listenerTrust()
        let tty = try ttyOptions.resolved()
        try Recorder(RecorderOptions(db: db, retain: retain, events: events, trust: trust, kernelBinaries: kernelBinaries,
                                     ttyMode: tty.mode, ttyMax: tty.max, sessionHooksLinger: sessionHooksLinger,
                                     priorityBoost: priorityBoost)).run()
    }
}
