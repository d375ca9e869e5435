import Foundation
import SSHAuditCore
import XCTest

/// Connections the listener refuses before forking (MaxStartups), on the real sshd: each one a
/// refusal of its source, never a session or an attempt, and never the reason a session carries
/// another connection's address.
final class RefusalTests: RecordedSSHDTestCase {

    func sshdLogLines() throws -> [String] {
        try String(contentsOfFile: "\(server.dir)/sshd_\(server.port).log", encoding: .utf8)
            .split(whereSeparator: \.isNewline).map(String.init)
    }

    func json(_ args: [String]) throws -> Any {
        let r = try runProcess(Paths.sshaudit, args)
        guard r.status == 0 else { throw TestFailure("sshaudit \(args.joined(separator: " ")): \(r.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    /// One wrong password per connection for `users`, `lanes` clients at a time, from `source`.
    /// Returns how many connections the clients saw refused before authentication (sshd closed them
    /// at once: no password prompt, no "Permission denied").
    func flood(_ users: [String], lanes: Int, source: String) -> (refused: Int, results: [ProcessResult]) {
        let box = Locked<[ProcessResult]>([])
        let group = DispatchGroup()
        let sshd = server!
        for lane in 0..<lanes {
            group.enter()
            Thread {
                for i in stride(from: lane, to: users.count, by: lanes) {
                    if let r = try? sshd.sshWithPasswords(users[i], ["Wrong-Pw-\(i)"], source: source) { box.mutate { $0.append(r) } }
                }
                group.leave()
            }.start()
        }
        group.wait()
        let results = box.value
        let refused = results.filter {
            $0.status == 255 && !$0.stderr.contains("Permission denied")
                && ($0.stderr.contains("kex_exchange_identification") || $0.stderr.contains("Connection closed")
                    || $0.stderr.contains("Connection reset"))
        }.count
        return (refused, results)
    }

    /// The client port of every "PREFIX … from SOURCE port N" / "[SOURCE]:N" line of sshd's log.
    static func ports(_ lines: [String], containing marker: String, source: String) -> [Int] {
        lines.filter { $0.contains(marker) }.compactMap { line -> Int? in
            for pattern in [" from \(source) port ", "from [\(source)]:"] {
                if let r = line.range(of: pattern) {
                    return Int(line[r.upperBound...].prefix { $0.isNumber })
                }
            }
            return nil
        }
    }

    /// Why failed attempts sshd logged have no row: for each such port, whether the kernel's record of
    /// the line is in the events log and what became of its session; and what the run lost.
    func explainMissing(_ loggedPorts: [Int], rows: [Int]) throws -> String {
        var unmatched = rows
        let missing = loggedPorts.filter { port in
            guard let i = unmatched.firstIndex(of: port) else { return true }
            unmatched.remove(at: i)
            return false
        }
        let events = try runProcess(Paths.sshaudit, ["events", recorder.eventsFile]).stdout.split(separator: "\n")
        let sessions = try recorder.query("sessions", [])
        var text = "logged failures without a row: \(missing), rows without a logged failure: \(unmatched)"
        for port in missing {
            let line = events.first { $0.contains(" port \(port) ssh2") }
            let session = sessions.first { $0.int("remote_port") == port }
            text += "\nport \(port): events log \(line.map { "has it: \($0)" } ?? "lacks its line"); session "
                + (session.map { "\($0.int("id") ?? -1) \($0.string("kind") ?? "-") ended \($0.string("ended_at") ?? "-")" } ?? "none")
        }
        let status = try runProcess(Paths.sshaudit, ["status", "--db", recorder.db]).stdout
        return text + "\n" + status.split(separator: "\n").filter { $0.hasPrefix("lost") || $0.hasPrefix("events no") }.joined(separator: "\n")
    }

    /// 300 connections with one wrong password each, 180 for invalid users, 24 at a time against
    /// MaxStartups 6:30:16 at LogLevel VERBOSE: the report's failed attempts equal sshd's `Failed `
    /// lines, its refusals equal the connections the clients saw refused and sshd's `drop connection`
    /// lines, and every session carries its own connection's port (the one sshd logged for it).
    func testFloodCountsFailedLinesAndRefusalsPerSource() throws {
        server = try SSHDServer(name: "refuse-flood", port: 22620,
                                extraOptions: ["-o", "MaxStartups=6:30:16", "-o", "LogLevel=VERBOSE"])
        recorder = try Recorder(name: "refuse-flood")
        let source = "127.0.62.1"
        let users = (0..<300).map { $0 % 5 < 3 ? "refuse-nobody-\($0)" : "sa_bob" }  // 180 invalid, 120 valid
        let started = Date()
        let (clientRefused, results) = flood(users, lanes: 24, source: source)
        print("refuse-flood: 300 connections in \(Int(Date().timeIntervalSince(started))) s, \(clientRefused) refused")
        XCTAssertEqual(results.count, 300)
        XCTAssertTrue(results.allSatisfy { $0.status != 0 })
        XCTAssertGreaterThan(clientRefused, 0, "the flood trips MaxStartups")
        XCTAssertLessThan(clientRefused, 300)
        let lines = try sshdLogLines()
        let failedLines = lines.filter { $0.contains("Failed ") && $0.contains(" from \(source) port ") }.count
        let dropPorts = Self.ports(lines, containing: "drop connection #", source: source)
        let servedPorts = Self.ports(lines, containing: "Connection from ", source: source)
        XCTAssertEqual(dropPorts.count, clientRefused, "sshd logs each drop at VERBOSE")
        XCTAssertEqual(failedLines + clientRefused, 300, "each connection either failed its password or was refused")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let failedRows = try recorder.query("auth", ["--from", source, "--failed"])
        if failedRows.count != failedLines {
            XCTFail(try explainMissing(Self.ports(lines, containing: "Failed ", source: source),
                                       rows: failedRows.compactMap { $0.int("remote_port") }))
        }
        let report = try XCTUnwrap(try json(["report", "--db", recorder.db, "--format", "json", "--since", "1h"]) as? [String: Any])
        let bySource = try XCTUnwrap((report["failed_by_source"] as? [[String: Any]])?.first { $0.string("address") == source })
        XCTAssertEqual(bySource.int("failed_attempts"), failedLines)
        XCTAssertEqual(bySource.int("refused"), clientRefused)
        XCTAssertEqual(failedRows.count, failedLines)
        let sources = try XCTUnwrap(try json(["query", "sources", "--db", recorder.db, "--format", "json"]) as? [[String: Any]])
        let mine = try XCTUnwrap(sources.first { $0.string("remote_addr") == source })
        XCTAssertEqual(mine.int("failed"), failedLines)
        XCTAssertEqual(mine.int("refused"), clientRefused)
        XCTAssertEqual(mine.int("sessions"), 300 - clientRefused, "a refused connection is no session")

        let refusals = try recorder.query("refusals", ["--from", source])
        XCTAssertEqual(refusals.count, clientRefused)
        XCTAssertEqual(Set(refusals.compactMap { $0.string("reason") }), ["max_startups"], "every drop was logged with its reason")
        XCTAssertEqual(refusals.compactMap { $0.int("remote_port") }.sorted(), dropPorts.sorted(), "the ports sshd dropped")
        XCTAssertTrue(refusals.allSatisfy { $0.int("local_port") == server.port && $0.int("listener_pid") == Int(server.pid ?? -1) })

        // No session carries another connection's source: the sessions' ports are those sshd logged
        // serving, each as often (a client port can come again after a refusal).
        let sessions = try recorder.query("sessions", ["--from", source])
        XCTAssertEqual(sessions.count, 300 - clientRefused)
        let sessionPorts = sessions.compactMap { $0.int("remote_port") }
        XCTAssertEqual(sessionPorts.count, sessions.count, "every session has its connection")
        XCTAssertEqual(sessionPorts.sorted(), servedPorts.sorted(), "the ports sshd logged serving")
        XCTAssertEqual(try recorder.query("refusals", ["--from", "192.0.2.0/24"]).count, 0)
    }

    /// At the default LogLevel INFO sshd 9.2 logs only the first drop of a burst: the others are known
    /// from the process tree alone (reason unknown), as many as the clients saw refused.
    func testRefusalsKnownWithoutTheirLogLine() throws {
        server = try SSHDServer(name: "refuse-quiet", port: 22621, extraOptions: ["-o", "MaxStartups=3:100:5", "-o", "LogLevel=INFO"])
        recorder = try Recorder(name: "refuse-quiet")
        let source = "127.0.62.2"
        let (clientRefused, results) = flood((0..<20).map { $0 % 2 == 0 ? "refuse-nobody-\($0)" : "sa_bob" }, lanes: 16,
                                             source: source)
        XCTAssertEqual(results.count, 20)
        XCTAssertGreaterThan(clientRefused, 0, "the flood trips MaxStartups")
        // A login afterwards: the listener's next accept settles a refused connection whose close showed nothing sent.
        XCTAssertEqual(try server.ssh("sa_alice", ["true"]).status, 0)
        let lines = try sshdLogLines()
        let logged = Self.ports(lines, containing: "drop connection #", source: source)
        XCTAssertLessThan(logged.count, clientRefused, "INFO shows only some drops")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let refusals = try recorder.query("refusals", ["--from", source])
        XCTAssertEqual(refusals.count, clientRefused)
        XCTAssertEqual(refusals.filter { $0.string("reason") == "max_startups" }.compactMap { $0.int("remote_port") }.sorted(),
                       logged.sorted(), "the reason where sshd logged one")
        XCTAssertEqual(refusals.filter { $0.string("reason") == "unknown" }.count, clientRefused - logged.count)
        let sessions = try recorder.query("sessions", ["--from", source])
        XCTAssertEqual(sessions.count, 20 - clientRefused)
        // At INFO each connection served logs its one failed password, with its port.
        let served = Self.ports(lines, containing: "Failed password for ", source: source)
        XCTAssertEqual(sessions.compactMap { $0.int("remote_port") }.sorted(), served.sorted(), "the ports sshd logged serving")
    }
}

/// Results collected from concurrent clients.
/// OpenSSH 10.0 (Debian 13's tree, sshd in a chroot): PerSourcePenalties. A failed login earns its
/// source a penalty; the listener then drops that source's connections before forking, and logs
/// "drop connection … penalty: failed authentication": each is a refusal of that source.
final class RefusalPenaltyTests: XCTestCase {
    let suite = OpenSSHTreeSuite(suite: "trixie", root: "/var/lib/sshaudit-test/trixie", versionPrefix: "OpenSSH_10.",
                                 sshdPath: "/usr/lib/openssh/sshd-session", name: "refuse-penalty", basePort: 22622)

    override func setUpWithError() throws { try suite.ensureTree() }

    func testPerSourcePenaltiesRefusalsCountedPerSource() throws {
        let server = try SSHDServer(name: "refuse-penalty", port: 22622, extraOptions: [
            "-o", "PerSourcePenalties=authfail:60s min:5s max:120s", "-o", "LogLevel=VERBOSE"], root: suite.root)
        defer { server.stop() }
        let recorder = try Recorder(name: "refuse-penalty")
        defer { _ = try? recorder.stop() }
        let source = "127.0.62.3", other = "127.0.62.4"
        let failed = try server.sshWithPasswords("sa_bob", ["Wrong-Pw"], source: source)
        XCTAssertEqual(failed.status, 255, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("Permission denied"), failed.stderr)
        Thread.sleep(forTimeInterval: 1)  // the listener reaps the session's process and penalises its source
        var refused = 0
        for _ in 0..<5 {
            let r = try server.sshWithPasswords("sa_bob", ["Bob-Pw-9z"], source: source)
            XCTAssertNotEqual(r.status, 0, "a penalised source is turned away")
            if !r.stderr.contains("Permission denied") { refused += 1 }
        }
        XCTAssertEqual(refused, 5)
        // Another source is served meanwhile.
        XCTAssertEqual(try server.sshWithPasswords("sa_bob", ["Bob-Pw-9z"], source: other).status, 0)
        let log = try String(contentsOfFile: suite.root + server.dir + "/sshd_\(server.port).log", encoding: .utf8)
        let lines = log.split(whereSeparator: \.isNewline).map(String.init)
        let dropPorts = RefusalTests.ports(lines, containing: "drop connection #", source: source)
        XCTAssertEqual(dropPorts.count, 5, log)
        XCTAssertTrue(lines.filter { $0.contains("drop connection #") }.allSatisfy { $0.hasSuffix("penalty: failed authentication") }, log)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let refusals = try recorder.query("refusals", ["--from", source])
        XCTAssertEqual(refusals.compactMap { $0.int("remote_port") }.sorted(), dropPorts.sorted())
        XCTAssertEqual(refusals.map { $0.string("reason") }, Array(repeating: "penalty", count: 5))
        XCTAssertEqual(refusals.map { $0.string("detail") }, Array(repeating: "penalty: failed authentication", count: 5))
        XCTAssertEqual(try recorder.query("refusals", ["--from", other]).count, 0)
        let r = try runProcess(Paths.sshaudit, ["report", "--db", recorder.db, "--format", "json", "--since", "1h"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let bySource = try XCTUnwrap((report["failed_by_source"] as? [[String: Any]])?.first { $0.string("address") == source })
        XCTAssertEqual(bySource.int("failed_attempts"), 1)
        XCTAssertEqual(bySource.int("refused"), 5)
        // One session: the failed login; the refused connections are none.
        let sessions = try recorder.query("sessions", ["--from", source])
        XCTAssertEqual(sessions.count, 1)
        XCTAssertFalse(dropPorts.contains(sessions.first?.int("remote_port") ?? -1))
    }
}
