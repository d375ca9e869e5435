import Foundation
import XCTest
@testable import SSHAuditCore

/// Event streams recorded from a real OpenSSH 9.2 sshd with `sshaudit record --events`
/// (Fixtures/record-fixtures.sh), replayed through the correlator.
enum Fixture {
    static let names = ["exec_command", "interactive_tty", "parallel_10", "failed_password",
                        "openssh10_exec_command", "openssh10_interactive_tty", "openssh10_failed_password",
                        "network_activity", "refusals", "channels"]

    static func load(_ name: String) throws -> EventLog {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "events", subdirectory: "Fixtures"))
        return try EventLog(contentsOf: url)
    }

    /// The final version of every row, in first-seen order.
    static func auth(_ outputs: [CorrelatorOutput]) -> [AuthRecord] {
        outputs.compactMap { if case let .auth(a) = $0 { return a } else { return nil } }
    }

    static func events(_ outputs: [CorrelatorOutput]) -> [SessionEventRecord] {
        outputs.compactMap { if case let .sessionEvent(e) = $0 { return e } else { return nil } }
    }

    static func replay(_ name: String) throws -> (sessions: [SessionRecord], commands: [CommandRecord], outputs: [CorrelatorOutput]) {
        let log = try load(name)
        var outputs: [CorrelatorOutput] = []
        let correlator = Correlator.replaying(log) { outputs.append($0) }
        for event in try log.events() { correlator.handle(event) }
        var sessions: [Int64: SessionRecord] = [:], commands: [Int64: CommandRecord] = [:]
        var sessionOrder: [Int64] = [], commandOrder: [Int64] = []
        for output in outputs {
            switch output {
            case let .session(s): if sessions.updateValue(s, forKey: s.id) == nil { sessionOrder.append(s.id) }
            case let .command(c): if commands.updateValue(c, forKey: c.id) == nil { commandOrder.append(c.id) }
            case .auth, .transfer, .sessionEvent, .fileActivity, .network, .ttyChunk, .refusal, .channel: break
            }
        }
        return (sessionOrder.map { sessions[$0]! }, commandOrder.map { commands[$0]! }, outputs)
    }
}

final class CorrelatorTests: XCTestCase {
    func testExecCommandSession() throws {
        let (sessions, commands, outputs) = try Fixture.replay("exec_command")
        XCTAssertEqual(sessions.count, 1)
        let s = try XCTUnwrap(sessions.first)
        XCTAssertEqual(s.user, "sa_alice")
        XCTAssertEqual(s.authMethod, "publickey")
        XCTAssertEqual(s.keyFingerprint?.hasPrefix("SHA256:"), true)
        let auth = Fixture.auth(outputs)
        XCTAssertEqual(auth.map(\.result), [.accepted])
        XCTAssertEqual(auth.first?.keyType, "ED25519")
        XCTAssertEqual(auth.first?.keyFingerprint, s.keyFingerprint)
        XCTAssertEqual(auth.first?.remote, s.remote)
        XCTAssertNotNil(s.uid)
        XCTAssertEqual(s.remote?.address, "127.0.0.1")
        XCTAssertEqual(s.local, Endpoint(address: "127.0.0.1", port: 22390))
        XCTAssertEqual(s.sshdPath, "/usr/sbin/sshd")
        XCTAssertEqual(s.exitCode, 3)
        XCTAssertEqual(s.commandCount, 2)
        let authenticated = try XCTUnwrap(s.authenticatedAtNs), ended = try XCTUnwrap(s.endedAtNs)
        XCTAssertLessThan(s.startedAtNs, authenticated)
        XCTAssertLessThan(authenticated, ended)

        XCTAssertEqual(commands.map(\.argv), [["bash", "-c", "echo hello; /bin/ls / >/dev/null; exit 3"], ["/bin/ls", "/"]])
        XCTAssertEqual(commands.map(\.exitCode), [3, 0])
        XCTAssertEqual(commands.map(\.sessionID), [s.id, s.id])
        XCTAssertEqual(commands[1].parentID, commands[0].id)
        XCTAssertEqual(commands[1].ppid, commands[0].pid)
        XCTAssertTrue(commands.allSatisfy { $0.uid == s.uid && $0.endedAtNs != nil && $0.cwd == "/home/sa_alice" })
        XCTAssertNil(s.tty)
        XCTAssertGreaterThan(s.bytesIn ?? 0, 1000)
        XCTAssertGreaterThan(s.bytesOut ?? 0, 1000)
    }

