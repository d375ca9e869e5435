import Foundation
import GRDB
import GRDBSQLite

/// The first thing `verify` found wrong. Each names what an operator looks at next.
public enum LedgerProblem: Error, CustomStringConvertible, Equatable, Sendable {
    case noLedger(path: String)
    case entryAltered(seq: Int64)
    case entriesMissing(first: Int64, last: Int64)
    case unknownTable(seq: Int64, table: String)
    case badPruneRecord(id: Int64, why: String)
    case rowChanged(table: String, id: Int64, seq: Int64)
    case rowNotInLedger(table: String, id: Int64)
    case rowMissing(table: String, id: Int64, seq: Int64)
    case headNotInChain(String)
    /// A version of the row records other values in columns that never change than the row has now.
    case immutableChanged(table: String, id: Int64, seq: Int64)
    /// A version after the row's final one.
    case versionAfterFinal(table: String, id: Int64, seq: Int64)
    /// The recorder found the row changed before writing its next version (ledger_findings).
    case foundByRecorder(table: String, id: Int64, finding: Int64, what: String)
    /// The --grep index disagrees with a command's line.
    case grepIndex(id: Int64, why: String)
    case grepIndexUnusable(String)

    public var description: String {
        switch self {
        case let .noLedger(path):
            return "\(path) has no ledger (written before sshaudit kept one); open it once with `sshaudit record` or `sshaudit prune` to start one"
        case let .entryAltered(seq):
            return "verify failed: ledger entry \(seq) does not match the hash chain (the ledger was altered)"
        case let .entriesMissing(first, last):
            let which = first == last ? "entry \(first) is" : "entries \(first)-\(last) are"
            return "verify failed: ledger \(which) missing and no prune record covers them (ledger entries were removed)"
        case let .unknownTable(seq, table):
            return "verify failed: ledger entry \(seq) names table '\(table)', which the ledger does not cover (the ledger was altered)"
        case let .badPruneRecord(id, why):
            return "verify failed: ledger_prunes row \(id): \(why)"
        case let .rowChanged(table, id, seq):
            return "verify failed: \(table) row \(id) differs from its ledger entry \(seq) (changed outside sshaudit)"
        case let .rowNotInLedger(table, id):
            return "verify failed: \(table) row \(id) has no ledger entry (inserted outside sshaudit)"
        case let .rowMissing(table, id, seq):
            return "verify failed: \(table) row \(id) is missing, but ledger entry \(seq) records it (deleted outside sshaudit)"
        case let .headNotInChain(hex):
            return "verify failed: chain head \(hex) is not in the ledger's chain (the ledger was rewritten or cut)"
        case let .immutableChanged(table, id, seq):
            return "verify failed: \(table) row \(id) differs from ledger entry \(seq) in columns that never change (changed outside sshaudit, and entered again)"
        case let .versionAfterFinal(table, id, seq):
            return "verify failed: \(table) row \(id) has ledger entry \(seq) after its final version (changed outside sshaudit, and entered again)"
        case let .foundByRecorder(table, id, finding, what):
            return "verify failed: \(table) row \(id) was changed outside sshaudit: when the recorder wrote its next version, it \(what) (ledger_findings row \(finding))"
        case let .grepIndex(id, why):
            return "verify failed: commands row \(id) \(why) (the index was changed outside sshaudit)"
        case let .grepIndexUnusable(why):
            return "verify failed: the --grep index \(why)"
        }
    }
}

/// What `verify` checked, when everything matched.
public struct LedgerReport: Sendable, Equatable {
    /// Rows checked, by table.
    public var rows: [String: Int] = [:]
    public var entries = 0
    public var prunes = 0
    /// The last entry: its seq (0 for an empty ledger) and chain value, to keep elsewhere.
    public var headSeq: Int64 = 0
    public var head = Ledger.hex(Ledger.genesis)
    /// Commands whose line was checked against the --grep index.
    public var indexedCommands = 0
    public var totalRows: Int { rows.values.reduce(0, +) }
}

extension AuditStore {
    /// Recomputes the ledger and every covered row, read-only, in one snapshot (a recorder may be
    /// writing meanwhile). Throws the first `LedgerProblem` found: first the chain, then the rows and
    /// their versions, then what the recorder found, then the --grep index. With `expectHead` (a head
    /// printed by an earlier verify), it must still be a chain value.
    public static func verify(path: String, expectHead: String? = nil) throws -> LedgerReport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw StoreError.missing(path)
        }
        var config = Configuration()
        config.readonly = true
        // A recorder (or a replay) finishing its last transaction beside this read: wait for it.
        config.busyMode = .timeout(10)
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            return try queue.read { db in
                guard try db.tableExists("ledger"), try db.tableExists("ledger_prunes") else {
                    if try db.tableExists("sessions") { throw LedgerProblem.noLedger(path: path) }
                    throw StoreError.notADatabase(path)
                }
                var verifier = LedgerVerifier(db: db, expectHead: expectHead?.lowercased())
                return try verifier.run()
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            throw StoreError.notADatabase(path)
        } catch let error as DatabaseError {
            // Busy past the timeout, unreadable, …: said as it is, not as a corrupt file.
            throw StoreError.cannotOpen(path, StoreError.reason(error))
        }
    }
}

