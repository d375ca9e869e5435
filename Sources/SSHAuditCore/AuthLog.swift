/// Reads sshd's authentication log lines: their wording has been stable for two decades (fail2ban
/// depends on it) and they are the only syscall-level source of the method, the key fingerprint, the
/// user name as typed and the failed attempts. Lines not recognised here are dropped, never stored.
public struct AuthLine: Equatable, Sendable {
    public enum Result: String, Sendable {
        case accepted, failed
        case invalidUser = "invalid_user"
        /// The client gave up (or timed out) before authenticating.
        case disconnected
    }

    public var result: Result
    public var user: String?
    /// publickey, password, keyboard-interactive, hostbased, gssapi-with-mic; nil when not stated.
    public var method: String?
    public var remote: Endpoint?
    public var keyType: String?
    public var keyFingerprint: String?
}

public enum AuthLogParser {
    /// The message of a line as sshd wrote it: without a syslog header ("<38>Nov 29 01:41:29
    /// sshd[123]: ") and without the line end.
    public static func message(_ text: Substring) -> Substring {
        var s = text
        while let last = s.last, last.isNewline || last == "\0" { s.removeLast() }  // "\r\n" is one Character
        if s.first == "<", let close = s.firstIndex(of: ">") {
            let afterPri = s[s.index(after: close)...]
            if let tag = afterPri.range(of: "]: ") {
                s = afterPri[tag.upperBound...]
            } else if afterPri.count > 16, let colon = afterPri.dropFirst(16).range(of: ": ") {
                s = afterPri[colon.upperBound...]
            }
        }
        return s
    }

    public static func parse(_ text: String) -> AuthLine? {
        var msg = message(text[...])
        if msg.hasSuffix(" [preauth]") { msg = msg.dropLast(" [preauth]".count) }

        if let rest = msg.dropPrefix("Accepted ") { return attempt(.accepted, rest) }
        if let rest = msg.dropPrefix("Failed ") { return attempt(.failed, rest) }
        if let rest = msg.dropPrefix("Invalid user ") {
            // "Invalid user NAME from ADDR port PORT"
            guard let from = rest.range(of: " from ", options: .backwards) else { return nil }
            return AuthLine(result: .invalidUser, user: String(rest[..<from.lowerBound]), method: nil,
                            remote: endpoint(rest[from.upperBound...]))
        }
        if let rest = msg.dropPrefix("Timeout before authentication for ") {
            return AuthLine(result: .disconnected, remote: endpoint(rest))
        }
        // Only before authentication: the correlator ignores these once a session is authenticated.
        // "Connection closed by [authenticating user|invalid user NAME ]ADDR port PORT [preauth]",
        // "Disconnected from [authenticating user|invalid user NAME ]ADDR port PORT [preauth]"
        guard let rest = msg.dropPrefix("Connection closed by ") ?? msg.dropPrefix("Disconnected from ") else { return nil }
        var who = rest
        var user: String?
        if let r = who.dropPrefix("authenticating user ") ?? who.dropPrefix("invalid user ") {
            // NAME may contain spaces: the address and port are the last three words.
            let words = r.split(separator: " ", omittingEmptySubsequences: false)
            guard words.count >= 4 else { return nil }
            user = words.dropLast(3).joined(separator: " ")
            who = r[words[words.count - 3].startIndex...]
        }
        return AuthLine(result: .disconnected, user: user, method: nil, remote: endpoint(who))
    }

    /// "METHOD for [invalid user ]NAME from ADDR port PORT ssh2[: KEYTYPE SHA256:…]"
    private static func attempt(_ result: AuthLine.Result, _ rest: Substring) -> AuthLine? {
        guard let forRange = rest.range(of: " for ") else { return nil }
        var method = String(rest[..<forRange.lowerBound])
        if method == "none" { return nil }  // every client's first probe, not an attempt
        if let slash = method.firstIndex(of: "/") { method = String(method[..<slash]) }  // keyboard-interactive/pam
        var tail = rest[forRange.upperBound...]
        if let t = tail.dropPrefix("invalid user ") { tail = t }
        guard let from = tail.range(of: " from ", options: .backwards) else { return nil }
        var line = AuthLine(result: result, user: String(tail[..<from.lowerBound]), method: method,
                            remote: endpoint(tail[from.upperBound...]))
        if let colon = tail.range(of: " ssh2: ", options: .backwards) {
            let key = tail[colon.upperBound...].split(separator: " ")
            if key.count >= 2, key[1].hasPrefix("SHA256:") || key[1].hasPrefix("MD5:") {
                line.keyType = String(key[0])
                line.keyFingerprint = String(key[1])
            }
        }
        return line
    }

    /// "ADDR port PORT…"
    private static func endpoint(_ text: Substring) -> Endpoint? {
        let words = text.split(separator: " ")
        guard words.count >= 3, words[1] == "port" else { return nil }
        let portText = words[2].prefix { $0.isNumber }
        guard let port = UInt16(portText) else { return nil }
        return Endpoint(address: String(words[0]), port: port)
    }
}

extension Substring {
    func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