    func testInteractiveSessionLeavesOutMotdScripts() throws {
        let (sessions, commands, _) = try Fixture.replay("interactive_tty")
        XCTAssertEqual(sessions.count, 1)
        XCTAssertEqual(sessions[0].user, "sa_alice")
        XCTAssertEqual(sessions[0].exitCode, 0)
        XCTAssertEqual(sessions[0].tty?.hasPrefix("pts/"), true)
        XCTAssertNotNil(sessions[0].bytesIn)
        // Login shell, its profile (id -u, dircolors), the typed `id -u`, then .bash_logout.
        XCTAssertEqual(commands.map(\.argv), [["-bash"], ["id", "-u"], ["dircolors", "-b"], ["id", "-u"],
                                              ["/usr/bin/clear_console", "-q"]])
        XCTAssertEqual(commands.map(\.exitCode), [0, 0, 0, 0, 1])
        let shell = commands[0]
        XCTAssertTrue(commands.dropFirst().allSatisfy { $0.parentID == shell.id && $0.ppid == shell.pid })
        XCTAssertEqual(sessions[0].commandCount, 5)
    }

    func testTenParallelSessionsEachWithItsCommand() throws {
        let (sessions, commands, outputs) = try Fixture.replay("parallel_10")
        XCTAssertEqual(sessions.count, 10)
        XCTAssertEqual(Set(sessions.compactMap { $0.remote?.port }).count, 10, "each its own client port")
        XCTAssertTrue(sessions.allSatisfy { $0.user == "sa_bob" && $0.exitCode == 0 && $0.endedAtNs != nil })
        XCTAssertEqual(Fixture.auth(outputs).map(\.result), Array(repeating: .accepted, count: 10))
        XCTAssertEqual(Set(Fixture.auth(outputs).map(\.sessionID)), Set(sessions.map(\.id)))
        var seen: [String] = []
        for s in sessions {
            let own = commands.filter { $0.sessionID == s.id }
            // bash -c with one simple command execs it in place: two commands, one pid.
            XCTAssertEqual(own.count, 2, "\(own)")
            XCTAssertEqual(own.first?.argv.prefix(2), ["bash", "-c"])
            XCTAssertEqual(own.first?.pid, own.last?.pid)
            XCTAssertNil(own.first?.exitCode, "replaced by exec: no exit status of its own")
            XCTAssertEqual(own.first?.endedAtNs, own.last?.startedAtNs)
            XCTAssertEqual(own.last?.exitCode, 0)
            seen.append(own.last?.argv.joined(separator: " ") ?? "")
        }
        XCTAssertEqual(seen.sorted(), (0..<10).map { "/bin/echo par-\($0)" })
    }

    func testFailedPasswordIsASessionWithoutUserOrCommands() throws {
        let (sessions, commands, outputs) = try Fixture.replay("failed_password")
        XCTAssertEqual(sessions.count, 1)
        let auth = Fixture.auth(outputs)
        // One row per credential tried; how the connection ended is a fact of the connection.
        XCTAssertEqual(auth.map(\.result), [.failed])
        XCTAssertEqual(auth.map(\.user), ["sa_bob"])
        XCTAssertEqual(auth.map(\.method), ["password"])
        XCTAssertTrue(auth.allSatisfy { $0.sessionID == sessions[0].id && $0.remote == sessions[0].remote })
        XCTAssertEqual(Fixture.events(outputs).map { "\($0.kind.rawValue) \($0.detail ?? "-") \($0.sessionID)" },
                       ["closed_before_auth sa_bob \(sessions[0].id)"])
        let s = sessions[0]
        XCTAssertNil(s.user)
        XCTAssertNil(s.uid)
        XCTAssertNil(s.authenticatedAtNs)
        XCTAssertNotNil(s.endedAtNs)
        XCTAssertEqual(s.remote?.address, "127.0.0.1")
        XCTAssertTrue(commands.isEmpty)
    }

