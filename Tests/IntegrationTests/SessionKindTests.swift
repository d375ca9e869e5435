import Foundation
import XCTest

/// What each kind of real client produces: the session's kind and its completeness flags.
final class SessionKindTests: XCTestCase {
    func testEachClientGivesItsKind() throws {
        let server = try SSHDServer(name: "kinds", port: 22381, extraOptions: ["-o", SessionDetailTests.sftpServer])
        defer { server.stop() }
        let recorder = try Recorder(name: "kinds")
        let key = server.dir + "/id_alice_root"
        if !FileManager.default.fileExists(atPath: key) {
            try FileManager.default.copyItem(atPath: server.dir + "/id_alice", toPath: key)
            chmod(key, 0o600)
        }
        let common = ["-i", key, "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                      "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
        let ssh = common + ["-p", String(server.port)]
        let target = "sa_alice@127.0.0.1"
        let file = "/run/sshaudit-test/kinds-upload.txt"
        try "kinds\n".write(toFile: file, atomically: true, encoding: .utf8)
        let token = UUID().uuidString.prefix(8)
        var expected: [String] = []
        func client(_ kind: String, _ executable: String, _ args: [String], input: String? = nil) throws {
            let r = try runProcess(executable, args, input: input)
            // ssh -N runs until stopped: `timeout` ends it (124).
            XCTAssertEqual(r.status, kind == "auth-failed" ? 255 : kind == "forward-only" ? 124 : 0, "\(kind): \(r.stderr)")
            expected.append(kind)
            Thread.sleep(forTimeInterval: 0.3)  // one connection at a time: rows come in order
        }
        try client("interactive", "/usr/bin/ssh", ssh + ["-tt", target], input: "exit\n")
        try client("exec", "/usr/bin/ssh", ssh + [target, "true"])
        try client("sftp", "/usr/bin/sftp", ["-b", "-"] + common + ["-P", String(server.port), target],
                   input: "put \(file) /tmp/kinds-sftp-\(token)\n")
        try client("scp", "/usr/bin/scp", ["-O"] + common + ["-P", String(server.port), file, "\(target):/tmp/kinds-scp-\(token)"])
        try client("rsync", "/usr/bin/rsync", ["-e", "ssh " + ssh.joined(separator: " "), file, "\(target):/tmp/kinds-rsync-\(token)"])
        try client("forward-only", "/usr/bin/timeout", ["-s", "TERM", "2", "/usr/bin/ssh"] + ssh + ["-N", "-L", "22389:127.0.0.1:22", target])
        try client("auth-failed", "/usr/bin/ssh", ["-i", "/dev/null"] + ssh.dropFirst(2) + [target, "true"])
        // A command with 5,000 arguments: more than the kernel keeps, so argv is cut and flagged.
        try client("exec", "/usr/bin/ssh", ssh + [target, "/bin/true " + (1...5000).map { "argument-\($0)" }.joined(separator: " ")])
        XCTAssertEqual(try recorder.stop(), 0)

        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.map { $0.string("kind") ?? "nil" }, expected)
        XCTAssertEqual(sessions.map { $0["truncated_argv"] as? Bool }, expected.indices.map { $0 == expected.count - 1 })
        let incomplete = try recorder.query("sessions", ["--incomplete"]).filter { $0.int("local_port") == server.port }
        XCTAssertEqual(incomplete.map { $0.int("id") }, [sessions.last?.int("id")], "only the cut argv makes one incomplete")
        for f in ["sftp", "scp", "rsync"] { try? FileManager.default.removeItem(atPath: "/tmp/kinds-\(f)-\(token)") }
    }
}
