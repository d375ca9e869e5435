/// How much state the correlator holds at most (README, "What is recorded, and the bounds").
///
/// The people recorded can fork, exec and connect as fast as they like, so every table has a bound.
/// Two rules decide what happens at a bound:
/// - Processes follow the kernel: its `tracked` map (MAX_TRACKED in bpf/sshaudit.bpf.c) holds
///   65,536 processes and refuses new ones when full, so the correlator holds as many and refuses
///   the same way. A process not followed is never guessed at later.
/// - A table of rows already stored (open sessions, running commands, open files, connections
///   awaiting their byte counts) gives up its oldest entries (smallest ids: ids grow with time).
///   Only the later updates of those rows are lost: an end, an exit code, byte counts.
/// Either way the loss is counted (`Correlator.overflows`, per run in `recorder_runs`) and the
/// session concerned is flagged `drops`, like a loss in the kernel.
public struct CorrelatorBounds: Equatable, Sendable {
    /// Processes followed at once, including those found at start-up (the kernel's MAX_TRACKED).
    public var processes = 65_536
    /// Sessions open at once.
    public var sessions = 16_384
    /// Commands running at once …
    public var commands = 65_536
    /// … and what their argv, path and cwd may take (`CommandRecord.heldBytes`). An argv of 8 KiB
    /// costs up to about 130 KiB in memory (thousands of empty arguments) and up to 48 KiB in the
    /// checkpoint (control characters), so the count alone is no bound. Ordinary commands cost a few
    /// hundred bytes: the count is reached long before.
    public var commandBytes = 16 << 20
    /// Connections whose byte counters are awaited: as many as the kernel's `connections` map holds …
    public var connections = 16_384
    /// … of which those whose session has ended (its processes are gone; the TCP close may take a
    /// while): each holds the session's row.
    public var awaitingBytes = 4_096
    /// Files open by transfer servers.
    public var transfers = 1_024
    /// File activity rows open at once (their processes run), and what their paths may take: full,
    /// the oldest rows are closed (stored whole already, so nothing is lost; a later change to the same
    /// path starts a new row).
    public var fileRows = 16_384
    public var fileBytes = 8 << 20
    /// Connections accepted by a listener and not yet handed to a monitor (one per listener).
    public var pendingAccepts = 1_024
    /// Processes holding their path: listeners, and sshd binaries started outside any session (which
    /// may become one). Beyond it a new one holds none: its sessions have no sshd_path.
    public var listenerPaths = 1_024
    /// Network activity rows being aggregated (one per process, operation and endpoint) until their
    /// process exits.
    public var networkRows = 16_384
    /// Session channels open at once (each one's process runs, so the process bound holds them too):
    /// full, the oldest give up their end (stored already; only the end and exit code are lost).
    public var channels = 65_536
    /// The uid → name cache (a cache: emptied when full, nothing is lost).
    public var userNames = 4_096

    public init() {}

    /// How many entries a full table gives up at once: a sixteenth, so that finding the oldest (a
    /// sort) is paid once per many insertions.
    static func slack(_ bound: Int) -> Int { max(1, bound / 16) }
}

extension CorrelatorOutput {
    /// An upper bound on what the row holds in memory (for the writer's queue): commands are what a
    /// user makes large (`CommandRecord.heldBytes`); the other rows are small, their strings short.
    public var heldBytes: Int {
        switch self {
        case let .command(c): return c.heldBytes
        case let .transfer(t): return 256 + CommandRecord.held(t.path)
        case .session, .auth, .sessionEvent: return 1_024
        case let .refusal(r): return 256 + (r.detail?.utf8.count ?? 0)
        case let .fileActivity(f): return FileActivityTable.held(FileChange(op: f.op, path: f.path, newPath: f.newPath))
        case let .network(n): return 512 + (n.path.map(CommandRecord.held) ?? 0)
        case let .ttyChunk(t): return 256 + t.data.count
        case let .channel(c): return 256 + (c.tty.map(CommandRecord.held) ?? 0)
        }
    }
}

extension CommandRecord {
    /// An upper bound on what a running command holds, in memory and in the checkpoint's JSON.
    var heldBytes: Int {
        var n = 384 + Self.held(filename) + (cwd.map(Self.held) ?? 0)  // 384: the record's fields and numbers
        for arg in argv { n += Self.held(arg) }
        return n
    }

    /// A string's cost: the larger of its memory (16 bytes inline, or its bytes and a 32-byte header
    /// past 15) and its JSON (quotes and a comma; a control character takes six bytes, \u00XX; a
    /// quote, a backslash or a slash two).
    static func held(_ s: String) -> Int {
        var s = s
        // Native strings are contiguous (this never copies for them); the loop is on every exec.
        let escapes = s.withUTF8 { bytes -> Int in
            var extra = 0
            for byte in bytes {
                if byte < 0x20 { extra += 5 } else if byte == 0x22 || byte == 0x5C || byte == 0x2F { extra += 1 }
            }
            return extra
        }
        let n = s.utf8.count
        return max(16 + (n > 15 ? n + 32 : 0), 3 + n + escapes)
    }
}
