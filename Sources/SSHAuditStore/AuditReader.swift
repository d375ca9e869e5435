import Foundation
import GRDB
import SSHAuditCore

/// A session as `query sessions` shows it (keys: DESIGN.md §3, plus exit_code, sshd_path, recovered).
public struct SessionRow: Encodable, Equatable, Sendable {
    public var id: Int64
    public var sshdPid: Int64
    public var user: String?
    public var uid: Int64?
    public var remoteAddr: String?
    public var remotePort: Int64?
    public var localAddr: String?
    public var localPort: Int64?
    public var authMethod: String?
    public var keyFingerprint: String?
    public var tty: String?
    public var startedAt: String
    public var authenticatedAt: String?
    public var endedAt: String?
    public var commandCount: Int64
    public var bytesIn: Int64?
    public var bytesOut: Int64?
    public var exitCode: Int64?
    public var sshdPath: String?
    public var sshdVersion: String?
    public var recovered: Bool

    enum CodingKeys: String, CodingKey {
        case id, user, uid, tty, recovered
        case sshdPid = "sshd_pid", remoteAddr = "remote_addr", remotePort = "remote_port"
        case localAddr = "local_addr", localPort = "local_port", authMethod = "auth_method"
        case keyFingerprint = "key_fingerprint", startedAt = "started_at"
        case authenticatedAt = "authenticated_at", endedAt = "ended_at", commandCount = "command_count"
        case bytesIn = "bytes_in", bytesOut = "bytes_out", exitCode = "exit_code", sshdPath = "sshd_path"
        case sshdVersion = "sshd_version"
    }

    // Written by hand so that absent values are `null`, never missing keys, in a fixed order.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sshdPid, forKey: .sshdPid)
        try c.encode(user, forKey: .user)
        try c.encode(uid, forKey: .uid)
        try c.encode(remoteAddr, forKey: .remoteAddr)
        try c.encode(remotePort, forKey: .remotePort)
        try c.encode(localAddr, forKey: .localAddr)
        try c.encode(localPort, forKey: .localPort)
        try c.encode(authMethod, forKey: .authMethod)
        try c.encode(keyFingerprint, forKey: .keyFingerprint)
        try c.encode(tty, forKey: .tty)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(authenticatedAt, forKey: .authenticatedAt)
        try c.encode(endedAt, forKey: .endedAt)
        try c.encode(commandCount, forKey: .commandCount)
        try c.encode(bytesIn, forKey: .bytesIn)
        try c.encode(bytesOut, forKey: .bytesOut)
        try c.encode(exitCode, forKey: .exitCode)
        try c.encode(sshdPath, forKey: .sshdPath)
        try c.encode(sshdVersion, forKey: .sshdVersion)
        try c.encode(recovered, forKey: .recovered)
    }

    init(row: Row) {
        id = row["id"]
        sshdPid = row["sshd_pid"]
        user = row["user"]
        uid = row["uid"]
        remoteAddr = row["remote_addr"]
        remotePort = row["remote_port"]
        localAddr = row["local_addr"]
        localPort = row["local_port"]
        authMethod = row["auth_method"]
        keyFingerprint = row["key_fingerprint"]
        tty = row["tty"]
        startedAt = row["started_at"]
        authenticatedAt = row["authenticated_at"]
        endedAt = row["ended_at"]
        commandCount = row["command_count"]
        bytesIn = row["bytes_in"]
        bytesOut = row["bytes_out"]
        exitCode = row["exit_code"]
        sshdPath = row["sshd_path"]
        sshdVersion = row["sshd_version"]
        recovered = row["recovered"]
    }
}

/// A command as `query commands` shows it (keys: DESIGN.md §3, plus parent_id, argv_truncated).
public struct CommandRow: Encodable, Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var parentID: Int64?
    public var pid: Int64
    public var ppid: Int64
    public var uid: Int64
    public var filename: String
    public var argv: [String]
    public var argvTruncated: Bool
    public var cwd: String?
    public var startedAt: String
    public var endedAt: String?
    public var durationMs: Int64?
    public var exitCode: Int64?
    public var signal: Int64?
    public var recovered: Bool

    enum CodingKeys: String, CodingKey {
        case id, pid, ppid, uid, filename, argv, cwd, signal, recovered
        case sessionID = "session_id", parentID = "parent_id", argvTruncated = "argv_truncated"
        case startedAt = "started_at", endedAt = "ended_at", durationMs = "duration_ms", exitCode = "exit_code"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sessionID, forKey: .sessionID)
        try c.encode(pid, forKey: .pid)
        try c.encode(ppid, forKey: .ppid)
        try c.encode(uid, forKey: .uid)
        try c.encode(filename, forKey: .filename)
        try c.encode(argv, forKey: .argv)
        try c.encode(cwd, forKey: .cwd)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(endedAt, forKey: .endedAt)
        try c.encode(durationMs, forKey: .durationMs)
        try c.encode(exitCode, forKey: .exitCode)
        try c.encode(signal, forKey: .signal)
        try c.encode(parentID, forKey: .parentID)
        try c.encode(argvTruncated, forKey: .argvTruncated)
        try c.encode(recovered, forKey: .recovered)
    }

    init(row: Row) {
        id = row["id"]
        sessionID = row["session_id"]
        parentID = row["parent_id"]
        pid = row["pid"]
        ppid = row["ppid"]
        uid = row["uid"]
        filename = row["filename"]
        let argvText: String = row["argv"]
        argv = (try? JSONDecoder().decode([String].self, from: Data(argvText.utf8))) ?? []
        argvTruncated = row["argv_truncated"]
        cwd = row["cwd"]
        startedAt = row["started_at"]
        endedAt = row["ended_at"]
        durationMs = row["duration_ms"]
        exitCode = row["exit_code"]
        signal = row["signal"]
        recovered = row["recovered"]
    }
}

