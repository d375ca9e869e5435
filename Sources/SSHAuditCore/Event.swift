/// A process is identified by its tgid and its start time (boot-relative ns): pids are reused,
/// the pair is not.
public struct ProcessKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var tgid: UInt32
    public var startNs: UInt64
    public init(tgid: UInt32, startNs: UInt64) {
        self.tgid = tgid
        self.startNs = startNs
    }
    public var description: String { "\(tgid)@\(startNs)" }
}

/// One end of a TCP connection, as text ("127.0.0.1", "::1") and port.
public struct Endpoint: Equatable, Sendable, Codable {
    public var address: String
    public var port: UInt16
    public init(address: String, port: UInt16) {
        self.address = address
        self.port = port
    }
}

public struct ExecInfo: Equatable, Sendable {
    public var filename: String
    public var argv: [String]
    /// The kernel kept only the first `SA_ARGV_MAX` bytes of argv.
    public var argvTruncated: Bool
    /// An sshd binary started outside every tracked tree (a new listener).
    public var newRoot: Bool
    /// With `newRoot`: started with a connected TCP socket on its standard input (sshd -i under inetd
    /// or a socket manager), so it is that connection's monitor. The kernel follows the exec record
    /// with an accept record of this process for that socket.
    public var connection: Bool
    /// Controlling terminal ("pts/0"), nil if none.
    public var tty: String?
    /// Working directory at exec (relative to the process's root); nil if it could not be read whole.
    public var cwd: String?
    /// A session's program started while the session hooks were not attached: its 32-bit calls,
    /// file and network activity may have gone unseen (SA_EXEC_SESSION_HOOKS_OFF).
    public var sessionHooksOff: Bool = false
    public init(filename: String, argv: [String], argvTruncated: Bool = false, newRoot: Bool = false,
                connection: Bool = false, tty: String? = nil, cwd: String? = nil, sessionHooksOff: Bool = false) {
        self.sessionHooksOff = sessionHooksOff
        self.filename = filename
        self.argv = argv
        self.argvTruncated = argvTruncated
        self.newRoot = newRoot
        self.connection = connection
        self.tty = tty
        self.cwd = cwd
    }
}

/// What happened, decoded from one kernel record (bpf/events.h).
public enum EventKind: Equatable, Sendable {
    case fork(child: ProcessKey)
    case exec(ExecInfo)
    /// Wait status as the kernel keeps it: (code << 8) | signal.
    case exit(status: UInt32)
    /// `socket` identifies the connection until its `connectionClosed`.
    case accept(local: Endpoint, remote: Endpoint, socket: UInt64)
    /// The TCP stack's counters of an accepted connection when it closed (payload bytes).
    case connectionClosed(socket: UInt64, bytesIn: UInt64, bytesOut: UInt64)
    /// A transfer server (sftp-server, scp, rsync, sshd serving internal-sftp) opened a regular file: its
    /// absolute path as the kernel resolved it (in event logs of older versions, the string passed to openat).
    case fileOpened(fd: Int32, flags: UInt32, path: String)
    /// … and closed it at this offset, the file being this large.
    case fileClosed(fd: Int32, position: UInt64, size: UInt64)
    /// An sshd session process connected or bound a socket (forwarding).
    case socket(SocketCall)
    /// A session's process called connect, bind or listen (NetworkActivity.swift).
    case network(NetworkCall)
    case cred(ruid: UInt32, euid: UInt32, suid: UInt32)
    case chroot
    case setsid
    /// A line sshd logged (to its -E file, a syslog datagram, or its standard error with -e); never
    /// session data.
    case log(source: LogSource, text: String)
    /// A session's process changed the file system (created, wrote, renamed, removed … a file).
    case fileChange(FileChange)
    /// Terminal recording: bytes the session's sshd read from its pty master or its command's pipes
    /// (or wrote to them: input); `cut`: the kernel could not record all of that call's bytes;
    /// `capped`: the session process reached the per-session cap, the kernel sends nothing more.
    case tty(stream: TTYStream, bytes: [UInt8], cut: Bool, capped: Bool = false)
    /// Terminal recording: sshd set the session's window size.
    case ttyWindow(rows: UInt16, cols: UInt16)
    /// The kernel counted `count` repeats (in all, since its report) of the file operation it
    /// reported with `FileChange.seenKey` == `key`; the event's time is the last one's. Written by the
    /// recorder from the kernel's `file_seen` map, never by the kernel.
    case fileRepeat(key: [UInt8], count: UInt64)
    /// A session's process exits owning an io_uring instance: its requests counted by opcode
    /// (IOUringUse.swift).
    case ioUring(IOUringUse)
    /// A session's process exits having made 32-bit system calls: counted by i386 number
    /// (CompatCalls.swift).
    case compatCalls(CompatCalls)
}

public enum LogSource: UInt32, Equatable, Sendable {
    case file = 1
    case syslog = 2
    case stderr = 3
}

public struct Event: Equatable, Sendable {
    /// The process the event happened in.
    public var process: ProcessKey
    public var ppid: UInt32
    /// Real uid of the process at the time.
    public var uid: UInt32
    /// CLOCK_BOOTTIME nanoseconds.
    public var timestampNs: UInt64
    public var comm: String
    public var kind: EventKind
    /// A fork (`.fork`) by a monitor while the session hooks were not attached
    /// (SA_FORK_SESSION_HOOKS_OFF): if the child turns out to be the user child, its session's file
    /// and network activity may have gone unseen for a while.
    public var hooksOffAtFork = false

    public init(process: ProcessKey, ppid: UInt32, uid: UInt32, timestampNs: UInt64, comm: String, kind: EventKind) {
        self.process = process
        self.ppid = ppid
        self.uid = uid
        self.timestampNs = timestampNs
        self.comm = comm
        self.kind = kind
    }
}

public struct SocketCall: Equatable, Sendable {
    public enum Operation: UInt32, Sendable {
        case connect = 1
        case bind = 2
    }
    public var operation: Operation
    /// An IP endpoint, or nil for a unix socket.
    public var endpoint: Endpoint?
    public var unixPath: String?
    public init(operation: Operation, endpoint: Endpoint?, unixPath: String?) {
        self.operation = operation
        self.endpoint = endpoint
        self.unixPath = unixPath
    }
}
