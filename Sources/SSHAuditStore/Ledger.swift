import Crypto
import Foundation
import GRDB
import GRDBSQLite

/// Tamper evidence (schema/0007_ledger.sql, 0015): every row version written to the audit tables is
/// appended, in the same transaction, to a hash-chained ledger.
///
/// Byte layouts (all integers 8 bytes, big-endian, two's complement):
/// - Canonical content of a row: the table's name in UTF-8, a 0 byte, then each column of
///   `LedgerTable.columns` in that order: NULL → 0x00; INTEGER → 0x01 + value; REAL → 0x02 + IEEE-754
///   bits; TEXT → 0x03 + byte count + UTF-8 bytes; BLOB → 0x04 + byte count + bytes.
///   `row_hash` = SHA-256(canonical content).
/// - Immutable content (0015): the table's name, a 0 byte, a 0xFF byte, then each column of
///   `LedgerTable.fixedColumns` and `setOnceColumns` in `columns` order, encoded as above (a set-once
///   column that is NULL in this version is NULL). `fixed_hash` = SHA-256(immutable content);
///   `once_set` has bit i set when the i-th of `setOnceColumns` is not NULL; `final` is 1 for the
///   row's last version (`CorrelatorOutput.isFinal`); `layout` is how many of `columns` the row_hash
///   covers.
/// - Entry: seq, the table's name in UTF-8, a 0 byte, row id, row_hash; from 0015 on, then
///   fixed_hash, final (one byte), once_set, layout.
///   `chain` = SHA-256(chain of the previous entry || entry); before the first entry, 32 zero bytes.
///
/// Why the extra fields: whoever can write the file can also append entries, so a row changed and
/// entered again would match its latest entry. Each entry therefore also says what of the row can
/// never change and whether the row was finished; `verify` checks every version of a row against the
/// stored row (LedgerVerify.swift), so appending cannot rewrite what earlier entries recorded. Only
/// rewriting those entries can, and that changes the chain from there on: a head kept elsewhere
/// (`verify --expect-head`) shows it.
enum LedgerTable: String, CaseIterable, Sendable {
    case sessions
    case commands
    case authAttempts = "auth_attempts"
    case fileTransfers = "file_transfers"
    case sessionEvents = "session_events"
    case networkActivity = "network_activity"
    case prunes = "ledger_prunes"
    /// The loss accounting itself: a deleted crash or a zeroed drop count must show.
    case recorderRuns = "recorder_runs"
    /// Rows the recorder found changed outside sshaudit before writing their next version.
    case findings = "ledger_findings"
    /// A session's changes to the file system (schema/0020).
    case fileActivity = "file_activity"
    /// Terminal recordings (0022), written once per chunk.
    case ttyChunks = "tty_chunks"
    /// Connections a listener refused before forking (0024), written once.
    case refusals
    /// Session channels (0023): rows written as a channel starts, execs and ends.
    case channels

    /// Every column of the table, in canonical order (its declaration, TableColumns.swift). A
    /// migration that adds a column adds it there (LedgerTests compares these lists with the schema).
    var columns: [String] { Self.declared[self]!.columns }

    /// Columns written with a row's first version and never changed.
    var fixedColumns: [String] { Self.declared[self]!.fixed }

    /// Columns NULL until set once, then never changed (bit i of `once_set`: the i-th of these).
    var setOnceColumns: [String] { Self.declared[self]!.setOnce }

    /// The declarations' names, built once per process (the write path asks per row).
    private static let declared = Dictionary(uniqueKeysWithValues: allCases.map {
        ($0, (columns: $0.declaration.names, fixed: $0.declaration.fixedNames, setOnce: $0.declaration.setOnceNames))
    })

    enum ColumnRole: Equatable {
        case mutable, fixed
        /// Set once; its bit in `once_set`.
        case setOnce(Int64)
    }

    /// The role of each of `columns`, in order.
    var roles: [ColumnRole] {
        let fixed = Set(fixedColumns)
        return columns.map { name in
            if fixed.contains(name) { return .fixed }
            if let i = setOnceColumns.firstIndex(of: name) { return .setOnce(1 << Int64(i)) }
            return .mutable
        }
    }

