import Foundation

/// Reads sshd's authentication log lines: their wording has been stable for two decades (fail2ban
/// depends on it) and they are the only syscall-level source of the method, the key fingerprint, the
/// user name as typed and the failed attempts. Lines not recognised here are dropped, never stored.
///
/// Parts of a line are chosen by the client (the user name: up to 100 bytes, spaces kept) or by a
/// certificate's CA (the key ID), and can imitate the rest of the line. So a line is read against the
/// connection the kernel saw accepted: sshd's address and port must be exactly that connection's, and
/// what follows them must be what sshd writes there. The address of a row is never taken from a line.
public struct AuthLine: Equatable, Sendable {
    public enum Result: String, Sendable {
        /// A credential tried: the one that completed authentication, one refused, or one accepted as
        /// a step of several (`AuthenticationMethods publickey,password`: "Partial publickey …").
        case accepted, failed, partial
        /// Facts of the connection, not attempts: the name typed is no account, the client gave up
        /// (or timed out) before authenticating, sshd cut it off after too many failures.
        case invalidUser = "invalid_user"
        case disconnected
        case tooManyFailures = "too_many_failures"

        /// A credential tried (one auth row), as opposed to a fact of the connection.
        public var isAttempt: Bool { self == .accepted || self == .failed || self == .partial }
    }

    /// An OpenSSH certificate as sshd logs it ("ID KEYID (serial N) CA TYPE FINGERPRINT"): the key ID
    /// and serial the CA signed, and the CA's own key. The key ID is the CA's (or its requester's) free
    /// text, as sshd wrote it (sshd escapes control characters in its log).
    public struct Certificate: Equatable, Sendable, Codable {
        public var id: String
        /// Decimal, as sshd prints it (%llu): up to 2^64 - 1, more than an SQLite integer holds.
        public var serial: String
        public var caKeyType: String
        /// nil when sshd wrote "(null)".
        public var caFingerprint: String?

        public init(id: String, serial: String, caKeyType: String, caFingerprint: String?) {
            self.id = id
            self.serial = serial
            self.caKeyType = caKeyType
            self.caFingerprint = caFingerprint
        }
    }

    public var result: Result
    /// The user name as typed; nil when the line states none, or when its readings disagree.
    public var user: String?
    /// publickey, password, keyboard-interactive, hostbased, gssapi-with-mic; nil when not stated.
    public var method: String?
    /// What sshd writes after the method and a "/": keyboard-interactive's device ("pam", "bsdauth").
    public var submethod: String?
    public var keyType: String?
    public var keyFingerprint: String?
    public var certificate: Certificate?
    /// What else sshd logs of the identity: hostbased's `client user "U", client host "H"`,
    /// gssapi-with-mic's principal, a security key's signature count.
    public var info: String?
    /// The line does not name the connection's address and port exactly once where sshd writes them:
    /// it names another endpoint, or text chosen by the client or a CA imitates that part so that the
    /// line reads more than one way (fields the readings disagree on are nil), or it is not whole.
    public var addrMismatch: Bool

    public init(result: Result, user: String? = nil, method: String? = nil, submethod: String? = nil,
                keyType: String? = nil, keyFingerprint: String? = nil, certificate: Certificate? = nil,
                info: String? = nil, addrMismatch: Bool = false) {
        self.result = result
        self.user = user
        self.method = method
        self.submethod = submethod
        self.keyType = keyType
        self.keyFingerprint = keyFingerprint
        self.certificate = certificate
        self.info = info
        self.addrMismatch = addrMismatch
    }

    /// The method as sshd logs it and `AuthenticationMethods` names it: "keyboard-interactive/pam".
    public var methodText: String? {
        method.map { m in submethod.map { "\(m)/\($0)" } ?? m }
    }
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