/// An authentication attempt as `query auth` shows it (keys: DESIGN.md §3, plus key_type).
public struct AuthRow: Encodable, Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var at: String
    public var user: String?
    public var remoteAddr: String?
    public var remotePort: Int64?
    public var method: String?
    public var result: String
    public var keyType: String?
    public var keyFingerprint: String?

    enum CodingKeys: String, CodingKey {
        case id, at, user, method, result
        case sessionID = "session_id", remoteAddr = "remote_addr", remotePort = "remote_port"
        case keyType = "key_type", keyFingerprint = "key_fingerprint"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sessionID, forKey: .sessionID)
        try c.encode(at, forKey: .at)
        try c.encode(user, forKey: .user)
        try c.encode(remoteAddr, forKey: .remoteAddr)
        try c.encode(remotePort, forKey: .remotePort)
        try c.encode(method, forKey: .method)
        try c.encode(result, forKey: .result)
        try c.encode(keyType, forKey: .keyType)
        try c.encode(keyFingerprint, forKey: .keyFingerprint)
    }

    init(row: Row) {
        id = row["id"]
        sessionID = row["session_id"]
        at = row["at"]
        user = row["user"]
        remoteAddr = row["remote_addr"]
        remotePort = row["remote_port"]
        method = row["method"]
        result = row["result"]
        keyType = row["key_type"]
        keyFingerprint = row["key_fingerprint"]
    }
}

public struct QueryFilter: Sendable {
    public var sessionID: Int64?
    public var user: String?
    public var limit: Int?
    /// Authentication attempts that did not succeed.
    public var failedOnly: Bool
    public init(sessionID: Int64? = nil, user: String? = nil, limit: Int? = nil, failedOnly: Bool = false) {
        self.sessionID = sessionID
        self.user = user
        self.limit = limit
        self.failedOnly = failedOnly
    }
}

/// Read-only access for the CLI's queries: never writes, never creates the database.
public final class AuditReader {
    let reader: DatabaseQueue

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError.missing(path) }
        var config = Configuration()
        config.readonly = true
        do {
            reader = try DatabaseQueue(path: path, configuration: config)
            // Touch the schema: a file that is not SQLite, or not ours, fails here with a clear error.
            let ours = try reader.read { db in try db.tableExists("sessions") && db.tableExists("commands") && db.tableExists("auth_attempts") }
            if !ours { throw StoreError.notADatabase(path) }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_PERM || error.resultCode == .SQLITE_AUTH {
                throw StoreError.missing(path)
            }
            throw StoreError.notADatabase(path)
        }
    }

    public func sessions(_ filter: QueryFilter) throws -> [SessionRow] {
        var clauses: [String] = []
        var args: [DatabaseValueConvertible?] = []
        if let id = filter.sessionID { clauses.append("id = ?"); args.append(id) }
        if let user = filter.user { clauses.append("user = ?"); args.append(user) }
        let sql = "SELECT * FROM sessions" + Self.whereClause(clauses) + " ORDER BY id" + Self.limitClause(filter.limit)
        return try reader.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(SessionRow.init(row:))
        }
    }

    public func commands(_ filter: QueryFilter) throws -> [CommandRow] {
        var clauses: [String] = []
        var args: [DatabaseValueConvertible?] = []
        if let id = filter.sessionID { clauses.append("c.session_id = ?"); args.append(id) }
        if let user = filter.user { clauses.append("s.user = ?"); args.append(user) }
        let sql = "SELECT c.* FROM commands c JOIN sessions s ON s.id = c.session_id"
            + Self.whereClause(clauses) + " ORDER BY c.id" + Self.limitClause(filter.limit)
        return try reader.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(CommandRow.init(row:))
        }
    }

    public func authAttempts(_ filter: QueryFilter) throws -> [AuthRow] {
        var clauses: [String] = []
        var args: [DatabaseValueConvertible?] = []
        if let id = filter.sessionID { clauses.append("session_id = ?"); args.append(id) }
        if let user = filter.user { clauses.append("user = ?"); args.append(user) }
        if filter.failedOnly { clauses.append("result <> 'accepted'") }
        let sql = "SELECT * FROM auth_attempts" + Self.whereClause(clauses) + " ORDER BY id" + Self.limitClause(filter.limit)
        return try reader.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(AuthRow.init(row:))
        }
    }

    public func sessionExists(_ id: Int64) throws -> Bool {
        try reader.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?)", arguments: [id]) ?? false }
    }

    static func whereClause(_ clauses: [String]) -> String {
        clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
    }

    static func limitClause(_ limit: Int?) -> String {
        limit.map { " LIMIT \($0)" } ?? ""
    }
}
