import Foundation
import XCTest
@testable import SSHAuditCore

final class ProcScanTests: XCTestCase {
    func entry(_ pid: UInt32, _ ppid: UInt32, _ comm: String, _ cmdline: String = "") -> ProcEntry {
        ProcEntry(pid: pid, ppid: ppid, comm: comm, cmdline: cmdline, exe: nil)
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

    func testReadsAProcDirectory() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "procscan-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/77", withIntermediateDirectories: true)
        try "77 (sshd) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0".write(
            toFile: "\(root)/77/stat", atomically: true, encoding: .utf8)
        try Data("sshd: /usr/sbin/sshd -D [listener]\0\0\0".utf8).write(to: URL(fileURLWithPath: "\(root)/77/cmdline"))
        try FileManager.default.createDirectory(atPath: "\(root)/self", withIntermediateDirectories: true)
        XCTAssertEqual(ProcScan.processes(root: root),
                       [ProcEntry(pid: 77, ppid: 1, comm: "sshd", cmdline: "sshd: /usr/sbin/sshd -D [listener]", exe: nil)])
    }
}
