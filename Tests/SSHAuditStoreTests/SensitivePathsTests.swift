import Foundation
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// A link made to a sensitive file is sensitive too, its target read from the link's directory when
/// it is relative: `ln -s ../../etc/shadow /tmp/a/l` before `chmod 644 /tmp/a/l` (the chmod names the
/// link, as the call does).
final class SensitivePathsTests: XCTestCase {
    var directories: [String] = []
    override func tearDown() {
        for dir in directories { try? FileManager.default.removeItem(atPath: dir) }
        super.tearDown()
    }

    /// A database of one session's file rows (id, op, path, new path), read back.
    func storeOfFileRows(_ rows: [(Int64, FileOperation, String, String?)]) throws -> AuditReader {
        let dir = FileManager.default.temporaryDirectory.appending(path: "sensitive-\(UUID().uuidString)").path
        directories.append(dir)
        let t0: Int64 = 1_795_917_299_123_000_000
        let store = try AuditStore.openForRecording(path: dir + "/audit.db")
        try store.write([.session(SessionRecord(id: 1, sshdPid: 4001, sshdStartNs: 78, startedAtNs: t0))] + rows.map { id, op, path, newPath in
            .fileActivity(FileActivityRecord(id: id, sessionID: 1, commandID: nil, pid: 4242, uid: 1000, op: op, path: path,
                                             newPath: newPath, firstAtNs: t0 + id, lastAtNs: t0 + id, count: 1))
        })
        return try AuditReader(path: dir + "/audit.db")
    }

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
        let reader = try storeOfFileRows([
            (1, .symlink, "/tmp/a/l", "../../etc/shadow"),
            (2, .symlink, "/tmp/a/m", "../notes.txt"),
            (3, .chmod, "/tmp/a/l", nil),
            (4, .symlink, "/tmp/k", "/root/.ssh/authorized_keys"),
            (5, .rename, "/tmp/a/x", "../../etc/shadow"),  // not a link: a new path is a path already
            (6, .rename, "/tmp/s", "/home/alice/.ssh"),
            (7, .mount, "/etc", "/tmp/fakeetc"),
            (8, .mkdir, "/home/alice/notes", nil),
        ])
        let all = try reader.fileActivity(QueryFilter())
        XCTAssertEqual(all.count, 8)
        let inSwift = all.filter { SensitivePaths.matches($0, SensitivePaths.defaults) }.map(\.id)
        let inSQL = try reader.fileActivity(QueryFilter(), FileActivityFilter(sensitive: SensitivePaths.defaults)).map(\.id)
        XCTAssertEqual(inSwift.sorted(), [1, 4, 6, 7])
        XCTAssertEqual(inSQL.sorted(), [1, 4, 6, 7], "the query's clause says what show and the fleet report say")
    }

    /// Ways to name a sensitive place that its text hides: an absolute target or source spelled with
    /// `//` or `..`, a link to the root itself, a path through the kernel's own links (/proc/self/root,
    /// /proc/PID/cwd, /dev/fd/N), and a path cut short by the kernel's bounds ("…": its real place is
    /// unknown). Swift and SQL agree on each, also for a bracket expression SQLite's GLOB reads
    /// otherwise than fnmatch(3).
    func testSpellingsThatHideASensitivePlaceAreCaught() throws {
        let long = "/tmp/" + String(repeating: "x", count: 506) + "…"
        let reader = try storeOfFileRows([
            (1, .symlink, "/tmp/c", "/etc//cron.d"),
            (2, .symlink, "/tmp/s", "/tmp/../etc/./shadow"),
            (3, .symlink, "/tmp/r", "/"),
            (4, .symlink, "/tmp/r2", ".."),
            (5, .mount, "/mnt/x", "/etc//cron.d"),
            (6, .rename, "/tmp/job", "/proc/self/root/etc/cron.d/job"),
            (7, .rename, "/tmp/k", "/dev/fd/3/authorized_keys"),
            (8, .chmod, "/proc/4242/cwd/shadow", nil),
            (9, .rename, "/tmp/j", "/proc/1/task/1/root/etc/passwd"),
            (10, .symlink, "/tmp/l", long),
            (11, .rename, "…/d/d/evil", "/tmp/evil"),
            (12, .rename, "/tmp/a", "/var/run/systemd/system/x.service"),
            (13, .create, "/home/u/.ssh/rc", nil),
            // Not sensitive: ordinary files, /proc's other files, an attribute's name, a mount of a device.
            (20, .rename, "/tmp/a", "/tmp/b"),
            (21, .write, "/proc/sys/kernel/core_pattern2", nil),
            (22, .setxattr, "/tmp/f", "/"),
            (23, .mount, "/mnt/usb", "/dev/sdb1"),
            (24, .symlink, "/tmp/n", "notes/../todo"),
            (25, .write, "/home/u/devfd/3", nil),
        ])
        let all = try reader.fileActivity(QueryFilter())
        XCTAssertEqual(all.count, 19)
        let sensitive: [Int64] = Array(1...13)
        XCTAssertEqual(all.filter { SensitivePaths.matches($0, SensitivePaths.defaults) }.map(\.id).sorted(), sensitive)
        XCTAssertEqual(try reader.fileActivity(QueryFilter(), FileActivityFilter(sensitive: SensitivePaths.defaults)).map(\.id).sorted(),
                       sensitive, "the query's clause is the Matcher's own answer")

        // fnmatch's "[!x]" is a negation; SQLite's GLOB would read "!" as a character of the set.
        let custom = ["/etc/cron.[!x]*"]
        let inSwift = all.filter { SensitivePaths.matches($0, custom) }.map(\.id).sorted()
        XCTAssertEqual(try reader.fileActivity(QueryFilter(), FileActivityFilter(sensitive: custom)).map(\.id).sorted(), inSwift)
        XCTAssertTrue(inSwift.contains(1) && inSwift.contains(5), "\(inSwift)")

        // The report lists the first --top and says how many there are: 13, not the 5 it shows.
        let sensitiveFilter = FileActivityFilter(sensitive: SensitivePaths.defaults)
        XCTAssertEqual(try reader.fileActivity(QueryFilter(limit: 5), sensitiveFilter).map(\.id), [1, 2, 3, 4, 5])
        XCTAssertEqual(try reader.fileActivityCount(QueryFilter(limit: 5), sensitiveFilter), 13)
        XCTAssertEqual(try reader.fileActivityCount(QueryFilter(), FileActivityFilter(op: "symlink")), 6)
    }

    /// A pattern no stored path can match is refused with one line, not kept in silence.
    func testPatternsThatCanNeverMatchAreRefused() throws {
        let file = FileManager.default.temporaryDirectory.appending(path: "patterns-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        for (text, ok) in [("/etc/x\n# a comment\n*/.ssh/rc\n", true), ("~/.ssh/rc\n", false), ("etc/shadow\n", false),
                           ("/etc/sudoers.d/\n", false), ("/etc/shadow # the hashes\n", false), ("/\n", true)] {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            if ok {
                XCTAssertNoThrow(try SensitivePaths.load(file), text)
            } else {
                XCTAssertThrowsError(try SensitivePaths.load(file), text) { error in
                    XCTAssertTrue("\(error)".contains("can never match a stored path"), "\(error)")
                    XCTAssertFalse("\(error)".contains("\n"), "one line")
                }
            }
        }
    }

    /// The Matcher turns most paths down by the literal start and end of each glob before fnmatch, and
    /// skips the lexical reading of paths already read so: neither may change an answer. Every
    /// pattern (the defaults expanded, and globs with ?, brackets, escapes and literal ends) against
    /// paths that nearly match, each answer compared with fnmatch over every glob.
    func testTheMatchersShortcutsGiveFnmatchsAnswers() {
        let patterns = SensitivePaths.defaults + ["/srv/[ab]?/key", "*/x\\*y", "/opt/*/conf[!.]d", "*[", "/a]b/*", "/etc/cron.?/*", "/exact"]
        let matcher = SensitivePaths.Matcher(patterns)
        var paths = ["/", "/etc", "/etc/", "/root", "/rootx", "/x/root", "/srv/a1/key", "/srv/c1/key", "/srv/a/key", "/u/x*y",
                     "/u/x\\zy", "/opt/app/confxd", "/opt/app/conf.d", "/q[", "/a]b/c", "/etc/cron.d/job", "/etc/cron.dd/job",
                     "/exact", "/exactly", "/home/u/.ssh/authorized_keys2", "/home/u/.ssh/authorized", "/.bashrc", "/home/u/.bashrc.bak",
                     "/etc/ld.so.preload", "/etc/ld.so.preloadx", "/etc/sudoers.d", "/etc/sudoers.dx", "/usr/lib/systemd/user/a.service"]
        paths += paths.flatMap { [$0 + "/", $0 + "/x", "/x" + $0] }
        for path in paths {
            XCTAssertEqual(matcher.matchesGlob(path), SensitivePaths.matches(path, matcher.globs), path)
        }
        for path in ["/", "/a", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.", "/..", "/...", "/a/...", "/.a",
                     "/a/.b/", "/a/b..", "/a/.../b", "/a/b/c"] {
            XCTAssertEqual(SensitivePaths.isLexical(path), FilePath.lexical([], path) == path, path)
        }
    }
}