    // OpenSSH 10.0 (Debian 13): sshd-session and sshd-auth binaries, and PAM's unix_chkpwd forked by
    // the monitor after setting all three uids to 0 — not the user child, which shows when it execs.
    func testOpenSSH10ExecCommand() throws {
        let (sessions, commands, outputs) = try Fixture.replay("openssh10_exec_command")
        XCTAssertEqual(sessions.count, 1)
        let s = sessions[0]
        XCTAssertEqual(s.user, "sa_alice")
        XCTAssertEqual(s.sshdPath, "/usr/lib/openssh/sshd-session")
        XCTAssertEqual(s.exitCode, 3)
        XCTAssertEqual(Fixture.auth(outputs).map(\.result), [.accepted])
        XCTAssertEqual(Fixture.auth(outputs).first?.method, "publickey")
        XCTAssertLessThan(Fixture.auth(outputs)[0].atNs, try XCTUnwrap(s.authenticatedAtNs), "accepted, then the user child")
        XCTAssertEqual(commands.map(\.argv), [["bash", "-c", "echo hello; /bin/ls / >/dev/null; exit 3"], ["/bin/ls", "/"]])
        XCTAssertFalse(commands.contains { $0.filename.contains("unix_chkpwd") || $0.filename.contains("sshd-auth") })
    }

    func testOpenSSH10InteractiveAndFailedPassword() throws {
        let tty = try Fixture.replay("openssh10_interactive_tty")
        XCTAssertEqual(tty.sessions.map(\.user), ["sa_alice"])
        XCTAssertEqual(tty.sessions[0].tty?.hasPrefix("pts/"), true)
        XCTAssertEqual(tty.commands.first?.argv, ["-bash"])
        XCTAssertEqual(tty.commands.last?.argv, ["/usr/bin/clear_console", "-q"])
        XCTAssertEqual(tty.commands.filter { $0.argv == ["id", "-u"] }.last?.cwd, "/tmp")

        let failed = try Fixture.replay("openssh10_failed_password")
        XCTAssertEqual(failed.sessions.count, 1)
        XCTAssertNil(failed.sessions[0].user, "unix_chkpwd ran as root, nobody logged in")
        XCTAssertNil(failed.sessions[0].authenticatedAtNs)
        XCTAssertEqual(Fixture.auth(failed.outputs).map(\.result), [.failed])
        XCTAssertEqual(Fixture.events(failed.outputs).map(\.kind), [.closedBeforeAuth])
        XCTAssertTrue(failed.commands.isEmpty)
    }

    // sshd -i started per connection by systemd-socket-activate --inetd -a (OpenSSH 9.2,
    // Fixtures/record-fixtures-inetd.sh): no listener. Each sshd's exec (flagged: a connection on
    // its stdin) opens its session, the accept record after it gives the connection. Other sshds on
    // the machine were recorded too: only this port's sessions count.
    func testInetdModeSessionsWithoutAListener() throws {
        let (all, commands, outputs) = try Fixture.replay("inetd_logins")
        let sessions = all.filter { $0.local?.port == 22509 }
        XCTAssertEqual(sessions.map(\.user), ["sa_alice", nil, nil])
        XCTAssertTrue(sessions.allSatisfy { $0.listenerPid == nil && $0.remote?.address == "127.0.0.1" && $0.sshdPath == "/usr/sbin/sshd" })
        XCTAssertTrue(sessions.allSatisfy { $0.bytesIn != nil && $0.endedAtNs != nil && $0.closed })
        XCTAssertEqual(Set(sessions.compactMap { $0.remote?.port }).count, 3)
        let s = sessions[0]
        XCTAssertEqual(s.authMethod, "publickey")
        XCTAssertEqual(s.exitCode, 3)
        XCTAssertEqual(commands.filter { $0.sessionID == s.id }.map(\.argv),
                       [["bash", "-c", "echo hello; /bin/ls / >/dev/null; exit 3"], ["/bin/ls", "/"]])
        let ids = Set(sessions.map(\.id))
        let auth = Fixture.auth(outputs).filter { ids.contains($0.sessionID) }
        // One attempt per credential tried; how the other two connections ended are their events.
        XCTAssertEqual(auth.map { "\($0.result) \($0.method ?? "-") \($0.user ?? "-")" },
                       ["accepted publickey sa_alice", "failed password sa_bob", "failed password mallory"])
        XCTAssertEqual(Fixture.events(outputs).filter { ids.contains($0.sessionID) }.map { "\($0.kind.rawValue) \($0.detail ?? "-")" },
                       ["closed_before_auth sa_bob", "invalid_user mallory", "closed_before_auth mallory"])
        XCTAssertTrue(auth.allSatisfy { a in !a.addrMismatch && a.remote == sessions.first { $0.id == a.sessionID }?.remote })
    }

