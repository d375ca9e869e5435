import Foundation
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// A link made to a sensitive file is sensitive too, its target read from the link's directory when
/// it is relative: `ln -s ../../etc/shadow /tmp/a/l` before `chmod 644 /tmp/a/l` (the chmod names the
/// link, as the call does).
final class SensitivePathsTests: XCTestCase {
    func testRelativeTargetsAreReadFromTheLinksDirectory() {
        XCTAssertEqual(SensitivePaths.linkTarget(path: "/tmp/a/l", target: "../../etc/shadow"), "/etc/shadow")
        XCTAssertEqual(SensitivePaths.linkTarget(path: "/tmp/a/l", target: "./b/../c"), "/tmp/a/c")
        XCTAssertEqual(SensitivePaths.linkTarget(path: "/l", target: "../../../root/.ssh//authorized_keys"), "/root/.ssh/authorized_keys")
        XCTAssertNil(SensitivePaths.linkTarget(path: "/tmp/a/l", target: "/etc/shadow"), "absolute: the new path itself")
    }

    /// The directories on the way to a sensitive file are sensitive: `mv ~/.ssh ~/.ssh.o; mv /tmp/s
    /// ~/.ssh` plants a whole authorized_keys at once; so does a mount over /etc.
    func testTheDirectoriesAboveASensitivePathAreSensitive() {
        let globs = SensitivePaths.expanded(["/etc/cron.d/*", "*/.ssh/authorized_keys*", "/root", "*/.bashrc"])
        XCTAssertEqual(globs, ["/etc", "/etc/cron.d", "/etc/cron.d/*", "*/.ssh", "*/.ssh/authorized_keys*", "/root", "*/.bashrc"],
                       "no glob of wildcards alone (it would match every path)")
        for path in ["/home/u/.ssh", "/etc", "/etc/cron.d"] { XCTAssertTrue(SensitivePaths.matches(path, globs), path) }
        for path in ["/home/u", "/tmp/s", "/etc/hostname", "/etc/cron.daily"] { XCTAssertFalse(SensitivePaths.matches(path, globs), path) }
    }

    func testALinkToASensitiveFileIsSensitiveInSwiftAndInSQL() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "sensitive-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t0: Int64 = 1_795_917_299_123_000_000
        let store = try AuditStore.openForRecording(path: dir + "/audit.db")
        func row(_ id: Int64, _ op: FileOperation, _ path: String, _ newPath: String?) -> CorrelatorOutput {
            .fileActivity(FileActivityRecord(id: id, sessionID: 1, commandID: nil, pid: 4242, uid: 1000, op: op, path: path,
                                             newPath: newPath, firstAtNs: t0 + id, lastAtNs: t0 + id, count: 1))
        }
        try store.write([
            .session(SessionRecord(id: 1, sshdPid: 4001, sshdStartNs: 78, startedAtNs: t0)),
            row(1, .symlink, "/tmp/a/l", "../../etc/shadow"),
            row(2, .symlink, "/tmp/a/m", "../notes.txt"),
            row(3, .chmod, "/tmp/a/l", nil),
            row(4, .symlink, "/tmp/k", "/root/.ssh/authorized_keys"),
            row(5, .rename, "/tmp/a/x", "../../etc/shadow"),  // not a link: a new path is a path already
            row(6, .rename, "/tmp/s", "/home/alice/.ssh"),
            row(7, .mount, "/etc", "/tmp/fakeetc"),
            row(8, .mkdir, "/home/alice/notes", nil),
        ])
        let reader = try AuditReader(path: dir + "/audit.db")
        let all = try reader.fileActivity(QueryFilter())
        XCTAssertEqual(all.count, 8)
        let inSwift = all.filter { SensitivePaths.matches($0, SensitivePaths.defaults) }.map(\.id)
        let inSQL = try reader.fileActivity(QueryFilter(), FileActivityFilter(sensitive: SensitivePaths.defaults)).map(\.id)
        XCTAssertEqual(inSwift.sorted(), [1, 4, 6, 7])
        XCTAssertEqual(inSQL.sorted(), [1, 4, 6, 7], "the query's clause says what show and the fleet report say")
    }
}
