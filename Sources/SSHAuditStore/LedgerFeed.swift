import Foundation
import GRDB
import GRDBSQLite
import SSHAuditCore

/// A row version for shippers (`sshaudit export`): a ledger entry and the row it hashed, as stored.
public struct ExportedVersion: Sendable {
    public enum Row: Sendable, Encodable {
        case session(SessionRow), command(CommandRow), auth(AuthRow), transfer(TransferRow), event(SessionEventRow)
        case file(FileActivityRow), network(NetworkRow)
        case channel(ChannelRow), refusal(RefusalRow)

        /// As the row itself (the JSON of `query --format json`).
        public func encode(to encoder: Encoder) throws {
            switch self {
            case let .session(r): try r.encode(to: encoder)
            case let .command(r): try r.encode(to: encoder)
            case let .auth(r): try r.encode(to: encoder)
            case let .transfer(r): try r.encode(to: encoder)
            case let .event(r): try r.encode(to: encoder)
            case let .file(r): try r.encode(to: encoder)
            case let .network(r): try r.encode(to: encoder)
            case let .channel(r): try r.encode(to: encoder)
            case let .refusal(r): try r.encode(to: encoder)
            }
        }
    }

    public var seq: Int64
    public var table: String
    public var rowID: Int64
    /// Hex SHA-256: the entry's row_hash and chain, and the chain of the entry before it (zeros first).
    public var rowHash: String
    public var chain: String
    public var previousChain: String
    /// The stored row no longer hashes to its entry's row_hash: it was changed outside sshaudit
    /// (`verify` names it). The content is exported as found.
    public var altered: Bool
    public var row: Row
}

/// One ledger entry as stored (the state columns are nil in a database older than schema/0015).
public struct LedgerEntry: Sendable {
    public var seq: Int64
    public var table: String
    public var rowID: Int64
    public var rowHash: [UInt8]
    public var chain: [UInt8]
    /// The chain of the entry before it (zeros for the first).
    public var previousChain: [UInt8]
    public var fixedHash: [UInt8]?
    public var final: Bool?
    public var onceSet: Int64?
    public var layout: Int64?
    /// The row, when this is its latest entry and its table is exported.
    public var version: ExportedVersion?

    public init(seq: Int64, table: String, rowID: Int64, rowHash: [UInt8], chain: [UInt8], previousChain: [UInt8],
                fixedHash: [UInt8]?, final: Bool?, onceSet: Int64?, layout: Int64?, version: ExportedVersion? = nil) {
        (self.seq, self.table, self.rowID, self.rowHash, self.chain, self.previousChain) = (seq, table, rowID, rowHash, chain, previousChain)
        (self.fixedHash, self.final, self.onceSet, self.layout, self.version) = (fixedHash, final, onceSet, layout, version)
    }

    /// Whether `chain` follows from `previousChain` and the entry's fields, as `verify` computes it.
    public var chainHolds: Bool {
        let state = fixedHash.map { Ledger.EntryState(fixedHash: $0, final: final ?? false, onceSet: onceSet ?? 0, layout: layout ?? 0) }
        return Ledger.chain(previous: previousChain, seq: seq, table: table, rowID: rowID, rowHash: rowHash, state: state) == chain
    }
}

extension AuditReader {
    /// The tables whose rows are exported, with how each is read.
    private static let feedTables: [String: LedgerTable] = [
        "sessions": .sessions, "commands": .commands, "auth_attempts": .authAttempts,
        "file_transfers": .fileTransfers, "session_events": .sessionEvents, "file_activity": .fileActivity,
        "network_activity": .networkActivity, "channels": .channels, "refusals": .refusals,
    ]

    /// The ledger entries after `seq`, at most `limit` of them, in order; of each row only its latest
    /// version can be exported (the store keeps rows, not their history): an entry superseded by a
    /// later one is passed over, and the later one carries the row. Returns the versions and the last
    /// seq read (the cursor to continue from).
    public func versions(after seq: Int64, limit: Int) throws -> (versions: [ExportedVersion], through: Int64) {
        let entries = try ledgerEntries(after: seq, limit: limit)
        return (entries.compactMap(\.version), entries.last?.seq ?? seq)
    }

