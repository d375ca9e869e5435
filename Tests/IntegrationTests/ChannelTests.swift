import Foundation
import GRDB
import XCTest

/// Session channels on real sshd: one connection multiplexed by the client (ControlMaster) carries
/// several exec requests, a shell with a terminal and the sftp subsystem. The session row stays the
/// connection; each channel is recorded with its kind, terminal and exit code, and each command
/// under the channel its process came from, also a command a user daemonised (setsid, double fork)
/// that runs after its channel ended while another channel is open.
final class ChannelTests: XCTestCase {
    var server: SSHDServer?
    var recorder: Recorder?
    var controlPath: String?

    override func tearDown() {
        if let server, let controlPath {
            _ = try? runProcess("/usr/bin/ssh", ["-o", "ControlPath=\(controlPath)", "-O", "exit", "-p", String(server.port),
                                                 "sa_alice@127.0.0.1"])
            unlink(controlPath)
        }
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    func testControlMasterChannelsAreRecordedWithTheirCommands() throws {
        let server = try SSHDServer(name: "chan-mux", port: 22601,
                                    extraOptions: ["-o", "Subsystem=sftp /usr/lib/openssh/sftp-server"])
        self.server = server
        let recorder = try Recorder(name: "chan-mux")
        self.recorder = recorder
        let control = "/tmp/chan-mux-\(UUID().uuidString.prefix(8)).sock"
        controlPath = control
        let mux = ["-o", "ControlPath=\(control)"]

        // The master authenticates and stays in the background (its output must not hold our pipes).
        let master = try runProcess("/bin/bash", ["-c", "exec /bin/bash \"$0\" ssh \"$1\" \"$2\" sa_alice -o ControlMaster=yes "
                                                  + "-o ControlPersist=no -o ControlPath=\"$3\" -fN >/dev/null 2>&1",
                                                  Paths.harness, server.dir, String(server.port), control])
        XCTAssertEqual(master.status, 0, master.stderr)
        let first = try server.ssh("sa_alice", mux + ["/bin/echo one; exit 3"])
        XCTAssertEqual(first.status, 3, first.stderr)
        XCTAssertEqual(first.stdout, "one\n")
        // A user's attempt to leave its channel: a new session, a double fork, a command after the
        // channel ended, while the next channel is open.
        let daemon = try server.ssh("sa_alice", mux + [
            "setsid /bin/sh -c '(sleep 1; /bin/echo chan-daemon) &' </dev/null >/dev/null 2>&1; exit 0"])
        XCTAssertEqual(daemon.status, 0, daemon.stderr)
        let shell = try server.ssh("sa_alice", mux + ["-tt"], input: "/bin/echo in-shell\nsleep 2.5\nexit 5\n")
        XCTAssertEqual(shell.status, 5, shell.stdout + shell.stderr)
        let sftp = try runProcess("/usr/bin/sftp", ["-q", "-b", "-", "-P", String(server.port)] + mux
                                  + ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "sa_alice@127.0.0.1"], input: "ls /\n")
        XCTAssertEqual(sftp.status, 0, sftp.stderr)
        _ = try runProcess("/usr/bin/ssh", mux + ["-O", "exit", "-p", String(server.port), "sa_alice@127.0.0.1"])
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try recorder.stop(), 0)

