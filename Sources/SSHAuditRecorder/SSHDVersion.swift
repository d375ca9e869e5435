import Foundation

/// The OpenSSH release compiled into a running sshd binary ("OpenSSH_9.2p1 Debian-2+deb12u10"), read
/// from /proc/PID/exe (which also reaches binaries inside a chroot); nothing is executed.
///
/// Whoever starts an sshd chooses that file, so it is read with bounds: a regular file only, in
/// chunks, at most `byteCap` bytes (OpenSSH's binaries are 1–2 MiB, the string is in the first
/// megabyte or so), and the result is cached per file (device, inode, modification time) in a cache
/// of at most `cacheCap` files.
final class SSHDVersion: @unchecked Sendable {
    static let shared = SSHDVersion()
    static let byteCap = 16 << 20
    static let chunk = 256 << 10
    static let cacheCap = 64

    private struct FileID: Hashable {
        var device: UInt64
        var inode: UInt64
        var modifiedSec: Int
        var modifiedNsec: Int
    }

    private var cache: [FileID: String?] = [:]

    func of(pid: UInt32, path: String) -> String? {
        // O_NONBLOCK: whatever it is, opening it must not wait.
        let fd = open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        let key = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
                         modifiedSec: st.st_mtim.tv_sec, modifiedNsec: st.st_mtim.tv_nsec)
        if let known = cache[key] { return known }
        let version = Self.scan(fd)
        if cache.count >= Self.cacheCap { cache.removeAll() }  // a cache: reading again is all it costs
        cache[key] = version
        return version
    }

    /// The release string in the first `cap` bytes of the open file.
    static func scan(_ fd: Int32, cap: Int = byteCap) -> String? {
        var scanner = VersionScanner()
        var buffer = [UInt8](repeating: 0, count: chunk)
        var total = 0
        while total < cap {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, cap - total)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            total += n
            if let found = scanner.feed(buffer[0..<n]) { return found }
        }
        return scanner.finish()
    }
}

/// Finds "OpenSSH_…" strings in a binary fed in pieces, holding at most one candidate's bytes between
/// pieces. The release string is "OpenSSH_" + digits and dots + "p" + digits (+ a distribution's
/// suffix); "OpenSSH_9.2" alone is the protocol version, and strings with * or % are compat patterns.
struct VersionScanner {
    private static let marker = Array("OpenSSH_".utf8)
    /// A candidate ends at a non-printable byte or at this length.
    private static let longest = 80
    /// Bytes of the previous piece that may begin a candidate.
    private var carry: [UInt8] = []
    /// The first candidate that is no release string (e.g. without the "p" part), if no release is found.
    private var fallback: String?

    /// The release string, as soon as the bytes so far hold one.
    mutating func feed(_ piece: ArraySlice<UInt8>) -> String? { scan(carry + piece, last: false) }

    /// The end of the input: the best candidate seen.
    mutating func finish() -> String? {
        let rest = carry
        carry = []
        return scan(rest, last: true) ?? fallback
    }

    private mutating func scan(_ data: [UInt8], last: Bool) -> String? {
        let m = Self.marker
        // A marker may start in the last bytes and end in the next piece.
        var keep = max(0, data.count - (m.count - 1))
        var from = 0
        while let start = Self.index(of: m, in: data, from: from) {
            var end = start + m.count
            while end < data.count, data[end] >= 0x20, data[end] < 0x7f, end - start < Self.longest { end += 1 }
            if end == data.count, end - start < Self.longest, !last {
                keep = start  // it may go on in the next piece
                break
            }
            from = start + m.count
            let text = String(decoding: data[start..<end], as: UTF8.self)
            let version = text.dropFirst(m.count)
            guard let first = version.first, first.isNumber, !text.contains("*"), !text.contains("%") else { continue }
            let number = version.prefix { $0.isNumber || $0 == "." }
            if version.dropFirst(number.count).first == "p" { return text }
            fallback = fallback ?? text
        }
        carry = last ? [] : Array(data[min(keep, data.count)...])
        return nil
    }

    /// memchr for the first byte, then a comparison: fast whatever the build.
    private static func index(of needle: [UInt8], in data: [UInt8], from: Int) -> Int? {
        data.withUnsafeBytes { hay -> Int? in
            guard let base = hay.baseAddress else { return nil }
            var at = from
            while at + needle.count <= hay.count {
                guard let hit = memchr(base + at, Int32(needle[0]), hay.count - at) else { return nil }
                at = base.distance(to: UnsafeRawPointer(hit))
                if at + needle.count <= hay.count, memcmp(base + at, needle, needle.count) == 0 { return at }
                at += 1
            }
            return nil
        }
    }
}
