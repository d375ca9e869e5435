import Foundation
@testable import SSHAuditCore
@testable import SSHAuditStore
import XCTest

/// `query … --central`, `show --central`, `query keys|sources --central`: three hosts' real
/// recordings shipped to a real PostgreSQL answer like each host's own database, plus the host.
final class FleetQueryTests: XCTestCase {
    var server: SSHDServer?
    var postgres: PostgresServer?

    override func tearDown() {
        server?.stop()
        postgres?.destroy()
        super.tearDown()
    }

    private func sshaudit(_ args: [String]) throws -> ProcessResult {
        try runProcess(Paths.sshaudit, args, timeout: 120)
    }

    /// A fleet command's JSON (an array of objects, or one object as `[object]`).
    private func fleet(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let pg = try XCTUnwrap(postgres)
        let r = try sshaudit(args + ["--central", pg.url, "--password-file", pg.passwordFile, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        let value = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        if let rows = value as? [[String: Any]] { return rows }
        return [try XCTUnwrap(value as? [String: Any], file: file, line: line)]
    }

    private func local(_ args: [String], db: String) throws -> Any {
        let r = try sshaudit(args + ["--db", db, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    private func canonical(_ rows: [NSDictionary]) throws -> [String] {
        try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }.sorted()
    }

    private func withHost(_ row: Any, _ host: String) throws -> NSDictionary {
        var object = try XCTUnwrap(row as? [String: Any])
        object["host"] = host
        return object as NSDictionary
    }

    func testFleetQueriesAnswerLikeEachHostWithItsName() throws {
        let pg = try PostgresServer(name: "fleet-query")
        postgres = pg
        let server = try SSHDServer(name: "fleet-query", port: 22499)
        self.server = server
        // Three hosts, recorded one after the other: each database has its own sessions.
        var dbs: [(host: String, db: String)] = []
        // fleet-b's session also writes a file (a sensitive path here), fleet-c's opens a connection.
        let run = UUID().uuidString.prefix(8)
        let sensitiveList = "/run/sshaudit-test/fleet-query-sensitive"
        try "/tmp/fleet-sensitive-*\n".write(toFile: sensitiveList, atomically: true, encoding: .utf8)
        let extra = ["fleet-a": "", "fleet-b": "; echo x > /tmp/fleet-sensitive-\(run)", "fleet-c": "; exec 3<>/dev/tcp/127.0.0.1/22499"]
        for (host, marker) in [("fleet-a", "alpha"), ("fleet-b", "beta"), ("fleet-c", "gamma")] {
            let recorder = try Recorder(name: host)
            XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo fleet-\(marker)" + extra[host]!]).status, 0)
            if host == "fleet-b" { XCTAssertNotEqual(try server.sshWithPasswords("sa_bob", ["wrong"]).status, 0) }
            XCTAssertEqual(try recorder.stop(), 0)
            let shipped = try sshaudit(["ship", "--db", recorder.db, "--to", pg.url, "--password-file", pg.passwordFile,
                                        "--host", host, "--once"])
            XCTAssertEqual(shipped.status, 0, shipped.stderr)
            dbs.append((host, recorder.db))
        }

        // Every host's rows, each exactly as its own database prints it, plus "host".
        for kind in ["sessions", "commands", "auth", "files", "network"] {
            let rows = try fleet(["query", kind])
            var expected: [NSDictionary] = []
            for (host, db) in dbs {
                expected += try XCTUnwrap(try local(["query", kind], db: db) as? [Any]).map { try withHost($0, host) }
            }
            XCTAssertFalse(expected.isEmpty, kind)
            // Compared as sorted canonical JSON: a Set of NSDictionary hashes every row of a size alike
            // (quadratic on a busy machine, where the recorder sees every test's sshd).
            XCTAssertEqual(try canonical(rows.map { $0 as NSDictionary }), try canonical(expected), kind)
            XCTAssertEqual(rows.count, expected.count, "\(kind): each row once")
        }

        // File activity by glob (made a regular expression; a bracket expression is decided by the glob).
        for glob in ["/tmp/fleet-sensitive-*", "/tmp/fleet-sensitive-[0-9A-F]*"] {
            let matched = try fleet(["query", "files", "--path", glob])
            XCTAssertEqual(matched.map { $0.string("path") }, ["/tmp/fleet-sensitive-\(run)"], glob)
            XCTAssertEqual(matched.map { $0.string("host") }, ["fleet-b"], glob)
        }
        XCTAssertEqual(try fleet(["query", "files", "--path", "/tmp/fleet-sensitive-?"]).count, 0)
        XCTAssertEqual(try fleet(["query", "files", "--sensitive", "--sensitive-paths", sensitiveList]).map { $0.string("host") }, ["fleet-b"])
        let connects = try fleet(["query", "network", "--host", "fleet-c"]).filter { $0.int("port") == 22499 }
        XCTAssertEqual(connects.map { $0.string("op") }, ["connect"])

        // The local filters, across hosts.
        let beta = try fleet(["query", "commands", "--grep", "fleet-beta"])
        // sshd runs the command through the shell: `bash -c '/bin/echo fleet-beta'`, then /bin/echo.
        XCTAssertEqual(beta.map { $0.string("host") }, ["fleet-b", "fleet-b"])
        XCTAssertEqual(beta.last?["argv"] as? [String], ["/bin/echo", "fleet-beta"])
        let gamma = try fleet(["query", "sessions", "--grep", "fleet-gamma"])
        XCTAssertEqual(gamma.map { $0.string("host") }, ["fleet-c"])
        XCTAssertEqual(try fleet(["query", "sessions", "--grep", "fleet-%"]).count, 0, "LIKE's wildcards are plain text")
        XCTAssertEqual(Set(try fleet(["query", "sessions", "--host", "fleet-a"]).map { $0.string("host") }), ["fleet-a"])
        // (Every recorder follows every sshd of the machine, so tests running beside this one may add
        // rows to any host: the checks compare with each host's own answer rather than fixed counts.)
        let failed = try fleet(["query", "auth", "--failed", "--user", "sa_bob", "--host", "fleet-b"])
        XCTAssertFalse(failed.isEmpty)
        let ownFailed = try XCTUnwrap(try local(["query", "auth", "--failed", "--user", "sa_bob"], db: dbs[1].db) as? [Any])
        XCTAssertEqual(failed.map { $0 as NSDictionary }, try ownFailed.map { try withHost($0, "fleet-b") })
        XCTAssertEqual(try fleet(["query", "sessions", "--from", "10.0.0.0/8"]).count, 0)
        let loopback = try fleet(["query", "sessions", "--from", "127.0.0.0/8", "--user", "sa_alice"])
        XCTAssertEqual(Set(loopback.map { $0.string("host") }), ["fleet-a", "fleet-b", "fleet-c"])
        XCTAssertEqual(try fleet(["query", "sessions", "--limit", "2"]).count, 2)

        // Keys and sources per host.
        let keys = try fleet(["query", "keys"])
        XCTAssertEqual(Set(keys.map { $0.string("host") }), ["fleet-a", "fleet-b", "fleet-c"])
        for (host, db) in dbs {
            let mine = keys.filter { $0.string("host") == host }
            let expected = try XCTUnwrap(try local(["query", "keys"], db: db) as? [Any]).map { try withHost($0, host) }
            XCTAssertEqual(mine.map { $0 as NSDictionary }, expected, host)
        }
        let sources = try fleet(["query", "sources", "--host", "fleet-b"])
        let expectedSources = try XCTUnwrap(try local(["query", "sources"], db: dbs[1].db) as? [Any]).map { try withHost($0, "fleet-b") }
        XCTAssertEqual(sources.map { $0 as NSDictionary }, expectedSources)

        // One session: ids are per host, so --host says which.
        let id = try XCTUnwrap(beta.first?.int("session_id"))
        let shown = try XCTUnwrap(try fleet(["show", String(id), "--host", "fleet-b"]).first)
        XCTAssertEqual(shown as NSDictionary, try withHost(try local(["show", String(id)], db: dbs[1].db), "fleet-b"))
        let ambiguous = try sshaudit(["show", "1", "--central", pg.url, "--password-file", pg.passwordFile])
        XCTAssertEqual(ambiguous.status, 1)
        XCTAssertTrue(ambiguous.stderr.contains("exists on 3 hosts"), ambiguous.stderr)
        XCTAssertEqual(ambiguous.stderr.split(separator: "\n").count, 1, ambiguous.stderr)

        // A person's activity on every host, in time order.
        let timeline = try fleet(["show", "--user", "sa_alice"])
        XCTAssertEqual(Set(timeline.compactMap { $0.string("host") }), ["fleet-a", "fleet-b", "fleet-c"])
        let echoes = timeline.filter { $0.string("type") == "command" && ($0.string("text") ?? "").hasPrefix("/bin/echo fleet-") }
        XCTAssertEqual(echoes.compactMap { $0.string("host") }, ["fleet-a", "fleet-b", "fleet-c"])

        // The report: one host's equals that host's own (its coverage aside: recorder runs are not
        // shipped); the fleet's adds the hosts up.
        let now = ISO8601DateFormatter().string(from: Date().addingTimeInterval(60))
        func totals(_ report: Any?) -> [String: Int] {
            ((report as? [String: Any])?["totals"] as? [String: Any] ?? [:]).compactMapValues { $0 as? Int }
        }
        var sum: [String: Int] = [:]
        for (host, db) in dbs {
            let own = try XCTUnwrap(try local(["report", "--until", now, "--sensitive-paths", sensitiveList], db: db) as? [String: Any])
            let central = try XCTUnwrap(try fleet(["report", "--host", host, "--until", now, "--sensitive-paths", sensitiveList]).first)
            XCTAssertEqual(totals(central), totals(own), host)
            XCTAssertGreaterThan(totals(own)["connections"] ?? 0, 0)
            for key in ["days", "logins_per_user", "failed_by_source", "top_programs", "privileged_by_user", "network"] {
                XCTAssertEqual((central[key] as? [Any]).map { $0 as NSArray }, (own[key] as? [Any]).map { $0 as NSArray }, "\(host) \(key)")
            }
            // Sensitive changes name their host in a fleet report.
            let centralSensitive = ((central["sensitive_files"] as? [[String: Any]]) ?? []).map { $0 as NSDictionary }
            let ownSensitive = try ((own["sensitive_files"] as? [Any]) ?? []).map { try withHost($0, host) }
            XCTAssertEqual(centralSensitive, ownSensitive, host)
            XCTAssertEqual(central["sensitive_files_total"] as? Int, own["sensitive_files_total"] as? Int, host)
            XCTAssertEqual(own["sensitive_files_total"] as? Int, ownSensitive.count, "\(host): fewer than --top, all listed")
            XCTAssertNil(central["coverage"], "coverage is each host's own")
            XCTAssertEqual(central["hosts"] as? [String], [host])
            sum.merge(totals(own), uniquingKeysWith: +)
        }
        XCTAssertEqual(try fleet(["report", "--host", "fleet-b", "--until", now, "--sensitive-paths", sensitiveList]).first?["sensitive_files"]
            .flatMap { ($0 as? [[String: Any]])?.compactMap { $0["path"] as? String } }, ["/tmp/fleet-sensitive-\(run)"])
        XCTAssertTrue(((try fleet(["report", "--host", "fleet-c", "--until", now]).first?["network"] as? [[String: Any]]) ?? [])
            .contains { $0["op"] as? String == "connect" && $0["port"] as? Int == 22499 })
        let whole = try XCTUnwrap(try fleet(["report", "--until", now]).first)
        for key in ["connections", "logins", "unauthenticated", "auth_attempts", "failed_attempts", "commands"] {
            XCTAssertEqual(totals(whole)[key], sum[key], key)
        }
        // A user name counts once across hosts (sa_alice logged in on all three).
        var loggedIn = Set<String>()
        for (_, db) in dbs {
            for row in try XCTUnwrap(try local(["query", "sessions"], db: db) as? [[String: Any]]) where row["authenticated_at"] is String {
                loggedIn.insert(row.string("user") ?? "(unknown)")
            }
        }
        XCTAssertTrue(loggedIn.contains("sa_alice"))
        XCTAssertEqual(totals(whole)["users"], loggedIn.count)
        XCTAssertEqual(whole["hosts"] as? [String], ["fleet-a", "fleet-b", "fleet-c"])
        let markdown = try sshaudit(["report", "--central", pg.url, "--password-file", pg.passwordFile, "--until", now])
        XCTAssertEqual(markdown.status, 0, markdown.stderr)
        XCTAssertTrue(markdown.stdout.contains("the central database (3 hosts: fleet-a, fleet-b, fleet-c)"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("recorder runs are not shipped"), markdown.stdout)

        // A host name is text from a host: its controls reach a terminal escaped, in the table and in show.
        let hostile = "evil\u{1b}[2J\u{202e}host"
        let shippedHostile = try sshaudit(["ship", "--db", dbs[0].db, "--to", pg.url, "--password-file", pg.passwordFile,
                                           "--host", hostile, "--once"])
        XCTAssertEqual(shippedHostile.status, 0, shippedHostile.stderr)
        for args in [["query", "sessions", "--host", hostile], ["show", "1", "--host", hostile]] {
            let shown = try sshaudit(args + ["--central", pg.url, "--password-file", pg.passwordFile])
            XCTAssertEqual(shown.status, 0, shown.stderr)
            XCTAssertFalse(shown.stdout.contains("\u{1b}") || shown.stdout.contains("\u{202e}"), shown.stdout)
            XCTAssertTrue(shown.stdout.contains("evil\\x1b[2J\\u202ehost"), shown.stdout)
        }

        // The table names the host first; a host that never shipped is one line and exit 1.
        let table = try sshaudit(["query", "sessions", "--central", pg.url, "--password-file", pg.passwordFile])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.hasPrefix("HOST"), table.stdout)
        let unknown = try sshaudit(["query", "sessions", "--central", pg.url, "--password-file", pg.passwordFile, "--host", "nowhere"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(unknown.stderr, "sshaudit: no host nowhere in the central database\n")
        let loose = try sshaudit(["query", "sessions", "--host", "fleet-a"])
        XCTAssertNotEqual(loose.status, 0)
        XCTAssertTrue(loose.stderr.contains("--host and --password-file go with --central"), loose.stderr)
    }

    /// An ISO time of ours (2026-12-03T22:41:31.514Z) as milliseconds since the epoch, and back.
    private func milliseconds(_ iso: String?) throws -> Int64 {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return Int64((try XCTUnwrap(f.date(from: try XCTUnwrap(iso)), iso ?? "").timeIntervalSince1970 * 1000).rounded())
    }

    private func iso(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// The attack on a period's filters: a loop begun before the period an administrator reviews
    /// rewrites a sensitive file and reconnects to one endpoint into it. Its rows (one per file and
    /// endpoint, counted) began before `--since`, so a filter on their first time alone hid what the
    /// loop did in the period. Locally and on the fleet, `query files|network --since` and `report`
    /// list every row that overlaps the period, and `query sessions --since` the session the loop ran
    /// in, begun before the period too; a central database of the layout before is upgraded by the
    /// next ship.
    func testALoopBegunBeforeThePeriodShowsInItLocallyAndOnTheFleet() throws {
        let pg = try PostgresServer(name: "span-fleet")
        postgres = pg
        let port = 22668
        let server = try SSHDServer(name: "span-fleet", port: port)
        self.server = server
        let recorder = try Recorder(name: "span-fleet")
        let target = "/tmp/span-keys-\(UUID().uuidString.prefix(8).lowercased())"
        let sensitiveList = "/run/sshaudit-test/span-fleet-sensitive"
        try "/tmp/span-keys-*\n".write(toFile: sensitiveList, atomically: true, encoding: .utf8)
        // A builtin append and a /dev/tcp connect, 30 times over about 3 s, all from one bash.
        let script = """
            for i in $(seq 30); do
                echo "ssh-ed25519 AAAA$i" >> \(target)
                exec 3<>/dev/tcp/127.0.0.1/\(port); exec 3>&-
                sleep 0.1
            done
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        defer { try? FileManager.default.removeItem(atPath: target) }
        func rows(_ args: [String], central: Bool = false) throws -> [[String: Any]] {
            central ? try fleet(args) : try XCTUnwrap(try local(args, db: recorder.db) as? [[String: Any]])
        }

        let written = try rows(["query", "files", "--path", target])
        XCTAssertEqual(written.map { "\($0.string("op") ?? "?") \($0.int("count") ?? 0)" }, ["create 1", "write 29"])
        let (first, last) = (try milliseconds(written.last?.string("first_at")), try milliseconds(written.last?.string("last_at")))
        XCTAssertGreaterThan(last - first, 1_000, "the loop's writes span seconds")
        let connects = try rows(["query", "network"]).filter { $0.int("port") == port && $0.string("op") == "connect" }
        XCTAssertEqual(connects.map { $0.int("count") }, [30])
        XCTAssertLessThan(try milliseconds(connects.first?.string("first_at")), first + (last - first) / 2)

        let session = try XCTUnwrap(written.last?.int("session_id"))
        let sessionRow = try XCTUnwrap(try rows(["query", "sessions", "--user", "sa_alice"]).first { $0.int("id") == session })
        let ended = try milliseconds(sessionRow.string("ended_at"))
        XCTAssertLessThan(try milliseconds(sessionRow.string("started_at")), first)

        // The reviewed period begins halfway through the loop.
        let since = iso(first + (last - first) / 2), until = iso(last + 60_000), after = iso(last + 1)
        func reported(central: Bool) throws -> (files: [String], connects: [Int]) {
            let args = ["report", "--since", since, "--until", until, "--sensitive-paths", sensitiveList]
            let report = try XCTUnwrap(central ? try fleet(args).first : try local(args, db: recorder.db) as? [String: Any])
            let files = (report["sensitive_files"] as? [[String: Any]] ?? []).compactMap { $0.string("path") }
            let network = (report["network"] as? [[String: Any]] ?? []).filter { $0.int("port") == port && $0.string("op") == "connect" }
            return (files, network.compactMap { $0.int("count") })
        }
        func answers(central: Bool, _ label: String) throws {
            XCTAssertEqual(try rows(["query", "files", "--path", target, "--since", since], central: central).map { $0.string("op") }, ["write"],
                           "\(label): the loop's write row, begun before the period; not the create, which ended before it")
            XCTAssertEqual(try rows(["query", "files", "--path", target, "--until", since], central: central).map { $0.string("op") },
                           ["create", "write"], label)
            XCTAssertEqual(try rows(["query", "files", "--path", target, "--since", after], central: central).count, 0, label)
            XCTAssertEqual(try rows(["query", "files", "--sensitive", "--sensitive-paths", sensitiveList, "--since", since], central: central)
                            .map { $0.string("path") }, [target], label)
            XCTAssertEqual(try rows(["query", "network", "--since", since], central: central).filter { $0.int("port") == port }
                            .map { $0.int("count") }, [30], label)
            // This test's sshd only: the recorder follows every sshd of the machine, and tests beside
            // this one log in as sa_alice too.
            func sessions(_ args: [String]) throws -> [Int] {
                try rows(["query", "sessions", "--user", "sa_alice"] + args, central: central)
                    .filter { $0.int("local_port") == port }.compactMap { $0.int("id") }
            }
            XCTAssertEqual(try sessions(["--since", since]), [session], "\(label): the session open in the period, begun before it")
            XCTAssertEqual(try sessions(["--since", iso(ended)]), [session], "\(label): up to its end")
            XCTAssertEqual(try sessions(["--since", iso(ended + 1)]), [], "\(label): not after it")
            XCTAssertEqual(try sessions(["--until", since]), [session], label)
            let report = try reported(central: central)
            XCTAssertEqual(report.files, [target], "\(label): the report's sensitive changes of the period")
            XCTAssertEqual(report.connects, [30], "\(label): the report's network part")
        }
        try answers(central: false, "local")

        // The fleet answers the same.
        func ship() throws -> ProcessResult {
            try sshaudit(["ship", "--db", recorder.db, "--to", pg.url, "--password-file", pg.passwordFile, "--host", "spans", "--once"])
        }
        XCTAssertEqual(try ship().status, 0)
        try answers(central: true, "layout 4")

        // A central database as the layout before left it (no last_at): refused until the next ship
        // upgrades it, then the same answers.
        try pg.query("ALTER TABLE file_activity DROP COLUMN last_at")
        try pg.query("ALTER TABLE network_activity DROP COLUMN last_at")
        try pg.query("UPDATE sshaudit_central SET version = 3")
        let stale = try sshaudit(["query", "files", "--central", pg.url, "--password-file", pg.passwordFile])
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("run this version's sshaudit ship once"), stale.stderr)
        XCTAssertEqual(try ship().status, 0)
        XCTAssertEqual(try pg.number("SELECT count(*) FROM file_activity WHERE last_at IS NULL"), 0)
        try answers(central: true, "upgraded from layout 3")
    }

    /// Which sessions a period lists, on the fleet as locally: one of each kind a period must weigh
    /// (ended before it, begun a minute or hours before it and ended in it, still open, end not seen
    /// with and without activity in it, begun in it, begun after it), written by the store and shipped.
    func testSessionsOpenInAPeriodAreTheSameOnTheFleet() throws {
        let pg = try PostgresServer(name: "session-spans")
        postgres = pg
        let dir = "/run/sshaudit-test/session-spans-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/audit.db"
        let t0: Int64 = 1_795_917_299_000_000_000, minute: Int64 = 60_000_000_000
        func at(_ minutes: Int64) -> String { Timestamp.iso(ns: t0 + minutes * minute) }
        // The period under review: minutes 600 to 660.
        let (since, until) = (at(600), at(660))
        var outputs: [CorrelatorOutput] = []
        var expected: [Int64] = []
        // (id, start, end or nil, end unseen, a command at, in the period)
        let sessions: [(Int64, Int64, Int64?, Bool, Int64?, Bool)] = [
            (1, 10, 20, false, nil, false),     // ended long before
            (2, 590, 599, false, nil, false),   // ended just before
            (3, 599, 601, false, nil, true),    // begun a minute before, ended in it
            (4, 100, 610, false, nil, true),    // begun hours before (sessions_long), ended in it
            (5, 50, 700, false, nil, true),     // begun hours before, ended after it
            (6, 30, nil, false, nil, true),     // still open
            (7, 40, nil, true, 620, true),      // end not seen, a command in the period
            (8, 45, nil, true, 300, false),     // end not seen, last seen before it
            (9, 630, 640, false, nil, true),    // begun in it
            (10, 660, 670, false, nil, false),  // begun at its end
        ]
        var commandID: Int64 = 1
        for (id, start, end, unseen, command, inPeriod) in sessions {
            var s = SessionRecord(id: id, sshdPid: 5000 + UInt32(id), sshdStartNs: UInt64(id), startedAtNs: t0 + start * minute)
            s.user = "sa_span"
            s.endedAtNs = end.map { t0 + $0 * minute }
            s.endedUnobserved = unseen
            if let command {
                var c = CommandRecord(id: commandID, sessionID: id, parentID: nil, pid: UInt32(7000 + id), ppid: 1, uid: 1000,
                                      filename: "/usr/bin/true", argv: ["true"], argvTruncated: false, startedAtNs: t0 + command * minute)
                c.endedAtNs = c.startedAtNs + 1_000_000
                outputs.append(.command(c))
                commandID += 1
            }
            outputs.append(.session(s))
            if inPeriod { expected.append(id) }
        }
        let store = try AuditStore.openForRecording(path: db)
        try store.write(outputs)
        let shipped = try sshaudit(["ship", "--db", db, "--to", pg.url, "--password-file", pg.passwordFile, "--host", "spans", "--once"])
        XCTAssertEqual(shipped.status, 0, shipped.stderr)

        func ids(_ args: [String], central: Bool) throws -> [Int] {
            let rows = central ? try fleet(["query", "sessions"] + args)
                : try XCTUnwrap(try local(["query", "sessions"] + args, db: db) as? [[String: Any]])
            return rows.compactMap { $0.int("id") }
        }
        for central in [false, true] {
            let label = central ? "fleet" : "local"
            // In start order: those begun before the period first.
            XCTAssertEqual(try ids(["--since", since, "--until", until], central: central), [6, 7, 5, 4, 3, 9], label)
            XCTAssertEqual(Set(try ids(["--since", since, "--until", until], central: central)), Set(expected.map(Int.init)), label)
            XCTAssertEqual(try ids(["--since", since, "--until", until, "--limit", "2"], central: central), [6, 7], label)
            XCTAssertEqual(try ids(["--since", at(650)], central: central), [6, 5, 10], "\(label): after the unseen end's last command")
            XCTAssertEqual(try ids(["--since", at(15), "--until", at(35)], central: central), [1, 6], label)

            // The report lists those begun before the period, with their count past --top.
            let period = ["report", "--since", since, "--until", until, "--top", "3"]
            let report = try XCTUnwrap(central ? try fleet(period).first : try local(period, db: db) as? [String: Any])
            XCTAssertEqual((report["sessions_from_before"] as? [[String: Any]])?.compactMap { $0.int("id") }, [6, 7, 5], label)
            XCTAssertEqual((report["totals"] as? [String: Any])?.int("sessions_from_before"), 5, label)
            var markdown = period
            markdown += central ? ["--central", pg.url, "--password-file", pg.passwordFile] : ["--db", db]
            let md = try sshaudit(markdown)
            XCTAssertEqual(md.status, 0, md.stderr)
            for text in ["| Sessions begun before the period, open in it | 5 |", "## Sessions begun before the period, open in it",
                         "| \(at(40)) | (unseen) |", "| \(at(50)) | \(at(700)) |", "… and 2 more."] {
                XCTAssertTrue(md.stdout.contains(text), "\(label): \(text)\n\(md.stdout)")
            }
        }
    }
}
