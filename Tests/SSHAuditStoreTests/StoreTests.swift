import Foundation
import GRDB
import SSHAuditCore
import XCTest
@testable import SSHAuditStore

final class StoreTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "store-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func session(_ id: Int64) -> SessionRecord {
        var s = SessionRecord(id: id, sshdPid: 4000 + UInt32(id), sshdStartNs: 77, startedAtNs: 1_795_917_299_123_000_000)
        s.remote = Endpoint(address: "127.0.0.1", port: 40_000)
        s.local = Endpoint(address: "127.0.0.1", port: 22)
        return s
    }

    func command(_ id: Int64, session: Int64, argv: [String]) -> CommandRecord {
        CommandRecord(id: id, sessionID: session, parentID: nil, pid: 10, ppid: 9, uid: 1000, filename: "/bin/x",
                      argv: argv, argvTruncated: false, startedAtNs: 1_795_917_300_000_000_000)
    }

    func testCreatesAPrivateDatabaseAndKeepsTheLastVersionOfEachRow() throws {
        let path = dir + "/sub/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        var s = session(1)
        var c = command(1, session: 1, argv: ["echo", "a \"quoted\" /path", "ünïcode"])
        try store.write([.session(s), .command(c)])
        s.user = "alice"; s.uid = 1000; s.endedAtNs = s.startedAtNs + 2_500_000_000; s.exitCode = 3; s.commandCount = 1
        c.endedAtNs = c.startedAtNs + 1_234_000_000; c.exitCode = 3
        try store.write([.session(s), .command(c), .session(s)])

        let dirMode = try FileManager.default.attributesOfItem(atPath: dir + "/sub")[.posixPermissions] as? Int
        let fileMode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        XCTAssertEqual(dirMode, 0o700)
        XCTAssertEqual(fileMode, 0o600)

        let reader = try AuditReader(path: path)
        let sessions = try reader.sessions(QueryFilter())
        XCTAssertEqual(sessions.count, 1)
        XCTAssertEqual(sessions[0].user, "alice")
        XCTAssertEqual(sessions[0].startedAt, "2026-11-29T01:54:59.123Z")
        XCTAssertEqual(sessions[0].endedAt, "2026-11-29T01:55:01.623Z")
        XCTAssertEqual(sessions[0].exitCode, 3)
        let commands = try reader.commands(QueryFilter(sessionID: 1))
        XCTAssertEqual(commands.map(\.argv), [["echo", "a \"quoted\" /path", "ünïcode"]])
        XCTAssertEqual(commands[0].durationMs, 1234)
        XCTAssertEqual(commands[0].exitCode, 3)
        XCTAssertEqual(try store.nextIDs().session, 2)
        XCTAssertEqual(try store.nextIDs().command, 2)
    }

    func testJSONHasEveryContractKeyWithNullForAbsentValues() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        try store.write([.session(session(1)), .command(command(1, session: 1, argv: ["ls"]))])
        let reader = try AuditReader(path: path)
        let encoder = JSONEncoder()
        let sessionJSON = try JSONSerialization.jsonObject(with: encoder.encode(reader.sessions(QueryFilter()))) as! [[String: Any]]
        for key in ["id", "sshd_pid", "user", "uid", "remote_addr", "remote_port", "local_addr", "local_port",
                    "auth_method", "key_fingerprint", "tty", "started_at", "authenticated_at", "ended_at",
                    "command_count", "bytes_in", "bytes_out"] {
            XCTAssertTrue(sessionJSON[0].keys.contains(key), key)
        }
        XCTAssertTrue(sessionJSON[0]["user"] is NSNull)
        XCTAssertTrue(sessionJSON[0]["ended_at"] is NSNull)
        let commandJSON = try JSONSerialization.jsonObject(with: encoder.encode(reader.commands(QueryFilter()))) as! [[String: Any]]
        for key in ["id", "session_id", "pid", "ppid", "uid", "filename", "argv", "cwd", "started_at", "ended_at",
                    "duration_ms", "exit_code", "signal"] {
            XCTAssertTrue(commandJSON[0].keys.contains(key), key)
        }
        XCTAssertEqual(commandJSON[0]["argv"] as? [String], ["ls"])
        XCTAssertTrue(commandJSON[0]["exit_code"] is NSNull)
    }

    func testFiltersBySessionAndUserAndLimit() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        var a = session(1), b = session(2)
        a.user = "alice"; b.user = "bob"
        try store.write([.session(a), .session(b), .command(command(1, session: 1, argv: ["a1"])),
                         .command(command(2, session: 2, argv: ["b1"])), .command(command(3, session: 2, argv: ["b2"]))])
        let reader = try AuditReader(path: path)
        XCTAssertEqual(try reader.sessions(QueryFilter(user: "bob")).map(\.id), [2])
        XCTAssertEqual(try reader.commands(QueryFilter(user: "bob")).map(\.argv), [["b1"], ["b2"]])
        XCTAssertEqual(try reader.commands(QueryFilter(sessionID: 1)).map(\.argv), [["a1"]])
        XCTAssertEqual(try reader.commands(QueryFilter(limit: 1)).map(\.id), [1])
        XCTAssertTrue(try reader.sessionExists(2))
        XCTAssertFalse(try reader.sessionExists(3))
    }

    func testEachCompletenessFlagMakesASessionIncompleteAndStatusCountsUnattributedEvents() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        var rows = (1...6).map { session($0) }
        for i in rows.indices { rows[i].endedAtNs = rows[i].startedAtNs + 1_000_000_000 }
        rows[1].recovered = true
        rows[2].drops = true
        rows[3].truncatedArgv = true
        rows[4].endedUnobserved = true
        rows[5].unattributedEvents = true
        try store.write(rows.map { .session($0) })
        let run = try store.startRun(atNs: rows[0].startedAtNs)
        var counters = AuditStore.RunCounters()
        counters.unattributedEvents = 3
        try store.updateRun(run, counters: counters, stoppedAtNs: rows[0].startedAtNs + 5_000_000_000, clean: true)

        let reader = try AuditReader(path: path)
        var filter = QueryFilter()
        filter.incompleteOnly = true
        XCTAssertEqual(try reader.sessions(filter).map(\.id), [2, 3, 4, 5, 6])
        XCTAssertEqual(try reader.sessions(QueryFilter()).map(\.unattributedEvents), [false, false, false, false, false, true])
        let report = try reader.report(since: "2026-11-01", until: "2026-12-01", generatedAt: "now")
        XCTAssertEqual(report.totals.connections, 6)
        XCTAssertEqual(report.totals.incompleteSessions, 5)
        let status = try reader.status()
        XCTAssertEqual(status.totalUnattributedEvents, 3)
        XCTAssertEqual(status.runs.map(\.unattributedEvents), [3])
    }

    func testReportCoverageShowsRunsGapsAndLosses() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        func ns(_ t: String) throws -> Int64 { try XCTUnwrap(Timestamp.parse("2026-11-20T" + t + "Z")) }
        var counters = AuditStore.RunCounters()
        // A clean run, a run that crashed (its stop is the last heartbeat), and a live one (heartbeat 5 s ago).
        let clean = try store.startRun(atNs: try ns("10:00:00"))
        counters.ringDrops = 4
        try store.updateRun(clean, counters: counters, stoppedAtNs: try ns("11:00:00"), clean: true)
        let crashed = try store.startRun(atNs: try ns("11:30:00"))
        counters.ringDrops = 0; counters.unattributedEvents = 2; counters.trackFailures = 1
        try store.updateRun(crashed, counters: counters, stoppedAtNs: try ns("12:00:00"), clean: false)
        let live = try store.startRun(atNs: try ns("13:00:00"))
        try store.updateRun(live, counters: AuditStore.RunCounters(), stoppedAtNs: try ns("13:29:55"), clean: false)

        let reader = try AuditReader(path: path)
        let c = try XCTUnwrap(try reader.report(since: "2026-11-20T09:00:00.000Z", until: "2026-11-20T14:00:00.000Z",
                                  generatedAt: "2026-11-20T13:30:00.000Z").coverage)
        XCTAssertEqual(c.runs, 3)
        XCTAssertEqual(c.uncleanRuns, 1, "the live run is not counted as crashed")
        XCTAssertEqual(c.ringDrops, 4)
        XCTAssertEqual(c.trackFailures, 1)
        XCTAssertEqual(c.unattributedEvents, 2)
        XCTAssertEqual(c.gaps.map { "\($0.from)-\($0.to)" }, [
            "2026-11-20T09:00:00.000Z-2026-11-20T10:00:00.000Z", "2026-11-20T11:00:00.000Z-2026-11-20T11:30:00.000Z",
            "2026-11-20T12:00:00.000Z-2026-11-20T13:00:00.000Z"])
        XCTAssertEqual(c.notRecordingSeconds, 9000, accuracy: 0.001)

        // The same database read later: the third run's heartbeat is old, so it crashed too.
        let later = try XCTUnwrap(try reader.report(since: "2026-11-20T09:00:00.000Z", until: "2026-11-20T14:00:00.000Z",
                                      generatedAt: "2026-11-21T00:00:00.000Z").coverage)
        XCTAssertEqual(later.uncleanRuns, 2)
        XCTAssertEqual(later.gaps.last?.from, "2026-11-20T13:29:55.000Z")
        XCTAssertEqual(later.gaps.last?.to, "2026-11-20T14:00:00.000Z")
        let empty = try XCTUnwrap(try reader.report(since: "2026-11-01T00:00:00.000Z", until: "2026-11-02T00:00:00.000Z",
                                      generatedAt: "2026-11-21T00:00:00.000Z").coverage)
        XCTAssertEqual(empty.runs, 0)

        // A run that resumed the crashed one's kernel state: the time between them was recorded.
        let resumed = try store.startRun(atNs: try ns("12:10:00"), resumedFrom: crashed)
        try store.updateRun(resumed, counters: AuditStore.RunCounters(), stoppedAtNs: try ns("12:20:00"), clean: true)
        let after = try XCTUnwrap(try reader.report(since: "2026-11-20T09:00:00.000Z", until: "2026-11-20T14:00:00.000Z",
                                      generatedAt: "2026-11-20T13:30:00.000Z").coverage)
        XCTAssertEqual(after.gaps.map { "\($0.from)-\($0.to)" }, [
            "2026-11-20T09:00:00.000Z-2026-11-20T10:00:00.000Z", "2026-11-20T11:00:00.000Z-2026-11-20T11:30:00.000Z",
            "2026-11-20T12:20:00.000Z-2026-11-20T13:00:00.000Z",
            // (written after it, the third run is no longer the latest: its old heartbeat ends it)
            "2026-11-20T13:29:55.000Z-2026-11-20T13:30:00.000Z"])
        XCTAssertEqual(empty.notRecordingSeconds, 86_400, accuracy: 0.001)
    }

    func testArgvJSONIsWhatAJSONWriterWritesAndReadsBack() throws {
        let cases: [[String]] = [
            [], [""], ["ls", "-la", "/tmp"], ["a \"quoted\" \\ back/slash"], ["tab\tnew\nline\rcr\u{8}\u{c}"],
            ["\u{0}\u{1}\u{1f}\u{7f}"], ["ünïcode", "日本語", "🙂", "\u{2028}\u{2029}"], ["{", "}", "[", "]", ",", ":"],
        ]
        for argv in cases {
            let text = JSONText.array(argv)
            XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String], argv, text)
            let reference = String(decoding: try JSONSerialization.data(withJSONObject: argv, options: [.withoutEscapingSlashes]),
                                   as: UTF8.self)
            XCTAssertEqual(text, reference, "same text as before the hand-written encoder")
        }
    }

    func testAuthAttemptsAndFailedFilter() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        let ca = "SHA256:" + String(repeating: "c", count: 43)
        let certificate = AuthLine.Certificate(id: "alice@corp (serial 9) CA x", serial: "18446744073709551615",
                                               caKeyType: "ED25519", caFingerprint: ca)
        var s = session(1)
        s.authMethod = "publickey,keyboard-interactive/pam"; s.keyFingerprint = "SHA256:abc"; s.keyType = "ED25519-CERT"
        s.certificate = certificate
        let remote = Endpoint(address: "::1", port: 5)
        try store.write([
            .session(s), .session(session(2)),
            .auth(AuthRecord(id: 1, sessionID: 1, atNs: 1_000_000, user: "mallory", remote: remote, method: "password",
                             result: .failed, keyType: nil, keyFingerprint: nil)),
            .auth(AuthRecord(id: 2, sessionID: 1, atNs: 2_000_000, user: "alice", remote: remote, method: "publickey",
                             result: .partial, keyType: "ED25519-CERT", keyFingerprint: "SHA256:abc", addrMismatch: true,
                             certificate: certificate)),
            .auth(AuthRecord(id: 3, sessionID: 1, atNs: 3_000_000, user: "alice", remote: remote, method: "keyboard-interactive",
                             result: .accepted, keyType: nil, keyFingerprint: nil, submethod: "pam")),
        ])
        let reader = try AuditReader(path: path)
        XCTAssertEqual(try reader.authAttempts(QueryFilter()).map(\.result), ["failed", "partial", "accepted"])
        XCTAssertEqual(try reader.authAttempts(QueryFilter()).map(\.addrMismatch), [false, true, false])
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(reader.authAttempts(QueryFilter()))) as! [[String: Any]]
        XCTAssertEqual(Set(json[1].keys), ["id", "session_id", "at", "user", "remote_addr", "remote_port", "method", "result",
                                           "key_type", "key_fingerprint", "addr_mismatch", "submethod", "cert_id", "cert_serial",
                                           "ca_key_type", "ca_fingerprint", "auth_info"])
        XCTAssertEqual(json[1]["addr_mismatch"] as? Bool, true)
        XCTAssertEqual(json[1]["cert_serial"] as? String, "18446744073709551615", "a serial above Int64.max, exact")
        XCTAssertEqual(json[2]["submethod"] as? String, "pam")
        XCTAssertEqual(try reader.authAttempts(QueryFilter(failedOnly: true)).map(\.user), ["mallory"], "refused credentials only")
        XCTAssertEqual(try reader.authAttempts(QueryFilter(user: "alice")).first?.keyFingerprint, "SHA256:abc")
        XCTAssertEqual(try reader.authAttempts(QueryFilter()).first?.at, "1970-01-01T00:00:00.001Z")
        let sessions = try reader.sessions(QueryFilter())
        XCTAssertEqual(sessions.first?.authMethod, "publickey,keyboard-interactive/pam")
        XCTAssertEqual(sessions.first.map { [$0.certID, $0.certSerial, $0.caKeyType, $0.caFingerprint, $0.keyType] },
                       [certificate.id, certificate.serial, "ED25519", ca, "ED25519-CERT"])
        // --cert-id and --ca: exact, on sessions and attempts.
        var byID = QueryFilter(); byID.certID = certificate.id
        var byCA = QueryFilter(); byCA.ca = ca
        var other = QueryFilter(); other.certID = "alice@corp"
        XCTAssertEqual(try reader.sessions(byID).map(\.id), [1])
        XCTAssertEqual(try reader.sessions(byCA).map(\.id), [1])
        XCTAssertEqual(try reader.authAttempts(byCA).map(\.id), [2])
        XCTAssertEqual(try reader.authAttempts(byID).map(\.id), [2])
        XCTAssertEqual(try reader.sessions(other).map(\.id), [])
        let keys = try reader.keys()
        XCTAssertEqual(keys.map { [$0.keyFingerprint, $0.certID, $0.caFingerprint] }, [["SHA256:abc", certificate.id, ca]])
        XCTAssertEqual(keys.first?.serials, [certificate.serial])
        XCTAssertEqual(try reader.keys(ca: "SHA256:other").count, 0)
        XCTAssertEqual(try store.nextIDs(), RowIDs(session: 3, command: 1, auth: 4))
        // A restarted recorder continues the open session with its identity (no version drops it).
        XCTAssertEqual(try store.openSessions().first { $0.session.id == 1 }?.session, s)
    }

    func testReaderRefusesMissingAndForeignFiles() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try AuditReader(path: dir + "/none.db")) {
            XCTAssertTrue("\($0)".contains("no database at"), "\($0)")
        }
        let junk = dir + "/junk.db"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try AuditReader(path: junk)) {
            XCTAssertTrue("\($0)".contains("not an sshaudit database"), "\($0)")
        }
        XCTAssertThrowsError(try AuditStore.openForRecording(path: junk)) {
            XCTAssertTrue("\($0)".contains("not an sshaudit database"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: junk)), Data(repeating: 0x41, count: 4096), "never overwritten")
    }

    func testBatchWriterWritesEverythingBeforeClose() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        let writer = BatchWriter(store: store, interval: 10, batchSize: 1000) { XCTFail("\($0)") }
        writer.enqueue(.session(session(1)))
        for i in 1...2500 { writer.enqueue(.command(command(Int64(i), session: 1, argv: ["c\(i)"]))) }
        writer.close()
        XCTAssertEqual(try AuditReader(path: path).commands(QueryFilter()).count, 2500)
    }

    /// A row's versions that wait together take one place in the queue (and one write); rows written
    /// once (authentication attempts) each keep theirs.
    func testBatchWriterKeepsOneWaitingVersionPerRow() throws {
        let path = dir + "/audit.db"
        let store = try AuditStore.openForRecording(path: path)
        let writer = BatchWriter(store: store, interval: 600, batchSize: 1000) { XCTFail("\($0)") }
        var s = session(1)
        var c = command(1, session: 1, argv: ["make"])
        for n in 1...50 {
            s.commandCount = n
            writer.enqueue(.session(s))
            c.endedAtNs = c.startedAtNs + Int64(n) * 1_000_000
            writer.enqueue(.command(c))
        }
        for id in Int64(1)...3 {
            writer.enqueue(.auth(AuthRecord(id: id, sessionID: 1, atNs: s.startedAtNs, user: "alice", remote: nil,
                                            method: "password", result: .failed, keyType: nil, keyFingerprint: nil)))
        }
        XCTAssertEqual(writer.pendingCount, 5)
        writer.close()
        let db = try DatabaseQueue(path: path)
        try db.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT command_count FROM sessions WHERE id = 1"), 50)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT duration_ms FROM commands WHERE id = 1"), 50)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT count(*) FROM auth_attempts"), 3)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT count(*) FROM ledger WHERE tbl IN ('sessions', 'commands')"), 2)
        }
    }
}
