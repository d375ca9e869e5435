import Foundation
import SSHAuditBPF
import SSHAuditCore
import SSHAuditStore

/// What `sshaudit record` was asked for, checked by the command line.
public struct RecorderOptions {
    /// Database file.
    public var db: String
    /// Prune sessions that ended longer ago than this, at start and hourly.
    public var retain: RetentionPeriod?
    /// Also write every raw kernel record to this file.
    public var events: String?
    /// Which sshd listeners count, for the start-up scan and (nil: any root-controlled sshd) the kernel.
    public var trust: ListenerTrust
    public var kernelBinaries: Set<KernelFileID>?
    public var ttyMode: TTYMode
    public var ttyMax: Int64
    /// How long the session hooks stay attached after the last session ended (SessionHookWatch).
    public var sessionHooksLinger: TimeInterval
    /// How far above the default CPU priority the recorder runs (SchedulingPriority): nice -boost.
    public var priorityBoost: Int32

    public init(db: String, retain: RetentionPeriod?, events: String?, trust: ListenerTrust,
                kernelBinaries: Set<KernelFileID>?, ttyMode: TTYMode, ttyMax: Int64, sessionHooksLinger: TimeInterval = 30,
                priorityBoost: Int32 = 4) {
        self.db = db
        self.retain = retain
        self.events = events
        self.trust = trust
        self.kernelBinaries = kernelBinaries
        self.ttyMode = ttyMode
        self.ttyMax = ttyMax
        self.sessionHooksLinger = sessionHooksLinger
        self.priorityBoost = priorityBoost
    }
}

/// The live recorder: the kernel's ring buffer through the pipeline (RecorderPipeline) into the
/// database until SIGINT or SIGTERM, with checkpoints to resume from after a kill, seeding from /proc,
/// heartbeats, SIGHUP reopening and the stop watchdog.
public struct Recorder {
    let options: RecorderOptions

    public init(_ options: RecorderOptions) { self.options = options }

    public func run() throws {
        // Before anything is attached: a stop asked for at any moment from here on is a clean stop.
        if !StopSignal.install() { warn("cannot install the signal handler: SIGINT and SIGTERM end the recorder as a kill would") }
        let (db, retain, events) = (options.db, options.retain, options.events)
        let (trust, kernelBinaries) = (options.trust, options.kernelBinaries)
        let tty = (mode: options.ttyMode, max: options.ttyMax)
        if let failure = SchedulingPriority.boost(by: options.priorityBoost) { warn(failure) }
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
            found = try Seeding.seed(tracer: tracer, correlator: correlator, store: store, bootToWall: bootToWall,
                             trust: trust, logChannels: logChannels)
        }
        let sweep = ProcessSweep(correlator: correlator)
        let hookWatch = SessionHookWatch(tracer: tracer, correlator: correlator, linger: options.sessionHooksLinger, warn: warn)
        hookWatch.tick()  // sessions found open (or resumed) are watched from the start
        logChannels.dropStale()
        /// What replaying an event log needs to start as this recorder did.
        func eventLogHeader(listeners: [ProcEntry], sessions: [SessionSeed]) -> EventLogHeader {
            EventLogHeader(bootToWallNs: bootToWall, users: Users.all(),
                           listeners: Dictionary(listeners.map { (String($0.pid), $0.exe ?? "") }, uniquingKeysWith: { a, _ in a }),
                           sessions: sessions)
        }
        eventLog?.begin(header: eventLogHeader(listeners: found.listeners, sessions: found.sessions))

        let repeats = FileRepeatFeed(tracer: tracer, correlator: correlator)
        // What the kernel counted of a process's file operations is handled (and logged) before its exit or exec.
        let pipeline = RecorderPipeline(correlator: correlator, tap: eventLog.map { log in { log.append($0) } },
                                        observe: logChannels.observe, before: repeats.before)
        let source = try RingSource(tracer: tracer, into: pipeline)
        if let (_, checkpoint) = resumed { tracer.skip(to: checkpoint.position) }

        func fillCounters() {
            counters.events = pipeline.events
            counters.decodeErrors = pipeline.undecodable
            let losses = tracer.losses()
            counters.ringDrops = losses.ringFull &- kernelBaseline.ringFull
            counters.trackFailures = (losses.mapFull &- kernelBaseline.mapFull) &+ logChannels.failures
            counters.unattributedEvents = correlator.unattributedEvents - unattributedBaseline
            sweep.count(into: &counters)
        }
        let checkpoints = Checkpoints(tracer: tracer, output: output, pipeline: pipeline, runID: runID)
        checkpoints.save(force: true)

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
        var lossesSeen = kernelBaseline
        var ttyLossesSeen = tracer.ttyLosses()
        var logChannelFailuresSeen = logChannels.failures
        var reopenDatabase = false
        while !stop.requested {
            _ = try source.pump()
            hookWatch.tick()
            correlator.flushCommandCounts()
            // Unpinned, nothing survives this process: no checkpoint to wait for.
            repeats.release(committed: tracer.pinDirectory == nil ? nil : output.writer.committedPosition ?? 0)
            logChannels.retry()
            sweep.tick(tracer: tracer)
            if let committed = output.writer.committedPosition { tracer.release(upTo: committed) }
            if output.writer.failed {
                // Exit without releasing: a restart reads the records again from the last checkpoint.
                guard StopWatchdog.claimFailure() else { StopWatchdog.park() }
                throw RecorderFailure(writesFailing(output.writer, pins: tracer.pinDirectory))
            }
            checkpoints.tick()
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
                for record in repeats.all() { record.withUnsafeBytes { pipeline.consume($0) } }
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
                checkpoints.save(force: true)
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
                    checkpoints.runID = runID
                    output.writer = newWriter(store)
                    for row in correlator.openRows() { output.enqueue(row) }
                    checkpoints.save(force: true)
                    warn("reopened \(db)")
                } catch {
                    warn("cannot reopen \(db): \(StoreError.reason(error)); still writing to the old file")
                    output.writer = newWriter(store)
                    checkpoints.save(force: true)
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
        for record in repeats.all() { record.withUnsafeBytes { pipeline.consume($0) } }
        // What the kernel counts of processes still alive (io_uring rings, 32-bit calls): their exit,
        // which would report it, goes unread.
        let now = UInt64(Clock.ns(CLOCK_BOOTTIME))
        for record in tracer.uringRecordsAtStop(nowNs: now) + tracer.compatRecordsAtStop(nowNs: now) {
            record.withUnsafeBytes { pipeline.consume($0) }
        }
        correlator.flushCommandCounts()
        checkpoints.save(force: true)
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
}
