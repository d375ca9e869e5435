/// A connection's peer as sshd writes it in its log lines (`ssh_remote_ipaddr()`, then `port %d`),
/// to check a line against the connection the kernel saw accepted.
///
/// The kernel's text (`IPv6.format`, /proc) is a dotted quad, or RFC 5952 IPv6 with IPv4-mapped
/// addresses as ::ffff:a.b.c.d. sshd turns an IPv4-mapped peer into plain IPv4 (canohost.c,
/// `ipv64_normalise_mapped`) and writes the others with getnameinfo(NI_NUMERICHOST): glibc gives an
/// IPv4-compatible address (::a.b.c.d) a dotted tail, and a scoped one (link-local) a "%zone".
struct LoggedPeer: Equatable {
    /// Every text of the address that names this peer.
    let addresses: [String]
    let port: String
    let ipv6: Bool

    init(_ endpoint: Endpoint) {
        let kernel = endpoint.address
        port = String(endpoint.port)
        ipv6 = kernel.contains(":")
        var forms = [kernel]
        if kernel.hasPrefix("::ffff:"), kernel.contains(".") {
            forms.insert(String(kernel.dropFirst("::ffff:".count)), at: 0)
        } else if let dotted = Self.ipv4Compatible(kernel) {
            forms.append(dotted)
        }
        addresses = forms
    }

    /// Whether ADDR and PORT as a line writes them name this peer exactly.
    func matches(address: Substring, port: Substring) -> Bool {
        guard port == self.port else { return false }
        if addresses.contains(where: { $0 == address }) { return true }
        // The zone is the kernel's interface name (no spaces), which the accept record does not carry.
        guard ipv6, let percent = address.firstIndex(of: "%"), address.index(after: percent) < address.endIndex else {
            return false
        }
        let bare = address[..<percent]
        return addresses.contains { $0 == bare }
    }

    /// "::H:H" (the first six groups zero, the seventh not) as glibc writes it: "::a.b.c.d".
    private static func ipv4Compatible(_ text: String) -> String? {
        guard let tail = text.dropPrefix("::") else { return nil }
        let groups = tail.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 2, let high = UInt16(groups[0], radix: 16), let low = UInt16(groups[1], radix: 16),
              high != 0 else { return nil }
        return "::" + [high >> 8, high & 0xff, low >> 8, low & 0xff].map(String.init).joined(separator: ".")
    }
}

extension StringProtocol {
    func dropPrefix(_ prefix: String) -> SubSequence? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
