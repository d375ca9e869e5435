import SSHAuditCore

/// A table's columns, declared once (docs/ARCHITECTURE.md §4, "Storage contract"). The declaration
/// is the order of the columns in the writer's statements and in the ledger's canonical encoding
/// (`LedgerTable.columns`), which columns never change (`fixed`) or are set once (`setOnce`), the
/// names the write path binds by (`ColumnBinder`, checked in debug builds), and, as the read model's
/// `CodingKeys`, the keys GRDB decodes and the JSON and CSV outputs write. Adding a column: a case
/// here (at the end: the ledger's `layout` counts a prefix), its binding and its migration.
protocol TableColumn: CodingKey, CaseIterable, Hashable, Sendable, RawRepresentable where RawValue == String {
    static var table: LedgerTable { get }
    /// Written with a row's first version and never changed (default: every column, rows written once).
    static var fixed: Set<Self> { get }
    /// NULL until set once, then never changed; bit i of `once_set` is the i-th of these.
    static var setOnce: [Self] { get }
}

extension TableColumn {
    static var fixed: Set<Self> { Set(allCases) }
    static var setOnce: [Self] { [] }
    static var names: [String] { allCases.map(\.rawValue) }
    static var fixedNames: [String] { allCases.filter { fixed.contains($0) }.map(\.rawValue) }
    static var setOnceNames: [String] { setOnce.map(\.rawValue) }
    /// The column's statement parameter (1-based, in declaration order); for debug checks.
    var parameter: Int32 { Int32(Array(Self.allCases).firstIndex(of: self)! + 1) }
}

/// The columns of each table, by their declaration.
extension LedgerTable {
    var declaration: any TableColumn.Type {
        switch self {
        case .sessions: return SessionColumn.self
        case .commands: return CommandColumn.self
        case .authAttempts: return AuthAttemptColumn.self
        case .fileTransfers: return FileTransferColumn.self
        case .sessionEvents: return SessionEventColumn.self
        case .networkActivity: return NetworkActivityColumn.self
        case .prunes: return PruneColumn.self
        case .recorderRuns: return RecorderRunColumn.self
        case .findings: return FindingColumn.self
        case .fileActivity: return FileActivityColumn.self
        case .ttyChunks: return TTYChunkColumn.self
        case .refusals: return RefusalColumn.self
        case .channels: return ChannelColumn.self
        }
    }
}

/// One SSH connection (schema/0001, later migrations).
enum SessionColumn: String, TableColumn {
    case id, sshdPid = "sshd_pid", sshdStartNs = "sshd_start_ns", listenerPid = "listener_pid"
    case sshdPath = "sshd_path", user, uid, remoteAddr = "remote_addr", remotePort = "remote_port"
    case localAddr = "local_addr", localPort = "local_port", authMethod = "auth_method"
    case keyFingerprint = "key_fingerprint", tty, startedAt = "started_at"
    case authenticatedAt = "authenticated_at", endedAt = "ended_at", exitCode = "exit_code"
    case commandCount = "command_count", bytesIn = "bytes_in", bytesOut = "bytes_out", recovered
    case sshdVersion = "sshd_version", endedUnobserved = "ended_unobserved", kind, drops
    case truncatedArgv = "truncated_argv", unattributedEvents = "unattributed_events", keyType = "key_type"
    case certID = "cert_id", certSerial = "cert_serial", caKeyType = "ca_key_type"
    case caFingerprint = "ca_fingerprint", uidInside = "uid_inside", root, cgroup, container

    static let table = LedgerTable.sessions
    static let fixed: Set<Self> = [.id, .sshdPid, .sshdStartNs, .listenerPid, .startedAt]
    /// A session's user (at authentication) and its connection (its accept may be learnt late, from /proc).
    static let setOnce: [Self] = [.user, .uid, .remoteAddr, .remotePort, .localAddr, .localPort]
}

/// One exec of a session's process.
enum CommandColumn: String, TableColumn {
    case id, sessionID = "session_id", parentID = "parent_id", pid, ppid, uid, filename, argv
    case argvTruncated = "argv_truncated", cwd, startedAt = "started_at", endedAt = "ended_at"
    case durationMs = "duration_ms", exitCode = "exit_code", signal, recovered, channelID = "channel_id"

    static let table = LedgerTable.commands
    static let fixed: Set<Self> = [.id, .sessionID, .parentID, .pid, .ppid, .uid, .filename, .argv, .argvTruncated, .cwd,
                                   .startedAt, .recovered]
}

