import Foundation
import GRDB
import SSHAuditCore

/// A session as `query sessions` shows it (keys: docs/ARCHITECTURE.md §4).
public struct SessionRow: Codable, Equatable, Sendable {
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
    public var kind: String?
    public var drops: Bool
    public var truncatedArgv: Bool
    public var endedUnobserved: Bool
    public var unattributedEvents: Bool
    /// The session's key type and its certificate (key ID, serial, CA), when sshd logged one.
    public var keyType: String?
    public var certID: String?
    public var certSerial: String?
    public var caKeyType: String?
    public var caFingerprint: String?
    /// The uid inside the sshd's user namespace; the sshd's root, cgroup and container (0025).
    public var uidInside: Int64?
    public var root: String?
    public var cgroup: String?
    public var container: String?

    enum CodingKeys: String, CodingKey {
        case keyType = "key_type", certID = "cert_id", certSerial = "cert_serial", caKeyType = "ca_key_type"
        case caFingerprint = "ca_fingerprint"
        case uidInside = "uid_inside", root, cgroup, container
        case id, user, uid, tty, recovered
        case sshdPid = "sshd_pid", remoteAddr = "remote_addr", remotePort = "remote_port"
        case localAddr = "local_addr", localPort = "local_port", authMethod = "auth_method"
        case keyFingerprint = "key_fingerprint", startedAt = "started_at"
        case authenticatedAt = "authenticated_at", endedAt = "ended_at", commandCount = "command_count"
        case bytesIn = "bytes_in", bytesOut = "bytes_out", exitCode = "exit_code", sshdPath = "sshd_path"
        case sshdVersion = "sshd_version"
        case kind, drops
        case truncatedArgv = "truncated_argv", endedUnobserved = "ended_unobserved"
        case unattributedEvents = "unattributed_events"
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
        try c.encode(kind, forKey: .kind)
        try c.encode(drops, forKey: .drops)
        try c.encode(truncatedArgv, forKey: .truncatedArgv)
        try c.encode(endedUnobserved, forKey: .endedUnobserved)
        try c.encode(unattributedEvents, forKey: .unattributedEvents)
        try c.encode(keyType, forKey: .keyType)
        try c.encode(certID, forKey: .certID)
        try c.encode(certSerial, forKey: .certSerial)
        try c.encode(caKeyType, forKey: .caKeyType)
        try c.encode(caFingerprint, forKey: .caFingerprint)
        try c.encode(uidInside, forKey: .uidInside)
        try c.encode(root, forKey: .root)
        try c.encode(cgroup, forKey: .cgroup)
        try c.encode(container, forKey: .container)
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
        kind = row["kind"]
        drops = row["drops"] ?? false
        truncatedArgv = row["truncated_argv"] ?? false
        endedUnobserved = row["ended_unobserved"] ?? false
        unattributedEvents = row["unattributed_events"] ?? false
        keyType = row["key_type"]
        certID = row["cert_id"]
        certSerial = row["cert_serial"]
        caKeyType = row["ca_key_type"]
        caFingerprint = row["ca_fingerprint"]
        uidInside = row["uid_inside"]
        root = row["root"]
        cgroup = row["cgroup"]
        container = row["container"]
    }
}

/// A command as `query commands` shows it (keys: docs/ARCHITECTURE.md §4).
public struct CommandRow: Codable, Equatable, Sendable {
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
    /// Its session channel (channels.id); null for rows from before schema 0023.
    public var channelID: Int64?

    enum CodingKeys: String, CodingKey {
        case id, pid, ppid, uid, filename, argv, cwd, signal, recovered
        case channelID = "channel_id"
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
        try c.encode(channelID, forKey: .channelID)
    }

