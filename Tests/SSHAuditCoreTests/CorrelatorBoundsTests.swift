import Foundation
import XCTest
@testable import SSHAuditCore

/// The correlator's bounds (CorrelatorBounds) and its sweep of processes whose exit was lost, on the
/// recorded real-sshd streams: small bounds give up exactly what they say, count it and flag the
/// sessions concerned; the default bounds never touch an ordinary recording.
extension CorrelatorTests {
    static let unlimited: CorrelatorBounds = {
        var b = CorrelatorBounds()
        b.processes = 1 << 30; b.sessions = 1 << 30; b.commands = 1 << 30; b.commandBytes = 1 << 40
        b.connections = 1 << 30; b.awaitingBytes = 1 << 30; b.transfers = 1 << 30; b.pendingAccepts = 1 << 30
        b.listenerPaths = 1 << 30; b.userNames = 1 << 30; b.networkRows = 1 << 30
        b.channels = 1 << 30
        return b
    }()

    struct Replayed {
        var outputs: [CorrelatorOutput] = []
        var sessions: [Int64: SessionRecord] = [:]
        var commands: [Int64: CommandRecord] = [:]
        var sizes: [[String: Int]] = []
    }

    /// `events` through a correlator set up as for `log`, with `bounds`; the sizes of its tables
    /// after every event.
    static func run(_ log: EventLog, _ events: [Event], bounds: CorrelatorBounds) -> (Correlator, Replayed) {
        var r = Replayed()
        let correlator = Correlator.replaying(log, bounds: bounds) { output in
            r.outputs.append(output)
            switch output {
            case let .session(s): r.sessions[s.id] = s
            case let .command(c): r.commands[c.id] = c
            default: break
            }
        }
        for event in events {
            correlator.handle(event)
            r.sizes.append(correlator.tableSizes)
        }
        return (correlator, r)
    }

    func testDefaultBoundsNeverTouchARecordedLogin() throws {
        for name in Fixture.names {
            let log = try Fixture.load(name)
            let events = try log.events()
            let (bounded, a) = Self.run(log, events, bounds: CorrelatorBounds())
            let (_, b) = Self.run(log, events, bounds: Self.unlimited)
            XCTAssertEqual(bounded.overflows, 0, name)
            XCTAssertTrue(a.outputs == b.outputs, name)
        }
    }

    // Running commands beyond the bound give up their end: the oldest first, each counted, and the
    // sessions of exactly those commands flagged. No command is lost, none is misattributed.
    func testRunningCommandsBeyondTheBoundLoseTheirEndOnly() throws {
        // A login shell runs while its profile's commands and the typed ones run.
        let log = try Fixture.load("interactive_tty")
        let events = try log.events()
        var bounds = CorrelatorBounds()
        bounds.commands = 1
        let (correlator, small) = Self.run(log, events, bounds: bounds)
        let (_, whole) = Self.run(log, events, bounds: Self.unlimited)
        XCTAssertEqual(whole.sizes.map { $0["openCommands"]! }.max(), 2)
        XCTAssertLessThanOrEqual(small.sizes.map { $0["openCommands"]! }.max()!, 1)

        let unended = small.commands.values.filter { $0.endedAtNs == nil }
        XCTAssertFalse(unended.isEmpty)
        XCTAssertEqual(correlator.overflows, UInt64(unended.count))
        XCTAssertEqual(Set(small.sessions.values.filter(\.drops).map(\.id)), Set(unended.map(\.sessionID)))
        XCTAssertEqual(small.commands.count, whole.commands.count)
        for (id, c) in small.commands {
            var expected = try XCTUnwrap(whole.commands[id])
            if c.endedAtNs == nil { expected.endedAtNs = nil; expected.exitCode = nil; expected.signal = nil }
            XCTAssertEqual(c, expected)
        }

        // The same by bytes: a budget that holds about one command's argv, path and cwd.
        bounds = CorrelatorBounds()
        bounds.commandBytes = 700
        let (byBytes, tight) = Self.run(log, events, bounds: bounds)
        XCTAssertGreaterThan(byBytes.overflows, 0)
        let largest = whole.commands.values.map(\.heldBytes).max()!
        XCTAssertLessThanOrEqual(tight.sizes.map { $0["commandBytes"]! }.max()!, max(700, largest))
        XCTAssertEqual(tight.commands.count, whole.commands.count)
    }

