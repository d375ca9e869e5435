import Foundation
import XCTest
@testable import SSHAuditCore

final class ProcScanTests: XCTestCase {
    /// The real sshd's binary as stat shows it: owned by root, mode 0755.
    static let sshdBinary = FileStatus(identity: FileIdentity(device: 0xfe00, inode: 42), ownerUID: 0, mode: 0o100755)

    func entry(_ pid: UInt32, _ ppid: UInt32, _ comm: String, _ cmdline: String = "", uid: UInt32 = 0,
               euid: UInt32? = nil, executable: FileStatus? = ProcScanTests.sshdBinary,
               ticks: UInt64 = 0, sockets: [UInt64] = []) -> ProcEntry {
        ProcEntry(pid: pid, ppid: ppid, comm: comm, cmdline: cmdline, argv: cmdline.isEmpty ? [comm] : [cmdline],
                  exe: "/usr/bin/\(comm)", uid: uid, euid: euid ?? uid, executable: executable, startTicks: ticks,
                  socketInodes: sockets)
    }

    /// sshd -i started by a socket manager (not sshd): the real sshd holding an established
    /// connection, with no sshd parent, is a per-connection monitor, not a listener. A listener's own
    /// 9.2 monitor holds its connection too (re-executed with it on stdin), and stays a monitor; one
    /// not admitted (a user's own "sshd") is nothing.
    func testPerConnectionSSHDIsAMonitorWithoutListener() {
        let nobodys = FileStatus(identity: FileIdentity(device: 0xfe00, inode: 77), ownerUID: 65534, mode: 0o100755)
        let all = [
            entry(50, 1, "systemd-socket-"),
            entry(60, 50, "sshd", "sshd: bob [priv]", ticks: 300, sockets: [5, 21]),
            entry(61, 60, "sshd", "sshd: bob@notty", uid: 1001, ticks: 310, sockets: [21]),
            entry(62, 61, "bash", uid: 1001, ticks: 311),
            entry(70, 50, "sshd-session", "sshd-session: unknown [priv]", ticks: 400, sockets: [22]),
            entry(100, 1, "sshd", "sshd: /usr/sbin/sshd -D [listener] 1 of 10-100 startups", ticks: 10, sockets: [3]),
            entry(200, 100, "sshd", "sshd: alice [priv]", ticks: 500, sockets: [23]),
            entry(80, 50, "sshd", "sshd: root [priv]", uid: 65534, executable: nobodys, sockets: [24]),
            entry(90, 1, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", sockets: [4]),
        ]
        var connections: [UInt64: (local: Endpoint, remote: Endpoint)] = [:]
        for (inode, port) in [(21, 50_001), (22, 50_002), (23, 50_003), (24, 50_004)] as [(UInt64, UInt16)] {
            connections[inode] = (Endpoint(address: "127.0.0.1", port: 22), Endpoint(address: "10.0.0.7", port: port))
        }
        let tree = ProcScan.sshdTree(all, connections: connections)
        XCTAssertEqual(tree.perConnection.map(\.pid), [60, 70])
        XCTAssertEqual(tree.listeners.map(\.pid), [100, 90])
        XCTAssertEqual(SSHDCensus(tree), SSHDCensus(listeners: 2, perConnection: 2))
        let seeds = SessionRecovery.sessions(in: tree, connections: connections, ticksToWallNs: { Int64($0) })
        XCTAssertEqual(seeds.map(\.monitor.pid), [200, 60, 70])
        XCTAssertEqual(seeds.map(\.listenerPid), [100, nil, nil])
        XCTAssertEqual(seeds.map { $0.remote?.port }, [50_003, 50_001, 50_002])
        XCTAssertEqual(seeds[1].uid, 1001)
        XCTAssertEqual(seeds[1].processes.map(\.role), [.userChild, .user])
        // Without the connection table nothing is taken for per-connection (as before).
        XCTAssertEqual(ProcScan.sshdTree(all).perConnection, [])
        XCTAssertEqual(SSHDCensus(listeners: 0, perConnection: 0).summary.hasPrefix("no sshd running"), true)
    }

    func testRebuildsOpenSessionsFromTitlesUidsAndSockets() {
        let all = [
            entry(100, 1, "sshd", "sshd: /usr/sbin/sshd -D [listener] 1 of 10-100 startups", ticks: 10),
            entry(200, 100, "sshd", "sshd: alice [priv]", ticks: 500, sockets: [7, 9]),
            entry(201, 200, "sshd", "sshd: alice@pts/0", uid: 1000, ticks: 520, sockets: [9]),
            entry(202, 201, "bash", uid: 1000, ticks: 521),
            entry(203, 202, "vim", uid: 1000, ticks: 600),
            entry(204, 200, "sh", "sh -c run-parts /etc/update-motd.d", ticks: 510),
            entry(300, 100, "sshd-session", "sshd-session: unknown [priv]", ticks: 700, sockets: [11]),
            entry(301, 300, "sshd-auth", "sshd-auth: unknown [net]", uid: 101, ticks: 701),
        ]
        let connections: [UInt64: (local: Endpoint, remote: Endpoint)] = [
            9: (Endpoint(address: "127.0.0.1", port: 22), Endpoint(address: "10.0.0.5", port: 50_000)),
            11: (Endpoint(address: "::1", port: 22), Endpoint(address: "::1", port: 40_000)),
        ]
        let seeds = SessionRecovery.sessions(in: ProcScan.sshdTree(all), connections: connections,
                                             ticksToWallNs: { Int64($0) * 10_000_000 })
        XCTAssertEqual(seeds.count, 2)
        let alice = seeds[0]
        XCTAssertEqual(alice.monitor.pid, 200)
        XCTAssertEqual(alice.uid, 1000)
        XCTAssertEqual(alice.remote, EndpointSeed(Endpoint(address: "10.0.0.5", port: 50_000)))
        XCTAssertEqual(alice.authenticatedAtNs, 5_200_000_000)
        XCTAssertEqual(alice.processes.map(\.pid), [204, 201, 202, 203])
        XCTAssertEqual(alice.processes.map(\.role), [.helper, .userChild, .user, .user])
        let unauthenticated = seeds[1]
        XCTAssertNil(unauthenticated.uid)
        XCTAssertEqual(unauthenticated.processes.map(\.role), [.preauth])
        XCTAssertEqual(unauthenticated.remote?.port, 40_000)

        // Seeded into the correlator: the session, its running commands, adopted at their first events.
        var outputs: [CorrelatorOutput] = []
        let c = Correlator(bootToWallNs: 0, userName: { $0 == 1000 ? "alice" : nil }) { outputs.append($0) }
        for seed in seeds { c.seedSession(seed) }
        let vimKey = ProcessKey(tgid: 203, startNs: 6_000_000_000)
        c.handle(Event(process: vimKey, ppid: 202, uid: 1000, timestampNs: 9_000_000_000, comm: "vim", kind: .exit(status: 0)))
        let commands = outputs.compactMap { if case let .command(x) = $0 { return x } else { return nil } }
        XCTAssertEqual(commands.map(\.argv), [["bash"], ["vim"], ["vim"]])
        XCTAssertTrue(commands.allSatisfy(\.recovered))
        XCTAssertEqual(commands[1].parentID, commands[0].id)
        XCTAssertEqual(commands.last?.endedAtNs, 9_000_000_000)
        XCTAssertEqual(commands.last?.exitCode, 0)
        let sessions = outputs.compactMap { if case let .session(x) = $0 { return x } else { return nil } }
        XCTAssertEqual(sessions.first?.user, "alice")
        XCTAssertEqual(sessions.first?.recovered, true)
        XCTAssertEqual(sessions.first?.commandCount, 2)
    }

    func testReadsTCPTable() {
        XCTAssertEqual(ProcScan.endpoint(hex: "0100007F:0016"), Endpoint(address: "127.0.0.1", port: 22))
        XCTAssertEqual(ProcScan.endpoint(hex: "00000000000000000000000001000000:D431"), Endpoint(address: "::1", port: 54321))
        XCTAssertNil(ProcScan.endpoint(hex: "zz:1"))
    }

    func testFindsListenersAndEverythingBelowThem() {
        let all = [
            entry(1, 0, "init"),
            entry(100, 1, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
            entry(200, 100, "sshd", "sshd: alice [priv]"),
            entry(201, 200, "sshd", "sshd: alice@pts/0"),
            entry(202, 201, "bash"),
            entry(203, 202, "vim"),
            entry(300, 1, "sshd-harness.sh"),  // not an sshd
            entry(400, 1, "cron"),
            entry(500, 1, "sshd", "sshd -D -p 2222"),  // a second listener
        ]
        let tree = ProcScan.sshdTree(all)
        XCTAssertEqual(tree.listeners.map(\.pid).sorted(), [100, 500])
        XCTAssertEqual(tree.descendants.map(\.pid).sorted(), [200, 201, 202, 203])
    }

    /// Only root running a file only root controls is sshd: a program named sshd proves nothing.
    func testOnlyTheRealSSHDIsAListener() {
        let mine = FileStatus(identity: FileIdentity(device: 0xfe00, inode: 77), ownerUID: 65534, mode: 0o100755)
        let groupWritable = FileStatus(identity: FileIdentity(device: 0xfe00, inode: 78), ownerUID: 0, mode: 0o100775)
        let otherWritable = FileStatus(identity: FileIdentity(device: 0xfe00, inode: 79), ownerUID: 0, mode: 0o100757)
        let otherBinary = FileStatus(identity: FileIdentity(device: 0xfe00, inode: 80), ownerUID: 0, mode: 0o100755)
        let all = [
            entry(1, 0, "init"),
            entry(100, 1, "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
            entry(101, 100, "sshd", "sshd: alice [priv]"),
            entry(200, 1, "sshd", uid: 65534, executable: mine),           // a user's own program
            entry(201, 200, "sshd", uid: 65534, executable: mine),         // … and its "monitor"
            entry(300, 1, "sshd", uid: 65534, executable: ProcScanTests.sshdBinary),  // the real binary, not root
            entry(400, 1, "sshd", uid: 1000, euid: 0, executable: ProcScanTests.sshdBinary),  // setuid: real uid not 0
            entry(500, 1, "sshd", executable: groupWritable),
            entry(600, 1, "sshd", executable: otherWritable),
            entry(700, 1, "sshd", executable: nil),                         // exe not readable
            { var unreadable = entry(800, 1, "sshd"); unreadable.euid = nil; return unreadable }(),  // uids not readable
            entry(900, 1, "sshd", executable: otherBinary),
        ]
        var any = ProcScan.sshdTree(all)
        XCTAssertEqual(any.listeners.map(\.pid).sorted(), [100, 900])
        XCTAssertEqual(any.descendants.map(\.pid), [101])
        any = ProcScan.sshdTree(all, trust: ListenerTrust(binaries: [ProcScanTests.sshdBinary.identity]))
        XCTAssertEqual(any.listeners.map(\.pid), [100], "--sshd pins the binary")
    }

    func testKernelDeviceEncoding() {
        // 254:0 (st_dev 0xfe00) is 254 << 20 in the kernel; large majors and minors keep their bits.
        XCTAssertEqual(FileIdentity(device: 0xfe00, inode: 1).kernelDevice, 254 << 20)
        XCTAssertEqual(FileIdentity(device: 0x0803, inode: 1).kernelDevice, 8 << 20 | 3)
        let dev: UInt64 = (0x123 & 0xfff) << 8 | (0x1234 & 0xff) | (0x1234 & ~0xff) << 12  // makedev(0x123, 0x1234)
        XCTAssertEqual(FileIdentity(device: dev, inode: 1).kernelDevice, 0x123 << 20 | 0x1234)
    }

    /// On btrfs, stat's st_dev names the subvolume: the superblock's device comes from the mount table.
    func testSuperblockDeviceFromTheMountTable() {
        XCTAssertEqual(MountTable.mountID(fdinfo: "pos:\t0\nflags:\t0100000\nmnt_id:\t31\nino:\t258\n"), 31)
        XCTAssertNil(MountTable.mountID(fdinfo: "pos:\t0\n"))
        let mountinfo = """
            22 27 0:21 / /proc rw,relatime - proc proc rw
            27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
            31 27 0:35 /@home /home rw,relatime shared:5 - btrfs /dev/vdb rw,subvol=/@home
            """
        XCTAssertEqual(MountTable.device(ofMount: 27, mountinfo: mountinfo), 254 << 20)
        XCTAssertEqual(MountTable.device(ofMount: 31, mountinfo: mountinfo), 35)
        XCTAssertNil(MountTable.device(ofMount: 99, mountinfo: mountinfo))
    }

    func testReadsAProcDirectory() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "procscan-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/77", withIntermediateDirectories: true)
        try "77 (sshd) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0".write(
            toFile: "\(root)/77/stat", atomically: true, encoding: .utf8)
        try Data("sshd: /usr/sbin/sshd -D [listener]\0\0\0".utf8).write(to: URL(fileURLWithPath: "\(root)/77/cmdline"))
        try FileManager.default.createDirectory(atPath: "\(root)/self", withIntermediateDirectories: true)
        XCTAssertEqual(ProcScan.processes(root: root),
                       [ProcEntry(pid: 77, ppid: 1, comm: "sshd", cmdline: "sshd: /usr/sbin/sshd -D [listener]",
                                  argv: ["sshd: /usr/sbin/sshd -D [listener]"], startTicks: 12345)])
    }
}
