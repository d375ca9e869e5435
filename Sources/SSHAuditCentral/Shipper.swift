import Foundation
import SSHAuditStore

/// Who a host is, centrally.
public struct HostIdentity: Sendable, Equatable {
    /// The key of the host's rows: `--host`, else "HOSTNAME/MACHINE-ID".
    public var key: String
    public var hostname: String
    public var machineID: String?

    /// This machine's: its host name and /etc/machine-id; `override` replaces the key.
    public static func local(override: String? = nil) -> HostIdentity {
        let hostname = ProcessInfo.processInfo.hostName
        let machineID = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty
        return HostIdentity(key: override ?? machineID.map { "\(hostname)/\($0)" } ?? hostname,
                            hostname: hostname, machineID: machineID)
    }
}

/// Copies a local database's ledger entries and row versions to the central database, in ledger
/// order. Exactly once: the host's cursor (`hosts.shipped_seq`) is read under a row lock and advanced
/// in the transaction that inserts the entries up to it, so a shipper killed at any point, or a
/// second one for the same host, never ships an entry twice or skips one. The local database is only
/// read: the recorder never waits on the network.
public final class Shipper {
    private let reader: AuditReader
    private let central: PGConnection
    public let host: HostIdentity
    private let batch: Int
    /// The local entry at the host's cursor was found to be the one shipped (checked once).
    private var anchored = false
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public init(reader: AuditReader, central: PGConnection, host: HostIdentity, batch: Int = 2_000) throws {
        (self.reader, self.central, self.host, self.batch) = (reader, central, host, batch)
        try CentralSchema.migrate(central)
        try central.query("""
            INSERT INTO hosts (host, hostname, machine_id) VALUES ($1, $2, $3) ON CONFLICT (host) DO NOTHING
            """, [host.key, host.hostname, host.machineID])
    }

    /// Whether the central connection still works (a failure with a working connection is about the data).
    public var isConnected: Bool { !central.isBroken }

    /// Ships the next entries (at most `batch`) in one transaction; returns how many (0: caught up).
    @discardableResult
    public func shipNext() throws -> Int {
        try central.transaction {
            guard let cursor = try central.query(
                "SELECT shipped_seq, encode(shipped_chain, 'hex') FROM hosts WHERE host = $1 FOR UPDATE", [host.key]).first,
                let shipped = cursor[0].flatMap({ Int64($0) }) else {
                throw CentralError("host \(host.key) is not registered in the central database")
            }
            // The local ledger must go on from where the shipped copy ends: a database replaced or
            // rewritten behind the recorder's back does not continue a host's history silently.
            if shipped > 0, !anchored {
                let local = try reader.ledgerEntries(after: shipped - 1, limit: 1).first
                guard let local, local.seq == shipped, hex(local.chain) == cursor[1] else { throw rewritten(shipped) }
                anchored = true
            }
            let entries = try reader.ledgerEntries(after: shipped, limit: batch)
            guard let last = entries.last else { return 0 }
            if let shippedChain = cursor[1], let first = entries.first, hex(first.previousChain) != shippedChain {
                throw rewritten(shipped)
            }
            var months: Set<String> = []
            var shippedRows: [String: [(id: Int64, seq: Int64)]] = [:]
            for entry in entries {
                try central.query("""
                    INSERT INTO ledger (host, seq, tbl, row_id, row_hash, chain, fixed_hash, final, once_set, layout)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    """, [host.key, String(entry.seq), entry.table, String(entry.rowID), PGConnection.bytea(entry.rowHash),
                          PGConnection.bytea(entry.chain), entry.fixedHash.map(PGConnection.bytea), entry.final.map { $0 ? "t" : "f" },
                          entry.onceSet.map(String.init), entry.layout.map(String.init)])
                if let version = entry.version {
                    try insert(version, months: &months)
                    shippedRows[version.table, default: []].append((version.rowID, version.seq))
                }
            }
            for (table, rows) in shippedRows { try CentralSchema.supersede(central, table: table, host: host.key, rows: rows) }
            try central.query("""
                UPDATE hosts SET shipped_seq = $2, shipped_chain = $3, last_shipped_at = now() WHERE host = $1
                """, [host.key, String(last.seq), PGConnection.bytea(last.chain)])
            return entries.count
        }
    }

    private func rewritten(_ shipped: Int64) -> CentralError {
        CentralError("""
            the local ledger up to entry \(shipped) is not the one shipped for \(host.key): the database was replaced or \
            rewritten (sshaudit verify --central … --db … names the entry)
            """)
    }

    /// One row version, with the columns the queries filter on.
    private func insert(_ v: ExportedVersion, months: inout Set<String>) throws {
        let at: String
        var typed: [(String, String?)]
        switch v.row {
        case let .session(s):
            at = s.startedAt
            typed = [("\"user\"", s.user), ("remote_addr", s.remoteAddr), ("ended_at", s.endedAt), ("key_fingerprint", s.keyFingerprint)]
        case let .command(c):
            at = c.startedAt
            typed = [("session_id", String(c.sessionID)), ("filename", c.filename), ("command_line", c.argv.joined(separator: " "))]
        case let .auth(a):
            at = a.at
            typed = [("session_id", String(a.sessionID)), ("\"user\"", a.user), ("remote_addr", a.remoteAddr),
                     ("result", a.result), ("key_fingerprint", a.keyFingerprint)]
        case let .transfer(t):
            at = t.openedAt
            typed = [("session_id", String(t.sessionID)), ("path", t.path)]
        case let .event(e):
            at = e.at
            typed = [("session_id", String(e.sessionID)), ("kind", e.kind)]
        case let .file(f):
            at = f.firstAt
            typed = [("session_id", String(f.sessionID)), ("op", f.op), ("path", f.path)]
        case let .network(n):
            at = n.firstAt
            typed = [("session_id", String(n.sessionID)), ("op", n.op), ("addr", n.addr)]
        }
        let month = String(at.prefix(7))
        if months.insert(v.table + month).inserted { try CentralSchema.ensurePartition(central, table: v.table, month: month) }
        let row = String(decoding: try encoder.encode(v.row), as: UTF8.self)
        let columns = ["host", "id", "seq", "at"] + typed.map(\.0) + ["row"]
        let values: [String?] = [host.key, String(v.rowID), String(v.seq), at] + typed.map(\.1) + [row]
        let marks = (1...values.count).map { "$\($0)" }.joined(separator: ", ")
        try central.query("INSERT INTO \(v.table) (\(columns.joined(separator: ", "))) VALUES (\(marks))", values)
    }

    private func hex(_ bytes: [UInt8]) -> String { String(PGConnection.bytea(bytes).dropFirst(2)) }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
