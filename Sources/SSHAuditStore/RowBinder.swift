import Foundation
import Crypto
import GRDB
import GRDBSQLite
import SSHAuditCore

/// The recorder's write path: binds one row's values straight to a prepared statement with SQLite's
/// C API and, in the same pass, encodes them for the ledger (`Ledger.Encoder`: the canonical content,
/// and the immutable content of the columns that never change), so that the hashes are of the very
/// bytes bound. Every command stored goes through here: no boxed values, no argument arrays, no String
/// for a timestamp or an argv. (Statements stepped here bypass GRDB's execution hooks; the writer's
/// connection has no transaction observers.)
struct RowBinder {
    private(set) var encoder = Ledger.Encoder()
    private var immutable = Ledger.Encoder()
    /// Which set-once columns of the row are set.
    private(set) var onceSet: Int64 = 0
    /// Set-once columns outside this mask enter the immutable content as NULL (to compare a version
    /// with an older one).
    private var mask: Int64 = -1
    private var roles: [LedgerTable.ColumnRole] = []
    private var rolesOf: LedgerTable?
    private var statement: SQLiteStatement?
    private(set) var index: Int32 = 0
    /// The first binding SQLite refused in this row: the row is then not written (and not hashed).
    private var bindError = SQLITE_OK
    /// Text built for one value (timestamp, argv JSON), reused.
    private var scratch: [UInt8] = []
    /// The benchmark's comparison only (`AuditStore.bindsThroughGRDB`): the row's values, boxed, for
    /// GRDB to bind (`Statement.execute(arguments:)`) instead of this binder's C API calls.
    private var boxed: [DatabaseValue]?
    private var grdbStatement: Statement?

    init() { scratch.reserveCapacity(4096) }

    /// Starts a row of `table` on `statement` (reset; every parameter is bound again), or only hashes
    /// it when `statement` is nil.
    mutating func start(_ table: LedgerTable, _ statement: Statement?, mask: Int64 = -1) {
        if AuditStore.bindsThroughGRDB, let statement {
            grdbStatement = statement
            boxed = []
            start(table, nil as SQLiteStatement?, mask: mask)
            return
        }
        boxed = nil
        start(table, statement?.sqliteStatement, mask: mask)
    }

    private mutating func start(_ table: LedgerTable, _ statement: SQLiteStatement?, mask: Int64) {
        if let statement { sqlite3_reset(statement) }
        self.statement = statement
        index = 0
        bindError = SQLITE_OK
        encoder.start(table)
        immutable.startImmutable(table)
        onceSet = 0
        self.mask = mask
        if rolesOf != table {
            roles = table.roles
            rolesOf = table
        }
    }

    /// The role of the column being bound (`index` already counts it).
    private var role: LedgerTable.ColumnRole { roles[Int(index) - 1] }

    mutating func null() {
        index += 1
        if statement != nil { check(sqlite3_bind_null(statement, index)) }
        boxed?.append(.null)
        encoder.null()
        if role != .mutable { immutable.null() }
    }

    mutating func int(_ value: Int64) {
        index += 1
        if statement != nil { check(sqlite3_bind_int64(statement, index, value)) }
        boxed?.append(value.databaseValue)
        encoder.integer(value)
        switch role {
        case .mutable: break
        case .fixed: immutable.integer(value)
        case let .setOnce(bit):
            onceSet |= bit
            if mask & bit != 0 { immutable.integer(value) } else { immutable.null() }
        }
    }

    mutating func int(_ value: Int64?) { if let value { int(value) } else { null() } }
    mutating func int<I: BinaryInteger>(_ value: I?) { if let value { int(Int64(value)) } else { null() } }
    mutating func bool(_ value: Bool) { int(value ? 1 : 0) }

    mutating func text(_ value: String?) {
        guard var value else { return null() }
        value.withUTF8 { bindText($0) }
    }

