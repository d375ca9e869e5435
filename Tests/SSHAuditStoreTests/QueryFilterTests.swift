import Foundation
import GRDB
import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// Every filter of `sshaudit query`, alone and combined, against a brute-force answer computed in
/// Swift from all rows; once with the planner's real thresholds and once with tiny ones, so that each
/// strategy (fetch by id, ordered index walk, time walk, address skip-scan, address function, trigram
/// search, argv function) is taken and must give the same rows.
final class QueryFilterTests: XCTestCase {
    static var dir: String!
    static var path: String!

    override class func setUp() {
        dir = FileManager.default.temporaryDirectory.appending(path: "queries-\(UUID().uuidString)").path
        path = dir + "/audit.db"
        do { try QueryFixture.build(at: path) } catch { fatalError("fixture: \(error)") }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: - Oracle

    struct All {
        var sessions: [SessionRow]
        var commands: [CommandRow]
        var auth: [AuthRow]
        var transfers: [TransferRow]
    }

    func everything() throws -> All {
        let db = try DatabaseQueue(path: Self.path)
        return try db.read { db in
            All(sessions: try Row.fetchAll(db, sql: "SELECT * FROM sessions ORDER BY started_at, id").map(SessionRow.init(row:)),
                commands: try Row.fetchAll(db, sql: "SELECT * FROM commands ORDER BY started_at, id").map(CommandRow.init(row:)),
                auth: try Row.fetchAll(db, sql: "SELECT * FROM auth_attempts ORDER BY at, id").map(AuthRow.init(row:)),
                transfers: try Row.fetchAll(db, sql: "SELECT * FROM file_transfers ORDER BY opened_at, id").map(TransferRow.init(row:)))
        }
    }

    func inTime(_ t: String, _ f: QueryFilter) -> Bool {
        (f.since.map { t >= $0 } ?? true) && (f.until.map { t < $0 } ?? true)
    }

    func expected(_ all: All, _ f: QueryFilter) -> (sessions: [Int64], commands: [Int64], auth: [Int64], transfers: [Int64]) {
        let sessionsByID = Dictionary(uniqueKeysWithValues: all.sessions.map { ($0.id, $0) })
        func line(_ c: CommandRow) -> String { c.argv.joined(separator: " ") }
        func sessionMatches(_ id: Int64) -> Bool {
            guard let s = sessionsByID[id] else { return false }
            if let user = f.user, s.user != user { return false }
            if let net = f.from, !(s.remoteAddr.map(net.contains(text:)) ?? false) { return false }
            return true
        }
        func cut(_ ids: [Int64]) -> [Int64] { f.limit.map { Array(ids.prefix($0)) } ?? ids }
        let commandsBySession = Dictionary(grouping: all.commands, by: \.sessionID)
        let grepSessions = Set(all.commands.filter { c in f.grep.map { line(c).contains($0) } ?? true }.map(\.sessionID))
        let sessions = all.sessions.filter { s in
            (f.sessionID.map { s.id == $0 } ?? true) && sessionMatches(s.id)
                && SessionSpanTests.overlaps(s, since: f.since, until: f.until, commands: commandsBySession[s.id] ?? [])
                && (!f.failedOnly || s.authenticatedAt == nil) && (f.grep == nil || grepSessions.contains(s.id))
        }.map(\.id)
        let commands = all.commands.filter { c in
            (f.sessionID.map { c.sessionID == $0 } ?? true) && sessionMatches(c.sessionID) && inTime(c.startedAt, f)
                && (!f.failedOnly || (c.exitCode ?? 0) != 0 || c.signal != nil) && (f.grep.map { line(c).contains($0) } ?? true)
        }.map(\.id)
        let auth = all.auth.filter { a in
            (f.sessionID.map { a.sessionID == $0 } ?? true) && (f.user.map { a.user == $0 } ?? true)
                && (f.from.map { net in a.remoteAddr.map(net.contains(text:)) ?? false } ?? true)
                && inTime(a.at, f) && (!f.failedOnly || a.result == "failed")
        }.map(\.id)
        let transfers = all.transfers.filter { t in
            (f.sessionID.map { t.sessionID == $0 } ?? true) && sessionMatches(t.sessionID) && inTime(t.openedAt, f)
        }.map(\.id)
        return (cut(sessions), cut(commands), cut(auth), cut(transfers))
    }

    func checkAllCombinations(limits: PlanLimits) throws {
        let all = try everything()
        let reader = try AuditReader(path: Self.path)
        reader.limits = limits
        let networks: [IPNetwork?] = [nil] + ["10.1.0.0/16", "10.1.2.3", "10.1.2.0/25", "2001:db8::/32", "2001:db8:0:1::/64",
                                              "192.0.2.0/24", "0.0.0.0/0", "::/0", "203.0.113.128/25", "198.51.100.99"]
            .map { IPNetwork($0)! }
        let times: [(String?, String?)] = [(nil, nil), ("2025-03-10T12:00:00.000Z", nil), (nil, "2025-03-10T12:00:00.000Z"),
                                           ("2025-03-10T06:00:00.000Z", "2025-03-11T00:00:00.000Z")]
        var checked = 0, combination = 0
        for user in [nil, "alice", "carol", "nobody"] {
            for from in networks {
                for (since, until) in times {
                    for failed in [false, true] {
                        for grep in [nil, "rm -rf", "ls", "sudo", "ünï", "\"q\"", "no-such-text"] {
                            for limit in [nil, 2] {
                                // Each filter alone and in pairs always; a third of the larger combinations.
                                let set = [user != nil, from != nil, since != nil || until != nil, failed, grep != nil].filter { $0 }.count
                                combination += 1
                                if set > 2 && combination % 3 != 0 { continue }
                                let f = QueryFilter(user: user, limit: limit, failedOnly: failed, from: from, since: since,
                                                    until: until, grep: grep)
                                let want = expected(all, f)
                                let context = "user=\(user ?? "-") from=\(from?.description ?? "-") since=\(since ?? "-") until=\(until ?? "-") failed=\(failed) grep=\(grep ?? "-") limit=\(limit ?? 0)"
                                XCTAssertEqual(try reader.sessions(f).map(\.id), want.sessions, "sessions " + context)
                                XCTAssertEqual(try reader.commands(f).map(\.id), want.commands, "commands " + context)
                                if grep == nil {
                                    XCTAssertEqual(try reader.authAttempts(f).map(\.id), want.auth, "auth " + context)
                                    if !failed { XCTAssertEqual(try reader.transfers(f).map(\.id), want.transfers, "transfers " + context) }
                                }
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 1500)
    }

    func testEveryFilterCombinationWithTheRealThresholds() throws {
        try checkAllCombinations(limits: PlanLimits())
    }

    func testEveryFilterCombinationWithTinyThresholds() throws {
        try checkAllCombinations(limits: PlanLimits(candidateCap: 2, distinctCap: 1, sortedCap: 3))
    }

    func testSessionFilter() throws {
        let all = try everything()
        let reader = try AuditReader(path: Self.path)
        for id: Int64 in [1, 2, 5, 999] {
            for kind in 0..<4 {
                let f = QueryFilter(sessionID: id)
                let want = expected(all, f)
                switch kind {
                case 0: XCTAssertEqual(try reader.sessions(f).map(\.id), want.sessions)
                case 1: XCTAssertEqual(try reader.commands(f).map(\.id), want.commands)
                case 2: XCTAssertEqual(try reader.authAttempts(f).map(\.id), want.auth)
                default: XCTAssertEqual(try reader.transfers(f).map(\.id), want.transfers)
                }
            }
        }
        for user in ["alice", "bob", "carol"] {
            let f = QueryFilter(sessionID: 1, user: user)
            XCTAssertEqual(try reader.sessions(f).map(\.id), expected(all, f).sessions, user)
            XCTAssertEqual(try reader.commands(f).map(\.id), expected(all, f).commands, user)
        }
    }

    func testFixtureReachesEveryCase() throws {
        // The combinations above are only worth something if the fixture has rows of each kind.
        let all = try everything()
        XCTAssertGreaterThan(all.sessions.count, 50)
        XCTAssertGreaterThan(all.commands.count, 200)
        XCTAssertTrue(all.sessions.contains { $0.remoteAddr?.hasPrefix("::ffff:") == true })
        XCTAssertTrue(all.sessions.contains { $0.remoteAddr?.hasPrefix("2001:db8:") == true })
        XCTAssertTrue(all.commands.contains { $0.argv.joined(separator: " ").contains("rm -rf") })
        XCTAssertTrue(all.commands.contains { $0.signal != nil })
        XCTAssertFalse(all.transfers.isEmpty)
        XCTAssertTrue(all.auth.contains { $0.result == "invalid_user" })
    }
}

/// A deterministic database of ~80 sessions for the query tests: users, IPv4 (several networks),
/// IPv6, IPv4-mapped and missing addresses, failed and open sessions, commands with quoting and
/// non-ASCII argv, exit codes and signals, nested commands, auth attempts, transfers and events.
enum QueryFixture {
    static let base: Int64 = 1_741_564_800_000_000_000  // 2025-03-10T00:00:00Z

    static func build(at path: String) throws {
        let store = try AuditStore.openForRecording(path: path)
        var rng = SeededGenerator(seed: 42)
        let users: [String?] = ["alice", "bob", "carol", nil, nil]
        let addresses = ["10.1.2.3", "10.1.2.200", "10.1.9.9", "10.2.0.1", "2001:db8::5", "2001:db8:0:1::9", "2001:db9::1",
                         "::ffff:192.0.2.44", "192.0.2.7", "203.0.113.200", "203.0.113.7", "198.51.100.99", "::1"]
        let argvs: [[String]] = [
            ["ls", "-la"], ["rm", "-rf", "/tmp/x"], ["sudo", "ls", "/root"], ["echo", "a \"q\" b"], ["cat", "ünïcode.txt"],
            ["bash", "-c", "ls | wc -l"], ["su", "-"], ["vim", "/etc/hosts"], ["sh", "-c", "rm -rf\n/"], ["true"],
        ]
        var batch: [CorrelatorOutput] = []
        var commandID: Int64 = 1, authID: Int64 = 1
        for id in Int64(1)...80 {
            let startNs = base + id * 1_800_000_000_000 / 2 + Int64(rng.next() % 1000) * 1_000_000  // every 15 min
            var s = SessionRecord(id: id, sshdPid: 1000 + UInt32(id), sshdStartNs: UInt64(id), startedAtNs: startNs)
            s.user = users[Int(rng.next() % UInt64(users.count))]
            if id % 17 != 0 { s.remote = Endpoint(address: addresses[Int(rng.next() % UInt64(addresses.count))], port: UInt16(40000 + id)) }
            s.local = Endpoint(address: "127.0.0.1", port: 22)
            if s.user != nil {
                s.uid = 1000
                s.authenticatedAtNs = startNs + 300_000_000
            }
            if id % 9 != 0 { s.endedAtNs = startNs + 600_000_000_000 }
            var parentStack: [Int64] = []
            if s.user != nil {
                let n = Int(rng.next() % 12)
                for j in 0..<n {
                    let argv = j == 0 ? ["-bash"] : argvs[Int(rng.next() % UInt64(argvs.count))]
                    let parent: Int64? = j == 0 ? nil : (rng.next() % 3 == 0 ? parentStack.last : parentStack.first)
                    var c = CommandRecord(id: commandID, sessionID: id, parentID: parent, pid: UInt32(5000 + commandID), ppid: 1,
                                          uid: 1000, filename: "/usr/bin/" + (argv.first ?? "x"), argv: argv, argvTruncated: false,
                                          startedAtNs: startNs + Int64(j + 1) * 1_000_000_000)
                    c.endedAtNs = c.startedAtNs + 5_000_000
                    switch rng.next() % 6 {
                    case 0: c.exitCode = 1
                    case 1: c.signal = 9
                    default: c.exitCode = 0
                    }
                    batch.append(.command(c))
                    parentStack.append(commandID)
                    commandID += 1
                }
                s.commandCount = n
            }
            batch.append(.session(s))
            for k in 0..<Int(1 + rng.next() % 3) {
                let result: AuthLine.Result = s.user != nil && k == 0 ? .accepted : [.failed, .invalidUser, .disconnected][Int(rng.next() % 3)]
                batch.append(.auth(AuthRecord(id: authID, sessionID: id, atNs: startNs + Int64(k) * 100_000_000,
                                              user: s.user ?? ["root", "admin", "alice"][Int(rng.next() % 3)], remote: s.remote,
                                              method: result == .accepted ? "publickey" : "password", result: result,
                                              keyType: nil, keyFingerprint: nil)))
                authID += 1
            }
        }
        // Sessions before commands (the store writes sessions first in a batch anyway).
        try store.write(batch)
        // Two thirds of the command lines indexed, as a recorder that has not caught up leaves them:
        // --grep must combine the index with the rows past it.
        let commandCount = try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM commands") ?? 0 }
        try store.indexCommandLines(limit: commandCount * 2 / 3)
        let db = try DatabaseQueue(path: path)
        try db.write { db in
            for t in Int64(1)...40 {
                let session = 1 + (t * 7) % 80
                try db.execute(sql: """
                    INSERT INTO file_transfers (session_id, command_id, protocol, path, mode, opened_at, closed_at, bytes_read, bytes_written)
                    VALUES (?, NULL, ?, ?, ?, ?, NULL, ?, 0)
                    """, arguments: [session, t % 2 == 0 ? "sftp" : "scp", "/data/file-\(t)", t % 3 == 0 ? "write" : "read",
                                     Timestamp.iso(ns: base + session * 900_000_000_000 + 5_000_000_000), t * 100])
                try db.execute(sql: "INSERT INTO session_events (session_id, at, kind, target_host, target_port) VALUES (?, ?, 'local_forward', 'db', 5432)",
                               arguments: [session, Timestamp.iso(ns: base + session * 900_000_000_000 + 6_000_000_000)])
            }
        }
    }
}

/// SplitMix64: the same numbers on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
