import Foundation

/// A connection the listener accepted and closed without forking a process to serve it: sshd's
/// MaxStartups (random early drop past start:rate:full, and per-source limits) or, from OpenSSH 9.8,
/// PerSourcePenalties. Not a session and not an authentication attempt: no process ever served it.
public struct RefusalRecord: Equatable, Sendable {
    public enum Reason: String, Sendable {
        case maxStartups = "max_startups"
        case penalty
        /// sshd logged no reason the recorder saw (its line is VERBOSE on OpenSSH ≤ 9.7, rate-limited on
        /// 10.x, or absent at LogLevel QUIET): the process tree alone shows the refusal.
        case unknown
    }

    public var id: Int64
    /// When the listener accepted the connection.
    public var atNs: Int64
    /// The connection as the kernel saw it accepted (never a log line's text).
    public var remote: Endpoint
    public var local: Endpoint
    public var reason: Reason
    /// sshd's own words after the endpoints ("past MaxStartups", "penalty: failed authentication").
    public var detail: String?
    /// The listener that refused it (pid and start time: its identity).
    public var listenerPid: UInt32
    public var listenerStartNs: UInt64
}

/// sshd's line for a connection its listener drops (sshd.c `drop_connection`):
/// "drop connection #N from [ADDR]:PORT on [LADDR]:LPORT REASON". REASON is "past MaxStartups"
/// (≤ 9.7), "past Maxstartups" (9.8, 9.9), "Maxstartups" (10.x), or a penalty's reason ("penalty:
/// failed authentication", "too many penalised addresses"). Every part is sshd's: the client chooses
/// nothing in it. Levels: VERBOSE before 9.8 (INFO only for the first drop of a burst), INFO from 9.8
/// (rate-limited to DEBUG3 on 10.x).
public struct RefusalLine: Equatable, Sendable {
    public var remoteAddress: String
    public var remotePort: String
    public var localPort: String
    public var reason: RefusalRecord.Reason
    public var detail: String

    public static func parse(_ text: String) -> RefusalLine? {
        let msg = AuthLogParser.message(text[...])
        guard var s = msg.dropPrefix("drop connection #") else { return nil }
        s = s.drop { $0.isASCII && $0.isNumber }
        guard let afterFrom = s.dropPrefix(" from ["), let (raddr, rport, rest) = bracketed(afterFrom),
              let afterOn = rest.dropPrefix(" on ["), let (_, lport, tail) = bracketed(afterOn),
              let words = tail.dropPrefix(" "), !words.isEmpty else { return nil }
        let reason: RefusalRecord.Reason
        if words.lowercased().contains("maxstartups") {
            reason = .maxStartups
        } else if words.hasPrefix("penalty: ") || words == "too many penalised addresses" {
            reason = .penalty
        } else {
            reason = .unknown
        }
        return RefusalLine(remoteAddress: String(raddr), remotePort: String(rport), localPort: String(lport),
                           reason: reason, detail: String(words))
    }

    /// The peer of a connection the client reset before sshd looked at it: sshd writes "[UNKNOWN]:-1".
    public var peerUnknown: Bool { remoteAddress == "UNKNOWN" && remotePort == "-1" }

    /// "ADDR]:PORT" then the rest; "UNKNOWN]:-1" too.
    private static func bracketed(_ s: Substring) -> (Substring, Substring, Substring)? {
        guard let close = s.range(of: "]:") else { return nil }
        let address = s[..<close.lowerBound]
        let afterPort = s[close.upperBound...]
        if address == "UNKNOWN", let rest = afterPort.dropPrefix("-1") { return (address, "-1", rest) }
        let port = afterPort.prefix { $0.isASCII && $0.isNumber }
        guard !address.isEmpty, !port.isEmpty, UInt16(port) != nil else { return nil }
        return (address, port, afterPort[port.endIndex...])
    }
}

/// How the correlator knows a refusal at any log level: the listener accepts a connection (the kernel's
/// accept record) and forks its monitor before it accepts again. An accepted connection it never
/// forked for — it accepted the next one first, sshd wrote its refusal notice on it and it closed, or
/// sshd logged dropping it — was refused. The accept a refusal leaves behind never reaches the next
/// session: each accept replaces the one before, and a fork takes only the last one.
extension Correlator {
    /// A listener's `drop connection` line: the refusal of the accepted connection it names, with
    /// sshd's reason. A line naming another connection than the one pending is ignored. sshd names a
    /// connection the client reset at once "[UNKNOWN]:-1" (the kernel then reports its local port as
    /// 0): the listener logs between its accept and its next one, so that is the pending one.
    func listenerLog(_ listener: ProcessKey, text: String) {
        guard let line = RefusalLine.parse(text), let conn = pendingAccept[listener] else { return }
        let named = LoggedPeer(conn.remote).matches(address: line.remoteAddress[...], port: line.remotePort[...])
            && line.localPort == String(conn.local.port)
        guard named || line.peerUnknown else { return }
        refuse(listener, reason: line.reason, detail: line.detail)
    }

    /// The listener accepts again: the connection before, if it is still pending, was never served.
    func acceptedAgain(_ listener: ProcessKey) {
        if pendingAccept[listener] != nil { refuse(listener, reason: .unknown, detail: nil) }
    }

    /// A pending connection is gone (its socket freed). With bytes sent, the listener wrote on it — only
    /// its refusal notice does ("Exceeded MaxStartups", "Not allowed at this time"): refused now.
    /// Without, it waits for the next accept, which refuses it, or a fork, which takes it with its
    /// counts: a socket the listener still holds is not freed, so a fork can follow only in event logs
    /// of recorders that reported the TCP close instead (a client's reset before the fork).
    /// Returns whether the socket was a pending one.
    func pendingClosed(socket: UInt64, bytesIn: Int64, bytesOut: Int64) -> Bool {
        guard let (listener, conn) = pendingAccept.first(where: { $0.value.socket == socket }) else { return false }
        if bytesOut > 0 {
            refuse(listener, reason: .unknown, detail: nil)
        } else {
            var closed = conn
            closed.closedBytes = [bytesIn, bytesOut]
            pendingAccept[listener] = closed
        }
        return true
    }

    /// A listener ended. Its pending connection that already closed was never served: refused. One
    /// still open is dropped without a row (`sshd -d` serves its one connection itself).
    func listenerEnded(_ listener: ProcessKey) {
        if pendingAccept[listener]?.closedBytes != nil { refuse(listener, reason: .unknown, detail: nil) }
        pendingAccept.removeValue(forKey: listener)
    }

    private func refuse(_ listener: ProcessKey, reason: RefusalRecord.Reason, detail: String?) {
        guard let conn = pendingAccept.removeValue(forKey: listener) else { return }
        let id = nextIDs.refusal
        nextIDs.refusal += 1
        sink(.refusal(RefusalRecord(id: id, atNs: conn.atNs ?? 0, remote: conn.remote, local: conn.local, reason: reason,
                                    detail: detail, listenerPid: listener.tgid, listenerStartNs: listener.startNs)))
    }
}
