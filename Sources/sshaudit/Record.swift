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

    func run() throws {
        let path = URL(fileURLWithPath: db).standardizedFileURL.path
        var store = try AuditStore.openForRecording(path: db)
        var lock = try RecorderLock(database: db)
        let pins = BPFTracer.pinDirectory(forDatabase: path)

        // A recorder killed earlier left its kernel state pinned, still tracing: continue it from the
        // last checkpoint stored, if both belong together. Otherwise start afresh.
        let saved = try store.checkpoint()
        var resumed: (tracer: BPFTracer, checkpoint: Checkpoint)?
        if let saved, saved.programs == BPFTracer.programsFingerprint, FileManager.default.fileExists(atPath: pins),
           let tracer = try? BPFTracer(resuming: pins), tracer.ringMapID == saved.ringMapID {
            resumed = (tracer, saved)
        }
        let tracer: BPFTracer
        if let resumed {
            tracer = resumed.tracer
        } else {
            BPFTracer.removePins(pins)  // another build's or another file's: detach it
            tracer = try BPFTracer(pinDirectory: pins)
            if let failure = tracer.pinFailure {
                warn("\(failure); a crash of the recorder will lose the records not yet stored")
            }
        }
        let ids = try store.nextIDs()
        let bootToWall = Clock.bootToWallNs()
        var runID = try store.startRun(atNs: Clock.wallNs(), resumedFrom: resumed?.checkpoint.runID)

        func newWriter(_ store: AuditStore) -> BatchWriter {
            BatchWriter(store: store) { error in warn("database write failed, will retry: \(error)") }
        }
        // The correlator writes through this box, so SIGHUP can swap in a writer for a new file.
        let output = OutputBox(newWriter(store))
        let correlator = Correlator(
            bootToWallNs: bootToWall, firstIDs: ids, userName: Users.name(of:),
            binaryVersion: SSHDVersion.shared.of(pid:path:), sink: output.enqueue)
        var counters = AuditStore.RunCounters()
        // The kernel's loss counters live as long as its maps: each run counts from where it took over.
        var kernelBaseline = (ringFull: UInt64(0), mapFull: UInt64(0))
        var found = (listeners: [ProcEntry](), sessions: [SessionSeed]())

        var unattributedBaseline: UInt64 = 0
        if let (_, checkpoint) = resumed {
            try correlator.restore(checkpoint.state)
            kernelBaseline = (checkpoint.kernelRingFull, checkpoint.kernelMapFull)
            unattributedBaseline = correlator.unattributedEvents  // the killed run counted those
        } else {
            found = try seed(tracer: tracer, correlator: correlator, store: store, bootToWall: bootToWall)
        }
        let eventLog = try events.map {
            try EventLogWriter(path: $0, header: EventLogHeader(
                bootToWallNs: bootToWall, users: Users.all(),
                listeners: Dictionary(found.listeners.map { (String($0.pid), $0.exe ?? "") }, uniquingKeysWith: { a, _ in a }),
                sessions: found.sessions))
        }

        try tracer.setHandler { bytes in
            counters.events += 1
            eventLog?.append(bytes)
            if !correlator.handle(record: bytes) { counters.decodeErrors += 1 }
        }
        if let (_, checkpoint) = resumed { tracer.skip(to: checkpoint.position) }

        func fillCounters() {
            let losses = tracer.losses()
            counters.ringDrops = losses.ringFull &- kernelBaseline.ringFull
            counters.trackFailures = losses.mapFull &- kernelBaseline.mapFull
            counters.unattributedEvents = correlator.unattributedEvents - unattributedBaseline
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

        let stop = StopSignal()
        if let (_, checkpoint) = resumed {
            FileHandle.standardError.write(Data((
                "sshaudit: recording to \(db) (resumed the kernel state of run \(checkpoint.runID): "
                + "\(correlator.openSessionCount) open session(s))\n").utf8))
        } else {
            FileHandle.standardError.write(Data(
                "sshaudit: recording to \(db) (\(found.listeners.count) sshd listener(s), \(found.sessions.count) open session(s) found)\n".utf8))
        }
        SystemdNotify.ready()

        var lastPrune = Date.distantPast
        var lastReport = Date()
        var lastLossCheck = Date()
        var lastCheckpointAt = Date()
        var lossesSeen = kernelBaseline
        while !stop.requested {
            tracer.poll(timeoutMs: 50)
            if let committed = output.writer.committedPosition { tracer.release(upTo: committed) }
            if output.writer.failed {
                // Exit without releasing: a restart reads the records again from the last checkpoint.
                throw RecorderFailure("database writes keep failing; stopping so that a restart continues from the last stored checkpoint")
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
                    warn("pruning failed, will retry in an hour: \(error)")
                }
            }
            if Date().timeIntervalSince(lastLossCheck) >= 1 {
                // Flag the sessions open while the kernel lost something: their records may be partial.
                lastLossCheck = Date()
                let losses = tracer.losses()
                if losses.ringFull != lossesSeen.ringFull || losses.mapFull != lossesSeen.mapFull {
                    correlator.noteLoss()
                    lossesSeen = losses
                }
            }
            if stop.takeReopen() {
                // Log rotation: finish the old file, continue in a new one at the same path with the
                // sessions still open (their rows again, so later rows have what they refer to).
                checkpoint(force: true)
                output.writer.close()
                fillCounters()
                try? store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: true)
                do {
                    store = try AuditStore.openForRecording(path: db)
                    lock = try RecorderLock(database: db)
                    runID = try store.startRun(atNs: Clock.wallNs())
                    output.writer = newWriter(store)
                    for row in correlator.openRows() { output.enqueue(row) }
                    checkpoint(force: true)
                    warn("reopened \(db)")
                } catch {
                    warn("cannot reopen \(db): \(error); still writing to the old file")
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
        // A clean stop ends tracing: detach the programs, store everything, and leave no checkpoint.
        tracer.drain()
        fillCounters()
        tracer.close(detach: true)
        output.writer.close()
        try? eventLog?.close()
        try store.clearCheckpoint()
        try store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: true)
        withExtendedLifetime(lock) {}
        FileHandle.standardError.write(Data((
            "sshaudit: stopped; \(counters.events) events, \(counters.ringDrops) lost in the kernel, "
            + "\(counters.trackFailures) processes not followed, \(counters.unattributedEvents) unattributed, "
            + "\(counters.decodeErrors) undecodable\n").utf8))
        if let note = store.integrity.summary { warn(note) }
    }

    /// A fresh start: the sshd processes running now, from /proc. The programs are attached (events
    /// wait in the ring buffer until read), so a process started in between is seen by both, never by
    /// neither.
    private func seed(tracer: BPFTracer, correlator: Correlator, store: AuditStore,
                      bootToWall: Int64) throws -> (listeners: [ProcEntry], sessions: [SessionSeed]) {
        let processes = ProcScan.processes()
        let tree = ProcScan.sshdTree(processes)
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        let recovered = SessionRecovery.sessions(
            in: tree, connections: ProcScan.tcpConnections(),
            ticksToWallNs: { Int64($0 * 1_000_000_000 / ticks) + bootToWall })
        for listener in tree.listeners {
            try tracer.track(pid: listener.pid, role: .listener)
            correlator.seedListener(pid: listener.pid, path: listener.exe)
        }
        // Sessions the previous run left open: continued if their monitor still runs (same row, no
        // duplicate), otherwise closed as ended while nobody watched.
        var leftOpen = try store.openSessions()
        for session in recovered {
            try tracer.track(pid: session.monitor.pid, role: .monitor)
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
            correlator.seedSession(session, resuming: resuming.map { ($0.session, $0.openCommands) })
        }
        try store.markEndedUnobserved(leftOpen.map(\.session))
        return (tree.listeners, alive)
    }

}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("sshaudit: \(message)\n".utf8))
}

