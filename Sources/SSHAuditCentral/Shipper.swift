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
            INSERT INTO hosts (host, hostname, machine_id, layout) VALUES ($1, $2, $3, $4) ON CONFLICT (host) DO NOTHING
            """, [host.key, host.hostname, host.machineID, String(CentralSchema.version)])
        try backfill()
    }

    /// Rows of tables a previous layout did not hold (their ledger entries were shipped, not their
    /// rows): each such row whose shipped entry is still its newest, read from the local database
    /// (a row pruned locally since stays entry-only). Once per host, under the host's row lock.
    private func backfill() throws {
        try central.transaction {
            guard let layout = try central.query("SELECT layout FROM hosts WHERE host = $1 FOR UPDATE", [host.key])
                .first?[0].flatMap({ Int($0) }), layout < CentralSchema.version else { return }
            for table in CentralSchema.addedTables where table.layout > layout {
                let missing = try central.query("""
                    SELECT l.seq FROM ledger AS l WHERE l.host = $1 AND l.tbl = $2
                        AND NOT EXISTS (SELECT 1 FROM ledger AS n WHERE n.host = l.host AND n.tbl = l.tbl AND n.row_id = l.row_id AND n.seq > l.seq)
                        AND NOT EXISTS (SELECT 1 FROM \(table.name) AS t WHERE t.host = l.host AND t.id = l.row_id)
                    ORDER BY l.seq
                    """, [host.key, table.name]).compactMap { $0[0].flatMap { Int64($0) } }
                // A batch at a time: a flood of refusals must not be held in memory at once.
                for start in stride(from: 0, to: missing.count, by: batch) {
                    var rows: [ShippedRow] = []
                    for seq in missing[start..<min(start + batch, missing.count)] {
                        // The local entry must be the shipped one and still the row's newest.
                        guard let entry = try reader.ledgerEntries(after: seq - 1, limit: 1).first, entry.seq == seq,
                              let version = entry.version, version.table == table.name else { continue }
                        rows.append(try shippedRow(version))
                    }
                    try store(rows, into: table.name)
                }
            }
            try central.query("UPDATE hosts SET layout = $2 WHERE host = $1", [host.key, String(CentralSchema.version)])
        }
    }

    /// Inserts one table's row versions (creating their month partitions) and clears `latest` on the
    /// versions they replace.
    private func store(_ rows: [ShippedRow], into table: String) throws {
        guard !rows.isEmpty else { return }
        for month in Set(rows.map { String($0.at.prefix(7)) }).sorted() {
            try CentralSchema.ensurePartition(central, table: table, month: month)
        }
        for start in stride(from: 0, to: rows.count, by: batch) {
            let part = Array(rows[start..<min(start + batch, rows.count)])
            try insert(part, into: table)
            try CentralSchema.supersede(central, table: table, host: host.key, rows: part.map { ($0.id, $0.seq) })
        }
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
            // One statement for the batch's entries and one per table for its rows (arrays unnested
            // by PostgreSQL): a round trip per row would cap shipping at about a thousand rows a second.
            try central.query("""
                INSERT INTO ledger (host, seq, tbl, row_id, row_hash, chain, fixed_hash, final, once_set, layout)
                SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[],
                                         $8::boolean[], $9::bigint[], $10::bigint[])
                """, [host.key, PGArray.literal(entries.map { String($0.seq) }), PGArray.literal(entries.map(\.table)),
                      PGArray.literal(entries.map { String($0.rowID) }), PGArray.literal(entries.map { PGConnection.bytea($0.rowHash) }),
                      PGArray.literal(entries.map { PGConnection.bytea($0.chain) }),
                      PGArray.literal(entries.map { $0.fixedHash.map(PGConnection.bytea) }),
                      PGArray.literal(entries.map { $0.final.map { $0 ? "t" : "f" } }),
                      PGArray.literal(entries.map { $0.onceSet.map(String.init) }), PGArray.literal(entries.map { $0.layout.map(String.init) })])
            var byTable: [String: [ShippedRow]] = [:]
            for version in entries.compactMap(\.version) {
                byTable[version.table, default: []].append(try shippedRow(version))
            }
            for (table, rows) in byTable.sorted(by: { $0.key < $1.key }) { try store(rows, into: table) }
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

    /// A row version as the central row tables hold it: its time, the typed columns queries filter
    /// on (name, PostgreSQL type, value) and the row as local `query --format json` prints it.
    struct ShippedRow {
        var id: Int64, seq: Int64, at: String
        var typed: [(name: String, type: String, value: String?)]
        var json: String
    }

    private func shippedRow(_ v: ExportedVersion) throws -> ShippedRow {
        let at: String
        var typed: [(name: String, type: String, value: String?)]
        switch v.row {
        case let .session(s):
            at = s.startedAt
            typed = [("\"user\"", "text", s.user), ("remote_addr", "text", s.remoteAddr), ("ended_at", "timestamptz", s.endedAt),
                     ("key_fingerprint", "text", s.keyFingerprint)]
        case let .command(c):
            at = c.startedAt
            typed = [("session_id", "bigint", String(c.sessionID)), ("filename", "text", c.filename),
                     ("command_line", "text", c.argv.joined(separator: " "))]
        case let .auth(a):
            at = a.at
            typed = [("session_id", "bigint", String(a.sessionID)), ("\"user\"", "text", a.user), ("remote_addr", "text", a.remoteAddr),
                     ("result", "text", a.result), ("key_fingerprint", "text", a.keyFingerprint)]
        case let .transfer(t):
            at = t.openedAt
            typed = [("session_id", "bigint", String(t.sessionID)), ("path", "text", t.path)]
        case let .event(e):
            at = e.at
            typed = [("session_id", "bigint", String(e.sessionID)), ("kind", "text", e.kind)]
        case let .file(f):
            at = f.firstAt
            typed = [("session_id", "bigint", String(f.sessionID)), ("op", "text", f.op), ("path", "text", f.path),
                     ("last_at", "timestamptz", f.lastAt)]
        case let .network(n):
            at = n.firstAt
            typed = [("session_id", "bigint", String(n.sessionID)), ("op", "text", n.op), ("addr", "text", n.addr),
                     ("last_at", "timestamptz", n.lastAt)]
        case let .channel(c):
            at = c.startedAt
            typed = [("session_id", "bigint", String(c.sessionID)), ("kind", "text", c.kind)]
        case let .refusal(r):
            at = r.at
            typed = [("remote_addr", "text", r.remoteAddr), ("reason", "text", r.reason)]
        }
        return ShippedRow(id: v.rowID, seq: v.seq, at: at, typed: typed,
                          json: String(decoding: try encoder.encode(v.row), as: UTF8.self))
    }

    /// The versions of one table, in one statement.
    private func insert(_ rows: [ShippedRow], into table: String) throws {
        guard let first = rows.first else { return }
        let typed = first.typed.indices
        var arrays: [(type: String, values: [String?])] = [("bigint", rows.map { String($0.id) }), ("bigint", rows.map { String($0.seq) }),
                                                         ("timestamptz", rows.map(\.at))]
        arrays += typed.map { i in (first.typed[i].type, rows.map { $0.typed[i].value }) }
        arrays.append(("jsonb", rows.map(\.json)))
        let columns = ["id", "seq", "at"] + first.typed.map(\.name) + ["row"]
        let unnest = arrays.enumerated().map { "$\($0.offset + 2)::\($0.element.type)[]" }.joined(separator: ", ")
        try central.query("INSERT INTO \(table) (host, \(columns.joined(separator: ", "))) SELECT $1, * FROM unnest(\(unnest))",
                          [host.key] + arrays.map { PGArray.literal($0.values) })
    }

    private func hex(_ bytes: [UInt8]) -> String { String(PGConnection.bytea(bytes).dropFirst(2)) }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
