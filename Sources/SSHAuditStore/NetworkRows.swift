import GRDB

/// A row of network_activity: what one of a session's processes connected to, bound, listened on or
/// accepted, aggregated per (process, op, endpoint).
public struct NetworkRow: Encodable, Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var commandID: Int64?
    public var pid: Int64
    public var uid: Int64
    public var op: String
    public var family: String
    public var proto: String
    public var addr: String?
    public var port: Int64?
    public var path: String?
    public var firstAt: String
    public var lastAt: String
    public var count: Int64

    enum CodingKeys: String, CodingKey {
        case id, pid, uid, op, family, proto, addr, port, path, count
        case sessionID = "session_id", commandID = "command_id", firstAt = "first_at", lastAt = "last_at"
    }

    /// Every key, null or not (the JSON contract names them all).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sessionID, forKey: .sessionID)
        try c.encode(commandID, forKey: .commandID)
        try c.encode(pid, forKey: .pid)
        try c.encode(uid, forKey: .uid)
        try c.encode(op, forKey: .op)
        try c.encode(family, forKey: .family)
        try c.encode(proto, forKey: .proto)
        try c.encode(addr, forKey: .addr)
        try c.encode(port, forKey: .port)
        try c.encode(path, forKey: .path)
        try c.encode(firstAt, forKey: .firstAt)
        try c.encode(lastAt, forKey: .lastAt)
        try c.encode(count, forKey: .count)
    }

    init(row: Row) {
        id = row["id"]
        sessionID = row["session_id"]
        commandID = row["command_id"]
        pid = row["pid"]
        uid = row["uid"]
        op = row["op"]
        family = row["family"]
        proto = row["proto"]
        addr = row["addr"]
        port = row["port"]
        path = row["path"]
        firstAt = row["first_at"]
        lastAt = row["last_at"]
        count = row["count"]
    }
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
