import Foundation
import GRDB
import XCTest

/// Terminal, bytes on the wire, working directories, file transfers and forwarding, from real clients.
final class SessionDetailTests: XCTestCase {
    static let sftpServer = "Subsystem=sftp /usr/lib/openssh/sftp-server"
    var server: SSHDServer!
    var recorder: Recorder!
    let upload = "/run/sshaudit-test/upload-5MiB.bin"
    let size = 5 * 1024 * 1024

    override func setUpWithError() throws {
        if !FileManager.default.fileExists(atPath: upload) {
            try FileManager.default.createDirectory(atPath: "/run/sshaudit-test", withIntermediateDirectories: true)
            var bytes = [UInt8](repeating: 0, count: size)
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }  // incompressible
            try Data(bytes).write(to: URL(fileURLWithPath: upload + ".tmp"))
            rename(upload + ".tmp", upload)
        }
    }

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    func start(_ name: String, port: Int) throws {
        server = try SSHDServer(name: name, port: port, extraOptions: ["-o", Self.sftpServer])
        recorder = try Recorder(name: name)
    }

    /// The client's key as root's own file (ssh refuses keys owned by another user).
    func clientKey() throws -> String {
        let key = server.dir + "/id_alice_root"
        if !FileManager.default.fileExists(atPath: key) {
            try FileManager.default.copyItem(atPath: server.dir + "/id_alice", toPath: key)
            chown(key, 0, 0)
            chmod(key, 0o600)
        }
        return key
    }

    func clientOptions(portFlag: String) throws -> [String] {
        ["-i", try clientKey(), portFlag, String(server.port), "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    }

    func database() throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: recorder.db, configuration: config)
    }

    func session(id: Int) throws -> [String: Any] {
        try XCTUnwrap(try recorder.query("sessions", ["--session", String(id)]).first)
    }

    func checkUpload(_ row: Row, path: String, proto: String) throws {
        XCTAssertEqual(row["path"] as String?, path)
        XCTAssertEqual(row["protocol"] as String?, proto)
        XCTAssertEqual(row["mode"] as String?, "write")
        XCTAssertEqual(row["bytes_written"] as Int?, size)
        XCTAssertNotNil(row["closed_at"] as String?)
        let s = try session(id: row["session_id"])
        let bytesIn = try XCTUnwrap(s.int("bytes_in"))
        XCTAssertGreaterThanOrEqual(bytesIn, size, "\(proto): all of the file crossed the connection")
        XCTAssertLessThanOrEqual(Double(bytesIn), Double(size) * 1.05, "\(proto): within 5% above 5 MiB")
        let transfers = try recorder.query("commands", ["--session", String(row["session_id"] as Int)])
        XCTAssertTrue(transfers.contains { ($0.string("filename") ?? "").hasSuffix(proto == "sftp" ? "sftp-server" : "scp") },
                      "the transfer server is a command of the session: \(transfers.map(\.argv))")
    }

    func testUploadsByScpAndSftp() throws {
        try start("transfer", port: 22331)
        let token = UUID().uuidString.prefix(8)
        let viaSftp = "/tmp/sa-sftp-\(token).bin", viaScp = "/tmp/sa-scp-\(token).bin", viaLegacy = "/tmp/sa-scp-legacy-\(token).bin"
        defer { for f in [viaSftp, viaScp, viaLegacy] { try? FileManager.default.removeItem(atPath: f) } }
        let options = try clientOptions(portFlag: "-P")
        XCTAssertEqual(try runProcess("/usr/bin/scp", options + [upload, "sa_alice@127.0.0.1:\(viaScp)"]).status, 0)
        XCTAssertEqual(try runProcess("/usr/bin/scp", ["-O"] + options + [upload, "sa_alice@127.0.0.1:\(viaLegacy)"]).status, 0)
        let sftp = try runProcess("/usr/bin/sftp", ["-b", "-"] + options + ["sa_alice@127.0.0.1"],
                                  input: "put \(upload) \(viaSftp)\n")
        XCTAssertEqual(sftp.status, 0, sftp.stderr)
        XCTAssertEqual(try runProcess("/usr/bin/cmp", [upload, viaSftp]).status, 0, "the upload really happened")
        XCTAssertEqual(try recorder.stop(), 0)

        let rows = try database().read { db in try Row.fetchAll(db, sql: "SELECT * FROM file_transfers ORDER BY id") }
        let mine = rows.filter { ($0["path"] as String).contains(String(token)) }
        XCTAssertEqual(mine.count, 3, "\(rows)")
        try checkUpload(try XCTUnwrap(mine.first { $0["path"] == viaScp }), path: viaScp, proto: "sftp")  // scp speaks sftp since 9.0
        try checkUpload(try XCTUnwrap(mine.first { $0["path"] == viaLegacy }), path: viaLegacy, proto: "scp")
        try checkUpload(try XCTUnwrap(mine.first { $0["path"] == viaSftp }), path: viaSftp, proto: "sftp")
    }

    /// Through the sftp-server program: an upload put to a temporary name and renamed into place (as
    /// WinSCP's ".filepart") is one row under the final name; two puts to one name are two rows; each
    /// with the exact size, nothing else.
    func testSftpServerUploadsRenamedIntoPlace() throws {
        try start("transfer-rename", port: 22333)
        let token = UUID().uuidString.prefix(8)
        let renamed = "/tmp/sa-sftp-renamed-\(token).bin", twice = "/tmp/sa-sftp-twice-\(token).bin"
        defer { for f in [renamed, renamed + ".part", twice] { try? FileManager.default.removeItem(atPath: f) } }
        let sftp = try runProcess("/usr/bin/sftp", ["-b", "-"] + clientOptions(portFlag: "-P") + ["sa_alice@127.0.0.1"], input: """
            put \(upload) \(renamed).part
            rename \(renamed).part \(renamed)
            put \(upload) \(twice)
            put \(upload) \(twice)

            """)
        XCTAssertEqual(sftp.status, 0, sftp.stderr)
        XCTAssertEqual(try runProcess("/usr/bin/cmp", [upload, renamed]).status, 0, "the upload really happened")
        XCTAssertEqual(try recorder.stop(), 0)

        let rows = try database().read { db in try Row.fetchAll(db, sql: "SELECT * FROM file_transfers ORDER BY id") }
        let mine = rows.filter { ($0["path"] as String).contains(String(token)) }
        XCTAssertEqual(mine.map { $0["path"] as String }, [renamed, twice, twice], "\(rows)")
        for row in mine {
            XCTAssertEqual(row["protocol"] as String?, "sftp")
            XCTAssertEqual(row["mode"] as String?, "write")
            XCTAssertEqual(row["bytes_written"] as Int?, size)
            XCTAssertNotNil(row["closed_at"] as String?)
        }
        // The rename itself is file activity of the session.
        let renames = try recorder.query("files", ["--op", "rename", "--path", "/tmp/sa-sftp-renamed-\(token)*"])
        XCTAssertEqual(renames.compactMap { $0.string("new_path") }, [renamed])
    }

    func testForwardingIsRecordedWithItsTarget() throws {
        try start("forward", port: 22332)
        let options = try clientOptions(portFlag: "-p")
        // -L: sshd connects to the target when a client uses the tunnel (here: sshd's own port).
        let tunnel = try runProcess("/bin/bash", ["-c", """
            timeout 20 ssh \(options.joined(separator: " ")) -o ExitOnForwardFailure=yes -N \
                -L 22339:127.0.0.1:\(server.port) sa_alice@127.0.0.1 & tunnel=$!
            for i in $(seq 50); do
                banner=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/22339 && head -1 <&3' 2>/dev/null) && break
                sleep 0.2
            done
            kill $tunnel; wait $tunnel 2>/dev/null
            echo "$banner"
            """])
        XCTAssertTrue(tunnel.stdout.hasPrefix("SSH-2.0"), "the tunnel reached sshd: \(tunnel.stdout) \(tunnel.stderr)")
        // -R and agent forwarding: sshd listens for the client.
        let agent = try runProcess("/bin/bash", ["-c", """
            eval "$(ssh-agent -s)" >/dev/null && ssh-add -q \(try clientKey()) && \
            ssh -A -R 22338:127.0.0.1:22 \(options.joined(separator: " ")) sa_alice@127.0.0.1 'test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK"'; \
            status=$?; ssh-agent -k >/dev/null; exit $status
            """])
        XCTAssertEqual(agent.status, 0, agent.stderr)
        let agentSocket = agent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(agentSocket.hasPrefix("/tmp/ssh-"), agent.stdout)
        XCTAssertEqual(try recorder.stop(), 0)

        let events = try database().read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.* FROM session_events e JOIN sessions s ON s.id = e.session_id
                WHERE s.local_port = ? ORDER BY e.id
                """, arguments: [server.port])
        }
        func has(_ kind: String, _ host: String?, _ port: Int?, _ detail: String? = nil) -> Bool {
            events.contains {
                $0["kind"] == kind && ($0["target_host"] as String?) == host && ($0["target_port"] as Int?) == port
                    && ($0["detail"] as String?) == detail
            }
        }
        XCTAssertTrue(has("local_forward", "127.0.0.1", server.port), "\(events)")
        XCTAssertTrue(has("remote_forward", "127.0.0.1", 22338), "\(events)")
        XCTAssertTrue(has("agent_forward", nil, nil, agentSocket), "\(events)")
        XCTAssertFalse(events.contains { ($0["target_port"] as Int?) == 53 }, "no name-lookup noise")
    }
}
