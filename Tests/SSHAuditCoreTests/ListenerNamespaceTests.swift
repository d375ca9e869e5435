import XCTest
@testable import SSHAuditCore

/// Parsing what /proc and a root tree's passwd say about an sshd's namespace.
final class ListenerNamespaceTests: XCTestCase {
    func testContainerIDsFromCgroupPaths() {
        let hex = String(repeating: "0123456789abcdef", count: 4)
        let cases: [(String, String?)] = [
            ("/system.slice/docker-\(hex).scope", hex),
            ("/docker/\(hex)", hex),
            ("/machine.slice/libpod-\(hex).scope/container", hex),
            ("/libpod-\(hex)", hex),
            ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-\(hex).scope", hex),
            ("/kubepods/besteffort/pod0a1b/\(hex)", hex),
            ("/system.slice/crio-\(hex).scope", hex),
            ("/lxc.payload.web-01", "web-01"),
            ("/lxc.payload.web-01/system.slice/ssh.service", "web-01"),
            ("/lxc/old-box", "old-box"),
            ("/system.slice/ssh.service", nil),
            ("/user.slice/user-1000.slice/session-3.scope", nil),
            ("/docker/not-hex", nil),
            ("/system.slice/docker-\(hex.dropLast()).scope", nil),
            ("/\(hex)", nil),  // 64 hex digits alone, outside kubepods: not a container
            ("/lxc.payload.\u{1b}[2J", nil),
            ("/", nil),
        ]
        for (path, want) in cases { XCTAssertEqual(ContainerID.from(path), want, path) }
    }

    func testCgroupPathUnifiedFirstUnlessAV1PathNamesAContainer() {
        XCTAssertEqual(ListenerNamespace.parseCgroup("0::/system.slice/ssh.service\n"), "/system.slice/ssh.service")
        let hex = String(repeating: "ab", count: 32)
        let hybrid = "9:name=systemd:/\n4:memory:/docker/\(hex)\n0::/\n"
        XCTAssertEqual(ListenerNamespace.parseCgroup(hybrid), "/docker/\(hex)")
        XCTAssertEqual(ListenerNamespace.parseCgroup("4:memory:/a\n0::/b\n"), "/b")
        XCTAssertNil(ListenerNamespace.parseCgroup(""))
    }

    func testUIDMap() {
        XCTAssertNil(ListenerNamespace.parseUIDMap("         0          0 4294967295\n"), "the initial namespace")
        let map = ListenerNamespace.parseUIDMap("0 0 1\n1 100001 65535\n")
        let ns = ListenerNamespace(root: "/srv/c", rootDevice: 1, rootInode: 2, hostRoot: false, cgroup: nil, uidMap: map)
        XCTAssertEqual(ns.insideUID(0), 0)
        XCTAssertEqual(ns.insideUID(101_003), 1003)
        XCTAssertNil(ns.insideUID(1003), "not mapped inside")
        XCTAssertNil(ns.insideUID(165_536))
        let host = ListenerNamespace(root: "/", rootDevice: 1, rootInode: 2, hostRoot: true, cgroup: nil, uidMap: nil)
        XCTAssertEqual(host.insideUID(1003), 1003)
    }

    func testPasswdAsHostileText() {
        let text = "root:x:0:0:root:/root:/bin/bash\nbad line\n:x:5:5::/:/bin/sh\nevil\u{1b}[2J:x:1000:1000::/h:/bin/sh\n"
            + "carol:x:1000:1000::/home/carol:/bin/bash\n" + String(repeating: "n", count: 300) + ":x:7:7::/:/bin/sh\n"
            + "big:x:99999999999:1::/:/bin/sh\n"
        let bytes = Array(text.utf8)[...]
        XCTAssertEqual(PasswdText.name(of: 0, in: bytes), "root")
        XCTAssertEqual(PasswdText.name(of: 1000, in: bytes), "evil\u{1b}[2J", "the first entry of a uid, as getpwuid")
        XCTAssertNil(PasswdText.name(of: 5, in: bytes), "empty name")
        XCTAssertNil(PasswdText.name(of: 7, in: bytes), "a name longer than the bound")
        XCTAssertNil(PasswdText.name(of: UInt32(99999999999 & 0xffff_ffff), in: bytes), "not a uid")
        XCTAssertEqual(PasswdText.name(of: 9, in: Array("one:colon\nsolo:x:9".utf8)[...]), "solo", "a last line without newline")
        // The bound's worth of the shortest lines (root inside writes it): scanned in place, line by
        // line, to the entry at the end.
        let flood = [UInt8](repeating: 0, count: PasswdText.maxBytes / 2 - 16).flatMap { _ in [UInt8(ascii: "x"), 0x0a] }
            + Array("last:x:42:0::/:/bin/sh".utf8)
        XCTAssertEqual(PasswdText.name(of: 42, in: flood[...]), "last")
    }

