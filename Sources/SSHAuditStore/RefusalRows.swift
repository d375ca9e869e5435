import Foundation
import GRDB

/// A row of refusals: a connection a listener accepted and dropped before serving it.
public struct RefusalRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "refusals"
    public var id: Int64
    public var at: String
    public var remoteAddr: String
    public var remotePort: Int64
    public var localAddr: String
    public var localPort: Int64
    /// max_startups, penalty or unknown (sshd logged no reason the recorder saw).
    public var reason: String
    @Nullable public var detail: String?
    public var listenerPid: Int64
    public var listenerStartNs: Int64

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = RefusalColumn
}

extension AuditReader {
    /// Refused connections, oldest first (empty on a database without the table). Of `filter`, only
    /// `from`, `since`, `until` and `limit` apply: a refusal has no session, user or key.
    public func refusals(_ filter: QueryFilter) throws -> [RefusalRow] {
        guard schema.contains("refusals") else { return [] }
        return try reader.read { db in
            var conditions: [String] = []
            var arguments: [DatabaseValueConvertible] = []
            if let since = filter.since { conditions.append("at >= ?"); arguments.append(since) }
            if let until = filter.until { conditions.append("at < ?"); arguments.append(until) }
            if let network = filter.from {
                try AddressResolver.register(network, in: db)
                conditions.append("sshaudit_from(remote_addr)")
            }
            var sql = "SELECT * FROM refusals"
            if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
            sql += " ORDER BY at, id"
            if let limit = filter.limit { sql += " LIMIT \(limit)" }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(RefusalRow.init(row:))
        }
    }
}