/// A run of consecutive ledger seqs dropped by a prune, and the chain value of its last entry.
struct DroppedRun: Equatable {
    var first: Int64
    var last: Int64
    var chain: [UInt8]

    /// "FIRST-LAST:HEX,…" (ledger_prunes.dropped).
    static func parse(_ text: String) -> [DroppedRun]? {
        if text.isEmpty { return [] }
        var runs: [DroppedRun] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let halves = part.split(separator: ":")
            guard halves.count == 2 else { return nil }
            let bounds = halves[0].split(separator: "-")
            guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 1, first <= last,
                  let chain = Ledger.unhex(String(halves[1])), chain.count == 32 else { return nil }
            runs.append(DroppedRun(first: first, last: last, chain: chain))
        }
        return runs
    }

    static func format(_ runs: [DroppedRun]) -> String {
        runs.map { "\($0.first)-\($0.last):\(Ledger.hex($0.chain))" }.joined(separator: ",")
    }
}

private struct LedgerVerifier {
    let db: Database
    let expectHead: String?
    var report = LedgerReport()
    var encoder = Ledger.Encoder()
    var immutable = Ledger.Encoder()
    /// The ledger has the columns of 0015.
    var recordsState = false

    init(db: Database, expectHead: String?) {
        self.db = db
        self.expectHead = expectHead
    }

    mutating func run() throws -> LedgerReport {
        recordsState = try db.columns(in: "ledger").contains { $0.name == "fixed_hash" }
        try walkChain()
        try checkRows()
        try checkFindings()
        report.indexedCommands = try GrepIndexCheck.run(db)
        return report
    }

    var stateColumns: String { recordsState ? "fixed_hash, final, once_set, layout" : "NULL, NULL, NULL, NULL" }

    /// The state of a ledger row read with `stateColumns` at `index`; nil for an entry from before
    /// 0015. Throws when the state is malformed.
    static func state(_ row: Row, at index: Int, seq: Int64) throws -> Ledger.EntryState? {
        let values: [DatabaseValue] = (0..<4).map { row[index + $0] }
        if values[0].isNull { return nil }
        guard let fixed = Data.fromDatabaseValue(values[0]), fixed.count == 32,
              let final = Int64.fromDatabaseValue(values[1]), final == 0 || final == 1,
              let onceSet = Int64.fromDatabaseValue(values[2]), let layout = Int64.fromDatabaseValue(values[3]), layout > 0 else {
            throw LedgerProblem.entryAltered(seq: seq)
        }
        return Ledger.EntryState(fixedHash: [UInt8](fixed), final: final == 1, onceSet: onceSet, layout: layout)
    }

    /// Seq 1 to the head: each entry chains from the one before it, or from the bridge of a run of
    /// entries a later prune dropped.
    mutating func walkChain() throws {
        // Runs by their first seq, with the prune that dropped them.
        var runs: [Int64: (run: DroppedRun, prune: Int64)] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, dropped FROM ledger_prunes ORDER BY id") {
            let id: Int64 = row["id"]
            guard let text = row["dropped"] as String?, let parsed = DroppedRun.parse(text) else {
                throw LedgerProblem.badPruneRecord(id: id, why: "its list of dropped ledger entries is malformed (altered)")
            }
            for run in parsed {
                if runs[run.first] != nil {
                    throw LedgerProblem.badPruneRecord(id: id, why: "it drops ledger entry \(run.first) a second time (altered)")
                }
                runs[run.first] = (run, id)
            }
            report.prunes += 1
        }
        // The seq of each prune's entry: a prune vouches only for entries before its own.
        var pruneSeq: [Int64: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT row_id, MAX(seq) FROM ledger WHERE tbl = 'ledger_prunes' GROUP BY row_id") {
            pruneSeq[row[0]] = row[1]
        }
        var used = Set<Int64>()
        var expectSeen = expectHead == nil
        var previous = Ledger.genesis
        var next: Int64 = 1
        let known = Set(LedgerTable.allCases.map(\.rawValue))

