import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an sshd lives: its root directory, its cgroup (and the container that names) and its user
/// namespace. Read from /proc for the listener when the correlator first sees it fork a connection
/// (a per-connection sshd: the monitor itself), so that a session of an sshd in a chroot, a container
/// or another user namespace gets its user's name from that sshd's own passwd, not the host's.
public struct ListenerNamespace: Equatable, Sendable, Codable {
    /// The root directory as the kernel prints it for the recorder (`readlink /proc/PID/root`):
    /// "/" for an sshd of the host, e.g. "/var/lib/machines/trixie" for one in a chroot.
    public var root: String?
    /// Device and inode of that root: names are read from its passwd only through a process whose
    /// root is still this directory (a reused pid has another, or is refused).
    public var rootDevice: UInt64
    public var rootInode: UInt64
    /// Whether the root is the recorder's own: then names come from the host's passwd.
    public var hostRoot: Bool
    /// The cgroup v2 path (`/proc/PID/cgroup`, hierarchy 0; else the first line's path).
    public var cgroup: String?
    /// The container the cgroup path names (`ContainerID.from`), if any.
    public var container: String?
    /// The user namespace's uid map; nil: the initial namespace (uids inside are the host's).
    public var uidMap: [UIDExtent]?

    public init(root: String?, rootDevice: UInt64, rootInode: UInt64, hostRoot: Bool, cgroup: String?,
                uidMap: [UIDExtent]?) {
        self.root = root
        self.rootDevice = rootDevice
        self.rootInode = rootInode
        self.hostRoot = hostRoot
        self.cgroup = cgroup
        self.container = cgroup.flatMap(ContainerID.from)
        self.uidMap = uidMap
    }

    /// One line of /proc/PID/uid_map: `count` uids from `inside` in the namespace are `outside` on the host.
    public struct UIDExtent: Equatable, Sendable, Codable {
        public var inside: UInt32
        public var outside: UInt32
        public var count: UInt32
    }

    /// The uid inside this namespace of a host uid (the kernel's view); nil when it is not mapped
    /// there (it would show as the overflow uid, 65534).
    public func insideUID(_ hostUID: UInt32) -> UInt32? {
        guard let uidMap else { return hostUID }
        for e in uidMap where hostUID >= e.outside && UInt64(hostUID) < UInt64(e.outside) + UInt64(e.count) {
            return e.inside + (hostUID - e.outside)
        }
        return nil
    }

    /// Parses /proc/PID/uid_map; the identity map of the initial namespace gives nil.
    public static func parseUIDMap(_ text: String) -> [UIDExtent]? {
        var extents: [UIDExtent] = []
        for line in text.split(separator: "\n").prefix(340) {  // the kernel allows 340 lines
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 3, let i = UInt32(f[0]), let o = UInt32(f[1]), let c = UInt32(f[2]) else { continue }
            extents.append(UIDExtent(inside: i, outside: o, count: c))
        }
        if extents == [UIDExtent(inside: 0, outside: 0, count: UInt32.max)] { return nil }
        return extents
    }

    /// The cgroup path from /proc/PID/cgroup: the unified hierarchy's ("0::PATH"), unless only a v1
    /// hierarchy's path names a container (a hybrid host, where runtimes place containers in v1).
    public static func parseCgroup(_ text: String) -> String? {
        var paths: [Substring] = []
        for line in text.split(separator: "\n").prefix(64) {
            guard let colon = line.firstIndex(of: ":"),
                  let second = line[line.index(after: colon)...].firstIndex(of: ":") else { continue }
            let path = line[line.index(after: second)...]
            guard !path.isEmpty else { continue }
            if line.hasPrefix("0::") { paths.insert(path, at: 0) } else { paths.append(path) }
        }
        let chosen = paths.first { ContainerID.from(String($0)) != nil } ?? paths.first
        return chosen.map(String.init)
    }
}

/// A container id read from a cgroup path. Recognised, the innermost (last) match wins:
/// - `docker-<64 hex>.scope` (Docker, systemd driver), `/docker/<64 hex>` (cgroupfs driver);
/// - `libpod-<64 hex>.scope` and `/libpod-<64 hex>` (Podman);
/// - `cri-containerd-<64 hex>.scope`, `crio-<64 hex>.scope`, and a `<64 hex>` component under a
///   `kubepods…` component (Kubernetes);
/// - `lxc.payload.NAME` (LXC 4+, LXD, Incus) and `/lxc/NAME` (older LXC): the container's name.
/// Anything else (a plain systemd service, a user slice) names no container.
public enum ContainerID {
    public static func from(_ cgroup: String) -> String? {
        let parts = cgroup.split(separator: "/")
        var found: String?
        for (i, part) in parts.enumerated() {
            if let id = scoped(part) {
                found = id
            } else if i > 0, parts[i - 1] == "docker" || parts[i - 1] == "lxc", let id = plain(part, lxc: parts[i - 1] == "lxc") {
                found = id
            } else if part.hasPrefix("libpod-"), isHex64(part.dropFirst(7)) {
                found = String(part.dropFirst(7))
            } else if isHex64(part), parts[..<i].contains(where: { $0.hasPrefix("kubepods") }) {
                found = String(part)
            } else if part.hasPrefix("lxc.payload."), let name = plain(part.dropFirst(12), lxc: true) {
                found = name
            }
        }
        return found
    }