    // Open sessions beyond the bound: the oldest give up their later updates (flagged), while their
    // processes go on reporting into them, so every command keeps its session.
    func testOpenSessionsBeyondTheBoundGiveUpTheOldest() throws {
        let log = try Fixture.load("parallel_10")
        let events = try log.events()
        var bounds = CorrelatorBounds()
        bounds.sessions = 3
        let (correlator, small) = Self.run(log, events, bounds: bounds)
        let (_, whole) = Self.run(log, events, bounds: Self.unlimited)
        XCTAssertLessThanOrEqual(small.sizes.map { $0["sessions"]! }.max()!, 3)
        let given = small.sessions.values.filter(\.drops)
        XCTAssertFalse(given.isEmpty)
        XCTAssertEqual(correlator.overflows, UInt64(given.count))
        XCTAssertEqual(small.sessions.count, 10, "every connection is a session")
        XCTAssertTrue(small.commands == whole.commands, "commands keep their session")
        for s in small.sessions.values where !s.drops {
            XCTAssertEqual(s, whole.sessions[s.id], "sessions never given up are whole")
        }
    }

    // Processes beyond the bound are not followed, as the kernel's full map does not follow them:
    // counted, their sessions flagged, and nothing is invented or misattributed for them.
    func testProcessesBeyondTheBoundAreNotFollowed() throws {
        let log = try Fixture.load("parallel_10")
        let events = try log.events()
        var bounds = CorrelatorBounds()
        bounds.processes = 12
        let (correlator, small) = Self.run(log, events, bounds: bounds)
        let (_, whole) = Self.run(log, events, bounds: Self.unlimited)
        XCTAssertLessThanOrEqual(small.sizes.map { $0["procs"]! + $0["seeded"]! }.max()!, 12)
        XCTAssertGreaterThan(correlator.overflows, 0)
        XCTAssertLessThan(small.commands.count, whole.commands.count)
        // What is recorded is true: each command is one of the unbounded run's, in the session of
        // the same connection.
        let truth = Dictionary(whole.commands.values.map { ("\($0.pid) \($0.startedAtNs) \($0.argv)", $0) }) { a, _ in a }
        for c in small.commands.values {
            let real = try XCTUnwrap(truth["\(c.pid) \(c.startedAtNs) \(c.argv)"], "\(c)")
            XCTAssertEqual(small.sessions[c.sessionID]?.remote, whole.sessions[real.sessionID]?.remote)
        }
        // A connection whose monitor was not followed has no session: it is among those counted.
        XCTAssertLessThanOrEqual(UInt64(10 - small.sessions.count), correlator.overflows)
        // Sessions that lost a process are flagged.
        let lostIn = Set(whole.commands.values.filter { c in !small.commands.values.contains { $0.pid == c.pid && $0.argv == c.argv } }
            .compactMap { whole.sessions[$0.sessionID]?.remote?.port })
        for s in small.sessions.values where lostIn.contains(s.remote!.port) { XCTAssertTrue(s.drops, "\(s)") }
    }

    // Connections awaiting their byte counters beyond the bound: the oldest give them up (flagged);
    // a session's row that waits for its counters only waits while its socket is followed.
    func testAwaitedConnectionsBeyondTheBoundGiveUpTheirBytes() throws {
        let log = try Fixture.load("parallel_10")
        let events = try log.events()
        var bounds = CorrelatorBounds()
        bounds.connections = 2
        let (correlator, small) = Self.run(log, events, bounds: bounds)
        XCTAssertLessThanOrEqual(small.sizes.map { $0["sessionBySocket"]! }.max()!, 2)
        XCTAssertTrue(small.sizes.allSatisfy { $0["awaitingBytes"]! <= $0["sessionBySocket"]! })
        let flagged = small.sessions.values.filter(\.drops)
        XCTAssertFalse(flagged.isEmpty)
        XCTAssertEqual(correlator.overflows, UInt64(flagged.count))
        XCTAssertTrue(flagged.allSatisfy { $0.bytesIn == nil })
        XCTAssertTrue(small.sessions.values.filter { !$0.drops }.allSatisfy { $0.bytesIn != nil })
    }

