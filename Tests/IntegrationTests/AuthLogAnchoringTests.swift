import Foundation
import XCTest

/// Text that the client or a CA chooses inside sshd's auth lines (a certificate's key ID, a typed
/// user name) imitating "from ADDR port PORT": a real sshd writes it, the recorder reads it, and the
/// auth rows still hold the connection's address as the kernel saw it accepted.
final class AuthLogAnchoringTests: RecordedSSHDTestCase {

    /// (session, auth rows) of each connection to this test's sshd, in order.
    func connections() throws -> [(session: [String: Any], auth: [[String: Any]])] {
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let auth = try recorder.query("auth")
        return sessions.map { s in (s, auth.filter { $0.int("session_id") == s.int("id") }) }
    }

    func sshdLog() throws -> String {
        try String(contentsOfFile: "\(server.dir)/sshd_\(server.port).log", encoding: .utf8)
    }

    /// A CA signs sa_alice's key with a key ID that reads like another source address; sshd logs it
    /// after the real one. The auth row and the session hold 127.0.0.1 and the client's own port.
    func testCertificateKeyIDCannotMoveTheAddress() throws {
        let dir = "/run/sshaudit-test/lp-cert"
        // Only the CA admits the key (no authorized_keys), so the login is the certificate's.
        server = try SSHDServer(name: "lp-cert", port: 22420,
                                extraOptions: ["-o", "TrustedUserCAKeys=\(dir)/lp_ca.pub", "-o", "AuthorizedKeysFile=none"])
        for file in ["lp_ca", "lp_ca.pub", "id_alice-cert.pub"] { try? FileManager.default.removeItem(atPath: "\(dir)/\(file)") }
        let ca = try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "lp-ca", "-f", "\(dir)/lp_ca"])
        XCTAssertEqual(ca.status, 0, ca.stderr)
        let keyID = "evil from 10.9.8.7 port 22"
        // ssh -i id_alice also offers id_alice-cert.pub.
        let sign = try runProcess("/usr/bin/ssh-keygen", ["-q", "-s", "\(dir)/lp_ca", "-I", keyID, "-n", "sa_alice",
                                                          "\(dir)/id_alice.pub"])
        XCTAssertEqual(sign.status, 0, sign.stderr)
        recorder = try Recorder(name: "lp-cert")

        let r = try server.ssh("sa_alice", ["echo", "$SSH_CLIENT"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The client's port as sshd's session saw it.
        let sourcePort = try XCTUnwrap(clientPort(fromSSHClientLine: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                                       r.stdout)
        let log = try sshdLog()
        XCTAssertTrue(log.contains("Accepted publickey for sa_alice from 127.0.0.1 port \(sourcePort) ssh2: ED25519-CERT SHA256:")
                      && log.contains(" ID \(keyID) (serial 0) CA ED25519 "), "sshd logged the key ID after the address: \(log)")

        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        let (s, auth) = try XCTUnwrap(conns.first)
        XCTAssertEqual(s.string("remote_addr"), "127.0.0.1")
        XCTAssertEqual(s.int("remote_port"), sourcePort)
        let accepted = auth.filter { $0.string("result") == "accepted" }
        XCTAssertEqual(accepted.count, 1, "\(auth)")
        let row = try XCTUnwrap(accepted.first)
        XCTAssertEqual(row.string("user"), "sa_alice")
        XCTAssertEqual(row.string("method"), "publickey")
        XCTAssertEqual(row.string("key_type"), "ED25519-CERT")
        let fingerprint = String(try runProcess("/usr/bin/ssh-keygen", ["-lf", "\(dir)/id_alice.pub"]).stdout.split(separator: " ")[1])
        XCTAssertEqual(row.string("key_fingerprint"), fingerprint)
        XCTAssertEqual(s.string("auth_method"), "publickey")
        XCTAssertEqual(s.string("key_fingerprint"), fingerprint)
        for a in auth {
            XCTAssertEqual(a.string("remote_addr"), "127.0.0.1", "\(a)")
            XCTAssertEqual(a.int("remote_port"), sourcePort, "\(a)")
            XCTAssertEqual(a["addr_mismatch"] as? Bool, false, "\(a)")
        }
        XCTAssertTrue(try recorder.query("auth", ["--from", "10.9.8.7"]).isEmpty, "no attempt from the key ID's address")
    }

    /// Invalid user names typed to look like an address, even this connection's address with another
    /// port, with a wrong password: every row has the connection's address and the user exactly as
    /// typed. (sshd cuts a typed name at its first ':', the BSD auth style, so no name imitates ": KEY".)
    func testInvalidUserNameCannotMoveTheAddressOrTheUser() throws {
        server = try SSHDServer(name: "lp-invalid", port: 22421)
        recorder = try Recorder(name: "lp-invalid")
        let names = ["x from 10.9.8.7 port 22", "root from 127.0.0.1 port 22 ssh2"]
        for name in names {
            XCTAssertNotEqual(try server.sshWithPasswords(name, ["Wrong-Pw-1"]).status, 0)
        }
        let log = try sshdLog()
        XCTAssertTrue(log.contains("Failed password for invalid user \(names[1]) from 127.0.0.1 port "),
                      "sshd logged the name as typed: \(log)")

        let conns = try connections()
        XCTAssertEqual(conns.count, 2)
        for ((s, auth), name) in zip(conns, names) {
            XCTAssertEqual(auth.map { "\($0.string("result") ?? "nil") \($0.string("user") ?? "nil")" }, ["failed \(name)"])
            XCTAssertEqual(try recorder.events(session: s.int("id")), ["invalid_user \(name)", "closed_before_auth \(name)"],
                           "the name as typed, in the connection's facts")
            XCTAssertEqual(s.string("remote_addr"), "127.0.0.1")
            for a in auth {
                XCTAssertEqual(a.string("remote_addr"), "127.0.0.1", "\(a)")
                XCTAssertEqual(a.int("remote_port"), s.int("remote_port"), "\(a)")
                XCTAssertNil(a.string("key_type"), "\(a)")
                XCTAssertNil(a.string("key_fingerprint"), "\(a)")
                XCTAssertEqual(a["addr_mismatch"] as? Bool, false, "\(a)")
            }
        }
        XCTAssertEqual(try recorder.query("auth", ["--user", names[0]]).count, 1, "found by the name as typed")
    }

    /// Over IPv6 the text sshd writes for the address (getnameinfo) matches the kernel's: real lines
    /// are read cleanly, none flagged.
    func testIPv6LinesMatchTheConnection() throws {
        server = try SSHDServer(name: "lp-ipv6", port: 22422, ipv6: true)
        recorder = try Recorder(name: "lp-ipv6")
        func harness(_ args: [String]) throws -> ProcessResult {
            try runProcess("/usr/bin/env", ["SSHD_HARNESS_HOST=::1", "/bin/bash", Paths.harness] + args)
        }
        let r = try harness(["ssh", server.dir, String(server.port), "sa_alice", "echo", "$SSH_CLIENT"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sourcePort = try XCTUnwrap(clientPort(fromSSHClientLine: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                                       r.stdout)
        XCTAssertNotEqual(try harness(["sshpass", server.dir, String(server.port), "sa_bob", "Wrong-Pw-1", "true"]).status, 0)

        let conns = try connections()
        XCTAssertEqual(conns.count, 2)
        XCTAssertEqual(conns.map { $0.auth.map { "\($0.string("result") ?? "nil") \($0.string("user") ?? "nil")" } },
                       [["accepted sa_alice"], ["failed sa_bob"]])
        XCTAssertEqual(conns.first?.session.int("remote_port"), sourcePort)
        for (s, auth) in conns {
            XCTAssertEqual(s.string("remote_addr"), "::1")
            for a in auth {
                XCTAssertEqual(a.string("remote_addr"), "::1", "\(a)")
                XCTAssertEqual(a.int("remote_port"), s.int("remote_port"), "\(a)")
                XCTAssertEqual(a["addr_mismatch"] as? Bool, false, "\(a)")
            }
        }
    }
}