    /// Whether a stored row (on `statement`, `columns` from index 0) is in its final version, as far
    /// as its columns tell (a session's end is known only to the recorder: from the columns, only one
    /// that ended while unobserved).
    func isFinal(stored statement: SQLiteStatement, columns: [String]) -> Bool {
        func isNull(_ name: String) -> Bool {
            guard let i = columns.firstIndex(of: name) else { return true }
            return sqlite3_column_type(statement, Int32(i)) == SQLITE_NULL
        }
        func isOne(_ name: String) -> Bool {
            guard let i = columns.firstIndex(of: name) else { return false }
            return sqlite3_column_type(statement, Int32(i)) == SQLITE_INTEGER && sqlite3_column_int64(statement, Int32(i)) == 1
        }
        switch self {
        case .sessions: return isOne("ended_unobserved")
        case .commands: return !isNull("ended_at")
        case .fileTransfers: return !isNull("closed_at")
        case .networkActivity: return false  // its process's exit is known only to the recorder
        case .recorderRuns: return isOne("clean_exit")
        case .fileActivity: return false  // its last version is known to the recorder only (its process exited)
        case .channels: return !isNull("ended_at")
        case .authAttempts, .sessionEvents, .prunes, .findings, .ttyChunks, .refusals: return true
        }
    }

    /// The role of each of `names` (columns of this table, e.g. those that exist yet during a migration).
    func roles(of names: [String]) -> [ColumnRole] {
        let all = Dictionary(uniqueKeysWithValues: zip(columns, roles))
        return names.map { all[$0] ?? .mutable }
    }

    /// The rows as stored: `columns` in that order, then the id again (at index `columns.count`), then
    /// `extra` if given. Read them with the C API (`Ledger.encodeStored`): TEXT as its exact bytes, so
    /// that nothing past a NUL byte can hide. Append a WHERE clause and/or ORDER BY.
    func storedRowsSQL(_ columns: [String], extra: String? = nil) -> String {
        let list = columns.map { "\(rawValue).\"\($0)\"" }.joined(separator: ", ")
        return "SELECT \(list), \(rawValue).id\(extra.map { ", " + $0 } ?? "") FROM \(rawValue)"
    }
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

