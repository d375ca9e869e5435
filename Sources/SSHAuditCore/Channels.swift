/// Session channels: one connection (a session row) can carry several shells, commands and
/// subsystems at once, e.g. with the client's ControlMaster multiplexing. sshd's user-privileged
/// post-authentication child forks one process per session channel (session.c: do_exec_pty,
/// do_exec_no_pty), which then execs the user's shell or serves internal-sftp itself. That child is
/// the channel; every process forked below it belongs to it (setsid, double forks and re-parenting
/// change nothing: the channel is inherited at fork, never taken from anything a process can set).

/// One channel of a session (table channels, schema/0023).
public struct ChannelRecord: Equatable, Sendable, Codable {
    public var id: Int64
    public var sessionID: Int64
    /// 1, 2, … in the order the session's channels started.
    public var seq: Int64
    /// The channel's process (the child sshd forked for it).
    public var pid: UInt32
    /// `shell`, `exec` or `subsystem` (`ChannelKind`); nil until its process execs or ends.
    public var kind: String?
    /// The terminal its process had at its exec ("pts/3"); nil without one.
    public var tty: String?
    public var startedAtNs: Int64
    /// When its process exited (or was found gone); nil while it runs, or when given up at the bound.
    public var endedAtNs: Int64?
    /// Its process's exit code, 128 + signal when killed (as a shell reports it); nil while running,
    /// or when its exit was not seen.
    public var exitCode: Int32?

    public init(id: Int64, sessionID: Int64, seq: Int64, pid: UInt32, startedAtNs: Int64) {
        (self.id, self.sessionID, self.seq, self.pid, self.startedAtNs) = (id, sessionID, seq, pid, startedAtNs)
    }
}

/// What a channel is, from what its process does (session.c, do_child).
public enum ChannelKind {
    /// A shell request: sshd execs the user's shell as a login shell, argv[0] "-" + its name and no
    /// other argument.
    public static let shell = "shell"
    /// An exec request: sshd execs the user's shell with `-c COMMAND`.
    public static let exec = "exec"
    /// A subsystem request: an external one is run like an exec of its configured command line, so
    /// only a line that is an sftp-server binary alone is told apart (an exec request of that same
    /// line looks the same from outside); internal-sftp never execs.
    public static let subsystem = "subsystem"

    /// The kind of a channel whose process's first exec is `info`.
    static func of(firstExec info: ExecInfo) -> String {
        let argv = info.argv
        if argv.count == 1, argv[0].hasPrefix("-") { return shell }
        if argv.count == 3, argv[1] == "-c", !argv[2].contains(" "), baseName(argv[2]).hasPrefix("sftp-server") {
            return subsystem
        }
        return exec
    }

    /// The kind of a channel whose process ended without exec: sshd's own code served it, which only
    /// internal-sftp does.
    static let withoutExec = subsystem
}

/// The channels whose process still runs, by channel id (bounded: `CorrelatorBounds.channels`).
struct ChannelTable: Codable {
    /// An open channel, kept small (one per open session, thousands at once): its row is rebuilt from
    /// these fields whenever it changes.
    struct Open: Codable {
        /// The channel's own process: only it decides the kind, the tty and the exit code.
        var process: ProcessKey
        var sessionID: Int64
        var startedAtNs: Int64
        var seq: Int32
        /// `Kind`'s raw value: 0 until its process execs (or a channel found running says).
        var kind: UInt8
        var execed: Bool
        var tty: String?

        func record(id: Int64) -> ChannelRecord {
            var record = ChannelRecord(id: id, sessionID: sessionID, seq: Int64(seq), pid: process.tgid, startedAtNs: startedAtNs)
            record.kind = Kind(rawValue: kind)?.text
            record.tty = tty
            return record
        }
    }

    /// `ChannelKind`'s texts as one byte each.
    enum Kind: UInt8 {
        case shell = 1, exec, subsystem
        init?(_ text: String?) {
            switch text {
            case ChannelKind.shell?: self = .shell
            case ChannelKind.exec?: self = .exec
            case ChannelKind.subsystem?: self = .subsystem
            default: return nil
            }
        }
        var text: String {
            switch self {
            case .shell: ChannelKind.shell
            case .exec: ChannelKind.exec
            case .subsystem: ChannelKind.subsystem
            }
        }
    }

    private(set) var open: [Int64: Open] = [:]

    init(open: [Int64: Open] = [:]) { self.open = open }

    var count: Int { open.count }
    var openRows: [ChannelRecord] { open.map { $0.value.record(id: $0.key) }.sorted { $0.id < $1.id } }

    /// A new channel for `process` in session `sessionID`, its `seq`-th. At the bound the oldest open
    /// channels give up their end first: returned, to be counted and their sessions flagged.
    /// `kind`: already known (a channel found running at start-up).
    mutating func start(id: Int64, process: ProcessKey, sessionID: Int64, seq: Int64, kind: String? = nil, atNs: Int64, bound: Int)
        -> (ChannelRecord, evicted: [ChannelRecord]) {
        var evicted: [ChannelRecord] = []
        if open.count >= bound {
            let keep = bound - CorrelatorBounds.slack(bound)
            for id in open.keys.sorted() where open.count > keep {
                if let gone = open.removeValue(forKey: id) { evicted.append(gone.record(id: id)) }
            }
        }
        let entry = Open(process: process, sessionID: sessionID, startedAtNs: atNs, seq: Int32(clamping: seq),
                         kind: Kind(kind)?.rawValue ?? 0, execed: kind != nil, tty: nil)
        open[id] = entry
        return (entry.record(id: id), evicted)
    }

    /// A channel the database has open, continued by a restarted recorder (its process found running).
    mutating func resume(_ record: ChannelRecord, process: ProcessKey) {
        open[record.id] = Open(process: process, sessionID: record.sessionID, startedAtNs: record.startedAtNs,
                               seq: Int32(clamping: record.seq), kind: Kind(record.kind)?.rawValue ?? 0,
                               execed: record.kind != nil, tty: record.tty)
    }

    /// A process found at start-up is known by pid alone (start time 0) until its first event.
    mutating func adopt(channel id: Int64, seeded: ProcessKey, as key: ProcessKey) {
        if open[id]?.process == seeded { open[id]?.process = key }
    }

    /// The channel's process execs: its first exec decides the kind and the tty. Nil if nothing changed.
    mutating func exec(channel id: Int64, process: ProcessKey, _ info: ExecInfo) -> ChannelRecord? {
        guard var entry = open[id], entry.process == process, !entry.execed else { return nil }
        entry.execed = true
        entry.kind = Kind(ChannelKind.of(firstExec: info))?.rawValue ?? 0
        entry.tty = info.tty
        open[id] = entry
        return entry.record(id: id)
    }

    /// The channel's process is gone: its exit status (nil: found gone without one). Nil if `process`
    /// is not a channel's own process (a descendant, or a channel given up at the bound).
    mutating func end(channel id: Int64, process: ProcessKey, atNs: Int64, status: UInt32?) -> ChannelRecord? {
        guard let entry = open[id], entry.process == process else { return nil }
        open.removeValue(forKey: id)
        var record = entry.record(id: id)
        if !entry.execed { record.kind = ChannelKind.withoutExec }
        record.endedAtNs = atNs
        if let status {
            let ws = WaitStatus(status)
            record.exitCode = ws.code ?? (128 + (ws.signal ?? 0))
        }
        return record
    }
}
