import Foundation
import XCTest

/// Started on a busy server: sessions already open, processes that try to leave the tree, pids reused.
final class RecoveryAndEvasionTests: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder?

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    func sessions(_ r: Recorder) throws -> [[String: Any]] {
        try r.query("sessions").filter { $0.int("local_port") == server.port }
    }

    /// A session opened before `record` starts; what is typed afterwards lands in it.
    func testSessionOpenedBeforeTheRecorderStarted() throws {
        server = try SSHDServer(name: "recover", port: 22321)
        let tty = try InteractiveSSH(server: server, user: "sa_alice")
        tty.type(#"echo "CLIENT=$SSH_CLIENT""#)
        let port = try XCTUnwrap(Int(try tty.waitFor(#"CLIENT=127\.0\.0\.1 (\d+) "#)))
        tty.type("sleep 600 &")
        tty.type("echo started-bg")
        try tty.waitFor("started-bg\\s")

        let recorder = try Recorder(name: "recover")
        self.recorder = recorder
        XCTAssertTrue(recorder.stderr.contains("1 open session(s)") || recorder.stderr.contains("open session(s)"), recorder.stderr)
        tty.type("/bin/echo typed-after-start")
        try tty.waitFor("typed-after-start\\s")
        tty.type("kill %1; exit")
        XCTAssertEqual(try tty.waitForExit(), 0, tty.transcript)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let found = try sessions(recorder)
        XCTAssertEqual(found.count, 1, "\(found)")
        let s = try XCTUnwrap(found.first)
        XCTAssertEqual(s["recovered"] as? Bool, true)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.int("uid"), Int(getpwnam("sa_alice")!.pointee.pw_uid))
        XCTAssertEqual(s.string("remote_addr"), "127.0.0.1")
        XCTAssertEqual(s.int("remote_port"), port)
        XCTAssertNotNil(s.string("ended_at"))
        XCTAssertTrue(s.string("sshd_version")?.hasPrefix("OpenSSH_9.2p1") ?? false, "\(s)")
        let started = try XCTUnwrap(s.string("started_at"))
        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        let typed = try XCTUnwrap(commands.first { $0.argv == ["/bin/echo", "typed-after-start"] }, "\(commands)")
        XCTAssertEqual(typed.int("exit_code"), 0)
        XCTAssertGreaterThan(try XCTUnwrap(typed.string("started_at")), started)
        // What was already running is there too, marked as seen at the start.
        let shell = try XCTUnwrap(commands.first { $0.argv == ["-bash"] })
        XCTAssertEqual(shell["recovered"] as? Bool, true)
        XCTAssertEqual(typed.int("ppid"), shell.int("pid"))
        XCTAssertEqual(typed.int("parent_id"), shell.int("id"))
        let sleeper = try XCTUnwrap(commands.first { $0.argv == ["sleep", "600"] })
        XCTAssertEqual(sleeper["recovered"] as? Bool, true)
        XCTAssertEqual(sleeper.int("signal"), 15, "killed by the shell's kill")
    }

    /// Processes that leave the tree stay in the session, also after logout.
    func testProcessesThatLeaveTheTreeStayInTheSession() throws {
        server = try SSHDServer(name: "evasion", port: 22322)
        let recorder = try Recorder(name: "evasion")
        self.recorder = recorder
        let marker = "/tmp/sshaudit-evasion-done-\(getpid())"  // writable by the test user
        try? FileManager.default.removeItem(atPath: marker)
        let script = """
            setsid sh -c '(sleep 1; /bin/echo double-forked) &' </dev/null >/dev/null 2>&1
            nohup sh -c 'sleep 1.5; /bin/echo after-logout' </dev/null >/dev/null 2>&1 &
            bash -c 'printf innocent > /proc/$$/comm; /bin/echo after-rename'
            perl -e '$0 = "kworker/0:1"; system("/bin/echo", "argv-rewritten")'
            exec 3</bin/echo; /proc/self/fd/3 via-proc-fd
            perl -e 'my $n = "payload"; my $fd = syscall(319, $n, 0); open(my $out, ">&=", $fd) or die; open(my $in, "<", "/bin/echo") or die; binmode $in; binmode $out; local $/; print {$out} scalar(<$in>); close $in; $out->flush; exec {"/proc/self/fd/$fd"} "payload", "from-memfd"'
            (sleep 2.5; touch \(marker)) </dev/null >/dev/null 2>&1 &
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        for expected in ["after-rename", "argv-rewritten", "via-proc-fd", "from-memfd"] {
            XCTAssertTrue(r.stdout.contains(expected), "\(expected) in \(r.stdout) \(r.stderr)")
        }
        let deadline = Date().addingTimeInterval(15)
        while !FileManager.default.fileExists(atPath: marker), Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker), "the last background job ran")
        try? FileManager.default.removeItem(atPath: marker)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let found = try sessions(recorder)
        XCTAssertEqual(found.count, 1)
        let s = try XCTUnwrap(found.first)
        let ended = try XCTUnwrap(s.string("ended_at"))
        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        func command(_ last: String) throws -> [String: Any] {
            try XCTUnwrap(commands.first { $0.argv.last == last }, "\(last) not in \(commands.map(\.argv))")
        }
        let doubleForked = try command("double-forked")
        let afterLogout = try command("after-logout")
        XCTAssertGreaterThan(try XCTUnwrap(doubleForked.string("started_at")), ended, "ran after logout, still in the session")
        XCTAssertGreaterThan(try XCTUnwrap(afterLogout.string("started_at")), ended)
        XCTAssertEqual(doubleForked.int("exit_code"), 0)
        XCTAssertEqual(try command("after-rename").int("uid"), s.int("uid"))
        // The rewritten title does not hide the original argv: exec recorded it.
        XCTAssertTrue(commands.contains { $0.argv.first == "perl" && ($0.argv.last ?? "").contains("kworker/0:1") })
        XCTAssertEqual(try command("argv-rewritten").argv, ["/bin/echo", "argv-rewritten"])
        XCTAssertEqual(try command("via-proc-fd").string("filename"), "/proc/self/fd/3")
        let memfd = try command("from-memfd")
        XCTAssertEqual(memfd.argv, ["payload", "from-memfd"])
        XCTAssertTrue(memfd.string("filename")?.hasPrefix("/proc/self/fd/") ?? false, "\(memfd)")
        XCTAssertEqual(s.int("command_count"), commands.count)
    }

    /// A pid that a session's process had, reused by a process outside sshd, never joins the session.
    func testRecycledPidNeverJoinsAnOldSession() throws {
        server = try SSHDServer(name: "pidreuse", port: 22323)
        let recorder = try Recorder(name: "pidreuse")
        self.recorder = recorder
        let r = try server.ssh("sa_alice", [#"/bin/sh -c 'echo $$'"#])
        XCTAssertEqual(r.status, 0, r.stderr)
        let pid = try XCTUnwrap(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Hand the same pid to a process outside any session (ns_last_pid picks the next pid; the
        // trailing `true` keeps bash from exec'ing sh in place, so sh is a new fork).
        var reused = false
        for _ in 0..<20 where !reused {
            let out = try runProcess("/bin/bash", ["-c", "echo \(pid - 1) > /proc/sys/kernel/ns_last_pid; /bin/sh -c 'echo $$; /bin/true reused-pid'; true"])
            reused = out.stdout.split(separator: "\n").first == Substring(String(pid))
        }
        XCTAssertTrue(reused, "could not get pid \(pid) again")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let commands = try recorder.query("commands")
        XCTAssertTrue(commands.contains { $0.int("pid") == pid && $0.argv.first == "/bin/sh" }, "the session's process")
        XCTAssertFalse(commands.contains { $0.argv.contains("reused-pid") }, "the recycled pid's command is not a session's")
    }
}
