import Foundation
import XCTest
@testable import SSHAuditCore

/// The OpenSSH 10 fixture (Debian 13's sshd in its root tree, recorded from real sshd) replayed with a
/// namespace lookup in place of /proc: the session's user is the tree's name for the uid inside,
/// else the name sshd logged as accepted, never the host's name for that uid.
final class CorrelatorNamespaceTests: XCTestCase {
    static let tree = ListenerNamespace(root: "/srv/tree", rootDevice: 8, rootInode: 42, hostRoot: false,
                                        cgroup: "/lxc.payload.box", uidMap: nil)

    final class Calls: @unchecked Sendable {
        var reads: [(UInt32, UInt64)] = []
        var names: [(UInt32, [UInt32])] = []
    }

    func replay(read: ListenerNamespace?, names: [UInt32: String]) throws -> (SessionRecord, Calls) {
        let log = try Fixture.load("openssh10_exec_command")
        let calls = Calls()
        let lookup = NamespaceLookup(read: { calls.reads.append(($0, $1)); return read },
                                     userName: { uid, _, pids in calls.names.append((uid, pids)); return names[uid] })
        var sessions: [Int64: SessionRecord] = [:]
        let correlator = Correlator(bootToWallNs: log.header.bootToWallNs, userName: { _ in "host_name" },
                                    namespaces: lookup) { if case let .session(s) = $0 { sessions[s.id] = s } }
        for (pid, path) in log.header.listeners { correlator.seedListener(pid: UInt32(pid)!, path: path) }
        for event in try log.events() { correlator.handle(event) }
        XCTAssertEqual(sessions.count, 1)
        return (try XCTUnwrap(sessions.values.first), calls)
    }

    func testTheTreesNameForTheUIDInside() throws {
        let (s, calls) = try replay(read: Self.tree, names: [1001: "tree_alice"])
        XCTAssertEqual(s.user, "tree_alice")
        XCTAssertEqual(s.uid, 1001)
        XCTAssertEqual(s.uidInside, 1001)
        XCTAssertEqual(s.root, "/srv/tree")
        XCTAssertEqual(s.cgroup, "/lxc.payload.box")
        XCTAssertEqual(s.container, "box")
        // The listener, with its start time, once per session; names through the listener and the monitor.
        XCTAssertEqual(calls.reads.map(\.0), [try XCTUnwrap(s.listenerPid)])
        XCTAssertNotEqual(calls.reads.first?.1, 0)
        XCTAssertEqual(calls.names.map(\.1), [[try XCTUnwrap(s.listenerPid), s.sshdPid]])
    }

    func testShiftedUIDs() throws {
        var ns = Self.tree
        ns.uidMap = [.init(inside: 0, outside: 0, count: 1), .init(inside: 1, outside: 1000, count: 100)]
        let (s, _) = try replay(read: ns, names: [2: "tree_two"])
        XCTAssertEqual(s.uid, 1001)
        XCTAssertEqual(s.uidInside, 2)
        XCTAssertEqual(s.user, "tree_two")
    }

    /// No entry in the tree's passwd, or the namespace unreadable (its processes gone): sshd's own
    /// `Accepted … for sa_alice`, not the host's name for uid 1001.
    func testFallsBackToTheLoggedNameNotTheHosts() throws {
        let (noEntry, _) = try replay(read: Self.tree, names: [:])
        XCTAssertEqual(noEntry.user, "sa_alice")
        XCTAssertEqual(noEntry.uidInside, 1001)
        let (unknown, _) = try replay(read: nil, names: [:])
        XCTAssertEqual(unknown.user, "sa_alice")
        XCTAssertNil(unknown.uidInside)
        XCTAssertNil(unknown.root)
        XCTAssertNil(unknown.container)
    }

    /// The host's own root: the host's passwd, as without namespaces.
    func testHostRootUsesTheHostsNames() throws {
        var ns = Self.tree
        ns.hostRoot = true
        let (s, calls) = try replay(read: ns, names: [1001: "tree_alice"])
        XCTAssertEqual(s.user, "host_name")
        XCTAssertTrue(calls.names.isEmpty)
    }
}