    /// `events` with the exits of every process but the listeners taken out, as a kernel that lost
    /// them would deliver; every other process gets start times `round` × 1000 s later and time moves
    /// on, so that each round is new processes (the same pids, as after pid reuse).
    static func withoutExits(_ events: [Event], listeners: Set<UInt32>, round: UInt64) -> [Event] {
        let shift = round * 1_000_000_000_000
        func moved(_ key: ProcessKey) -> ProcessKey {
            listeners.contains(key.tgid) ? key : ProcessKey(tgid: key.tgid, startNs: key.startNs + shift)
        }
        return events.compactMap { event in
            if case .exit = event.kind { return nil }
            var e = event
            e.process = moved(e.process)
            e.timestampNs += shift
            if case let .fork(child) = e.kind { e.kind = .fork(child: moved(child)) }
            return e
        }
    }

    // A real recording whose exit events were lost (the kernel's ring buffer overflowed): without a
    // sweep every process, command and session stays held for good, round after round; the sweep
    // ends them (commands without exit code, sessions ended unobserved and flagged), and the bound on
    // processes caps what is held in between.
    func testLostExitsAreHeldUntilSweptAndNeverBeyondTheBound() throws {
        let log = try Fixture.load("parallel_10")
        let events = try log.events()
        let listeners = Set(log.header.listeners.keys.compactMap(UInt32.init))
        let rounds = 6

        // Before: nothing ever leaves.
        var held: [Int] = []
        let leaking = Correlator.replaying(log) { _ in }
        for round in 0..<rounds {
            for e in Self.withoutExits(events, listeners: listeners, round: UInt64(round)) { leaking.handle(e) }
            held.append(leaking.trackedProcesses.filter { !listeners.contains($0.tgid) }.count)
        }
        let perRound = try XCTUnwrap(held.first)
        XCTAssertGreaterThan(perRound, 30)
        XCTAssertEqual(held, (1...rounds).map { $0 * perRound }, "grows by one recording's processes per round")
        XCTAssertEqual(leaking.openSessionCount, 10 * rounds)

        // With a sweep after each round (the recording is over: only the listeners still run).
        var sessions: [Int64: SessionRecord] = [:], commands: [Int64: CommandRecord] = [:]
        let swept = Correlator.replaying(log) { output in
            if case let .session(s) = output { sessions[s.id] = s }
            if case let .command(c) = output { commands[c.id] = c }
        }
        for round in 0..<rounds {
            let roundEvents = Self.withoutExits(events, listeners: listeners, round: UInt64(round))
            for e in roundEvents { swept.handle(e) }
            let at = Int64(roundEvents.last!.timestampNs) + log.header.bootToWallNs + 1_000_000_000
            XCTAssertEqual(swept.sweep(atNs: at) { listeners.contains($0.tgid) }, perRound)
            XCTAssertEqual(swept.trackedProcesses.filter { !listeners.contains($0.tgid) }, [])
            XCTAssertEqual(swept.openSessionCount, 0)
            // The commands whose exit was lost end when they were found gone, without exit status.
            for c in commands.values where c.endedAtNs == at { XCTAssertNil(c.exitCode); XCTAssertNil(c.signal) }
        }
        XCTAssertEqual(swept.unobservedExits, UInt64(rounds * perRound))
        XCTAssertEqual(sessions.count, 10 * rounds)
        XCTAssertTrue(sessions.values.allSatisfy { $0.drops && $0.endedUnobserved && $0.endedAtNs == nil })
        XCTAssertTrue(commands.values.allSatisfy { $0.endedAtNs != nil }, "no command left running")
        XCTAssertEqual(commands.values.filter { $0.exitCode == nil && $0.signal == nil }.count, commands.count,
                       "every exit was lost: no exit status is invented")
        XCTAssertEqual(swept.tableSizes["openCommands"], 0)
        XCTAssertEqual(swept.tableSizes["commandBytes"], 0)

        // Without a sweep but with a bound: never more held than the bound, the rest counted.
        var bounds = CorrelatorBounds()
        bounds.processes = 2 * perRound
        let (capped, r) = Self.run(log, (0..<rounds).flatMap { Self.withoutExits(events, listeners: listeners, round: UInt64($0)) },
                                   bounds: bounds)
        XCTAssertLessThanOrEqual(r.sizes.map { $0["procs"]! + $0["seeded"]! }.max()!, 2 * perRound)
        XCTAssertGreaterThan(capped.overflows, 0)
    }

