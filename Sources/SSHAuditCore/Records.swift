/// What the correlator hands to the store: whole rows, written as upserts by id, so a row can be
/// sent again whenever it changes (start, authentication, end) and the last version wins.

public struct SessionRecord: Equatable, Sendable, Codable {
    public var id: Int64
    /// The per-connection sshd process (the privileged monitor) and its start time: the identity.
    public var sshdPid: UInt32
    public var sshdStartNs: UInt64
    public var listenerPid: UInt32?
    /// The sshd binary that served the connection (e.g. /usr/sbin/sshd, /usr/lib/openssh/sshd-session).
    public var sshdPath: String?
    /// Its OpenSSH release, e.g. "OpenSSH_9.2p1 Debian-2+deb12u10".
    public var sshdVersion: String?
    public var user: String?
    /// The uid as the kernel reports it (the host's view).
    public var uid: UInt32?
    /// The same uid as seen inside the sshd's user namespace (equal to `uid` outside one); nil when
    /// the namespace was not read or does not map it.
    public var uidInside: UInt32?
    /// The sshd's root directory as seen on the host, its cgroup and the container that names
    /// (`ListenerNamespace`); nil when it could not be read.
    public var root: String?
    public var cgroup: String?
    public var container: String?
    public var remote: Endpoint?
    public var local: Endpoint?
    /// Wall-clock nanoseconds since the Unix epoch.
    public var startedAtNs: Int64
    public var authenticatedAtNs: Int64?
    public var endedAtNs: Int64?
    /// Exit status of the session's shell or command (what the client's `ssh` returns).
    public var exitCode: Int32?
    public var commandCount: Int
    /// The session began before the recorder started: its earliest events were not seen.
    public var recovered: Bool
    /// Controlling terminal of the session's shell ("pts/0"); nil for commands without a pty.
    public var tty: String?
    /// Payload bytes on the client's TCP connection, from the kernel's counters when it closed.
    public var bytesIn: Int64?
    public var bytesOut: Int64?
    /// interactive, exec, sftp, scp, rsync, forward-only, unknown (hooks off, nothing seen) or auth-failed, from what was observed.
    public var kind: String?
    /// Events were lost while the session was open (the kernel's ring buffer or process map, the
    /// correlator's bounds, an exit never reported): its record may miss something.
    public var drops = false
    /// Some command's argv was cut at the kernel's bound.
    public var truncatedArgv = false
    /// Events of sshd's process tree that no session could claim arrived while it was open: one of
    /// them may have been its own.
    public var unattributedEvents = false
    /// Open when the recorder stopped, gone when it started again: the end was not seen.
    public var endedUnobserved = false
    /// Every method of the accepted authentication, in order, as sshd logs each ("publickey",
    /// "publickey,password", "keyboard-interactive/pam"); nil: not logged (e.g. LogLevel QUIET).
    public var authMethod: String?
    /// The key of the authentication (of its key factor, when several methods were required).
    public var keyFingerprint: String?
    public var keyType: String?
    /// The key's certificate, when it was one.
    public var certificate: AuthLine.Certificate?
    /// The correlator keeps nothing more of the session: all its processes exited and its
    /// connection's byte counts arrived (or none is awaited), so this version is its last. Not a
    /// column: the ledger records it with the version (`CorrelatorOutput.isFinal`).
    public var closed = false

    public init(id: Int64, sshdPid: UInt32, sshdStartNs: UInt64, startedAtNs: Int64) {
        self.id = id
        self.sshdPid = sshdPid
        self.sshdStartNs = sshdStartNs
        self.startedAtNs = startedAtNs
        self.commandCount = 0
        self.recovered = false
    }
}

