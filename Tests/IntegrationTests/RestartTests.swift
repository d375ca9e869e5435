import Foundation
import XCTest

/// sshd restarted and reloaded while recording: every new sshd is followed with its log channels,
/// so the same logins give the same rows as against the sshd that ran when the recorder started.
final class RestartTests: XCTestCase {
    /// Running before the recorder; stopped and started again without -D (it forks into the
    /// background), stopped and started again with -D, then reloaded with SIGHUP (it re-executes
    /// itself). After each step: a publickey login with a command, a password login and a failed
    /// password, each step's rows equal to the first's.
    func testStoppedStartedAndReloadedWhileRecording() throws {
        let server = try SSHDServer(name: "restart-steps", port: 22510)
        defer { server.stop() }
        let recorder = try Recorder(name: "restart-steps")
        defer { _ = try? recorder.stop() }

        var steps: [(String, Set<Int>)] = []
        func logins(_ step: String) throws {
            let before = Set(try StartModes.sessionIDs(recorder, port: server.port))
            try StartModes.logins(server, invalidUser: false)
            // The step's three sessions (a login with a command, a password login, a failed one) reach
            // the database: polled, up to 10 s.
            var new = Set<Int>()
            for _ in 0..<100 {
                new = Set(try StartModes.sessionIDs(recorder, port: server.port)).subtracting(before)
                if new.count >= 3 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            steps.append((step, new))
        }
        // Each sshd started writes a new -E file (the old one is kept, as rotation would: its inode
        // stays taken, so the new file's cannot be one registered before).
        let log = server.dir + "/sshd_\(server.port).log"
        func restart(_ mode: String, _ step: Int) throws {
            try? FileManager.default.removeItem(atPath: log + ".\(step)")  // an earlier run's
            try FileManager.default.moveItem(atPath: log, toPath: log + ".\(step)")
            try server.start(startMode: mode)
        }
        try logins("running at start")
        try restart("daemon", 1)
        try logins("restarted without -D")
        try restart("listener", 2)
        try logins("restarted with -D")
        let pid = try XCTUnwrap(server.pid)
        XCTAssertEqual(kill(pid, SIGHUP), 0)
        // sshd re-executes itself in place and logs that it listens again.
        let deadline = Date().addingTimeInterval(10)
        func listened() -> Int { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "Server listening on").count - 1 }
        while listened() < 2, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(listened(), 2, "sshd did not listen again after SIGHUP")
        XCTAssertEqual(server.pid, pid, "a reload keeps the process")
        try logins("reloaded with SIGHUP")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let expected = try StartModes.rows(recorder, port: server.port, sessionIDs: steps[0].1)
        XCTAssertEqual(expected.filter { $0.hasPrefix("session ") }.count, 3, "\(expected)")
        XCTAssertTrue(expected.contains { $0.contains(#""method":"password","remote_addr":"127.0.0.1","result":"failed""#) }, "\(expected)")
        for (step, ids) in steps.dropFirst() {
            XCTAssertEqual(try StartModes.rows(recorder, port: server.port, sessionIDs: ids), expected, step)
        }
    }
}
