import XCTest
@testable import SSHAuditCore

/// Session channels on a stream recorded from real sshd (Fixtures/record-fixtures-channels.sh): one
/// connection multiplexed by the client carries four channels; each is recorded with its kind,
/// terminal and exit code, every command under the channel its process came from, within the bound.
final class ChannelReplayTests: XCTestCase {
    static let port: UInt16 = 22600

    struct Replayed {
        var session: SessionRecord
        var channels: [ChannelRecord]
        var commands: [CommandRecord]
        var outputs: [CorrelatorOutput]
        var correlator: Correlator
    }

    static func replay(bounds: CorrelatorBounds = CorrelatorBounds()) throws -> Replayed {
        let log = try Fixture.load("channels")
        var outputs: [CorrelatorOutput] = []
        let correlator = Correlator.replaying(log, bounds: bounds) { outputs.append($0) }
        for event in try log.events() { correlator.handle(event) }
        var sessions: [Int64: SessionRecord] = [:], channels: [Int64: ChannelRecord] = [:], commands: [Int64: CommandRecord] = [:]
        for output in outputs {
            switch output {
            case let .session(s): sessions[s.id] = s
            case let .channel(c): channels[c.id] = c
            case let .command(c): commands[c.id] = c
            default: break
            }
        }
        // The recorder follows every sshd on the machine: this fixture's connection is the one on its port.
        let mine = sessions.values.filter { $0.local?.port == port }
        XCTAssertEqual(mine.count, 1)
        let session = try XCTUnwrap(mine.first)
        return Replayed(session: session, channels: channels.values.filter { $0.sessionID == session.id }.sorted { $0.id < $1.id },
                        commands: commands.values.filter { $0.sessionID == session.id }.sorted { $0.id < $1.id },
                        outputs: outputs, correlator: correlator)
    }

    func testEachChannelOfAMultiplexedConnection() throws {
        let r = try Self.replay()
        XCTAssertEqual(r.session.user, "sa_alice")
        XCTAssertEqual(r.channels.map(\.seq), [1, 2, 3, 4])
        XCTAssertEqual(r.channels.map(\.kind), ["exec", "exec", "shell", "subsystem"])
        XCTAssertEqual(r.channels.map(\.exitCode), [3, 0, 5, 0])
        XCTAssertEqual(r.channels.map { $0.tty != nil }, [false, false, true, false])
        XCTAssertTrue(r.channels.allSatisfy { $0.startedAtNs < $0.endedAtNs ?? .min })
        XCTAssertEqual(r.correlator.tableSizes["channels"], 0, "no channel is held after its process ended")

        // Every command of the connection is under one of its channels, the one its process came from.
        XCTAssertTrue(r.commands.allSatisfy { c in r.channels.contains { $0.id == c.channelID } }, "\(r.commands)")
        func argvs(_ i: Int) -> [[String]] {
            i < r.channels.count ? r.commands.filter { $0.channelID == r.channels[i].id }.map(\.argv) : []
        }
        XCTAssertTrue(argvs(0).contains(["bash", "-c", "/bin/echo one; exit 3"]), "\(argvs(0))")
        XCTAssertTrue(argvs(1).contains(["/bin/echo", "chan-daemon"]), "\(argvs(1))")
        XCTAssertEqual(argvs(2).first, ["-bash"])
        XCTAssertTrue(argvs(2).contains(["/bin/echo", "in-shell"]), "\(argvs(2))")
        XCTAssertTrue(argvs(3).contains { $0.last?.hasSuffix("sftp-server") == true }, "\(argvs(3))")

        // The daemonised command (setsid, double fork) ran after its channel's process ended, while
        // the shell's channel was open: it stays with the channel it came from.
        let daemon = try XCTUnwrap(r.commands.first { $0.argv == ["/bin/echo", "chan-daemon"] })
        XCTAssertEqual(r.channels.count, 4)
        XCTAssertGreaterThan(daemon.startedAtNs, try XCTUnwrap(r.channels[1].endedAtNs))
        XCTAssertGreaterThan(daemon.startedAtNs, r.channels[2].startedAtNs)
        XCTAssertLessThan(daemon.startedAtNs, try XCTUnwrap(r.channels[2].endedAtNs))
        XCTAssertEqual(daemon.channelID, r.channels[1].id)
        // The session stays the connection: its exit code is its first channel's.
        XCTAssertEqual(r.session.exitCode, 3)
    }