    /// - Parameter connection: the client's end of the connection as the kernel saw it accepted; nil
    ///   when unknown (then any address reads, and only a line that reads several ways is flagged).
    public static func parse(_ text: String, connection: Endpoint?) -> AuthLine? {
        var msg = message(text[...])
        // What the unprivileged pre-auth child logs reaches the log through the monitor, marked so.
        let preauth = msg.hasSuffix(" [preauth]")
        if preauth { msg = msg.dropLast(" [preauth]".count) }
        let peer = connection.map(LoggedPeer.init)

        if let rest = msg.dropPrefix("Accepted ") {
            // Only the monitor decides a success: a pre-auth child claiming one is lying.
            return preauth ? nil : attempt(.accepted, rest, peer)
        }
        if let rest = msg.dropPrefix("Failed ") { return attempt(.failed, rest, peer) }
        // One factor of several accepted (auth2.c: the methods list is not complete yet).
        if let rest = msg.dropPrefix("Partial ") { return preauth ? nil : attempt(.partial, rest, peer) }
        // "Disconnecting authenticating user NAME ADDR port PORT: Too many authentication failures"
        // (also "invalid user NAME"): packet.c's preamble, then the connection, then the reason.
        if let rest = msg.dropPrefix("Disconnecting ")?.dropSuffix(": Too many authentication failures") {
            guard let end = EndOfLine(rest), let head = end.head,
                  let name = head.dropPrefix("authenticating user ") ?? head.dropPrefix("invalid user ") else { return nil }
            return AuthLine(result: .tooManyFailures, user: String(name), addrMismatch: end.mismatch(peer))
        }
        if let rest = msg.dropPrefix("Invalid user ") {
            // "Invalid user NAME from ADDR port PORT"
            guard let end = EndOfLine(rest), let name = end.head?.dropSuffix(" from") else { return nil }
            return AuthLine(result: .invalidUser, user: String(name), addrMismatch: end.mismatch(peer))
        }
        if let rest = msg.dropPrefix("Timeout before authentication for ") {
            guard let end = EndOfLine(rest), end.head == nil else { return nil }
            return AuthLine(result: .disconnected, addrMismatch: end.mismatch(peer))
        }
        // Only before authentication: the correlator ignores these once a session is authenticated.
        // "Connection closed by [authenticating user NAME |invalid user NAME ]ADDR port PORT [preauth]",
        // "Disconnected from …" alike (packet.c: the log preamble, then the connection).
        guard let rest = msg.dropPrefix("Connection closed by ") ?? msg.dropPrefix("Disconnected from "),
              let end = EndOfLine(rest) else { return nil }
        var user: String?
        if let head = end.head {
            guard let name = head.dropPrefix("authenticating user ") ?? head.dropPrefix("invalid user ")
                    ?? head.dropPrefix("user ") else { return nil }
            user = String(name)
        }
        return AuthLine(result: .disconnected, user: user, addrMismatch: end.mismatch(peer))
    }

    /// "… ADDR port PORT" ending a line: an address has no spaces, so the end of the line fixes it
    /// whatever the text before holds.
    private struct EndOfLine {
        /// The text before " ADDR", nil when the address starts the line.
        var head: Substring?
        var address: Substring
        var port: Substring

        init?(_ s: Substring) {
            guard let portWord = s.range(of: " port ", options: .backwards) else { return nil }
            port = s[portWord.upperBound...]
            guard AuthLogParser.isPort(port) else { return nil }
            let before = s[..<portWord.lowerBound]
            if let space = before.lastIndex(of: " ") {
                head = before[..<space]
                address = before[before.index(after: space)...]
            } else {
                address = before
            }
            guard !address.isEmpty else { return nil }
        }

        func mismatch(_ peer: LoggedPeer?) -> Bool {
            peer.map { !$0.matches(address: address, port: port) } ?? false
        }
    }

    /// One way to split "NAME from ADDR port PORT ssh2[: EXTRA]".
    private struct Reading {
        var user: String
        var key: Extra
    }

    /// What sshd writes after "ssh2: " for a method, read one way.
    private struct Extra {
        var type: String?
        var fingerprint: String?
        var certificate: AuthLine.Certificate?
        var info: String?
    }