    /// A BLOB, bound and hashed as its exact bytes (a terminal recording's compressed chunk).
    mutating func blob(_ data: [UInt8]) {
        index += 1
        data.withUnsafeBytes { raw in
            if statement != nil {
                check(sqlite3_bind_blob(statement, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), SQLITE_TRANSIENT))
            }
            // (GRDB would store an empty blob as NULL: the comparison never writes one, a compressed
            // terminal chunk is never empty.)
            boxed?.append(Data(raw).databaseValue)
            encoder.blob(raw)
            if role != .mutable { immutable.blob(raw) }
        }
    }

    mutating func time(_ ns: Int64?) {
        guard let ns else { return null() }
        scratch.removeAll(keepingCapacity: true)
        Timestamp.appendISO(ns: ns, to: &scratch)
        bindScratch()
    }

    mutating func jsonArray(_ strings: [String]) {
        scratch.removeAll(keepingCapacity: true)
        JSONText.appendArray(strings, to: &scratch)
        bindScratch()
    }

    private mutating func bindScratch() {
        let copy = scratch  // shares storage: no copy is made while nothing writes to it
        copy.withUnsafeBufferPointer { bindText($0) }
    }

    /// Text as it was always stored (GRDB binds C strings): a NUL byte ends it.
    private mutating func bindText(_ utf8: UnsafeBufferPointer<UInt8>) {
        let end = utf8.firstIndex(of: 0) ?? utf8.endIndex
        let text = UnsafeBufferPointer(rebasing: utf8[..<end])
        index += 1
        if statement != nil, let base = text.baseAddress {
            let code = UnsafeRawPointer(base).withMemoryRebound(to: CChar.self, capacity: text.count) {
                sqlite3_bind_text(statement, index, $0, Int32(text.count), SQLITE_TRANSIENT)
            }
            check(code)
        } else if statement != nil {
            check(sqlite3_bind_text(statement, index, "", 0, SQLITE_TRANSIENT))
        }
        boxed?.append(String(decoding: text, as: UTF8.self).databaseValue)
        encoder.text(text)
        switch role {
        case .mutable: break
        case .fixed: immutable.text(text)
        case let .setOnce(bit):
            onceSet |= bit
            if mask & bit != 0 { immutable.text(text) } else { immutable.null() }
        }
    }

    private mutating func check(_ code: Int32) {
        if code != SQLITE_OK && bindError == SQLITE_OK { bindError = code }
    }

    /// Runs the statement once; throws what SQLite reported (or a refused binding).
    func step(_ db: Database) throws {
        if let boxed, let grdbStatement { return try grdbStatement.execute(arguments: StatementArguments(boxed)) }
        try SQLiteCall.step(statement, in: db, refused: bindError)
    }

    var rowHash: SHA256.Digest { encoder.digest }
    /// fixed_hash of the row (Ledger.swift), and the bytes it hashes.
    var immutableHash: SHA256.Digest { immutable.digest }
    var immutableBytes: [UInt8] { immutable.bytes }
}

/// Binds one row of the table `C` declares (TableColumns.swift), column by column: each value names
/// its column, and in debug builds (the tests) a value given for any column but the next one, or a
/// row left short, stops the write there, so a binding cannot drift from the declaration. Release
/// builds bind straight through: the names cost nothing there.
struct ColumnBinder<C: TableColumn> {
    let row: UnsafeMutablePointer<RowBinder>

    private func next(_ column: C) {
        assert(column.parameter == row.pointee.index + 1,
               "\(C.table.rawValue): bound \(column.rawValue) as parameter \(row.pointee.index + 1), declared \(column.parameter)")
    }

    func int(_ column: C, _ value: Int64?) { next(column); row.pointee.int(value) }
    func int<I: BinaryInteger>(_ column: C, _ value: I?) { next(column); row.pointee.int(value) }
    func bool(_ column: C, _ value: Bool) { next(column); row.pointee.bool(value) }
    func text(_ column: C, _ value: String?) { next(column); row.pointee.text(value) }
    func blob(_ column: C, _ value: [UInt8]) { next(column); row.pointee.blob(value) }
    func time(_ column: C, _ ns: Int64?) { next(column); row.pointee.time(ns) }
    func jsonArray(_ column: C, _ strings: [String]) { next(column); row.pointee.jsonArray(strings) }

    /// Binds a row with `bind`, checking (debug builds) that it bound every declared column.
    static func bind(_ row: inout RowBinder, _ bind: (ColumnBinder<C>) -> Void) {
        withUnsafeMutablePointer(to: &row) { bind(ColumnBinder(row: $0)) }
        assert(row.index == Int32(C.allCases.count), "\(C.table.rawValue): \(row.index) of \(C.allCases.count) columns bound")
    }
}

enum SQLiteCall {
    /// Runs an insert or update once; throws what SQLite reported, or `refused`: the code of a binding
    /// it refused before (the statement then does not run).
    static func step(_ statement: SQLiteStatement?, in db: Database, refused: Int32 = SQLITE_OK) throws {
        let sql = { sqlite3_sql(statement).map { String(cString: $0) } }
        guard refused == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: refused), message: "SQLite refused a value of this row", sql: sql())
        }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql())
        }
    }

    /// Steps a query once: true on a row, false when done; throws what SQLite reported.
    static func row(_ statement: SQLiteStatement?, in db: Database) throws -> Bool {
        let code = sqlite3_step(statement)
        if code == SQLITE_ROW { return true }
        if code == SQLITE_DONE { return false }
        throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
}

/// SQLite copies the value during the call.
let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
