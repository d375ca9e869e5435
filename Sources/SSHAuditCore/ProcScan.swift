import Foundation

/// What /proc says about a process, for the start-up scan of processes that were running before
/// the recorder attached.
public struct ProcEntry: Equatable, Sendable {
    public var pid: UInt32
    public var ppid: UInt32
    public var comm: String
    /// /proc/PID/cmdline with NULs as spaces (sshd rewrites it to its process title).
    public var cmdline: String
    /// argv as /proc/PID/cmdline gives it now (a process may have rewritten it since exec).
    public var argv: [String]
    public var exe: String?
    /// Real uid.
    public var uid: UInt32
    /// Effective uid; nil if /proc did not say.
    public var euid: UInt32?
    /// stat of /proc/PID/exe: the running binary, also inside a chroot or deleted since.
    public var executable: FileStatus?
    /// Start time in clock ticks since boot (/proc/PID/stat field 22).
    public var startTicks: UInt64
    /// Inodes of the sockets the process holds open.
    public var socketInodes: [UInt64]

    public init(pid: UInt32, ppid: UInt32, comm: String, cmdline: String = "", argv: [String] = [], exe: String? = nil,
                uid: UInt32 = 0, euid: UInt32? = nil, executable: FileStatus? = nil, startTicks: UInt64 = 0,
                socketInodes: [UInt64] = []) {
        self.pid = pid
        self.ppid = ppid
        self.comm = comm
        self.cmdline = cmdline
        self.argv = argv
        self.exe = exe
        self.uid = uid
        self.euid = euid
        self.executable = executable
        self.startTicks = startTicks
        self.socketInodes = socketInodes
    }
}

public enum ProcScan {
    /// Every process under `root` (default /proc).
    public static func processes(root: String = "/proc") -> [ProcEntry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        return names.compactMap { name -> ProcEntry? in
            guard let pid = UInt32(name) else { return nil }
            return entry(pid: pid, root: root)
        }
    }

