import Foundation
import GRDB

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
    public var totalRows: Int { rows.values.reduce(0, +) }
}

extension AuditStore {
    /// Recomputes the ledger and every covered row, read-only, in one snapshot (a recorder may be
    /// writing meanwhile). Throws the first `LedgerProblem` found: first the chain, then the rows.
    /// With `expectHead` (a head printed by an earlier verify), it must still be a chain value.
    public static func verify(path: String, expectHead: String? = nil) throws -> LedgerReport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw StoreError.missing(path)
        }
        var config = Configuration()
        config.readonly = true
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
        } catch is DatabaseError {
            throw StoreError.notADatabase(path)
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

    init(db: Database, expectHead: String?) {
        self.db = db
        self.expectHead = expectHead
    }

    mutating func run() throws -> LedgerReport {
        try walkChain()
        try checkRows()
        return report
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

        let cursor = try Row.fetchCursor(db, sql: "SELECT seq, tbl, row_id, row_hash, chain FROM ledger ORDER BY seq")
        while let row = try cursor.next() {
            let seq: Int64 = row[0]
            try bridge(upTo: seq)
            let table: String = row[1]
            guard known.contains(table) else { throw LedgerProblem.unknownTable(seq: seq, table: table) }
            let rowID: Int64 = row[2]
            guard let rowHash = row[3] as Data?, rowHash.count == 32, let stored = row[4] as Data?, stored.count == 32 else {
                throw LedgerProblem.entryAltered(seq: seq)
            }
            let chain = Ledger.chain(previous: previous, seq: seq, table: table, rowID: rowID, rowHash: [UInt8](rowHash))
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

    /// Every covered row against the latest entry that names it, table by table in id order.
    mutating func checkRows() throws {
        let latest = try Row.fetchCursor(db, sql: """
            SELECT tbl, row_id, row_hash, MAX(seq) FROM ledger GROUP BY tbl, row_id ORDER BY tbl, row_id
            """)
        var entry = try latest.next()
        for table in LedgerTable.allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
            let rows = try Row.fetchCursor(db, sql: table.storedRowsSQL + " ORDER BY id")
            var row = try rows.next()
            var count = 0
            while true {
                let current = entry.flatMap { ($0[0] as String) == table.rawValue ? $0 : nil }
                switch (row, current) {
                case (nil, nil):
                    report.rows[table.rawValue] = count
                case let (stored?, nil):
                    throw LedgerProblem.rowNotInLedger(table: table.rawValue, id: stored[table.storedIDIndex])
                case let (nil, recorded?):
                    throw LedgerProblem.rowMissing(table: table.rawValue, id: recorded[1], seq: recorded[3])
                case let (stored?, recorded?):
                    let id: Int64 = stored[table.storedIDIndex]
                    let recordedID: Int64 = recorded[1]
                    if id < recordedID { throw LedgerProblem.rowNotInLedger(table: table.rawValue, id: id) }
                    if recordedID < id { throw LedgerProblem.rowMissing(table: table.rawValue, id: recordedID, seq: recorded[3]) }
                    let hash = Ledger.storedRowHash(table, stored, using: &encoder)
                    guard let recordedHash = recorded[2] as Data?, hash.elementsEqual(recordedHash) else {
                        throw LedgerProblem.rowChanged(table: table.rawValue, id: id, seq: recorded[3])
                    }
                    count += 1
                    row = try rows.next()
                    entry = try latest.next()
                    continue
                }
                break
            }
        }
    }
}
