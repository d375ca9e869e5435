import GRDB

extension AuditReader {
    /// Sessions' io_uring use in [since, until) (session events of kind `io_uring`), oldest first, at
    /// most `limit`: for `report`.
    public func ioUringEvents(since: String, until: String, limit: Int) throws -> [SessionEventRow] {
        guard schema.contains("session_events") else { return [] }
        return try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM session_events WHERE kind = 'io_uring' AND at >= ? AND at < ? ORDER BY at, id LIMIT ?
                """, arguments: [since, until, limit]).map(SessionEventRow.init(row:))
        }
    }
}