    func testReplayIsDeterministicAndIDsContinue() throws {
        let first = try Fixture.replay("parallel_10").outputs
        XCTAssertEqual(first, try Fixture.replay("parallel_10").outputs)

        let log = try Fixture.load("exec_command")
        var outputs: [CorrelatorOutput] = []
        let correlator = Correlator.replaying(log, firstIDs: RowIDs(session: 500, command: 9000, auth: 70)) { outputs.append($0) }
        for event in try log.events() { correlator.handle(event) }
        let sessionIDs = Set(outputs.compactMap { if case let .session(s) = $0 { return s.id } else { return nil } })
        let commandIDs = Set(outputs.compactMap { if case let .command(c) = $0 { return c.id } else { return nil } })
        XCTAssertEqual(sessionIDs, [500])
        XCTAssertEqual(commandIDs, [9000, 9001])
        XCTAssertEqual(Fixture.auth(outputs).map(\.id), [70])
    }

    func testProcessesLeaveStateWhenTheyExit() throws {
        let log = try Fixture.load("exec_command")
        let correlator = Correlator.replaying(log) { _ in }
        for event in try log.events() { correlator.handle(event) }
        XCTAssertEqual(correlator.openSessionCount, 0)
        XCTAssertEqual(correlator.trackedProcesses, [], "the listener exited at the end of the recording too")
    }

    func testRecordedLoginsLeaveNothingUnattributed() throws {
        for name in Fixture.names {
            let log = try Fixture.load(name)
            var sessions: [Int64: SessionRecord] = [:]
            let correlator = Correlator.replaying(log) { if case let .session(s) = $0 { sessions[s.id] = s } }
            for event in try log.events() { correlator.handle(event) }
            XCTAssertEqual(correlator.unattributedEvents, 0, name)
            XCTAssertFalse(sessions.isEmpty, name)
            XCTAssertEqual(sessions.values.filter(\.unattributedEvents).map(\.id), [], name)
        }
    }

    // A real recording with the fork of one session's shell taken out, as a kernel loss would: the
    // shell's events belong to no known process. Nothing is invented for them, they are counted, and
    // exactly the sessions open at that moment are flagged.
    func testLostForkFlagsTheSessionsOpenAtThatMoment() throws {
        let log = try Fixture.load("parallel_10")
        let events = try log.events()
        let complete = try Fixture.replay("parallel_10")
        // The last fork whose child goes on to exec as a user (uid != 0): a session's shell.
        let lost = try XCTUnwrap(events.lastIndex { fork in
            guard case let .fork(child) = fork.kind else { return false }
            return events.contains { $0.process == child && $0.uid != 0 && { if case .exec = $0.kind { true } else { false } }($0) }
        })
        guard case let .fork(orphan) = events[lost].kind else { return XCTFail() }
        // The orphan and everything it starts.
        var lostTree: Set<ProcessKey> = [orphan]
        for event in events[(lost + 1)...] {
            if case let .fork(child) = event.kind, lostTree.contains(event.process) { lostTree.insert(child) }
        }
        let orphanEvents = events[(lost + 1)...].filter { lostTree.contains($0.process) }
        let firstOrphanNs = Int64(bitPattern: try XCTUnwrap(orphanEvents.first).timestampNs) &+ log.header.bootToWallNs

        var sessions: [Int64: SessionRecord] = [:]
        var commands: [Int64: CommandRecord] = [:]
        let correlator = Correlator.replaying(log) { output in
            switch output {
            case let .session(s): sessions[s.id] = s
            case let .command(c): commands[c.id] = c
            default: break
            }
        }
        for (i, event) in events.enumerated() where i != lost { correlator.handle(event) }

        XCTAssertEqual(correlator.unattributedEvents, UInt64(orphanEvents.count))
        XCTAssertFalse(commands.values.contains { c in lostTree.contains { $0.tgid == c.pid } }, "no command invented for the orphans")
        let openThen = Set(complete.sessions.filter {
            $0.startedAtNs <= firstOrphanNs && ($0.endedAtNs ?? .max) >= firstOrphanNs
        }.map(\.id))
        XCTAssertFalse(openThen.isEmpty)
        XCTAssertLessThan(openThen.count, complete.sessions.count, "some sessions had ended or not begun: the test tells them apart")
        XCTAssertEqual(Set(sessions.values.filter(\.unattributedEvents).map(\.id)), openThen)
    }