    // A sweep ends only the processes that are gone, and a process found gone that exits later (its
    // exit was on its way after all) is no invention: nothing is attributed to it twice.
    func testSweepEndsOnlyTheGone() throws {
        let log = try Fixture.load("exec_command")
        let events = try log.events()
        // Stop right after the shell's child `ls` exec'd: monitor, user child, shell and ls run.
        let cut = try XCTUnwrap(events.firstIndex { if case let .exec(info) = $0.kind { info.filename == "/bin/ls" } else { false } })
        var commands: [Int64: CommandRecord] = [:]
        let c = Correlator.replaying(log) { if case let .command(r) = $0 { commands[r.id] = r } }
        for e in events[...cut] { c.handle(e) }
        let ls = events[cut].process
        let before = Set(c.trackedProcesses)
        XCTAssertEqual(c.sweep(atNs: 42) { $0 != ls }, 1)
        XCTAssertEqual(Set(c.trackedProcesses), before.subtracting([ls]))
        let lsCommand = try XCTUnwrap(commands.values.first { $0.argv == ["/bin/ls", "/"] })
        XCTAssertEqual(lsCommand.endedAtNs, 42)
        XCTAssertNil(lsCommand.exitCode)
        XCTAssertNil(commands.values.first { $0.argv.first == "bash" }?.endedAtNs, "the shell still runs")
        XCTAssertEqual(c.unobservedExits, 1)
    }

    // A connection's close that never comes (lost in the kernel): the ended session waits for its
    // byte counts no longer than TCP could take to close, then gives them up (counted, flagged).
    func testAnEndedSessionWaitsForItsLostCloseNoLongerThanTCP() throws {
        let log = try Fixture.load("exec_command")
        let events = try log.events().filter { if case .connectionClosed = $0.kind { false } else { true } }
        var sessions: [Int64: SessionRecord] = [:]
        let c = Correlator.replaying(log) { if case let .session(s) = $0 { sessions[s.id] = s } }
        for e in events { c.handle(e) }
        XCTAssertEqual(c.tableSizes["awaitingBytes"], 1)
        let ended = try XCTUnwrap(sessions.values.first?.endedAtNs)
        c.sweep(atNs: ended + 60_000_000_000) { _ in true }
        XCTAssertEqual(c.tableSizes["awaitingBytes"], 1, "a minute: the close may still come")
        c.sweep(atNs: ended + 16 * 60_000_000_000) { _ in true }
        XCTAssertEqual(c.tableSizes["awaitingBytes"], 0)
        XCTAssertEqual(c.tableSizes["sessionBySocket"], 0)
        XCTAssertEqual(c.overflows, 1)
        XCTAssertEqual(sessions.values.first?.drops, true)
        XCTAssertNil(sessions.values.first?.bytesIn)
    }

