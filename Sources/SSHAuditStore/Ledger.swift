import Crypto
import Foundation
import GRDB
import GRDBSQLite

/// Tamper evidence (schema/0007_ledger.sql): every row version written to the audit tables is
/// appended, in the same transaction, to a hash-chained ledger.
///
/// Byte layouts (all integers 8 bytes, big-endian, two's complement):
/// - Canonical content of a row: the table's name in UTF-8, a 0 byte, then each column of
///   `LedgerTable.columns` in that order: NULL → 0x00; INTEGER → 0x01 + value; REAL → 0x02 + IEEE-754
///   bits; TEXT → 0x03 + byte count + UTF-8 bytes; BLOB → 0x04 + byte count + bytes.
///   `row_hash` = SHA-256(canonical content).
/// - Entry: seq, the table's name in UTF-8, a 0 byte, row id, row_hash.
///   `chain` = SHA-256(chain of the previous entry || entry); before the first entry, 32 zero bytes.
enum LedgerTable: String, CaseIterable, Sendable {
    case sessions
    case commands
    case authAttempts = "auth_attempts"
    case fileTransfers = "file_transfers"
    case sessionEvents = "session_events"
    case prunes = "ledger_prunes"
    /// The loss accounting itself: a deleted crash or a zeroed drop count must show.
    case recorderRuns = "recorder_runs"

    /// Every column of the table, in canonical order. A migration that adds a column must add it here
    /// (LedgerTests compares these lists with the schema).
    var columns: [String] {
        switch self {
        case .sessions:
            return ["id", "sshd_pid", "sshd_start_ns", "listener_pid", "sshd_path", "user", "uid", "remote_addr",
                    "remote_port", "local_addr", "local_port", "auth_method", "key_fingerprint", "tty", "started_at",
                    "authenticated_at", "ended_at", "exit_code", "command_count", "bytes_in", "bytes_out", "recovered",
                    "sshd_version", "ended_unobserved", "kind", "drops", "truncated_argv", "unattributed_events"]
        case .commands:
            return ["id", "session_id", "parent_id", "pid", "ppid", "uid", "filename", "argv", "argv_truncated", "cwd",
                    "started_at", "ended_at", "duration_ms", "exit_code", "signal", "recovered"]
        case .authAttempts:
            return ["id", "session_id", "at", "user", "remote_addr", "remote_port", "method", "result", "key_type",
                    "key_fingerprint", "addr_mismatch"]
        case .fileTransfers:
            return ["id", "session_id", "command_id", "protocol", "path", "mode", "opened_at", "closed_at", "bytes_read",
                    "bytes_written"]
        case .sessionEvents:
            return ["id", "session_id", "at", "kind", "target_host", "target_port", "detail"]
        case .prunes:
            return ["id", "at", "cutoff", "removed", "dropped"]
        case .recorderRuns:
            return ["id", "started_at", "stopped_at", "clean_exit", "ring_drops", "track_failures", "decode_errors",
                    "events", "unattributed_events", "resumed_from", "overflows", "unobserved_exits"]
        }
    }

    /// The rows as stored, for hashing: each column as its value and whether it is TEXT (TEXT comes
    /// back as its exact bytes, so that nothing past a NUL byte can hide), then the id again (at
    /// index 2 × column count). Append a WHERE clause and/or ORDER BY.
    func storedRowsSQL(_ columns: [String]) -> String {
        let parts = columns.map { "CASE WHEN typeof(\"\($0)\") = 'text' THEN CAST(\"\($0)\" AS BLOB) ELSE \"\($0)\" END, typeof(\"\($0)\") = 'text'" }
        return "SELECT \(parts.joined(separator: ", ")), id FROM \(rawValue)"
    }

    var storedRowsSQL: String { storedRowsSQL(columns) }
    var storedIDIndex: Int { 2 * columns.count }
}

enum Ledger {
    static let genesis = [UInt8](repeating: 0, count: 32)

    // MARK: - Canonical content

    struct Encoder {
        var bytes: [UInt8] = []

        init() { bytes.reserveCapacity(512) }

        mutating func start(_ table: LedgerTable) {
            bytes.removeAll(keepingCapacity: true)
            bytes.append(contentsOf: table.rawValue.utf8)
            bytes.append(0)
        }

        mutating func int(_ value: Int64) {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func null() { bytes.append(0) }

        mutating func integer(_ value: Int64) {
            bytes.append(1)
            int(value)
        }

        mutating func real(_ value: Double) {
            bytes.append(2)
            int(Int64(bitPattern: value.bitPattern))
        }

        /// Text as SQLite stores it from a binding: GRDB binds C strings, so a NUL byte ends it.
        mutating func text(_ value: String) {
            let utf8 = value.utf8
            let end = utf8.firstIndex(of: 0) ?? utf8.endIndex
            bytes.append(3)
            int(Int64(utf8.distance(from: utf8.startIndex, to: end)))
            bytes.append(contentsOf: utf8[..<end])
        }

        /// Text already cut at its first NUL byte, as bound.
        mutating func text(_ utf8: UnsafeBufferPointer<UInt8>) {
            bytes.append(3)
            int(Int64(utf8.count))
            bytes.append(contentsOf: utf8)
        }

        mutating func textBytes(_ value: Data) {
            bytes.append(3)
            int(Int64(value.count))
            bytes.append(contentsOf: value)
        }

        mutating func blob(_ value: Data) {
            bytes.append(4)
            int(Int64(value.count))
            bytes.append(contentsOf: value)
        }

        var digest: SHA256.Digest { SHA256.hash(data: bytes) }
    }

