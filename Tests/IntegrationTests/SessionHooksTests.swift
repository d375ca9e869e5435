import Foundation
import XCTest

/// The session hooks (the 32-bit call hook and the file and network activity programs) are attached
/// only while a session is open: a server no one is logged in to does not pay for them. Runs alone
/// (Makefile SERIAL_TESTS): every recorder follows every sshd, so another test's session would keep
/// them attached.
final class SessionHooksTests: RecordedSSHDTestCase {
    /// The pinned links of the attached session hooks (a clean stop removes them, a kill leaves them).
    func attachedHooks() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: recorder.pinDirectory)) ?? []
        return names.filter { $0.hasPrefix("hooklink_") }.sorted()
    }

    func waitUntil(_ what: String, timeout: TimeInterval = 10, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw TestFailure("timed out waiting until \(what)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Attached from the connection on (the session's first command, a shell builtin, is seen), kept
    /// while the recorder is killed and resumed (what the session does meanwhile is seen), detached
    /// after the linger once the session ended, and never attached by work outside sessions.
    func testAttachedOnlyWhileASessionIsOpen() throws {
        let token = UUID().uuidString.prefix(8).lowercased()
        let first = "/tmp/hooks-first-\(token)", moved = "/tmp/hooks-moved-\(token)"
        let whileDead = "/tmp/hooks-dead-\(token)", outside = "/tmp/hooks-outside-\(token)"
        defer { for path in [first, moved, whileDead, outside, outside + ".r"] { unlink(path) } }
        server = try SSHDServer(name: "hooks", port: 22662)
        let linger = ["--session-hooks-linger", "1"]
        recorder = try Recorder(name: "hooks", arguments: linger)

        // Loaded and pinned, not attached.
        let programs = ((try? FileManager.default.contentsOfDirectory(atPath: recorder.pinDirectory)) ?? [])
            .filter { $0.hasPrefix("hookprog_") }
        for hook in ["tp_sys_exit_rename", "tp_sys_exit_unlink", "tp_sys_exit_connect", "tp_sys_enter_sendmsg", "raw_sys_enter",
                     "tp_sys_exit_openat", "tp_sys_enter_close",
                     "raw_io_uring_create", "raw_io_uring_submit_req"] {
            XCTAssertTrue(programs.contains("hookprog_" + hook), "\(hook) in \(programs)")
        }
        XCTAssertEqual(attachedHooks(), [])
        // Work outside sessions attaches nothing.
        let r = try runProcess("/usr/bin/setpriv", ["--reuid=sa_alice", "--regid=sa_alice", "--init-groups", "--",
                                                   "/bin/sh", "-c", "echo x > \(outside) && mv \(outside) \(outside).r"])
        XCTAssertEqual(r.status, 0, r.stderr)
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertEqual(attachedHooks(), [])

        let ssh = try InteractiveSSH(server: server, user: "sa_alice")
        ssh.type("echo k >> \(first); mv \(first) \(moved); echo first-done")
        try ssh.waitFor("first-done\r")
        XCTAssertEqual(attachedHooks().count, programs.count, "every hook attached while the session is open")

        // Killed: the pinned links stay attached; the resumed recorder goes on with them.
        recorder.kill()
        ssh.type("echo d > \(whileDead); echo dead-done")
        try ssh.waitFor("dead-done\r")
        XCTAssertEqual(attachedHooks().count, programs.count)
        recorder = try Recorder(name: "hooks", fresh: false, arguments: linger)
        try recorder.waitForStderr("resumed the kernel state")
        ssh.type("exit")
        XCTAssertEqual(try ssh.waitForExit(), 0)
        try waitUntil("the hooks are detached after the linger") { attachedHooks().isEmpty }
        XCTAssertEqual(try recorder.stop(), 0)

        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 1)
        let id = try XCTUnwrap(sessions.first?.int("id"))
        XCTAssertEqual(sessions.first?["drops"] as? Bool, false, "the hooks were attached before the first command")
        let rows = try recorder.query("files", ["--session", String(id), "--path", "/tmp/hooks-*"])
        let seen = Set(rows.map { "\($0.string("op") ?? "?") \($0.string("path") ?? "?")\($0.string("new_path").map { " → " + $0 } ?? "")" })
        XCTAssertEqual(seen, ["create \(first)", "rename \(first) → \(moved)", "create \(whileDead)"])
        let anywhere = try recorder.query("files", ["--path", "/tmp/hooks-outside-*"])
        XCTAssertEqual(anywhere.count, 0, "nothing from outside sessions: \(anywhere)")
    }

    /// internal-sftp starts no program (and without PAM, nothing else runs one either), so no exec can
    /// say that the hooks were off. A session whose user child was forked while they were detached
    /// (here: the recorder killed with them detached, an upload and a rename meanwhile: the rename goes
    /// unseen) is marked `drops` once the resumed recorder reads it; one served while the recorder ran
    /// has its rename and is not.
    func testAnInternalSftpSessionServedWhileTheHooksWereOffIsMarked() throws {
        server = try SSHDServer(name: "hooks-sftp", port: 22663,
                                extraOptions: ["-o", "Subsystem=sftp internal-sftp", "-o", "UsePAM=no"])
        let linger = ["--session-hooks-linger", "1"]
        recorder = try Recorder(name: "hooks-sftp", arguments: linger)
        let token = UUID().uuidString.prefix(8).lowercased()
        let source = "/run/sshaudit-test/hooks-upload-\(token).bin"
        let live = "/tmp/hooks-sftp-live-\(token).bin", unseen = "/tmp/hooks-sftp-down-\(token).bin"
        try Data(repeating: 0x5a, count: 4_096).write(to: URL(fileURLWithPath: source))
        defer { for f in [source, live, unseen, live + ".part", unseen + ".part"] { unlink(f) } }
        func upload(_ target: String) throws {
            let r = try server.sftp(key: "id_alice_hooks", "put \(source) \(target).part\nrename \(target).part \(target)\n")
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        try upload(live)
        try waitUntil("the hooks are detached after the linger") { attachedHooks().isEmpty }
        recorder.kill()
        XCTAssertEqual(attachedHooks(), [], "killed with the hooks detached")
        try upload(unseen)
        XCTAssertTrue(FileManager.default.fileExists(atPath: unseen), "the upload happened")
        recorder = try Recorder(name: "hooks-sftp", fresh: false, arguments: linger)
        try recorder.waitForStderr("resumed the kernel state")
        XCTAssertEqual(try recorder.stop(), 0)

        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        // The second's transfer went unseen (its opens too, with the hooks off): no kind is claimed.
        XCTAssertEqual(sessions.map { $0.string("kind") }, ["sftp", "unknown"])
        XCTAssertEqual(sessions.map { $0["drops"] as? Bool }, [false, true])
        let renames = try recorder.query("files", ["--op", "rename", "--path", "/tmp/hooks-sftp-*"])
        XCTAssertEqual(renames.compactMap { $0.string("new_path") }, [live], "the live session's rename only")
        let transfers = try recorder.query("transfers", ["--session", String(try XCTUnwrap(sessions.first?.int("id")))])
        XCTAssertEqual(transfers.compactMap { $0.string("path") }, [live])
    }

    /// write() is hooked only for sshd's log lines: the hook is attached once a followed sshd logs to a
    /// file (-E) or its standard error (-e), never for one that logs through syslog (sendto, hooked
    /// anyway), as packaged ones do, so that no process on such a server pays it on every write().
    /// Attached, it is pinned: a killed recorder's state keeps it, and the resumed one reads on.
    func testLogWriteHookOnlyOnceAnSshdLogsToAFile() throws {
        func pins(_ prefix: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: recorder.pinDirectory)) ?? []).filter { $0.hasPrefix(prefix) }
        }
        let sink = try SyslogSink()
        defer { sink.close() }
        server = try SSHDServer(name: "hooks-syslog", port: 22664, logMode: "syslog")
        recorder = try Recorder(name: "hooks-log")
        XCTAssertEqual(pins("logprog_"), ["logprog_tp_sys_enter_write"], "loaded and pinned")
        XCTAssertEqual(pins("loglink_"), [], "not attached for an sshd that logs through syslog")
        XCTAssertNotEqual(try server.sshWithPasswords("sa_bob", ["Wrong-1"]).status, 0)
        XCTAssertEqual(try server.ssh("sa_alice", ["true"]).status, 0)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(pins("loglink_"), [], "its logins did not attach it")

        // An sshd that logs to a file, started now: the hook is attached for it.
        let fileServer = try SSHDServer(name: "hooks-logfile", port: 22665)
        defer { fileServer.stop() }
        try waitUntil("the log-write hook is attached") { pins("loglink_") == ["loglink_tp_sys_enter_write"] }
        XCTAssertNotEqual(try fileServer.sshWithPasswords("sa_bob", ["Wrong-2"]).status, 0)
        recorder.kill()
        XCTAssertEqual(pins("loglink_"), ["loglink_tp_sys_enter_write"], "a killed recorder's state keeps it")
        XCTAssertNotEqual(try fileServer.sshWithPasswords("sa_bob", ["Wrong-3"]).status, 0)
        recorder = try Recorder(name: "hooks-log", fresh: false)
        try recorder.waitForStderr("resumed the kernel state")
        XCTAssertEqual(try fileServer.ssh("sa_alice", ["true"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: recorder.pinDirectory), "a clean stop detaches it")

        // Every line read, through either route: the kernel had the hook wherever it was needed.
        let sessions = try recorder.query("sessions")
        let auth = try recorder.query("auth")
        func attempts(_ port: Int) -> [String] {
            sessions.filter { $0.int("local_port") == port }.flatMap { s in
                auth.filter { $0.int("session_id") == s.int("id") }.map { "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil")" }
            }
        }
        XCTAssertEqual(attempts(server.port), ["failed password", "accepted publickey"])
        XCTAssertEqual(attempts(fileServer.port), ["failed password", "failed password", "accepted publickey"])
    }
}
