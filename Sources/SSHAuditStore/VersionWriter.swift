import Crypto
import Foundation
import GRDB
import GRDBSQLite
import SSHAuditCore

/// What the write path did besides writing.
public struct WriteIntegrity: Sendable, Equatable {
    /// Versions not written because their row was written in its final version already. A resumed
    /// run reads again the kernel records after its last checkpoint: some of these are older versions
    /// of rows the killed run finished, and expected then.
    public var refusedVersions = 0
    /// Rows found changed outside sshaudit when a new version of theirs was to be written: recorded in
    /// ledger_findings, so that `verify` keeps failing and names them.
    public var findings = 0

    public init() {}

    /// One line for the operator; nil when there is nothing to say.
    public var summary: String? {
        var parts: [String] = []
        if findings > 0 {
            parts.append("\(findings) row(s) were found changed outside sshaudit before their next version was written "
                         + "(recorded in ledger_findings; `sshaudit verify` names them)")
        }
        if refusedVersions > 0 {
            parts.append("\(refusedVersions) row version(s) were not written: their row was written in its final version "
                         + "already (expected for records read again after a restart)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    public static func += (a: inout WriteIntegrity, b: WriteIntegrity) {
        a.refusedVersions += b.refusedVersions
        a.findings += b.findings
    }
}

/// One write transaction's ledger head, row binding and findings.
struct WriteContext {
    var ledger: Ledger.Appender
    var row = RowBinder()
    /// For hashing stored rows.
    var encoder = Ledger.Encoder()
    var immutable = Ledger.Encoder()
    var integrity = WriteIntegrity()
    private var findings: [(table: LedgerTable, id: Int64, seq: Int64?, what: String)] = []

    init(_ db: Database) throws {
        ledger = try Ledger.Appender(db)
    }

    mutating func found(_ table: LedgerTable, _ id: Int64, seq: Int64?, _ what: String) {
        findings.append((table, id, seq, what))
        integrity.findings += 1
    }

    /// The findings, as chained rows of ledger_findings. Call once, before the transaction commits.
    mutating func writeFindings(_ db: Database) throws {
        guard !findings.isEmpty else { return }
        var writer = try VersionWriter(db, FindingColumn.self)
        let nowNs = Clock.wallNs()
        let pending = findings
        findings = []
        for f in pending {
            let id = writer.nextID
            try writer.put(db, id: id, final: true, &self) { r in
                r.int(.id, id); r.time(.at, nowNs); r.text(.tbl, f.table.rawValue); r.int(.rowID, f.id)
                r.int(.seq, f.seq); r.text(.what, f.what)
            }
        }
    }
}

/// Writes versions of one table's rows, whole (every column `C` declares, in its order), each
/// with its ledger entry. A row stored before must still be the version its latest ledger entry
/// records, and agree with the new version in the columns that never change; if not, the recorder
/// does not bless the change by writing over it: it records a finding (ledger_findings, chained) and
/// then writes its own version whole. A row whose latest version is final gets no other version (it
/// is counted as refused). Rows with ids above any stored or entered before (most: a command's exec
/// and exit usually share a batch) are inserted without a read; a row written before costs one read
/// of it and of its latest entry (by the ledger_row index), hashed straight from SQLite's buffers.
struct VersionWriter<C: TableColumn> {
    var table: LedgerTable { C.table }
    private let insert: Statement
    /// Updates only the columns that change as a row progresses (with the set-once ones, when one
    /// of those changes): the others are equal (checked), and assigning them would make SQLite
    /// rewrite their index entries and fire the command-line index's trigger for nothing.
    private let upsert: Statement
    private let upsertSetOnce: Statement
    /// Every column: when the stored row is not what was written last.
    private let rewrite: Statement
    private let prior: Statement
    private let roles: [LedgerTable.ColumnRole]
    /// No row nor ledger entry of this table has an id above this.
    private var highWater: Int64

    var nextID: Int64 { highWater + 1 }

    init(_ db: Database, _ columns: C.Type) throws {
        let sql = versionStatements[C.table]!
        roles = sql.roles
        insert = try db.cachedStatement(sql: sql.insert)
        upsert = try db.cachedStatement(sql: sql.upsert)
        upsertSetOnce = try db.cachedStatement(sql: sql.upsertSetOnce)
        rewrite = try db.cachedStatement(sql: sql.rewrite)
        prior = try db.cachedStatement(sql: sql.prior)
        highWater = try Int64.fetchOne(db.cachedStatement(sql: sql.highWater)) ?? 0
    }


    /// Writes this version of row `id` (`bind` binds every column, in order; `final`: no later
    /// version may follow it), unless the row must not change.
    mutating func put(_ db: Database, id: Int64, final: Bool, _ tx: inout WriteContext,
                      _ bind: (ColumnBinder<C>) -> Void) throws {
        if id > highWater {
            tx.row.start(table, insert)
            ColumnBinder.bind(&tx.row, bind)
            try tx.row.step(db)
            highWater = id
            try tx.ledger.append(table, id: id, rowHash: tx.row.rowHash, state: state(tx.row, tx.row.immutableHash, final), db)
            return
        }
        // Bound for the usual case (stored, and progressing), then compared with what is stored.
        tx.row.start(table, upsert)
        ColumnBinder.bind(&tx.row, bind)
        let hash = tx.row.rowHash
        let before = try examine(db, id, comparing: tx.row.onceSet, &tx)
        if let stored = before.stored {
            if before.final {
                // Finished: the same version again (a resumed run) changes nothing; any other is refused.
                if !(before.clean && hash == stored.hash) { tx.integrity.refusedVersions += 1 }
                return
            }
            if before.clean, hash == stored.hash {
                // Unchanged; or only now known to be final, which only its entry needs to say.
                if final { try tx.ledger.append(table, id: id, rowHash: hash, state: state(tx.row, tx.row.immutableHash, final), db) }
                return
            }
            var other: Statement?
            if !before.clean {
                other = rewrite
            } else if !sameImmutables(stored, tx, bind) {
                tx.found(table, id, seq: before.seq, "differed in columns that never change from the version the recorder wrote next")
                other = rewrite
            } else if tx.row.onceSet != stored.onceSet {
                other = upsertSetOnce
            }
            if let other {
                tx.row.start(table, other)
                ColumnBinder.bind(&tx.row, bind)
            }
        }
        // Not stored: deleted (found above) or pruned with its entries, and the upsert inserts it.
        try tx.row.step(db)
        try tx.ledger.append(table, id: id, rowHash: hash, state: state(tx.row, tx.row.immutableHash, final), db)
    }

    /// For a change made with a statement of its own (a recorder run's counters): before it, the row
    /// must still be the version of its latest ledger entry, or the finding is recorded.
    mutating func check(_ db: Database, id: Int64, _ tx: inout WriteContext) throws {
        _ = try examine(db, id, comparing: -1, &tx)
    }

    private func state(_ row: RowBinder, _ immutable: SHA256.Digest, _ final: Bool) -> Ledger.EntryState {
        Ledger.EntryState(fixedHash: Array(immutable), final: final, onceSet: row.onceSet, layout: Int64(roles.count))
    }

    /// A stored row's row_hash, and which set-once columns are set in it and in the version compared
    /// with (its immutable content, with those, is left in `WriteContext.immutable`).
    struct Stored {
        var hash: SHA256.Digest
        var onceSet: Int64
        var comparedMask: Int64
    }

    /// The row as stored and its latest ledger entry; a finding when they disagree.
    private func examine(_ db: Database, _ id: Int64, comparing mask: Int64, _ tx: inout WriteContext) throws
        -> (stored: Stored?, seq: Int64?, final: Bool, clean: Bool) {
        let handle = prior.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, id)
        defer { sqlite3_reset(handle) }
        guard try SQLiteCall.row(handle, in: db) else { throw DatabaseError(message: "no row for \(table.rawValue) \(id)") }
        let n = Int32(roles.count)
        var stored: Stored?
        if sqlite3_column_type(handle, n) != SQLITE_NULL {
            let onceSet = Ledger.encodeStored(table, roles, handle, columnCount: Int(n), mask: mask, row: &tx.encoder,
                                              immutable: &tx.immutable)
            stored = Stored(hash: tx.encoder.digest, onceSet: onceSet, comparedMask: mask & onceSet)
        }
        let seq: Int64? = sqlite3_column_type(handle, n + 1) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, n + 1)
        let entryHash: [UInt8]? = sqlite3_column_blob(handle, n + 2).map {
            Array(UnsafeRawBufferPointer(start: $0, count: Int(sqlite3_column_bytes(handle, n + 2))))
        }
        let final = sqlite3_column_int64(handle, n + 3) == 1
        let what: String?
        switch (stored, entryHash) {
        case (nil, nil): what = nil  // pruned (its entries went with it), or never written
        case (nil, _?): what = "had been deleted"
        case (_?, nil): what = "had no ledger entry"
        case let (stored?, entryHash?): what = stored.hash.elementsEqual(entryHash) ? nil : "differed from its latest ledger entry"
        }
        if let what { tx.found(table, id, seq: seq, what) }
        return (stored, seq, final, what == nil)
    }