        /// The immutable content of a row of `table` (never equal to a canonical content).
        mutating func startImmutable(_ table: LedgerTable) {
            start(table)
            bytes.append(0xFF)
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

        /// Text already cut at its first NUL byte, as bound.
        mutating func text(_ utf8: UnsafeBufferPointer<UInt8>) {
            bytes.append(3)
            int(Int64(utf8.count))
            bytes.append(contentsOf: utf8)
        }

        mutating func blob(_ data: UnsafeRawBufferPointer) {
            bytes.append(4)
            int(Int64(data.count))
            bytes.append(contentsOf: data)
        }

        /// Column `i` of the row `statement` is on, as stored: TEXT as its exact bytes (a NUL byte
        /// inside shows), BLOB as BLOB.
        mutating func column(_ statement: SQLiteStatement, _ i: Int32) {
            switch sqlite3_column_type(statement, i) {
            case SQLITE_INTEGER: integer(sqlite3_column_int64(statement, i))
            case SQLITE_FLOAT: real(sqlite3_column_double(statement, i))
            case SQLITE_TEXT, SQLITE_BLOB:
                let isText = sqlite3_column_type(statement, i) == SQLITE_TEXT
                let base = sqlite3_column_blob(statement, i)
                let count = Int(sqlite3_column_bytes(statement, i))
                bytes.append(isText ? 3 : 4)
                int(Int64(count))
                if let base { bytes.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count)) }
            default: null()
            }
        }

        var digest: SHA256.Digest { SHA256.hash(data: bytes) }
    }

    /// Encodes the stored row `statement` is on, whose first columns have `roles` (from index 0):
    /// into `row`, the canonical content of the first `columnCount` of them; into `immutable`, the
    /// immutable content with the set-once columns of `mask` that are set. Returns which set-once
    /// columns are set. The one reading of stored rows, for the write path, migrations and `verify`.
    static func encodeStored(_ table: LedgerTable, _ roles: [LedgerTable.ColumnRole], _ statement: SQLiteStatement,
                             columnCount: Int, mask: Int64 = -1, row: inout Encoder, immutable: inout Encoder) -> Int64 {
        row.start(table)
        immutable.startImmutable(table)
        var onceSet: Int64 = 0
        for (i, role) in roles.enumerated() {
            let column = Int32(i)
            if i < columnCount { row.column(statement, column) }
            switch role {
            case .mutable: break
            case .fixed: immutable.column(statement, column)
            case let .setOnce(bit):
                let isSet = sqlite3_column_type(statement, column) != SQLITE_NULL
                if isSet { onceSet |= bit }
                if isSet && mask & bit != 0 { immutable.column(statement, column) } else { immutable.null() }
            }
        }
        return onceSet
    }

    /// What an entry records of a version besides its row_hash (schema/0015).
    struct EntryState: Equatable {
        var fixedHash: [UInt8]
        var final: Bool
        var onceSet: Int64
        var layout: Int64
    }

    static func chain<Hash: ContiguousBytes>(previous: [UInt8], seq: Int64, table: String, rowID: Int64, rowHash: Hash,
                                             state: EntryState?) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        withUnsafeBytes(of: seq.bigEndian) { hasher.update(bufferPointer: $0) }
        var name = table
        name.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: rowID.bigEndian) { hasher.update(bufferPointer: $0) }
        rowHash.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        if let state {
            hasher.update(data: state.fixedHash)
            withUnsafeBytes(of: UInt8(state.final ? 1 : 0)) { hasher.update(bufferPointer: $0) }
            withUnsafeBytes(of: state.onceSet.bigEndian) { hasher.update(bufferPointer: $0) }
            withUnsafeBytes(of: state.layout.bigEndian) { hasher.update(bufferPointer: $0) }
        }
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
        /// The ledger has the columns of 0015 (not yet during the migrations before it): entries
        /// carry their state.
        let recordsState: Bool
        private let insert: Statement
        var encoder = Encoder()

        init(_ db: Database) throws {
            let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, chain FROM ledger ORDER BY seq DESC LIMIT 1"))
            seq = row?["seq"] ?? 0
            head = (row?["chain"] as Data?).map { [UInt8]($0) } ?? Ledger.genesis
            recordsState = try db.columns(in: "ledger").contains { $0.name == "fixed_hash" }
            insert = try db.cachedStatement(sql: recordsState
                ? "INSERT INTO ledger (seq, tbl, row_id, row_hash, chain, fixed_hash, final, once_set, layout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                : "INSERT INTO ledger (seq, tbl, row_id, row_hash, chain) VALUES (?, ?, ?, ?, ?)")
        }

        /// The entry for a row version just written (`rowHash` of the values bound to it, `state`
        /// of the same values). Bound with SQLite's C API: on the recorder's hot path, this runs
        /// once per row.
        mutating func append<Hash: ContiguousBytes>(_ table: LedgerTable, id: Int64, rowHash: Hash, state: EntryState?,
                                                    _ db: Database) throws {
            let state = recordsState ? state : nil
            if recordsState && state == nil {
                throw DatabaseError(message: "a ledger entry for \(table.rawValue) row \(id) without its state")
            }
            let next = seq + 1
            let chain = Ledger.chain(previous: head, seq: next, table: table.rawValue, rowID: id, rowHash: rowHash, state: state)
            let statement = insert.sqliteStatement
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, next)
            sqlite3_bind_text(statement, 2, table.rawValue, -1, SQLITE_TRANSIENT)
            sqlite3_bind_int64(statement, 3, id)
            rowHash.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 4, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            chain.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 5, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            if let state {
                state.fixedHash.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 6, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
                sqlite3_bind_int64(statement, 7, state.final ? 1 : 0)
                sqlite3_bind_int64(statement, 8, state.onceSet)
                sqlite3_bind_int64(statement, 9, state.layout)
            }
            try SQLiteCall.step(statement, in: db)
            seq = next
            head = chain
        }
    }

    /// Entries for rows already in the tables, hashed as they are stored: after a migration (below),
    /// and for rows changed by a statement of their own, off the hot path (`AuditStore.ledgerStoredRows`).
    /// `columns`: those of `table.columns` that exist yet (during migrations). A row whose latest entry
    /// was final stays final.
    static func appendStored(_ db: Database, _ table: LedgerTable, ids: [Int64]? = nil, columns: [String]? = nil) throws {
        var appender = try Appender(db)
        let columns = columns ?? table.columns
        let roles = table.roles(of: columns)
        var immutable = Encoder()
        let wasFinal = "(SELECT final FROM ledger WHERE tbl = '\(table.rawValue)' AND row_id = \(table.rawValue).id ORDER BY seq DESC LIMIT 1)"
        let select = table.storedRowsSQL(columns, extra: appender.recordsState ? wasFinal : nil)
        let n = Int32(columns.count)
        func append(_ statement: Statement, _ arguments: StatementArguments = StatementArguments()) throws {
            try statement.setArguments(arguments)
            let handle = statement.sqliteStatement
            defer { sqlite3_reset(handle) }
            while try SQLiteCall.row(handle, in: db) {
                let onceSet = encodeStored(table, roles, handle, columnCount: columns.count, row: &appender.encoder, immutable: &immutable)
                var state: EntryState?
                if appender.recordsState {
                    let final = sqlite3_column_int64(handle, n + 1) == 1 || table.isFinal(stored: handle, columns: columns)
                    state = EntryState(fixedHash: Array(immutable.digest), final: final, onceSet: onceSet, layout: Int64(n))
                }
                try appender.append(table, id: sqlite3_column_int64(handle, n), rowHash: appender.encoder.digest, state: state, db)
            }
        }
        guard let ids else {
            try append(db.makeStatement(sql: select + " ORDER BY id"))
            return
        }
        for start in stride(from: 0, to: ids.count, by: 500) {
            let chunk = Array(ids[start..<min(start + 500, ids.count)]).sorted()
            let marks = chunk.map { _ in "?" }.joined(separator: ",")
            try append(db.makeStatement(sql: select + " WHERE id IN (\(marks)) ORDER BY id"), StatementArguments(chunk))
        }
    }

    /// The covered tables' columns, before a migration.
    struct Schema: Equatable {
        var hasLedger: Bool
        /// The ledger's entries carry their state (0015).
        var recordsState: Bool
        var columns: [LedgerTable: [String]]
    }

    static func schema(_ db: Database) throws -> Schema {
        var columns: [LedgerTable: [String]] = [:]
        for table in LedgerTable.allCases where try db.tableExists(table.rawValue) {
            columns[table] = try db.columns(in: table.rawValue).map(\.name)
        }
        let hasLedger = try db.tableExists("ledger")
        let recordsState = try hasLedger && db.columns(in: "ledger").contains { $0.name == "fixed_hash" }
        return Schema(hasLedger: hasLedger, recordsState: recordsState, columns: columns)
    }

    /// In a migration's transaction: when the ledger is created (0007) in a database that has rows,
    /// when its entries start to carry their state (0015), and whenever a migration changes the
    /// columns of a covered table (and so their canonical content), the rows are entered as they are
    /// then stored. Nothing can vouch for rows from before the ledger; run `verify` before upgrading.
    /// A migration that adds columns must add them after the others (`layout` counts a prefix).
    static func afterMigration(_ db: Database, before: Schema) throws {
        let after = try schema(db)
        guard after.hasLedger else { return }
        let stateAdded = after.recordsState && !before.recordsState
        for table in LedgerTable.allCases {
            guard let columns = after.columns[table],
                  !before.hasLedger || stateAdded || before.columns[table] != columns else { continue }
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
