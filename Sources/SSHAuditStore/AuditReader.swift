import Foundation
import GRDB
import SSHAuditCore

/// A session as `query sessions` shows it (keys: docs/ARCHITECTURE.md §4).
public struct SessionRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "sessions"
    public var id: Int64
    public var sshdPid: Int64
    @Nullable public var user: String?
    @Nullable public var uid: Int64?
    @Nullable public var remoteAddr: String?
    @Nullable public var remotePort: Int64?
    @Nullable public var localAddr: String?
    @Nullable public var localPort: Int64?
    @Nullable public var authMethod: String?
    @Nullable public var keyFingerprint: String?
    @Nullable public var tty: String?
    public var startedAt: String
    @Nullable public var authenticatedAt: String?
    @Nullable public var endedAt: String?
    public var commandCount: Int64
    @Nullable public var bytesIn: Int64?
    @Nullable public var bytesOut: Int64?
    @Nullable public var exitCode: Int64?
    @Nullable public var sshdPath: String?
    @Nullable public var sshdVersion: String?
    public var recovered: Bool
    @Nullable public var kind: String?
    @FalseIfMissing public var drops: Bool
    @FalseIfMissing public var truncatedArgv: Bool
    @FalseIfMissing public var endedUnobserved: Bool
    @FalseIfMissing public var unattributedEvents: Bool
    /// The session's key type and its certificate (key ID, serial, CA), when sshd logged one.
    @Nullable public var keyType: String?
    @Nullable public var certID: String?
    @Nullable public var certSerial: String?
    @Nullable public var caKeyType: String?
    @Nullable public var caFingerprint: String?
    /// The uid inside the sshd's user namespace; the sshd's root, cgroup and container (0025).
    @Nullable public var uidInside: Int64?
    @Nullable public var root: String?
    @Nullable public var cgroup: String?
    @Nullable public var container: String?

    /// The sshd's start time (the kernel's boot-relative ns, an identity: with sshd_pid it names the
    /// process) and its listener (null for a per-connection sshd, and in fleet rows shipped before).
    @Nullable public var sshdStartNs: Int64?
    @Nullable public var listenerPid: Int64?

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = SessionColumn
}

/// A command as `query commands` shows it (keys: docs/ARCHITECTURE.md §4).
public struct CommandRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "commands"
    public var id: Int64
    public var sessionID: Int64
    @Nullable public var parentID: Int64?
    public var pid: Int64
    public var ppid: Int64
    public var uid: Int64
    public var filename: String
    @ArgvColumn public var argv: [String]
    public var argvTruncated: Bool
    @Nullable public var cwd: String?
    public var startedAt: String
    @Nullable public var endedAt: String?
    @Nullable public var durationMs: Int64?
    @Nullable public var exitCode: Int64?
    @Nullable public var signal: Int64?
    public var recovered: Bool
    /// Its session channel (channels.id); null for rows from before schema 0023.
    @Nullable public var channelID: Int64?

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = CommandColumn
}

/// An authentication attempt as `query auth` shows it (keys: docs/ARCHITECTURE.md §4).
public struct AuthRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "auth_attempts"
    public var id: Int64
    public var sessionID: Int64
    public var at: String
    @Nullable public var user: String?
    @Nullable public var remoteAddr: String?
    @Nullable public var remotePort: Int64?
    @Nullable public var method: String?
    public var result: String
    @Nullable public var keyType: String?
    @Nullable public var keyFingerprint: String?
    /// sshd's line did not name the connection's address and port exactly once (the row's are the
    /// connection's all the same).
    @FalseIfMissing public var addrMismatch: Bool
    /// keyboard-interactive's device ("pam"); the certificate's key ID, serial and CA; what else sshd
    /// logged of the identity (hostbased's client user and host, gssapi-with-mic's principal).
    @Nullable public var submethod: String?
    @Nullable public var certID: String?
    @Nullable public var certSerial: String?
    @Nullable public var caKeyType: String?
    @Nullable public var caFingerprint: String?
    @Nullable public var authInfo: String?

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = AuthAttemptColumn
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
            db.add(function: SensitivePaths.sensitiveFunction)
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
public struct TransferRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "file_transfers"
    public var id: Int64
    public var sessionID: Int64
    @Nullable public var commandID: Int64?
    public var transferProtocol: String
    public var path: String
    public var mode: String
    public var openedAt: String
    @Nullable public var closedAt: String?
    public var bytesRead: Int64
    public var bytesWritten: Int64

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = FileTransferColumn
}

/// Something a session did besides commands: port or agent forwarding (table session_events).
public struct SessionEventRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "session_events"
    public var id: Int64
    public var sessionID: Int64
    public var at: String
    public var kind: String
    @Nullable public var targetHost: String?
    @Nullable public var targetPort: Int64?
    @Nullable public var detail: String?

    /// Its columns, as the table declares them (TableColumns.swift).
    typealias CodingKeys = SessionEventColumn
}
