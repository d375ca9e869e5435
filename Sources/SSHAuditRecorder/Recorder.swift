import ArgumentParser
import Foundation
import SSHAuditBPF
import SSHAuditCore
import SSHAuditStore

extension TracerError: RuntimeFailure {}

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

    func validate() throws {
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
        let path = URL(fileURLWithPath: db).standardizedFileURL.path
        var store = try AuditStore.openForRecording(path: db)
        var lock = try RecorderLock(database: db)
        var databaseFile = FileIdentity.of(db)
        // Checked (and created 0600) before anything is attached; written from the first record on.
        let eventLog = try events.map { try EventLogWriter(path: $0, report: warn) }
        let pins = BPFTracer.pinDirectory(forDatabase: path)

        // A recorder killed earlier left its kernel state pinned, still tracing: continue it from the
        // last checkpoint stored, if both belong together (and trust the same sshd binaries).
        // Otherwise start afresh.
        let saved = try store.checkpoint()
        var resumed: (tracer: BPFTracer, checkpoint: Checkpoint)?
        if let saved, saved.programs == BPFTracer.programsFingerprint, FileManager.default.fileExists(atPath: pins),
           let tracer = try? BPFTracer(resuming: pins), tracer.ringMapID == saved.ringMapID {
            if tracer.ttyMode() != tty.mode.kernelValue {
                warn("the kernel state left by the previous run records terminals otherwise (--tty): starting afresh")
            } else if tracer.pinnedBinaries() == kernelBinaries {
                resumed = (tracer, saved)
            } else {
                warn("the kernel state left by the previous run trusts other sshd binaries: starting afresh")
            }
        }
        let tracer: BPFTracer
        if let resumed {
            tracer = resumed.tracer
            tracer.setTTYMaxBytes(UInt64(tty.max))
        } else {
            BPFTracer.removePins(pins)  // another build's or another file's: detach it
            tracer = try BPFTracer(pinDirectory: pins, sshdBinaries: kernelBinaries, ttyMode: tty.mode.kernelValue,
                                   ttyMaxBytes: UInt64(tty.max))
            if let failure = tracer.pinFailure {
                warn("\(failure); a crash of the recorder will lose the records not yet stored")
            }
        }
        let ids = try store.nextIDs()
        let bootToWall = Clock.bootToWallNs()
        var runID = try store.startRun(atNs: Clock.wallNs(), resumedFrom: resumed?.checkpoint.runID)

        func newWriter(_ store: AuditStore) -> BatchWriter {
            BatchWriter(store: store) { error in warn("database write failed, will retry: \(StoreError.reason(error))") }
        }
        // The correlator writes through this box, so SIGHUP can swap in a writer for a new file.
        let output = OutputBox(newWriter(store))
        let correlator = Correlator(
            bootToWallNs: bootToWall, firstIDs: ids, userName: Users.name(of:),
            binaryVersion: SSHDVersion.shared.of(pid:path:), namespaces: NamespaceLookup(NamespaceReader()),
            sink: output.enqueue)
        correlator.tty.maxBytesPerSession = tty.max
        correlator.tty.setFirstID(try store.nextTTYChunkID())
        var counters = AuditStore.RunCounters()
        // The kernel's loss counters live as long as its maps: each run counts from where it took over.
        var kernelBaseline = (ringFull: UInt64(0), mapFull: UInt64(0))
        var found = (listeners: [ProcEntry](), perConnection: [ProcEntry](), sessions: [SessionSeed]())

        var unattributedBaseline: UInt64 = 0
        let logChannels = LogChannels(tracer: tracer, warn: warn)
        if let (_, checkpoint) = resumed {
            try correlator.restore(checkpoint.state)
            kernelBaseline = (checkpoint.kernelRingFull, checkpoint.kernelMapFull)
            unattributedBaseline = correlator.unattributedEvents  // the killed run counted those
            // The kernel still follows the listeners; only where they log must be learnt again.
            for listener in ProcScan.sshdTree(ProcScan.processes(), trust: trust, connections: ProcScan.tcpConnections()).listeners {
                logChannels.seed(pid: listener.pid, argv: listener.argv)
            }
        } else {
            found = try seed(tracer: tracer, correlator: correlator, store: store, bootToWall: bootToWall,
                             trust: trust, logChannels: logChannels)
        }
        let sweep = ProcessSweep(correlator: correlator)
        logChannels.dropStale()
        /// What replaying an event log needs to start as this recorder did.
        func eventLogHeader(listeners: [ProcEntry], sessions: [SessionSeed]) -> EventLogHeader {
            EventLogHeader(bootToWallNs: bootToWall, users: Users.all(),
                           listeners: Dictionary(listeners.map { (String($0.pid), $0.exe ?? "") }, uniquingKeysWith: { a, _ in a }),
                           sessions: sessions)
        }
        eventLog?.begin(header: eventLogHeader(listeners: found.listeners, sessions: found.sessions))

        try tracer.setHandler { bytes in
            counters.events += 1
            eventLog?.append(bytes)
            guard let event = try? EventDecoder.decode(bytes) else {
                counters.decodeErrors += 1
                return
            }
            logChannels.observe(event)
            correlator.handle(event)
        }
        if let (_, checkpoint) = resumed { tracer.skip(to: checkpoint.position) }

        func fillCounters() {
            let losses = tracer.losses()
            counters.ringDrops = losses.ringFull &- kernelBaseline.ringFull
            counters.trackFailures = (losses.mapFull &- kernelBaseline.mapFull) &+ logChannels.failures
            counters.unattributedEvents = correlator.unattributedEvents - unattributedBaseline
            sweep.count(into: &counters)
        }
        /// Everything read so far, for the next run should this one be killed.
        var lastCheckpoint: UInt64?
        // About once a second; less often when the state is large, so that saving it costs at most
        // about 5% of a core.
        var checkpointInterval: TimeInterval = 1
        func checkpoint(force: Bool = false) {
            let position = tracer.readPosition
            guard force || position != lastCheckpoint, tracer.pinDirectory != nil else { return }
            let started = Date()
            defer { checkpointInterval = max(1, 20 * Date().timeIntervalSince(started)) }
            do {
                let losses = tracer.losses()
                output.writer.enqueue(checkpoint: Checkpoint(
                    runID: runID, atNs: Clock.wallNs(), programs: BPFTracer.programsFingerprint,
                    ringMapID: tracer.ringMapID, position: position, kernelRingFull: losses.ringFull,
                    kernelMapFull: losses.mapFull, events: counters.events, decodeErrors: counters.decodeErrors,
                    state: try correlator.checkpoint()))
                lastCheckpoint = position
            } catch {
                warn("cannot save the correlator's state: \(error)")
            }
        }
        checkpoint(force: true)

        let pinned = tracer.pinDirectory
        let stop = StopSignal {
            StopWatchdog.start(writer: { output.sharedWriter }, message: { writesFailing($0, pins: pinned) })
        }
        if let (_, checkpoint) = resumed {
            Stderr.line("sshaudit: recording to \(db) (resumed the kernel state of run \(checkpoint.runID): "
                        + "\(correlator.openSessionCount) open session(s))")
        } else {
            let census = SSHDCensus(listeners: found.listeners.count, perConnection: found.perConnection.count)
            Stderr.line("sshaudit: recording to \(db) (\(census.isEmpty ? census.summary + ", any started from now on is followed" : "sshd found: " + census.summary); "
                        + "\(found.sessions.count) open session(s) found)")
        }
        SystemdNotify.ready()

        var lastPrune = Date.distantPast
        var lastReport = Date()
        var lastLossCheck = Date()
        var lastCheckpointAt = Date()
        var lossesSeen = kernelBaseline
        var ttyLossesSeen = tracer.ttyLosses()
        var logChannelFailuresSeen = logChannels.failures
        var reopenDatabase = false
        while !stop.requested {
            tracer.poll(timeoutMs: 50)
            logChannels.retry()
            sweep.tick(tracer: tracer)
            if let committed = output.writer.committedPosition { tracer.release(upTo: committed) }
            if output.writer.failed {
                // Exit without releasing: a restart reads the records again from the last checkpoint.
                guard StopWatchdog.claimFailure() else { StopWatchdog.park() }
                throw RecorderFailure(writesFailing(output.writer, pins: tracer.pinDirectory))
            }
            if Date().timeIntervalSince(lastCheckpointAt) >= checkpointInterval {
                lastCheckpointAt = Date()
                checkpoint()
            }
            if let retain, Date().timeIntervalSince(lastPrune) >= 3600 {
                lastPrune = Date()
                do {
                    try store.prune(retaining: retain)
                } catch {
                    warn("pruning failed, will retry in an hour: \(StoreError.reason(error))")
                }
            }
            if Date().timeIntervalSince(lastLossCheck) >= 1 {
                // Flag the sessions open while the kernel lost something: their records may be partial.
                lastLossCheck = Date()
                let losses = tracer.losses()
                if losses.ringFull != lossesSeen.ringFull || losses.mapFull != lossesSeen.mapFull
                    || logChannels.failures != logChannelFailuresSeen || tracer.ttyLosses() != ttyLossesSeen {
                    correlator.noteLoss()
                    lossesSeen = losses
                    logChannelFailuresSeen = logChannels.failures
                    ttyLossesSeen = tracer.ttyLosses()
                }
                eventLog?.flush()  // the log trails by about a second at most
            }
            if stop.takeReopen() {
                if let eventLog {
                    // A rotated events log starts with the listeners running now; the sessions open
                    // at rotation continue in it without their beginning.
                    do {
                        let tree = ProcScan.sshdTree(ProcScan.processes(), trust: trust, connections: ProcScan.tcpConnections())
                        try eventLog.reopen(header: eventLogHeader(listeners: tree.listeners,
                                                                   sessions: []))
                    } catch {
                        warn("cannot reopen the events log: \(error); still writing to the old file")
                    }
                }
                // Only a database moved away is replaced (SIGHUP may be for the events log alone).
                reopenDatabase = FileIdentity.of(db) != databaseFile
                if reopenDatabase, output.writer.failingSince != nil {
                    warn("reopening \(db) waits until database writes succeed again")
                }
            }
            if reopenDatabase, output.writer.failingSince == nil {
                // Log rotation: finish the old file, continue in a new one at the same path with the
                // sessions still open (their rows again, so later rows have what they refer to).
                reopenDatabase = false
                checkpoint(force: true)
                // A batch given up must not be skipped by the new writer's checkpoints: stop instead.
                guard output.writer.close() else {
                    guard StopWatchdog.claimFailure() else { StopWatchdog.park() }
                    throw RecorderFailure(writesFailing(output.writer, pins: tracer.pinDirectory))
                }
                fillCounters()
                try? store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: true)
                do {
                    store = try AuditStore.openForRecording(path: db)
                    lock = try RecorderLock(database: db)
                    databaseFile = FileIdentity.of(db)
                    runID = try store.startRun(atNs: Clock.wallNs())
                    output.writer = newWriter(store)
                    for row in correlator.openRows() { output.enqueue(row) }
                    checkpoint(force: true)
                    warn("reopened \(db)")
                } catch {
                    warn("cannot reopen \(db): \(StoreError.reason(error)); still writing to the old file")
                    output.writer = newWriter(store)
                    checkpoint(force: true)
                }
            }
            if Date().timeIntervalSince(lastReport) > 5 {
                lastReport = Date()
                fillCounters()
                // A heartbeat: after a crash, stopped_at says when the recorder was last alive.
                try? store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: false)
            }
        }
        // A clean stop ends tracing, which drops what the kernel still holds: only once the database
        // holds everything read. Until then nothing is detached, released or cleared, and while writes
        // fail, StopWatchdog ends the process after a grace period, as a kill would.
        tracer.drain()
        checkpoint(force: true)
        let stored = output.writer.close()
        guard stored, StopWatchdog.claimCleanStop() else {
            guard StopWatchdog.claimFailure() else { StopWatchdog.park() }
            throw RecorderFailure(writesFailing(output.writer, pins: tracer.pinDirectory))
        }
        fillCounters()
        tracer.close(detach: true)
        eventLog?.close()
        do {
            try store.clearCheckpoint()
            try store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: true)
        } catch {
            throw RecorderFailure("stopped with every record stored and tracing ended, but the end of the run could not be "
                                  + "written: \(StoreError.reason(error))")
        }
        withExtendedLifetime(lock) {}
        Stderr.line(
            "sshaudit: stopped; \(counters.events) events, \(counters.ringDrops) lost in the kernel, "
            + "\(counters.trackFailures) processes not followed, \(counters.unattributedEvents) unattributed, "
            + "\(counters.decodeErrors) undecodable")
        if let note = store.integrity.summary { warn(note) }
        if correlator.tty.orphans > 0 {
            warn("\(correlator.tty.orphans) terminal record(s) of no open session were not stored")
        }
    }

    /// Why the recorder exits when database writes keep failing. It exits without detaching,
    /// releasing ring-buffer space or clearing its checkpoint, as if killed, so that the next start
    /// resumes from the checkpoint.
    private func writesFailing(_ writer: BatchWriter, pins: String?) -> String {
        let cause = writer.lastError.map(StoreError.reason) ?? "gave up"
        guard let pins else {
            return "database writes are failing (\(cause)); stopped, and the records not yet stored are lost "
                + "(the kernel state could not be pinned)"
        }
        return "database writes are failing (\(cause)); stopped with the kernel state kept pinned at \(pins): "
            + "the next start on this database resumes from its last stored checkpoint"
    }

    /// A fresh start: the sshd processes running now, from /proc. The programs are attached (events
    /// wait in the ring buffer until read), so a process started in between is seen by both, never by
    /// neither.
    private func seed(tracer: BPFTracer, correlator: Correlator, store: AuditStore, bootToWall: Int64,
                      trust: ListenerTrust, logChannels: LogChannels) throws
        -> (listeners: [ProcEntry], perConnection: [ProcEntry], sessions: [SessionSeed]) {
        let processes = ProcScan.processes()
        let connections = ProcScan.tcpConnections()
        let tree = ProcScan.sshdTree(processes, trust: trust, connections: connections)
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        let recovered = SessionRecovery.sessions(
            in: tree, connections: connections,
            ticksToWallNs: { Int64($0 * 1_000_000_000 / ticks) + bootToWall })
        for listener in tree.listeners {
            try tracer.track(pid: listener.pid, role: .listener)
            logChannels.seed(pid: listener.pid, argv: listener.argv)
            correlator.seedListener(pid: listener.pid, path: listener.exe)
        }
        let stderrListeners = Set(tree.listeners.filter {
            SSHDLogOptions(arguments: SSHDLogOptions.argv(fromTitle: $0.argv)).stderr
        }.map(\.pid))
        // Sessions the previous run left open: continued if their monitor still runs (same row, no
        // duplicate), otherwise closed as ended while nobody watched.
        var leftOpen = try store.openSessions()
        for session in recovered {
            let toStderr = session.listenerPid.map(stderrListeners.contains) ?? false
            // Authenticated without a user child: a root login on OpenSSH <= 9.7, whose monitor
            // carries the session's data.
            let serves = session.uid != nil && !session.processes.contains { $0.role == .userChild }
            try tracer.track(pid: session.monitor.pid, role: serves ? .sessionMonitor : .monitor, logsToStderr: toStderr)
            for process in session.processes { try tracer.track(pid: process.pid) }
        }
        // A monitor that exited between the /proc read and being tracked sent no exit event: only
        // sessions still alive now are continued.
        let alive = recovered.filter { ProcScan.isAlive(pid: $0.monitor.pid) }
        for session in alive {
            let match = leftOpen.firstIndex {
                $0.session.sshdPid == session.monitor.pid
                    && abs($0.session.startedAtNs - session.monitor.startedAtNs) < 50_000_000  // /proc: 10 ms ticks
            }
            let resuming = match.map { leftOpen.remove(at: $0) }
            correlator.seedSession(session, resuming: resuming.map { ($0.session, $0.openCommands) },
                                   channels: resuming.map { ($0.openChannels, $0.channelCount) } ?? ([], 0))
        }
        try store.markEndedUnobserved(leftOpen.map(\.session))
        return (tree.listeners, tree.perConnection, alive)
    }

}

