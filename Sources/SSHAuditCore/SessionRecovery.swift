/// Sessions that were already open when the recorder started, rebuilt from /proc: the process titles
/// sshd sets (`USER [priv]`, `USER [net]`, `USER@pts/N`, `USER@notty`), uids, the TCP socket the
/// monitor holds and the processes' start times. Such sessions are marked `recovered`: what happened
/// before the start (authentication attempts, earlier commands) was not seen.

/// A process found running at start, with the role the fork tree gives it.
public struct ProcessSeed: Codable, Equatable, Sendable {
    public var pid: UInt32
    public var ppid: UInt32
    /// listener, monitor, preauth, helper, userChild or user (the /proc scan tells no others apart).
    public var role: ProcessRole
    public var argv: [String]
    public var exe: String?
    public var uid: UInt32
    /// Wall-clock start, Unix-epoch ns (at /proc's clock-tick precision).
    public var startedAtNs: Int64

    private enum CodingKeys: String, CodingKey { case pid, ppid, role, argv, exe, uid, startedAtNs }

    /// The event-log header's form, as before the roles were one enum: `user_child` (a binary from
    /// before reads logs this one writes).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pid, forKey: .pid)
        try c.encode(ppid, forKey: .ppid)
        try c.encode(role == .userChild ? "user_child" : role.rawValue, forKey: .role)
        try c.encode(argv, forKey: .argv)
        try c.encodeIfPresent(exe, forKey: .exe)
        try c.encode(uid, forKey: .uid)
        try c.encode(startedAtNs, forKey: .startedAtNs)
    }
}

public struct SessionSeed: Codable, Equatable, Sendable {
    public var monitor: ProcessSeed
    public var listenerPid: UInt32?
    public var uid: UInt32?
    public var authenticatedAtNs: Int64?
    public var local: EndpointSeed?
    public var remote: EndpointSeed?
    /// Every process below the monitor, parents before children.
    public var processes: [ProcessSeed]
}

/// Endpoint in a Codable form for event-log headers.
public struct EndpointSeed: Codable, Equatable, Sendable {
    public var address: String
    public var port: UInt16
    public init(_ e: Endpoint) { address = e.address; port = e.port }
    public var endpoint: Endpoint { Endpoint(address: address, port: port) }
}

public enum SessionRecovery {
    /// - Parameters:
    ///   - tree: sshd listeners, per-connection sshds and their descendants (ProcScan.sshdTree).
    ///   - connections: established TCP connections by socket inode.
    ///   - ticksToWallNs: converts /proc start ticks to Unix-epoch ns.
    public static func sessions(in tree: ProcScan.SSHDTree,
                                connections: [UInt64: (local: Endpoint, remote: Endpoint)],
                                ticksToWallNs: (UInt64) -> Int64) -> [SessionSeed] {
        let listenerPids = Set(tree.listeners.map(\.pid))
        var children: [UInt32: [ProcEntry]] = [:]
        for p in tree.descendants { children[p.ppid, default: []].append(p) }

        func seed(_ p: ProcEntry, _ role: ProcessRole) -> ProcessSeed {
            ProcessSeed(pid: p.pid, ppid: p.ppid, role: role, argv: p.argv, exe: p.exe, uid: p.uid,
                        startedAtNs: ticksToWallNs(p.startTicks))
        }
        func isSSHD(_ p: ProcEntry) -> Bool { p.comm.hasPrefix("sshd") }
        /// The title's "USER@pts/N" / "USER@notty" marks the process serving an authenticated session.
        func servesSession(_ p: ProcEntry) -> Bool {
            isSSHD(p) && p.cmdline.split(separator: " ").contains { $0.contains("@pts/") || $0.hasSuffix("@notty") }
        }

        var result: [SessionSeed] = []
        let monitors = tree.descendants.filter { listenerPids.contains($0.ppid) && isSSHD($0) } + tree.perConnection
        for monitor in monitors {
            var processes: [ProcessSeed] = []
            var userChild: ProcEntry?
            // Root logins on OpenSSH ≤ 9.7: the monitor itself serves the session.
            let monitorServes = servesSession(monitor)
            func walk(_ parent: ProcEntry, _ inherited: ProcessRole?) {
                for child in (children[parent.pid] ?? []).sorted(by: { $0.startTicks < $1.startTicks || ($0.startTicks == $1.startTicks && $0.pid < $1.pid) }) {
                    let role: ProcessRole
                    if let inherited {
                        role = inherited == .userChild ? .user : inherited
                    } else if servesSession(child) && userChild == nil {
                        role = .userChild
                        userChild = child
                    } else if isSSHD(child) && (child.cmdline.hasSuffix("[net]") || child.comm == "sshd-auth") {
                        role = .preauth
                    } else if isSSHD(child) {
                        role = .helper
                    } else {
                        role = monitorServes ? .user : .helper
                    }
                    processes.append(seed(child, role))
                    walk(child, role)
                }
            }
            walk(monitor, nil)
            let conn = monitor.socketInodes.lazy.compactMap { connections[$0] }.first
            result.append(SessionSeed(
                monitor: seed(monitor, .monitor), listenerPid: listenerPids.contains(monitor.ppid) ? monitor.ppid : nil,
                uid: userChild?.uid ?? (monitorServes ? monitor.uid : nil),
                authenticatedAtNs: userChild.map { ticksToWallNs($0.startTicks) },
                local: conn.map { EndpointSeed($0.local) }, remote: conn.map { EndpointSeed($0.remote) },
                processes: processes))
        }
        return result
    }
}
