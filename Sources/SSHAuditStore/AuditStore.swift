import Foundation
import GRDB
import GRDBSQLite
import SSHAuditCore

public enum StoreError: Error, CustomStringConvertible {
    case cannotCreateDirectory(String, String)
    case notADatabase(String)
    case missing(String)
    case readOnlyViolation(String)
    case unsafePermissions(String, String)
    case cannotOpen(String, String)
    public var description: String {
        switch self {
        case let .cannotCreateDirectory(path, why): return "cannot create database directory \(path): \(why)"
        case let .notADatabase(path): return "\(path) is not an sshaudit database (or is corrupt)"
        case let .missing(path): return "no database at \(path) (run `sshaudit record` first, or give --db)"
        case let .readOnlyViolation(why): return "only read-only statements are allowed: \(why)"
        case let .unsafePermissions(path, why): return "refusing to use \(path): \(why)"
        case let .cannotOpen(path, why): return "cannot create or migrate the database \(path): \(why)"
        }
    }

    public static func isDatabaseError(_ error: Error) -> Bool { error is DatabaseError }

    /// What went wrong, in one line: SQLite's message and code, without the statement (which may span
    /// lines and says nothing to the user).
    public static func reason(_ error: Error) -> String {
        if let error = error as? StoreError { return error.description }
        guard let error = error as? DatabaseError else { return "\(error)" }
        return "\(error.message ?? "SQLite error") (SQLite error \(error.extendedResultCode.rawValue))"
    }
}

/// The SQLite database: schema migrations from schema/, batched upserts of correlator rows, and
/// the recorder-run ledger. Writes go through one connection; readers open their own.
public final class AuditStore {
    public static let defaultPath = "/var/lib/sshaudit/sshaudit.db"

    let writer: DatabaseQueue
    private let integrityLock = NSLock()
    private var integritySoFar = WriteIntegrity()

    private init(writer: DatabaseQueue) {
        self.writer = writer
    }