    /// Running (not gone, not a zombie).
    public static func isAlive(pid: UInt32, root: String = "/proc") -> Bool {
        guard let stat = readText("\(root)/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != nil && state != "Z" && state != "X"
    }

    static func entry(pid: UInt32, root: String) -> ProcEntry? {
        let dir = "\(root)/\(pid)"
        guard let stat = readText("\(dir)/stat"),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let comm = String(stat[stat.index(after: open)..<close])
        // After "(comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
        // stime cutime cstime priority nice num_threads itrealvalue starttime …
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // A zombie has exited already (its exit may predate the recorder): nothing left to follow.
        guard fields.count > 19, let ppid = UInt32(fields[1]), fields[0] != "Z", fields[0] != "X" else { return nil }
        let raw = read("\(dir)/cmdline") ?? Data()
        var argv = raw.split(separator: 0, omittingEmptySubsequences: false).map { RecordedText.string($0) }
        // A rewritten process title (sshd's) is padded with NULs: drop the empty tail.
        while argv.last == "" { argv.removeLast() }
        let cmdline = argv.joined(separator: " ").trimmingCharacters(in: .whitespaces)
        let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/exe")
        // "Uid:\treal\teffective\tsaved\tfilesystem"
        var uid: UInt32 = 0
        var euid: UInt32?
        if let status = readText("\(dir)/status"),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) {
            let ids = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map { UInt32($0) }
            uid = ids.first.flatMap { $0 } ?? 0
            euid = ids.dropFirst().first.flatMap { $0 }
        }
        var sockets: [UInt64] = []
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/fd")) ?? [] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/fd/\(fd)"),
               target.hasPrefix("socket:["), let inode = UInt64(target.dropFirst(8).dropLast()) {
                sockets.append(inode)
            }
        }
        return ProcEntry(pid: pid, ppid: ppid, comm: comm, cmdline: cmdline, argv: argv, exe: exe, uid: uid, euid: euid,
                         executable: FileStatus.of(path: "\(dir)/exe"), startTicks: UInt64(fields[19]) ?? 0,
                         socketInodes: sockets.sorted())
    }

    public struct SSHDTree: Equatable, Sendable {
        /// sshd processes that accept connections.
        public var listeners: [ProcEntry]
        /// sshd processes started for one connection (sshd -i under inetd or a socket manager): each
        /// is that connection's monitor, with no listener.
        public var perConnection: [ProcEntry] = []
        /// Every process below an sshd listener or per-connection sshd (connections, their children,
        /// users' processes).
        public var descendants: [ProcEntry]
    }

    /// Finds sshd listeners (the real sshd, as `trust` decides, whose parent is not one, e.g. `sshd -D`
    /// started by systemd or by hand), sshd processes serving one connection that a socket manager
    /// handed them (the real sshd whose parent is not one, holding a connection of `connections`:
    /// sshd -i moves it off its standard input, and a listener holds none once it has forked), and
    /// everything below them. A process merely named sshd is ignored with
    /// everything it started.
    ///
    /// A per-connection sshd from OpenSSH 9.8 on has exec'd `sshd-session` (comm and executable): with
    /// `record --sshd`, that executable must be named too for the scan to find it.
    public static func sshdTree(_ all: [ProcEntry], trust: ListenerTrust = ListenerTrust(), listenerComm: String = "sshd",
                                connections: [UInt64: (local: Endpoint, remote: Endpoint)] = [:]) -> SSHDTree {
        let byPid = Dictionary(all.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        func isSSHD(_ p: ProcEntry) -> Bool { p.comm == listenerComm && trust.admits(p) }
        func isServing(_ p: ProcEntry) -> Bool {
            (p.comm == listenerComm || p.comm == listenerComm + "-session") && trust.admits(p)
        }
        // A monitor forked by a listener (9.2 re-executes it with the connection on stdin) has a
        // listener for parent; a socket manager is not sshd.
        let perConnection = all.filter { p in
            p.socketInodes.contains { connections[$0] != nil } && isServing(p) && !(byPid[p.ppid].map(isServing) ?? false)
        }
        let served = Set(perConnection.map(\.pid))
        let listeners = all.filter { p in
            isSSHD(p) && !served.contains(p.pid) && !(byPid[p.ppid].map(isSSHD) ?? false)
        }
        var children: [UInt32: [ProcEntry]] = [:]
        for p in all { children[p.ppid, default: []].append(p) }
        var descendants: [ProcEntry] = []
        var stack = (listeners + perConnection).map(\.pid)
        while let pid = stack.popLast() {
            for child in (children[pid] ?? []).sorted(by: { $0.pid < $1.pid }) {
                descendants.append(child)
                stack.append(child.pid)
            }
        }
        return SSHDTree(listeners: listeners, perConnection: perConnection, descendants: descendants)
    }

    /// Established TCP connections by socket inode, from /proc/net/tcp and tcp6.
    public static func tcpConnections(root: String = "/proc") -> [UInt64: (local: Endpoint, remote: Endpoint)] {
        var result: [UInt64: (local: Endpoint, remote: Endpoint)] = [:]
        for file in ["net/tcp", "net/tcp6"] {
            guard let text = readText("\(root)/\(file)") else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")
                guard f.count > 9, f[3] == "01", let inode = UInt64(f[9]),
                      let local = endpoint(hex: f[1]), let remote = endpoint(hex: f[2]) else { continue }
                result[inode] = (local, remote)
            }
        }
        return result
    }

    /// Reads a /proc file whole: they report size 0, and a sized read would stop at the first page.
    static func read(_ path: String) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return try? handle.readToEnd() ?? Data()
    }

    static func readText(_ path: String) -> String? {
        read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// "0100007F:0016" (IPv4) or 32 hex digits (IPv6) ":PORT": each 32-bit word in host (little-endian) order.
    static func endpoint(hex: Substring) -> Endpoint? {
        let parts = hex.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return nil }
        let addrHex = Array(parts[0])
        guard addrHex.count == 8 || addrHex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        for word in stride(from: 0, to: addrHex.count, by: 8) {
            guard let v = UInt32(String(addrHex[word..<word + 8]), radix: 16) else { return nil }
            bytes += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]
        }
        let address = bytes.count == 4 ? bytes.map(String.init).joined(separator: ".") : IPv6.format(bytes)
        return Endpoint(address: address, port: port)
    }
}