func warn(_ message: String) {
    Stderr.line("sshaudit: \(message)")
}

final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private var current: BatchWriter
    init(_ writer: BatchWriter) { current = writer }

    /// For the recording thread, which alone replaces it.
    var writer: BatchWriter {
        get { current }
        set {
            lock.lock()
            current = newValue
            lock.unlock()
        }
    }

    /// For other threads (the stop watchdog).
    var sharedWriter: BatchWriter {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func enqueue(_ row: CorrelatorOutput) { current.enqueue(row) }
}

/// SIGINT/SIGTERM ask the recorder to flush and stop, SIGHUP to reopen the database and the events
/// log (log rotation); the flags are read between ring-buffer polls. `onStop` runs at the first stop
/// request, on another thread (the recording thread may be waiting on the disk).
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var reopen = false
    private var sources: [DispatchSourceSignal] = []

    init(onStop: @escaping () -> Void) {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let first = sig != SIGHUP && !self.flag
                if sig == SIGHUP { self.reopen = true } else { self.flag = true }
                self.lock.unlock()
                if first { onStop() }
            }
            source.resume()
            sources.append(source)
        }
    }

    func takeReopen() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let value = reopen
        reopen = false
        return value
    }

    var requested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return flag
    }
}

enum Users {
    static func name(of uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: pwd.pw_name)
    }

    /// uid → name for every local user (written into event logs so replays resolve names alike).
    static func all() -> [String: String] {
        var map: [String: String] = [:]
        setpwent()
        while let entry = getpwent() {
            map[String(entry.pointee.pw_uid)] = String(cString: entry.pointee.pw_name)
        }
        endpwent()
        return map
    }
}

/// Tells systemd (Type=notify) that recording has started, when run under it.
enum SystemdNotify {
    static func ready() {
        guard var path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: (abstract ? [0] : []) + bytes)
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 1 : 0))
        let message = Array("READY=1".utf8)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, 0, $0, len)
            }
        }
    }
}

/// One recorder per database: a second one would read the same pinned ring buffer. An advisory lock
/// on the database file, held while the process lives (never closed before exit: closing any
/// descriptor of the file would drop SQLite's own locks).
final class RecorderLock {
    let fd: Int32

    init(database: String) throws {
        fd = open(database, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RecorderFailure("cannot open \(database): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw RecorderFailure("another sshaudit record is already writing to \(database)")
        }
    }
}

struct RecorderFailure: Error, CustomStringConvertible, RuntimeFailure {
    let description: String
    init(_ description: String) { self.description = description }
}
