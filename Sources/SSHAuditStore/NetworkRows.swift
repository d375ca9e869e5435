import Foundation
import GRDB

/// A row of network_activity: what one of a session's processes connected to, bound, listened on or
/// accepted, aggregated per (process, op, endpoint).
public struct NetworkRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "network_activity"
    public var id: Int64
    public var sessionID: Int64
    @Nullable public var commandID: Int64?
    public var pid: Int64
    public var uid: Int64
    public var op: String
    public var family: String
    public var proto: String
    @Nullable public var addr: String?
    @Nullable public var port: Int64?
    @Nullable public var path: String?
    public var firstAt: String
    public var lastAt: String
    public var count: Int64

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = NetworkActivityColumn
}

extension AuditReader {
    /// Network activity of sessions' processes (empty on a database without the table).
    public func network(_ filter: QueryFilter) throws -> [NetworkRow] {
        guard schema.contains("network_activity") else { return [] }
        return try reader.read { db in try planner(.network, filter, db).rows().map(NetworkRow.init(row:)) }
    }

    /// One session's network activity, in time order.
    func networkRows(session id: Int64, _ db: Database) throws -> [NetworkRow] {
        guard schema.contains("network_activity") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT * FROM network_activity WHERE session_id = ? ORDER BY first_at, id",
                                arguments: [id]).map(NetworkRow.init(row:))
    }
}

/// One endpoint in a report: what sessions' processes did with it in the period.
public struct NetworkEndpoint: Encodable, Equatable, Sendable {
    public var op: String
    public var family: String
    public var proto: String
    @Nullable public var addr: String?
    @Nullable public var port: Int64?
    @Nullable public var path: String?
    public var sessions: Int
    public var users: [String]
    public var count: Int64
    public var first: String
    public var last: String

    public init(op: String, family: String, proto: String, addr: String?, port: Int64?, path: String?, sessions: Int, users: [String],
                count: Int64, first: String, last: String) {
        (self.op, self.family, self.proto) = (op, family, proto)
        self.addr = addr
        self.port = port
        self.path = path
        (self.sessions, self.users, self.count, self.first, self.last) = (sessions, users, count, first, last)
    }

    enum CodingKeys: String, CodingKey { case op, family, proto, addr, port, path, sessions, users, count, first, last }
}

extension AuditReader {
    /// The period's network activity by (op, endpoint): listeners first (a listening port opened from a
    /// session is what a backdoor looks like), then accepts, binds, refused and other connects, each
    /// by how often, then by endpoint (so that the cut at `top` is the same here and on the fleet). At
    /// most `top`. A row counts for the period when it overlaps it (QueryPlanner.spans):
    /// those begun in it through the time index, those begun before it and still going through the
    /// span index (schema/0030; read whole on a database without it).
    static func networkPart(_ db: Database, schema: Set<String>, since: String, until: String, top: Int) throws -> [NetworkEndpoint] {
        guard schema.contains("network_activity") else { return [] }
        let spans = schema.contains("network_activity_spans") ? " INDEXED BY network_activity_spans" : ""
        return try Row.fetchAll(db, sql: """
            SELECT n.op, n.family, n.proto, n.addr, n.port, n.path, COUNT(DISTINCT n.session_id) AS sessions,
                   json_group_array(DISTINCT s.user) AS users, SUM(n.count) AS total, MIN(n.first_at) AS first,
                   MAX(n.last_at) AS last
            FROM network_activity n JOIN sessions s ON s.id = n.session_id
            WHERE n.id IN (SELECT id FROM network_activity INDEXED BY network_activity_first_at WHERE first_at >= ?1 AND first_at < ?2
                           UNION ALL
                           SELECT id FROM network_activity\(spans) WHERE last_at > first_at AND last_at >= ?1 AND first_at < ?1 AND first_at < ?2)
            GROUP BY n.op, n.family, n.proto, n.addr, n.port, n.path
            ORDER BY CASE n.op WHEN 'listen' THEN 0 WHEN 'accept' THEN 1 WHEN 'bind' THEN 2 WHEN 'connect_failed' THEN 3 ELSE 4 END,
                     total DESC, first, n.op, n.family, n.proto, COALESCE(n.addr, ''), COALESCE(n.port, -1), COALESCE(n.path, '')
            LIMIT ?3
            """, arguments: [since, until, top]).map { row in
            let usersJSON: String = row["users"] ?? "[]"
            let users = (try? JSONDecoder().decode([String?].self, from: Data(usersJSON.utf8)))?.compactMap { $0 } ?? []
            return NetworkEndpoint(op: row["op"], family: row["family"], proto: row["proto"], addr: row["addr"],
                                   port: row["port"], path: row["path"], sessions: row["sessions"], users: users.sorted(),
                                   count: row["total"], first: row["first"], last: row["last"])
        }
    }
}
