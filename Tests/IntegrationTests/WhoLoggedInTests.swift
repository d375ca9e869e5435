import Foundation
import SSHAuditCore
import XCTest

/// Who really logged in, on the real sshd: the identity an OpenSSH certificate carries (key ID,
/// serial, CA), every factor of `AuthenticationMethods`, keyboard-interactive with its PAM device,
/// and attempts counted as sshd counts them (one per `Failed …` line).
final class WhoLoggedInTests: RecordedSSHDTestCase {

    func sshdLog() throws -> String {
        try String(contentsOfFile: "\(server.dir)/sshd_\(server.port).log", encoding: .utf8)
    }

    /// The log once it holds `text` (or after 15 s): sshd may write a failure's line after the client
    /// that caused it has given up and exited.
    func sshdLog(containing text: String) throws -> String {
        let deadline = Date().addingTimeInterval(15)
        var log = try sshdLog()
        while !log.contains(text) && Date() < deadline {
            usleep(100_000)
            log = try sshdLog()
        }
        return log
    }

    /// The log's lines (sshd ends them "\r\n", one Character in Swift).
    func sshdLogLines() throws -> [String] {
        try sshdLog().split(whereSeparator: \.isNewline).map(String.init)
    }

    func sshaudit(_ args: [String]) throws -> ProcessResult {
        let r = try runProcess(Paths.sshaudit, args)
        guard r.status == 0 else { throw TestFailure("sshaudit \(args.joined(separator: " ")): \(r.stderr)") }
        return r
    }