    /// Every ledger entry after `seq` (at most `limit`), in order, with the row of each that is its
    /// row's latest (for the tables rows are exported of).
    public func ledgerEntries(after seq: Int64, limit: Int) throws -> [LedgerEntry] {
        guard schema.contains("ledger") else { return [] }
        return try read { db in
            let entries = try Row.fetchAll(db, sql: """
                SELECT l.*,
                       (SELECT p.chain FROM ledger AS p WHERE p.seq < l.seq ORDER BY p.seq DESC LIMIT 1) AS previous,
                       NOT EXISTS (SELECT 1 FROM ledger AS n WHERE n.tbl = l.tbl AND n.row_id = l.row_id AND n.seq > l.seq) AS latest
                FROM ledger AS l WHERE l.seq > ? ORDER BY l.seq LIMIT ?
                """, arguments: [seq, limit])
            var out: [LedgerEntry] = []
            var hasher = StoredRowHasher()
            for entry in entries {
                let tbl: String = entry["tbl"]
                let id: Int64 = entry["row_id"]
                let rowHash = [UInt8](entry["row_hash"] as Data)
                let previous: Data? = entry["previous"]
                let fixed: Data? = entry["fixed_hash"]
                var e = LedgerEntry(
                    seq: entry["seq"], table: tbl, rowID: id, rowHash: rowHash, chain: [UInt8](entry["chain"] as Data),
                    previousChain: previous.map { [UInt8]($0) } ?? Ledger.genesis, fixedHash: fixed.map { [UInt8]($0) },
                    final: entry["final"], onceSet: entry["once_set"], layout: entry["layout"], version: nil)
                if entry["latest"] as Bool, let table = Self.feedTables[tbl],
                   let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM \(tbl) WHERE id = ?"), arguments: [id]) {
                    // (A row missing here was pruned since: retention removes rows with their entries.)
                    let content: ExportedVersion.Row
                    switch table {
                    case .sessions: content = .session(try SessionRow(row: row))
                    case .commands: content = .command(try CommandRow(row: row))
                    case .authAttempts: content = .auth(try AuthRow(row: row))
                    case .fileTransfers: content = .transfer(try TransferRow(row: row))
                    case .fileActivity: content = .file(try FileActivityRow(row: row))
                    case .networkActivity: content = .network(try NetworkRow(row: row))
                    case .channels: content = .channel(try ChannelRow(row: row))
                    case .refusals: content = .refusal(try RefusalRow(row: row))
                    default: content = .event(try SessionEventRow(row: row))
                    }
                    let stored = try hasher.hash(db, table, id)
                    e.version = ExportedVersion(
                        seq: e.seq, table: tbl, rowID: id, rowHash: Ledger.hex(rowHash), chain: Ledger.hex(e.chain),
                        previousChain: Ledger.hex(e.previousChain), altered: stored.map { $0 != rowHash } ?? true, row: content)
                }
                out.append(e)
            }
            return out
        }
    }

    /// The newest ledger seq (0 when empty): where `export` starts when it should skip the past.
    public func latestSeq() throws -> Int64 {
        guard schema.contains("ledger") else { return 0 }
        return try read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM ledger") ?? 0 }
    }
}

/// The canonical hash of a stored row, read the way `verify` reads it (Ledger.encodeStored).
private struct StoredRowHasher {
    private var encoder = Ledger.Encoder()
    private var immutable = Ledger.Encoder()
    private var columns: [LedgerTable: [String]] = [:]

    mutating func hash(_ db: Database, _ table: LedgerTable, _ id: Int64) throws -> [UInt8]? {
        if columns[table] == nil {
            // An older database has a prefix of the columns (migrations add columns after the others).
            let existing = Set(try db.columns(in: table.rawValue).map(\.name))
            columns[table] = Array(table.columns.prefix { existing.contains($0) })
        }
        let names = columns[table]!
        let statement = try db.cachedStatement(sql: table.storedRowsSQL(names) + " WHERE id = ?")
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, id)
        defer { sqlite3_reset(handle) }
        guard try SQLiteCall.row(handle, in: db) else { return nil }
        _ = Ledger.encodeStored(table, Array(table.roles.prefix(names.count)), handle, columnCount: names.count,
                                row: &encoder, immutable: &immutable)
        return Array(encoder.digest)
    }
}