    /// sshd's tree up to a user process that execs `program` in `cwd` (a logged-in session), as events.
    static func session(user: ProcessKey, program: String, cwd: String) -> [Event] {
        func ev(_ key: ProcessKey, _ kind: EventKind, uid: UInt32 = 0) -> Event {
            Event(process: key, ppid: 1, uid: uid, timestampNs: 100, comm: "sshd", kind: kind)
        }
        let listener = ProcessKey(tgid: 10, startNs: 1), monitor = ProcessKey(tgid: 20, startNs: 2)
        let child = ProcessKey(tgid: 21, startNs: 3)
        return [
            // Only a started sshd (the kernel reports only the real one) becomes a listener.
            ev(listener, .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["/usr/sbin/sshd"], newRoot: true))),
            ev(listener, .accept(local: Endpoint(address: "127.0.0.1", port: 22), remote: Endpoint(address: "127.0.0.9", port: 5), socket: 1)),
            ev(listener, .fork(child: monitor)), ev(monitor, .fork(child: child)),
            ev(child, .cred(ruid: 1000, euid: 1000, suid: 1000)), ev(child, .fork(child: user)),
            ev(user, .exec(ExecInfo(filename: program, argv: [program], cwd: cwd)), uid: 1000),
        ]
    }

    /// What a correlator put out, by row.
    final class TransferOutputs {
        var transfers: [Int64: TransferRecord] = [:]
        var sessions: [Int64: SessionRecord] = [:]
        func take(_ output: CorrelatorOutput) {
            if case let .transfer(t) = output { transfers[t.id] = t }
            if case let .session(s) = output { sessions[s.id] = s }
        }
    }

    static let sftpServer = ProcessKey(tgid: 30, startNs: 4)

    /// A correlator bounded to `transferBound` transfers, in which a session's sftp-server
    /// (`sftpServer`, working directory /home/u) has started.
    static func sftpServerSession(transferBound: Int) -> (Correlator, TransferOutputs) {
        var bounds = CorrelatorBounds()
        bounds.transfers = transferBound
        let out = TransferOutputs()
        let c = Correlator(bootToWallNs: 0, bounds: bounds, userName: { _ in "u" }, sink: out.take)
        for e in session(user: sftpServer, program: "/usr/lib/openssh/sftp-server", cwd: "/home/u") { c.handle(e) }
        return (c, out)
    }

    // The kernel reports close calls only: a transfer server that exits with files open (a user can
    // run any program named like one) left them held for good. Now its exit lets them go, and open
    // files beyond the bound give up the oldest (counted, flagged). Paths resolve against the exec's
    // working directory; a forked child has none and inherits the server's name.
    func testTransferFilesLeftOpenAreNotHeldPastExit() {
        let (c, out) = Self.sftpServerSession(transferBound: 4)
        let server = Self.sftpServer, helper = ProcessKey(tgid: 31, startNs: 5)
        func ev(_ key: ProcessKey, _ kind: EventKind) -> Event {
            Event(process: key, ppid: 21, uid: 1000, timestampNs: 200, comm: "sftp-server", kind: kind)
        }
        for fd in Int32(3)..<6 { c.handle(ev(server, .fileOpened(fd: fd, flags: 0, path: "f\(fd)"))) }
        c.handle(ev(server, .fork(child: helper)))
        c.handle(ev(helper, .fileOpened(fd: 3, flags: 1, path: "up")))
        XCTAssertEqual(c.tableSizes["openTransfers"], 4)
        XCTAssertEqual(c.overflows, 0)
        XCTAssertEqual(out.transfers.values.map(\.path).sorted(), ["/home/u/f3", "/home/u/f4", "/home/u/f5", "/up"])
        XCTAssertTrue(out.transfers.values.allSatisfy { $0.proto == "sftp" })

        c.handle(ev(server, .fileOpened(fd: 6, flags: 0, path: "f6")))  // a fifth: the oldest gives up its close
        XCTAssertLessThanOrEqual(c.tableSizes["openTransfers"]!, 4)
        XCTAssertEqual(c.overflows, 1)
        XCTAssertEqual(out.sessions.values.first?.drops, true)

        c.handle(ev(helper, .exit(status: 0)))
        c.handle(ev(server, .exit(status: 0)))
        XCTAssertEqual(c.tableSizes["openTransfers"], 0, "nothing held past their exits")
    }

    /// sftp-server's uploads wait for a rename (HeldUpload). A recursive put of more files than the
    /// bound stores the oldest under the name written, which is their final one: nothing counted as
    /// lost, no session flagged. A rename gives the final name; a name written twice is two rows.
    func testSftpServerUploadsBeyondTheBoundAreStoredAsWritten() {
        let (c, out) = Self.sftpServerSession(transferBound: 4)
        let server = Self.sftpServer
        func ev(_ kind: EventKind) -> Event {
            Event(process: server, ppid: 21, uid: 1000, timestampNs: 200, comm: "sftp-server", kind: kind)
        }
        func put(_ path: String, size: UInt64) {
            c.handle(ev(.fileOpened(fd: 3, flags: 1, path: path)))
            c.handle(ev(.fileClosed(fd: 3, position: size, size: size)))
        }
        put("x.part", size: 7)
        c.handle(ev(.fileChange(FileChange(op: .rename, path: "/home/u/x.part", newPath: "/home/u/x"))))
        put("twice", size: 1)
        put("twice", size: 2)
        for i in 0..<6 { put("tree/f\(i)", size: UInt64(10 + i)) }
        XCTAssertLessThanOrEqual(c.tableSizes["heldUploads"]!, 4)
        c.handle(ev(.exit(status: 0)))

        let rows = out.transfers.values.sorted { $0.id < $1.id }
        XCTAssertEqual(rows.map(\.path), ["/home/u/x", "/home/u/twice", "/home/u/twice"] + (0..<6).map { "/home/u/tree/f\($0)" })
        XCTAssertEqual(rows.map(\.bytesWritten), [7, 1, 2, 10, 11, 12, 13, 14, 15])
        XCTAssertTrue(rows.allSatisfy { $0.closedAtNs != nil && $0.mode == .write }, "\(rows)")
        XCTAssertEqual(c.tableSizes["heldUploads"], 0, "nothing held past the exit")
        XCTAssertEqual(c.overflows, 0)
        XCTAssertEqual(out.sessions.values.first?.drops, false)
    }

    // Only a would-be listener holds its path: a user's processes hold none (the bytes a user
    // chooses), and paths held are bounded too.
    func testOnlyWouldBeListenersHoldTheirPath() throws {
        let c = Correlator(bootToWallNs: 0, userName: { _ in "u" }) { _ in }
        let user = ProcessKey(tgid: 30, startNs: 4)
        let long = "/tmp/" + String(repeating: "\u{1}", count: 400) + "/tool"
        for e in Self.session(user: user, program: long, cwd: "/" + String(repeating: "\u{1}", count: 400)) { c.handle(e) }
        let state = try JSONSerialization.jsonObject(with: c.checkpoint()) as? [String: Any]
        let procs = try XCTUnwrap(state?["procs"] as? [Any])
        // The listener (a started sshd) holds its path; nothing of the user's does.
        let paths = procs.compactMap { ($0 as? [String: Any])?["path"] as? String }
        XCTAssertEqual(paths, ["/usr/sbin/sshd"], "\(procs)")
        XCTAssertEqual(c.tableSizes["pathHolders"], 1)

        var bounds = CorrelatorBounds()
        bounds.listenerPaths = 2
        let d = Correlator(bootToWallNs: 0, bounds: bounds, userName: { _ in nil }) { _ in }
        for pid in UInt32(1)...4 {
            d.handle(Event(process: ProcessKey(tgid: pid, startNs: 9), ppid: 1, uid: 0, timestampNs: 1, comm: "sshd",
                           kind: .exec(ExecInfo(filename: "/opt/\(pid)/sshd", argv: ["sshd"], newRoot: true))))
        }
        XCTAssertEqual(d.tableSizes["pathHolders"], 2)
        XCTAssertEqual(d.overflows, 2)
        for pid in UInt32(1)...4 {
            d.handle(Event(process: ProcessKey(tgid: pid, startNs: 9), ppid: 1, uid: 0, timestampNs: 2, comm: "sshd", kind: .exit(status: 0)))
        }
        XCTAssertEqual(d.tableSizes["pathHolders"], 0)
    }

    // A checkpoint restores the bookkeeping of the bounds too: the restored correlator holds and
    // gives up exactly what the original does.
    func testBoundsContinueAcrossACheckpoint() throws {
        let log = try Fixture.load("parallel_10")
        let events = try log.events()
        var bounds = CorrelatorBounds()
        bounds.commands = 3
        bounds.sessions = 4
        bounds.commandBytes = 2_000
        var whole: [CorrelatorOutput] = []
        let reference = Correlator.replaying(log, bounds: bounds) { whole.append($0) }
        var before: [Int] = []
        for e in events { before.append(whole.count); reference.handle(e) }
        for cut in stride(from: 0, to: events.count, by: max(1, events.count / 17)) {
            let first = Correlator.replaying(log, bounds: bounds) { _ in }
            for e in events[..<cut] { first.handle(e) }
            var rest: [CorrelatorOutput] = []
            let users = log.header.users
            let restored = Correlator(bootToWallNs: 0, bounds: bounds, userName: { users[String($0)] }) { rest.append($0) }
            try restored.restore(first.checkpoint())
            XCTAssertEqual(restored.tableSizes, first.tableSizes)
            for e in events[cut...] { restored.handle(e) }
            XCTAssertTrue(rest == Array(whole[before[cut]...]), "cut at \(cut)")
            XCTAssertEqual(restored.overflows, reference.overflows)
        }
    }
}

