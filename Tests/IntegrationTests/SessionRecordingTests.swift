import Foundation
import XCTest

/// End to end: a real sshd on 127.0.0.1, `sshaudit record` with real BPF programs, real ssh clients,
/// then the JSON that `sshaudit query` prints. Each test has its own sshd port and database; the
/// recorder sees every sshd on the machine, so rows are picked by this test's port.
final class SessionRecordingTests: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder!

    func start(_ name: String, port: Int) throws {
        server = try SSHDServer(name: name, port: port)
        recorder = try Recorder(name: name)
    }

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    func uid(of user: String) -> Int {
        Int(getpwnam(user)!.pointee.pw_uid)
    }

    /// Sessions whose connection reached this test's sshd.
    func sessions() throws -> [[String: Any]] {
        try recorder.query("sessions").filter { $0.int("local_port") == server.port }
    }

    func stopRecorder() throws {
        XCTAssertEqual(try recorder.stop(), 0, "record must exit 0 after SIGINT: \(recorder.stderr)")
        XCTAssertTrue(recorder.stderr.contains("0 lost in the kernel"), recorder.stderr)
    }

    // (a) ssh host 'cmd': the command string, each exec'd program, exit codes, the session's exit 3.
    func testCommandSession() throws {
        try start("cmd", port: 22301)
        let command = #"echo hello; echo "$SSH_CLIENT"; /bin/ls /; exit 3"#
        let result = try server.ssh("sa_alice", [command])
        XCTAssertEqual(result.status, 3, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "hello")
        let port = try XCTUnwrap(clientPort(fromSSHClientLine: lines[1]), result.stdout)
        try stopRecorder()

        let sessions = try sessions()
        XCTAssertEqual(sessions.count, 1, "one session per connection: \(sessions)")
        let s = try XCTUnwrap(sessions.first)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.int("uid"), uid(of: "sa_alice"))
        XCTAssertEqual(s.string("remote_addr"), "127.0.0.1")
        XCTAssertEqual(s.int("remote_port"), port)
        XCTAssertEqual(s.string("local_addr"), "127.0.0.1")
        XCTAssertEqual(s.int("exit_code"), 3)
        XCTAssertEqual(s.int("command_count"), 2)
        XCTAssertTrue(s["tty"] is NSNull, "ssh host cmd has no terminal")
        XCTAssertGreaterThan(try XCTUnwrap(s.int("bytes_in")), 1000, "the key exchange alone is more")
        XCTAssertGreaterThan(try XCTUnwrap(s.int("bytes_out")), 1000)
        let started = try XCTUnwrap(s.string("started_at")), ended = try XCTUnwrap(s.string("ended_at"))
        let authenticated = try XCTUnwrap(s.string("authenticated_at"))
        XCTAssertLessThan(started, authenticated)
        XCTAssertLessThan(authenticated, ended)

        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        XCTAssertEqual(commands.map(\.argv), [["bash", "-c", command], ["/bin/ls", "/"]])
        XCTAssertEqual(commands.map { $0.string("filename") }, ["/bin/bash", "/bin/ls"])
        XCTAssertEqual(commands.map { $0.int("exit_code") }, [3, 0])
        XCTAssertEqual(commands.map { $0.int("uid") }, [uid(of: "sa_alice"), uid(of: "sa_alice")])
        XCTAssertEqual(commands[1].int("ppid"), commands[0].int("pid"), "ls is bash's child")
        XCTAssertEqual(commands[1].int("parent_id"), commands[0].int("id"))
        for c in commands {
            XCTAssertNotNil(c.int("duration_ms"))
            XCTAssertLessThanOrEqual(try XCTUnwrap(c.string("started_at")), try XCTUnwrap(c.string("ended_at")))
        }
        // --grep finds them whether the recorder's spare time has put them in the index yet or not.
        // (The recorder sees every sshd on the machine: tests running alongside may add matches.)
        let found = Set(try recorder.query("commands", ["--grep", "/bin/ls /"]).compactMap { $0.int("id") })
        XCTAssertTrue(found.isSuperset(of: commands.compactMap { $0.int("id") }), "bash -c's line holds it too: \(found)")
    }

    /// An sshd made to accept MPTCP (`mptcpize run sshd`): the connection it accepts is an MPTCP
    /// socket, which has no TCP byte counters and is never destroyed where the programs look for the
    /// end of a TCP connection. The session is recorded in full, its byte counts are absent rather than
    /// read from the wrong structure, and the connection is not kept waiting for an end that never comes.
    func testMPTCPConnectionIsRecordedWithoutInventedByteCounts() throws {
        server = try SSHDServer(name: "mptcp", port: 22304, mptcp: true)
        recorder = try Recorder(name: "mptcp")
        let result = try server.ssh("sa_alice", [#"echo "$SSH_CLIENT"; /bin/true"#])
        XCTAssertEqual(result.status, 0, result.stderr)
        let port = try XCTUnwrap(clientPort(fromSSHClientLine: result.stdout.split(separator: "\n").first.map(String.init) ?? ""), result.stdout)
        try stopRecorder()
        let all = try sessions()
        XCTAssertEqual(all.count, 1, "\(all)")
        let s = try XCTUnwrap(all.first)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.string("remote_addr"), "127.0.0.1")
        XCTAssertEqual(s.int("remote_port"), port)
        XCTAssertEqual(s.int("exit_code"), 0)
        XCTAssertEqual(s.int("command_count"), 2, "bash -c and /bin/true")
        XCTAssertTrue(s["bytes_in"] is NSNull && s["bytes_out"] is NSNull, "no TCP counters to read: \(s)")
        XCTAssertEqual(s.int("drops"), 0, "\(s)")
    }

    // (b) ssh -tt typing cd /tmp, id -u, exit: the login shell and the typed command, no motd scripts.
    func testInteractiveSession() throws {
        try start("tty", port: 22302)
        let result = try server.ssh("sa_alice", ["-tt"], input: "cd /tmp\nid -u\ntty\nexit\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        let tty = try XCTUnwrap(result.stdout.range(of: #"/dev/pts/\d+"#, options: .regularExpression).map { result.stdout[$0] })
        XCTAssertTrue(result.stdout.contains("\(uid(of: "sa_alice"))"), result.stdout)
        try stopRecorder()

        let sessions = try sessions()
        XCTAssertEqual(sessions.count, 1, "\(sessions)")
        let s = try XCTUnwrap(sessions.first)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.int("uid"), uid(of: "sa_alice"))
        XCTAssertEqual(s.int("exit_code"), 0)
        XCTAssertNotNil(s.string("ended_at"))
        XCTAssertEqual(s.string("tty").map { "/dev/" + $0 }, String(tty), "the terminal `tty` printed")

        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        let shell = try XCTUnwrap(commands.first)
        XCTAssertEqual(shell.argv, ["-bash"], "the login shell comes first")
        XCTAssertEqual(shell.string("filename"), "/bin/bash")
        XCTAssertEqual(shell.int("exit_code"), 0)
        // The typed command is the shell's last `id -u` (the profile scripts may run one too); after
        // it only ~/.bash_logout's clear_console.
        let typed = try XCTUnwrap(commands.last { $0.argv == ["id", "-u"] })
        XCTAssertEqual(commands.last?.argv, ["/usr/bin/clear_console", "-q"])
        XCTAssertTrue(commands.contains { $0.argv == ["tty"] && $0.string("cwd") == "/tmp" })
        XCTAssertEqual(typed.int("exit_code"), 0)
        XCTAssertEqual(typed.int("ppid"), shell.int("pid"))
        XCTAssertEqual(typed.string("cwd"), "/tmp", "typed after cd /tmp")
        XCTAssertEqual(shell.string("cwd"), "/home/sa_alice")
        XCTAssertEqual(s.int("command_count"), commands.count)
        for c in commands {
            XCTAssertEqual(c.int("uid"), uid(of: "sa_alice"), "only the user's processes: \(c)")
            XCTAssertFalse(c.argv.joined(separator: " ").contains("motd"), "motd script counted: \(c)")
        }
    }

    // (c) 10 sessions at once: ten sessions, each with its own client port and its command, none lost.
    func testParallelSessions() throws {
        try start("par", port: 22303)
        var results = [ProcessResult?](repeating: nil, count: 10)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 10) { i in
            let r = try? server.ssh(i % 2 == 0 ? "sa_alice" : "sa_bob", [#"echo "$SSH_CLIENT"; /bin/echo par-"# + String(i)])
            lock.lock()
            results[i] = r
            lock.unlock()
        }
        try stopRecorder()

        let sessions = try sessions()
        XCTAssertEqual(sessions.count, 10, "\(sessions)")
        let commands = try recorder.query("commands")
        for (i, result) in results.enumerated() {
            let r = try XCTUnwrap(result)
            XCTAssertEqual(r.status, 0, r.stderr)
            let port = try XCTUnwrap(clientPort(fromSSHClientLine: r.stdout.split(separator: "\n").first.map(String.init) ?? ""))
            let matching = sessions.filter { $0.int("remote_port") == port }
            XCTAssertEqual(matching.count, 1, "session for client port \(port)")
            let s = try XCTUnwrap(matching.first)
            let user = i % 2 == 0 ? "sa_alice" : "sa_bob"
            XCTAssertEqual(s.string("user"), user)
            XCTAssertEqual(s.int("uid"), uid(of: user))
            XCTAssertEqual(s.int("exit_code"), 0)
            let own = commands.filter { $0.int("session_id") == s.int("id") }
            XCTAssertEqual(own.filter { $0.argv == ["/bin/echo", "par-\(i)"] && $0.int("exit_code") == 0 }.count, 1,
                           "command of session \(i): \(own)")
        }
        let echoes = commands.filter { $0.argv.first == "/bin/echo" && $0.argv.last?.hasPrefix("par-") == true }
        let ids = Set(sessions.compactMap { $0.int("id") })
        XCTAssertEqual(echoes.filter { ids.contains($0.int("session_id") ?? -1) }.count, 10, "no command lost or duplicated")
    }
}
