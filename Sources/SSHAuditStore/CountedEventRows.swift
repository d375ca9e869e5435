import GRDB

extension AuditReader {
    /// Session events of `kind` in [since, until), oldest first, at most `limit`: for `report`'s lists
    /// of what was counted, not itemised (`io_uring`, `compat_calls`).
    public func sessionEvents(of kind: String, since: String, until: String, limit: Int) throws -> [SessionEventRow] {
        guard schema.contains("session_events") else { return [] }
        return try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM session_events WHERE kind = ? AND at >= ? AND at < ? ORDER BY at, id LIMIT ?
                """, arguments: [kind, since, until, limit]).map(SessionEventRow.init(row:))
        }
    }
}
