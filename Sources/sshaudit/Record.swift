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
        var store = try AuditStore.openForRecording(path: db)
        let tracer = try BPFTracer()
        let ids = try store.nextIDs()
        let bootToWall = Clock.bootToWallNs()
        var runID = try store.startRun(atNs: Clock.wallNs())

        func newWriter(_ store: AuditStore) -> BatchWriter {
            BatchWriter(store: store) { error in warn("database write failed, will retry: \(error)") }
        }
        // The correlator writes through this box, so SIGHUP can swap in a writer for a new file.
        let output = OutputBox(newWriter(store))
        let correlator = Correlator(
            bootToWallNs: bootToWall, firstIDs: ids, userName: Users.name(of:),
            binaryVersion: SSHDVersion.shared.of(pid:path:), sink: output.enqueue)
        // The programs are attached (events wait in the ring buffer until polled); now scan: a process
        // started in between is seen by both, never by neither.
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
        let eventLog = try events.map {
            try EventLogWriter(path: $0, header: EventLogHeader(
                bootToWallNs: bootToWall, users: Users.all(),
                listeners: Dictionary(tree.listeners.map { (String($0.pid), $0.exe ?? "") }, uniquingKeysWith: { a, _ in a }),
                sessions: alive))
        }

        var counters = AuditStore.RunCounters()
        try tracer.setHandler { bytes in
            counters.events += 1
            eventLog?.append(bytes)
            do {
                correlator.handle(try EventDecoder.decode(bytes))
            } catch {
                counters.decodeErrors += 1
            }
        }

        let stop = StopSignal()
        FileHandle.standardError.write(Data(
            "sshaudit: recording to \(db) (\(tree.listeners.count) sshd listener(s), \(alive.count) open session(s) found)\n".utf8))
        SystemdNotify.ready()

        var lastPrune = Date.distantPast
        var lastReport = Date()
        var lastLossCheck = Date()
        var lossesSeen = (ringFull: UInt64(0), mapFull: UInt64(0))
        while !stop.requested {
            tracer.poll(timeoutMs: 100)
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
                output.writer.close()
                fill(&counters, tracer.losses(), correlator)
                try? store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: true)
                do {
                    store = try AuditStore.openForRecording(path: db)
                    runID = try store.startRun(atNs: Clock.wallNs())
                    output.writer = newWriter(store)
                    for row in correlator.openRows() { output.enqueue(row) }
                    warn("reopened \(db)")
                } catch {
                    warn("cannot reopen \(db): \(error); still writing to the old file")
                    output.writer = newWriter(store)
                }
            }
            if Date().timeIntervalSince(lastReport) > 5 {
                lastReport = Date()
                fill(&counters, tracer.losses(), correlator)
                // A heartbeat: after a crash, stopped_at says when the recorder was last alive.
                try? store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: false)
            }
        }
        tracer.drain()
        fill(&counters, tracer.losses(), correlator)
        tracer.close()
        output.writer.close()
        try? eventLog?.close()
        try store.updateRun(runID, counters: counters, stoppedAtNs: Clock.wallNs(), clean: true)
        FileHandle.standardError.write(Data((
            "sshaudit: stopped; \(counters.events) events, \(counters.ringDrops) lost in the kernel, "
            + "\(counters.trackFailures) processes not followed, \(counters.unattributedEvents) unattributed, "
            + "\(counters.decodeErrors) undecodable\n").utf8))
    }

    private func fill(_ counters: inout AuditStore.RunCounters, _ losses: (ringFull: UInt64, mapFull: UInt64),
                      _ correlator: Correlator) {
        counters.ringDrops = losses.ringFull
        counters.trackFailures = losses.mapFull
        counters.unattributedEvents = correlator.unattributedEvents
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
