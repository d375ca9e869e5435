import XCTest
@testable import SSHAuditCore

final class SSHDLogOptionsTests: XCTestCase {
    func options(_ words: String) -> SSHDLogOptions {
        SSHDLogOptions(arguments: words.split(separator: " ").map(String.init))
    }

    func testReadsWhereSSHDLogsAsGetoptDoes() {
        XCTAssertEqual(options("/usr/sbin/sshd -D"), SSHDLogOptions())
        XCTAssertEqual(options("/usr/sbin/sshd -D -E /var/log/sshd.log"), SSHDLogOptions(logFile: "/var/log/sshd.log"))
        XCTAssertEqual(options("/usr/sbin/sshd -DE/var/log/a -E b.log"), SSHDLogOptions(logFile: "b.log"), "attached, last wins")
        XCTAssertEqual(options("/usr/sbin/sshd -De"), SSHDLogOptions(stderr: true))
        XCTAssertEqual(options("/usr/sbin/sshd -d -p 22"), SSHDLogOptions(stderr: true))
        XCTAssertEqual(options("/usr/sbin/sshd -e -E /x"), SSHDLogOptions(logFile: "/x"), "-E wins over -e")
        // An option's argument is not an option: "-e" after -o, -f or -c is a value.
        XCTAssertEqual(options("/usr/sbin/sshd -o -e -f -E -D"), SSHDLogOptions())
        XCTAssertEqual(options("/usr/sbin/sshd -oLogLevel=e -D -R"), SSHDLogOptions())
        XCTAssertEqual(options("/usr/sbin/sshd -D -- -e"), SSHDLogOptions(), "-- ends the options")
        XCTAssertEqual(options("/usr/sbin/sshd -D -E"), SSHDLogOptions(), "-E without its argument")
    }

    func testArgvFromAListenersProcessTitle() {
        XCTAssertEqual(SSHDLogOptions.argv(fromTitle: ["sshd: /usr/sbin/sshd -D -E /var/log/sshd.log [listener] 0 of 10-100 startups"]),
                       ["/usr/sbin/sshd", "-D", "-E", "/var/log/sshd.log"])
        XCTAssertEqual(SSHDLogOptions.argv(fromTitle: ["/usr/sbin/sshd", "-D", "-e"]), ["/usr/sbin/sshd", "-D", "-e"])
        XCTAssertEqual(SSHDLogOptions(arguments: SSHDLogOptions.argv(fromTitle: ["sshd: /usr/sbin/sshd -De [listener] 1 of 10-100 startups"])),
                       SSHDLogOptions(stderr: true))
    }
}