    /// "METHOD[/SUBMETHOD] for [invalid user ]NAME from ADDR port PORT ssh2[: EXTRA]" (auth.c auth_log).
    private static func attempt(_ result: AuthLine.Result, _ rest: Substring, _ peer: LoggedPeer?) -> AuthLine? {
        guard let forRange = rest.range(of: " for ") else { return nil }
        let word = rest[..<forRange.lowerBound]  // sshd's own, one word
        guard !word.isEmpty, !word.contains(" ") else { return nil }
        let method = String(word.prefix { $0 != "/" })  // keyboard-interactive/pam
        let submethod = word.firstIndex(of: "/").map { String(word[word.index(after: $0)...]) }
        if method == "none" { return nil }  // every client's first probe, not an attempt
        var tail = rest[forRange.upperBound...]
        if let t = tail.dropPrefix("invalid user ") { tail = t }

        // This connection's endpoint followed by what sshd writes there. Failing that (a line cut at the
        // capture bound, a wording not known here, another endpoint), the line as it stands, flagged.
        let connection: (Substring, Substring) -> Bool = { peer?.matches(address: $0, port: $1) ?? true }
        let anyAddress: (Substring, Substring) -> Bool = { _, _ in true }
        var passes = [(strict: true, accepts: connection), (strict: false, accepts: connection)]
        if peer != nil { passes += [(true, anyAddress), (false, anyAddress)] }
        var found: [Reading] = [], clean = false
        for (i, pass) in passes.enumerated() {
            found = readings(tail, method, strict: pass.strict, pass.accepts)
            clean = i == 0 && found.count == 1
            if !found.isEmpty { break }
        }
        guard let first = found.first else { return nil }
        func agreed(_ field: (Reading) -> String?) -> String? {
            let value = field(first)
            return found.allSatisfy { field($0) == value } ? value : nil
        }
        // Certificate fields are kept only together, as one reading has them.
        let certificate = found.allSatisfy({ $0.key.certificate == first.key.certificate }) ? first.key.certificate : nil
        return AuthLine(result: result, user: agreed(\.user), method: method, submethod: submethod,
                        keyType: agreed(\.key.type), keyFingerprint: agreed(\.key.fingerprint), certificate: certificate,
                        info: agreed(\.key.info), addrMismatch: !clean)
    }

    /// Every " from ADDR port PORT ssh2" in `tail` whose endpoint `accepts` takes and after which comes
    /// what sshd writes there for `method` (anything after ": " when not `strict`).
    private static func readings(_ tail: Substring, _ method: String, strict: Bool,
                                 _ accepts: (Substring, Substring) -> Bool) -> [Reading] {
        var found: [Reading] = []
        var next = tail.startIndex
        while let from = tail.range(of: " from ", range: next..<tail.endIndex) {
            next = tail.index(after: from.lowerBound)
            let s = tail[from.upperBound...]
            guard let space = s.firstIndex(of: " "), let afterPort = s[space...].dropPrefix(" port ") else { continue }
            let address = s[..<space]
            let port = afterPort.prefix { $0.isASCII && $0.isNumber }
            guard !address.isEmpty, isPort(port), let after = afterPort[port.endIndex...].dropPrefix(" ssh2"),
                  accepts(address, port) else { continue }
            // A certificate's key ID may read more than one way: each is a reading of its own.
            for key in extras(after, method: method, strict: strict) {
                found.append(Reading(user: String(tail[..<from.lowerBound]), key: key))
            }
        }
        return found
    }

