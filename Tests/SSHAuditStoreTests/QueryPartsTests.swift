import Foundation
import GRDB
import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// The pieces under the queries: addresses and networks, times, argv search, the read-only SQL
/// statement, the session timeline, the report, and migration 0005 on a database that has rows.
final class QueryPartsTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "parts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: - Addresses

    func testNetworksParseAndContain() {
        let v4 = IPNetwork("10.1.0.0/16")!
        XCTAssertTrue(v4.contains(text: "10.1.255.3"))
        XCTAssertTrue(v4.contains(text: "::ffff:10.1.0.9"), "IPv4-mapped addresses are IPv4")
        XCTAssertFalse(v4.contains(text: "10.2.0.1"))
        XCTAssertFalse(v4.contains(text: "2001:db8::1"))
        XCTAssertFalse(v4.contains(text: "not an address"))
        XCTAssertEqual(IPNetwork("10.1.2.3/8")?.description, "10.0.0.0/8", "host bits are cleared")
        XCTAssertEqual(IPNetwork("192.0.2.7")?.description, "192.0.2.7/32")
        let v6 = IPNetwork("2001:DB8::/32")!
        XCTAssertTrue(v6.contains(text: "2001:db8:ffff::1"))
        XCTAssertTrue(v6.contains(text: "2001:db8::"))
        XCTAssertFalse(v6.contains(text: "2001:db9::1"))
        XCTAssertFalse(v6.contains(text: "10.0.0.1"))
        XCTAssertTrue(IPNetwork("::1")!.contains(text: "::1"))
        XCTAssertTrue(IPNetwork("2001:db8::5")!.contains(text: "2001:0db8:0:0::5"))
        XCTAssertTrue(IPNetwork("::ffff:192.0.2.0/120")!.contains(text: "192.0.2.9"))
        XCTAssertTrue(IPNetwork("0.0.0.0/0")!.contains(text: "203.0.113.1"))
        XCTAssertFalse(IPNetwork("0.0.0.0/0")!.contains(text: "2001:db8::1"))
        XCTAssertTrue(IPNetwork("::/0")!.contains(text: "2001:db8::1"))
        for bad in ["", "10.0.0", "10.0.0.0.1", "256.1.1.1", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8",
                    "::1/129", "2001:db8:::1", "2001:db8::1::2", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "abc", "10.0.0.01a",
                    "+1::", "1.2.3.4/ 8", "0x10.0.0.1", "2001:db8::/3x"] {
            XCTAssertNil(IPNetwork(bad), bad)
        }
    }

    /// Every address of a network, written as the recorder writes it, falls in one of its text ranges.
    func testTextRangesCoverEveryFormOfEveryAddress() {
        var rng = SeededGenerator(seed: 7)
        for cidr in ["10.1.2.0/24", "10.1.2.0/23", "10.1.2.128/25", "10.0.0.0/8", "10.1.2.3/32", "10.1.2.3/30", "0.0.0.0/0",
                     "192.0.2.0/20", "2001:db8::/32", "2001:db8::/12", "::/8", "fe80::/10", "::1/128", "2001:db8::5/127"] {
            let net = IPNetwork(cidr)!
            guard let ranges = net.textRanges else { XCTAssertTrue(cidr.hasPrefix("::/"), cidr); continue }
            for _ in 0..<300 {
                var bytes = net.bytes
                for i in 0..<16 {
                    let fixed = max(0, min(8, net.prefixLength - 8 * i))
                    let random = UInt8(truncatingIfNeeded: rng.next())
                    let mask = fixed == 0 ? UInt8(0) : UInt8(truncatingIfNeeded: 0xff << (8 - fixed))
                    bytes[i] = (bytes[i] & mask) | (random & ~mask)
                }
                let address = IPAddress(bytes: bytes)
                XCTAssertTrue(net.contains(address))
                var forms = [address.text]
                if address.isIPv4 { forms.append("::ffff:" + address.text) }
                for text in forms {
                    XCTAssertTrue(ranges.contains { text >= $0.lower && text < $0.upper }, "\(text) outside the ranges of \(cidr)")
                    XCTAssertTrue(net.contains(text: text))
                }
            }
        }
        XCTAssertNil(IPNetwork("::/0")!.textRanges, "too many first groups: checked row by row")
    }

    func testAddressTextIsTheRecordersForm() {
        XCTAssertEqual(IPAddress.parse("2001:0DB8:0000:0000:0000:0000:0000:0001")?.text, "2001:db8::1")
        XCTAssertEqual(IPAddress.parse("2001:db8:0:1:0:0:0:1")?.text, "2001:db8:0:1::1")
        XCTAssertEqual(IPAddress.parse("::ffff:1.2.3.4")?.text, "1.2.3.4")
        XCTAssertEqual(IPAddress.parse("1:0:2:0:3:0:4:0")?.text, "1:0:2:0:3:0:4:0")
    }

    // MARK: - Times

    func testTimesAbsoluteAndRelative() {
        let now: Int64 = 1_795_917_299_123_000_000  // 2026-11-29T01:54:59.123Z
        XCTAssertEqual(QueryTime.parse("2026-11-28", nowNs: now), "2026-11-28T00:00:00.000Z")
        XCTAssertEqual(QueryTime.parse("2026-11-28T23:55", nowNs: now), "2026-11-28T23:55:00.000Z")
        XCTAssertEqual(QueryTime.parse("2026-11-28T23:55:01.5+01:00", nowNs: now), "2026-11-28T22:55:01.500Z")
        XCTAssertEqual(QueryTime.parse("30m", nowNs: now), "2026-11-29T01:24:59.123Z")
        XCTAssertEqual(QueryTime.parse("2h", nowNs: now), "2026-11-28T23:54:59.123Z")
        XCTAssertEqual(QueryTime.parse("7d", nowNs: now), "2026-11-22T01:54:59.123Z")
        XCTAssertEqual(QueryTime.parse("1w", nowNs: now), "2026-11-22T01:54:59.123Z")
        XCTAssertEqual(QueryTime.parse("90s", nowNs: now), "2026-11-29T01:53:29.123Z")
        XCTAssertEqual(QueryTime.parse("now", nowNs: now), "2026-11-29T01:54:59.123Z")
        for bad in ["", "yesterday", "7", "d", "7x", "-7d", "2026-13-01", "2026-11-28T25:00", "99999999999999d", "2026/11/28", "7 d"] {
            XCTAssertNil(QueryTime.parse(bad, nowNs: now), bad)
        }
    }

    // MARK: - argv search

    func testArgvSearchJoinsLikeTheIndexTrigger() {
        XCTAssertTrue(ArgvSearch.contains(argv: #"["rm","-rf","/"]"#, pattern: "rm -rf /"))
        XCTAssertFalse(ArgvSearch.contains(argv: #"["rm","-rf","/"]"#, pattern: "RM"))
        XCTAssertTrue(ArgvSearch.contains(argv: #"["echo","a \"q\" b"]"#, pattern: "\"q\""))
        XCTAssertTrue(ArgvSearch.contains(argv: #"["cat","\u00fcn\u00efcode"]"#, pattern: "ünï"))
        XCTAssertTrue(ArgvSearch.contains(argv: #"["x","\ud83d\ude00"]"#, pattern: "😀"))
        XCTAssertTrue(ArgvSearch.contains(argv: #"["a\nb"]"#, pattern: "a\nb"))
        XCTAssertFalse(ArgvSearch.contains(argv: #"["ab"]"#, pattern: "abc"))
        XCTAssertTrue(ArgvSearch.contains(argv: "not json at all", pattern: "json at"), "raw text when not a JSON array")
        XCTAssertEqual(String(decoding: ArgvSearch.commandLine(argvJSON: "[]"), as: UTF8.self), "")
        XCTAssertEqual(String(decoding: ArgvSearch.commandLine(argvJSON: #"[ "a" , "b c" ]"#), as: UTF8.self), "a b c")
        XCTAssertEqual(ArgvSearch.strings(argvJSON: #"["a","",  "b \"c\"","\u00fc"]"#), ["a", "", "b \"c\"", "ü"])
        XCTAssertEqual(ArgvSearch.strings(argvJSON: "[]"), [])
        XCTAssertNil(ArgvSearch.strings(argvJSON: #"["a", 1]"#))
        XCTAssertNil(ArgvSearch.strings(argvJSON: #"["a""#))
    }

    /// The trigram index (through its trigger) and the Swift function agree on what matches.
    func testIndexTriggerAndFunctionAgree() throws {
        let path = dir + "/a.db"
        let store = try AuditStore.openForRecording(path: path)
        let argvs: [[String]] = [["rm", "-rf", "/"], ["echo", "a \"q\" b"], ["cat", "ünïcode"], ["x", "😀 smile"], ["a\tb", "c"], ["ab"]]
        var batch: [CorrelatorOutput] = [.session(SessionRecord(id: 1, sshdPid: 1, sshdStartNs: 1, startedAtNs: 1))]
        for (i, argv) in argvs.enumerated() {
            batch.append(.command(CommandRecord(id: Int64(i + 1), sessionID: 1, parentID: nil, pid: 1, ppid: 1, uid: 0,
                                                filename: "/x", argv: argv, argvTruncated: false, startedAtNs: Int64(i))))
        }
        try store.write(batch)
        let reader = try AuditReader(path: path)
        for pattern in ["rm -rf", "-rf /", "\"q\"", "ünï", "😀 s", "a\tb c", "abc", "rf", "no such"] {
            let viaIndex = try reader.commands(QueryFilter(grep: pattern)).map(\.id)
            reader.limits = PlanLimits(candidateCap: 0, distinctCap: 0, sortedCap: 0)  // never the index
            let viaFunction = try reader.commands(QueryFilter(grep: pattern)).map(\.id)
            reader.limits = PlanLimits()
            let oracle = argvs.enumerated().filter { $0.element.joined(separator: " ").contains(pattern) }.map { Int64($0.offset + 1) }
            XCTAssertEqual(viaIndex, oracle, pattern)
            XCTAssertEqual(viaFunction, oracle, pattern)
        }
    }

    // MARK: - Migration 0005 and its index

    func testMigrationIndexesExistingCommandsAndFollowsLaterChanges() throws {
        let path = dir + "/old.db"
        // A database as an older sshaudit left it: migrations up to 0004, with commands in it.
        let queue = try DatabaseQueue(path: path)
        var old = DatabaseMigrator()
        for migration in embeddedMigrations where migration.name < "0005" {
            old.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        try old.migrate(queue)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at) VALUES (1, 1, 1, '2026-01-01T00:00:00.000Z')")
            try db.execute(sql: """
                INSERT INTO commands (id, session_id, pid, ppid, uid, filename, argv, started_at)
                VALUES (1, 1, 1, 1, 0, '/bin/nc', '["nc","-e","/bin/sh"]', '2026-01-01T00:00:01.000Z')
                """)
        }
        try queue.close()
        let oldReader = try AuditReader(path: path)
        XCTAssertEqual(try oldReader.commands(QueryFilter(grep: "nc -e")).map(\.id), [1], "works without the index too")
        XCTAssertEqual(try oldReader.sessions(QueryFilter(from: IPNetwork("10.0.0.0/8"))).count, 0)

        let store = try AuditStore.openForRecording(path: path)  // applies 0005
        let reader = try AuditReader(path: path)
        XCTAssertTrue(reader.schema.isSuperset(of: ["commands_argv", "sessions_remote", "commands_privileged"]))
        let hits = { (pattern: String) -> [Int64] in
            try DatabaseQueue(path: path).read { db in
                try Int64.fetchAll(db, sql: "SELECT rowid FROM commands_argv WHERE commands_argv MATCH ?", arguments: ["\"\(pattern)\""])
            }
        }
        XCTAssertEqual(try hits("nc -e /bin"), [1], "existing rows are indexed by the migration")
        // A command written later (as the recorder writes: upsert, then the same row again with its end).
        var c = CommandRecord(id: 2, sessionID: 1, parentID: nil, pid: 2, ppid: 1, uid: 0, filename: "/usr/bin/wget",
                              argv: ["wget", "http://example/x.sh"], argvTruncated: false, startedAtNs: 1_767_225_602_000_000_000)
        try store.write([.command(c)])
        c.endedAtNs = c.startedAtNs + 1_000_000; c.exitCode = 0
        try store.write([.command(c)])
        XCTAssertEqual(try hits("example/x"), [], "the index trails the rows (filled in spare time)")
        XCTAssertEqual(try reader.commands(QueryFilter(grep: "example/x")).map(\.id), [2], "--grep reads the rows not yet indexed")
        XCTAssertEqual(try reader.sessions(QueryFilter(grep: "example/x")).map(\.id), [1])
        XCTAssertEqual(try store.indexCommandLines(), 1)
        XCTAssertEqual(try store.indexCommandLines(), 0, "caught up")
        XCTAssertEqual(try hits("example/x"), [2], "indexed once")
        XCTAssertEqual(try reader.commands(QueryFilter(grep: "example/x")).map(\.id), [2], "found once, not twice")
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: #"UPDATE commands SET argv = '["wget","http://other/y"]' WHERE id = 2"#)
            XCTAssertEqual(try Int64.fetchAll(db, sql: "SELECT rowid FROM commands_argv WHERE commands_argv MATCH '\"other/y\"'"), [2])
            XCTAssertEqual(try Int64.fetchAll(db, sql: "SELECT rowid FROM commands_argv WHERE commands_argv MATCH '\"example/x\"'"), [])
            try db.execute(sql: "DELETE FROM commands WHERE id = 1")
        }
        XCTAssertEqual(try hits("nc -e"), [], "deleted rows leave the index")
    }

    /// The report's privileged list must use the partial index, which needs its WHERE clause word for word.
    func testPrivilegedQueryUsesThePartialIndex() throws {
        let path = dir + "/p.db"
        _ = try AuditStore.openForRecording(path: path)
        let plan = try DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: """
                EXPLAIN QUERY PLAN SELECT count(*) FROM commands c INDEXED BY commands_privileged
                WHERE (\(privilegedCondition)) AND c.started_at >= '2026' AND c.started_at < '2027'
                """, adapter: ColumnMapping(["detail": "detail"])).joined(separator: "\n")
        }
        XCTAssertTrue(plan.contains("commands_privileged"), plan)
    }

    // MARK: - Read-only SQL

    func testReadOnlySQL() throws {
        let path = dir + "/q.db"
        let store = try AuditStore.openForRecording(path: path)
        var s = SessionRecord(id: 1, sshdPid: 1, sshdStartNs: 1, startedAtNs: 0)
        s.user = "alice"
        try store.write([.session(s)])
        let reader = try AuditReader(path: path)
        let result = try reader.readOnlyQuery("SELECT id, user, 1.5 AS x, NULL AS n, x'00ff' AS b FROM sessions")
        XCTAssertEqual(result.columns, ["id", "user", "x", "n", "b"])
        XCTAssertEqual(result.rows, [[.integer(1), .text("alice"), .real(1.5), .null, .blob(Data([0, 255]))]])
        XCTAssertEqual(try reader.readOnlyQuery("WITH t AS (SELECT 2 AS v) SELECT v FROM t;  ").rows, [[.integer(2)]])
        for write in ["DELETE FROM sessions", "UPDATE sessions SET user = 'x'", "INSERT INTO sessions (id) VALUES (9)",
                      "DROP TABLE sessions", "CREATE TABLE t (x)", "PRAGMA user_version = 3", "VACUUM", "REINDEX"] {
            XCTAssertThrowsError(try reader.readOnlyQuery(write), write) { error in
                XCTAssertTrue("\(error)".contains("only read-only statements are allowed"), "\(write): \(error)")
            }
        }
        XCTAssertThrowsError(try reader.readOnlyQuery("SELECT 1; DELETE FROM sessions")) {
            XCTAssertTrue("\($0)".contains("one statement"), "\($0)")
        }
        XCTAssertThrowsError(try reader.readOnlyQuery("SELEC nonsense")) {
            XCTAssertTrue("\($0)".hasPrefix("SQL error: "), "\($0)")
            XCTAssertFalse("\($0)".contains("\n"))
        }
        XCTAssertEqual(try reader.sessions(QueryFilter()).map(\.user), ["alice"], "nothing was written")
    }

    // MARK: - Timeline

    func testTimelineNestsCommandsUnderTheirParents() throws {
        let path = dir + "/t.db"
        let store = try AuditStore.openForRecording(path: path)
        func command(_ id: Int64, parent: Int64?, _ argv: [String], at: Int64) -> CorrelatorOutput {
            .command(CommandRecord(id: id, sessionID: 1, parentID: parent, pid: UInt32(id), ppid: 1, uid: 0, filename: "/x",
                                   argv: argv, argvTruncated: false, startedAtNs: at * 1_000_000_000))
        }
        try store.write([
            .session(SessionRecord(id: 1, sshdPid: 1, sshdStartNs: 1, startedAtNs: 0)),
            .session(SessionRecord(id: 2, sshdPid: 2, sshdStartNs: 2, startedAtNs: 0)),
            command(1, parent: nil, ["-bash"], at: 1),
            command(2, parent: 1, ["sudo", "x"], at: 3),
            command(3, parent: 2, ["x"], at: 4),
            command(4, parent: 1, ["ls"], at: 2),
            command(5, parent: 99, ["orphan"], at: 5),  // parent outside the session: a root
            .auth(AuthRecord(id: 1, sessionID: 1, atNs: 500_000_000, user: "a", remote: nil, method: "password",
                             result: .failed, keyType: nil, keyFingerprint: nil)),
        ])
        let t = try AuditReader(path: path).timeline(session: 1)
        XCTAssertEqual(t.commands.map(\.command.id), [1, 5])
        XCTAssertEqual(t.commands[0].children.map(\.command.id), [4, 2], "children in time order")
        XCTAssertEqual(t.commands[0].children[1].children.map(\.command.id), [3])
        XCTAssertEqual(t.flattenedCommands.map { "\($0.depth):\($0.command.id)" }, ["0:1", "1:4", "1:2", "2:3", "0:5"])
        XCTAssertEqual(t.auth.map(\.result), ["failed"])
        XCTAssertThrowsError(try AuditReader(path: path).timeline(session: 42)) {
            XCTAssertTrue("\($0)".contains("no session 42"), "\($0)")
        }
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(t)) as! [String: Any]
        let roots = json["commands"] as! [[String: Any]]
        XCTAssertEqual(roots[0]["argv"] as? [String], ["-bash"])
        XCTAssertEqual((roots[0]["children"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual((json["session"] as? [String: Any])?["id"] as? Int, 1)
    }

    func testTreeSurvivesCyclesAndKeepsEveryRow() {
        func row(_ id: Int64, _ parent: Int64?) -> CommandRow {
            var r = try! JSONDecoder().decode(CommandRowStub.self, from: Data("{}".utf8)).row
            r.id = id; r.parentID = parent
            return r
        }
        let forest = AuditReader.tree([row(1, 2), row(2, 1), row(3, 3), row(4, nil), row(5, 4)])
        var seen: [Int64] = []
        var stack = forest
        while let node = stack.popLast() { seen.append(node.command.id); stack += node.children }
        XCTAssertEqual(seen.sorted(), [1, 2, 3, 4, 5])
    }

    // MARK: - Report

    func testReportCountsThePeriod() throws {
        let path = dir + "/r.db"
        let store = try AuditStore.openForRecording(path: path)
        let day: Int64 = 86_400_000_000_000
        let t0: Int64 = 1_741_564_800_000_000_000  // 2025-03-10
        var batch: [CorrelatorOutput] = []
        for i in Int64(0)..<6 {
            var s = SessionRecord(id: i + 1, sshdPid: UInt32(i + 1), sshdStartNs: 1, startedAtNs: t0 + (i % 3) * day + i)
            s.remote = Endpoint(address: i < 3 ? "203.0.113.9" : "10.0.0.\(i)", port: 1)
            if i >= 2 { s.user = i % 2 == 0 ? "alice" : "bob"; s.authenticatedAtNs = s.startedAtNs + 1 }
            if i != 5 { s.endedAtNs = s.startedAtNs + 1_000_000_000 }
            batch.append(.session(s))
            batch.append(.auth(AuthRecord(id: i + 1, sessionID: i + 1, atNs: s.startedAtNs, user: s.user ?? "root",
                                          remote: s.remote, method: "password", result: s.user == nil ? .failed : .accepted,
                                          keyType: nil, keyFingerprint: nil)))
        }
        for (i, file) in ["/usr/bin/sudo", "/bin/su", "/usr/bin/ls", "/bin/ls", "/usr/bin/ls"].enumerated() {
            batch.append(.command(CommandRecord(id: Int64(i + 1), sessionID: 3 + Int64(i % 3), parentID: nil, pid: 1, ppid: 1, uid: 0,
                                                filename: file, argv: [String(file.split(separator: "/").last!)], argvTruncated: false,
                                                startedAtNs: t0 + day + Int64(i))))
        }
        try store.write(batch)
        let r = try AuditReader(path: path).report(since: Timestamp.iso(ns: t0), until: Timestamp.iso(ns: t0 + 3 * day),
                                                   top: 10, generatedAt: "2025-03-14T00:00:00.000Z")
        XCTAssertEqual(r.totals.connections, 6)
        XCTAssertEqual(r.totals.logins, 4)
        XCTAssertEqual(r.totals.unauthenticated, 2)
        XCTAssertEqual(r.totals.failedAttempts, 2)
        XCTAssertEqual(r.totals.authAttempts, 6)
        XCTAssertEqual(r.totals.commands, 5)
        XCTAssertEqual(r.totals.privilegedCommands, 2)
        XCTAssertEqual(r.totals.openSessions, 1)
        XCTAssertEqual(r.loginsPerUser.map(\.user), ["alice", "bob"])
        XCTAssertEqual(r.loginsPerUser.map(\.logins), [2, 2])
        XCTAssertEqual(r.days.map(\.day), ["2025-03-10", "2025-03-11", "2025-03-12"])
        XCTAssertEqual(r.days.map(\.logins), [1, 1, 2])
        XCTAssertEqual(r.days.map(\.failedAttempts), [1, 1, 0])
        XCTAssertEqual(r.failedBySource, [AuditReport.Source(address: "203.0.113.9", failedAttempts: 2, invalidUsers: 0, usersTried: 1,
                                                              first: Timestamp.iso(ns: t0), last: Timestamp.iso(ns: t0 + day + 1))])
        XCTAssertEqual(r.topPrograms, [AuditReport.Program(program: "ls", runs: 3), AuditReport.Program(program: "su", runs: 1),
                                       AuditReport.Program(program: "sudo", runs: 1)])
        XCTAssertEqual(r.privileged.map(\.argv), [["su"], ["sudo"]], "newest first")
        XCTAssertEqual(r.openSessions.map(\.session.id), [6])
        // An empty period.
        let empty = try AuditReader(path: path).report(since: "2030-01-01T00:00:00.000Z", until: "2030-01-02T00:00:00.000Z",
                                                       generatedAt: "x")
        XCTAssertEqual(empty.totals.connections, 0)
        XCTAssertTrue(empty.days.isEmpty && empty.topPrograms.isEmpty && empty.privileged.isEmpty)
    }
}

/// A CommandRow with placeholder values (its memberwise init is internal to the row's decoding).
struct CommandRowStub: Decodable {
    var row: CommandRow
    init(from decoder: Decoder) throws {
        row = try CommandRow(row: ["id": 0, "session_id": 1, "parent_id": nil, "pid": 1, "ppid": 1, "uid": 0, "filename": "/x",
                               "argv": "[]", "argv_truncated": false, "cwd": nil, "started_at": "2026-01-01T00:00:00.000Z",
                               "ended_at": nil, "duration_ms": nil, "exit_code": nil, "signal": nil, "recovered": false])
    }
}