        // One connection: one session.
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 1, "\(sessions)")
        let sessionID = try XCTUnwrap(sessions.first?.int("id"))

        let show = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", recorder.db, "--format", "json"])
        let timeline = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], show.stderr)
        let channels = try XCTUnwrap(timeline["channels"] as? [[String: Any]], show.stdout)
        XCTAssertEqual(channels.map { Set($0.keys) }, Array(repeating: ["id", "session_id", "seq", "pid", "kind", "tty", "started_at",
                                                                        "ended_at", "exit_code", "commands"], count: channels.count))
        XCTAssertEqual(channels.map { $0.int("seq") }, [1, 2, 3, 4])
        XCTAssertEqual(channels.map { $0.string("kind") }, ["exec", "exec", "shell", "subsystem"])
        XCTAssertEqual(channels.map { $0.int("exit_code") }, [3, 0, 5, 0])
        XCTAssertEqual(channels.map { $0["tty"] is NSNull }, [true, true, false, true])
        XCTAssertTrue(channels[2].string("tty")?.hasPrefix("pts/") == true, "\(channels[2])")
        XCTAssertTrue(channels.allSatisfy { $0.int("session_id") == sessionID && $0.string("ended_at") != nil })

        // Each command under its channel (the command trees, flattened).
        func lines(_ nodes: [[String: Any]]) -> [[String: Any]] {
            nodes.flatMap { [$0] + lines($0["children"] as? [[String: Any]] ?? []) }
        }
        let perChannel = channels.map { lines($0["commands"] as? [[String: Any]] ?? []) }
        func argvs(_ rows: [[String: Any]]) -> [[String]] { rows.map { $0["argv"] as? [String] ?? [] } }
        XCTAssertTrue(argvs(perChannel[0]).contains(["bash", "-c", "/bin/echo one; exit 3"]), "\(argvs(perChannel[0]))")
        XCTAssertTrue(argvs(perChannel[0]).contains(["/bin/echo", "one"]), "\(argvs(perChannel[0]))")
        XCTAssertTrue(argvs(perChannel[1]).contains(["/bin/echo", "chan-daemon"]), "\(argvs(perChannel[1]))")
        XCTAssertEqual(argvs(perChannel[2]).first, ["-bash"])
        XCTAssertTrue(argvs(perChannel[2]).contains(["/bin/echo", "in-shell"]), "\(argvs(perChannel[2]))")
        XCTAssertTrue(argvs(perChannel[3]).contains { $0.last?.hasSuffix("sftp-server") == true }, "\(argvs(perChannel[3]))")
        for (i, rows) in perChannel.enumerated() {
            XCTAssertTrue(rows.allSatisfy { $0.int("channel_id") == channels[i].int("id") }, "channel \(i + 1): \(rows)")
        }
        // The daemonised command ran after its channel ended, while the shell's channel was open: it
        // is still its own channel's, and nothing of it is under another.
        let daemonised = try XCTUnwrap(perChannel[1].first { ($0["argv"] as? [String]) == ["/bin/echo", "chan-daemon"] })
        let at = try XCTUnwrap(daemonised.string("started_at"))
        XCTAssertGreaterThan(at, try XCTUnwrap(channels[1].string("ended_at")))
        XCTAssertGreaterThan(at, try XCTUnwrap(channels[2].string("started_at")))
        XCTAssertLessThan(at, try XCTUnwrap(channels[2].string("ended_at")))
        XCTAssertFalse(perChannel[2].contains { ($0["argv"] as? [String])?.contains("chan-daemon") == true })

        // query commands: every command of the session carries its channel.
        let commands = try recorder.query("commands", ["--session", String(sessionID)])
        XCTAssertEqual(commands.count, perChannel.reduce(0) { $0 + $1.count })
        XCTAssertEqual(Set(commands.compactMap { $0.int("channel_id") }), Set(channels.compactMap { $0.int("id") }))
        XCTAssertTrue(commands.allSatisfy { $0.int("channel_id") != nil })

        // show's text: a header line per channel, its commands indented under it.
        let text = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", recorder.db]).stdout
        let body = String(try XCTUnwrap(text.range(of: "Commands (").map { text[$0.lowerBound...] }, text))
        let order = ["in 4 channels", "#1 exec", "/bin/echo one", "#2 exec", "/bin/echo chan-daemon", "#3 shell",
                     "/bin/echo in-shell", "#4 subsystem", "sftp-server"]
        let positions = order.map { body.range(of: $0)?.lowerBound }
        XCTAssertTrue(positions.allSatisfy { $0 != nil } && positions.map { $0! } == positions.map { $0! }.sorted(), body)
        let headers = body.split(separator: "\n").filter { $0.hasPrefix("#") }
        XCTAssertEqual(headers.count, 4, body)
        XCTAssertTrue(headers.first?.hasSuffix("exit 3") == true && headers[2].contains("pts/") && headers[2].hasSuffix("exit 5"),
                      "\(headers)")
        XCTAssertTrue(body.contains("\n    STARTED") && body.contains("\n    2"), "commands indented under their channel: \(body)")

        // Every channel row is in the ledger, and verify covers it.
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", recorder.db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        var config = Configuration()
        config.readonly = true
        let entries = try DatabaseQueue(path: recorder.db, configuration: config).read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT row_id) FROM ledger WHERE tbl = 'channels'")
        }
        XCTAssertGreaterThanOrEqual(entries ?? 0, channels.count)
    }

    /// internal-sftp: sshd serves the subsystem in the channel's process itself, without exec.
    func testInternalSFTPIsASubsystemChannelWithoutCommands() throws {
        let server = try SSHDServer(name: "chan-isftp", port: 22602, extraOptions: ["-o", "Subsystem=sftp internal-sftp"])
        self.server = server
        let recorder = try Recorder(name: "chan-isftp")
        self.recorder = recorder
        let key = server.dir + "/id_alice"
        let sftp = try runProcess("/usr/bin/setpriv", ["--reuid=sa_alice", "--regid=sa_alice", "--init-groups", "--reset-env", "--",
                                                       "/usr/bin/sftp", "-q", "-b", "-", "-i", key, "-P", String(server.port),
                                                       "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                                       "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "sa_alice@127.0.0.1"],
                                  input: "ls /\n")
        XCTAssertEqual(sftp.status, 0, sftp.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 1, "\(sessions)")
        let sessionID = try XCTUnwrap(sessions.first?.int("id"))
        let show = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", recorder.db, "--format", "json"])
        let timeline = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], show.stderr)
        let channels = try XCTUnwrap(timeline["channels"] as? [[String: Any]], show.stdout)
        XCTAssertEqual(channels.map { $0.string("kind") }, ["subsystem"])
        XCTAssertEqual(channels.map { $0.int("exit_code") }, [0])
        XCTAssertTrue(channels.allSatisfy { $0["tty"] is NSNull && ($0["commands"] as? [Any])?.isEmpty == true }, "\(channels)")
    }

    /// A channel open before the recorder started is found (kind from /proc), and continued with the
    /// same row when the recorder stops and starts again: its exit is recorded once, under its id;
    /// channels opened in between are numbered after it.
    func testAChannelOpenAcrossRecorderStartAndRestart() throws {
        let server = try SSHDServer(name: "chan-restart", port: 22603)
        self.server = server
        let control = "/tmp/chan-restart-\(UUID().uuidString.prefix(8)).sock"
        controlPath = control
        let mux = ["-o", "ControlPath=\(control)"]
        let master = try runProcess("/bin/bash", ["-c", "exec /bin/bash \"$0\" ssh \"$1\" \"$2\" sa_alice -o ControlMaster=yes "
                                                  + "-o ControlPersist=no -o ControlPath=\"$3\" -fN >/dev/null 2>&1",
                                                  Paths.harness, server.dir, String(server.port), control])
        XCTAssertEqual(master.status, 0, master.stderr)
        let long = Process()
        long.executableURL = URL(fileURLWithPath: "/bin/bash")
        long.arguments = [Paths.harness, "ssh", server.dir, String(server.port), "sa_alice"] + mux + ["sleep 10; exit 4"]
        long.standardOutput = FileHandle.nullDevice
        long.standardError = FileHandle.nullDevice
        try long.run()
        Thread.sleep(forTimeInterval: 1)

        let first = try Recorder(name: "chan-restart")
        self.recorder = first
        XCTAssertEqual(try server.ssh("sa_alice", mux + ["exit 7"]).status, 7)
        XCTAssertEqual(try first.stop(), 0)
        let second = try Recorder(name: "chan-restart", fresh: false)
        self.recorder = second
        XCTAssertEqual(try server.ssh("sa_alice", mux + ["exit 9"]).status, 9)
        long.waitUntilExit()
        XCTAssertEqual(long.terminationStatus, 4)
        XCTAssertEqual(try second.stop(), 0)

        let sessions = try second.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 1, "\(sessions)")
        let sessionID = try XCTUnwrap(sessions.first?.int("id"))
        let show = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", second.db, "--format", "json"])
        let timeline = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], show.stderr)
        let channels = try XCTUnwrap(timeline["channels"] as? [[String: Any]], show.stdout)
        XCTAssertEqual(channels.map { $0.int("seq") }, [1, 2, 3], "\(channels)")
        XCTAssertEqual(channels.map { $0.int("exit_code") }, [4, 7, 9])
        XCTAssertEqual(channels.map { $0.string("kind") }, ["exec", "exec", "exec"])
        XCTAssertTrue(channels.allSatisfy { $0.string("ended_at") != nil })
        let commands = try second.query("commands", ["--session", String(sessionID)])
        XCTAssertTrue(commands.contains { ($0["argv"] as? [String])?.last == "sleep 10; exit 4" && $0.int("channel_id") == channels[0].int("id") },
                      "\(commands)")
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", second.db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }
}
