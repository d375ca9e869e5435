import Foundation
import GRDB
import XCTest

/// A small tmpfs at a fresh directory under /run/sshaudit-test (mode 0700): a disk that fills up.
final class Tmpfs {
    let path: String

    init(name: String, size: String) throws {
        try requireRoot()
        path = "/run/sshaudit-test/\(name)-\(getpid())"
        _ = try? runProcess("/bin/umount", ["-l", path])  // left by an interrupted run
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", path])
        guard r.status == 0 else { throw TestFailure("cannot mount a tmpfs at \(path): \(r.stderr)") }
    }

    var filler: String { path + "/filler" }

    /// Bytes still free.
    var available: UInt64 {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }

    /// Takes every free byte with one file.
    func fill() throws {
        _ = try runProcess("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=4k", "oflag=append", "conv=notrunc"])
        guard available == 0 else { throw TestFailure("\(path) still has \(available) bytes free") }
    }

    /// Gives the space back.
    func free() { unlink(filler) }

    func remountReadOnly() throws {
        let r = try runProcess("/bin/mount", ["-o", "remount,ro", path])
        guard r.status == 0 else { throw TestFailure("cannot remount \(path) read-only: \(r.stderr)") }
    }

    func unmount() {
        _ = try? runProcess("/bin/umount", ["-l", path])
        rmdir(path)
    }
}

/// The disk fills up under the recorder: it says so in one line and never traps, a stop while writes
/// fail keeps the kernel state for the next start, and nothing is lost once there is space again.
final class DiskFullTests: XCTestCase {
    var server: SSHDServer?
    var recorders: [Recorder] = []
    var disks: [Tmpfs] = []

    override func tearDown() {
        server?.stop()
        for r in recorders { _ = try? r.stop() }
        for d in disks { d.unmount() }
        super.tearDown()
    }

    func disk(_ name: String, size: String) throws -> Tmpfs {
        let d = try Tmpfs(name: name, size: size)
        disks.append(d)
        return d
    }

