import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// A session lasts from started_at to ended_at. --since/--until match every session open in the
/// period: a login made before it still shows as open in it. Checked against a brute-force answer
/// over many periods, limits and filters, with the planner's thresholds and tiny ones, on a database
/// with `sessions_long` (schema/0031) and on one without it.
final class SessionSpanTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }
    /// 2026-11-29T…: every time below is t0 plus whole milliseconds.
    static let t0: Int64 = 1_795_917_299_000_000_000
    static let second: Int64 = 1_000_000_000

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "session-spans-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// What a period means for a session (the oracle, also of QueryFilterTests): it began before
    /// --until, and ended at or after --since, or has no end: still open, or its end was not seen
    /// and its last known activity (its own times, its commands') is at or after --since.
    static func overlaps(_ s: SessionRow, since: String?, until: String?, commands: [CommandRow]) -> Bool {
        if let until, s.startedAt >= until { return false }
        guard let since else { return true }
        if let ended = s.endedAt { return ended >= since }
        if !s.endedUnobserved { return true }
        let times = [s.startedAt, s.authenticatedAt].compactMap { $0 } + commands.flatMap { [$0.startedAt, $0.endedAt].compactMap { $0 } }
        return times.contains { $0 >= since }
    }

    /// 400 sessions over 10 hours from 3 addresses and 3 users (some never authenticated): seconds
    /// long, minutes, about an hour (either side of the index's hour), up to 9 hours, still open, and
    /// ended unseen with and without commands late in them.
    func build() throws {
        let store = try AuditStore.openForRecording(path: path)
        var n = ActivitySpanTests.Numbers(state: 0x2545_F491_4F6C_DD1D)  // the same sessions every run
        var outputs: [CorrelatorOutput] = []
        var commandID: Int64 = 1
        let addresses = ["203.0.113.9", "10.1.2.3", "2001:db8::7"]
        for id in Int64(1)...400 {
            let start = Self.t0 + n.next(36_000) * Self.second + n.next(1_000) * 1_000_000
            var s = SessionRecord(id: id, sshdPid: 4000 + UInt32(id), sshdStartNs: UInt64(70 + id), startedAtNs: start)
            s.remote = Endpoint(address: addresses[Int(n.next(3))], port: UInt16(40_000 + id))
            if n.next(5) != 0 {
                s.user = ["alice", "bob", "carol"][Int(n.next(3))]
                s.authenticatedAtNs = start + 300_000_000
            }
            let duration: Int64
            switch n.next(7) {
            case 0: duration = n.next(10)
            case 1: duration = n.next(1_800)
            case 2: duration = 3_600 - 5 + n.next(10)
            case 3: duration = n.next(32_400)
            default: duration = 60 + n.next(5_400)
            }
            switch n.next(12) {
            case 0: break  // still open
            case 1:
                s.endedUnobserved = true
                if s.user != nil {
                    // Commands until some time into the session, then nothing seen.
                    var c = CommandRecord(id: commandID, sessionID: id, parentID: nil, pid: UInt32(9000 + commandID), ppid: 1,
                                          uid: 1000, filename: "/usr/bin/sleep", argv: ["sleep", "1"], argvTruncated: false,
                                          startedAtNs: start + duration * Self.second / 2)
                    c.endedAtNs = start + duration * Self.second
                    outputs.append(.command(c))
                    commandID += 1
                }
            default: s.endedAtNs = start + duration * Self.second
            }
            outputs.append(.session(s))
        }
        try store.write(outputs)
    }

    func at(_ second: Int64) -> String { Timestamp.iso(ns: Self.t0 + second * Self.second) }

    /// Every combination of period, limit and filter; returns how many sessions found began before
    /// --since (those the start-time filter alone lost).
    @discardableResult
    func checkEveryPeriod(limits: PlanLimits = PlanLimits()) throws -> Int {
        let reader = try AuditReader(path: path)
        reader.limits = limits
        let all = try reader.sessions(QueryFilter())
        XCTAssertEqual(all.count, 400)
        let commands = Dictionary(grouping: try reader.commands(QueryFilter()), by: \.sessionID)
        let times: [String?] = [nil, at(-10), at(1_800), at(7_200), at(14_400), at(18_001), at(30_000), at(40_000), at(70_000)]
        let filters: [(String, QueryFilter, (SessionRow) -> Bool)] = [
            ("none", QueryFilter(), { _ in true }),
            ("user", QueryFilter(user: "alice"), { $0.user == "alice" }),
            ("from", QueryFilter(from: IPNetwork("203.0.113.0/24")!), { $0.remoteAddr == "203.0.113.9" }),
            ("failed", QueryFilter(failedOnly: true), { $0.authenticatedAt == nil }),
            ("user and from", QueryFilter(user: "bob", from: IPNetwork("10.0.0.0/8")!), { $0.user == "bob" && $0.remoteAddr == "10.1.2.3" }),
            ("session", QueryFilter(sessionID: 77), { $0.id == 77 }),
        ]
        var carried = 0
        for since in times {
            for until in times {
                for limit in [nil, 1, 9, 120] as [Int?] {
                    for (name, base, keep) in filters {
                        var f = base
                        (f.since, f.until, f.limit) = (since, until, limit)
                        let want = all.filter { keep($0) && Self.overlaps($0, since: since, until: until, commands: commands[$0.id] ?? []) }.map(\.id)
                        let got = try reader.sessions(f).map(\.id)
                        XCTAssertEqual(got, limit.map { Array(want.prefix($0)) } ?? want,
                                       "since \(since ?? "-") until \(until ?? "-") limit \(limit.map(String.init) ?? "-") \(name)")
                        if let since { carried += all.filter { got.contains($0.id) && $0.startedAt < since }.count }
                    }
                }
            }
        }
        return carried
    }

    func testAPeriodListsEverySessionOpenInIt() throws {
        try build()
        XCTAssertGreaterThan(try checkEveryPeriod(), 2_000, "the periods include sessions begun before them")
    }

    /// Tiny thresholds: the filters' rows fetched by id (the overlap checked on each), not walked.
    func testTheSameThroughEveryStrategy() throws {
        try build()
        try checkEveryPeriod(limits: PlanLimits(candidateCap: 2, distinctCap: 1, sortedCap: 3))
    }

    /// The report's sessions from before its period: those begun before it and open in it, oldest
    /// first, cut at --top, with their number.
    func testTheReportListsTheSessionsBegunBeforeItsPeriod() throws {
        try build()
        let reader = try AuditReader(path: path)
        let all = try reader.sessions(QueryFilter())
        let commands = Dictionary(grouping: try reader.commands(QueryFilter()), by: \.sessionID)
        for (since, until) in [(at(1_800), at(3_600)), (at(14_400), at(14_401)), (at(30_000), at(70_000)), (at(-10), at(10))] {
            let want = all.filter { $0.startedAt < since && Self.overlaps($0, since: since, until: until, commands: commands[$0.id] ?? []) }
            let report = try reader.report(since: since, until: until, top: 8, generatedAt: at(80_000))
            XCTAssertEqual(report.sessionsFromBefore.map(\.session.id), Array(want.prefix(8).map(\.id)), since)
            XCTAssertEqual(report.totals.sessionsFromBefore, want.count, since)
            if since > at(0) { XCTAssertGreaterThan(want.count, 8, "the list is cut at --top") }
        }
    }

    /// A database not upgraded to 0031 (a read-only copy): the same answers, without the index.
    func testTheSameWithoutTheLongSessionsIndex() throws {
        try build()
        try DatabaseQueue(path: path).write { db in try db.execute(sql: "DROP INDEX sessions_long") }
        try checkEveryPeriod()
    }

    /// The index holds exactly the sessions that lasted an hour or more, and one whose start is not a
    /// time (so that no session falls between the three parts a period is read in).
    func testTheLongSessionsIndexHoldsTheSessionsOfAnHourOrMore() throws {
        try build()
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at, ended_at) VALUES (999, 1, 1, 'not a time', ?)",
                           arguments: [at(10)])
            let long = try Int64.fetchAll(db, sql: """
                SELECT id FROM sessions s INDEXED BY sessions_long WHERE \(QueryPlanner.longSession) ORDER BY id
                """)
            let want = try Int64.fetchAll(db, sql: """
                SELECT id FROM sessions WHERE ended_at IS NOT NULL
                AND (julianday(ended_at) - julianday(started_at) >= 1.0 / 24 - 1e-9 OR julianday(started_at) IS NULL) ORDER BY id
                """)
            XCTAssertEqual(long, want)
            XCTAssertTrue(long.contains(999))
            XCTAssertGreaterThan(long.count, 50)
        }
    }
}
