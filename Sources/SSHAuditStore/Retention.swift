import Foundation
import GRDB
import SSHAuditCore

/// How long ended sessions are kept: "90d", "12h", "30m", "2w", "3600s".
public struct RetentionPeriod: Sendable, Equatable, CustomStringConvertible {
    public let nanoseconds: Int64
    public let description: String

    public static let help = "how long ended sessions are kept: a number and s, m, h, d or w (90d, 12h)"

    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        // The same "90d" / "12h" form as the queries' relative times.
        guard let total = QueryTime.relativeNs(text), total > 0 else { return nil }
        nanoseconds = total
        description = text
    }
}

/// What one prune removed.
public struct PruneResult: Sendable, Equatable {
    /// Sessions that ended before this (ISO 8601 UTC) were removed.
    public var cutoff: String
    public var sessions = 0
    public var commands = 0
    public var authAttempts = 0
    public var transfers = 0
    public var events = 0
    /// Ledger entries dropped with the rows, and the ledger_prunes row that records it (nil: nothing
    /// to remove, nothing recorded).
    public var ledgerEntries = 0
    public var pruneID: Int64?

    public var summary: String {
        guard sessions > 0 else { return "no session ended before \(cutoff); nothing removed" }
        return "removed \(sessions) session(s) that ended before \(cutoff), with \(commands) command(s), "
            + "\(authAttempts) authentication attempt(s), \(transfers) file transfer(s), \(events) event(s); "
            + "\(ledgerEntries) ledger entries dropped, recorded as prune \(pruneID ?? 0)"
    }
}

extension AuditStore {
    /// Retention: deletes the sessions that ended before `cutoffNs` (wall-clock ns since the epoch)
    /// with their commands, auth attempts, file transfers and session events, in one transaction, and
    /// keeps `verify` passing: the ledger entries of the removed rows are dropped, each run of
    /// consecutive dropped entries bridged by the chain value of its last entry, and the prune itself
    /// is a chained row of ledger_prunes (cut-off, ids removed, runs dropped).
    ///
    /// Sessions still open are kept whatever their age. A session whose end was not observed
    /// (`ended_unobserved`) counts as ended at its last known activity.
    /// Safe to call while recording (from the recorder's own store, or from another process).
    @discardableResult
    public func prune(olderThan cutoffNs: Int64) throws -> PruneResult {
        let cutoff = Timestamp.iso(ns: cutoffNs)
        let nowNs = Clock.wallNs()
        var result = PruneResult(cutoff: cutoff)
        try writer.inTransaction(.immediate) { db in
            try db.execute(sql: """
                CREATE TEMP TABLE IF NOT EXISTS prune_rows (tbl TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID;
                DELETE FROM temp.prune_rows;
                """)
            try db.execute(sql: """
                INSERT INTO temp.prune_rows (tbl, id)
                SELECT 'sessions', id FROM sessions WHERE ended_at < :cutoff
                UNION ALL
                SELECT 'sessions', s.id FROM sessions s
                WHERE s.ended_at IS NULL AND s.ended_unobserved = 1 AND s.started_at < :cutoff
                    AND COALESCE(s.authenticated_at, '') < :cutoff
                    AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.session_id = s.id
                                    AND (c.started_at >= :cutoff OR c.ended_at >= :cutoff))
                """, arguments: ["cutoff": cutoff])
            var selected = db.changesCount
            // Refusals belong to no session: their own time decides.
            if try db.tableExists("refusals") {
                try db.execute(sql: "INSERT INTO temp.prune_rows (tbl, id) SELECT 'refusals', id FROM refusals WHERE at < ?",
                               arguments: [cutoff])
                selected += db.changesCount
            }
            guard selected > 0 else { return .rollback }
            for table in [LedgerTable.commands, .authAttempts, .fileTransfers, .sessionEvents, .fileActivity, .networkActivity,
                          .ttyChunks, .channels] {
                try db.execute(sql: """
                    INSERT INTO temp.prune_rows (tbl, id) SELECT '\(table.rawValue)', id FROM \(table.rawValue)
                    WHERE session_id IN (SELECT id FROM temp.prune_rows WHERE tbl = 'sessions')
                    """)
            }
            var removed: [String: [Int64]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tbl, id FROM temp.prune_rows ORDER BY tbl, id") {
                removed[row[0], default: []].append(row[1])
            }
            result.sessions = removed["sessions"]?.count ?? 0
            result.commands = removed["commands"]?.count ?? 0
            result.authAttempts = removed["auth_attempts"]?.count ?? 0
            result.transfers = removed["file_transfers"]?.count ?? 0
            result.events = removed["session_events"]?.count ?? 0

            // The head before anything is dropped: the prune's own entry follows it.
            var tx = try WriteContext(db)
            var runs: [DroppedRun] = []
            let dropped = try Row.fetchCursor(db, sql: """
                SELECT seq, chain FROM ledger l
                WHERE EXISTS (SELECT 1 FROM temp.prune_rows p WHERE p.tbl = l.tbl AND p.id = l.row_id)
                ORDER BY seq
                """)
            while let row = try dropped.next() {
                let seq: Int64 = row[0]
                let chain = [UInt8](row[1] as Data? ?? Data())
                if let last = runs.last, last.last == seq - 1 {
                    runs[runs.count - 1].last = seq
                    runs[runs.count - 1].chain = chain
                } else {
                    runs.append(DroppedRun(first: seq, last: seq, chain: chain))
                }
                result.ledgerEntries += 1
            }

            for table in [LedgerTable.commands, .authAttempts, .fileTransfers, .sessionEvents, .fileActivity, .networkActivity,
                          .ttyChunks, .refusals, .channels, .sessions] {
                try db.execute(sql: """
                    DELETE FROM \(table.rawValue) WHERE id IN (SELECT id FROM temp.prune_rows WHERE tbl = '\(table.rawValue)')
                    """)
            }
            let deleteRun = try db.cachedStatement(sql: "DELETE FROM ledger WHERE seq BETWEEN ? AND ?")
            for run in runs { try deleteRun.execute(arguments: [run.first, run.last]) }
            try db.execute(sql: "DELETE FROM temp.prune_rows")

            var prunes = try VersionWriter(db, PruneColumn.self)
            let id = prunes.nextID
            let removedText = "{" + removed.keys.sorted().map { "\"\($0)\":\"\(Self.ranges(removed[$0]!))\"" }
                .joined(separator: ",") + "}"
            try prunes.put(db, id: id, final: true, &tx) { r in
                r.int(.id, id); r.time(.at, nowNs); r.text(.cutoff, cutoff); r.text(.removed, removedText)
                r.text(.dropped, DroppedRun.format(runs))
            }
            result.pruneID = id
            return .commit
        }
        return result
    }

    /// `prune(olderThan: now - period)`, for `record --retain` and `sshaudit prune --retain`.
    @discardableResult
    public func prune(retaining period: RetentionPeriod) throws -> PruneResult {
        try prune(olderThan: Clock.wallNs() - period.nanoseconds)
    }

    /// Sorted ids as ranges: [1, 2, 3, 5] → "1-3,5".
    static func ranges(_ ids: [Int64]) -> String {
        var parts: [String] = []
        var i = 0
        while i < ids.count {
            var j = i
            while j + 1 < ids.count, ids[j + 1] == ids[j] + 1 { j += 1 }
            parts.append(i == j ? "\(ids[i])" : "\(ids[i])-\(ids[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
