import Foundation
import XCTest

/// The attack on a period's filters: a loop begun before the period an administrator reviews rewrites
/// a sensitive file and reconnects to one endpoint into it. Its rows (one per file and endpoint,
/// counted) began before `--since`, so a filter on their first time alone hid what the loop did in the
/// period. Locally and on the fleet, `query files|network --since` and `report` list every row that
/// overlaps the period; a central database of the layout before is upgraded by the next ship.
final class ActivitySpanFleetTests: XCTestCase {
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

    private func json(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        let r = try sshaudit(args + ["--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    private func rows(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        try XCTUnwrap(try json(args, file: file, line: line) as? [[String: Any]], file: file, line: line)
    }

    /// An ISO time of ours (2026-12-03T22:41:31.514Z) as milliseconds since the epoch, and back.
    private func milliseconds(_ iso: String) throws -> Int64 {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return Int64((try XCTUnwrap(f.date(from: iso), iso).timeIntervalSince1970 * 1000).rounded())
    }

    private func iso(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    func testALoopBegunBeforeThePeriodShowsInItLocallyAndOnTheFleet() throws {
        let pg = try PostgresServer(name: "span-fleet")
        postgres = pg
        let port = 22668
        let server = try SSHDServer(name: "span-fleet", port: port)
        self.server = server
        let recorder = try Recorder(name: "span-fleet")
        let run = UUID().uuidString.prefix(8).lowercased()
        let target = "/tmp/span-keys-\(run)"
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
        let db = ["--db", recorder.db]

        let written = try rows(["query", "files", "--path", target] + db)
        XCTAssertEqual(written.map { "\($0.string("op") ?? "?") \($0.int("count") ?? 0)" }, ["create 1", "write 29"])
        let write = try XCTUnwrap(written.last)
        let (first, last) = (try milliseconds(try XCTUnwrap(write.string("first_at"))), try milliseconds(try XCTUnwrap(write.string("last_at"))))
        XCTAssertGreaterThan(last - first, 1_000, "the loop's writes span seconds")
        let connects = try rows(["query", "network"] + db).filter { $0.int("port") == port && $0.string("op") == "connect" }
        XCTAssertEqual(connects.map { $0.int("count") }, [30])
        let connect = try XCTUnwrap(connects.first)
        XCTAssertLessThan(try milliseconds(try XCTUnwrap(connect.string("first_at"))), first + (last - first) / 2)

        // The reviewed period begins halfway through the loop.
        let since = iso(first + (last - first) / 2), until = iso(last + 60_000), after = iso(last + 1)
        XCTAssertEqual(try rows(["query", "files", "--path", target, "--since", since] + db).map { $0.string("op") }, ["write"],
                       "the loop's write row, begun before the period; not the create, which ended before it")
        XCTAssertEqual(try rows(["query", "files", "--path", target, "--until", since] + db).map { $0.string("op") }, ["create", "write"])
        XCTAssertEqual(try rows(["query", "files", "--path", target, "--since", after] + db).count, 0)
        XCTAssertEqual(try rows(["query", "files", "--sensitive", "--sensitive-paths", sensitiveList, "--since", since] + db)
                        .map { $0.string("path") }, [target])
        XCTAssertEqual(try rows(["query", "network", "--since", since] + db).filter { $0.int("port") == port }.map { $0.int("count") }, [30])
        func reported(_ args: [String]) throws -> (files: [String], connects: [Int]) {
            let report = try XCTUnwrap(try json(["report", "--since", since, "--until", until, "--sensitive-paths", sensitiveList] + args)
                                       as? [String: Any])
            let files = (report["sensitive_files"] as? [[String: Any]] ?? []).compactMap { $0.string("path") }
            let network = (report["network"] as? [[String: Any]] ?? []).filter { $0.int("port") == port && $0.string("op") == "connect" }
            return (files, network.compactMap { $0.int("count") })
        }
        let local = try reported(db)
        XCTAssertEqual(local.files, [target], "the report's sensitive changes of the period")
        XCTAssertEqual(local.connects, [30], "the report's network part")

        // The fleet answers the same.
        let central = ["--central", pg.url, "--password-file", pg.passwordFile]
        let shipped = try sshaudit(["ship", "--db", recorder.db, "--to", pg.url, "--password-file", pg.passwordFile,
                                    "--host", "spans", "--once"])
        XCTAssertEqual(shipped.status, 0, shipped.stderr)
        func fleetAnswers(_ label: String) throws {
            XCTAssertEqual(try rows(["query", "files", "--path", target, "--since", since] + central).map { $0.string("op") }, ["write"], label)
            XCTAssertEqual(try rows(["query", "files", "--path", target, "--until", since] + central).map { $0.string("op") },
                           ["create", "write"], label)
            XCTAssertEqual(try rows(["query", "files", "--path", target, "--since", after] + central).count, 0, label)
            XCTAssertEqual(try rows(["query", "network", "--since", since] + central).filter { $0.int("port") == port }.map { $0.int("count") },
                           [30], label)
            let fleet = try reported(central)
            XCTAssertEqual(fleet.files, local.files, label)
            XCTAssertEqual(fleet.connects, local.connects, label)
        }
        try fleetAnswers("layout 4")

        // A central database as the layout before left it (no last_at): refused until the next ship
        // upgrades it, then the same answers.
        try pg.query("ALTER TABLE file_activity DROP COLUMN last_at")
        try pg.query("ALTER TABLE network_activity DROP COLUMN last_at")
        try pg.query("UPDATE sshaudit_central SET version = 3")
        let stale = try sshaudit(["query", "files"] + central)
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("run this version's sshaudit ship once"), stale.stderr)
        XCTAssertEqual(try sshaudit(["ship", "--db", recorder.db, "--to", pg.url, "--password-file", pg.passwordFile,
                                     "--host", "spans", "--once"]).status, 0)
        XCTAssertEqual(try pg.number("SELECT count(*) FROM file_activity WHERE last_at IS NULL"), 0)
        try fleetAnswers("upgraded from layout 3")
    }
}