    func json(_ args: [String]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try sshaudit(args).stdout.utf8))
    }

    /// This test's sessions (by the sshd's port) and their auth rows, after the recorder stopped.
    func connections() throws -> [(session: [String: Any], auth: [[String: Any]])] {
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let auth = try recorder.query("auth")
        return sessions.map { s in (s, auth.filter { $0.int("session_id") == s.int("id") }) }
    }

    /// A fresh CA in the test's directory and sa_alice's key signed by it (ssh -i id_alice also offers
    /// id_alice-cert.pub). Returns the CA's fingerprint as `ssh-keygen -lf` prints it.
    func signAlicesKey(keyID: String, serial: Int) throws -> String {
        let dir = server.dir
        for file in ["ca", "ca.pub", "id_alice-cert.pub"] { try? FileManager.default.removeItem(atPath: "\(dir)/\(file)") }
        let ca = try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "authid-ca", "-f", "\(dir)/ca"])
        XCTAssertEqual(ca.status, 0, ca.stderr)
        let sign = try runProcess("/usr/bin/ssh-keygen", ["-q", "-s", "\(dir)/ca", "-I", keyID, "-n", "sa_alice",
                                                          "-z", String(serial), "\(dir)/id_alice.pub"])
        XCTAssertEqual(sign.status, 0, sign.stderr)
        return try fingerprint("\(dir)/ca.pub")
    }

    func fingerprint(_ publicKey: String) throws -> String {
        let r = try runProcess("/usr/bin/ssh-keygen", ["-lf", publicKey])
        XCTAssertEqual(r.status, 0, r.stderr)
        return String(r.stdout.split(separator: " ")[1])
    }

    /// A certificate login: the key ID, serial and CA fingerprint stored on the auth row and the
    /// session are those `ssh-keygen -L` and `ssh-keygen -lf CA.pub` print; the filters, `query keys`,
    /// `show` and `report` show them.
    func testCertificateLoginKeepsKeyIDSerialAndCA() throws {
        server = try SSHDServer(name: "authid-cert", port: 22540, extraOptions: [
            "-o", "TrustedUserCAKeys=/run/sshaudit-test/authid-cert/ca.pub", "-o", "AuthorizedKeysFile=none"])
        let caFingerprint = try signAlicesKey(keyID: "alice@corp.example", serial: 4711)
        // What ssh-keygen itself says of the certificate.
        let listing = try runProcess("/usr/bin/ssh-keygen", ["-L", "-f", "\(server.dir)/id_alice-cert.pub"]).stdout
        func field(_ name: String) -> String? {
            listing.split(separator: "\n").lazy.compactMap { line -> String? in
                let t = line.trimmingCharacters(in: .whitespaces)
                return t.hasPrefix(name + ": ") ? String(t.dropFirst(name.count + 2)) : nil
            }.first
        }
        let keyID = try XCTUnwrap(field("Key ID")?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")), listing)
        let serial = try XCTUnwrap(field("Serial"), listing)
        let signingCA = try XCTUnwrap(field("Signing CA"), listing)  // "ED25519 SHA256:… (using ssh-ed25519)"
        XCTAssertEqual(keyID, "alice@corp.example")
        XCTAssertEqual(serial, "4711")
        XCTAssertTrue(signingCA.hasPrefix("ED25519 \(caFingerprint) "), signingCA)
        recorder = try Recorder(name: "authid-cert")

        let r = try server.ssh("sa_alice", ["true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let leaf = try fingerprint("\(server.dir)/id_alice.pub")

        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        let (s, auth) = try XCTUnwrap(conns.first)
        // ssh offers the plain key first (refused: no authorized_keys), then its certificate.
        XCTAssertEqual(auth.map { $0.string("result") }, ["failed", "accepted"])
        XCTAssertNil(auth[0].string("cert_id"))
        for row in [s, auth[1]] {
            XCTAssertEqual(row.string("cert_id"), keyID, "\(row)")
            XCTAssertEqual(row.string("cert_serial"), serial, "\(row)")
            XCTAssertEqual(row.string("ca_key_type"), "ED25519", "\(row)")
            XCTAssertEqual(row.string("ca_fingerprint"), caFingerprint, "\(row)")
            XCTAssertEqual(row.string("key_type"), "ED25519-CERT", "\(row)")
            XCTAssertEqual(row.string("key_fingerprint"), leaf, "\(row)")
        }
        XCTAssertEqual(s.string("auth_method"), "publickey")
        let id = try XCTUnwrap(s.int("id"))

        // Filters: exact key ID and CA; another CA or key ID finds nothing.
        XCTAssertEqual(try recorder.query("sessions", ["--cert-id", keyID]).compactMap { $0.int("id") }, [id])
        XCTAssertEqual(try recorder.query("sessions", ["--ca", caFingerprint]).compactMap { $0.int("id") }, [id])
        XCTAssertEqual(try recorder.query("auth", ["--ca", caFingerprint, "--cert-id", keyID]).count, 1)
        XCTAssertEqual(try recorder.query("commands", ["--cert-id", keyID]).count, try recorder.query("commands", ["--session", String(id)]).count)
        XCTAssertTrue(try recorder.query("sessions", ["--cert-id", "alice"]).isEmpty)
        XCTAssertTrue(try recorder.query("auth", ["--ca", leaf]).isEmpty)
        let bad = try runProcess(Paths.sshaudit, ["query", "sessions", "--db", recorder.db, "--ca", "not-a-fingerprint"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr.split(separator: "\n").filter { !$0.isEmpty }.count, 1, bad.stderr)

        // query keys: the certificate as CA + key ID (+ the key it certifies), with its serials.
        let keys = try XCTUnwrap(try json(["query", "keys", "--db", recorder.db, "--format", "json", "--ca", caFingerprint]) as? [[String: Any]])
        XCTAssertEqual(keys.count, 1)
        XCTAssertEqual(keys.first?.string("cert_id"), keyID)
        XCTAssertEqual(keys.first?.string("ca_fingerprint"), caFingerprint)
        XCTAssertEqual(keys.first?["serials"] as? [String], [serial])
        XCTAssertEqual(keys.first?.string("key_fingerprint"), leaf)

        // show and report name the identity.
        let show = try sshaudit(["show", String(id), "--db", recorder.db]).stdout
        XCTAssertTrue(show.contains("ID \(keyID) (serial \(serial)) CA ED25519 \(caFingerprint)"), show)
        let report = try XCTUnwrap(try json(["report", "--db", recorder.db, "--format", "json", "--since", "1h"]) as? [String: Any])
        let certificates = try XCTUnwrap(report["certificates"] as? [[String: Any]])
        XCTAssertTrue(certificates.contains { $0.string("ca_fingerprint") == caFingerprint && $0.string("cert_id") == keyID
                                              && $0.int("logins") == 1 && ($0["users"] as? [String]) == ["sa_alice"] }, "\(certificates)")
        let markdown = try sshaudit(["report", "--db", recorder.db, "--since", "1h"]).stdout
        XCTAssertTrue(markdown.contains("## Certificates") && markdown.contains(caFingerprint), markdown)
    }

    /// The key ID is whatever the certificate's requester chose: here it imitates another source,
    /// a serial and a CA, and carries terminal controls. sshd logs it after the real address; it moves
    /// no field (address, port, user, serial, CA stay the connection's and the certificate's), and
    /// it reaches a terminal only as escapes.
    func testHostileKeyIDMovesNoFieldAndRendersVisibly() throws {
        server = try SSHDServer(name: "authid-hostile", port: 22541, extraOptions: [
            "-o", "TrustedUserCAKeys=/run/sshaudit-test/authid-hostile/ca.pub", "-o", "AuthorizedKeysFile=none"])
        let fakeKey = "SHA256:" + String(repeating: "A", count: 43), fakeCA = "SHA256:" + String(repeating: "B", count: 43)
        let keyID = "evil from 10.9.8.7 port 22 ssh2: ED25519 \(fakeKey) (serial 5) CA ED25519 \(fakeCA) \u{1b}[2J\u{1b}]0;owned\u{07}\u{9b}31m\u{202e}x\ty"
        let caFingerprint = try signAlicesKey(keyID: keyID, serial: 77)
        recorder = try Recorder(name: "authid-hostile")

        let r = try server.ssh("sa_alice", ["echo", "$SSH_CLIENT"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sourcePort = try XCTUnwrap(clientPort(fromSSHClientLine: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), r.stdout)
        // The key ID as sshd wrote it (it escapes some controls itself), between " ID " and the real tail.
        let log = try sshdLog()
        let accepted = try XCTUnwrap(try sshdLogLines().first { $0.contains("Accepted publickey for sa_alice") }, log)
        let tail = " (serial 77) CA ED25519 \(caFingerprint)"
        let idStart = try XCTUnwrap(accepted.range(of: "-CERT ")).upperBound
        let afterKey = try XCTUnwrap(accepted[idStart...].range(of: " ID ")).upperBound
        let idEnd = try XCTUnwrap(accepted.range(of: tail, options: .backwards)).lowerBound
        let logged = String(accepted[afterKey..<idEnd])
        XCTAssertTrue(logged.hasPrefix("evil from 10.9.8.7 port 22 ssh2: ED25519 \(fakeKey) (serial 5) CA ED25519 \(fakeCA) "), logged)

        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        let (s, auth) = try XCTUnwrap(conns.first)
        let row = try XCTUnwrap(auth.first { $0.string("result") == "accepted" }, "\(auth)")
        for x in [s, row] {
            XCTAssertEqual(x.string("remote_addr"), "127.0.0.1", "\(x)")
            XCTAssertEqual(x.int("remote_port"), sourcePort, "\(x)")
            XCTAssertEqual(x.string("cert_id"), logged, "\(x)")
            XCTAssertEqual(x.string("cert_serial"), "77", "\(x)")
            XCTAssertEqual(x.string("ca_fingerprint"), caFingerprint, "\(x)")
            XCTAssertEqual(x.string("key_fingerprint"), try fingerprint("\(server.dir)/id_alice.pub"), "\(x)")
        }
        XCTAssertEqual(row.string("user"), "sa_alice")
        XCTAssertEqual(row["addr_mismatch"] as? Bool, false)
        XCTAssertTrue(try recorder.query("auth", ["--from", "10.9.8.7"]).isEmpty)
        XCTAssertTrue(try recorder.query("sessions", ["--ca", fakeCA]).isEmpty, "the imitated CA is no CA")
        XCTAssertEqual(try recorder.query("sessions", ["--cert-id", logged]).count, 1)

        // Output for people: no control reaches the terminal.
        let id = try XCTUnwrap(s.int("id"))
        for args in [["show", String(id), "--db", recorder.db], ["query", "auth", "--db", recorder.db, "--session", String(id)],
                     ["query", "keys", "--db", recorder.db, "--ca", caFingerprint], ["report", "--db", recorder.db, "--since", "1h"]] {
            let out = try sshaudit(args).stdout
            XCTAssertFalse(out.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || (0x7f...0x9f).contains($0.value) || $0 == "\u{202e}" },
                           "\(args[0]): \(out.debugDescription)")
        }
        let show = try sshaudit(["show", String(id), "--db", recorder.db]).stdout
        XCTAssertTrue(show.contains("ID " + VisibleText.render(logged) + " (serial 77) CA ED25519 \(caFingerprint)"), show)
    }

    /// `AuthenticationMethods publickey,password`: the key factor is a `partial` row with its key,
    /// the password the accepted one, and the session lists both methods and keeps the key.
    func testSeveralFactorsAreEachRecorded() throws {
        server = try SSHDServer(name: "authid-factors", port: 22542, extraOptions: ["-o", "AuthenticationMethods=publickey,password"])
        recorder = try Recorder(name: "authid-factors")
        let r = try runProcess("/usr/bin/sshpass", [
            "-p", "Alice-Pw-7q", "ssh", "-i", "\(server.dir)/id_alice", "-p", String(server.port), "-F", "/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey,password", "sa_alice@127.0.0.1", "true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let log = try sshdLog()
        XCTAssertTrue(log.contains("Partial publickey for sa_alice from 127.0.0.1 port "), log)
        let leaf = try fingerprint("\(server.dir)/id_alice.pub")

        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        let (s, auth) = try XCTUnwrap(conns.first)
        XCTAssertEqual(auth.map { "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil")" },
                       ["partial publickey", "accepted password"])
        XCTAssertEqual(auth.first?.string("key_fingerprint"), leaf)
        XCTAssertEqual(s.string("auth_method"), "publickey,password")
        XCTAssertEqual(s.string("key_fingerprint"), leaf)
        XCTAssertEqual(s.string("key_type"), "ED25519")
        XCTAssertEqual(s.string("user"), "sa_alice")
    }

    /// keyboard-interactive through PAM (sshpass answers PAM's password prompt): the method and its
    /// device, for a success and a failure.
    func testKeyboardInteractiveKeepsItsPAMDevice() throws {
        server = try SSHDServer(name: "authid-kbdint", port: 22543, extraOptions: [
            "-o", "KbdInteractiveAuthentication=yes", "-o", "AuthenticationMethods=keyboard-interactive"])
        recorder = try Recorder(name: "authid-kbdint")
        func login(_ user: String, _ password: String) throws -> ProcessResult {
            try runProcess("/usr/bin/sshpass", [
                "-p", password, "ssh", "-p", String(server.port), "-F", "/dev/null",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive",
                "-o", "NumberOfPasswordPrompts=1", "\(user)@127.0.0.1", "true"])
        }
        XCTAssertEqual(try login("sa_alice", "Alice-Pw-7q").status, 0)
        XCTAssertNotEqual(try login("sa_bob", "Wrong-Pw-1").status, 0)
        let log = try sshdLog(containing: "Failed keyboard-interactive/pam for sa_bob")
        XCTAssertTrue(log.contains("Accepted keyboard-interactive/pam for sa_alice"), log)

        let conns = try connections()
        XCTAssertEqual(conns.count, 2)
        XCTAssertEqual(conns.map { $0.session.string("auth_method") }, ["keyboard-interactive/pam", nil])
        let rows = conns.flatMap(\.auth).map {
            "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil") \($0.string("submethod") ?? "nil") \($0.string("user") ?? "nil")"
        }
        XCTAssertEqual(rows, ["accepted keyboard-interactive pam sa_alice", "failed keyboard-interactive pam sa_bob"])
        XCTAssertEqual(log.components(separatedBy: "Failed keyboard-interactive/pam for sa_bob").count - 1, 1, log)
    }

    /// Wrong passwords, valid and invalid users mixed, from one source address of their own: the
    /// report's failed attempts from it equal sshd's `Failed ` lines; invalid users and connections
    /// closed before authenticating are facts of the connection, not attempts.
    func testFailedAttemptsEqualSSHDsFailedLines() throws {
        server = try SSHDServer(name: "authid-flood", port: 22544)
        recorder = try Recorder(name: "authid-flood")
        let source = "127.0.54.1"
        let users = (0..<30).map { $0 % 5 < 3 ? "authid-nobody-\($0)" : "sa_bob" }  // 18 invalid, 12 valid
        let statuses = Locked<[Int32]>([])
        // Threads of their own: each waits on its client, so 15 at a time whatever the cores.
        let group = DispatchGroup()
        let sshd = server!
        for lane in 0..<15 {
            group.enter()
            Thread {
                for i in stride(from: lane, to: users.count, by: 15) {
                    let status = (try? sshd.sshWithPasswords(users[i], ["Wrong-Pw-\(i)"], source: source).status) ?? -1
                    statuses.mutate { $0.append(status) }
                }
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(statuses.value.count, 30)
        XCTAssertTrue(statuses.value.allSatisfy { $0 != 0 }, "\(statuses.value)")
        // (sshd may write a failure's line after its client exited: wait for the thirtieth.)
        let deadline = Date().addingTimeInterval(15)
        while try sshdLogLines().filter({ $0.contains("Failed ") && $0.contains(" from \(source) port ") }).count < 30
                && Date() < deadline { usleep(100_000) }
        let log = try sshdLog(), lines = try sshdLogLines()
        let failedLines = lines.filter { $0.contains("Failed ") && $0.contains(" from \(source) port ") }.count
        let invalidLines = lines.filter { $0.contains("Invalid user ") && $0.contains(" from \(source) port ") }.count
        XCTAssertEqual(failedLines, 30, log)
        XCTAssertEqual(invalidLines, 18, log)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let report = try XCTUnwrap(try json(["report", "--db", recorder.db, "--format", "json", "--since", "1h"]) as? [String: Any])
        let bySource = try XCTUnwrap((report["failed_by_source"] as? [[String: Any]])?.first { $0.string("address") == source },
                                     "\(report["failed_by_source"] ?? "none")")
        // On a miss: the recorder's own account (events, losses in the kernel) and what sshd wrote.
        XCTAssertEqual(bySource.int("failed_attempts"), failedLines, recorder.stderr + "\n" + log)
        XCTAssertEqual(bySource.int("invalid_users"), invalidLines)
        XCTAssertEqual(try recorder.query("auth", ["--from", source, "--failed"]).count, failedLines)
        XCTAssertEqual(try recorder.query("auth", ["--from", source]).count, failedLines, "one row per credential tried")
        let sources = try XCTUnwrap(try json(["query", "sources", "--db", recorder.db, "--format", "json"]) as? [[String: Any]])
        let mine = try XCTUnwrap(sources.first { $0.string("remote_addr") == source })
        XCTAssertEqual(mine.int("failed"), failedLines)
        XCTAssertEqual(mine.int("invalid_user"), invalidLines)
        XCTAssertEqual(mine.int("sessions"), 30)
        // Each connection's end is one fact of the connection.
        let sessions = try recorder.query("sessions", ["--from", source])
        XCTAssertEqual(sessions.count, 30)
        var closed = 0
        for s in sessions {
            let show = try XCTUnwrap(try json(["show", String(try XCTUnwrap(s.int("id"))), "--db", recorder.db, "--format", "json"]) as? [String: Any])
            let kinds = (show["events"] as? [[String: Any]] ?? []).compactMap { $0.string("kind") }
            closed += kinds.filter { $0 == "closed_before_auth" }.count
            XCTAssertLessThanOrEqual(kinds.filter { $0 == "invalid_user" }.count, 1)
        }
        XCTAssertEqual(closed, 30)
    }
}