final class OutputBox: @unchecked Sendable {
    var writer: BatchWriter
    init(_ writer: BatchWriter) { self.writer = writer }
    func enqueue(_ row: CorrelatorOutput) { writer.enqueue(row) }
}

/// SIGINT/SIGTERM ask the recorder to flush and stop, SIGHUP to reopen the database (log
/// rotation); the flags are read between ring-buffer polls.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var reopen = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                if sig == SIGHUP { self.reopen = true } else { self.flag = true }
                self.lock.unlock()
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

enum Clock {
    static func ns(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func wallNs() -> Int64 { ns(CLOCK_REALTIME) }

    /// Offset from the kernel's CLOCK_BOOTTIME timestamps to wall-clock time, taken once.
    static func bootToWallNs() -> Int64 {
        let before = ns(CLOCK_BOOTTIME)
        let wall = ns(CLOCK_REALTIME)
        let after = ns(CLOCK_BOOTTIME)
        return wall - (before + (after - before) / 2)
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

/// The OpenSSH release compiled into a running sshd binary ("OpenSSH_9.2p1 Debian-2+deb12u10"), read
/// from /proc/PID/exe (which also reaches binaries inside a chroot); nothing is executed. Cached per file.
final class SSHDVersion: @unchecked Sendable {
    static let shared = SSHDVersion()
    private var cache: [String: String?] = [:]

    func of(pid: UInt32, path: String) -> String? {
        let exe = "/proc/\(pid)/exe"
        var st = stat()
        guard stat(exe, &st) == 0 else { return nil }
        let key = "\(st.st_dev):\(st.st_ino):\(st.st_mtim.tv_sec)"
        if let known = cache[key] { return known }
        let version = (try? Data(contentsOf: URL(fileURLWithPath: exe))).flatMap(Self.find)
        cache[key] = version
        return version
    }

    static func find(in binary: Data) -> String? {
        let marker = Data("OpenSSH_".utf8)
        var from = binary.startIndex
        var fallback: String?
        while let r = binary.range(of: marker, in: from..<binary.endIndex) {
            var end = r.upperBound
            while end < binary.endIndex, binary[end] >= 0x20, binary[end] < 0x7f, end - r.lowerBound < 80 { end += 1 }
            let text = String(decoding: binary[r.lowerBound..<end], as: UTF8.self)
            from = r.upperBound
            // The release string is "OpenSSH_" + digits and dots + "p" + digits (+ a distribution's
            // suffix); "OpenSSH_9.2" alone is the protocol version, and the rest are compat patterns.
            let version = text.dropFirst(8)
            guard let first = version.first, first.isNumber, !text.contains("*"), !text.contains("%") else { continue }
            let number = version.prefix { $0.isNumber || $0 == "." }
            if version.dropFirst(number.count).first == "p" { return text }
            fallback = fallback ?? text
        }
        return fallback
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
