import XCTest

/// OpenSSH 8.4 (Debian 11): one sshd binary re-executed per connection, no sshd-session.
final class OpenSSH8Tests: XCTestCase {
    let suite = OpenSSHTreeSuite(suite: "bullseye", root: "/var/lib/sshaudit-test/bullseye", versionPrefix: "OpenSSH_8.",
                                 sshdPath: "/usr/sbin/sshd", name: "ossh8", basePort: 22360)

    override func setUpWithError() throws { try suite.ensureTree() }
    func testCommandSessionAndPublickey() throws { try suite.commandSessionAndPublickey() }
    func testInteractiveSession() throws { try suite.interactiveSession() }
    func testPasswordsFailedThenAcceptedAndInvalidUser() throws { try suite.passwordsFailedThenAcceptedAndInvalidUser() }
}
