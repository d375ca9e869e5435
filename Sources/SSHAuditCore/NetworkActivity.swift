/// Network activity of a session's processes: connect, bind, listen (kernel records SA_EV_NET,
/// bpf/net.bpf.h) and accept (their SA_EV_ACCEPT records), one row per (process, operation, endpoint)
/// with first and last time and count (per command of the process: a program it exec'd has rows of its
/// own).

/// One connect, bind or listen as it returned (bpf/events.h, struct sa_net).
public struct NetworkCall: Equatable, Sendable {
    public enum Operation: UInt32, Sendable {
        case connect = 1, bind = 2, listen = 3
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
    /// The endpoint is the caller's argument (a connect the kernel refused), not the socket's.
    public var fromCaller: Bool

    public init(operation: Operation, result: Int32, family: UInt16, socketType: UInt16, ipProtocol: UInt16,
                endpoint: Endpoint?, path: String?, fromCaller: Bool) {
        self.operation = operation
        self.result = result
        self.family = family
        self.socketType = socketType
        self.ipProtocol = ipProtocol
        self.endpoint = endpoint
        self.path = path
        self.fromCaller = fromCaller
    }

    static let einprogress: Int32 = 115

    /// The row's op: a connect that neither succeeded nor is in progress is `connect_failed`.
    var op: NetworkRecord.Op {
        switch operation {
        case .connect: return result == 0 || result == -Self.einprogress ? .connect : .connectFailed
        case .bind: return .bind
        case .listen: return .listen
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
        /// accept returned a connection: addr is the peer's address, port the local (listening) port.
        case accept
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

    init(bound: Int) { self.bound = bound }

    /// Adds one occurrence. Returns the row's new version, and the rows given up to make room (their
    /// last versions, final).
    func note(process: ProcessKey, key: Key, atNs: Int64, newRow: (Key) -> NetworkRecord)
        -> (row: NetworkRecord, evicted: [NetworkRecord]) {
        if var row = rows[process]?[key] {
            row.count += 1
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
        let row = newRow(key)
        rows[process, default: [:]][key] = row
        count += 1
        return (row, evicted)
    }

    /// The process is gone: its rows, final.
    func ended(_ process: ProcessKey) -> [NetworkRecord] {
        guard let table = rows.removeValue(forKey: process) else { return [] }
        count -= table.count
        return table.values.sorted { $0.id < $1.id }.map { var r = $0; r.final = true; return r }
    }

    /// Rows still open (for a new database file to start from).
    var openRows: [NetworkRecord] { rows.values.flatMap(\.values).sorted { $0.id < $1.id } }

    // Checkpoints: the rows, as a list (keys are rebuilt from them).
    struct State: Codable {
        var process: ProcessKey
        var row: NetworkRecord
    }

    var state: [State] { rows.flatMap { p, table in table.values.map { State(process: p, row: $0) } } }

    func restore(_ state: [State]) {
        rows = [:]
        count = 0
        for s in state {
            rows[s.process, default: [:]][Self.key(of: s.row)] = s.row
            count += 1
        }
    }

    static func key(of row: NetworkRecord) -> Key {
        Key(command: row.commandID, op: row.op, family: row.family, proto: row.proto, addr: row.addr, port: row.port, path: row.path)
    }
}
