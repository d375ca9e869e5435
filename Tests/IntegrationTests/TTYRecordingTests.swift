import Foundation
import XCTest

/// record --tty: a real sshd, real `ssh -tt` clients driven by tmux (whose pipe-pane keeps exactly
/// what the client wrote to its terminal), the real recorder, then `play`, `show`, `query`, `verify`.
final class TTYRecordingTests: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder!
    var tmuxSockets: [String] = []

    func start(_ name: String, port: Int, tty: [String]) throws {
        server = try SSHDServer(name: name, port: port)
        recorder = try Recorder(name: name, arguments: tty)
    }

    override func tearDown() {
        for socket in tmuxSockets { _ = system("/usr/bin/tmux -L '\(socket)' kill-server >/dev/null 2>&1") }
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    func sessions() throws -> [[String: Any]] {
        try recorder.query("sessions").filter { $0.int("local_port") == server.port }
    }

    func sshaudit(_ args: [String]) throws -> ProcessResult {
        try runProcess(Paths.sshaudit, args + ["--db", recorder.db])
    }

    /// An interactive `ssh -tt` in a tmux pane of `cols` × `rows`; the pane's output (what the client
    /// wrote to its terminal, i.e. what it received) goes to `capture` from before ssh starts.
    final class TmuxSSH {
        let socket: String
        let capture: String

        init(_ test: TTYRecordingTests, cols: Int = 100, rows: Int = 30) throws {
            socket = "tty-\(test.server.port)-\(UUID().uuidString.prefix(6))"
            capture = test.server.dir + "/capture-\(socket).raw"
            test.tmuxSockets.append(socket)
            let ssh = "/bin/bash \(Paths.harness) ssh \(test.server.dir) \(test.server.port) sa_alice -tt"
            try tmux(["-f", "/dev/null", "new-session", "-d", "-x", String(cols), "-y", String(rows),
                      "tmux -L \(socket) wait-for go; exec \(ssh)"])
            try tmux(["pipe-pane", "-o", "-t", "0", "cat > \(capture)"])
            try tmux(["wait-for", "-S", "go"])
        }

        /// tmux through system(3): Foundation's Process does not see a tmux client exit once it has
        /// started its server (the test would wait forever).
        func tmux(_ args: [String]) throws {
            let line = (["/usr/bin/tmux", "-L", socket] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
                .joined(separator: " ") + " </dev/null >/dev/null 2>&1"
            let status = system(line)
            guard status == 0 else { throw TestFailure("tmux \(args.first ?? ""): status \(status)") }
        }

        var captured: [UInt8] { (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: capture)))) ?? [] }

        func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 20) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if TTYRecordingTests.occurrences(of: Array(text.utf8), in: captured) >= count { return }
                Thread.sleep(forTimeInterval: 0.05)
            }
            throw TestFailure("the client never showed \(text): \(String(decoding: captured, as: UTF8.self))")
        }

        /// Types `line` and Enter, as a user would.
        func type(_ line: String) throws {
            try tmux(["send-keys", "-t", "0", "-l", line])
            try tmux(["send-keys", "-t", "0", "Enter"])
        }

        /// Waits for ssh to exit (the pane and its session close) and the capture to be complete.
        func waitForEnd(timeout: TimeInterval = 20) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while (try? tmux(["has-session"])) != nil {
                if Date() > deadline { throw TestFailure("ssh -tt did not exit: \(String(decoding: captured, as: UTF8.self))") }
                Thread.sleep(forTimeInterval: 0.05)
            }
            Thread.sleep(forTimeInterval: 0.3)  // pipe-pane's cat writes its last bytes
        }
    }

    /// Logs in, computes 6*7, answers a prompt that does not echo with `secret`, logs out.
    func interactiveSession(secret: String, extra: [String] = []) throws -> TmuxSSH {
        let t = try TmuxSSH(self)
        try t.waitFor("$ ")
        try t.type("echo $((6*7))")
        try t.waitFor("\r42\r\n")
        try t.type("read -s -p 'Password: ' P; echo; echo got ${#P} chars")
        try t.waitFor("Password: ")
        try t.type(secret)
        try t.waitFor("got \(secret.count) chars")
        for line in extra { try t.type(line) }
        try t.type("exit")
        try t.waitForEnd()
        return t
    }

    func playInstant(_ id: Int) throws -> [UInt8] {
        let r = try runProcess("/bin/bash", ["-c", "set -o pipefail; '\(Paths.sshaudit)' play \(id) --instant --db '\(recorder.db)' | base64 -w0"])
        guard r.status == 0 else { throw TestFailure("play \(id): \(r.stderr)") }
        return [UInt8](Data(base64Encoded: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? Data())
    }

    /// The asciicast lines, parsed: the header, then the events.
    func asciicast(_ id: Int) throws -> (header: [String: Any], events: [[Any]]) {
        let r = try sshaudit(["play", String(id), "--asciicast"])
        guard r.status == 0 else { throw TestFailure("play --asciicast \(id): \(r.stderr)") }
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
        let header = try XCTUnwrap(lines.first as? [String: Any], "asciicast header: \(r.stdout.prefix(200))")
        return (header, lines.dropFirst().compactMap { $0 as? [Any] })
    }

    func text(_ events: [[Any]], _ code: String) -> String {
        events.filter { $0.count == 3 && $0[1] as? String == code }.compactMap { $0[2] as? String }.joined()
    }

    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
        guard !needle.isEmpty, haystack.count >= needle.count else { return 0 }
        var n = 0
        for i in 0...(haystack.count - needle.count) where haystack[i..<i + needle.count].elementsEqual(needle) { n += 1 }
        return n
    }

    func fileContains(_ path: String, _ needle: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.range(of: Data(needle.utf8)) != nil
    }

    // output: the client's own capture equals what play writes byte for byte; the asciicast has the
    // output and the pane's size, no input; the no-echo password is nowhere; `ssh host cmd` plays
    // both streams; an scp transfer's bytes are not recorded; show and --tty-grep see it.
    func testOutputModeIsWhatTheClientReceived() throws {
        try start("tty-output", port: 22585, tty: ["--tty", "output"])
        let secret = "Pw\(UUID().uuidString.prefix(8))"
        let t = try interactiveSession(secret: secret)
        let exec = try server.ssh("sa_alice", ["echo $((6*7)); echo err >&2"])
        XCTAssertEqual(exec.status, 0, exec.stderr)
        // A transfer: its bytes are counted in transfers, not recorded as terminal output.
        let marker = "TRANSFERRED-\(UUID().uuidString)"
        let source = "/tmp/tty-scp-\(UUID().uuidString.prefix(8))"
        try marker.write(toFile: source, atomically: true, encoding: .utf8)
        chmod(source, 0o644)
        defer { try? FileManager.default.removeItem(atPath: source) }
        let key = server.dir + "/id_alice_root"
        if !FileManager.default.fileExists(atPath: key) {
            try FileManager.default.copyItem(atPath: server.dir + "/id_alice", toPath: key)
            chown(key, 0, 0)
            chmod(key, 0o600)
        }
        let scp = try runProcess("/usr/bin/scp", ["-O", "-i", key, "-P", String(server.port), "-F", "/dev/null",
                                                  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                                  "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                                                  "sa_alice@127.0.0.1:\(source)", "/dev/null"])
        XCTAssertEqual(scp.status, 0, scp.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let rows = try sessions()
        let interactive = try XCTUnwrap(rows.first { $0.string("kind") == "interactive" }?.int("id"))
        let command = try XCTUnwrap(rows.first { $0.string("kind") == "exec" }?.int("id"))
        let transfer = try XCTUnwrap(rows.first { $0.string("kind") == "scp" }?.int("id"))

        let played = try playInstant(interactive)
        XCTAssertFalse(t.captured.isEmpty)
        XCTAssertEqual(played, t.captured, "play writes exactly what the client received:\n"
                       + "played: \(String(decoding: played, as: UTF8.self).debugDescription)\n"
                       + "client: \(String(decoding: t.captured, as: UTF8.self).debugDescription)")
        let cast = try asciicast(interactive)
        XCTAssertEqual(cast.header["version"] as? Int, 2)
        XCTAssertEqual(cast.header["width"] as? Int, 100, "the pane's size: \(cast.header)")
        XCTAssertEqual(cast.header["height"] as? Int, 30)
        XCTAssertNotNil(cast.header["timestamp"] as? Int)
        XCTAssertEqual(Self.occurrences(of: Array("\r42\r\n".utf8), in: Array(text(cast.events, "o").utf8)), 1, "the computed output is in the asciicast")
        XCTAssertEqual(text(cast.events, "i"), "", "output records no input")
        XCTAssertFalse(text(cast.events, "o").contains(secret), "a no-echo password is not displayed, so not recorded")
        for file in [recorder.db, recorder.db + "-wal", recorder.eventsFile] {
            XCTAssertFalse(fileContains(file, secret), "\(file) holds the password")
        }

        XCTAssertEqual(String(decoding: try playInstant(command), as: UTF8.self), "42\nerr\n", "stdout and stderr of ssh host cmd")
        let scpPlay = try sshaudit(["play", String(transfer), "--instant"])
        XCTAssertEqual(scpPlay.status, 1, "an scp transfer's data stream is not a terminal recording")
        XCTAssertTrue(scpPlay.stderr.contains("no terminal recording"), scpPlay.stderr)
        XCTAssertFalse(fileContains(recorder.eventsFile, marker), "the transferred bytes never left the kernel")

        let show = try sshaudit(["show", String(interactive)])
        XCTAssertTrue(show.stdout.contains("terminal recording "), show.stdout)
        let shown = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try sshaudit(["show", String(interactive), "--format", "json"]).stdout.utf8)) as? [String: Any])
        let summary = try XCTUnwrap(shown["tty_recording"] as? [String: Any], "\(shown.keys)")
        XCTAssertEqual(summary["truncated"] as? Bool, false)
        XCTAssertEqual(summary["bytes"] as? Int, played.count)
        XCTAssertTrue(try sshaudit(["show", String(transfer)]).stdout.contains("no terminal recording"))

        let grep = try recorder.query("sessions", ["--tty-grep", "got \(secret.count) chars"]).compactMap { $0.int("id") }
        XCTAssertEqual(grep, [interactive])
        let verify = try sshaudit(["verify"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("tty_chunks"), verify.stdout)
    }

    // all: keystrokes are recorded (the no-echo password too, as the README warns); the cap sets
    // tty_truncated; a chunk changed in the database fails verify; a prune removes the recording.
    func testAllModeRecordsInputAndTheCapTruncates() throws {
        try start("tty-all", port: 22586, tty: ["--tty", "all", "--tty-max", "8K"])
        let secret = "Pw\(UUID().uuidString.prefix(8))"
        _ = try interactiveSession(secret: secret, extra: ["seq 100000 103000 | tr -d '\\n'; echo"])
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let id = try XCTUnwrap(try sessions().first { $0.string("kind") == "interactive" }?.int("id"))
        let cast = try asciicast(id)
        let typed = text(cast.events, "i")
        XCTAssertEqual(Self.occurrences(of: Array("echo $((6*7))\r".utf8), in: Array(typed.utf8)), 1, "input is recorded: \(typed.debugDescription)")
        XCTAssertTrue(typed.contains(secret), "all records what was typed at a no-echo prompt")
        XCTAssertEqual(Self.occurrences(of: Array("\r42\r\n".utf8), in: Array(text(cast.events, "o").utf8)), 1)
        let shown = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try sshaudit(["show", String(id), "--format", "json"]).stdout.utf8)) as? [String: Any])
        let summary = try XCTUnwrap(shown["tty_recording"] as? [String: Any])
        XCTAssertEqual(summary["truncated"] as? Bool, true, "\(summary)")
        XCTAssertEqual(summary["bytes"] as? Int, 8192, "recorded up to the cap exactly")
        let play = try sshaudit(["play", String(id), "--instant"])
        XCTAssertTrue(play.stderr.contains("cap"), play.stderr)
        // The kernel stops at the cap too: a session flooding its terminal cannot fill the ring buffer
        // that every session's events share. Per session process, the raw records hold at most the cap.
        let raw = try runProcess(Paths.sshaudit, ["events", recorder.eventsFile])
        var perProcess: [String: Int] = [:]
        let line = try NSRegularExpression(pattern: #"^\S+ (\d+) .* tty (output|input|stdout|stderr) (\d+) bytes"#, options: [.anchorsMatchLines])
        let all = raw.stdout as NSString
        for m in line.matches(in: raw.stdout, range: NSRange(location: 0, length: all.length)) {
            perProcess[all.substring(with: m.range(at: 1)), default: 0] += Int(all.substring(with: m.range(at: 3)))!
        }
        XCTAssertFalse(perProcess.isEmpty, raw.stdout.suffix(2000).description)
        XCTAssertLessThanOrEqual(perProcess.values.max() ?? 0, 8192, "the kernel sent more than the cap: \(perProcess)")

        let verify = try sshaudit(["verify"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        // A copy with one chunk changed: verify names the table.
        let copy = recorder.db + ".tampered"
        try? FileManager.default.removeItem(atPath: copy)
        XCTAssertEqual(try runProcess("/usr/bin/sqlite3", [recorder.db, ".backup '\(copy)'"]).status, 0)
        let edit = try runProcess("/usr/bin/sqlite3", [copy, "UPDATE tty_chunks SET data = zeroblob(8) WHERE seq = 0 AND session_id = \(id)"])
        XCTAssertEqual(edit.status, 0, edit.stderr)
        let tampered = try runProcess(Paths.sshaudit, ["verify", "--db", copy])
        XCTAssertEqual(tampered.status, 1, "a changed recording fails verify: \(tampered.stdout)")
        XCTAssertTrue((tampered.stdout + tampered.stderr).contains("tty_chunks"), tampered.stdout + tampered.stderr)

        // Retention removes the recording with its session, and the ledger still verifies.
        Thread.sleep(forTimeInterval: 1.1)
        let prune = try sshaudit(["prune", "--retain", "1s"])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        let left = try runProcess("/usr/bin/sqlite3", [recorder.db, "SELECT COUNT(*) FROM tty_chunks WHERE session_id = \(id)"])
        XCTAssertEqual(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertEqual(try sshaudit(["verify"]).status, 0)
    }

    // off (the default): nothing of the session's terminal reaches the database, its WAL or the
    // events log; the kernel's read hook is not even attached.
    func testOffRecordsNothing() throws {
        try start("tty-off", port: 22587, tty: [])
        let t = try TmuxSSH(self)
        try t.waitFor("$ ")
        try t.type("echo MARK$((123456*7))")
        try t.waitFor("MARK864192")
        try t.type("exit")
        try t.waitForEnd()
        Thread.sleep(forTimeInterval: 1.5)  // a checkpoint: the WAL holds what was written
        for file in [recorder.db, recorder.db + "-wal", recorder.eventsFile] {
            XCTAssertFalse(fileContains(file, "MARK864192"), "\(file) holds terminal output")
        }
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let chunks = try runProcess("/usr/bin/sqlite3", [recorder.db, "SELECT COUNT(*) FROM tty_chunks"])
        XCTAssertEqual(chunks.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let id = try XCTUnwrap(try sessions().first?.int("id"))
        let play = try sshaudit(["play", String(id)])
        XCTAssertEqual(play.status, 1)
        XCTAssertTrue(play.stderr.contains("no terminal recording"), play.stderr)
    }
}