public struct CommandRecord: Equatable, Sendable, Codable {
    public var id: Int64
    public var sessionID: Int64
    /// The command of the nearest ancestor process (for the command tree), if any.
    public var parentID: Int64?
    public var pid: UInt32
    public var ppid: UInt32
    public var uid: UInt32
    public var filename: String
    public var argv: [String]
    public var argvTruncated: Bool
    public var startedAtNs: Int64
    public var endedAtNs: Int64?
    /// Set when the process exited normally; nil while running or when replaced by another exec.
    public var exitCode: Int32?
    /// Set when the process was killed by a signal.
    public var signal: Int32?
    /// Running when the recorder started: argv is what /proc showed then (it may have been rewritten).
    public var recovered = false
    /// Working directory at exec.
    public var cwd: String?
    /// The session channel its process belongs to (Channels.swift); nil outside any channel.
    public var channelID: Int64?

    public init(id: Int64, sessionID: Int64, parentID: Int64?, pid: UInt32, ppid: UInt32, uid: UInt32,
                filename: String, argv: [String], argvTruncated: Bool, startedAtNs: Int64) {
        self.id = id
        self.sessionID = sessionID
        self.parentID = parentID
        self.pid = pid
        self.ppid = ppid
        self.uid = uid
        self.filename = filename
        self.argv = argv
        self.argvTruncated = argvTruncated
        self.startedAtNs = startedAtNs
    }

    public var durationMs: Int64? { endedAtNs.map { ($0 - startedAtNs) / 1_000_000 } }
}

/// The key a session authenticated with (its key factor's), as sshd logged it.
public struct AuthKey: Equatable, Sendable, Codable {
    public var type: String?
    public var fingerprint: String
    public var certificate: AuthLine.Certificate?
}

/// One authentication attempt (or the end of one connection that never authenticated).
public struct AuthRecord: Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var atNs: Int64
    /// The user name as the client typed it (also for invalid users).
    public var user: String?
    /// The client's end of the connection as the kernel saw it accepted (never read from a log line).
    public var remote: Endpoint?
    public var method: String?
    public var result: AuthLine.Result
    /// keyboard-interactive's device ("pam"), as sshd logs it after the method.
    public var submethod: String?
    public var keyType: String?
    public var keyFingerprint: String?
    public var certificate: AuthLine.Certificate?
    /// hostbased's client user and host, gssapi-with-mic's principal (`AuthLine.info`).
    public var info: String?
    /// sshd's line did not name this connection's address and port exactly once where sshd writes
    /// them (`AuthLine.addrMismatch`); `remote` is still the connection's.
    public var addrMismatch: Bool

    public init(id: Int64, sessionID: Int64, atNs: Int64, user: String?, remote: Endpoint?, method: String?,
                result: AuthLine.Result, keyType: String?, keyFingerprint: String?, addrMismatch: Bool = false,
                submethod: String? = nil, certificate: AuthLine.Certificate? = nil, info: String? = nil) {
        self.id = id
        self.sessionID = sessionID
        self.atNs = atNs
        self.user = user
        self.remote = remote
        self.method = method
        self.result = result
        self.keyType = keyType
        self.keyFingerprint = keyFingerprint
        self.addrMismatch = addrMismatch
        self.submethod = submethod
        self.certificate = certificate
        self.info = info
    }
}

/// A file a transfer server opened for the client.
public struct TransferRecord: Equatable, Sendable, Codable {
    public enum Mode: String, Sendable, Codable { case read, write, readwrite }
    public var id: Int64
    public var sessionID: Int64
    public var commandID: Int64?
    /// sftp, scp or rsync.
    public var proto: String
    public var path: String
    public var mode: Mode
    public var openedAtNs: Int64
    public var closedAtNs: Int64?
    public var bytesRead: Int64 = 0
    public var bytesWritten: Int64 = 0
}