    /// Every recorded login (OpenSSH 9.2 and 10.0, listener and per-connection sshd): each command is
    /// under a channel of its own session, and a connection without multiplexing has one channel.
    func testEveryRecordedCommandIsUnderAChannelOfItsSession() throws {
        for name in Fixture.names {
            let (sessions, commands, outputs) = try Fixture.replay(name)
            var channels: [Int64: ChannelRecord] = [:]
            for case let .channel(c) in outputs { channels[c.id] = c }
            for c in commands {
                XCTAssertEqual(c.channelID.flatMap { channels[$0]?.sessionID }, c.sessionID, "\(name): \(c.argv)")
            }
            for s in sessions where s.commandCount > 0 && name != "channels" {
                XCTAssertEqual(channels.values.filter { $0.sessionID == s.id }.map(\.seq), [1], "\(name): session \(s.id)")
            }
        }
    }

    /// The kind of a channel from its process's first exec (sshd's session.c, do_child).
    func testKindRule() {
        func kind(_ argv: [String]) -> String { ChannelKind.of(firstExec: ExecInfo(filename: "/bin/bash", argv: argv)) }
        XCTAssertEqual(kind(["-bash"]), "shell")
        XCTAssertEqual(kind(["bash", "-c", "ls"]), "exec")
        XCTAssertEqual(kind(["bash"]), "exec")
        XCTAssertEqual(kind(["bash", "-c", "/usr/lib/openssh/sftp-server"]), "subsystem")
        XCTAssertEqual(kind(["bash", "-c", "/usr/lib/openssh/sftp-server; rm -rf x"]), "exec")
        XCTAssertEqual(kind(["-bash", "-c", "ls"]), "exec")
    }

    /// Open channels beyond the bound give up their end, the oldest first: counted, their sessions
    /// flagged; every channel still gets its row and every command its channel.
    func testOpenChannelsBeyondTheBoundLoseTheirEndOnly() throws {
        var bounds = CorrelatorBounds()
        bounds.channels = 1
        let small = try Self.replay(bounds: bounds)
        let whole = try Self.replay()
        XCTAssertEqual(small.channels.map(\.id), whole.channels.map(\.id))
        XCTAssertEqual(small.commands.map(\.channelID), whole.commands.map(\.channelID))
        let unended = small.channels.filter { $0.endedAtNs == nil }
        XCTAssertFalse(unended.isEmpty, "the sftp channel opens while the shell's is open: one must give way")
        XCTAssertGreaterThanOrEqual(small.correlator.overflows, UInt64(unended.count))
        XCTAssertTrue(small.session.drops)
        XCTAssertFalse(whole.session.drops)
        XCTAssertLessThanOrEqual(small.correlator.tableSizes["channels"]!, 1)
        for (a, b) in zip(small.channels, whole.channels) where a.endedAtNs != nil { XCTAssertEqual(a, b) }
    }