/// One authentication attempt sshd logged.
enum AuthAttemptColumn: String, TableColumn {
    case id, sessionID = "session_id", at, user, remoteAddr = "remote_addr", remotePort = "remote_port"
    case method, result, keyType = "key_type", keyFingerprint = "key_fingerprint"
    case addrMismatch = "addr_mismatch", certID = "cert_id", certSerial = "cert_serial"
    case caKeyType = "ca_key_type", caFingerprint = "ca_fingerprint", submethod, authInfo = "auth_info"

    static let table = LedgerTable.authAttempts
}

/// One file a transfer server (sftp-server, scp, rsync, internal-sftp) opened.
enum FileTransferColumn: String, TableColumn {
    case id, sessionID = "session_id", commandID = "command_id", transferProtocol = "protocol", path, mode
    case openedAt = "opened_at", closedAt = "closed_at", bytesRead = "bytes_read"
    case bytesWritten = "bytes_written"

    static let table = LedgerTable.fileTransfers
    static let fixed: Set<Self> = [.id, .sessionID, .commandID, .transferProtocol, .path, .mode, .openedAt]
}

/// A forwarding, a subsystem or another event of a session.
enum SessionEventColumn: String, TableColumn {
    case id, sessionID = "session_id", at, kind, targetHost = "target_host", targetPort = "target_port", detail

    static let table = LedgerTable.sessionEvents
}

/// A session's connects, binds, listens and accepts, per process and endpoint (0021).
enum NetworkActivityColumn: String, TableColumn {
    case id, sessionID = "session_id", commandID = "command_id", pid, uid, op, family, proto, addr, port, path
    case firstAt = "first_at", lastAt = "last_at", count

    static let table = LedgerTable.networkActivity
    static let fixed: Set<Self> = [.id, .sessionID, .commandID, .pid, .uid, .op, .family, .proto, .addr, .port, .path,
                                   .firstAt]
}

/// One `sshaudit prune` (retention).
enum PruneColumn: String, TableColumn {
    case id, at, cutoff, removed, dropped

    static let table = LedgerTable.prunes
}

/// One run of the recorder.
enum RecorderRunColumn: String, TableColumn {
    case id, startedAt = "started_at", stoppedAt = "stopped_at", cleanExit = "clean_exit"
    case ringDrops = "ring_drops", trackFailures = "track_failures", decodeErrors = "decode_errors", events
    case unattributedEvents = "unattributed_events", resumedFrom = "resumed_from", overflows
    case unobservedExits = "unobserved_exits"

    static let table = LedgerTable.recorderRuns
    static let fixed: Set<Self> = [.id, .startedAt, .resumedFrom]
}

/// A row the recorder found changed outside sshaudit.
enum FindingColumn: String, TableColumn {
    case id, at, tbl, rowID = "row_id", seq, what

    static let table = LedgerTable.findings
}

/// A session's changes to the file system, per process, path and operation (0020).
enum FileActivityColumn: String, TableColumn {
    case id, sessionID = "session_id", commandID = "command_id", pid, uid, op, path, newPath = "new_path"
    case firstAt = "first_at", lastAt = "last_at", count

    static let table = LedgerTable.fileActivity
    static let fixed: Set<Self> = [.id, .sessionID, .commandID, .pid, .uid, .op, .path, .newPath, .firstAt]
}

/// One chunk of a terminal recording (0022).
enum TTYChunkColumn: String, TableColumn {
    case id, sessionID = "session_id", seq, at, firstNs = "first_ns", lastNs = "last_ns", bytes, truncated
    case incomplete, data

    static let table = LedgerTable.ttyChunks
}

/// A connection a listener refused before forking (0024).
enum RefusalColumn: String, TableColumn {
    case id, at, remoteAddr = "remote_addr", remotePort = "remote_port", localAddr = "local_addr"
    case localPort = "local_port", reason, detail, listenerPid = "listener_pid"
    case listenerStartNs = "listener_start_ns"

    static let table = LedgerTable.refusals
}

/// A session channel (0023).
enum ChannelColumn: String, TableColumn {
    case id, sessionID = "session_id", seq, pid, kind, tty, startedAt = "started_at", endedAt = "ended_at"
    case exitCode = "exit_code"

    static let table = LedgerTable.channels
    // commands.channel_id came with a migration (0023): older entries' fixed hashes never covered
    // it, so it is covered by each version's row hash only.
    static let fixed: Set<Self> = [.id, .sessionID, .seq, .pid, .startedAt]
}