    func rows(_ db: String, _ sql: String) throws -> [Row] {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: db, configuration: config).read { try Row.fetchAll($0, sql: sql) }
    }

    func assertOneLineError(_ r: ProcessResult, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("sshaudit: ") && r.stderr.contains(text), r.stderr, file: file, line: line)
    }

    /// The database fills its disk while 12 sessions run 40 commands each; SIGTERM then. The recorder
    /// must exit soon, saying the kernel state stays pinned, and the next start (with space again)
    /// must continue it: every command once, every session once, the ledger intact.
    func testStopWhileTheDiskIsFullLosesNothing() throws {
        let tmpfs = try disk("disk-fill", size: "8m")
        let server = try SSHDServer(name: "disk-fill", port: 22450)
        self.server = server
        // The database alone on the small disk; the events log elsewhere.
        let logs = "/run/sshaudit-test/disk-fill-rec"
        try? FileManager.default.removeItem(atPath: logs)
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let first = try Recorder(name: "disk-fill", directory: tmpfs.path, eventsFile: logs + "/events-1.bin")
        recorders.append(first)

        let sessions = 12, commands = 40
        let group = DispatchGroup()
        let statuses = Locked<[Int32]>([])
        for n in 0..<sessions {
            group.enter()
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.2 * Double(n))
                let script = "for i in $(seq 1 \(commands)); do /bin/echo disk-marker-\(n)-$i; /bin/sleep 0.1; done"
                let status = (try? server.ssh("sa_bob", [script]).status) ?? -1
                statuses.mutate { $0.append(status) }
                group.leave()
            }
        }
        Thread.sleep(forTimeInterval: 1)
        try tmpfs.fill()
        try first.waitForStderr("database write failed")

        let asked = Date()
        let status = first.signalAndWait(SIGTERM, timeout: 20)
        XCTAssertNotNil(status, "the recorder exits within 20 s of SIGTERM while writes fail: \(first.stderr)")
        if status == nil { first.kill() }  // as systemd would at its stop timeout
        XCTAssertEqual(status, 1, first.stderr)
        let last = first.stderr.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.contains("stopped with the kernel state kept pinned") && last.contains("next start"), first.stderr)
        XCTAssertFalse(first.stderr.contains("Fatal error") || first.stderr.contains("crashed"), first.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.pinDirectory), "the kernel state stays pinned")
        print("stopped \(String(format: "%.1f", Date().timeIntervalSince(asked))) s after SIGTERM")

        tmpfs.free()
        let second = try Recorder(name: "disk-fill", fresh: false, directory: tmpfs.path, eventsFile: logs + "/events-2.bin")
        recorders.append(second)
        XCTAssertTrue(second.stderr.contains("resumed the kernel state of run 1"), second.stderr)
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(try second.stop(signal: SIGTERM), 0, second.stderr)
        XCTAssertEqual(statuses.value, Array(repeating: 0, count: sessions), "every client ran all its commands")

        let echoes = try rows(second.db, """
            SELECT c.argv, c.session_id FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(server.port) AND c.filename = '/bin/echo'
            """)
        let argv = echoes.map { $0["argv"] as String }
        let expected = Set((0..<sessions).flatMap { n in (1...commands).map { #"["/bin/echo","disk-marker-\#(n)-\#($0)"]"# } })
        XCTAssertEqual(Set(argv), expected, "every command run is stored")
        XCTAssertEqual(argv.count, sessions * commands, "each exactly once")
        let bySession = Dictionary(grouping: echoes, by: { $0["session_id"] as Int64 })
        XCTAssertEqual(bySession.count, sessions, "each session's commands in one session")
        let stored = try rows(second.db, "SELECT ended_at, user FROM sessions WHERE local_port = \(server.port)")
        XCTAssertEqual(stored.count, sessions, "every session once")
        XCTAssertTrue(stored.allSatisfy { ($0["ended_at"] as String?) != nil && ($0["user"] as String?) == "sa_bob" })
        let runs = try rows(second.db, "SELECT resumed_from, clean_exit FROM recorder_runs ORDER BY id")
        XCTAssertEqual(runs.map { $0["resumed_from"] as Int? }, [nil, 1])
        XCTAssertEqual(runs.map { $0["clean_exit"] as Int }, [0, 1])
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", second.db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// A disk too full (or read-only) to create or migrate the database: one line, exit 1, no trap
    /// (not even when stderr is on that disk), and an existing database is left as it was.
    func testStartOnAFullOrReadOnlyFileSystem() throws {
        let tmpfs = try disk("disk-start", size: "1m")
        // A database of the first schema only: opening it for recording migrates it. Held open here in
        // WAL mode, so that its -wal and -shm files exist and the migrations are what needs space.
        let old = tmpfs.path + "/old.db"
        let initSQL = try String(contentsOf: Paths.packageRoot.appending(path: "schema/0001_init.sql"), encoding: .utf8)
        let held = try DatabaseQueue(path: old)
        try held.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
        try held.write { db in
            try db.execute(sql: initSQL)
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY); INSERT INTO grdb_migrations VALUES ('0001_init')")
        }
        let stderrFile = tmpfs.path + "/stderr.log"
        XCTAssertTrue(FileManager.default.createFile(atPath: stderrFile, contents: nil))
        try tmpfs.fill()
        // stderr a file on the same full disk: the line cannot be written, and that must not trap
        // (FileHandle.write did: SIGILL, with an empty stderr).
        let unwritable = try runProcess("/bin/bash", ["-c", #""$0" record --db "$1" 2>>"$2""#,
                                                      Paths.sshaudit, tmpfs.path + "/quiet.db", stderrFile], timeout: 30)
        XCTAssertEqual(unwritable.status, 1, "exit 1, not a signal")
        for db in [tmpfs.path + "/new.db", old] {
            let r = try runProcess(Paths.sshaudit, ["record", "--db", db, "--events", tmpfs.path + "/events.bin"], timeout: 30)
            assertOneLineError(r, "cannot create or migrate the database \(db): database or disk is full")
        }
        tmpfs.free()
        XCTAssertEqual(try held.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }, ["0001_init"],
                       "no migration half done")
        try held.close()
        try tmpfs.remountReadOnly()
        let r = try runProcess(Paths.sshaudit, ["record", "--db", tmpfs.path + "/other.db"], timeout: 30)
        assertOneLineError(r, "cannot create or migrate the database \(tmpfs.path)/other.db")
    }

    /// The events log is the recorder's own: created 0600; an existing one that others could read
    /// is refused (not loosened), and so is a symbolic link.
    func testEventsLogIsPrivate() throws {
        let recorder = try Recorder(name: "disk-events")
        recorders.append(recorder)
        let mode = try FileManager.default.attributesOfItem(atPath: recorder.eventsFile)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertEqual(try recorder.stop(), 0)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: recorder.eventsFile)[.posixPermissions] as? Int, 0o600)

        let dir = (recorder.db as NSString).deletingLastPathComponent
        let loose = dir + "/loose.events"
        XCTAssertTrue(FileManager.default.createFile(atPath: loose, contents: Data("keep".utf8), attributes: [.posixPermissions: 0o644]))
        assertOneLineError(try runProcess(Paths.sshaudit, ["record", "--db", recorder.db, "--events", loose], timeout: 20),
                           "refusing to use \(loose): others may read it (mode 644")
        XCTAssertEqual(try String(contentsOfFile: loose, encoding: .utf8), "keep", "left as it was")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: loose)[.posixPermissions] as? Int, 0o644)

        let link = dir + "/link.events"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir + "/target")
        assertOneLineError(try runProcess(Paths.sshaudit, ["record", "--db", recorder.db, "--events", link], timeout: 20),
                           "\(link): is a symbolic link")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/target"))
    }

    /// Log rotation: the events log is moved away, SIGHUP, and what follows is in a new file at the path.
    func testSighupReopensTheEventsLog() throws {
        let server = try SSHDServer(name: "disk-hup", port: 22451)
        self.server = server
        let recorder = try Recorder(name: "disk-hup")
        recorders.append(recorder)
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo disk-hup-before"]).status, 0)
        Thread.sleep(forTimeInterval: 1.5)  // written within about a second
        let rotated = recorder.eventsFile + ".1"
        try FileManager.default.moveItem(atPath: recorder.eventsFile, toPath: rotated)
        recorder.send(SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: recorder.eventsFile), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: recorder.eventsFile), "a new file at the path")
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo disk-hup-after"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        XCTAssertFalse(recorder.stderr.contains("cannot reopen"), "the database was not moved: it stays open\n\(recorder.stderr)")

        let new = try runProcess(Paths.sshaudit, ["events", recorder.eventsFile])
        XCTAssertEqual(new.status, 0, new.stderr)
        XCTAssertTrue(new.stdout.contains(#""/bin/echo", "disk-hup-after""#), new.stdout)
        XCTAssertFalse(new.stdout.contains("disk-hup-before"))
        let old = try runProcess(Paths.sshaudit, ["events", rotated])
        XCTAssertEqual(old.status, 0, old.stderr)
        XCTAssertTrue(old.stdout.contains(#""/bin/echo", "disk-hup-before""#), old.stdout)
        XCTAssertFalse(old.stdout.contains("disk-hup-after"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: recorder.eventsFile)[.posixPermissions] as? Int, 0o600)
        let commands = try recorder.query("commands", ["--grep", "disk-hup-"]).map(\.argv).filter { $0.first == "/bin/echo" }
        XCTAssertEqual(commands, [["/bin/echo", "disk-hup-before"], ["/bin/echo", "disk-hup-after"]])
    }

    /// The events log on a disk that fills up: a warning, the database goes on recording, and the log
    /// marks the records it missed once it can be written again.
    func testAFullDiskForTheEventsLogDoesNotStopRecording() throws {
        let tmpfs = try disk("disk-evfull", size: "256k")
        let server = try SSHDServer(name: "disk-evfull", port: 22452)
        self.server = server
        let recorder = try Recorder(name: "disk-evfull", eventsFile: tmpfs.path + "/events.bin")
        recorders.append(recorder)
        try tmpfs.fill()
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo disk-evfull-lost"]).status, 0)
        try recorder.waitForStderr("cannot write the events log")
        tmpfs.free()
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo disk-evfull-logged"]).status, 0)
        try recorder.waitForStderr("writing the events log \(tmpfs.path)/events.bin again")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        XCTAssertFalse(recorder.stderr.contains("Fatal error"), recorder.stderr)

        let commands = try recorder.query("commands", ["--grep", "disk-evfull-"]).map(\.argv).filter { $0.first == "/bin/echo" }
        XCTAssertEqual(commands, [["/bin/echo", "disk-evfull-lost"], ["/bin/echo", "disk-evfull-logged"]],
                       "the database is the record: both commands")
        let events = try runProcess(Paths.sshaudit, ["events", recorder.eventsFile])
        XCTAssertEqual(events.status, 0, events.stderr)
        XCTAssertTrue(events.stdout.contains("record(s) here were not logged"), events.stdout)
        XCTAssertTrue(events.stdout.contains("disk-evfull-logged"))
        XCTAssertFalse(events.stdout.contains("disk-evfull-lost"))
    }
}