/// The correlator filled to every bound with the largest entries the recorded can make (argv, cwd and
/// file names of control characters, which JSON writes six bytes each), at a sixteenth of the default
/// bounds: what it holds and its checkpoint stay within the README's figures (divided alike).
final class CorrelatorFullStateTests: XCTestCase {
    /// README: a checkpoint of a full state takes at most 64 MiB.
    static let checkpointBound = 64 << 20

    func testAFullStateAndItsCheckpointAreBounded() throws {
        let scale = 16
        var b = CorrelatorBounds()
        b.processes /= scale; b.sessions /= scale; b.commands /= scale; b.commandBytes /= scale
        b.connections /= scale; b.awaitingBytes /= scale; b.transfers /= scale; b.listenerPaths /= scale
        b.userNames /= scale; b.channels /= scale
        let c = Correlator(bootToWallNs: 0, bounds: b, userName: { "user-\($0)" }) { _ in }
        let ctl = { (n: Int) in String(repeating: "\u{1}", count: n) }
        c.seedListener(pid: 1, path: "/usr/sbin/sshd")
        let listener = ProcessKey(tgid: 1, startNs: 0)
        var t: UInt64 = 1, pid: UInt32 = 100
        func ev(_ key: ProcessKey, _ kind: EventKind, uid: UInt32 = 0) -> Event {
            t += 1
            return Event(process: key, ppid: 1, uid: uid, timestampNs: t, comm: "sshd", kind: kind)
        }
        func next() -> ProcessKey { pid += 1; return ProcessKey(tgid: pid, startNs: UInt64(pid)) }
        var shells: [ProcessKey] = []
        // Sessions (more than fit, and more than fit while their bytes are awaited), each with a
        // running command of the largest cwd, many arguments, and files open by transfer servers.
        for s in 0..<(b.sessions + b.awaitingBytes + b.sessions / 8) {
            let m = next(), child = next(), shell = next()
            c.handle(ev(listener, .accept(local: Endpoint(address: "127.0.0.1", port: 22),
                                          remote: Endpoint(address: "203.0.113.\(s % 250)", port: UInt16(s % 60000)), socket: UInt64(s + 1))))
            c.handle(ev(listener, .fork(child: m)))
            c.handle(ev(m, .log(source: .file, text: "Accepted publickey for user-\(s) from 203.0.113.9 port 4242 ssh2: ED25519 SHA256:ipg4kuTASAQnH1GTrTfC2oZbsGYuUwvfRNsJd3a7Mss\r\n")))
            c.handle(ev(m, .fork(child: child)))
            let uid = UInt32(1000 + s % (2 * b.userNames))
            c.handle(ev(child, .cred(ruid: uid, euid: uid, suid: uid), uid: uid))
            c.handle(ev(child, .fork(child: shell), uid: uid))
            let sftp = s % 4 == 0
            let argv = ["sh"] + (0..<40).map { _ in ctl(10) }
            c.handle(ev(shell, .exec(ExecInfo(filename: sftp ? "/usr/lib/openssh/sftp-server" : "/bin/" + ctl(100), argv: argv,
                                              tty: "pts/\(s)", cwd: "/" + ctl(510))), uid: uid))
            if sftp { c.handle(ev(shell, .fileOpened(fd: 3, flags: 0, path: ctl(255)), uid: uid)) }
            if s % 3 == 0 {
                for k in [shell, child, m] { c.handle(ev(k, .exit(status: 0), uid: uid)) }
            } else {
                shells.append(shell)
            }
        }
        var i = 0
        while c.tableSizes["procs"]! + c.tableSizes["seeded"]! < b.processes {
            c.handle(ev(shells[i % shells.count], .fork(child: next()), uid: 1000))
            i += 1
        }
        let sizes = c.tableSizes
        let limits = ["procs": b.processes, "sessions": b.sessions, "openCommands": b.commands, "commandBytes": b.commandBytes,
                      "sessionBySocket": b.connections, "awaitingBytes": b.awaitingBytes, "openTransfers": b.transfers,
                      "pathHolders": b.listenerPaths, "userNames": b.userNames, "pendingAccept": b.pendingAccepts,
                      "channels": b.channels]
        for (table, limit) in limits { XCTAssertLessThanOrEqual(sizes[table]!, limit, table) }
        XCTAssertEqual(sizes["procs"], b.processes)
        XCTAssertGreaterThanOrEqual(sizes["sessionBySocket"]!, b.connections - CorrelatorBounds.slack(b.connections))
        XCTAssertGreaterThan(sizes["commandBytes"]!, b.commandBytes * 3 / 4, "the running commands reached their budget")
        XCTAssertGreaterThan(c.overflows, 0)

        let checkpoint = try c.checkpoint()
        print("a full state at 1/\(scale) of the bounds: \(sizes), checkpoint \(checkpoint.count) bytes")
        XCTAssertLessThanOrEqual(checkpoint.count, Self.checkpointBound / scale)
        let restored = Correlator(bootToWallNs: 0, bounds: b, userName: { _ in nil }) { _ in }
        try restored.restore(checkpoint)
        XCTAssertEqual(restored.tableSizes, sizes)
        XCTAssertEqual(try restored.checkpoint().count, checkpoint.count)
    }

    // The checkpoint writes large tables a chunk at a time: what it writes reads back as the table.
    func testChunkedTablesReadBackWhole() throws {
        var procs: [ProcessKey: Int] = [:], names: [Int64: String?] = [:]
        for i in 0..<3_500 {
            procs[ProcessKey(tgid: UInt32(i), startNs: UInt64(i) * 7)] = i
            names[Int64(i)] = i % 5 == 0 ? nil : "n\(i)"
        }
        var out = Data()
        try Correlator.appendJSON(procs, to: &out, chunk: 1_000)
        XCTAssertEqual(try JSONDecoder().decode([ProcessKey: Int].self, from: out), procs)
        out = Data()
        try Correlator.appendJSON(names, to: &out, chunk: 1_000)
        XCTAssertEqual(try JSONDecoder().decode([Int64: String?].self, from: out), names)
        out = Data()
        try Correlator.appendJSON([ProcessKey: Int](), to: &out, chunk: 1)
        XCTAssertEqual(try JSONDecoder().decode([ProcessKey: Int].self, from: out), [:])
    }
}