        func bridge(upTo seq: Int64) throws {
            while next < seq {
                guard let (run, prune) = runs[next] else {
                    // Name the gap up to the next entry or the next bridged run.
                    var last = seq - 1
                    if let start = runs.keys.filter({ $0 > next && $0 < seq }).min() { last = start - 1 }
                    throw LedgerProblem.entriesMissing(first: next, last: last)
                }
                if run.last >= seq {
                    throw LedgerProblem.badPruneRecord(id: prune, why: "ledger entry \(seq) is present although this prune dropped it (altered)")
                }
                guard let own = pruneSeq[prune], own > run.last else {
                    throw LedgerProblem.badPruneRecord(id: prune, why: "its own ledger entry does not follow the entries it dropped (altered)")
                }
                used.insert(run.first)
                previous = run.chain
                if !expectSeen, Ledger.hex(run.chain) == expectHead { expectSeen = true }
                next = run.last + 1
            }
        }

        // Entries carry their state from 0015 on: one without it after one with it was made to look old.
        var stateSeen = false
        let cursor = try Row.fetchCursor(db, sql: "SELECT seq, tbl, row_id, row_hash, chain, \(stateColumns) FROM ledger ORDER BY seq")
        while let row = try cursor.next() {
            let seq: Int64 = row[0]
            try bridge(upTo: seq)
            guard let table = String.fromDatabaseValue(row[1]), let rowID = Int64.fromDatabaseValue(row[2]) else {
                throw LedgerProblem.entryAltered(seq: seq)
            }
            guard known.contains(table) else { throw LedgerProblem.unknownTable(seq: seq, table: table) }
            guard let rowHash = Data.fromDatabaseValue(row[3]), rowHash.count == 32,
                  let stored = Data.fromDatabaseValue(row[4]), stored.count == 32 else {
                throw LedgerProblem.entryAltered(seq: seq)
            }
            let state = try Self.state(row, at: 5, seq: seq)
            if state == nil && stateSeen { throw LedgerProblem.entryAltered(seq: seq) }
            stateSeen = stateSeen || state != nil
            let chain = Ledger.chain(previous: previous, seq: seq, table: table, rowID: rowID, rowHash: [UInt8](rowHash),
                                     state: state)
            guard chain.elementsEqual(stored) else { throw LedgerProblem.entryAltered(seq: seq) }
            previous = chain
            next = seq + 1
            report.entries += 1
            report.headSeq = seq
            if !expectSeen, Ledger.hex(chain) == expectHead { expectSeen = true }
        }
        report.head = Ledger.hex(previous)
        // A run after the last entry: its prune's entry would have come after it.
        if let (run, prune) = runs.values.filter({ !used.contains($0.run.first) }).min(by: { $0.run.first < $1.run.first }) {
            if run.first >= next {
                throw LedgerProblem.badPruneRecord(id: prune, why: "it dropped ledger entries \(run.first)-\(run.last), after the last entry (the ledger was cut)")
            }
            throw LedgerProblem.badPruneRecord(id: prune, why: "ledger entry \(run.first) is present although this prune dropped it (altered)")
        }
        if !expectSeen, let expectHead { throw LedgerProblem.headNotInChain(expectHead) }
    }

    struct Entry {
        var seq: Int64
        var rowHash: Data
        var state: Ledger.EntryState?
    }

    /// Every covered row against all the entries that name it: the latest must hash as the row is
    /// stored; every one must record the columns that never change as the row has them (set-once
    /// columns as far as they were set then); none may follow a final one, except a migration's
    /// entry of the row with more columns (whose older columns must still be the final ones).
    mutating func checkRows() throws {
        let entries = try Row.fetchCursor(db, sql: """
            SELECT tbl, row_id, seq, row_hash, \(stateColumns) FROM ledger ORDER BY tbl, row_id, seq
            """)
        var pending = try entries.next()
        /// The next row's entries, in seq order.
        func nextRow() throws -> (table: String, id: Int64, entries: [Entry])? {
            guard let first = pending else { return nil }
            let table: String = first[0], id: Int64 = first[1]
            var group: [Entry] = []
            while let row = pending, (row[0] as String) == table, (row[1] as Int64) == id {
                let seq: Int64 = row[2]
                group.append(Entry(seq: seq, rowHash: Data.fromDatabaseValue(row[3]) ?? Data(), state: try Self.state(row, at: 4, seq: seq)))
                pending = try entries.next()
            }
            return (table, id, group)
        }
        var recorded = try nextRow()
        for table in LedgerTable.allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
            guard try db.tableExists(table.rawValue) else { continue }
            // A database not upgraded yet (verify before upgrading) has a prefix of the columns:
            // migrations add columns after the others.
            let existing = Set(try db.columns(in: table.rawValue).map(\.name))
            let columns = Array(table.columns.prefix { existing.contains($0) })
            let roles = Array(table.roles.prefix(columns.count))
            let n = Int32(roles.count)
            let statement = try db.makeStatement(sql: table.storedRowsSQL(columns) + " ORDER BY id")
            let rows = statement.sqliteStatement
            func next() throws -> Int64? {
                try SQLiteCall.row(rows, in: db) ? sqlite3_column_int64(rows, n) : nil
            }
            var row = try next()
            var count = 0
            while true {
                let current = recorded.flatMap { $0.table == table.rawValue ? $0 : nil }
                switch (row, current) {
                case (nil, nil):
                    report.rows[table.rawValue] = count
                case let (id?, nil):
                    throw LedgerProblem.rowNotInLedger(table: table.rawValue, id: id)
                case let (nil, recorded?):
                    throw LedgerProblem.rowMissing(table: table.rawValue, id: recorded.id, seq: recorded.entries.last!.seq)
                case let (id?, recordedRow?):
                    if id < recordedRow.id { throw LedgerProblem.rowNotInLedger(table: table.rawValue, id: id) }
                    if recordedRow.id < id {
                        throw LedgerProblem.rowMissing(table: table.rawValue, id: recordedRow.id, seq: recordedRow.entries.last!.seq)
                    }
                    try checkRow(table, roles, id, rows, recordedRow.entries)
                    count += 1
                    row = try next()
                    recorded = try nextRow()
                    continue
                }
                break
            }
        }
    }

    /// One stored row (on `statement`) against its entries.
    mutating func checkRow(_ table: LedgerTable, _ roles: [LedgerTable.ColumnRole], _ id: Int64, _ statement: SQLiteStatement,
                           _ entries: [Entry]) throws {
        let name = table.rawValue
        let latest = entries[entries.count - 1]
        let storedOnce = Ledger.encodeStored(table, roles, statement, columnCount: roles.count, row: &encoder, immutable: &immutable)
        guard encoder.digest.elementsEqual(latest.rowHash) else {
            throw LedgerProblem.rowChanged(table: name, id: id, seq: latest.seq)
        }
        // Every version: the columns that never change, as the row has them (set-once ones as far as
        // they were set then).
        var byMask: [Int64: [UInt8]] = [storedOnce: Array(immutable.digest)]
        for entry in entries {
            guard let state = entry.state else { continue }
            guard state.layout <= Int64(roles.count), state.onceSet & ~storedOnce == 0 else {
                throw LedgerProblem.immutableChanged(table: name, id: id, seq: entry.seq)
            }
            if byMask[state.onceSet] == nil {
                _ = Ledger.encodeStored(table, roles, statement, columnCount: 0, mask: state.onceSet, row: &encoder, immutable: &immutable)
                byMask[state.onceSet] = Array(immutable.digest)
            }
            guard byMask[state.onceSet] == state.fixedHash else {
                throw LedgerProblem.immutableChanged(table: name, id: id, seq: entry.seq)
            }
        }
        // After the final version: only the same again, or a migration's entry with more columns.
        guard let f = entries.firstIndex(where: { $0.state?.final == true }), f < entries.count - 1 else { return }
        let final = entries[f]
        var layoutSoFar = final.state!.layout
        var reentered = false
        for entry in entries[(f + 1)...] where entry.rowHash != final.rowHash || entry.state != final.state {
            guard let state = entry.state, state.layout > layoutSoFar else {
                throw LedgerProblem.versionAfterFinal(table: name, id: id, seq: entry.seq)
            }
            layoutSoFar = state.layout
            reentered = true
        }
        // Whose older columns must still be the final version's.
        if reentered {
            _ = Ledger.encodeStored(table, roles, statement, columnCount: Int(final.state!.layout), row: &encoder, immutable: &immutable)
            if !encoder.digest.elementsEqual(final.rowHash) {
                throw LedgerProblem.versionAfterFinal(table: name, id: id, seq: entries[f + 1].seq)
            }
        }
    }

    /// What the recorder found: each finding stays until the database is restored from a copy.
    mutating func checkFindings() throws {
        guard try db.tableExists(LedgerTable.findings.rawValue),
              let row = try Row.fetchOne(db, sql: "SELECT id, tbl, row_id, what FROM ledger_findings ORDER BY id LIMIT 1") else { return }
        throw LedgerProblem.foundByRecorder(table: String.fromDatabaseValue(row[1]) ?? "?", id: Int64.fromDatabaseValue(row[2]) ?? 0,
                                            finding: row[0], what: String.fromDatabaseValue(row[3]) ?? "?")
    }
}
