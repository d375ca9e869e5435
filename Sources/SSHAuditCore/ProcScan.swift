import Foundation

/// What /proc says about a process, for the start-up scan of processes that were running before
/// the recorder attached.
public struct ProcEntry: Equatable, Sendable {
    public var pid: UInt32
    public var ppid: UInt32
    public var comm: String
    /// /proc/PID/cmdline with NULs as spaces (sshd rewrites it to its process title).
    public var cmdline: String
    public var exe: String?
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

    static func entry(pid: UInt32, root: String) -> ProcEntry? {
        let dir = "\(root)/\(pid)"
        guard let stat = try? String(contentsOfFile: "\(dir)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let comm = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let ppid = UInt32(fields[1]) else { return nil }
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "\(dir)/cmdline"))) ?? Data()
        let cmdline = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
        let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/exe")
        return ProcEntry(pid: pid, ppid: ppid, comm: comm, cmdline: cmdline, exe: exe)
    }

    public struct SSHDTree: Equatable, Sendable {
        /// sshd processes that accept connections.
        public var listeners: [ProcEntry]
        /// Every process below an sshd listener (connections, their children, users' processes).
        public var descendants: [ProcEntry]
    }

    /// Finds sshd listeners (a process named sshd whose parent is not, e.g. `sshd -D` started by
    /// systemd or by hand) and everything below them.
    public static func sshdTree(_ all: [ProcEntry], listenerComm: String = "sshd") -> SSHDTree {
        let byPid = Dictionary(all.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
        let listeners = all.filter { p in
            p.comm == listenerComm && byPid[p.ppid]?.comm != listenerComm
        }
        var children: [UInt32: [ProcEntry]] = [:]
        for p in all { children[p.ppid, default: []].append(p) }
        var descendants: [ProcEntry] = []
        var stack = listeners.map(\.pid)
        while let pid = stack.popLast() {
            for child in children[pid] ?? [] {
                descendants.append(child)
                stack.append(child.pid)
            }
        }
        return SSHDTree(listeners: listeners, descendants: descendants)
    }
}