/// Port or agent forwarding by a session, and how a connection that never authenticated ended.
public struct SessionEventRecord: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case localForward = "local_forward", remoteForward = "remote_forward", agentForward = "agent_forward"
        /// Facts of the connection, not attempts (detail: the user name as typed, if sshd logged one):
        /// the name is no account; the client closed or timed out before authenticating; sshd cut it
        /// off after too many failures.
        case invalidUser = "invalid_user", closedBeforeAuth = "closed_before_auth"
        case tooManyFailures = "too_many_failures"
        /// A session's process used an io_uring instance (detail: its requests counted by opcode).
        case ioUring = "io_uring"
        /// A session's process made 32-bit system calls (detail: counted by call).
        case compatCalls = "compat_calls"
    }
    public var id: Int64
    public var sessionID: Int64
    public var atNs: Int64
    public var kind: Kind
    public var targetHost: String?
    public var targetPort: UInt16?
    public var detail: String?
}

/// Where a correlator's row ids start: after those already in the database.
public struct RowIDs: Equatable, Sendable, Codable {
    public var session: Int64
    public var command: Int64
    public var auth: Int64
    public var transfer: Int64
    public var event: Int64
    /// file_activity and network_activity (absent from checkpoints written before them: then 1, and
    /// the store's next id wins).
    public var file: Int64
    public var network: Int64
    /// refusals (absent from checkpoints written before them: then 1, and the store's next id wins).
    public var refusal: Int64 = 1
    /// channels (absent from checkpoints written before them: then 1, and the store's next id wins).
    public var channel: Int64
    public init(session: Int64 = 1, command: Int64 = 1, auth: Int64 = 1, transfer: Int64 = 1, event: Int64 = 1,
                file: Int64 = 1, network: Int64 = 1, refusal: Int64 = 1, channel: Int64 = 1) {
        self.network = network
        self.refusal = refusal
        self.channel = channel
        self.session = session
        self.command = command
        self.auth = auth
        self.transfer = transfer
        self.event = event
        self.file = file
    }

    private enum CodingKeys: String, CodingKey { case session, command, auth, transfer, event, file, network, refusal, channel }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        session = try c.decode(Int64.self, forKey: .session)
        command = try c.decode(Int64.self, forKey: .command)
        auth = try c.decode(Int64.self, forKey: .auth)
        transfer = try c.decode(Int64.self, forKey: .transfer)
        event = try c.decode(Int64.self, forKey: .event)
        file = try c.decodeIfPresent(Int64.self, forKey: .file) ?? 1
        network = try c.decodeIfPresent(Int64.self, forKey: .network) ?? 1
        refusal = try c.decodeIfPresent(Int64.self, forKey: .refusal) ?? 1
        channel = try c.decodeIfPresent(Int64.self, forKey: .channel) ?? 1
    }
}

public enum CorrelatorOutput: Equatable, Sendable {
    indirect case session(SessionRecord)  // boxed: by far the largest payload, and every output is copied at its size
    case command(CommandRecord)
    case auth(AuthRecord)
    case transfer(TransferRecord)
    case sessionEvent(SessionEventRecord)
    case fileActivity(FileActivityRecord)
    case network(NetworkRecord)
    /// Terminal recording: a piece of a session's recording (TTYRecording.swift).
    case ttyChunk(TTYChunkRecord)
    /// A connection the listener accepted and dropped without serving it (Refusals.swift).
    case refusal(RefusalRecord)
    /// A session channel (Channels.swift), written as it starts, execs and ends.
    case channel(ChannelRecord)

    /// No later version of this row will come: a session once closed (or ended while unobserved),
    /// a command or transfer once it ended; authentication attempts and session events are written
    /// once. The store refuses a version after a final one, and `verify` reports one.
    public var isFinal: Bool {
        switch self {
        // Not ended_unobserved alone: a monitor found gone by the sweep can leave processes that
        // still run and report into the session.
        case let .session(s): return s.closed
        case let .command(c): return c.endedAtNs != nil
        case let .transfer(t): return t.closedAtNs != nil
        case .auth, .sessionEvent, .ttyChunk, .refusal: return true
        case let .fileActivity(f): return f.closed
        case let .network(n): return n.final
        case let .channel(c): return c.endedAtNs != nil
        }
    }
}