    // One role enum serves the correlator's checkpoints and the /proc scan's event-log headers: both
    // spellings written before it (checkpoints: "userChild"; headers: "user_child") still read, and
    // an unknown role is an error, not a guess.
    func testRolesWrittenBeforeTheyWereOneEnumStillRead() throws {
        let old = Data(#"["userChild","user_child","monitorChild","preauth","unknown"]"#.utf8)
        XCTAssertEqual(try JSONDecoder().decode([ProcessRole].self, from: old),
                       [.userChild, .userChild, .monitorChild, .preauth, .unknown])
        XCTAssertEqual(String(decoding: try JSONEncoder().encode([ProcessRole.userChild]), as: UTF8.self), #"["userChild"]"#)
        XCTAssertThrowsError(try JSONDecoder().decode([ProcessRole].self, from: Data(#"["root"]"#.utf8)))
        // Event-log headers keep their spelling, so a binary from before reads the logs this one writes.
        let seed = ProcessSeed(pid: 2, ppid: 1, role: .userChild, argv: ["sshd: alice"], exe: nil, uid: 1000, startedAtNs: 5)
        let header = String(decoding: try JSONEncoder().encode(seed), as: UTF8.self)
        XCTAssertTrue(header.contains(#""role":"user_child""#), header)
        XCTAssertEqual(try JSONDecoder().decode(ProcessSeed.self, from: Data(header.utf8)), seed)
    }

    // A recorder killed anywhere and restarted from its last checkpoint: a correlator restored from
    // the checkpoint and fed the rest of the stream emits exactly what the uninterrupted one did.
    func testACheckpointAnywhereContinuesExactly() throws {
        for name in Fixture.names {
            let log = try Fixture.load(name)
            let events = try log.events()
            var whole: [CorrelatorOutput] = []
            let reference = Correlator.replaying(log) { whole.append($0) }
            var emittedBefore: [Int] = []
            for event in events {
                emittedBefore.append(whole.count)
                reference.handle(event)
            }
            for cut in stride(from: 0, through: events.count, by: max(1, events.count / 23)) {
                let first = Correlator.replaying(log) { _ in }
                for event in events[..<cut] { first.handle(event) }
                let saved = try first.checkpoint()
                var rest: [CorrelatorOutput] = []
                let users = log.header.users
                let restored = Correlator(bootToWallNs: 0, userName: { users[String($0)] }) { rest.append($0) }
                try restored.restore(saved)
                for event in events[cut...] { restored.handle(event) }
                let expected = cut < events.count ? Array(whole[emittedBefore[cut]...]) : []
                XCTAssertTrue(rest == expected, "\(name) cut at event \(cut): \(rest.count) rows, expected \(expected.count)")
                XCTAssertEqual(restored.openSessionCount, reference.openSessionCount)
                XCTAssertEqual(restored.unattributedEvents, reference.unattributedEvents)
            }
        }
    }

    // Synthetic: a recycled pid with another start time never joins the old session.
    func testRecycledPidIsANewProcess() {
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { _ in "u" }) { outputs.append($0) }
        let listener = ProcessKey(tgid: 10, startNs: 1)
        func ev(_ key: ProcessKey, _ kind: EventKind, uid: UInt32 = 0, comm: String = "sshd") -> Event {
            Event(process: key, ppid: 1, uid: uid, timestampNs: 100, comm: comm, kind: kind)
        }
        let monitor = ProcessKey(tgid: 20, startNs: 2), child = ProcessKey(tgid: 21, startNs: 3)
        let shell = ProcessKey(tgid: 22, startNs: 4)
        c.handle(ev(listener, .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["/usr/sbin/sshd", "-D"], newRoot: true))))
        c.handle(ev(listener, .accept(local: Endpoint(address: "127.0.0.1", port: 22), remote: Endpoint(address: "127.0.0.9", port: 5), socket: 1)))
        c.handle(ev(listener, .fork(child: monitor)))
        c.handle(ev(monitor, .fork(child: child)))
        c.handle(ev(child, .cred(ruid: 1000, euid: 1000, suid: 1000)))
        c.handle(ev(child, .fork(child: shell)))
        c.handle(ev(shell, .exec(ExecInfo(filename: "/bin/sh", argv: ["sh"])), uid: 1000, comm: "sh"))
        // pid 22 again, but a different process (another start time): unknown, not the user's.
        c.handle(ev(ProcessKey(tgid: 22, startNs: 99), .exec(ExecInfo(filename: "/bin/evil", argv: ["evil"])), comm: "evil"))
        let commands = outputs.compactMap { if case let .command(c) = $0 { return c } else { return nil } }
        XCTAssertEqual(commands.map(\.argv), [["sh"]])
        XCTAssertEqual(c.role(of: ProcessKey(tgid: 22, startNs: 99)), .unknown)
    }

    /// Every line a real sshd (9.2 and 10.0) wrote names its own connection exactly where sshd
    /// writes it: nothing recorded is flagged, and every row has its session's address.
    func testRecordedAuthLinesMatchTheirConnections() throws {
        for name in Fixture.names {
            let (sessions, _, outputs) = try Fixture.replay(name)
            let auth = Fixture.auth(outputs)
            XCTAssertFalse(auth.isEmpty, name)
            for a in auth {
                XCTAssertFalse(a.addrMismatch, "\(name): \(a)")
                XCTAssertEqual(a.remote, sessions.first { $0.id == a.sessionID }?.remote, name)
                XCTAssertNotNil(a.remote, name)
            }
        }
    }

    /// An event of an sshd process (root, comm sshd) in the synthetic tests below.
    static func sshdEvent(_ key: ProcessKey, _ kind: EventKind) -> Event {
        Event(process: key, ppid: 1, uid: 0, timestampNs: 100, comm: "sshd", kind: kind)
    }

    /// A started sshd `listener` accepts a connection from 127.0.0.1:5555 and forks its `monitor`.
    static func connect(_ c: Correlator, listener: ProcessKey, monitor: ProcessKey) -> Endpoint {
        let client = Endpoint(address: "127.0.0.1", port: 5555)
        c.handle(sshdEvent(listener, .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["/usr/sbin/sshd"], newRoot: true))))
        c.handle(sshdEvent(listener, .accept(local: Endpoint(address: "127.0.0.1", port: 22), remote: client, socket: 1)))
        c.handle(sshdEvent(listener, .fork(child: monitor)))
        return client
    }

    // Synthetic: an auth row's address is the connection's as the kernel saw it accepted, whatever
    // sshd's line says (a CA's key ID, a typed user name, a forged line).
    func testAuthRowsTakeTheConnectionsAddress() {
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { _ in "sa_alice" }) { outputs.append($0) }
        let listener = ProcessKey(tgid: 10, startNs: 1), monitor = ProcessKey(tgid: 20, startNs: 2)
        let ev = Self.sshdEvent
        let client = Self.connect(c, listener: listener, monitor: monitor)
        let leaf = "SHA256:" + String(repeating: "L", count: 43), ca = "SHA256:" + String(repeating: "c", count: 43)
        for text in ["Failed password for invalid user x from 10.9.8.7 port 22 from 127.0.0.1 port 5555 ssh2\r\n",
                     "Failed password for sa_alice from 10.9.8.7 port 22 ssh2\r\n",
                     "Accepted publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(leaf) ID evil from 10.9.8.7 port 22 (serial 1) CA ED25519 \(ca)\r\n"] {
            c.handle(ev(monitor, .log(source: .file, text: text)))
        }
        let auth = Fixture.auth(outputs)
        XCTAssertEqual(auth.map(\.result), [.failed, .failed, .accepted])
        XCTAssertEqual(auth.map(\.user), ["x from 10.9.8.7 port 22", "sa_alice", "sa_alice"])
        XCTAssertEqual(auth.map(\.remote), [client, client, client])
        XCTAssertEqual(auth.map(\.addrMismatch), [false, true, false], "the second line names another endpoint")
        XCTAssertEqual(auth.last?.keyType, "ED25519-CERT")
        XCTAssertEqual(auth.last?.keyFingerprint, leaf)
        XCTAssertEqual(auth.last?.certificate, AuthLine.Certificate(id: "evil from 10.9.8.7 port 22", serial: "1",
                                                                    caKeyType: "ED25519", caFingerprint: ca))
        let session = outputs.compactMap { if case let .session(s) = $0 { return s } else { return nil } }.last
        XCTAssertEqual(session?.remote, client)
        XCTAssertEqual(session?.authMethod, "publickey")
        XCTAssertEqual(session?.keyFingerprint, leaf)
        XCTAssertEqual(session?.keyType, "ED25519-CERT")
        XCTAssertEqual(session?.certificate, auth.last?.certificate)
    }

    // Synthetic, with sshd 9.2's own lines (AuthenticationMethods publickey,password): the key factor
    // is a `partial` row, and the session keeps every method in order and the key factor's key.
    func testSeveralFactorsKeepEveryMethodAndTheKey() throws {
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { _ in "sa_alice" }) { outputs.append($0) }
        let listener = ProcessKey(tgid: 10, startNs: 1), monitor = ProcessKey(tgid: 20, startNs: 2)
        let child = ProcessKey(tgid: 21, startNs: 3), shell = ProcessKey(tgid: 22, startNs: 4)
        let ev = Self.sshdEvent
        _ = Self.connect(c, listener: listener, monitor: monitor)
        let key = "SHA256:" + String(repeating: "K", count: 43)
        for text in ["Failed password for sa_alice from 127.0.0.1 port 5555 ssh2\r\n",
                     "Partial publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519 \(key)\r\n",
                     "Accepted password for sa_alice from 127.0.0.1 port 5555 ssh2\r\n"] {
            c.handle(ev(monitor, .log(source: .file, text: text)))
        }
        c.handle(ev(monitor, .fork(child: child)))
        c.handle(ev(child, .cred(ruid: 1000, euid: 1000, suid: 1000)))
        c.handle(ev(child, .fork(child: shell)))
        let auth = Fixture.auth(outputs)
        XCTAssertEqual(auth.map(\.result), [.failed, .partial, .accepted], "the tree adds no second success")
        XCTAssertEqual(auth.map(\.method), ["password", "publickey", "password"])
        XCTAssertEqual(auth[1].keyFingerprint, key)
        let session = try XCTUnwrap(outputs.compactMap { if case let .session(s) = $0 { return s } else { return nil } }.last)
        XCTAssertEqual(session.authMethod, "publickey,password")
        XCTAssertEqual(session.keyFingerprint, key)
        XCTAssertEqual(session.keyType, "ED25519")
        XCTAssertEqual(session.user, "sa_alice")
        XCTAssertTrue(Fixture.events(outputs).isEmpty)
    }