    /// The recorder's own process: its root is the host's, no user namespace.
    func testReadsOwnProcess() throws {
        let ns = try XCTUnwrap(NamespaceReader().read(pid: UInt32(getpid())))
        XCTAssertTrue(ns.hostRoot)
        XCTAssertEqual(ns.root, "/")
        XCTAssertNil(NamespaceReader().read(pid: 0x3fff_fff0))
    }

    /// Names come only from a regular file etc/passwd inside the root: a symbolic link (to the host's
    /// passwd, out of the root) or a FIFO (which would block the recorder) gives no name.
    func testPasswdThroughTheRootOnlyAndNoLinks() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ns-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let tree = base + "/tree", fm = FileManager.default
        try fm.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: base + "/proc/7", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: base + "/proc/7/root", withDestinationPath: tree)
        let reader = NamespaceReader(proc: base + "/proc")
        let ns = try XCTUnwrap(reader.read(pid: 7))
        XCTAssertFalse(ns.hostRoot)
        XCTAssertEqual(ns.root, tree)
        try "carol:x:0:0::/:/bin/sh\n".write(toFile: tree + "/etc/passwd", atomically: false, encoding: .utf8)
        XCTAssertEqual(reader.userName(0, in: ns, through: [7]), "carol")
        try fm.removeItem(atPath: tree + "/etc/passwd")
        try fm.createSymbolicLink(atPath: tree + "/etc/passwd", withDestinationPath: "/etc/passwd")
        XCTAssertNil(reader.userName(0, in: ns, through: [7]), "the host's passwd through a link")
        try fm.removeItem(atPath: tree + "/etc/passwd")
        XCTAssertEqual(mkfifo(tree + "/etc/passwd", 0o644), 0)
        XCTAssertNil(reader.userName(0, in: ns, through: [7]), "a FIFO")
        // A passwd of 1 GiB (sparse): read up to the bound, the name still found at its start.
        try fm.removeItem(atPath: tree + "/etc/passwd")
        try "big:x:0:0::/:/bin/sh\n".write(toFile: tree + "/etc/passwd", atomically: false, encoding: .utf8)
        XCTAssertEqual(truncate(tree + "/etc/passwd", 1 << 30), 0)
        XCTAssertEqual(reader.userName(0, in: ns, through: [7]), "big")
        // Another root behind the same pid now: refused.
        try fm.removeItem(atPath: base + "/proc/7/root")
        try fm.createSymbolicLink(atPath: base + "/proc/7/root", withDestinationPath: "/")
        XCTAssertNil(reader.userName(0, in: ns, through: [7]))
    }

    func testStartTimeFromStat() {
        let ticks = UInt64(1_000_000_000 / sysconf(Int32(_SC_CLK_TCK)))
        let stat = "12 (a) b) S 1 12 12 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 0 0"
        XCTAssertEqual(NamespaceReader.startNs(stat), 4242 * ticks)
        XCTAssertNotNil(NamespaceReader().read(pid: UInt32(getpid())), "no start time given")
        let mine = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        let started = mine.flatMap(NamespaceReader.startNs) ?? 0
        XCTAssertNotNil(NamespaceReader().read(pid: UInt32(getpid()), startNs: started + ticks))
        XCTAssertNil(NamespaceReader().read(pid: UInt32(getpid()), startNs: started + 5 * ticks), "another process behind the pid")
    }
}
