import Foundation
import GRDB
import XCTest

/// kill -9 of the recorder at a bad moment, then a restart: a consistent database, no duplicated
/// session, sessions that ended meanwhile closed as unobserved.
final class CrashSafetyTests: XCTestCase {
    var server: SSHDServer!
    var recorders: [Recorder] = []

    override func tearDown() {
        server?.stop()
        for r in recorders { _ = try? r.stop() }
        super.tearDown()
    }

    func rows(_ db: String, _ sql: String) throws -> [Row] {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: db, configuration: config).read { try Row.fetchAll($0, sql: sql) }
    }

    /// An sshd and a recorder named `name`, and sa_alice running `command` in a session (the group
    /// is left when the client exits).
    func recordingWithClient(_ name: String, port: Int, command: String) throws -> (Recorder, DispatchGroup) {
        server = try SSHDServer(name: name, port: port)
        let recorder = try Recorder(name: name)
        recorders.append(recorder)
        let client = DispatchGroup()
        client.enter()
        DispatchQueue.global().async { [server] in
            _ = try? server!.ssh("sa_alice", [command])
            client.leave()
        }
        return (recorder, client)
    }

    func testKillDuringABurstThenRestart() throws {
        server = try SSHDServer(name: "crash", port: 22341)
        let first = try Recorder(name: "crash")
        recorders.append(first)
        let go = "/tmp/sshaudit-crash-go-\(getpid())"
        try? FileManager.default.removeItem(atPath: go)
        defer { try? FileManager.default.removeItem(atPath: go) }
        // 20 sessions, 100 ms apart: each polls for the go file (a burst of sleeps), then runs 5 commands.
        let group = DispatchGroup()
        let ports = Locked<[Int]>([]), failures = Locked<[String]>([])
        for n in 0..<20 {
            group.enter()
            Thread.detachNewThread { [server] in
                Thread.sleep(forTimeInterval: 0.1 * Double(n))
                let script = #"echo "$SSH_CLIENT"; while [ ! -e "# + go + #" ]; do sleep 0.1; done; "#
                    + #"for i in 1 2 3 4 5; do /bin/echo s"# + String(n) + #"-c$i; done"#
                do {
                    let r = try server!.ssh("sa_bob", [script])
                    let port = clientPort(fromSSHClientLine: String(r.stdout.split(separator: "\n").first ?? ""))
                    if let port { ports.mutate { $0.append(port) } } else { failures.mutate { $0.append("\(r)") } }
                } catch {
                    failures.mutate { $0.append("\(error)") }
                }
                group.leave()
            }
        }
        Thread.sleep(forTimeInterval: 2.5)
        first.kill()  // in the middle of the sessions' polling: a steady stream of events
        let second = try Recorder(name: "crash", fresh: false)
        recorders.append(second)
        XCTAssertTrue(FileManager.default.createFile(atPath: go, contents: Data()), "go file \(go)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: go))
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(try second.stop(signal: SIGTERM), 0, "SIGTERM flushes and exits 0: \(second.stderr)")
        XCTAssertEqual(ports.value.count, 20, "all 20 clients succeeded: \(failures.value.prefix(2))")

        XCTAssertEqual(try rows(second.db, "PRAGMA integrity_check").first?[0] as String?, "ok")
        let sessions = try rows(second.db, "SELECT * FROM sessions WHERE local_port = \(server.port)")
        XCTAssertEqual(sessions.count, 20, "no duplicated session")
        for port in ports.value {
            let row = sessions.first { $0["remote_port"] == port }
            XCTAssertNotNil(row, "a row for the connection from port \(port)")
            XCTAssertNotNil(row?["ended_at"] as String?, "seen to end by the second recorder")
            XCTAssertEqual(row?["user"] as String?, "sa_bob")
        }
        // Every command the sessions ran is there once, in its own session: those read by the killed
        // run and those the next run read from the ring buffer.
        let commands = try rows(second.db, """
            SELECT c.argv, c.exit_code, s.id AS session FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(server.port) AND c.argv LIKE '["/bin/echo","s%'
            """)
        XCTAssertEqual(commands.count, 100, "5 commands in each of 20 sessions")
        XCTAssertTrue(commands.allSatisfy { ($0["exit_code"] as Int?) == 0 })
        XCTAssertEqual(Set(commands.map { $0["session"] as Int }).count, 20)
        let runs = try rows(second.db, "SELECT * FROM recorder_runs ORDER BY id")
        XCTAssertEqual(runs.count, 2)
        XCTAssertEqual(runs[0]["clean_exit"] as Int, 0, "the killed run is not marked clean")
        XCTAssertEqual(runs[1]["clean_exit"] as Int, 1)
        XCTAssertEqual(runs[1]["resumed_from"] as Int?, runs[0]["id"] as Int?, "the kernel state was continued")
        XCTAssertEqual(try rows(second.db, "SELECT COUNT(*) FROM sessions WHERE ended_unobserved = 1").first?[0] as Int?, 0)
    }

    /// The kernel state outlives a killed recorder (pinned): sessions that begin, run commands and end
    /// while no recorder runs are read from the ring buffer by the next run, whole.
    func testSessionsWhileTheRecorderWasDownAreRecordedWhole() throws {
        let (first, client) = try recordingWithClient(
            "down", port: 22342, command: "/bin/echo open-at-kill; /bin/sleep 2; /bin/echo ended-while-down")
        Thread.sleep(forTimeInterval: 1)
        first.kill()
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.pinDirectory), "the kernel state stays pinned")
        // Begun and ended while nobody read the ring buffer.
        let whileDown = try server.ssh("sa_bob", ["/bin/echo begun-while-down; exit 4"])
        XCTAssertEqual(whileDown.status, 4)
        XCTAssertEqual(client.wait(timeout: .now() + 30), .success)
        let second = try Recorder(name: "down", fresh: false)
        recorders.append(second)
        XCTAssertTrue(second.stderr.contains("resumed the kernel state of run 1"), second.stderr)
        XCTAssertEqual(try second.stop(), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.pinDirectory), "a clean stop detaches")

        let sessions = try rows(second.db, "SELECT * FROM sessions WHERE local_port = \(server.port) ORDER BY id")
        XCTAssertEqual(sessions.map { $0["user"] as String? }, ["sa_alice", "sa_bob"])
        XCTAssertEqual(sessions.map { $0["ended_unobserved"] as Int }, [0, 0])
        XCTAssertTrue(sessions.allSatisfy { ($0["ended_at"] as String?) != nil }, "both ends seen")
        XCTAssertEqual(sessions.map { $0["exit_code"] as Int? }, [0, 4])
        XCTAssertEqual(sessions.map { $0["drops"] as Int }, [0, 0])
        let argv = try rows(second.db, """
            SELECT c.argv FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(server.port) AND c.filename = '/bin/echo' ORDER BY c.id
            """).map { $0["argv"] as String }
        XCTAssertEqual(argv, [#"["/bin/echo","open-at-kill"]"#, #"["/bin/echo","begun-while-down"]"#,
                              #"["/bin/echo","ended-while-down"]"#], "each command once, none lost")
        let runs = try rows(second.db, "SELECT * FROM recorder_runs ORDER BY id")
        XCTAssertEqual(runs.map { $0["resumed_from"] as Int? }, [nil, 1])
        XCTAssertEqual(runs.map { $0["clean_exit"] as Int }, [0, 1])
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", second.db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let status = try runProcess(Paths.sshaudit, ["status", "--db", second.db])
        XCTAssertTrue(status.stdout.contains("killed, resumed by 2"), status.stdout)
        XCTAssertTrue(status.stdout.contains("kernel kept recording"), status.stdout)
    }

    /// kill -9 again and again while sessions run commands: each run resumes the last one's kernel
    /// state, and in the end every command is there exactly once.
    func testRepeatedKillsLoseNothing() throws {
        server = try SSHDServer(name: "kills", port: 22345)
        var current = try Recorder(name: "kills")
        recorders.append(current)
        let group = DispatchGroup()
        let statuses = Locked<[Int32]>([])
        for n in 0..<10 {
            group.enter()
            Thread.detachNewThread { [server] in
                Thread.sleep(forTimeInterval: 0.2 * Double(n))
                let script = "for i in $(seq 1 40); do /bin/echo k\(n)-$i; /bin/sleep 0.05; done"
                let status = (try? server!.ssh("sa_bob", [script]).status) ?? -1
                statuses.mutate { $0.append(status) }
                group.leave()
            }
        }
        for _ in 0..<4 {
            Thread.sleep(forTimeInterval: 0.8)
            current.kill()
            current = try Recorder(name: "kills", fresh: false)
            recorders.append(current)
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(try current.stop(signal: SIGTERM), 0, current.stderr)
        XCTAssertEqual(statuses.value.sorted(), Array(repeating: 0, count: 10))

        let echoes = try rows(current.db, """
            SELECT c.argv, c.exit_code FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(server.port) AND c.filename = '/bin/echo'
            """)
        let argv = echoes.map { $0["argv"] as String }
        XCTAssertEqual(argv.count, 400, "10 sessions × 40 commands")
        XCTAssertEqual(Set(argv).count, 400, "each exactly once")
        XCTAssertTrue(echoes.allSatisfy { ($0["exit_code"] as Int?) == 0 })
        let sessions = try rows(current.db, "SELECT * FROM sessions WHERE local_port = \(server.port)")
        XCTAssertEqual(sessions.count, 10)
        XCTAssertTrue(sessions.allSatisfy { ($0["ended_at"] as String?) != nil && ($0["ended_unobserved"] as Int) == 0 })
        let runs = try rows(current.db, "SELECT * FROM recorder_runs ORDER BY id")
        XCTAssertEqual(runs.map { $0["resumed_from"] as Int? }, [nil, 1, 2, 3, 4])
        XCTAssertEqual(try rows(current.db, "SELECT SUM(ring_drops) FROM recorder_runs").first?[0] as Int?, 0)
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", current.db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// When the kernel state is gone too (a reboot, or removed by hand), what happened meanwhile is
    /// unknown: the open session is closed as ended while unobserved, its end not invented.
    func testSessionThatEndedWhileTheKernelStateWasLost() throws {
        let (first, client) = try recordingWithClient("lost", port: 22344, command: "/bin/sleep 4")
        // Killed once the session's user is stored (a fixed second was too short beside other tests).
        try waitUntil("the session is stored with its user") {
            try !rows(first.db, "SELECT id FROM sessions WHERE local_port = \(server.port) AND user IS NOT NULL").isEmpty
        }
        first.kill()
        first.removeKernelState()
        XCTAssertEqual(client.wait(timeout: .now() + 30), .success)
        let second = try Recorder(name: "lost", fresh: false)
        recorders.append(second)
        XCTAssertEqual(try second.stop(), 0)
        let sessions = try rows(second.db, "SELECT * FROM sessions WHERE local_port = \(server.port)")
        XCTAssertEqual(sessions.count, 1)
        XCTAssertEqual(sessions.first?["ended_unobserved"] as Int?, 1)
        XCTAssertNil(sessions.first?["ended_at"] as String?, "its end was not seen: unknown, not invented")
        XCTAssertEqual(sessions.first?["user"] as String?, "sa_alice")
        let runs = try rows(second.db, "SELECT * FROM recorder_runs ORDER BY id")
        XCTAssertEqual(runs.map { $0["resumed_from"] as Int? }, [nil, nil])
    }

    /// Two recorders on one database would share its ring buffer: the second is refused.
    func testASecondRecorderOnTheSameDatabaseIsRefused() throws {
        let first = try Recorder(name: "twice")
        recorders.append(first)
        let second = try runProcess(Paths.sshaudit, ["record", "--db", first.db], timeout: 20)
        XCTAssertEqual(second.status, 1)
        XCTAssertEqual(second.stderr.split(separator: "\n").count, 1, second.stderr)
        XCTAssertTrue(second.stderr.contains("another sshaudit record is already writing to"), second.stderr)
    }
}

extension CrashSafetyTests {
    /// Log rotation: the file is moved away, SIGHUP, and recording goes on in a new file at the path.
    func testSighupReopensTheDatabase() throws {
        server = try SSHDServer(name: "rotate", port: 22343)
        let recorder = try Recorder(name: "rotate")
        recorders.append(recorder)
        let tty = try InteractiveSSH(server: server, user: "sa_alice")
        tty.type("/bin/echo before-rotation")
        try tty.waitFor("before-rotation\\s")
        Thread.sleep(forTimeInterval: 0.5)
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: recorder.db + suffix) {
            try FileManager.default.moveItem(atPath: recorder.db + suffix, toPath: recorder.db + ".1" + suffix)
        }
        recorder.send(SIGHUP)
        try recorder.waitForStderr("reopened")
        tty.type("/bin/echo after-rotation; exit")
        XCTAssertEqual(try tty.waitForExit(), 0)
        XCTAssertEqual(try recorder.stop(), 0)

        let old = try rows(recorder.db + ".1", "SELECT argv FROM commands").map { $0["argv"] as String }
        XCTAssertTrue(old.contains(#"["/bin/echo","before-rotation"]"#), "\(old)")
        let new = try rows(recorder.db, "SELECT c.argv, s.user, s.ended_at FROM commands c JOIN sessions s ON s.id = c.session_id")
        let after = try XCTUnwrap(new.first { ($0["argv"] as String) == #"["/bin/echo","after-rotation"]"# }, "\(new)")
        XCTAssertEqual(after["user"] as String?, "sa_alice", "the open session came along")
        XCTAssertNotNil(after["ended_at"] as String?)
        XCTAssertEqual(try rows(recorder.db, "PRAGMA integrity_check").first?[0] as String?, "ok")
    }
}

extension ISO8601DateFormatter {
    static let milliseconds: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}
