import XCTest
@testable import SSHAuditCore

/// Lines as OpenSSH 9.2 and 10.0 write them, to a file (-E: "\r\n" ends) and to syslog, read against
/// the connection the kernel saw accepted.
final class AuthLogParserTests: XCTestCase {
    /// The connection of most lines here, as the kernel reported it.
    let conn = Endpoint(address: "127.0.0.1", port: 5555)

    func line(_ text: String, _ connection: Endpoint? = nil) -> AuthLine? {
        AuthLogParser.parse(text, connection: connection ?? conn)
    }

    /// A SHA256 fingerprint as sshd writes it (43 base64 characters).
    func fp(_ c: Character) -> String { "SHA256:" + String(repeating: c, count: 43) }

    func testAccepted() {
        XCTAssertEqual(line("Accepted publickey for alice from 127.0.0.1 port 5555 ssh2: ED25519 SHA256:SnGDSSjatfRhKGeylYBoAj+PJTtWKgJIeb8IAQFSHZk\r\n"),
                       AuthLine(result: .accepted, user: "alice", method: "publickey", keyType: "ED25519",
                                keyFingerprint: "SHA256:SnGDSSjatfRhKGeylYBoAj+PJTtWKgJIeb8IAQFSHZk"))
        XCTAssertEqual(line("<38>Nov 29 01:41:29 sshd-session[4242]: Accepted password for bob from ::1 port 50000 ssh2",
                            Endpoint(address: "::1", port: 50000)),
                       AuthLine(result: .accepted, user: "bob", method: "password"))
        XCTAssertEqual(line("Accepted keyboard-interactive/pam for carol from 127.0.0.1 port 5555 ssh2"),
                       AuthLine(result: .accepted, user: "carol", method: "keyboard-interactive", submethod: "pam"))
        let cert = line("Accepted publickey for dave from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(fp("a")) ID dave (serial 1) CA ED25519 \(fp("d"))")
        XCTAssertEqual(cert, AuthLine(result: .accepted, user: "dave", method: "publickey", keyType: "ED25519-CERT",
                                      keyFingerprint: fp("a"),
                                      certificate: .init(id: "dave", serial: "1", caKeyType: "ED25519", caFingerprint: fp("d"))))
        XCTAssertEqual(line("Accepted publickey for erin from 127.0.0.1 port 5555 ssh2: ED25519-SK \(fp("s")), signature count = 3"),
                       AuthLine(result: .accepted, user: "erin", method: "publickey", keyType: "ED25519-SK", keyFingerprint: fp("s"),
                                info: "signature count = 3"))
        XCTAssertEqual(line(#"Accepted hostbased for fred from 127.0.0.1 port 5555 ssh2: ED25519 \#(fp("h")), client user "fred", client host "h""#),
                       AuthLine(result: .accepted, user: "fred", method: "hostbased", keyType: "ED25519", keyFingerprint: fp("h"),
                                info: #"client user "fred", client host "h""#))
        XCTAssertEqual(line("Accepted gssapi-with-mic for gina from 127.0.0.1 port 5555 ssh2: gina@EXAMPLE.ORG"),
                       AuthLine(result: .accepted, user: "gina", method: "gssapi-with-mic", info: "gina@EXAMPLE.ORG"))
    }

    func testFailedAndInvalid() {
        XCTAssertEqual(line("Failed password for sa_bob from 127.0.0.1 port 5555 ssh2\r\n"),
                       AuthLine(result: .failed, user: "sa_bob", method: "password"))
        XCTAssertEqual(line("Failed password for invalid user ad min from 127.0.0.1 port 5555 ssh2"),
                       AuthLine(result: .failed, user: "ad min", method: "password"))
        XCTAssertEqual(line("Failed publickey for eve from 127.0.0.1 port 5555 ssh2: RSA \(fp("x"))")?.keyFingerprint, fp("x"))
        XCTAssertNil(line("Failed none for invalid user x from 127.0.0.1 port 5555 ssh2"), "the client's probe")
        XCTAssertEqual(line("<38>Nov 29 01:41:29 sshd[1]: Invalid user mallory from 192.0.2.7 port 4444",
                            Endpoint(address: "192.0.2.7", port: 4444)),
                       AuthLine(result: .invalidUser, user: "mallory"))
        XCTAssertEqual(line("Invalid user  from 127.0.0.1 port 5555")?.user, "", "an empty name")
    }

    func testDisconnections() {
        XCTAssertEqual(line("Connection closed by authenticating user sa_bob 127.0.0.1 port 5555 [preauth]\r\n"),
                       AuthLine(result: .disconnected, user: "sa_bob"))
        XCTAssertEqual(line("Connection closed by invalid user no body 127.0.0.1 port 5555 [preauth]")?.user, "no body")
        XCTAssertEqual(line("Disconnected from authenticating user root 203.0.113.5 port 22 [preauth]",
                            Endpoint(address: "203.0.113.5", port: 22)),
                       AuthLine(result: .disconnected, user: "root"))
        XCTAssertEqual(line("Connection closed by 127.0.0.1 port 5555\r\n"), AuthLine(result: .disconnected))
        XCTAssertEqual(line("Timeout before authentication for 127.0.0.1 port 5555"), AuthLine(result: .disconnected))
    }

    func testIgnoresEverythingElse() {
        for text in ["Server listening on 127.0.0.1 port 22.\r\n",
                     "Connection from 127.0.0.1 port 5555 on 127.0.0.1 port 22 rdomain \"\"",
                     "Postponed publickey for alice from 127.0.0.1 port 5555 ssh2 [preauth]",
                     "Received disconnect from 127.0.0.1 port 5555:11: disconnected by user",
                     "<86>Nov 29 02:23:11 sshd[1]: pam_unix(sshd:session): session opened for user a(uid=1) by (uid=0)",
                     "Accepted password for alice from 127.0.0.1 port 5555x ssh2",
                     "Timeout before authentication for evil 127.0.0.1 port 5555",
                     "Connection closed by somebody 127.0.0.1 port 5555",
                     "0\n", "\u{06}\0\0\0 N\0\0ssh:notty\0\0", ""] {
            XCTAssertNil(line(text), text)
        }
    }

    // MARK: - Text chosen by the client or a CA

    /// The CA chose the key ID; it follows the address, so it can never move it.
    func testCertificateKeyIDCannotMoveTheAddressOrTheUser() {
        let prefix = "Accepted publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(fp("L")) ID "
        for keyID in ["evil from 10.9.8.7 port 22", "evil from 10.9.8.7 port 22 ssh2: RSA \(fp("x"))",
                      "e from 127.0.0.1 port 5555 ssh2", "e (serial 7) CA RSA \(fp("f"))", "e (serial 7) CA RSA SHA256:short", ""] {
            XCTAssertEqual(line(prefix + keyID + " (serial 1) CA ED25519 \(fp("c"))"),
                           AuthLine(result: .accepted, user: "sa_alice", method: "publickey", keyType: "ED25519-CERT",
                                    keyFingerprint: fp("L"),
                                    certificate: .init(id: keyID, serial: "1", caKeyType: "ED25519", caFingerprint: fp("c"))), keyID)
        }
        // A key ID that imitates the whole rest of the line, this connection's endpoint included: two
        // readings, both possible. What they disagree on is not stored, and the row is flagged.
        XCTAssertEqual(line(prefix + "k from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(fp("z")) ID q (serial 1) CA ED25519 \(fp("c"))"),
                       AuthLine(result: .accepted, user: nil, method: "publickey", keyType: "ED25519-CERT",
                                keyFingerprint: nil, addrMismatch: true))
    }

    /// The client typed the user name (up to 100 bytes, spaces kept); it precedes the address. sshd
    /// cuts a typed name at its first ':' (the BSD auth style), so a real one never holds ": KEY"; the
    /// parser does not rely on that.
    func testUserNameCannotShiftTheFields() {
        XCTAssertEqual(line("Failed password for invalid user x from 10.9.8.7 port 22 from 127.0.0.1 port 5555 ssh2"),
                       AuthLine(result: .failed, user: "x from 10.9.8.7 port 22", method: "password"))
        // Once read as a key: a password attempt has none.
        XCTAssertEqual(line("Failed password for invalid user x from 10.9.8.7 port 22 ssh2: ED25519 \(fp("F")) from 127.0.0.1 port 5555 ssh2"),
                       AuthLine(result: .failed, user: "x from 10.9.8.7 port 22 ssh2: ED25519 \(fp("F"))", method: "password"))
        // Even this connection's own endpoint in the name: after it comes what sshd never writes there.
        XCTAssertEqual(line("Failed password for invalid user x from 127.0.0.1 port 5555 ssh2 from 127.0.0.1 port 5555 ssh2"),
                       AuthLine(result: .failed, user: "x from 127.0.0.1 port 5555 ssh2", method: "password"))
        XCTAssertEqual(line("Failed publickey for invalid user x from 127.0.0.1 port 5555 ssh2: RSA \(fp("f")) ID y from 127.0.0.1 port 5555 ssh2: ED25519 \(fp("r"))"),
                       AuthLine(result: .failed, user: "x from 127.0.0.1 port 5555 ssh2: RSA \(fp("f")) ID y", method: "publickey",
                                keyType: "ED25519", keyFingerprint: fp("r")))
        // …unless the name imitates a whole key part: then it reads two ways, flagged, no user.
        XCTAssertEqual(line("Failed publickey for invalid user x from 127.0.0.1 port 5555 ssh2: RSA \(fp("f")), from 127.0.0.1 port 5555 ssh2: ED25519 \(fp("r"))"),
                       AuthLine(result: .failed, user: nil, method: "publickey", keyType: nil, keyFingerprint: nil, addrMismatch: true))
        XCTAssertEqual(line("Invalid user x from 10.9.8.7 port 22 from 127.0.0.1 port 5555"),
                       AuthLine(result: .invalidUser, user: "x from 10.9.8.7 port 22"))
        XCTAssertEqual(line("Invalid user x from 127.0.0.1 port 5555 from 127.0.0.1 port 5555"),
                       AuthLine(result: .invalidUser, user: "x from 127.0.0.1 port 5555"))
        XCTAssertEqual(line("Connection closed by invalid user x 10.9.8.7 port 22 127.0.0.1 port 5555 [preauth]"),
                       AuthLine(result: .disconnected, user: "x 10.9.8.7 port 22"))
        XCTAssertEqual(line("Disconnected from invalid user x from 10.9.8.7 port 22 127.0.0.1 port 5555 [preauth]"),
                       AuthLine(result: .disconnected, user: "x from 10.9.8.7 port 22"))
    }

    /// A line that names another endpoint than the connection's is kept, flagged; the row's address
    /// is the connection's all the same (the correlator never takes it from the line).
    func testAnotherEndpointIsFlagged() {
        XCTAssertEqual(line("Failed password for bob from 10.9.8.7 port 22 ssh2"),
                       AuthLine(result: .failed, user: "bob", method: "password", addrMismatch: true))
        XCTAssertEqual(line("Accepted publickey for bob from 127.0.0.1 port 5556 ssh2: ED25519 \(fp("k"))"),
                       AuthLine(result: .accepted, user: "bob", method: "publickey", keyType: "ED25519",
                                keyFingerprint: fp("k"), addrMismatch: true))
        XCTAssertEqual(line("Invalid user bob from 127.0.0.2 port 5555"), AuthLine(result: .invalidUser, user: "bob", addrMismatch: true))
        XCTAssertEqual(line("Connection closed by 10.0.0.1 port 5555"), AuthLine(result: .disconnected, addrMismatch: true))
        XCTAssertEqual(line("Timeout before authentication for 127.0.0.1 port 1"), AuthLine(result: .disconnected, addrMismatch: true))
        // With the connection unknown, any address reads; only a line that reads several ways is flagged.
        XCTAssertEqual(AuthLogParser.parse("Failed password for bob from 10.9.8.7 port 22 ssh2", connection: nil),
                       AuthLine(result: .failed, user: "bob", method: "password"))
        XCTAssertEqual(AuthLogParser.parse("Failed gssapi-with-mic for b from 10.9.8.7 port 22 ssh2: x from 10.1.1.1 port 2 ssh2: y",
                                           connection: nil),
                       AuthLine(result: .failed, user: nil, method: "gssapi-with-mic", addrMismatch: true))
    }

    /// The unprivileged pre-auth child's lines are relayed by the monitor with " [preauth]": a
    /// success claimed there never counts.
    func testPreauthNeverAccepted() {
        XCTAssertNil(line("Accepted password for root from 127.0.0.1 port 5555 ssh2 [preauth]"))
        XCTAssertNil(line("<38>Nov 29 01:41:29 sshd[1]: Accepted publickey for root from 127.0.0.1 port 5555 ssh2: ED25519 SHA256:x [preauth]"))
        XCTAssertEqual(line("Failed password for root from 127.0.0.1 port 5555 ssh2 [preauth]")?.result, .failed)
    }

    /// How sshd prints an address (getnameinfo, IPv4-mapped ones normalised to IPv4) against how the
    /// kernel's record is written (RFC 5952, IPv4-mapped as ::ffff:a.b.c.d).
    func testAddressForms() {
        func clean(_ address: String, _ logged: String) -> Bool {
            line("Failed password for u from \(logged) port 7 ssh2", Endpoint(address: address, port: 7))?.addrMismatch == false
        }
        XCTAssertTrue(clean("::ffff:10.1.2.3", "10.1.2.3"), "sshd normalises IPv4-mapped addresses")
        XCTAssertTrue(clean("::ffff:10.1.2.3", "::ffff:10.1.2.3"))
        XCTAssertFalse(clean("::ffff:10.1.2.3", "10.1.2.4"))
        XCTAssertTrue(clean("2001:db8::1", "2001:db8::1"))
        XCTAssertFalse(clean("2001:db8::1", "2001:db8:0::1"), "only the text sshd writes")
        XCTAssertFalse(clean("2001:db8::1", "2001:DB8::1"))
        XCTAssertTrue(clean("fe80::1", "fe80::1%eth0"), "a scoped address with its zone")
        XCTAssertFalse(clean("fe80::1", "fe80::1%"))
        XCTAssertFalse(clean("10.1.2.3", "10.1.2.3%eth0"))
        XCTAssertTrue(clean("::102:304", "::1.2.3.4"), "glibc writes an IPv4-compatible address dotted")
        XCTAssertTrue(clean("::1", "::1"))
        XCTAssertFalse(clean("::1", "::0.0.0.1"))
        XCTAssertFalse(clean("127.0.0.1", "127.0.0.01"))
        XCTAssertEqual(line("Invalid user x from ::1 port 9", Endpoint(address: "::1", port: 9)), AuthLine(result: .invalidUser, user: "x"))
        XCTAssertEqual(line("Connection closed by invalid user x fe80::1%eth0 port 9 [preauth]", Endpoint(address: "fe80::1", port: 9)),
                       AuthLine(result: .disconnected, user: "x"))
    }

    /// The kernel keeps 512 bytes of a log line: a cut line is still read, flagged, and nothing is
    /// taken from the part that may be cut.
    func testCutLineIsFlaggedNotLost() {
        XCTAssertEqual(line("Accepted publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(fp("L")) ID aaaaaaaa"),
                       AuthLine(result: .accepted, user: "sa_alice", method: "publickey", keyType: "ED25519-CERT",
                                keyFingerprint: fp("L"), addrMismatch: true))
        XCTAssertEqual(line("Accepted publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519 SHA256:le"),
                       AuthLine(result: .accepted, user: "sa_alice", method: "publickey", addrMismatch: true))
    }

    // MARK: - Who logged in: certificates, several factors, connection outcomes

    /// A certificate login as OpenSSH 9.2 logged it (the integration test's CA, key ID and serial):
    /// the key ID, serial and CA are the identity.
    func testCertificateIdentity() {
        let text = "Accepted publickey for sa_alice from 127.0.0.1 port 43756 ssh2: ED25519-CERT SHA256:5eaZedlr0WKBs4D3buLJwmfUwzGGvSDApv1RoShOPDI ID alice@corp.example (serial 4711) CA ED25519 SHA256:+GjYhP0E0heCZw7lF7UhKx2zhY0y82br2/xqhzSwQYk\r\n"
        XCTAssertEqual(line(text, Endpoint(address: "127.0.0.1", port: 43756)),
                       AuthLine(result: .accepted, user: "sa_alice", method: "publickey", keyType: "ED25519-CERT",
                                keyFingerprint: "SHA256:5eaZedlr0WKBs4D3buLJwmfUwzGGvSDApv1RoShOPDI",
                                certificate: .init(id: "alice@corp.example", serial: "4711", caKeyType: "ED25519",
                                                   caFingerprint: "SHA256:+GjYhP0E0heCZw7lF7UhKx2zhY0y82br2/xqhzSwQYk")))
        // Its "Accepted certificate ID … signed by … via FILE" line (VERBOSE) is no attempt.
        XCTAssertNil(line(#"Accepted certificate ID "alice@corp.example" (serial 4711) signed by ED25519 CA SHA256:+GjYhP0E0heCZw7lF7UhKx2zhY0y82br2/xqhzSwQYk via /run/sshaudit-test/authid-cert/ca.pub"#))
        // The largest serial (%llu) is kept exactly; a CA sshd could not fingerprint is "(null)".
        XCTAssertEqual(line("Accepted publickey for u from 127.0.0.1 port 5555 ssh2: RSA-CERT \(fp("r")) ID x (serial 18446744073709551615) CA RSA (null)")?.certificate,
                       .init(id: "x", serial: "18446744073709551615", caKeyType: "RSA", caFingerprint: nil))
        XCTAssertEqual(line("Failed publickey for u from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(fp("r")) ID x (serial 2) CA ED25519 \(fp("c"))")?.certificate?.id,
                       "x", "a refused certificate keeps its identity too")
    }

    /// The key ID is the requester's text. sshd writes control characters in it as octal escapes;
    /// a key ID that imitates the certificate's tail is either impossible to read another way (what
    /// follows must end the line) or reads two ways: then the certificate is not kept, and the row is
    /// flagged.
    func testCertificateKeyIDCannotMoveTheSerialOrTheCA() {
        let prefix = "Accepted publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519-CERT \(fp("L")) ID "
        // As sshd 9.2 wrote the integration test's key ID (VIS_SAFE | VIS_OCTAL: BEL and TAB stay raw).
        let escaped = #"\033[2J\033]0;owned"# + "\u{07}" + #"\302\23331m\342\200\256x"# + "\ty"
        XCTAssertEqual(line(prefix + escaped + " (serial 9) CA ED25519 \(fp("c"))")?.certificate,
                       .init(id: escaped, serial: "9", caKeyType: "ED25519", caFingerprint: fp("c")))
        XCTAssertEqual(line(prefix + "x (serial 5) CA ED25519 \(fp("f")) (serial 9) CA ED25519 \(fp("c"))")?.certificate,
                       .init(id: "x (serial 5) CA ED25519 \(fp("f"))", serial: "9", caKeyType: "ED25519", caFingerprint: fp("c")))
        let twoWays = line(prefix + "x (serial 5) CA ED25519 \(fp("f")), y (serial 9) CA ED25519 \(fp("c"))")
        XCTAssertNil(twoWays?.certificate)
        XCTAssertEqual(twoWays?.keyFingerprint, fp("L"), "what both readings agree on stays")
        XCTAssertEqual(twoWays?.addrMismatch, true)
    }

    /// `AuthenticationMethods publickey,password`: sshd logs the first factor as "Partial" (at VERBOSE
    /// for a key, INFO for a password) and the last as "Accepted".
    func testPartialFactors() {
        XCTAssertEqual(line("Partial publickey for sa_alice from 127.0.0.1 port 5555 ssh2: ED25519 \(fp("k"))\r\n"),
                       AuthLine(result: .partial, user: "sa_alice", method: "publickey", keyType: "ED25519", keyFingerprint: fp("k")))
        XCTAssertEqual(line("Partial keyboard-interactive/pam for sa_alice from 127.0.0.1 port 5555 ssh2")?.methodText,
                       "keyboard-interactive/pam")
        XCTAssertNil(line("Partial publickey for root from 127.0.0.1 port 5555 ssh2: ED25519 \(fp("k")) [preauth]"),
                     "only the monitor decides a factor")
        XCTAssertNil(line("Postponed keyboard-interactive/pam for sa_alice from 127.0.0.1 port 5555 ssh2 [preauth]"))
    }

    /// Facts of the connection, not attempts.
    func testTooManyFailures() {
        XCTAssertEqual(line("Disconnecting authenticating user sa_bob 127.0.0.1 port 5555: Too many authentication failures [preauth]\r\n"),
                       AuthLine(result: .tooManyFailures, user: "sa_bob"))
        XCTAssertEqual(line("Disconnecting invalid user a b 127.0.0.1 port 5555: Too many authentication failures [preauth]"),
                       AuthLine(result: .tooManyFailures, user: "a b"))
        XCTAssertEqual(line("Disconnecting invalid user x 10.9.8.7 port 5555: Too many authentication failures [preauth]"),
                       AuthLine(result: .tooManyFailures, user: "x", addrMismatch: true))
        XCTAssertNil(line("Disconnecting 127.0.0.1 port 5555: Too many authentication failures"))
        for result: AuthLine.Result in [.invalidUser, .disconnected, .tooManyFailures] { XCTAssertFalse(result.isAttempt) }
        for result: AuthLine.Result in [.accepted, .failed, .partial] { XCTAssertTrue(result.isAttempt) }
    }
}