    init(row: Row) {
        id = row["id"]
        sessionID = row["session_id"]
        parentID = row["parent_id"]
        channelID = row.hasColumn("channel_id") ? row["channel_id"] : nil
        pid = row["pid"]
        ppid = row["ppid"]
        uid = row["uid"]
        filename = row["filename"]
        let argvText: String = row["argv"]
        argv = decodeArgv(argvText)
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

/// An authentication attempt as `query auth` shows it (keys: docs/ARCHITECTURE.md §4).
public struct AuthRow: Codable, Equatable, Sendable {
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
    /// sshd's line did not name the connection's address and port exactly once (the row's are the
    /// connection's all the same).
    public var addrMismatch: Bool
    /// keyboard-interactive's device ("pam"); the certificate's key ID, serial and CA; what else sshd
    /// logged of the identity (hostbased's client user and host, gssapi-with-mic's principal).
    public var submethod: String?
    public var certID: String?
    public var certSerial: String?
    public var caKeyType: String?
    public var caFingerprint: String?
    public var authInfo: String?

    enum CodingKeys: String, CodingKey {
        case submethod, certID = "cert_id", certSerial = "cert_serial", caKeyType = "ca_key_type"
        case caFingerprint = "ca_fingerprint", authInfo = "auth_info"
        case id, at, user, method, result
        case sessionID = "session_id", remoteAddr = "remote_addr", remotePort = "remote_port"
        case keyType = "key_type", keyFingerprint = "key_fingerprint", addrMismatch = "addr_mismatch"
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
        try c.encode(addrMismatch, forKey: .addrMismatch)
        try c.encode(submethod, forKey: .submethod)
        try c.encode(certID, forKey: .certID)
        try c.encode(certSerial, forKey: .certSerial)
        try c.encode(caKeyType, forKey: .caKeyType)
        try c.encode(caFingerprint, forKey: .caFingerprint)
        try c.encode(authInfo, forKey: .authInfo)
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
        addrMismatch = row["addr_mismatch"] ?? false
        submethod = row["submethod"]
        certID = row["cert_id"]
        certSerial = row["cert_serial"]
        caKeyType = row["ca_key_type"]
        caFingerprint = row["ca_fingerprint"]
        authInfo = row["auth_info"]
    }
}

/// What `sshaudit query` filters on. Times are the database's ISO 8601 text (see `QueryTime`).
public struct QueryFilter: Sendable {
    public var sessionID: Int64?
    /// sessions: the logged-in user; commands, transfers: their session's user; auth: the user as typed.
    public var user: String?
    public var limit: Int?
    /// sessions: never authenticated; commands: exit code other than 0, or killed by a signal;
    /// auth: credentials refused (result `failed`, one per sshd `Failed …` line).
    public var failedOnly: Bool
    /// Sessions whose record may miss something: recovered, kernel drops, cut argv, end not seen,
    /// unattributed events while open.
    public var incompleteOnly = false
    /// A public key's fingerprint (SHA256:…): sessions and attempts with it, commands and transfers of
    /// sessions authenticated with it.
    public var key: String?
    /// A certificate's key ID, exactly; a CA's key fingerprint: sessions and attempts with such a
    /// certificate, commands and transfers of sessions authenticated with one.
    public var certID: String?
    public var ca: String?
    /// The container of the session's sshd (`sessions.container`): that id or name exactly, or one
    /// that starts with it (a short docker id); commands, transfers and auth of such sessions.
    public var container: String?
    /// The client's address lies in this network (its session's address, for commands and transfers).
    public var from: IPNetwork?
    /// Time of the row (sessions and commands: start, auth: attempt, transfers: open) ≥ since, < until.
    public var since: String?
    public var until: String?
    /// Commands whose command line (argv joined by spaces) contains this text, case-sensitively;
    /// sessions that ran such a command.
    public var grep: String?

    public init(sessionID: Int64? = nil, user: String? = nil, limit: Int? = nil, failedOnly: Bool = false,
                from: IPNetwork? = nil, since: String? = nil, until: String? = nil, grep: String? = nil) {
        self.sessionID = sessionID
        self.user = user
        self.limit = limit
        self.failedOnly = failedOnly
        self.from = from
        self.since = since
        self.until = until
        self.grep = grep
    }
}

/// Read-only access for the CLI's queries: never writes, never creates the database.
public final class AuditReader {
    let reader: DatabaseQueue
    public let path: String
    /// Names of the tables and indexes present (an older database may lack those of later migrations).
    let schema: Set<String>
    /// Strategy thresholds of the query planner (tests lower them).
    var limits = PlanLimits()

    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw StoreError.missing(path) }
        try AuditStore.checkOwnership(path)
        if isDirectory.boolValue { throw QueryError.unreadable(path, "is a directory") }
        self.path = path
        do {
            reader = try DatabaseQueue(path: path, configuration: Self.configuration())
            // Touch the schema: a file that is not SQLite, or not ours, fails here with a clear error.
            let names = try reader.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
            }
            schema = Set(names)
            if !schema.isSuperset(of: ["sessions", "commands", "auth_attempts"]) { throw StoreError.notADatabase(path) }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_PERM || error.resultCode == .SQLITE_AUTH {
                throw QueryError.unreadable(path, error.message ?? "\(error.resultCode)")
            }
            throw StoreError.notADatabase(path)
        }
    }

    /// Read-only; the file mapped instead of its pages copied (the queries touch few pages, once).
    static func configuration() -> Configuration {
        var config = Configuration()
        config.readonly = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA mmap_size = 4294967296")
            db.add(function: ArgvSearch.function)
            if ProcessInfo.processInfo.environment["SSHAUDIT_TRACE_SQL"] != nil { AuditReader.trace(db) }
        }
        return config
    }

    /// SSHAUDIT_TRACE_SQL=1: each statement and its time on stderr (to see which plan a query took).
    static func trace(_ db: Database) {
        db.trace(options: .profile) { event in
            if case let .profile(statement, duration) = event {
                let line = String(format: "sql %.2f ms: %@\n", duration * 1000, statement.sql.replacingOccurrences(of: "\n", with: " "))
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try reader.read(body)
    }

    func planner(_ kind: QueryPlanner.Kind, _ filter: QueryFilter, _ db: Database) -> QueryPlanner {
        QueryPlanner(db: db, kind: kind, filter: filter, schema: schema, limits: limits)
    }

    public func sessions(_ filter: QueryFilter) throws -> [SessionRow] {
        try reader.read { db in try planner(.sessions, filter, db).rows().map(SessionRow.init(row:)) }
    }

    public func commands(_ filter: QueryFilter) throws -> [CommandRow] {
        try reader.read { db in try planner(.commands, filter, db).rows().map(CommandRow.init(row:)) }
    }

    public func authAttempts(_ filter: QueryFilter) throws -> [AuthRow] {
        try reader.read { db in try planner(.auth, filter, db).rows().map(AuthRow.init(row:)) }
    }

    /// File transfers (empty on a database without the table).
    public func transfers(_ filter: QueryFilter) throws -> [TransferRow] {
        guard schema.contains("file_transfers") else { return [] }
        return try reader.read { db in try planner(.transfers, filter, db).rows().map(TransferRow.init(row:)) }
    }

    public func sessionExists(_ id: Int64) throws -> Bool {
        try reader.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?)", arguments: [id]) ?? false }
    }
}

