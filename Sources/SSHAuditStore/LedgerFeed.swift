import Foundation
import GRDB
import GRDBSQLite
import SSHAuditCore

/// A row version for shippers (`sshaudit export`): a ledger entry and the row it hashed, as stored.
public struct ExportedVersion: Sendable {
    public enum Row: Sendable, Encodable {
        case session(SessionRow), command(CommandRow), auth(AuthRow), transfer(TransferRow), event(SessionEventRow)

        /// As the row itself (the JSON of `query --format json`).
        public func encode(to encoder: Encoder) throws {
            switch self {
            case let .session(r): try r.encode(to: encoder)
            case let .command(r): try r.encode(to: encoder)
            case let .auth(r): try r.encode(to: encoder)
            case let .transfer(r): try r.encode(to: encoder)
            case let .event(r): try r.encode(to: encoder)
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

extension AuditReader {
    /// The tables whose rows are exported, with how each is read.
    private static let feedTables: [String: LedgerTable] = [
        "sessions": .sessions, "commands": .commands, "auth_attempts": .authAttempts,
        "file_transfers": .fileTransfers, "session_events": .sessionEvents,
    ]

    /// The ledger entries after `seq`, at most `limit` of them, in order; of each row only its latest
    /// version can be exported (the store keeps rows, not their history): an entry superseded by a
    /// later one is passed over, and the later one carries the row. Returns the versions and the last
    /// seq read (the cursor to continue from).
    public func versions(after seq: Int64, limit: Int) throws -> (versions: [ExportedVersion], through: Int64) {
        guard schema.contains("ledger") else { return ([], seq) }
        return try read { db in
            let entries = try Row.fetchAll(db, sql: """
                SELECT l.seq, l.tbl, l.row_id, l.row_hash, l.chain,
                       (SELECT p.chain FROM ledger AS p WHERE p.seq < l.seq ORDER BY p.seq DESC LIMIT 1) AS previous,
                       NOT EXISTS (SELECT 1 FROM ledger AS n WHERE n.tbl = l.tbl AND n.row_id = l.row_id AND n.seq > l.seq) AS latest
                FROM ledger AS l WHERE l.seq > ? ORDER BY l.seq LIMIT ?
                """, arguments: [seq, limit])
            var out: [ExportedVersion] = []
            var hasher = StoredRowHasher()
            for entry in entries {
                let tbl: String = entry["tbl"]
                guard entry["latest"] as Bool, let table = Self.feedTables[tbl] else { continue }
                let id: Int64 = entry["row_id"]
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM \(tbl) WHERE id = ?"), arguments: [id]) else {
                    continue  // pruned since (retention removes rows with their entries)
                }
                let rowHash: Data = entry["row_hash"]
                let stored = try hasher.hash(db, table, id)
                let content: ExportedVersion.Row
                switch table {
                case .sessions: content = .session(SessionRow(row: row))
                case .commands: content = .command(CommandRow(row: row))
                case .authAttempts: content = .auth(AuthRow(row: row))
                case .fileTransfers: content = .transfer(TransferRow(row: row))
                default: content = .event(SessionEventRow(row: row))
                }
                let previous: Data? = entry["previous"]
                out.append(ExportedVersion(
                    seq: entry["seq"], table: tbl, rowID: id, rowHash: Ledger.hex([UInt8](rowHash)),
                    chain: Ledger.hex([UInt8](entry["chain"] as Data)),
                    previousChain: Ledger.hex(previous.map { [UInt8]($0) } ?? Ledger.genesis),
                    altered: stored.map { !$0.elementsEqual(rowHash) } ?? true, row: content))
            }
            return (out, entries.last.map { $0["seq"] } ?? seq)
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
