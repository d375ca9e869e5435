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