/// A file read or written by a session's transfer server (table file_transfers).
public struct TransferRow: Codable, Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var commandID: Int64?
    public var transferProtocol: String
    public var path: String
    public var mode: String
    public var openedAt: String
    public var closedAt: String?
    public var bytesRead: Int64
    public var bytesWritten: Int64

    enum CodingKeys: String, CodingKey {
        case id, path, mode
        case sessionID = "session_id", commandID = "command_id", transferProtocol = "protocol"
        case openedAt = "opened_at", closedAt = "closed_at", bytesRead = "bytes_read", bytesWritten = "bytes_written"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sessionID, forKey: .sessionID)
        try c.encode(commandID, forKey: .commandID)
        try c.encode(transferProtocol, forKey: .transferProtocol)
        try c.encode(path, forKey: .path)
        try c.encode(mode, forKey: .mode)
        try c.encode(openedAt, forKey: .openedAt)
        try c.encode(closedAt, forKey: .closedAt)
        try c.encode(bytesRead, forKey: .bytesRead)
        try c.encode(bytesWritten, forKey: .bytesWritten)
    }

    init(row: Row) {
        id = row["id"]
        sessionID = row["session_id"]
        commandID = row["command_id"]
        transferProtocol = row["protocol"]
        path = row["path"]
        mode = row["mode"]
        openedAt = row["opened_at"]
        closedAt = row["closed_at"]
        bytesRead = row["bytes_read"]
        bytesWritten = row["bytes_written"]
    }
}

/// Something a session did besides commands: port or agent forwarding (table session_events).
public struct SessionEventRow: Codable, Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var at: String
    public var kind: String
    public var targetHost: String?
    public var targetPort: Int64?
    public var detail: String?

    enum CodingKeys: String, CodingKey {
        case id, at, kind, detail
        case sessionID = "session_id", targetHost = "target_host", targetPort = "target_port"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(sessionID, forKey: .sessionID)
        try c.encode(at, forKey: .at)
        try c.encode(kind, forKey: .kind)
        try c.encode(targetHost, forKey: .targetHost)
        try c.encode(targetPort, forKey: .targetPort)
        try c.encode(detail, forKey: .detail)
    }

    init(row: Row) {
        id = row["id"]
        sessionID = row["session_id"]
        at = row["at"]
        kind = row["kind"]
        targetHost = row["target_host"]
        targetPort = row["target_port"]
        detail = row["detail"]
    }
}
