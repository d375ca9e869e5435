import Foundation
import XCTest

/// The kernel reports a file operation once and counts its repeats (bpf/files.bpf.h, `file_seen`):
/// the totals stay exact, the event log says the same as the rows, and what a user can do to make a
/// repeat land under another row (rename a directory on the way, from inside or outside the session;
/// exec another program) starts a new report instead.
final class FileRepeatTests: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder!
    var dir: String!

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        if let dir { try? FileManager.default.removeItem(atPath: dir) }
        super.tearDown()
    }

    func start(_ name: String, port: Int) throws {
        server = try SSHDServer(name: name, port: port)
        recorder = try Recorder(name: name)
        dir = "/tmp/\(name)-\(UUID().uuidString.prefix(8).lowercased())"
        XCTAssertEqual(mkdir(dir, 0o777), 0)
        chmod(dir, 0o777)
    }

    func sessionRows() throws -> [[String: Any]] {
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let id = try XCTUnwrap(sessions.last?.int("id"), "a session was recorded")
        return try recorder.query("files", ["--session", String(id)])
    }

    /// op path → total count, over every row of it.
    func totals(_ rows: [[String: Any]]) -> [String: Int] {
        rows.reduce(into: [:]) { $0["\($1.string("op") ?? "?") \($1.string("path") ?? "?")", default: 0] += $1.int("count") ?? 0 }
    }

    func testRepeatsAreCountedExactlyAndReplayedFromTheLog() throws {
        try start("repeats", port: 22556)
        let script = """
            cd \(dir!) || exit 9
            for i in $(seq 300); do echo x >> a; done
            for i in $(seq 200); do : > b; done
            for i in $(seq 50); do mkdir d; rmdir d; done
            for i in $(seq 40); do mv a c; mv c a; done
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)

        let rows = try sessionRows()
        let t = totals(rows)
        XCTAssertEqual(t["create \(dir!)/a"], 1, "\(t)")
        XCTAssertEqual(t["write \(dir!)/a"], 299, "\(t)")
        XCTAssertEqual(t["create \(dir!)/b"], 1, "\(t)")
        XCTAssertEqual(t["truncate \(dir!)/b"], 199, "\(t)")
        XCTAssertEqual(t["mkdir \(dir!)/d"], 50, "\(t)")
        XCTAssertEqual(t["rmdir \(dir!)/d"], 50, "\(t)")
        XCTAssertEqual(t["rename \(dir!)/a"], 40, "\(t)")
        XCTAssertEqual(t["rename \(dir!)/c"], 40, "\(t)")
        // One row per (process, op, path): the loop's repeats added to it, not rows of their own.
        XCTAssertEqual(rows.filter { $0.string("op") == "write" }.count, 1, "\(rows)")

        // The kernel sent far fewer reports than operations, and the counts it kept are in the log.
        let events = try runProcess(Paths.sshaudit, ["events", recorder.eventsFile])
        XCTAssertEqual(events.status, 0, events.stderr)
        let writes = events.stdout.split(separator: "\n").filter { $0.contains("file write") && $0.contains(dir!) }
        XCTAssertLessThan(writes.count, 30, "the kernel counted the repeats")
        XCTAssertTrue(events.stdout.contains("file repeats"), "repeat counts are in the event log")

        // Replaying the log gives the same rows.
        let private_ = NSTemporaryDirectory() + "repeats-replay-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: private_, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: private_) }
        let replayed = private_ + "/replayed.db"
        let replay = try runProcess(Paths.sshaudit, ["replay", recorder.eventsFile, "--db", replayed])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        let again = try runProcess(Paths.sshaudit, ["query", "files", "--db", replayed, "--format", "json", "--path", dir! + "/*"])
        let replayedRows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(totals(replayedRows), t)
    }

    /// A directory on the path renamed between two loops, from inside the session and from outside
    /// it (a local user's process the recorder does not follow): the second loop's writes are
    /// recorded under the new name, none under the old.
    func testRenamedDirectoryGivesNewReports() throws {
        try start("repeats-mv", port: 22557)
        let ready = dir! + "/ready", go = dir! + "/go"
        let script = """
            cd \(dir!) && mkdir -p one/x || exit 9
            for i in $(seq 100); do echo x >> one/x/f; done
            mv one two
            for i in $(seq 100); do echo x >> two/x/f; done
            cd two
            for i in $(seq 100); do echo x >> x/f; done
            touch \(ready)
            while [ ! -e \(go) ]; do sleep 0.05; done
            for i in $(seq 100); do echo x >> x/f; done
            """
        let session = Thread { [server] in _ = try? server!.ssh("sa_alice", [script]) }
        session.start()
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready), Date() < deadline { usleep(50_000) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: ready))
        // Outside any session: the directory the session works in gets another name.
        XCTAssertEqual(rename(dir! + "/two", dir! + "/three"), 0)
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        while !FileManager.default.fileExists(atPath: dir! + "/three/x/f") || (try? String(contentsOfFile: dir! + "/three/x/f", encoding: .utf8))?.count ?? 0 < 800 {
            guard Date() < deadline else { break }
            usleep(50_000)
        }
        sleep(1)
        XCTAssertEqual(try recorder.stop(), 0)

        let t = totals(try sessionRows())
        XCTAssertEqual((t["create \(dir!)/one/x/f"] ?? 0) + (t["write \(dir!)/one/x/f"] ?? 0), 100, "\(t)")
        XCTAssertEqual(t["write \(dir!)/two/x/f"], 200, "\(t)")
        XCTAssertEqual(t["write \(dir!)/three/x/f"], 100, "\(t)")
    }

    /// The recorder killed in the middle of a loop and started again: the kernel kept counting in its
    /// pinned map meanwhile, and the totals are exact.
    func testCountsSurviveAKilledRecorder() throws {
        try start("repeats-kill", port: 22559)
        let ready = dir! + "/ready", go = dir! + "/go"
        let script = """
            cd \(dir!) || exit 9
            for i in $(seq 200); do echo x >> f; done
            touch \(ready)
            while [ ! -e \(go) ]; do echo x >> f; sleep 0.01; done
            for i in $(seq 200); do echo x >> f; done
            wc -l < f
            """
        let written = Locked(0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [server] in
            if let r = try? server!.ssh("sa_alice", [script]) { written.mutate { $0 = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 } }
            done.signal()
        }
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready), Date() < deadline { usleep(20_000) }
        usleep(300_000)
        recorder.kill()  // while the loop writes
        usleep(300_000)  // it goes on writing with no recorder running
        recorder = try Recorder(name: "repeats-kill", fresh: false)
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(try recorder.stop(), 0)
        let lines = written.value
        XCTAssertGreaterThan(lines, 400)
        let t = totals(try sessionRows())
        XCTAssertEqual((t["create \(dir!)/f"] ?? 0) + (t["write \(dir!)/f"] ?? 0), lines, "\(t)")
    }

    /// Calls on a descriptor with an attribute's name or none (fsetxattr, fremovexattr, futimens) are
    /// counted like fchmod's: a loop of them is one report each, the totals exact, under the
    /// attribute's name.
    func testDescriptorAttributeAndTimeCallsAreCounted() throws {
        try start("repeats-fd", port: 22665)
        let script = """
            cd \(dir!) || exit 9
            python3 -c 'import os
            fd = os.open("x", os.O_WRONLY | os.O_CREAT, 0o600)
            for i in range(200):
                os.setxattr(fd, "user.sa", b"v"); os.removexattr(fd, "user.sa"); os.utime(fd)
            os.setxattr(fd, "user.other", b"v")'
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let rows = try sessionRows().filter { $0.string("path") == dir! + "/x" }
        func count(_ op: String, _ attribute: String?) -> Int {
            rows.filter { $0.string("op") == op && $0.string("new_path") == attribute }.reduce(0) { $0 + ($1.int("count") ?? 0) }
        }
        XCTAssertEqual(count("setxattr", "user.sa"), 200, "\(rows)")
        XCTAssertEqual(count("removexattr", "user.sa"), 200, "\(rows)")
        XCTAssertEqual(count("utime", nil), 200, "\(rows)")
        XCTAssertEqual(count("setxattr", "user.other"), 1, "another attribute is its own row: \(rows)")

        let events = try runProcess(Paths.sshaudit, ["events", recorder.eventsFile])
        XCTAssertEqual(events.status, 0, events.stderr)
        for op in ["setxattr", "removexattr", "utime"] {
            let reports = events.stdout.split(separator: "\n").filter { $0.contains("file \(op)") && $0.contains(dir! + "/x") }
            XCTAssertGreaterThan(reports.count, 0, op)
            XCTAssertLessThan(reports.count, 20, "the kernel counted the repeats of \(op)")
        }
    }

    /// A process that execs another program: what it writes afterwards is the new command's.
    func testExecStartsTheNewCommandsRows() throws {
        try start("repeats-exec", port: 22558)
        let script = """
            cd \(dir!) || exit 9
            bash -c 'for i in $(seq 20); do echo x >> f; done; exec bash -c "for i in \\$(seq 30); do echo x >> f; done"'
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let rows = try sessionRows().filter { $0.string("path") == dir! + "/f" }
        let byCommand = Dictionary(grouping: rows) { $0.int("command_id") ?? -1 }.mapValues { $0.reduce(0) { $0 + ($1.int("count") ?? 0) } }
        XCTAssertEqual(byCommand.values.sorted(), [20, 30], "\(rows)")
    }

    /// The kernel's key holds a hash of the names (events.h, sa_file_seen_key), seeded with a secret
    /// no user can read. With the secret, as root reads it here from the recorder's pinned `config`,
    /// two names of one hash are easy to make; the value holds the names, so the second name's chmods
    /// are still reported, each, and none is counted under the first name's row.
    func testNamesOfOneHashAreNeverCountedUnderEachOther() throws {
        try start("repeats-collide", port: 22664)
        let secret = try SeenHash.secret(of: recorder)
        // seen_names_hash: each 8-byte word of the 128 name bytes mixed in turn.
        let first = Array("collideA".utf8) + Array("sameword".utf8)
        let other = try XCTUnwrap(SeenHash.collision(with: first, after: secret), "a second name of the same hash")
        XCTAssertEqual(SeenHash.hash(first, after: secret, words: 16), SeenHash.hash(other, after: secret, words: 16))
        XCTAssertNotEqual(first, other)
        let a = String(decoding: first, as: UTF8.self), b = String(decoding: other, as: UTF8.self)

        let script = """
            cd \(dir!) || exit 9
            python3 -c 'import os
            for n in ("\(a)", "\(b)"): open(n, "w").close()
            for n in ("\(a)", "\(b)", "\(b)", "\(b)", "\(a)"): os.chmod(n, 0o600)'
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let t = totals(try sessionRows())
        XCTAssertEqual(t["chmod \(dir!)/\(a)"], 2, "\(t)")
        XCTAssertEqual(t["chmod \(dir!)/\(b)"], 3, "the second name's chmods are its own: \(t)")
    }
}
