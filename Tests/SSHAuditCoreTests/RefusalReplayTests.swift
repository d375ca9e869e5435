import XCTest
@testable import SSHAuditCore

/// Refusals on a stream recorded from real sshd (Fixtures/record-fixtures-refusals.sh: eight clients
/// at once against MaxStartups 2:100:3, then a key login): each connection the listener accepted is
/// exactly one session or one refusal, a refused connection's address never reaches a session, and
/// the refusals are the same without sshd's lines (any log level), only their reason unknown.
final class RefusalReplayTests: XCTestCase {
    static let port: UInt16 = 22623

    struct Replayed {
        var sessions: [Int64: SessionRecord] = [:]
        var refusals: [RefusalRecord] = []
        var auth: [AuthRecord] = []
    }

    /// The fixture through the correlator, keeping what belongs to this port; `keep` filters events.
    func replay(keep: (Event) -> Bool = { _ in true }) throws -> (Replayed, accepts: [Endpoint], drops: [String]) {
        let log = try Fixture.load("refusals")
        var out = Replayed()
        let correlator = Correlator.replaying(log) { output in
            switch output {
            case let .session(s): out.sessions[s.id] = s
            case let .refusal(r): out.refusals.append(r)
            case let .auth(a): out.auth.append(a)
            default: break
            }
        }
        var accepts: [Endpoint] = [], drops: [String] = []
        for event in try log.events() {
            if case let .accept(local, remote, _) = event.kind, local.port == Self.port, event.comm == "sshd" {
                accepts.append(remote)
            }
            if case let .log(_, text) = event.kind, text.contains("drop connection #"), text.contains("]:\(Self.port) ") {
                drops.append(text)
            }
            if keep(event) { correlator.handle(event) }
        }
        out.sessions = out.sessions.filter { $0.value.local?.port == Self.port }
        out.refusals = out.refusals.filter { $0.local.port == Self.port }
        return (out, accepts, drops)
    }

    func testEachAcceptIsOneSessionOrOneRefusal() throws {
        let (out, accepts, drops) = try replay()
        XCTAssertGreaterThan(out.refusals.count, 0, "the fixture has refusals")
        XCTAssertEqual(out.refusals.count, drops.count, "one per drop line")
        XCTAssertEqual(Set(out.refusals.map(\.reason)), [.maxStartups])
        XCTAssertTrue(out.refusals.allSatisfy { $0.detail == "past MaxStartups" && $0.atNs > 0 })
        for (refusal, line) in zip(out.refusals, drops) {
            XCTAssertTrue(line.contains("from [\(refusal.remote.address)]:\(refusal.remote.port) on "), "\(refusal) vs \(line)")
        }
        let served = out.sessions.values.compactMap(\.remote)
        XCTAssertEqual(served.count, out.sessions.count, "every session has its connection")
        func key(_ e: Endpoint) -> String { "\(e.address):\(e.port)" }
        XCTAssertEqual((served + out.refusals.map(\.remote)).map(key).sorted(), accepts.map(key).sorted())
        // Each failed attempt's connection, as sshd logged it in its own line, is its session's.
        let failed = out.auth.filter { $0.result == .failed && out.sessions[$0.sessionID] != nil }
        XCTAssertFalse(failed.isEmpty)
        XCTAssertTrue(failed.allSatisfy { !$0.addrMismatch }, "sshd's lines name the session's own port")
        XCTAssertEqual(Set(out.refusals.map { key($0.remote) }).intersection(served.map(key)), [])
    }

    /// The listener's log lines withheld (LogLevel INFO before 9.8, QUIET, rate-limited): the same
    /// connections are refused, by the process tree alone.
    func testRefusalsWithoutTheListenersLines() throws {
        let (full, _, _) = try replay()
        let listeners = Set(full.refusals.map(\.listenerPid))
        let (quiet, _, _) = try replay { event in
            if case .log = event.kind, listeners.contains(event.process.tgid) { return false }
            return true
        }
        XCTAssertEqual(quiet.refusals.map(\.remote), full.refusals.map(\.remote))
        XCTAssertEqual(Set(quiet.refusals.map(\.reason)), [.unknown])
        XCTAssertEqual(quiet.sessions.values.map(\.remote).count, full.sessions.count)
    }

    func testParsesDropLinesOfEachRelease() {
        // 8.4 to 9.7, 9.8 and 9.9, 10.x; a penalty (9.8+), through syslog.
        let lines = [
            ("drop connection #3 from [192.0.2.7]:50022 on [192.0.2.1]:22 past MaxStartups", RefusalRecord.Reason.maxStartups),
            ("drop connection #3 from [192.0.2.7]:50022 on [192.0.2.1]:22 past Maxstartups", .maxStartups),
            ("drop connection #3 from [2001:db8::7]:50022 on [2001:db8::1]:22 Maxstartups", .maxStartups),
            ("<38>Nov 30 13:00:00 sshd[9]: drop connection #0 from [192.0.2.7]:50022 on [192.0.2.1]:22 penalty: failed authentication",
             .penalty),
            ("drop connection #0 from [192.0.2.7]:50022 on [192.0.2.1]:22 too many penalised addresses", .penalty),
        ]
        for (text, reason) in lines {
            let line = RefusalLine.parse(text)
            XCTAssertEqual(line?.reason, reason, text)
            XCTAssertEqual(line?.remotePort, "50022")
            XCTAssertEqual(line?.localPort, "22")
        }
        XCTAssertEqual(RefusalLine.parse(lines[3].0)?.detail, "penalty: failed authentication")
        // A connection the client reset before sshd read its peer.
        let reset = RefusalLine.parse("drop connection #1 from [UNKNOWN]:-1 on [127.0.0.1]:22 past MaxStartups")
        XCTAssertEqual(reset?.peerUnknown, true)
        XCTAssertEqual(reset?.reason, .maxStartups)
        XCTAssertEqual(RefusalLine.parse(lines[0].0)?.peerUnknown, false)
        XCTAssertEqual(RefusalLine.parse(lines[2].0)?.remoteAddress, "2001:db8::7")
        for bad in ["drop connection #3 from 192.0.2.7 port 5 past MaxStartups", "Failed password for x from [1]:2 on [3]:4 x",
                    "drop connection #3 from [192.0.2.7]:99999 on [192.0.2.1]:22 past MaxStartups",
                    "drop connection #3 from [192.0.2.7]:50022 on [192.0.2.1]:22"] {
            XCTAssertNil(RefusalLine.parse(bad), bad)
        }
    }
}