    /// row_hash of a row read with `storedRowsSQL`.
    static func storedRowHash(_ table: LedgerTable, _ row: Row, columnCount: Int? = nil, using encoder: inout Encoder) -> [UInt8] {
        encoder.start(table)
        for i in 0..<(columnCount ?? table.columns.count) {
            let value: DatabaseValue = row[2 * i]
            let isText: Bool = row[2 * i + 1] ?? false
            switch value.storage {
            case .null: encoder.null()
            case let .int64(v): encoder.integer(v)
            case let .double(v): encoder.real(v)
            case let .string(v): encoder.text(v)  // not reached: TEXT is read as a BLOB
            case let .blob(v): if isText { encoder.textBytes(v) } else { encoder.blob(v) }
            }
        }
        return Array(encoder.digest)
    }

    static func chain<Hash: ContiguousBytes>(previous: [UInt8], seq: Int64, table: String, rowID: Int64, rowHash: Hash) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        withUnsafeBytes(of: seq.bigEndian) { hasher.update(bufferPointer: $0) }
        var name = table
        name.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: rowID.bigEndian) { hasher.update(bufferPointer: $0) }
        rowHash.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.lowercased().utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    // MARK: - Appending

    /// Appends entries inside one write transaction: reads the head once, then one cached insert per
    /// row version.
    struct Appender {
        private(set) var seq: Int64
        private(set) var head: [UInt8]
        private let insert: Statement
        var encoder = Encoder()

        init(_ db: Database) throws {
            let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, chain FROM ledger ORDER BY seq DESC LIMIT 1"))
            seq = row?["seq"] ?? 0
            head = (row?["chain"] as Data?).map { [UInt8]($0) } ?? Ledger.genesis
            insert = try db.cachedStatement(sql: "INSERT INTO ledger (seq, tbl, row_id, row_hash, chain) VALUES (?, ?, ?, ?, ?)")
        }

        /// The entry for a row version just written (`rowHash` of the values bound to it). Bound with
        /// SQLite's C API: on the recorder's hot path, this runs once per row.
        mutating func append<Hash: ContiguousBytes>(_ table: LedgerTable, id: Int64, rowHash: Hash, _ db: Database) throws {
            let next = seq + 1
            let chain = Ledger.chain(previous: head, seq: next, table: table.rawValue, rowID: id, rowHash: rowHash)
            let statement = insert.sqliteStatement
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, next)
            sqlite3_bind_text(statement, 2, table.rawValue, -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(statement, 3, id)
            rowHash.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 4, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            chain.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 5, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            try SQLiteCall.step(statement, in: db)
            seq = next
            head = chain
        }
    }

    /// Entries for rows already in the tables, hashed as they are stored: after a migration (below),
    /// and for rows changed by a statement of their own, off the hot path (`AuditStore.ledgerStoredRows`).
    /// `columns`: those of `table.columns` that exist yet (during migrations).
    static func appendStored(_ db: Database, _ table: LedgerTable, ids: [Int64]? = nil, columns: [String]? = nil) throws {
        var appender = try Appender(db)
        let columns = columns ?? table.columns
        let select = table.storedRowsSQL(columns)
        func append(_ rows: RowCursor) throws {
            while let row = try rows.next() {
                let hash = Ledger.storedRowHash(table, row, columnCount: columns.count, using: &appender.encoder)
                try appender.append(table, id: row[2 * columns.count], rowHash: hash, db)
            }
        }
        guard let ids else {
            try append(Row.fetchCursor(db, sql: select + " ORDER BY id"))
            return
        }
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(start + 500, ids.count)]).sorted()
            let marks = chunk.map { _ in "?" }.joined(separator: ",")
            try append(Row.fetchCursor(db, sql: select + " WHERE id IN (\(marks)) ORDER BY id",
                                       arguments: StatementArguments(chunk)))
        }
    }

    /// The covered tables' columns, before a migration.
    struct Schema: Equatable {
        var hasLedger: Bool
        var columns: [LedgerTable: [String]]
    }

    static func schema(_ db: Database) throws -> Schema {
        var columns: [LedgerTable: [String]] = [:]
        for table in LedgerTable.allCases where try db.tableExists(table.rawValue) {
            columns[table] = try db.columns(in: table.rawValue).map(\.name)
        }
        return Schema(hasLedger: try db.tableExists("ledger"), columns: columns)
    }

    /// In a migration's transaction: when the ledger is created (0007) in a database that has rows,
    /// and whenever a migration changes the columns of a covered table (and so their canonical
    /// content), the rows are entered as they are then stored. Nothing can vouch for rows from before
    /// the ledger; run `verify` before upgrading.
    static func afterMigration(_ db: Database, before: Schema) throws {
        let after = try schema(db)
        guard after.hasLedger else { return }
        for table in LedgerTable.allCases {
            guard let columns = after.columns[table], !before.hasLedger || before.columns[table] != columns else { continue }
            try appendStored(db, table, columns: table.columns.filter(columns.contains))
        }
    }
}

extension AuditStore {
    /// For a write outside `write(_:)` (e.g. a recovery mark): appends ledger entries for the rows
    /// `ids` of `table` as they are stored now. Call it in the same transaction as the change, after it:
    /// `try writer.write { db in try db.execute(…UPDATE sessions…); try AuditStore.ledgerStoredRows(db, table: "sessions", ids: ids) }`
    static func ledgerStoredRows(_ db: Database, table: String, ids: [Int64]) throws {
        guard let table = LedgerTable(rawValue: table) else {
            throw DatabaseError(message: "no ledger for table \(table)")
        }
        try Ledger.appendStored(db, table, ids: ids)
    }
}