    /// Opens (creating if needed) the database for recording: directory 0700, file 0600, WAL.
    public static func openForRecording(path: String) throws -> AuditStore {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError.cannotCreateDirectory(dir, (error as NSError).localizedDescription)
            }
        }
        try checkOwnership(dir.isEmpty ? "." : dir)
        let existed = FileManager.default.fileExists(atPath: path)
        if existed { try checkOwnership(path) }
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        var config = Configuration()
        config.foreignKeysEnabled = true
        // `sshaudit prune` beside a running recorder: each waits for the other's transaction.
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // FULL: each batch is on disk when its transaction ends (the ring buffer is released
            // after that, so a power cut must not take back what was committed). One fsync per batch.
            try db.execute(sql: "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            try migrator.migrate(queue)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            throw StoreError.notADatabase(path)
        } catch {
            // A full disk, a read-only file system, …: said in one line, nothing half-done stays
            // (each migration is one transaction).
            throw StoreError.cannotOpen(path, StoreError.reason(error))
        }
        if !existed { chmod(path, 0o600) }
        return AuditStore(writer: queue)
    }

    /// An audit trail others can write to proves nothing: the database and its directory must belong
    /// to the user running sshaudit (root) and not be writable by anyone else (`PathSafety`).
    static func checkOwnership(_ path: String) throws {
        if let why = PathSafety.problem(path) { throw StoreError.unsafePermissions(path, why) }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations {
            migrator.registerMigration(migration.name) { db in
                let before = try Ledger.schema(db)
                try db.execute(sql: migration.sql)
                try Ledger.afterMigration(db, before: before)
            }
        }
        return migrator
    }

    /// Ids continue after those already stored, so a restarted recorder never reuses one.
    public func nextIDs() throws -> RowIDs {
        try writer.read { db in
            func next(_ table: String) throws -> Int64 {
                try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM \(table)") ?? 1
            }
            return RowIDs(session: try next("sessions"), command: try next("commands"), auth: try next("auth_attempts"),
                          transfer: try next("file_transfers"), event: try next("session_events"),
                          file: try next("file_activity"), network: try next("network_activity"),
                          refusal: try next("refusals"), channel: try next("channels"))
        }
    }

    /// The next terminal recording chunk's id (they continue after those stored).
    public func nextTTYChunkID() throws -> Int64 {
        try writer.read { db in try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) + 1 FROM tty_chunks") ?? 1 }
    }

    /// For the benchmark's comparison only (`replay --bind-through-grdb`, bench/run.sh): bind each
    /// row's values as GRDB statement arguments instead of with SQLite's C API (`RowBinder`), hashing
    /// the same bytes. Set before the first write; never set by the recorder.
    nonisolated(unsafe) public static var bindsThroughGRDB = false

    /// Writes one batch in one transaction. Rows are whole: for each id only the last version in
    /// the batch is written (`RowBatch`), and the stored row is then exactly that version. Sessions go
    /// first, so every command's session row exists. Each row written gets its ledger entry
    /// (Ledger.swift) in the same transaction, hashed from the very values bound to the statement; a
    /// row written before is checked first (`VersionWriter`).
    public func write(_ batch: [CorrelatorOutput], checkpoint: Checkpoint? = nil) throws {
        try write(RowBatch(batch), checkpoint: checkpoint)
    }

    /// - Parameter indexLimit: also add up to this many stored command lines to the --grep index, in
    ///   the same transaction (one commit, one sync, instead of two), unless that fails: the index
    ///   trails the rows and must never keep them from being written.
    /// - Returns: how many command lines were indexed.
    @discardableResult
    public func write(_ batch: RowBatch, checkpoint: Checkpoint? = nil, indexLimit: Int = 0) throws -> Int {
        var integrity = WriteIntegrity()
        var indexed = 0
        try writer.inTransaction(.immediate) { db in
            var tx = try WriteContext(db)
            // Each closure binds every column its table declares (TableColumns.swift), by name and in order.
            try Self.writeTTYChunks(batch, db, &tx)
            var sessions = try VersionWriter(db, SessionColumn.self)
            for case let .session(s) in batch.outputs {
                try sessions.put(db, id: s.id, final: CorrelatorOutput.session(s).isFinal, &tx) { r in
                    r.int(.id, s.id); r.int(.sshdPid, s.sshdPid)
                    r.int(.sshdStartNs, Int64(bitPattern: s.sshdStartNs)); r.int(.listenerPid, s.listenerPid)
                    r.text(.sshdPath, s.sshdPath); r.text(.user, s.user); r.int(.uid, s.uid)
                    r.text(.remoteAddr, s.remote?.address); r.int(.remotePort, s.remote?.port)
                    r.text(.localAddr, s.local?.address); r.int(.localPort, s.local?.port)
                    r.text(.authMethod, s.authMethod); r.text(.keyFingerprint, s.keyFingerprint); r.text(.tty, s.tty)
                    r.time(.startedAt, s.startedAtNs); r.time(.authenticatedAt, s.authenticatedAtNs)
                    r.time(.endedAt, s.endedAtNs); r.int(.exitCode, s.exitCode); r.int(.commandCount, s.commandCount)
                    r.int(.bytesIn, s.bytesIn); r.int(.bytesOut, s.bytesOut); r.bool(.recovered, s.recovered)
                    r.text(.sshdVersion, s.sshdVersion); r.bool(.endedUnobserved, s.endedUnobserved)
                    r.text(.kind, s.kind); r.bool(.drops, s.drops); r.bool(.truncatedArgv, s.truncatedArgv)
                    r.bool(.unattributedEvents, s.unattributedEvents); r.text(.keyType, s.keyType)
                    r.text(.certID, s.certificate?.id); r.text(.certSerial, s.certificate?.serial)
                    r.text(.caKeyType, s.certificate?.caKeyType); r.text(.caFingerprint, s.certificate?.caFingerprint)
                    r.int(.uidInside, s.uidInside); r.text(.root, s.root); r.text(.cgroup, s.cgroup)
                    r.text(.container, s.container)
                }
            }
            var commands = try VersionWriter(db, CommandColumn.self)
            for case let .command(c) in batch.outputs {
                try commands.put(db, id: c.id, final: CorrelatorOutput.command(c).isFinal, &tx) { r in
                    r.int(.id, c.id); r.int(.sessionID, c.sessionID); r.int(.parentID, c.parentID); r.int(.pid, c.pid)
                    r.int(.ppid, c.ppid); r.int(.uid, c.uid); r.text(.filename, c.filename)
                    r.jsonArray(.argv, c.argv); r.bool(.argvTruncated, c.argvTruncated); r.text(.cwd, c.cwd)
                    r.time(.startedAt, c.startedAtNs); r.time(.endedAt, c.endedAtNs); r.int(.durationMs, c.durationMs)
                    r.int(.exitCode, c.exitCode); r.int(.signal, c.signal); r.bool(.recovered, c.recovered)
                    r.int(.channelID, c.channelID)
                }
            }
            var auths = try VersionWriter(db, AuthAttemptColumn.self)
            for case let .auth(a) in batch.outputs {
                try auths.put(db, id: a.id, final: true, &tx) { r in
                    r.int(.id, a.id); r.int(.sessionID, a.sessionID); r.time(.at, a.atNs); r.text(.user, a.user)
                    r.text(.remoteAddr, a.remote?.address); r.int(.remotePort, a.remote?.port)
                    r.text(.method, a.method); r.text(.result, a.result.rawValue); r.text(.keyType, a.keyType)
                    r.text(.keyFingerprint, a.keyFingerprint); r.bool(.addrMismatch, a.addrMismatch)
                    r.text(.certID, a.certificate?.id); r.text(.certSerial, a.certificate?.serial)
                    r.text(.caKeyType, a.certificate?.caKeyType); r.text(.caFingerprint, a.certificate?.caFingerprint)
                    r.text(.submethod, a.submethod); r.text(.authInfo, a.info)
                }
            }
            var transfers = try VersionWriter(db, FileTransferColumn.self)
            for case let .transfer(t) in batch.outputs {
                try transfers.put(db, id: t.id, final: CorrelatorOutput.transfer(t).isFinal, &tx) { r in
                    r.int(.id, t.id); r.int(.sessionID, t.sessionID); r.int(.commandID, t.commandID)
                    r.text(.transferProtocol, t.proto); r.text(.path, t.path); r.text(.mode, t.mode.rawValue)
                    r.time(.openedAt, t.openedAtNs); r.time(.closedAt, t.closedAtNs); r.int(.bytesRead, t.bytesRead)
                    r.int(.bytesWritten, t.bytesWritten)
                }
            }
            var events = try VersionWriter(db, SessionEventColumn.self)
            for case let .sessionEvent(e) in batch.outputs {
                try events.put(db, id: e.id, final: true, &tx) { r in
                    r.int(.id, e.id); r.int(.sessionID, e.sessionID); r.time(.at, e.atNs)
                    r.text(.kind, e.kind.rawValue); r.text(.targetHost, e.targetHost)
                    r.int(.targetPort, e.targetPort); r.text(.detail, e.detail)
                }
            }
            var files = try VersionWriter(db, FileActivityColumn.self)
            for case let .fileActivity(f) in batch.outputs {
                try files.put(db, id: f.id, final: f.closed, &tx) { r in
                    r.int(.id, f.id); r.int(.sessionID, f.sessionID); r.int(.commandID, f.commandID)
                    r.int(.pid, f.pid); r.int(.uid, f.uid); r.text(.op, f.op.rawValue); r.text(.path, f.path)
                    r.text(.newPath, f.newPath); r.time(.firstAt, f.firstAtNs); r.time(.lastAt, f.lastAtNs)
                    r.int(.count, f.count)
                }
            }
            var network = try VersionWriter(db, NetworkActivityColumn.self)
            for case let .network(n) in batch.outputs {
                try network.put(db, id: n.id, final: n.final, &tx) { r in
                    r.int(.id, n.id); r.int(.sessionID, n.sessionID); r.int(.commandID, n.commandID)
                    r.int(.pid, n.pid); r.int(.uid, n.uid); r.text(.op, n.op.rawValue); r.text(.family, n.family)
                    r.text(.proto, n.proto); r.text(.addr, n.addr); r.int(.port, n.port); r.text(.path, n.path)
                    r.time(.firstAt, n.firstAtNs); r.time(.lastAt, n.lastAtNs); r.int(.count, n.count)
                }
            }
            var refusals = try VersionWriter(db, RefusalColumn.self)
            for case let .refusal(f) in batch.outputs {
                try refusals.put(db, id: f.id, final: true, &tx) { r in
                    r.int(.id, f.id); r.time(.at, f.atNs); r.text(.remoteAddr, f.remote.address)
                    r.int(.remotePort, f.remote.port); r.text(.localAddr, f.local.address)
                    r.int(.localPort, f.local.port); r.text(.reason, f.reason.rawValue); r.text(.detail, f.detail)
                    r.int(.listenerPid, f.listenerPid); r.int(.listenerStartNs, Int64(bitPattern: f.listenerStartNs))
                }
            }
            try Self.writeChannels(batch, db, &tx)
            try tx.writeFindings(db)
            if let checkpoint { try Self.saveCheckpoint(checkpoint, in: db) }
            integrity = tx.integrity
            if indexLimit > 0 {
                try? db.inSavepoint {
                    indexed = try Self.indexCommandLines(db, limit: indexLimit)
                    return .commit
                }
            }
            return .commit
        }
        noteIntegrity(integrity)
        return indexed
    }

    /// What the write path refused or found since this store was opened.
    public var integrity: WriteIntegrity {
        integrityLock.lock()
        defer { integrityLock.unlock() }
        return integritySoFar
    }

    func noteIntegrity(_ more: WriteIntegrity) {
        integrityLock.lock()
        integritySoFar += more
        integrityLock.unlock()
    }

    // MARK: - Recorder runs

    public struct RunCounters: Sendable {
        public var ringDrops: UInt64 = 0
        public var trackFailures: UInt64 = 0
        public var decodeErrors: UInt64 = 0
        /// Events of sshd's process tree that no session could claim.
        public var unattributedEvents: UInt64 = 0
        /// Entries the correlator's bounds refused or gave up, and processes found gone without an exit.
        public var overflows: UInt64 = 0
        public var unobservedExits: UInt64 = 0
        public var events: UInt64 = 0
        public init() {}
    }

    /// - Parameter resumedFrom: the killed run whose kernel state this one continues.
    public func startRun(atNs: Int64, resumedFrom: Int64? = nil) throws -> Int64 {
        try writer.write { db in
            try db.execute(sql: "INSERT INTO recorder_runs (started_at, resumed_from) VALUES (?, ?)",
                           arguments: [Timestamp.iso(ns: atNs), resumedFrom])
            let id = db.lastInsertedRowID
            try Self.ledgerStoredRows(db, table: LedgerTable.recorderRuns.rawValue, ids: [id])
            return id
        }
    }

    public func updateRun(_ id: Int64, counters: RunCounters, stoppedAtNs: Int64?, clean: Bool) throws {
        let integrity = try writer.write { db -> WriteIntegrity in
            // The row must still be the version of its latest entry before it is entered again.
            var tx = try WriteContext(db)
            var runs = try VersionWriter(db, RecorderRunColumn.self)
            try runs.check(db, id: id, &tx)
            try tx.writeFindings(db)
            try db.execute(sql: """
                UPDATE recorder_runs SET stopped_at = ?, clean_exit = ?, ring_drops = ?, track_failures = ?,
                    decode_errors = ?, events = ?, unattributed_events = ?, overflows = ?, unobserved_exits = ? WHERE id = ?
                """, arguments: [stoppedAtNs.map(Timestamp.iso(ns:)), clean, Int64(counters.ringDrops),
                                 Int64(counters.trackFailures), Int64(counters.decodeErrors),
                                 Int64(counters.events), Int64(counters.unattributedEvents),
                                 Int64(counters.overflows), Int64(counters.unobservedExits), id])
            try Self.ledgerStoredRows(db, table: LedgerTable.recorderRuns.rawValue, ids: [id])
            return tx.integrity
        }
        noteIntegrity(integrity)
    }
}