    /// Whether the new version bound in `tx.row` has the stored row's immutable columns (compared as
    /// encoded, no hash needed); a set-once column counts where both have it set (an older version
    /// may come again after a resumed run).
    private func sameImmutables(_ stored: Stored, _ tx: WriteContext, _ bind: (ColumnBinder<C>) -> Void) -> Bool {
        if tx.row.onceSet == stored.comparedMask { return tx.row.immutableBytes == tx.immutable.bytes }
        // The row sets a column the stored one lacks (a session's user, at authentication).
        var probe = RowBinder()
        probe.start(table, nil as Statement?, mask: stored.comparedMask)
        ColumnBinder.bind(&probe, bind)
        return probe.immutableBytes == tx.immutable.bytes
    }
}

/// Each table's statements, spelled once per process: a writer is made for every table in every
/// write transaction (several a second while recording).
private struct VersionStatements {
    let roles: [LedgerTable.ColumnRole]
    let insert, upsert, upsertSetOnce, rewrite, prior, highWater: String

    init(_ table: LedgerTable) {
        let name = table.rawValue
        let columns = table.columns
        roles = table.roles
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        let marks = columns.map { _ in "?" }.joined(separator: ", ")
        let insertSQL = "INSERT INTO \(name) (\(list)) VALUES (\(marks))"
        func upsertSQL(_ assigned: [String]) -> String {
            guard !assigned.isEmpty else { return insertSQL }  // rows written once
            return insertSQL + " ON CONFLICT (id) DO UPDATE SET "
                + assigned.map { "\"\($0)\" = excluded.\"\($0)\"" }.joined(separator: ", ")
        }
        let mutable = zip(columns, roles).filter { $0.1 == .mutable }.map(\.0)
        insert = insertSQL
        upsert = upsertSQL(mutable)
        upsertSetOnce = upsertSQL(mutable + table.setOnceColumns)
        // Numbered parameters in the insert's order, so that the same binding serves all.
        let assignments = columns.enumerated().dropFirst().map { "\"\($1)\" = ?\($0 + 1)" }
        rewrite = "UPDATE \(name) SET \(assignments.joined(separator: ", ")) WHERE id = ?1"
        prior = """
            SELECT \(columns.map { "t.\"\($0)\"" }.joined(separator: ", ")), t.id, l.seq, l.row_hash, l.final
            FROM (SELECT ?1 AS id) AS k
            LEFT JOIN \(name) AS t ON t.id = k.id
            LEFT JOIN ledger AS l ON l.seq = (SELECT seq FROM ledger WHERE tbl = '\(name)' AND row_id = k.id ORDER BY seq DESC LIMIT 1)
            """
        highWater = """
            SELECT MAX(COALESCE((SELECT MAX(id) FROM \(name)), 0), COALESCE((SELECT MAX(row_id) FROM ledger WHERE tbl = '\(name)'), 0))
            """
    }
}

private let versionStatements = Dictionary(uniqueKeysWithValues: LedgerTable.allCases.map { ($0, VersionStatements($0)) })