    /// `PREFIX-<64 hex>.scope` for the runtimes that name a systemd scope after the container.
    private static func scoped(_ part: Substring) -> String? {
        guard part.hasSuffix(".scope") else { return nil }
        let stem = part.dropLast(6)
        for prefix in ["docker-", "libpod-", "cri-containerd-", "crio-"] where stem.hasPrefix(prefix) {
            let id = stem.dropFirst(prefix.count)
            return isHex64(id) ? String(id) : nil
        }
        return nil
    }

    private static func plain(_ part: Substring, lxc: Bool) -> String? {
        if !lxc { return isHex64(part) ? String(part) : nil }
        // An LXC name: what lxc-create accepts, bounded.
        guard !part.isEmpty, part.utf8.count <= 128, part.utf8.allSatisfy({
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
        }) else { return nil }
        return String(part)
    }

    static func isHex64(_ s: Substring) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// The passwd of a root tree, read as hostile text: someone root inside wrote it.
public enum PasswdText {
    /// At most this much of the file is read, and names longer than `maxName` bytes are skipped.
    public static let maxBytes = 4 << 20
    public static let maxName = 256

    /// The name of `uid`: its first entry, as getpwuid's. One pass over the bytes, line by line,
    /// nothing kept but the answer (a file of millions of short lines allocates nothing per line).
    public static func name(of uid: UInt32, in bytes: ArraySlice<UInt8>) -> String? {
        let newline = UInt8(ascii: "\n"), colon = UInt8(ascii: ":")
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: newline) ?? bytes.endIndex
            defer { start = end + 1 }
            let line = bytes[start..<end]
            // name:password:uid[:…]
            guard let c1 = line.firstIndex(of: colon), let c2 = line[(c1 + 1)...].firstIndex(of: colon) else { continue }
            let c3 = line[(c2 + 1)...].firstIndex(of: colon) ?? line.endIndex
            let name = line[line.startIndex..<c1], uidField = line[(c2 + 1)..<c3]
            guard !name.isEmpty, name.count <= maxName, uidField.count <= 10,
                  UInt32(String(decoding: uidField, as: UTF8.self)) == uid else { continue }
            return String(decoding: name, as: UTF8.self)
        }
        return nil
    }
}

/// Reads namespaces from /proc and names from an sshd's own root. Keeps each answer while its passwd
/// file is unchanged (at most `maxNames`: a cache, emptied when full, so a root that rewrites its
/// passwd again and again costs reads, never memory).
public final class NamespaceReader: @unchecked Sendable {
    private let proc: String
    private let lock = NSLock()
    private var names: [NameKey: String?] = [:]
    private let maxNames = 4_096

    /// The passwd file as it is now (device, inode, size, mtime) and the uid asked for.
    private struct NameKey: Hashable { var dev: UInt64, ino: UInt64, size: Int64, mtime: Int64, mtimeNs: Int, uid: UInt32 }

    public init(proc: String = "/proc") { self.proc = proc }