    /// A session found running at start-up: each process of sshd's user child is a channel (its kind
    /// from its argv now), descendants inherit it, and its exit ends it once the process is known by
    /// its start time. A restarted recorder continues the channels the database has open instead
    /// (same ids, no duplicate) and numbers new ones after the session's last.
    func testChannelsOfSessionsFoundAtStartUp() throws {
        func seed(_ pid: UInt32, _ ppid: UInt32, _ role: ProcessRole, _ argv: [String], _ exe: String) -> ProcessSeed {
            ProcessSeed(pid: pid, ppid: ppid, role: role, argv: argv, exe: exe, uid: role == .userChild || role == .user ? 1000 : 0,
                        startedAtNs: 1_000_000_000 + Int64(pid))
        }
        let session = SessionSeed(
            monitor: seed(100, 1, .monitor, ["sshd: alice [priv]"], "/usr/sbin/sshd"), listenerPid: 1, uid: 1000,
            authenticatedAtNs: 1_000_000_500, local: nil, remote: nil, processes: [
                seed(101, 100, .userChild, ["sshd: alice@pts/0"], "/usr/sbin/sshd"),
                seed(102, 101, .user, ["-bash"], "/usr/bin/bash"),
                seed(103, 102, .user, ["sleep", "100"], "/usr/bin/sleep"),
                seed(104, 101, .user, ["bash", "-c", "make"], "/usr/bin/bash"),
                seed(105, 101, .user, ["sshd: alice@internal-sftp"], "/usr/sbin/sshd"),
            ])
        func event(_ pid: UInt32, _ kind: EventKind) -> Event {
            Event(process: ProcessKey(tgid: pid, startNs: 5_000 + UInt64(pid)), ppid: 0, uid: 1000, timestampNs: 9_000, comm: "x", kind: kind)
        }

        var outputs: [CorrelatorOutput] = []
        let fresh = Correlator(bootToWallNs: 0, userName: { _ in "alice" }) { outputs.append($0) }
        fresh.seedSession(session)
        fresh.handle(event(104, .exit(status: 2 << 8)))
        var rows: [Int64: ChannelRecord] = [:]
        for case let .channel(c) in outputs { rows[c.id] = c }
        let channels = rows.values.sorted { $0.id < $1.id }
        XCTAssertEqual(channels.map(\.pid), [102, 104, 105])
        XCTAssertEqual(channels.map(\.seq), [1, 2, 3])
        XCTAssertEqual(channels.map(\.kind), ["shell", "exec", "subsystem"])
        XCTAssertEqual(channels.map(\.exitCode), [nil, 2, nil])
        let commands = outputs.compactMap { if case let .command(c) = $0 { return c } else { return nil } }
        XCTAssertEqual(Dictionary(commands.map { ($0.pid, $0.channelID) }, uniquingKeysWith: { $1 }),
                       [102: channels[0].id, 103: channels[0].id, 104: channels[1].id, 105: channels[2].id])
        XCTAssertEqual(fresh.tableSizes["channels"], 2)

        // The next run, with channels 1 and 3 still open in the database (2 ended).
        outputs = []
        let restarted = Correlator(bootToWallNs: 0, firstIDs: RowIDs(session: 2, command: 10, channel: 4),
                                   userName: { _ in "alice" }) { outputs.append($0) }
        var stored = SessionRecord(id: 1, sshdPid: 100, sshdStartNs: 0, startedAtNs: 1_000_000_100)
        stored.uid = 1000
        stored.user = "alice"
        stored.authenticatedAtNs = 1_000_000_500
        stored.commandCount = 3
        let open = commands.filter { $0.pid != 104 }
        var session2 = session
        session2.processes.removeAll { $0.pid == 104 }
        session2.processes.append(seed(106, 101, .user, ["bash", "-c", "new"], "/usr/bin/bash"))  // started in between
        restarted.seedSession(session2, resuming: (stored, open), channels: ([channels[0], channels[2]], 3))
        restarted.handle(event(102, .exit(status: 0)))
        restarted.handle(event(101, .fork(child: ProcessKey(tgid: 107, startNs: 5_107))))
        rows = [:]
        for case let .channel(c) in outputs { rows[c.id] = c }
        XCTAssertEqual(rows.keys.sorted(), [1, 4, 5], "channel 1 continued; 4 found running, 5 forked now")
        XCTAssertEqual(rows[1]?.exitCode, 0)
        XCTAssertEqual(rows[1]?.seq, 1)
        XCTAssertEqual([rows[4]?.seq, rows[5]?.seq], [4, 5])
        XCTAssertEqual(restarted.tableSizes["channels"], 3, "3 (internal-sftp), 4 and 5 run")
    }
}
