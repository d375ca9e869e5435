/// The sshd instances found running, by how they were started: listeners (sshd -D, or sshd gone into
/// the background), each accepting connections itself, and per-connection sshds (sshd -i, started by
/// inetd or a socket manager for one connection it accepted). The recorder's start-up line and
/// `status` say it this way, so that a host where nothing recognisable runs is not silent about it.
public struct SSHDCensus: Equatable, Sendable, Encodable {
    public var listeners: Int
    public var perConnection: Int

    public init(listeners: Int, perConnection: Int) {
        self.listeners = listeners
        self.perConnection = perConnection
    }

    public init(_ tree: ProcScan.SSHDTree) {
        self.init(listeners: tree.listeners.count, perConnection: tree.perConnection.count)
    }

    public var isEmpty: Bool { listeners == 0 && perConnection == 0 }

    /// One phrase for people: the counts, or that none was found.
    public var summary: String {
        guard !isEmpty else {
            return "no sshd running: neither a listener nor a per-connection sshd (sshd -i)"
        }
        return "\(listeners) listener(s), \(perConnection) per-connection (sshd -i)"
    }

    enum CodingKeys: String, CodingKey {
        case listeners
        case perConnection = "per_connection"
    }
}