    /// The namespace of process `pid`, nil when it is gone or its root cannot be opened. With
    /// `startNs` (boot time, as the kernel reports it; 0: unknown), only the process that started
    /// then: a pid reused since is refused. Everything is read through one handle on /proc/PID,
    /// which never leads to another process once that one is gone.
    public func read(pid: UInt32, startNs: UInt64 = 0) -> ListenerNamespace? {
        let dir = open("\(proc)/\(pid)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return nil }
        defer { close(dir) }
        if startNs != 0 {
            guard let started = Self.readSmall(dir, "stat").flatMap(Self.startNs) else { return nil }
            let tick = UInt64(1_000_000_000 / max(sysconf(Int32(_SC_CLK_TCK)), 1))
            guard (started > startNs ? started - startNs : startNs - started) <= 2 * tick else { return nil }
        }
        let fd = openat(dir, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat(), own = stat()
        guard fstat(fd, &st) == 0, stat("/", &own) == 0 else { return nil }
        let root = Self.readLink(dir, "root")
        let cgroup = Self.readSmall(dir, "cgroup").flatMap(ListenerNamespace.parseCgroup)
        let uidMap = Self.readSmall(dir, "uid_map").flatMap(ListenerNamespace.parseUIDMap)
        return ListenerNamespace(root: root, rootDevice: UInt64(st.st_dev), rootInode: UInt64(st.st_ino),
                                 hostRoot: st.st_dev == own.st_dev && st.st_ino == own.st_ino,
                                 cgroup: cgroup, uidMap: uidMap)
    }

    /// The start time in /proc/PID/stat (field 22, clock ticks since boot), in nanoseconds.
    static func startNs(_ stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = UInt64(fields[19]) else { return nil }
        return ticks * UInt64(1_000_000_000 / max(sysconf(Int32(_SC_CLK_TCK)), 1))
    }

    /// The name of `uid` (as seen inside) in the passwd of `ns`'s root, reached through the first of
    /// `pids` whose root is still that directory. Only `/etc/passwd` inside the root, a regular file,
    /// with no symbolic link on the way (one could point out of the root, at the host's files).
    public func userName(_ uid: UInt32, in ns: ListenerNamespace, through pids: [UInt32]) -> String? {
        for pid in pids {
            let rootFD = open("\(proc)/\(pid)/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard rootFD >= 0 else { continue }
            defer { close(rootFD) }
            var st = stat()
            guard fstat(rootFD, &st) == 0, UInt64(st.st_dev) == ns.rootDevice, UInt64(st.st_ino) == ns.rootInode else { continue }
            return name(of: uid, under: rootFD)
        }
        return nil
    }

    /// O_PATH (Linux; not exported to Swift): a descriptor that names the file without opening it.
    private static let oPath: Int32 = 0o10000000

    private func name(of uid: UInt32, under rootFD: Int32) -> String? {
        let etc = openat(rootFD, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard etc >= 0 else { return nil }
        defer { close(etc) }
        // Its type is checked before it is opened for reading: opening a device node root inside put
        // there could have side effects of its own.
        let path = openat(etc, "passwd", Self.oPath | O_NOFOLLOW | O_CLOEXEC)
        guard path >= 0 else { return nil }
        defer { close(path) }
        var st = stat()
        guard fstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        let fd = open("/proc/self/fd/\(path)", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let key = NameKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), size: Int64(st.st_size),
                          mtime: Int64(st.st_mtim.tv_sec), mtimeNs: st.st_mtim.tv_nsec, uid: uid)
        lock.lock()
        if let cached = names[key] { lock.unlock(); return cached }
        lock.unlock()
        var bytes = [UInt8](repeating: 0, count: min(Int(st.st_size), PasswdText.maxBytes))
        var got = 0
        while got < bytes.count {
            let n = bytes[got...].withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(got)) }
            if n <= 0 { break }
            got += n
        }
        let name = PasswdText.name(of: uid, in: bytes[..<got])
        lock.lock()
        if names.count >= maxNames { names.removeAll() }
        names[key] = .some(name)
        lock.unlock()
        return name
    }

    private static func readLink(_ dir: Int32, _ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlinkat(dir, name, &buf, 4096)
        guard n > 0 else { return nil }
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A small /proc file (stat, cgroup, uid_map): at most 64 KiB.
    private static func readSmall(_ dir: Int32, _ name: String) -> String? {
        let fd = openat(dir, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64 << 10)
        var got = 0
        while got < bytes.count {
            let n = bytes[got...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            got += n
        }
        return String(decoding: bytes[..<got], as: UTF8.self)
    }
}

/// How the correlator learns namespaces and names from them (`NamespaceReader` when recording).
public struct NamespaceLookup: Sendable {
    /// (pid, start time in boot ns or 0) → its namespace.
    public var read: @Sendable (UInt32, UInt64) -> ListenerNamespace?
    /// (uid inside, namespace, processes whose root it is) → name from that root's passwd.
    public var userName: @Sendable (UInt32, ListenerNamespace, [UInt32]) -> String?

    public init(read: @escaping @Sendable (UInt32, UInt64) -> ListenerNamespace?,
                userName: @escaping @Sendable (UInt32, ListenerNamespace, [UInt32]) -> String?) {
        self.read = read
        self.userName = userName
    }

    public init(_ reader: NamespaceReader) {
        self.init(read: { reader.read(pid: $0, startNs: $1) }, userName: { reader.userName($0, in: $1, through: $2) })
    }
}

extension ListenerNamespace {
    /// One listener's namespace, shared by all its sessions (read once per listener, not per
    /// connection: thousands of sessions can be open at once).
    final class Shared: Codable, @unchecked Sendable {
        let value: ListenerNamespace
        init(_ value: ListenerNamespace) { self.value = value }
        init(from decoder: Decoder) throws { value = try decoder.singleValueContainer().decode(ListenerNamespace.self) }
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(value)
        }
    }
}

extension SessionRecord {
    /// The session's place: its sshd's root, cgroup and container.
    mutating func place(in ns: ListenerNamespace) {
        root = ns.root
        cgroup = ns.cgroup
        container = ns.container
    }
}