/// The listener's loop step by step (accept, then fork or drop), each way a pending accept ends.
final class RefusalStepTests: XCTestCase {
    let listener = ProcessKey(tgid: 100, startNs: 5_000)
    let local = Endpoint(address: "192.0.2.1", port: 22)
    var outputs: [CorrelatorOutput] = []
    var correlator: Correlator!
    var clock: UInt64 = 1_000

    override func setUp() {
        outputs = []
        correlator = Correlator(bootToWallNs: 0, userName: { _ in nil }) { [unowned self] in self.outputs.append($0) }
        correlator.seedListener(pid: listener.tgid, path: "/usr/sbin/sshd")
    }

    func send(_ kind: EventKind, from process: ProcessKey? = nil) {
        clock += 1_000
        correlator.handle(Event(process: process ?? listener, ppid: 1, uid: 0, timestampNs: clock, comm: "sshd", kind: kind))
    }

    func peer(_ port: UInt16) -> Endpoint { Endpoint(address: "203.0.113.9", port: port) }
    func accept(_ port: UInt16) { send(.accept(local: local, remote: peer(port), socket: UInt64(port))) }
    func fork(_ pid: UInt32) { send(.fork(child: ProcessKey(tgid: pid, startNs: clock + 1))) }
    var refusals: [RefusalRecord] { outputs.compactMap { if case let .refusal(r) = $0 { return r } else { return nil } } }
    var sessions: [Int64: SessionRecord] {
        var s: [Int64: SessionRecord] = [:]
        for case let .session(r) in outputs { s[r.id] = r }
        return s
    }

    func testEachWayAPendingAcceptEnds() {
        // Reset by the client before the fork that still comes: the session's, with its counters.
        accept(50_001)
        send(.connectionClosed(socket: 50_001, bytesIn: 0, bytesOut: 0))
        fork(201)
        XCTAssertEqual(refusals.count, 0)
        XCTAssertEqual(sessions.values.first?.remote, peer(50_001))
        XCTAssertEqual(sessions.values.first?.bytesOut, 0)

        // Closed after the listener wrote its notice on it: refused then.
        accept(50_002)
        send(.connectionClosed(socket: 50_002, bytesIn: 21, bytesOut: 22))
        XCTAssertEqual(refusals.map(\.remote), [peer(50_002)])
        XCTAssertEqual(refusals.last?.reason, .unknown)

        // Accepted again before any fork: the one before was refused; the fork takes the last one.
        accept(50_003)
        accept(50_004)
        fork(202)
        XCTAssertEqual(refusals.map(\.remote.port), [50_002, 50_003])
        XCTAssertEqual(sessions.values.filter { $0.sshdPid == 202 }.map(\.remote), [peer(50_004)])

        // sshd's line names it: refused with sshd's reason.
        accept(50_005)
        send(.log(source: .file, text: "drop connection #4 from [203.0.113.9]:50005 on [192.0.2.1]:22 past MaxStartups\r\n"))
        XCTAssertEqual(refusals.last?.remote, peer(50_005))
        XCTAssertEqual(refusals.last?.reason, .maxStartups)
        XCTAssertEqual(refusals.last?.detail, "past MaxStartups")
        XCTAssertEqual(refusals.last?.listenerPid, 100)

        // A line naming another connection refuses nothing: the pending one is served.
        accept(50_006)
        send(.log(source: .file, text: "drop connection #4 from [198.51.100.7]:50006 on [192.0.2.1]:22 past MaxStartups\r\n"))
        send(.log(source: .file, text: "drop connection #4 from [203.0.113.9]:50007 on [192.0.2.1]:22 past MaxStartups\r\n"))
        fork(203)
        XCTAssertEqual(refusals.count, 3)
        XCTAssertEqual(sessions.values.filter { $0.sshdPid == 203 }.map(\.remote), [peer(50_006)])
        XCTAssertEqual(refusals.map(\.id), [1, 2, 3])
        XCTAssertTrue(refusals.allSatisfy { $0.atNs > 0 && $0.local == local && $0.listenerStartNs == 5_000 })
    }

    /// The listener ends (stopped, restarted) after a client reset its pending connection: never
    /// served, so refused, not lost. A connection still open when it ends is no refusal
    /// (`sshd -d` serves its one connection itself).
    func testAListenerEndingWithAPendingConnection() {
        accept(50_010)
        send(.connectionClosed(socket: 50_010, bytesIn: 0, bytesOut: 0))
        send(.exit(status: 0))
        XCTAssertEqual(refusals.map(\.remote), [peer(50_010)])
        XCTAssertEqual(refusals.first?.reason, .unknown)
    }

    func testAListenerEndingWithAnOpenConnectionRefusesNothing() {
        accept(50_011)
        send(.exit(status: 0))
        XCTAssertEqual(refusals.count, 0)
    }
}
