/// A process is identified by its tgid and its start time (boot-relative ns): pids are reused,
/// the pair is not.
public struct ProcessKey: Hashable, Sendable, CustomStringConvertible {
    public var tgid: UInt32
    public var startNs: UInt64
    public init(tgid: UInt32, startNs: UInt64) {
        self.tgid = tgid
        self.startNs = startNs
    }
    public var description: String { "\(tgid)@\(startNs)" }
}

/// One end of a TCP connection, as text ("127.0.0.1", "::1") and port.
public struct Endpoint: Equatable, Sendable {
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
    public init(filename: String, argv: [String], argvTruncated: Bool = false, newRoot: Bool = false) {
        self.filename = filename
        self.argv = argv
        self.argvTruncated = argvTruncated
        self.newRoot = newRoot
    }
}

/// What happened, decoded from one kernel record (bpf/events.h).
public enum EventKind: Equatable, Sendable {
    case fork(child: ProcessKey)
    case exec(ExecInfo)
    /// Wait status as the kernel keeps it: (code << 8) | signal.
    case exit(status: UInt32)
    case accept(local: Endpoint, remote: Endpoint)
    case cred(ruid: UInt32, euid: UInt32, suid: UInt32)
    case chroot
    case setsid
    /// A line sshd logged (to a file with -E, or a syslog datagram); never session data.
    case log(source: LogSource, text: String)
}

public enum LogSource: UInt32, Equatable, Sendable {
    case file = 1
    case syslog = 2
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

    public init(process: ProcessKey, ppid: UInt32, uid: UInt32, timestampNs: UInt64, comm: String, kind: EventKind) {
        self.process = process
        self.ppid = ppid
        self.uid = uid
        self.timestampNs = timestampNs
        self.comm = comm
        self.kind = kind
    }
}
