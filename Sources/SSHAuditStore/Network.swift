import SSHAuditCore

/// IP addresses and CIDR networks for `--from`. Addresses are stored as text (dotted quad, or RFC 5952
/// IPv6 with IPv4-mapped ones as ::ffff:a.b.c.d); a network is matched by parsing that text back.
public struct IPNetwork: Equatable, Sendable, CustomStringConvertible {
    /// 16 bytes; an IPv4 network is held in its IPv4-mapped form (::ffff:a.b.c.d/96+n).
    public let bytes: [UInt8]
    public let prefixLength: Int
    public let isIPv4: Bool

    /// "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1". Host bits are cleared, like `ip route` does.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress.parse(String(parts[0])) else { return nil }
        let written6 = parts[0].contains(":")
        let maxLength = written6 ? 128 : 32
        var length = maxLength
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int(digits), n <= maxLength else { return nil }
            length = n
        }
        prefixLength = written6 ? length : 96 + length
        // ::ffff:a.b.c.d/96 and longer are IPv4 networks written the IPv6 way.
        isIPv4 = address.isIPv4 && prefixLength >= 96
        var b = address.bytes
        for i in 0..<16 {
            let keep = max(0, min(8, prefixLength - 8 * i))
            b[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        bytes = b
    }

    public func contains(_ address: IPAddress) -> Bool {
        for i in 0..<16 {
            let keep = max(0, min(8, prefixLength - 8 * i))
            if keep == 0 { return true }
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - keep))
            if address.bytes[i] & mask != bytes[i] { return false }
        }
        return true
    }

    /// Whether the stored text of an address lies in this network (unparseable text never does).
    public func contains(text: String) -> Bool {
        IPAddress.parse(text).map(contains) ?? false
    }

    public var description: String {
        if isIPv4 { return IPAddress(bytes: bytes).text + "/\(prefixLength - 96)" }
        return IPAddress(bytes: bytes).text + "/\(prefixLength)"
    }

    /// Ranges of stored text [lower, upper) that hold every address of this network, in every form
    /// the recorder writes (an IPv4 network also as ::ffff:a.b.c.d). They may hold other addresses
    /// too: callers check each with `contains(text:)`. Nil when the ranges would be too many to be
    /// worth it (a very short IPv6 prefix): then every address must be checked.
    public var textRanges: [(lower: String, upper: String)]? {
        if isIPv4 {
            let v4 = ipv4Prefixes()
            return (v4 + v4.map { "::ffff:" + $0 }).map(Self.range(ofPrefix:))
        }
        // IPv6: leading groups are written as they are while none is zero ("::" may stand for a zero
        // group); a zero first group makes the text start with "::" or "0:".
        let groups = (0..<8).map { Int(bytes[2 * $0]) << 8 | Int(bytes[2 * $0 + 1]) }
        var fixed = ""
        for i in 0..<min(prefixLength / 16, 7) {
            guard groups[i] != 0 else { break }
            fixed += String(groups[i], radix: 16) + ":"
        }
        if !fixed.isEmpty { return [Self.range(ofPrefix: fixed)] }
        let span = prefixLength >= 16 ? 1 : 1 << (16 - prefixLength)
        guard span <= 256 else { return nil }
        var prefixes: [String] = []
        for group in groups[0]..<groups[0] + span {
            if group == 0 { prefixes += ["::", "0:"] } else { prefixes.append(String(group, radix: 16) + ":") }
        }
        return prefixes.map(Self.range(ofPrefix:))
    }

    /// Text prefixes of the IPv4 addresses in the network: fixed octets, then each value of a
    /// partial one. A prefix ending in a full address (no dot) stands for that address alone.
    private func ipv4Prefixes() -> [String] {
        let v4 = Array(bytes[12..<16]), length = prefixLength - 96
        let full = length / 8, partial = length % 8
        let fixed = v4[0..<full].map(String.init)
        if full == 4 { return [fixed.joined(separator: ".")] }
        let first = Int(v4[full]), count = partial == 0 ? 256 : 1 << (8 - partial)
        if partial == 0 && full > 0 { return [fixed.joined(separator: ".") + "."] }
        return (first..<first + count).map { value in
            let octets = fixed + [String(value)]
            return octets.joined(separator: ".") + (full + 1 < 4 ? "." : "")
        }
    }

    /// Text that starts with `prefix`: [prefix, prefix with its last byte raised by one). A whole
    /// address (no trailing separator) is its own range: [text, text + "\u{1}").
    static func range(ofPrefix prefix: String) -> (lower: String, upper: String) {
        guard let last = prefix.utf8.last, last == UInt8(ascii: ".") || last == UInt8(ascii: ":") else {
            return (prefix, prefix + "\u{1}")
        }
        var bytes = Array(prefix.utf8)
        bytes[bytes.count - 1] += 1
        return (prefix, String(decoding: bytes, as: UTF8.self))
    }
}

public struct IPAddress: Equatable, Sendable {
    /// 16 bytes; IPv4 addresses in their IPv4-mapped form.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var isIPv4: Bool {
        bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
    }

    /// Dotted quad for IPv4, RFC 5952 for IPv6 (as the recorder writes them).
    public var text: String {
        if isIPv4 { return bytes[12..<16].map(String.init).joined(separator: ".") }
        return IPv6.format(bytes)
    }

    /// Dotted-quad IPv4 (exactly four decimal octets) or IPv6 text (with "::" and an IPv4 tail).
    /// IPv4-mapped IPv6 addresses parse as the IPv4 address they carry.
    public static func parse(_ text: String) -> IPAddress? {
        if !text.contains(":") {
            guard let v4 = parseIPv4(Substring(text)) else { return nil }
            return IPAddress(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + v4)
        }
        return parseIPv6(text)
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var out: [UInt8] = []
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let v = Int(octet), v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    static func parseIPv6(_ text: String) -> IPAddress? {
        guard text.count <= 45 else { return nil }
        func groups(_ part: Substring, allowV4Tail: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if allowV4Tail && i == pieces.count - 1 && piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    out += v4
                } else {
                    guard !piece.isEmpty, piece.count <= 4, piece.allSatisfy(\.isHexDigit),
                          let v = UInt16(piece, radix: 16) else { return nil }
                    out += [UInt8(v >> 8), UInt8(v & 0xff)]
                }
            }
            return out
        }
        var bytes: [UInt8]
        if let gap = text.range(of: "::") {
            let head = text[..<gap.lowerBound], tail = text[gap.upperBound...]
            guard !tail.contains("::"), let h = groups(head, allowV4Tail: false),
                  let t = groups(tail, allowV4Tail: true), h.count + t.count <= 14 else { return nil }
            bytes = h + [UInt8](repeating: 0, count: 16 - h.count - t.count) + t
        } else {
            guard let all = groups(Substring(text), allowV4Tail: true), all.count == 16 else { return nil }
            bytes = all
        }
        return IPAddress(bytes: bytes)
    }
}
