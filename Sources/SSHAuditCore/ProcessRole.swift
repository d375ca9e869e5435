/// What a process is in sshd's privilege-separation tree (docs/ARCHITECTURE.md §3). The one role
/// enum: the correlator's state machine moves processes between these roles, the /proc scan
/// classifies running processes into them (event-log headers carry that classification), and the
/// recorder tells the kernel programs which flags a followed process gets from its role
/// (`kernelFlags` in SSHAuditBPF).
public enum ProcessRole: String, Equatable, Hashable, Sendable, Codable {
    case listener
    /// The per-connection privileged sshd.
    case monitor
    /// A child of the monitor not yet told apart.
    case monitorChild
    /// The unprivileged pre-authentication child (`sshd: USER [net]`, `sshd-auth`).
    case preauth
    case helper
    /// sshd's post-authentication child, running as the user.
    case userChild
    /// The user's shell and everything below it.
    case user
    /// Seen without its history (started before the recorder, or not an SSH process).
    case unknown

    /// Also reads the event-log headers' spelling, "user_child" (`ProcessSeed` still writes it).
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch text {
        case "user_child": self = .userChild
        default:
            guard let role = ProcessRole(rawValue: text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown process role \(text)"))
            }
            self = role
        }
    }
}