/// JSON text of a string array, for the argv column (compact, stable). Written by hand: it runs for
/// every command stored, and a general JSON writer costs several times more.
public enum JSONText {
    public static func array(_ strings: [String]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(strings.reduce(2) { $0 + $1.utf8.count + 3 })
        appendArray(strings, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The UTF-8 of `array(strings)`, appended to `out`.
    public static func appendArray(_ strings: [String], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, string) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendQuoted(string, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// One JSON string literal, quotes included.
    public static func string(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        appendQuoted(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\")
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), backslash: out.append(backslash); out.append(byte)
            case 0x08: out.append(backslash); out.append(UInt8(ascii: "b"))
            case 0x0c: out.append(backslash); out.append(UInt8(ascii: "f"))
            case 0x0a: out.append(backslash); out.append(UInt8(ascii: "n"))
            case 0x0d: out.append(backslash); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(backslash); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(backslash)
                out.append(contentsOf: "u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - Checkpoints

/// The recorder's position in the kernel's ring buffer and the correlator's state there
/// (schema/0011_checkpoints.sql), written in the same transaction as the rows it covers.
public struct Checkpoint: Sendable {
    public var runID: Int64
    public var atNs: Int64
    public var programs: String
    public var ringMapID: UInt32
    public var position: UInt64
    public var kernelRingFull: UInt64
    public var kernelMapFull: UInt64
    public var events: UInt64
    public var decodeErrors: UInt64
    public var state: Data

    public init(runID: Int64, atNs: Int64, programs: String, ringMapID: UInt32, position: UInt64,
                kernelRingFull: UInt64, kernelMapFull: UInt64, events: UInt64, decodeErrors: UInt64, state: Data) {
        self.runID = runID
        self.atNs = atNs
        self.programs = programs
        self.ringMapID = ringMapID
        self.position = position
        self.kernelRingFull = kernelRingFull
        self.kernelMapFull = kernelMapFull
        self.events = events
        self.decodeErrors = decodeErrors
        self.state = state
    }
}

extension AuditStore {
    static func saveCheckpoint(_ c: Checkpoint, in db: Database) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO recorder_checkpoint (id, run_id, at, programs, ring_map_id, position, kernel_ring_full,
                kernel_map_full, events, decode_errors, state) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [c.runID, Timestamp.iso(ns: c.atNs), c.programs, Int64(c.ringMapID), Int64(bitPattern: c.position),
                             Int64(bitPattern: c.kernelRingFull), Int64(bitPattern: c.kernelMapFull),
                             Int64(bitPattern: c.events), Int64(bitPattern: c.decodeErrors), c.state])
    }

    /// The latest checkpoint, if a recorder left one.
    public func checkpoint() throws -> Checkpoint? {
        try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM recorder_checkpoint WHERE id = 1") else { return nil }
            return Checkpoint(
                runID: row["run_id"], atNs: Timestamp.parse(row["at"]) ?? 0, programs: row["programs"],
                ringMapID: UInt32(truncatingIfNeeded: row["ring_map_id"] as Int64),
                position: UInt64(bitPattern: row["position"]), kernelRingFull: UInt64(bitPattern: row["kernel_ring_full"]),
                kernelMapFull: UInt64(bitPattern: row["kernel_map_full"]), events: UInt64(bitPattern: row["events"]),
                decodeErrors: UInt64(bitPattern: row["decode_errors"]), state: row["state"])
        }
    }

    /// After a clean stop there is nothing to continue.
    public func clearCheckpoint() throws {
        try writer.write { db in try db.execute(sql: "DELETE FROM recorder_checkpoint") }
    }
}

// MARK: - Command-line index

extension AuditStore {
    /// Adds up to `limit` stored command lines, in id order, to the trigram index that --grep uses
    /// (schema/0012); returns how many. The recorder calls it when it has time.
    @discardableResult
    public func indexCommandLines(limit: Int = 1000) throws -> Int {
        try writer.write { db in try Self.indexCommandLines(db, limit: limit) }
    }

    static func indexCommandLines(_ db: Database, limit: Int) throws -> Int {
        // Cached statements: the recorder indexes with every write (several times a second).
        guard let upto = try Int64.fetchOne(db.cachedStatement(sql: "SELECT indexed_upto FROM commands_argv_progress"))
        else { return 0 }
        let ids = try Int64.fetchAll(db.cachedStatement(sql: "SELECT id FROM commands WHERE id > ? ORDER BY id LIMIT ?"),
                                     arguments: [upto, limit])
        guard let last = ids.last else { return 0 }
        try db.cachedStatement(sql: """
            INSERT INTO commands_argv (rowid, argv)
            SELECT id, CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(commands.argv)) ELSE argv END
            FROM commands WHERE id > ? AND id <= ? ORDER BY id
            """).execute(arguments: [upto, last])
        try db.cachedStatement(sql: "UPDATE commands_argv_progress SET indexed_upto = ?").execute(arguments: [last])
        return ids.count
    }
}