    /// What follows "ssh2" (auth.c format_method_key, auth_method_info): nothing, or ": " and for
    /// publickey and hostbased the key, "TYPE FINGERPRINT[, INFO]", for a certificate "TYPE FINGERPRINT
    /// ID KEYID (serial N) CA TYPE FINGERPRINT[, INFO]"; password and keyboard-interactive add nothing;
    /// other methods free text (gssapi-with-mic's principal). Empty: sshd writes no such thing there;
    /// several: a certificate's key ID that reads more than one way.
    private static func extras(_ s: Substring, method: String, strict: Bool) -> [Extra] {
        if s.isEmpty { return [Extra()] }
        guard let text = s.dropPrefix(": ") else { return [] }
        switch method {
        case "publickey", "hostbased":
            guard let k = key(text) else { return strict ? [] : [Extra()] }
            let type = String(k.type), fingerprint = k.fingerprint == "(null)" ? nil : String(k.fingerprint)
            if k.type.hasSuffix("-CERT"), let tail = k.rest.dropPrefix(" ID ") {
                let splits = certificateTails(tail)
                if !splits.isEmpty {
                    return splits.map { Extra(type: type, fingerprint: fingerprint, certificate: $0.certificate, info: $0.info) }
                }
                return strict ? [] : [Extra(type: type, fingerprint: fingerprint)]
            }
            if let info = k.rest.dropPrefix(", ") {
                return [Extra(type: type, fingerprint: fingerprint, info: String(info))]
            }
            return k.rest.isEmpty || !strict ? [Extra(type: type, fingerprint: fingerprint)] : []
        case "password", "keyboard-interactive":
            return strict ? [] : [Extra()]
        default:
            return [Extra(info: String(text))]
        }
    }

    /// "TYPE FINGERPRINT" at the start of `s`, and what follows.
    private static func key(_ s: Substring) -> (type: Substring, fingerprint: Substring, rest: Substring)? {
        guard let space = s.firstIndex(of: " ") else { return nil }
        let type = s[..<space]
        let after = s[s.index(after: space)...]
        let end = after.firstIndex { $0 == " " || $0 == "," } ?? after.endIndex
        let fingerprint = after[..<end]
        guard !type.isEmpty, type.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
              isFingerprint(fingerprint) else { return nil }
        return (type, fingerprint, after[end...])
    }

    /// sshkey_fingerprint() whole (so a line cut inside one never yields a shorter one): SHA256 as 43
    /// unpadded base64 characters, MD5 as 16 hex pairs, or "(null)".
    private static func isFingerprint(_ s: Substring) -> Bool {
        if s == "(null)" { return true }
        if let b64 = s.dropPrefix("SHA256:") {
            return b64.count == 43 && b64.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/") }
        }
        if let hex = s.dropPrefix("MD5:") {
            return hex.count == 47 && hex.allSatisfy { $0 == ":" || $0.isHexDigit }
        }
        return false
    }

    /// The end, or ", INFO" (a security key's signature count, hostbased's client user and host).
    private static func isInfo(_ s: Substring) -> Bool { s.isEmpty || s.hasPrefix(", ") }

    /// "KEYID (serial N) CA TYPE FINGERPRINT[, INFO]": the key ID is the CA's free text, so any
    /// " (serial " in it may be where it ends. Every split that reads whole.
    private static func certificateTails(_ s: Substring) -> [(certificate: AuthLine.Certificate, info: String?)] {
        var found: [(certificate: AuthLine.Certificate, info: String?)] = []
        var next = s.startIndex
        while let serial = s.range(of: " (serial ", range: next..<s.endIndex) {
            next = s.index(after: serial.lowerBound)
            let after = s[serial.upperBound...]
            let digits = after.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, UInt64(digits) != nil, let ca = after[digits.endIndex...].dropPrefix(") CA "),
                  let caKey = key(ca), !caKey.type.hasSuffix("-CERT"), isInfo(caKey.rest) else { continue }
            let certificate = AuthLine.Certificate(
                id: String(s[..<serial.lowerBound]), serial: String(digits), caKeyType: String(caKey.type),
                caFingerprint: caKey.fingerprint == "(null)" ? nil : String(caKey.fingerprint))
            found.append((certificate, caKey.rest.dropPrefix(", ").map(String.init)))
        }
        return found
    }

    /// Decimal, as sshd prints a port (%d).
    fileprivate static func isPort(_ s: Substring) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } && UInt16(s) != nil
    }
}

extension Substring {
    func dropSuffix(_ suffix: String) -> Substring? {
        hasSuffix(suffix) ? dropLast(suffix.count) : nil
    }
}
