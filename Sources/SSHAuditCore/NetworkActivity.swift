import Foundation

/// Network activity of a session's processes: connect, bind, listen, datagrams sent to an address and
/// unix accepts (kernel records SA_EV_NET, bpf/net.bpf.h) and IP accepts (their SA_EV_ACCEPT records),
/// one row per (process, operation, endpoint) with first and last time and count (per command of the
/// process: a program it exec'd has rows of its own). The kernel reports each (process, call,
/// endpoint) once and counts its repeats under a key, as for file activity (`NetworkCall.seenKey`).

/// One connect, bind or listen as it returned, a datagram sent to an address (at the call), or an
/// accept on a unix socket (bpf/events.h, struct sa_net).
public struct NetworkCall: Equatable, Sendable {
    public enum Operation: UInt32, Sendable {
        case connect = 1, bind = 2, listen = 3, send = 4, accept = 5
    }
    public var operation: Operation
    /// The call's return: 0, or -errno (a connect in progress: -EINPROGRESS).
    public var result: Int32
    /// AF_INET, AF_INET6 or AF_UNIX.
    public var family: UInt16
    /// socket->type (SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5, …).
    public var socketType: UInt16
    /// sk_protocol (IPPROTO_TCP 6, IPPROTO_UDP 17, …; 0 for unix sockets).
    public var ipProtocol: UInt16
    /// The peer (connect) or local (bind, listen) address; nil for a unix socket.
    public var endpoint: Endpoint?
    /// A unix socket's name: a path, or "@name" for an abstract one; nil when unnamed.
    public var path: String?
    /// The endpoint is the caller's argument (a connect the kernel refused, a send), not the socket's.
    public var fromCaller: Bool
    /// The kernel counts this call's repeats under this key (the bytes of struct sa_file_seen_key)
    /// instead of reporting each: they come as `EventKind.fileRepeat`.
    public var seenKey: [UInt8]?

    public init(operation: Operation, result: Int32, family: UInt16, socketType: UInt16, ipProtocol: UInt16,
                endpoint: Endpoint?, path: String?, fromCaller: Bool, seenKey: [UInt8]? = nil) {
        self.operation = operation
        self.result = result
        self.family = family
        self.socketType = socketType
        self.ipProtocol = ipProtocol
        self.endpoint = endpoint
        self.path = path
        self.fromCaller = fromCaller
        self.seenKey = seenKey
    }

    static let einprogress: Int32 = 115

    /// The row's op: a connect that neither succeeded nor is in progress is `connect_failed`.
    var op: NetworkRecord.Op {
        switch operation {
        case .connect: return result == 0 || result == -Self.einprogress ? .connect : .connectFailed
        case .bind: return .bind
        case .listen: return .listen
        case .send: return .send
        case .accept: return .accept
        }
    }

    static func familyName(_ family: UInt16) -> String {
        switch family {
        case 1: return "unix"
        case 2: return "inet"
        case 10: return "inet6"
        default: return String(family)
        }
    }

    /// tcp, udp, … for IP sockets (by protocol); stream, dgram, seqpacket for unix sockets (by type).
    static func protoName(family: UInt16, type: UInt16, proto: UInt16) -> String {
        if family == 1 {
            switch type {
            case 1: return "stream"
            case 2: return "dgram"
            case 5: return "seqpacket"
            default: return "type\(type)"
            }
        }
        switch proto {
        case 6: return "tcp"
        case 17: return "udp"
        case 1: return "icmp"
        case 58: return "icmpv6"
        case 132: return "sctp"
        case 136: return "udplite"
        case 262: return "mptcp"
        default: return type == 3 ? "raw" : "proto\(proto)"
        }
    }
}

/// A row of network_activity.
public struct NetworkRecord: Equatable, Sendable, Codable {
    public enum Op: String, Sendable, Codable {
        /// connect succeeded or is in progress (a non-blocking connect); connect_failed: the kernel
        /// refused it (refused, unreachable, denied, no such socket file), address as the caller gave it.
        case connect, connectFailed = "connect_failed", bind, listen
        /// accept returned a connection: addr is the peer's address, port the local (listening) port; on
        /// a unix socket, path is the listening socket's name.
        case accept
        /// A datagram sent to an address given with the call (sendto, sendmsg, sendmmsg on a socket not
        /// connected), seen as the call was made: the address as the caller gave it.
        case send
    }
    public var id: Int64
    public var sessionID: Int64
    public var commandID: Int64?
    public var pid: UInt32
    public var uid: UInt32
    public var op: Op
    /// inet, inet6, unix.
    public var family: String
    /// tcp, udp, … (IP); stream, dgram, seqpacket (unix).
    public var proto: String
    public var addr: String?
    public var port: UInt16?
    public var path: String?
    public var firstAtNs: Int64
    public var lastAtNs: Int64
    public var count: Int64
    /// The process exited (or the row was given up at the bound): no later version comes. Not a column.
    public var final = false
}

/// The rows being aggregated, per process, within a bound on their total. A row leaves when its
/// process exits (its last version is then final) or, at the bound, the oldest rows leave (their
/// later counts are lost: counted by the caller, sessions flagged).
final class NetworkActivity {
    /// Within one process: the command it runs (an exec starts new rows), the operation, the endpoint.
    struct Key: Hashable, Codable {
        var command: Int64? = nil
        var op: NetworkRecord.Op
        var family: String
        var proto: String
        var addr: String?
        var port: UInt16?
        var path: String?
    }

