import CSSHAuditABI

/// What a session's process submitted through one io_uring instance (bpf/uring.bpf.h): requests
/// counted by opcode in the kernel and reported once, when the process owning the ring exits. The
/// operations themselves (which file, which address) are not itemised: they never pass the syscall
/// tracepoints the file and network rows come from.
public struct IOUringUse: Equatable, Sendable {
    /// The ring's identity in this recording.
    public var ring: UInt64
    /// io_uring_setup's flags (IORING_SETUP_SQPOLL: a kernel thread submits).
    public var setupFlags: UInt32
    /// The kernel had no room to follow the ring: its requests were not counted.
    public var notCounted: Bool
    /// Counted until the recorder stopped, the ring's owner still running (not at its exit).
    public var atStop: Bool
    /// Requests by opcode (index); the last entry counts every opcode from there up.
    public var counts: [UInt32]

    public init(ring: UInt64, setupFlags: UInt32, notCounted: Bool, atStop: Bool, counts: [UInt32]) {
        self.ring = ring
        self.setupFlags = setupFlags
        self.notCounted = notCounted
        self.atStop = atStop
        self.counts = counts
    }

    /// IORING_OP_* by number (the kernel's uapi, stable): lower case, without the prefix.
    static let opcodeNames = [
        "nop", "readv", "writev", "fsync", "read_fixed", "write_fixed", "poll_add", "poll_remove",
        "sync_file_range", "sendmsg", "recvmsg", "timeout", "timeout_remove", "accept", "async_cancel",
        "link_timeout", "connect", "fallocate", "openat", "close", "files_update", "statx", "read", "write",
        "fadvise", "madvise", "send", "recv", "openat2", "epoll_ctl", "splice", "provide_buffers",
        "remove_buffers", "tee", "shutdown", "renameat", "unlinkat", "mkdirat", "symlinkat", "linkat",
        "msg_ring", "fsetxattr", "setxattr", "fgetxattr", "getxattr", "socket", "uring_cmd", "send_zc",
        "sendmsg_zc", "read_multishot", "waitid", "futex_wait", "futex_wake", "futex_waitv",
        "fixed_fd_install", "ftruncate", "bind", "listen", "recv_zc", "epoll_wait", "readv_fixed",
        "writev_fixed", "pipe",
    ]

    static func opcodeName(_ index: Int, last: Bool) -> String {
        if last { return "opcode \(index) or above" }
        return index < opcodeNames.count ? opcodeNames[index] : "opcode \(index)"
    }

    /// The session event's detail, in opcode order, e.g. "connect ×1, openat ×3; operations through io_uring are
    /// counted by kind, not itemised".
    public var detail: String {
        if notCounted { return "io_uring instance created; no room to follow it: its operations were not counted" }
        let parts = counts.enumerated().filter { $0.element > 0 }.map { i, n in
            "\(Self.opcodeName(i, last: i == counts.count - 1)) ×\(n == UInt32.max ? "\(n)+" : "\(n)")"
        }
        let sqpoll = setupFlags & 2 != 0 ? " (submitted by a kernel thread: SQPOLL)" : ""
        let until = atStop ? "; counted until the recorder stopped, its owner still running" : ""
        if parts.isEmpty { return "io_uring instance created, no operations submitted" + sqpoll + until }
        return parts.joined(separator: ", ") + sqpoll + "; operations through io_uring are counted by kind, not itemised" + until
    }
}