    // Synthetic, with sshd 9.2's own lines: an invalid user, a too-many-failures cut and a connection
    // that ended without a word are facts of the connection (session_events), each once; only the
    // `Failed` lines are attempts.
    func testConnectionOutcomesAreNotAttempts() {
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { _ in nil }) { outputs.append($0) }
        let ev = Self.sshdEvent
        let listener = ProcessKey(tgid: 10, startNs: 1)
        let first = ProcessKey(tgid: 20, startNs: 2), second = ProcessKey(tgid: 30, startNs: 3)
        _ = Self.connect(c, listener: listener, monitor: first)
        for text in ["Invalid user admin from 127.0.0.1 port 5555\r\n",
                     "Failed password for invalid user admin from 127.0.0.1 port 5555 ssh2\r\n",
                     "Failed password for invalid user admin from 127.0.0.1 port 5555 ssh2\r\n",
                     "Disconnecting invalid user admin 127.0.0.1 port 5555: Too many authentication failures [preauth]\r\n",
                     "Connection closed by invalid user admin 127.0.0.1 port 5555 [preauth]\r\n"] {
            c.handle(ev(first, .log(source: .file, text: text)))
        }
        c.handle(ev(first, .exit(status: 0)))
        c.handle(ev(listener, .accept(local: Endpoint(address: "127.0.0.1", port: 22),
                                      remote: Endpoint(address: "127.0.0.1", port: 5556), socket: 2)))
        c.handle(ev(listener, .fork(child: second)))
        c.handle(ev(second, .exit(status: 0)))
        XCTAssertEqual(Fixture.auth(outputs).map(\.result), [.failed, .failed])
        XCTAssertEqual(Fixture.events(outputs).map { "\($0.sessionID) \($0.kind.rawValue) \($0.detail ?? "-")" },
                       ["1 invalid_user admin", "1 too_many_failures admin", "2 closed_before_auth -"])
    }

    // Synthetic: a success the unprivileged pre-auth child asks the monitor to log (" [preauth]")
    // never counts; the process tree tells the real one.
    func testPreauthChildCannotLogASuccess() {
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { $0 == 1000 ? "sa_alice" : nil }) { outputs.append($0) }
        let listener = ProcessKey(tgid: 10, startNs: 1), monitor = ProcessKey(tgid: 20, startNs: 2)
        let child = ProcessKey(tgid: 21, startNs: 3), shell = ProcessKey(tgid: 22, startNs: 4)
        let ev = Self.sshdEvent
        _ = Self.connect(c, listener: listener, monitor: monitor)
        c.handle(ev(monitor, .log(source: .file, text: "Accepted password for root from 127.0.0.1 port 5555 ssh2 [preauth]\r\n")))
        XCTAssertTrue(Fixture.auth(outputs).isEmpty)
        c.handle(ev(monitor, .fork(child: child)))
        c.handle(ev(child, .cred(ruid: 1000, euid: 1000, suid: 1000)))
        c.handle(ev(child, .fork(child: shell)))
        let auth = Fixture.auth(outputs)
        XCTAssertEqual(auth.map(\.result), [.accepted])
        XCTAssertEqual(auth.first?.user, "sa_alice", "the uid the kernel saw, not root")
        XCTAssertNil(auth.first?.method)
        let session = outputs.compactMap { if case let .session(s) = $0 { return s } else { return nil } }.last
        XCTAssertEqual(session?.user, "sa_alice")
        XCTAssertNil(session?.authMethod)
    }

    /// Only a process the kernel reported starting as sshd (or the start-up scan found) becomes a
    /// listener when it accepts: not one first seen at its accept, nor one whose history was lost.
    func testOnlyAKnownSSHDBecomesAListener() {
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { _ in "u" }) { outputs.append($0) }
        func ev(_ key: ProcessKey, _ kind: EventKind) -> Event {
            Event(process: key, ppid: 1, uid: 65534, timestampNs: 100, comm: "sshd", kind: kind)
        }
        let accept = EventKind.accept(local: Endpoint(address: "127.0.0.1", port: 2222),
                                      remote: Endpoint(address: "127.0.0.1", port: 5), socket: 1)
        let unseen = ProcessKey(tgid: 30, startNs: 1), orphan = ProcessKey(tgid: 40, startNs: 1)
        c.handle(ev(unseen, accept))
        c.handle(ev(unseen, .fork(child: ProcessKey(tgid: 31, startNs: 2))))
        c.handle(ev(orphan, .setsid))  // first seen mid-life: history lost
        c.handle(ev(orphan, accept))
        c.handle(ev(orphan, .fork(child: ProcessKey(tgid: 41, startNs: 2))))
        XCTAssertFalse(outputs.contains { if case .session = $0 { return true } else { return false } }, "\(outputs)")
        XCTAssertNotEqual(c.role(of: unseen), .listener)
        XCTAssertNotEqual(c.role(of: orphan), .listener)

        // sshd without -D: the started process forks, and its child accepts.
        let started = ProcessKey(tgid: 50, startNs: 1), daemon = ProcessKey(tgid: 51, startNs: 2)
        c.handle(ev(started, .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["/usr/sbin/sshd"], newRoot: true))))
        c.handle(ev(started, .fork(child: daemon)))
        c.handle(ev(daemon, accept))
        c.handle(ev(daemon, .fork(child: ProcessKey(tgid: 52, startNs: 3))))
        XCTAssertEqual(c.role(of: daemon), .listener)
        XCTAssertEqual(c.openSessionCount, 1)
    }

    /// Process state is packed (tens of thousands are held at once) but codes as the plain fields
    /// did, so a checkpoint written before the packing still restores.
    func testPackedProcessStateKeepsItsCodedForm() throws {
        XCTAssertLessThanOrEqual(MemoryLayout<Correlator.Proc>.stride, 72)
        let old = #"{"path":"/usr/sbin/sshd","session":7,"ancestorCommand":3,"pendingUID":{"atNs":123,"uid":1000},"role":"monitorChild","execed":false,"chrooted":true,"orphan":false}"#
        let proc = try JSONDecoder().decode(Correlator.Proc.self, from: Data(old.utf8))
        XCTAssertEqual(proc.path, "/usr/sbin/sshd")
        XCTAssertEqual(proc.session, 7)
        XCTAssertNil(proc.command)
        XCTAssertEqual(proc.ancestorCommand, 3)
        XCTAssertEqual(proc.pendingUID?.atNs, 123)
        XCTAssertEqual(proc.pendingUID?.uid, 1000)
        XCTAssertEqual(proc.role, .monitorChild)
        XCTAssertEqual([proc.execed, proc.chrooted, proc.orphan], [false, true, false])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let again = try JSONSerialization.jsonObject(with: encoder.encode(proc)) as? NSDictionary
        XCTAssertEqual(again, try JSONSerialization.jsonObject(with: Data(old.utf8)) as? NSDictionary)

        var fresh = Correlator.Proc(role: .user)
        XCTAssertNil(fresh.session)
        XCTAssertNil(fresh.pendingUID)
        fresh.pendingUID = Correlator.PendingUID(atNs: 0, uid: 0)  // root, at time zero: still pending
        fresh.execed = true
        fresh.orphan = true
        XCTAssertEqual(fresh.pendingUID?.uid, 0)
        XCTAssertEqual([fresh.execed, fresh.chrooted, fresh.orphan], [true, false, true])
        fresh.execed = false
        fresh.pendingUID = nil
        XCTAssertNil(fresh.pendingUID)
        XCTAssertEqual([fresh.execed, fresh.chrooted, fresh.orphan], [false, false, true])
    }
}