    private(set) var rows: [ProcessKey: [Key: NetworkRecord]] = [:]
    private(set) var count = 0
    let bound: Int

    /// A kernel key: its process and row, and the repeats already added to it (a count read twice adds
    /// once). Kept while its process runs its program, also when its row is given up at the bound: the
    /// repeats counted after that start a new row (the kernel's map bounds how many keys there are).
    struct Seen: Codable {
        var process: ProcessKey
        var row: Key
        var counted: UInt64
        var session: Int64
        var uid: UInt32
    }
    private var seen: [[UInt8]: Seen] = [:]
    private var seenByProcess: [ProcessKey: [[UInt8]]] = [:]
    /// Keys whose rows are closed or whose process exec'd: the kernel is to drop them.
    private var released: [[UInt8]] = []

    init(bound: Int) { self.bound = bound }

    /// Adds `times` occurrences, whose repeats the kernel counts under `seenKey` if given. Returns the
    /// row's new version, and the rows given up to make room (their last versions, final).
    func note(process: ProcessKey, key: Key, times: Int64 = 1, seenKey: [UInt8]? = nil, atNs: Int64,
              newRow: (Key) -> NetworkRecord) -> (row: NetworkRecord, evicted: [NetworkRecord]) {
        defer { noteSeen(seenKey, process: process, row: key) }
        if var row = rows[process]?[key] {
            row.count += times
            row.lastAtNs = max(row.lastAtNs, atNs)
            rows[process]![key] = row
            return (row, [])
        }
        var evicted: [NetworkRecord] = []
        if count >= bound {
            let keep = bound - CorrelatorBounds.slack(bound)
            let all = rows.flatMap { p, table in table.map { (p, $0.key, $0.value) } }.sorted { $0.2.id < $1.2.id }
            for (p, k, r) in all where count >= keep {
                rows[p]?.removeValue(forKey: k)
                if rows[p]?.isEmpty == true { rows.removeValue(forKey: p) }
                count -= 1
                var last = r
                last.final = true
                evicted.append(last)
            }
        }
        var row = newRow(key)
        row.count = times
        rows[process, default: [:]][key] = row
        count += 1
        return (row, evicted)
    }

    /// The process is gone: its rows, final.
    func ended(_ process: ProcessKey) -> [NetworkRecord] {
        forgetSeen(of: process)
        guard let table = rows.removeValue(forKey: process) else { return [] }
        count -= table.count
        return table.values.sorted { $0.id < $1.id }.map { var r = $0; r.final = true; return r }
    }

    // MARK: - The kernel's counts of repeats

    /// The keys of a process's calls the kernel counts.
    func seenKeys(of process: ProcessKey) -> [[UInt8]] { seenByProcess[process] ?? [] }
    var seenCounts: [(key: [UInt8], counted: UInt64)] { seen.map { ($0.key, $0.value.counted) } }
    func owns(_ key: [UInt8]) -> Bool { seen[key] != nil }

    /// A key no row takes (its report belongs to no session's user process): released.
    func release(_ key: [UInt8]?) {
        if let key, seen[key] == nil { released.append(key) }
    }
    func takeReleased() -> [[UInt8]] {
        defer { released.removeAll() }
        return released
    }

    /// The kernel counted `count` repeats in all of the call it reported with `key`: the ones not yet
    /// added, and whose row they belong to (nil if none are new).
    func takeRepeats(_ key: [UInt8], count: UInt64) -> (seen: Seen, added: Int64)? {
        guard var s = seen[key], count > s.counted else { return nil }
        let added = Int64(clamping: count - s.counted)
        s.counted = count
        seen[key] = s
        return (s, added)
    }

    /// The process exec'd or ended: the kernel counts nothing more under its keys.
    func forgetSeen(of process: ProcessKey) {
        for key in seenByProcess.removeValue(forKey: process) ?? [] where seen.removeValue(forKey: key) != nil {
            released.append(key)
        }
    }

    private func noteSeen(_ key: [UInt8]?, process: ProcessKey, row: Key) {
        guard let key, seen[key] == nil, let r = rows[process]?[row] else { return release(key) }
        seen[key] = Seen(process: process, row: row, counted: 0, session: r.sessionID, uid: r.uid)
        seenByProcess[process, default: []].append(key)
    }

    /// Rows still open (for a new database file to start from).
    var openRows: [NetworkRecord] { rows.values.flatMap(\.values).sorted { $0.id < $1.id } }

    // Checkpoints: the rows, as a list (keys are rebuilt from them).
    struct State: Codable {
        var process: ProcessKey
        var row: NetworkRecord
    }

    var state: [State] { rows.flatMap { p, table in table.values.map { State(process: p, row: $0) } } }

    struct SeenEntry: Codable {
        var key: Data
        var seen: Seen
    }
    var seenState: [SeenEntry] {
        seen.map { SeenEntry(key: Data($0.key), seen: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    func restore(_ state: [State], seen seenState: [SeenEntry] = []) {
        rows = [:]
        count = 0
        seen = [:]
        seenByProcess = [:]
        released = []
        for s in state {
            rows[s.process, default: [:]][Self.key(of: s.row)] = s.row
            count += 1
        }
        for entry in seenState {
            let key = Array(entry.key)
            seen[key] = entry.seen
            seenByProcess[entry.seen.process, default: []].append(key)
        }
    }

    static func key(of row: NetworkRecord) -> Key {
        Key(command: row.commandID, op: row.op, family: row.family, proto: row.proto, addr: row.addr, port: row.port, path: row.path)
    }
}
