import Foundation
import GRDB

/// A row of refusals: a connection a listener accepted and dropped before serving it.
public struct RefusalRow: Codable, Equatable, Sendable {
    public var id: Int64
    public var at: String
    public var remoteAddr: String
    public var remotePort: Int64
    public var localAddr: String
    public var localPort: Int64
    /// max_startups, penalty or unknown (sshd logged no reason the recorder saw).
    public var reason: String
    public var detail: String?
    public var listenerPid: Int64
    public var listenerStartNs: Int64

    enum CodingKeys: String, CodingKey {
        case id, at, reason, detail
        case remoteAddr = "remote_addr", remotePort = "remote_port", localAddr = "local_addr", localPort = "local_port"
        case listenerPid = "listener_pid", listenerStartNs = "listener_start_ns"
    }

    /// Every key, null or not (the JSON contract names them all).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(at, forKey: .at)
        try c.encode(remoteAddr, forKey: .remoteAddr)
        try c.encode(remotePort, forKey: .remotePort)
        try c.encode(localAddr, forKey: .localAddr)
        try c.encode(localPort, forKey: .localPort)
        try c.encode(reason, forKey: .reason)
        try c.encode(detail, forKey: .detail)
        try c.encode(listenerPid, forKey: .listenerPid)
        try c.encode(listenerStartNs, forKey: .listenerStartNs)
    }

    init(row: Row) {
        id = row["id"]
        at = row["at"]
        remoteAddr = row["remote_addr"]
        remotePort = row["remote_port"]
        localAddr = row["local_addr"]
        localPort = row["local_port"]
        reason = row["reason"]
        detail = row["detail"]
        listenerPid = row["listener_pid"]
        listenerStartNs = row["listener_start_ns"]
    }
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
