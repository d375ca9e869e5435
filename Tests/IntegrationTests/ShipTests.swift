import Foundation
import GRDB
@testable import SSHAuditStore
import XCTest

/// `ship` to a real PostgreSQL (started by the test with initdb) and `verify --central`: several
/// hosts at once, an outage while sessions run, a shipper killed mid-way, and a host whose local
/// history was rewritten after shipping, chain and all.
final class ShipTests: XCTestCase {
    var server: SSHDServer?
    var recorder: Recorder?
    var postgres: PostgresServer?
    var shippers: [Process] = []

    override func tearDown() {
        for p in shippers where p.isRunning { p.terminate(); p.waitUntilExit() }
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        postgres?.destroy()
        super.tearDown()
    }

    private func ship(_ db: String, host: String, _ extra: [String] = []) throws -> ProcessResult {
        let pg = try XCTUnwrap(postgres)
        return try runProcess(Paths.sshaudit, ["ship", "--db", db, "--to", pg.url, "--password-file", pg.passwordFile,
                                               "--host", host] + extra, timeout: 120)
    }

    private func startShipping(_ db: String, host: String, _ extra: [String] = []) throws -> (Process, Pipe) {
        let pg = try XCTUnwrap(postgres)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Paths.sshaudit)
        p.arguments = ["ship", "--db", db, "--to", pg.url, "--password-file", pg.passwordFile, "--host", host] + extra
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        shippers.append(p)
        return (p, err)
    }

    private func localCount(_ db: String, _ sql: String) throws -> Int {
        try DatabaseQueue(path: db).read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    /// The central copy holds every local ledger entry once, each row version at most once, and the
    /// latest version of every row (a shipper that follows the recorder also ships earlier ones).
    private func assertShippedExactly(_ db: String, host: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let pg = try XCTUnwrap(postgres)
        let h = host.replacingOccurrences(of: "'", with: "''")
        XCTAssertEqual(try pg.number("SELECT count(*) FROM ledger WHERE host = '\(h)'"), try localCount(db, "SELECT count(*) FROM ledger"),
                       "every ledger entry", file: file, line: line)
        XCTAssertEqual(try pg.number("SELECT shipped_seq FROM hosts WHERE host = '\(h)'"),
                       try localCount(db, "SELECT max(seq) FROM ledger"), file: file, line: line)
        let export = try runProcess(Paths.sshaudit, ["export", "--db", db])
        let lines = export.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        for table in ["sessions", "commands", "auth_attempts"] {
            let latest = Set(lines.filter { $0.string("table") == table }.map { "\($0.int("row_id")!) \($0.int("seq")!)" })
            XCTAssertFalse(latest.isEmpty, table, file: file, line: line)
            let shipped = try pg.query("SELECT id || ' ' || seq FROM \(table) WHERE host = '\(h)'").map { $0[0] }
            XCTAssertEqual(shipped.count, Set(shipped).count, "\(table): no version twice", file: file, line: line)
            XCTAssertTrue(latest.isSubset(of: Set(shipped)), "\(table): every row's latest version", file: file, line: line)
        }
    }

    /// Real logins recorded into a database: `count` sessions of sa_alice, each running `command`.
    private func recordSessions(_ name: String, port: Int, count: Int, command: String = "/bin/echo shipped") throws -> String {
        let server = try SSHDServer(name: name, port: port)
        self.server = server
        let recorder = try Recorder(name: name)
        self.recorder = recorder
        // The failed password alongside the sessions: it waits out sshd's failure delay meanwhile.
        let failed = DispatchGroup()
        let failedStatus = Locked<[Int32]>([])
        failed.enter()
        Thread.detachNewThread {
            let status = (try? server.sshWithPasswords("sa_bob", ["wrong"]).status) ?? -1
            failedStatus.mutate { $0.append(status) }
            failed.leave()
        }
        for _ in 0..<count { XCTAssertEqual(try server.ssh("sa_alice", [command]).status, 0) }
        XCTAssertEqual(failed.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(failedStatus.value.count, 1)
        XCTAssertFalse(failedStatus.value.contains(0), "the wrong password failed")
        XCTAssertEqual(try recorder.stop(), 0)
        return recorder.db
    }

    func testThreeHostsShipAtOnceExactlyOnceAndVerifyCentrally() throws {
        postgres = try PostgresServer(name: "ship-three")
        let db = try recordSessions("ship-three", port: 22494, count: 3)
        // Three databases, three identities, shipped at the same moment.
        let dbs = try (1...3).map { i -> String in
            let copy = (db as NSString).deletingLastPathComponent + "/host\(i).db"
            try? FileManager.default.removeItem(atPath: copy)
            try DatabaseQueue(path: db).backup(to: DatabaseQueue(path: copy))
            return copy
        }
        let group = DispatchGroup()
        let results = Locked<[Int: Result<ProcessResult, Error>]>([:])
        for (i, copy) in dbs.enumerated() {
            group.enter()
            DispatchQueue.global().async {
                let result = Result { try self.ship(copy, host: "host-\(i + 1)", ["--once", "--batch", "7"]) }
                results.mutate { $0[i] = result }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        for i in 0..<3 {
            let r = try XCTUnwrap(results.value[i], "no result \(i)").get()
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stderr, "", "no notice or warning")
            try assertShippedExactly(dbs[i], host: "host-\(i + 1)")
        }
        // Once more: nothing new, nothing twice.
        XCTAssertEqual(try ship(dbs[0], host: "host-1", ["--once"]).status, 0)
        try assertShippedExactly(dbs[0], host: "host-1")

        let pg = try XCTUnwrap(postgres)
        let central = try runProcess(Paths.sshaudit, ["verify", "--central", pg.url, "--password-file", pg.passwordFile, "--central-only"])
        XCTAssertEqual(central.status, 0, central.stderr)
        XCTAssertEqual(central.stdout.split(separator: "\n").filter { $0.hasPrefix("central ok: host-") }.count, 3, central.stdout)
        let local = try runProcess(Paths.sshaudit, ["verify", "--central", pg.url, "--password-file", pg.passwordFile, "--db", dbs[1], "--host", "host-2"])
        XCTAssertEqual(local.status, 0, local.stderr)
        XCTAssertTrue(local.stdout.contains("local ok against central"), local.stdout)

        // The row as local `query --format json` prints it, plus the host's identity.
        let json = try XCTUnwrap(try pg.query("SELECT row::text FROM sessions WHERE host = 'host-3' ORDER BY id, seq").last?.first)
        let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let queried = try XCTUnwrap(try recorder!.query("sessions").first { $0.int("id") == row.int("id") })
        XCTAssertEqual(row as NSDictionary, queried as NSDictionary)
    }

    func testAnOutageWhileSessionsRunLosesNothingAndShipsNothingTwice() throws {
        let pg = try PostgresServer(name: "ship-outage")
        postgres = pg
        let server = try SSHDServer(name: "ship-outage", port: 22496)
        self.server = server
        let recorder = try Recorder(name: "ship-outage")
        self.recorder = recorder
        let (shipper, err) = try startShipping(recorder.db, host: "outage", ["--interval", "0.2"])
        let errText = Locked(Data())
        err.fileHandleForReading.readabilityHandler = { let more = $0.availableData; errText.mutate { $0.append(more) } }
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo before-outage"]).status, 0)
        try waitUntil("the first session shipped", timeout: 30) { try pg.number("SELECT count(*) FROM commands WHERE host = 'outage'") > 0 }

        try pg.stop()
        // Sessions go on through the outage until ship has said it is retrying and has tried at least
        // five times more (one try a second while it fails): the check of one line per outage, not one
        // per try, at the end needs them.
        let giveUp = Date().addingTimeInterval(45)
        var during = 0
        var retryingSince: Date?
        while during < 3 || retryingSince.map({ Date().timeIntervalSince($0) < 6 }) ?? true {
            guard Date() < giveUp else { return XCTFail("ship never said it was retrying: \(errText.text)") }
            XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo during-outage-\(during)"]).status, 0)
            during += 1
            if retryingSince == nil, errText.text.contains("retrying") { retryingSince = Date() }
            Thread.sleep(forTimeInterval: 1)
        }
        XCTAssertTrue(shipper.isRunning, "ship waits for PostgreSQL")
        try pg.start()
        XCTAssertEqual(try recorder.stop(), 0)
        let last = try localCount(recorder.db, "SELECT max(seq) FROM ledger")
        try waitUntil("everything shipped after the outage", timeout: 60) {
            try pg.number("SELECT shipped_seq FROM hosts WHERE host = 'outage'") == last
        }
        try assertShippedExactly(recorder.db, host: "outage")
        XCTAssertEqual(try pg.number("SELECT count(*) FROM commands WHERE host = 'outage' AND command_line LIKE '/bin/echo during-outage-%'"), during)
        // Shipped while the recorder was still writing them (several versions each): a fleet query
        // gives every session once, in its final version.
        let fleet = try runProcess(Paths.sshaudit, ["query", "sessions", "--central", pg.url, "--password-file", pg.passwordFile,
                                                    "--host", "outage", "--format", "json"])
        XCTAssertEqual(fleet.status, 0, fleet.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(fleet.stdout.utf8)) as? [[String: Any]])
        let expected = try recorder.query("sessions").map { row -> NSDictionary in
            var r = row
            r["host"] = "outage"
            return r as NSDictionary
        }
        XCTAssertEqual(rows.map { $0 as NSDictionary }, expected)
        XCTAssertGreaterThan(try pg.number("SELECT count(*) FROM sessions WHERE host = 'outage' AND NOT latest"), 0,
                             "earlier versions were shipped and superseded")

        // A central database of layout 1 (no `latest`: every version looked current) is upgraded by
        // the next ship, and answers the same.
        try pg.query("UPDATE sshaudit_central SET version = 1")
        for table in ["sessions", "commands", "auth_attempts", "file_transfers", "session_events"] {
            try pg.query("UPDATE \(table) SET latest = true")
        }
        let stale = try runProcess(Paths.sshaudit, ["query", "sessions", "--central", pg.url, "--password-file", pg.passwordFile])
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("run this version's sshaudit ship once"), stale.stderr)
        XCTAssertEqual(try ship(recorder.db, host: "outage", ["--once"]).status, 0)
        let upgraded = try runProcess(Paths.sshaudit, ["query", "sessions", "--central", pg.url, "--password-file", pg.passwordFile,
                                                       "--host", "outage", "--format", "json"])
        XCTAssertEqual(upgraded.stdout, fleet.stdout)
        XCTAssertTrue(errText.text.contains("retrying"), errText.text)
        XCTAssertTrue(errText.text.contains("shipping again"), errText.text)
        XCTAssertLessThan(errText.text.split(separator: "\n").count, 5, "one line per outage, not one per try:\n\(errText.text)")
    }

    func testAShipperKilledMidwayResumesWithoutDuplicates() throws {
        postgres = try PostgresServer(name: "ship-kill")
        let db = try recordSessions("ship-kill", port: 22497, count: 1, command: "for i in $(seq 1500); do /bin/true; done")
        XCTAssertGreaterThan(try localCount(db, "SELECT count(*) FROM commands"), 1_500)
        let (shipper, _) = try startShipping(db, host: "killed", ["--once", "--batch", "5"])
        let pg = try XCTUnwrap(postgres)
        try waitUntil("part shipped", timeout: 30) { (try? pg.number("SELECT shipped_seq FROM hosts WHERE host = 'killed'")) ?? 0 > 200 }
        kill(shipper.processIdentifier, SIGKILL)
        shipper.waitUntilExit()
        let part = try pg.number("SELECT shipped_seq FROM hosts WHERE host = 'killed'")
        XCTAssertLessThan(part, try localCount(db, "SELECT max(seq) FROM ledger"), "killed before the end")
        XCTAssertEqual(try pg.number("SELECT count(*) FROM ledger WHERE host = 'killed'"), part, "what was shipped is exactly up to the cursor")
        let again = try ship(db, host: "killed", ["--once"])
        XCTAssertEqual(again.status, 0, again.stderr)
        try assertShippedExactly(db, host: "killed")
    }

    /// Root on the host rewrites a command and rebuilds the whole local ledger, so that local `verify`
    /// passes. The copy shipped before tells: `verify --central --db` names the first entry that differs.
    func testALocalHistoryRewrittenAfterShippingIsCaught() throws {
        postgres = try PostgresServer(name: "ship-rewrite")
        let db = try recordSessions("ship-rewrite", port: 22498, count: 2, command: "/bin/echo the-truth")
        XCTAssertEqual(try ship(db, host: "rewritten", ["--once"]).status, 0)
        let pg = try XCTUnwrap(postgres)

        try DatabaseQueue(path: db).write { db in
            try db.execute(sql: #"UPDATE commands SET argv = '["bash","-c","/bin/echo nothing-to-see"]' WHERE argv LIKE '%the-truth%'"#)
            try db.execute(sql: "DELETE FROM ledger")
            try db.execute(sql: "DELETE FROM ledger_findings")
            for table in LedgerTable.allCases where try db.tableExists(table.rawValue) { try Ledger.appendStored(db, table) }
        }
        let local = try runProcess(Paths.sshaudit, ["verify", "--db", db])
        XCTAssertEqual(local.status, 0, "the rebuilt ledger fools a local verify without a kept head: \(local.stderr)")

        let central = try runProcess(Paths.sshaudit, ["verify", "--central", pg.url, "--password-file", pg.passwordFile, "--db", db, "--host", "rewritten"])
        XCTAssertEqual(central.status, 1, central.stdout)
        XCTAssertTrue(central.stderr.contains("differs from the copy shipped for rewritten: rewritten after shipping"), central.stderr)
        XCTAssertEqual(central.stderr.split(separator: "\n").count, 1)

        // And shipping from the rewritten database refuses to continue the host's history.
        let refused = try ship(db, host: "rewritten", ["--once"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("the database was replaced or rewritten"), refused.stderr)
    }

    /// Channels and refusals (replayed from events recorded on real sshd) ship as rows: a central of
    /// layout 2 (their ledger entries shipped, not their rows) gets them on the next ship; fleet
    /// queries answer as local ones plus "host"; a refusal changed inside PostgreSQL is named by verify.
    func testChannelsAndRefusalsShipAndARowChangedCentrallyIsNamed() throws {
        let pg = try PostgresServer(name: "ship-chan")
        postgres = pg
        let dir = FileManager.default.temporaryDirectory.appending(path: "ship-chan-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func replayed(_ fixture: String) throws -> String {
            let events = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/\(fixture).events").path
            let r = try runProcess(Paths.sshaudit, ["replay", events, "--db", dir + "/\(fixture).db"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return dir + "/\(fixture).db"
        }
        let refusals = try replayed("refusals"), channels = try replayed("channels")
        let central = ["--central", pg.url, "--password-file", pg.passwordFile]
        func sshaudit(_ args: [String]) throws -> ProcessResult { try runProcess(Paths.sshaudit, args, timeout: 120) }

        // Shipped into a central of layout 2, as the previous sshaudit left it.
        XCTAssertEqual(try ship(refusals, host: "refusing", ["--once"]).status, 0)
        try pg.query("DROP TABLE refusals, channels")
        try pg.query("ALTER TABLE hosts DROP COLUMN layout")
        try pg.query("UPDATE sshaudit_central SET version = 2")
        let stale = try sshaudit(["query", "refusals"] + central)
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("run this version's sshaudit ship once"), stale.stderr)
        XCTAssertEqual(try ship(refusals, host: "refusing", ["--once"]).status, 0)
        XCTAssertEqual(try ship(channels, host: "multiplexed", ["--once"]).status, 0)
        XCTAssertEqual(try pg.number("SELECT count(*) FROM channels WHERE host = 'multiplexed' AND latest"),
                       try localCount(channels, "SELECT count(*) FROM channels"))

        // `show --central` nests the commands under their channels as local `show` does.
        let session = try localCount(channels, "SELECT session_id FROM channels GROUP BY session_id ORDER BY count(*) DESC LIMIT 1")
        func shownChannels(_ args: [String]) throws -> NSArray? {
            let r = try sshaudit(["show", String(session), "--format", "json"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["channels"] as? NSArray
        }
        let localChannels = try XCTUnwrap(try shownChannels(["--db", channels]))
        XCTAssertGreaterThan(localChannels.count, 1, "a multiplexed connection")
        XCTAssertEqual(try shownChannels(["--host", "multiplexed"] + central), localChannels)

        // `query refusals --central`: the local rows plus "host", with the local filters.
        let local = try sshaudit(["query", "refusals", "--db", refusals, "--format", "json"])
        let localRows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(local.stdout.utf8)) as? [[String: Any]])
        XCTAssertFalse(localRows.isEmpty)
        let fleet = try sshaudit(["query", "refusals", "--host", "refusing", "--format", "json"] + central)
        XCTAssertEqual(fleet.status, 0, fleet.stderr)
        let fleetRows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(fleet.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(fleetRows.map { $0 as NSDictionary }, localRows.map { row in
            var r = row
            r["host"] = "refusing"
            return r as NSDictionary
        }, "after the upgrade: the rows whose entries layout 2 had shipped")
        let address = try XCTUnwrap(localRows.first?.string("remote_addr"))
        let fromLocal = try sshaudit(["query", "refusals", "--db", refusals, "--from", address, "--format", "json"])
        let fromFleet = try sshaudit(["query", "refusals", "--from", address, "--format", "json"] + central)
        XCTAssertEqual(fromFleet.status, 0, fromFleet.stderr)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(fromFleet.stdout.utf8)) as? [Any])?.count,
                       (try JSONSerialization.jsonObject(with: Data(fromLocal.stdout.utf8)) as? [Any])?.count)

        // `query sources --central` counts refused per source as the local one does.
        func refused(_ args: [String]) throws -> [String: Int] {
            let r = try sshaudit(["query", "sources", "--format", "json"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
            return Dictionary(rows.map { ($0.string("remote_addr") ?? "", $0.int("refused") ?? -1) }, uniquingKeysWith: +)
        }
        let localRefused = try refused(["--db", refusals])
        XCTAssertEqual(localRefused[address].map { $0 > 0 }, true)
        XCTAssertEqual(try refused(["--host", "refusing"] + central), localRefused)

        // `report --central` lists the refused per source as the local report does.
        func reported(_ args: [String]) throws -> NSArray? {
            let r = try sshaudit(["report", "--since", "2000-01-01", "--format", "json"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["failed_by_source"] as? NSArray
        }
        let localReport = try XCTUnwrap(try reported(["--db", refusals]))
        XCTAssertEqual((localReport.firstObject as? [String: Any])?.int("refused"), localRefused[address])
        XCTAssertEqual(try reported(["--host", "refusing"] + central), localReport)

        let verified = try sshaudit(["verify", "--central-only"] + central)
        XCTAssertEqual(verified.status, 0, verified.stderr)

        // Root on the central server rewrites where a refused connection came from.
        let victim = try XCTUnwrap(try pg.query("SELECT id, seq FROM refusals WHERE host = 'refusing' ORDER BY id LIMIT 1").first)
        try pg.query("UPDATE refusals SET row = jsonb_set(row, '{remote_addr}', '\"192.0.2.250\"') WHERE host = 'refusing' AND id = \(victim[0])")
        let caught = try sshaudit(["verify", "--central-only"] + central)
        XCTAssertEqual(caught.status, 1, caught.stdout)
        XCTAssertTrue(caught.stderr.contains("shipped refusals \(victim[0]) (entry \(victim[1])) does not hash to its ledger entry"),
                      caught.stderr)
    }

    /// `sslmode` in the URL is libpq's: a server that only takes TLS refuses a plain connection, a
    /// certificate from the expected CA is accepted with verify-full, one from another CA is not.
    func testTLSIsUsedAndVerifiedWhenTheURLAsks() throws {
        let pg = try PostgresServer(name: "ship-tls", tls: true)
        postgres = pg
        let dir = "/run/sshaudit-test/ship-tls-db"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let db = dir + "/audit.db"
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        XCTAssertEqual(try runProcess(Paths.sshaudit, ["replay", fixture, "--db", db]).status, 0)
        func ship(_ query: String) throws -> ProcessResult {
            try runProcess(Paths.sshaudit, ["ship", "--db", db, "--to", pg.url + query, "--password-file", pg.passwordFile,
                                            "--host", "tls", "--once"], timeout: 60)
        }
        let plain = try ship("?sslmode=disable")
        XCTAssertEqual(plain.status, 1)
        XCTAssertTrue(plain.stderr.contains("no encryption"), plain.stderr)
        XCTAssertEqual(plain.stderr.split(separator: "\n").count, 1, plain.stderr)

        let other = dir + "/other-ca.crt"
        XCTAssertEqual(try runProcess("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                                                           "-keyout", dir + "/other.key", "-out", other]).status, 0)
        let forged = try ship("?sslmode=verify-full&sslrootcert=\(other)")
        XCTAssertEqual(forged.status, 1)
        XCTAssertTrue(forged.stderr.contains("certificate verify failed"), forged.stderr)
        XCTAssertEqual(try pg.number("SELECT count(*) FROM pg_tables WHERE tablename = 'hosts'"), 0, "nothing reached the server")

        let verified = try ship("?sslmode=verify-full&sslrootcert=\(pg.caFile)")
        XCTAssertEqual(verified.status, 0, verified.stderr)
        XCTAssertGreaterThan(try pg.number("SELECT count(*) FROM ledger WHERE host = 'tls'"), 0)
        let fleet = try runProcess(Paths.sshaudit, ["query", "commands", "--central", pg.url + "?sslmode=verify-full&sslrootcert=\(pg.caFile)",
                                                    "--password-file", pg.passwordFile, "--format", "json"])
        XCTAssertEqual(fleet.status, 0, fleet.stderr)
        XCTAssertTrue(fleet.stdout.contains("\"host\" : \"tls\""), fleet.stdout)
    }

    func testPasswordsStayOffTheCommandLine() throws {
        let r = try runProcess(Paths.sshaudit, ["ship", "--to", "postgresql://shipper:secret@127.0.0.1:1/fleet", "--once"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no password in --to"), r.stderr)
        let loose = "/run/sshaudit-test/ship-password-loose"
        try "pw\n".write(toFile: loose, atomically: true, encoding: .utf8)
        chmod(loose, 0o644)
        defer { try? FileManager.default.removeItem(atPath: loose) }
        let refused = try runProcess(Paths.sshaudit, ["ship", "--to", "postgresql://shipper@127.0.0.1:1/fleet", "--password-file", loose, "--once"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("others may read it"), refused.stderr)
    }
}

