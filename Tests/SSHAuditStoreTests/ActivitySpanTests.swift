import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// A file or network row stands for repeats from first_at to last_at. --since/--until (and a report's
/// period) match every row that overlaps the period: a loop begun before it still shows for what it
/// did in it. Checked against a brute-force answer over many periods, limits and filters, on a
/// database with the span indexes (schema/0030) and on one without them.
final class ActivitySpanTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }
    /// 2026-11-29T…: every time below is t0 plus whole milliseconds.
    static let t0: Int64 = 1_795_917_299_000_000_000
    static let ms: Int64 = 1_000_000

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "spans-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A fixed pseudo-random sequence (the same rows every run).
    struct Numbers {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next(_ bound: Int64) -> Int64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int64((state >> 33) % UInt64(bound))
        }
    }

    /// Six sessions of two users; 600 file and 400 network rows over 100 s, a third seen once, the
    /// rest spans of up to 2 s, and some up to 80 s (a loop left running).
    func build() throws {
        let store = try AuditStore.openForRecording(path: path)
        var n = Numbers()
        var outputs: [CorrelatorOutput] = []
        for id in Int64(1)...6 {
            var s = SessionRecord(id: id, sshdPid: 4000 + UInt32(id), sshdStartNs: UInt64(70 + id), startedAtNs: Self.t0)
            s.user = id % 2 == 0 ? "alice" : "bob"
            outputs.append(.session(s))
        }
        func span() -> (Int64, Int64) {
            let first = Self.t0 + n.next(100_000) * Self.ms
            switch n.next(3) {
            case 0: return (first, first)
            case 1: return (first, first + n.next(2_000) * Self.ms)
            default: return (first, first + n.next(80_000) * Self.ms)
            }
        }
        let paths = ["/home/alice/.ssh/authorized_keys", "/tmp/x", "/etc/cron.d/job", "/var/tmp/y", "/home/bob/notes"]
        let ops: [FileOperation] = [.write, .create, .chmod]
        for id in Int64(1)...600 {
            let (first, last) = span()
            outputs.append(.fileActivity(FileActivityRecord(
                id: id, sessionID: 1 + n.next(6), commandID: nil, pid: 100 + UInt32(n.next(50)), uid: 1000,
                op: ops[Int(n.next(3))], path: paths[Int(n.next(5))], newPath: nil, firstAtNs: first, lastAtNs: last,
                count: last == first ? 1 : 2 + n.next(500))))
        }
        let endpoints: [(NetworkRecord.Op, String, Int64)] = [(.connect, "203.0.113.9", 443), (.connect, "198.51.100.7", 22),
                                                              (.listen, "0.0.0.0", 4444), (.connectFailed, "10.0.0.1", 23)]
        for id in Int64(1)...400 {
            let (first, last) = span()
            let (op, addr, port) = endpoints[Int(n.next(4))]
            outputs.append(.network(NetworkRecord(
                id: id, sessionID: 1 + n.next(6), commandID: nil, pid: 100 + UInt32(n.next(50)), uid: 1000, op: op,
                family: "inet", proto: "tcp", addr: addr, port: UInt16(port), path: nil, firstAtNs: first, lastAtNs: last,
                count: last == first ? 1 : 2 + n.next(500))))
        }
        try store.write(outputs)
    }

    struct Span { var id: Int64; var session: Int64; var user: String; var first: String; var last: String }

    func spans(_ table: String) throws -> [Span] {
        try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: """
                SELECT t.id, t.session_id, s.user, t.first_at, t.last_at FROM \(table) t JOIN sessions s ON s.id = t.session_id
                ORDER BY t.first_at, t.id
                """).map { Span(id: $0[0], session: $0[1], user: $0[2], first: $0[3], last: $0[4]) }
        }
    }

    /// What a period means: the row overlaps [since, until).
    func expected(_ all: [Span], _ f: QueryFilter, where keep: (Span) -> Bool = { _ in true }) -> [Int64] {
        let ids = all.filter { r in
            (f.since.map { r.last >= $0 } ?? true) && (f.until.map { r.first < $0 } ?? true)
                && (f.sessionID.map { r.session == $0 } ?? true) && (f.user.map { r.user == $0 } ?? true) && keep(r)
        }.map(\.id)
        return f.limit.map { Array(ids.prefix($0)) } ?? ids
    }

    func at(_ second: Int64) -> String { Timestamp.iso(ns: Self.t0 + second * 1_000 * Self.ms) }

    /// Every combination of period, limit, session and user, for both tables; returns how many of the
    /// rows found began before --since (the rows the first-time filter alone lost).
    @discardableResult
    func checkEveryPeriod() throws -> Int {
        let reader = try AuditReader(path: path)
        let files = try spans("file_activity"), network = try spans("network_activity")
        let times: [String?] = [nil, at(0), at(7), at(31), at(50), at(64), at(99), at(140)]
        var carried = 0
        for since in times {
            for until in times {
                for limit in [nil, 1, 7, 60] as [Int?] {
                    for (session, user) in [(nil, nil), (Int64(3), nil), (nil, "alice")] as [(Int64?, String?)] {
                        let f = QueryFilter(sessionID: session, user: user, limit: limit, since: since, until: until)
                        let label = "since \(since ?? "-") until \(until ?? "-") limit \(limit.map(String.init) ?? "-") session \(session.map(String.init) ?? "-") user \(user ?? "-")"
                        let gotFiles = try reader.fileActivity(f).map(\.id)
                        XCTAssertEqual(gotFiles, expected(files, f), "files, \(label)")
                        XCTAssertEqual(try reader.network(f).map(\.id), expected(network, f), "network, \(label)")
                        var all = f
                        all.limit = nil
                        XCTAssertEqual(try reader.fileActivityCount(f, FileActivityFilter()), expected(files, all).count, "count, \(label)")
                        if let since { carried += files.filter { gotFiles.contains($0.id) && $0.first < since }.count }
                    }
                }
            }
        }
        return carried
    }

    func testAPeriodMatchesEveryRowThatOverlapsIt() throws {
        try build()
        let carried = try checkEveryPeriod()
        XCTAssertGreaterThan(carried, 1_000, "the periods include rows begun before them")
    }

    /// A database not upgraded to 0030 (a read-only copy): the same answers, without the index.
    func testTheSameWithoutTheSpanIndexes() throws {
        try build()
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "DROP INDEX file_activity_spans; DROP INDEX network_activity_spans")
        }
        try checkEveryPeriod()
    }

    /// The attack: a loop that rewrites authorized_keys from before the reviewed period into it, while
    /// something else is changed in the period. Both are listed as sensitive changes of the period,
    /// and the report's network part counts a listener opened before it and still accepting in it.
    func testALoopBegunBeforeThePeriodIsInItsSensitiveListAndReport() throws {
        let store = try AuditStore.openForRecording(path: path)
        var s = SessionRecord(id: 1, sshdPid: 4001, sshdStartNs: 71, startedAtNs: Self.t0)
        s.user = "mallory"
        let loop = FileActivityRecord(id: 1, sessionID: 1, commandID: nil, pid: 200, uid: 1000, op: .write,
                                      path: "/home/mallory/.ssh/authorized_keys", newPath: nil,
                                      firstAtNs: Self.t0, lastAtNs: Self.t0 + 3_600_000 * Self.ms, count: 3_600)
        let inPeriod = FileActivityRecord(id: 2, sessionID: 1, commandID: nil, pid: 201, uid: 1000, op: .create,
                                          path: "/etc/cron.d/job", newPath: nil, firstAtNs: Self.t0 + 1_900_000 * Self.ms,
                                          lastAtNs: Self.t0 + 1_900_000 * Self.ms, count: 1)
        let before = FileActivityRecord(id: 3, sessionID: 1, commandID: nil, pid: 202, uid: 1000, op: .write,
                                        path: "/etc/passwd", newPath: nil, firstAtNs: Self.t0, lastAtNs: Self.t0 + 5 * Self.ms, count: 2)
        let listener = NetworkRecord(id: 1, sessionID: 1, commandID: nil, pid: 200, uid: 1000, op: .listen, family: "inet",
                                     proto: "tcp", addr: "0.0.0.0", port: 4444, path: nil, firstAtNs: Self.t0,
                                     lastAtNs: Self.t0 + 3_600_000 * Self.ms, count: 40)
        try store.write([.session(s), .fileActivity(loop), .fileActivity(inPeriod), .fileActivity(before), .network(listener)])

        let reader = try AuditReader(path: path)
        let (since, until) = (at(1_800), at(2_000))
        let sensitive = FileActivityFilter(sensitive: SensitivePaths.defaults)
        let found = try reader.fileActivity(QueryFilter(since: since, until: until), sensitive)
        XCTAssertEqual(found.map(\.path), ["/home/mallory/.ssh/authorized_keys", "/etc/cron.d/job"],
                       "the loop begun before the period, then the change in it; not the passwd write that ended before")
        XCTAssertEqual(try reader.fileActivityCount(QueryFilter(since: since, until: until), sensitive), 2)
        let report = try reader.report(since: since, until: until, generatedAt: at(4_000))
        XCTAssertEqual(report.network.map { "\($0.op) \($0.port ?? 0) \($0.count)" }, ["listen 4444 40"])
        // A period after the loop's last write lists none of it.
        XCTAssertEqual(try reader.fileActivity(QueryFilter(since: at(3_601), until: at(4_000)), sensitive).count, 0)
        XCTAssertEqual(try reader.report(since: at(3_601), until: at(4_000), generatedAt: at(4_000)).network.count, 0)
    }

    /// The report's network part over many periods, against the rows that overlap each.
    func testTheReportsNetworkPartCountsOverlappingRows() throws {
        try build()
        let reader = try AuditReader(path: path)
        let rows = try reader.network(QueryFilter())
        for (since, until) in [(at(0), at(140)), (at(31), at(50)), (at(64), at(65)), (at(99), at(140)), (at(-50), at(0))] {
            var want: [String: Int64] = [:]
            for r in rows where r.lastAt >= since && r.firstAt < until { want["\(r.op) \(r.addr ?? "") \(r.port ?? 0)", default: 0] += r.count }
            let report = try reader.report(since: since, until: until, top: 100, generatedAt: at(200))
            let got = Dictionary(uniqueKeysWithValues: report.network.map { ("\($0.op) \($0.addr ?? "") \($0.port ?? 0)", $0.count) })
            XCTAssertEqual(got, want, "\(since) … \(until)")
        }
    }
}
