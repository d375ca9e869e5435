import Foundation
import GRDB
import SSHAuditCore

/// What a restarted recorder needs from the database: the sessions it left open, to continue them
/// (same ids, no duplicates) or to close them as ended while nobody watched.
extension AuditStore {
    public struct OpenSession: Sendable {
        public var session: SessionRecord
        /// Commands of the session still without an end, by pid.
        public var openCommands: [CommandRecord]
        /// Its channels still without an end, and how many channels it had (the next one's seq follows).
        public var openChannels: [ChannelRecord] = []
        public var channelCount: Int64 = 0
    }

    public func openSessions() throws -> [OpenSession] {
        try writer.read { db in
            let sessions = try Row.fetchAll(db, sql: "SELECT * FROM sessions WHERE ended_at IS NULL AND ended_unobserved = 0")
            return try sessions.map { row in
                let session = Self.sessionRecord(row)
                let commands = try Row.fetchAll(db, sql: "SELECT * FROM commands WHERE session_id = ? AND ended_at IS NULL",
                                                arguments: [session.id]).map(Self.commandRecord)
                var open = OpenSession(session: session, openCommands: commands)
                if try db.tableExists("channels") {
                    open.openChannels = try Row.fetchAll(db, sql: "SELECT * FROM channels WHERE session_id = ? AND ended_at IS NULL",
                                                         arguments: [session.id]).map(Self.channelRecord)
                    open.channelCount = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM channels WHERE session_id = ?",
                                                           arguments: [session.id]) ?? 0
                }
                return open
            }
        }
    }

    /// Written as new versions of the rows, through the ledger like every other write.
    public func markEndedUnobserved(_ sessions: [SessionRecord]) throws {
        guard !sessions.isEmpty else { return }
        try write(sessions.map { s in
            var s = s
            s.endedUnobserved = true
            s.closed = true  // its monitor is gone: nothing more can come
            return .session(s)
        })
    }

    static func ns(_ text: String?) -> Int64? { text.flatMap(Timestamp.parse) }

    static func sessionRecord(_ row: Row) -> SessionRecord {
        var s = SessionRecord(id: row["id"], sshdPid: UInt32(row["sshd_pid"] as Int64),
                              sshdStartNs: UInt64(bitPattern: row["sshd_start_ns"]), startedAtNs: ns(row["started_at"]) ?? 0)
        s.listenerPid = (row["listener_pid"] as Int64?).map { UInt32($0) }
        s.sshdPath = row["sshd_path"]
        s.sshdVersion = row["sshd_version"]
        s.user = row["user"]
        s.uid = (row["uid"] as Int64?).map { UInt32($0) }
        s.uidInside = (row["uid_inside"] as Int64?).map { UInt32($0) }
        s.root = row["root"]
        s.cgroup = row["cgroup"]
        s.container = row["container"]
        if let a: String = row["remote_addr"], let p: Int64 = row["remote_port"] { s.remote = Endpoint(address: a, port: UInt16(p)) }
        if let a: String = row["local_addr"], let p: Int64 = row["local_port"] { s.local = Endpoint(address: a, port: UInt16(p)) }
        s.authenticatedAtNs = ns(row["authenticated_at"])
        s.endedAtNs = ns(row["ended_at"])
        s.exitCode = (row["exit_code"] as Int64?).map { Int32($0) }
        s.commandCount = row["command_count"]
        s.recovered = row["recovered"]
        s.authMethod = row["auth_method"]
        s.keyFingerprint = row["key_fingerprint"]
        s.keyType = row["key_type"]
        if let serial: String = row["cert_serial"], let caType: String = row["ca_key_type"] {
            s.certificate = AuthLine.Certificate(id: row["cert_id"] ?? "", serial: serial, caKeyType: caType,
                                                 caFingerprint: row["ca_fingerprint"])
        }
        s.tty = row["tty"]
        s.bytesIn = row["bytes_in"]
        s.bytesOut = row["bytes_out"]
        s.kind = row["kind"]
        s.drops = row["drops"]
        s.truncatedArgv = row["truncated_argv"]
        s.endedUnobserved = row["ended_unobserved"]
        s.unattributedEvents = row["unattributed_events"]
        return s
    }

    static func channelRecord(_ row: Row) -> ChannelRecord {
        var c = ChannelRecord(id: row["id"], sessionID: row["session_id"], seq: row["seq"], pid: UInt32(row["pid"] as Int64),
                              startedAtNs: ns(row["started_at"]) ?? 0)
        c.kind = row["kind"]
        c.tty = row["tty"]
        return c
    }

    static func commandRecord(_ row: Row) -> CommandRecord {
        let argvText: String = row["argv"]
        var c = CommandRecord(
            id: row["id"], sessionID: row["session_id"], parentID: row["parent_id"], pid: UInt32(row["pid"] as Int64),
            ppid: UInt32(row["ppid"] as Int64), uid: UInt32(row["uid"] as Int64), filename: row["filename"],
            argv: (try? JSONDecoder().decode([String].self, from: Data(argvText.utf8))) ?? [],
            argvTruncated: row["argv_truncated"], startedAtNs: ns(row["started_at"]) ?? 0)
        c.endedAtNs = ns(row["ended_at"])
        c.exitCode = (row["exit_code"] as Int64?).map { Int32($0) }
        c.signal = (row["signal"] as Int64?).map { Int32($0) }
        c.recovered = row["recovered"]
        c.cwd = row["cwd"]
        c.channelID = row["channel_id"]
        return c
    }
}
