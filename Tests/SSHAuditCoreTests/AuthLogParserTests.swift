import XCTest
@testable import SSHAuditCore

/// Lines as OpenSSH 9.2 and 10.0 write them, to a file (-E: "\r\n" ends) and to syslog.
final class AuthLogParserTests: XCTestCase {
    func line(_ text: String) -> AuthLine? { AuthLogParser.parse(text) }

    func testAccepted() {
        XCTAssertEqual(line("Accepted publickey for alice from 127.0.0.1 port 33094 ssh2: ED25519 SHA256:SnGDSSjatfRhKGeylYBoAj+PJTtWKgJIeb8IAQFSHZk\r\n"),
                       AuthLine(result: .accepted, user: "alice", method: "publickey",
                                remote: Endpoint(address: "127.0.0.1", port: 33094), keyType: "ED25519",
                                keyFingerprint: "SHA256:SnGDSSjatfRhKGeylYBoAj+PJTtWKgJIeb8IAQFSHZk"))
        XCTAssertEqual(line("<38>Nov 29 01:41:29 sshd-session[4242]: Accepted password for bob from ::1 port 50000 ssh2"),
                       AuthLine(result: .accepted, user: "bob", method: "password", remote: Endpoint(address: "::1", port: 50000)))
        XCTAssertEqual(line("Accepted keyboard-interactive/pam for carol from 10.1.2.3 port 2 ssh2")?.method, "keyboard-interactive")
        let cert = line("Accepted publickey for dave from 127.0.0.1 port 1 ssh2: ED25519-CERT SHA256:abc ID dave (serial 1) CA ED25519 SHA256:def")
        XCTAssertEqual(cert?.keyType, "ED25519-CERT")
        XCTAssertEqual(cert?.keyFingerprint, "SHA256:abc")
    }

    func testFailedAndInvalid() {
        XCTAssertEqual(line("Failed password for sa_bob from 127.0.0.1 port 60882 ssh2\r\n"),
                       AuthLine(result: .failed, user: "sa_bob", method: "password", remote: Endpoint(address: "127.0.0.1", port: 60882)))
        XCTAssertEqual(line("Failed password for invalid user ad min from 127.0.0.1 port 9 ssh2")?.user, "ad min")
        XCTAssertEqual(line("Failed publickey for eve from 127.0.0.1 port 9 ssh2: RSA SHA256:xyz")?.keyFingerprint, "SHA256:xyz")
        XCTAssertNil(line("Failed none for invalid user x from 127.0.0.1 port 9 ssh2"), "the client's probe")
        XCTAssertEqual(line("<38>Nov 29 01:41:29 sshd[1]: Invalid user mallory from 192.0.2.7 port 4444"),
                       AuthLine(result: .invalidUser, user: "mallory", remote: Endpoint(address: "192.0.2.7", port: 4444)))
    }

    func testDisconnections() {
        XCTAssertEqual(line("Connection closed by authenticating user sa_bob 127.0.0.1 port 60882 [preauth]\r\n"),
                       AuthLine(result: .disconnected, user: "sa_bob", remote: Endpoint(address: "127.0.0.1", port: 60882)))
        XCTAssertEqual(line("Connection closed by invalid user no body 127.0.0.1 port 7 [preauth]")?.user, "no body")
        XCTAssertEqual(line("Disconnected from authenticating user root 203.0.113.5 port 22 [preauth]")?.user, "root")
        XCTAssertEqual(line("Connection closed by 127.0.0.1 port 60872\r\n"),
                       AuthLine(result: .disconnected, remote: Endpoint(address: "127.0.0.1", port: 60872)))
        XCTAssertEqual(line("Timeout before authentication for 127.0.0.1 port 5"),
                       AuthLine(result: .disconnected, remote: Endpoint(address: "127.0.0.1", port: 5)))
    }

    func testIgnoresEverythingElse() {
        for text in ["Server listening on 127.0.0.1 port 22.\r\n",
                     "Connection from 127.0.0.1 port 5 on 127.0.0.1 port 22 rdomain \"\"",
                     "Postponed publickey for alice from 127.0.0.1 port 5 ssh2 [preauth]",
                     "Received disconnect from 127.0.0.1 port 5:11: disconnected by user",
                     "<86>Nov 29 02:23:11 sshd[1]: pam_unix(sshd:session): session opened for user a(uid=1) by (uid=0)",
                     "0\n", "\u{06}\0\0\0 N\0\0ssh:notty\0\0", ""] {
            XCTAssertNil(line(text), text)
        }
    }
}
