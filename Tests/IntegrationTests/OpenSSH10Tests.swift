import XCTest

/// OpenSSH 10.0 (Debian 13): sshd-session and sshd-auth binaries, PAM's unix_chkpwd.
final class OpenSSH10Tests: XCTestCase {
    let suite = OpenSSHTreeSuite(suite: "trixie", root: "/var/lib/sshaudit-test/trixie", versionPrefix: "OpenSSH_10.",
                                 sshdPath: "/usr/lib/openssh/sshd-session", name: "ossh10", basePort: 22350)

    override func setUpWithError() throws { try suite.ensureTree() }
    func testCommandSessionAndPublickey() throws { try suite.commandSessionAndPublickey() }
    func testInteractiveSession() throws { try suite.interactiveSession() }
    func testPasswordsFailedThenAcceptedAndInvalidUser() throws { try suite.passwordsFailedThenAcceptedAndInvalidUser() }
}
