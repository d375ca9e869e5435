/// Turns the kernel's ring-buffer records (layout: bpf/events.h) into `Event`s.
///
/// Offsets are those pinned by the header's _Static_asserts. A record that is too short or of an
/// unknown type is rejected with an error, never guessed at.
public enum EventDecoder {
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case truncated(type: UInt32, size: Int)
        case unknownType(UInt32)
        public var description: String {
            switch self {
            case let .truncated(type, size): return "record of type \(type) is too short (\(size) bytes)"
            case let .unknownType(type): return "unknown record type \(type)"
            }
        }
    }

    static let headerSize = 48
    static let ttyOffset = 72
    static let cwdOffset = 88
    static let cwdMax = 512
    static let filenameOffset = cwdOffset + cwdMax
    static let filenameMax = 512
    static let argvOffset = filenameOffset + filenameMax
    static let afInet: UInt16 = 2
    static let afInet6: UInt16 = 10

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Event {
        let r = Reader(bytes: bytes)
        guard bytes.count >= headerSize else { throw DecodeError.truncated(type: 0, size: bytes.count) }
        let type = r.u32(0)
        func need(_ n: Int) throws {
            if bytes.count < n { throw DecodeError.truncated(type: type, size: bytes.count) }
        }
        let kind: EventKind
        switch type {
        case 1:
            try need(64)
            kind = .fork(child: ProcessKey(tgid: r.u32(48), startNs: r.u64(56)))
        case 2:
            try need(argvOffset)
            let filenameLen = min(Int(r.u32(48)), filenameMax)
            let argvLen = Int(r.u32(52))
            let flags = r.u32(60)
            let cwdLen = min(Int(r.u32(64)), cwdMax)
            try need(argvOffset + argvLen)
            let tty = Self.ttyName(r.cString(ttyOffset, 16))
            kind = .exec(ExecInfo(
                filename: r.string(filenameOffset, filenameLen),
                argv: r.nulSeparated(argvOffset, argvLen),
                argvTruncated: flags & 1 != 0,
                newRoot: flags & 4 != 0,
                connection: flags & 4 != 0 && flags & 16 != 0,
                tty: tty.isEmpty ? nil : tty,
                cwd: flags & 8 != 0 ? nil : Self.cwd(leafFirst: UnsafeRawBufferPointer(rebasing: bytes[cwdOffset..<cwdOffset + cwdLen]))
            ))
        case 3:
            try need(56)
            kind = .exit(status: r.u32(48))
        case 4:
            try need(104)
            let family = r.u16(52)
            let local = Endpoint(address: r.ipAddress(64, family: family), port: r.u16(54))
            let remote = Endpoint(address: r.ipAddress(80, family: family), port: r.u16(56))
            kind = .accept(local: local, remote: remote, socket: r.u64(96))
        case 5:
            try need(64)
            kind = .cred(ruid: r.u32(48), euid: r.u32(52), suid: r.u32(56))
        case 6:
            kind = .chroot
        case 7:
            kind = .setsid
        case 8:
            try need(56)
            let len = min(Int(r.u32(48)), bytes.count - 56)
            guard let source = LogSource(rawValue: r.u32(52)) else { throw DecodeError.unknownType(type) }
            kind = .log(source: source, text: r.string(56, len))
        case 9:
            try need(72)
            kind = .connectionClosed(socket: r.u64(48), bytesIn: r.u64(56), bytesOut: r.u64(64))
        case 10:
            try need(64)
            let len = min(Int(r.u32(56)), bytes.count - 64, 255)
            kind = .fileOpened(fd: Int32(bitPattern: r.u32(48)), flags: r.u32(52), path: r.string(64, len))
        case 11:
            try need(72)
            kind = .fileClosed(fd: Int32(bitPattern: r.u32(48)), position: r.u64(56), size: r.u64(64))
        case 12:
            try need(184)
            guard let op = SocketCall.Operation(rawValue: r.u32(48)) else { throw DecodeError.unknownType(type) }
            let family = r.u16(52)
            let call: SocketCall
            switch family {
            case afInet, afInet6:
                call = SocketCall(operation: op, endpoint: Endpoint(address: r.ipAddress(56, family: family), port: r.u16(54)), unixPath: nil)
            default:
                call = SocketCall(operation: op, endpoint: nil, unixPath: r.cString(72, 108))
            }
            kind = .socket(call)
        case 13:
            kind = .fileChange(try fileChange(bytes, r, type: type))
        case 14:
            // A transfer server's open, named by the kernel (an absolute path).
            let change = try fileChange(bytes, r, type: type, transferOpen: true)
            kind = .fileOpened(fd: Int32(bitPattern: r.u32(56)), flags: r.u32(60), path: change.path)
        case 15:
            kind = try .network(decodeNetwork(r, size: bytes.count))
        case 17:  // struct sa_tty
            try need(64)
            let len = Int(r.u32(48))
            guard let stream = TTYStream(rawValue: UInt8(truncatingIfNeeded: r.u16(52))), r.u16(52) <= 4 else {
                throw DecodeError.unknownType(type)
            }
            try need(64 + len)
            kind = .tty(stream: stream, bytes: Array(bytes[64..<64 + len]), cut: r.u16(54) & 1 != 0, capped: r.u16(54) & 2 != 0)
        case 18:  // struct sa_tty_winsize
            try need(56)
            kind = .ttyWindow(rows: r.u16(48), cols: r.u16(50))
        default:
            throw DecodeError.unknownType(type)
        }
        return Event(
            process: ProcessKey(tgid: r.u32(4), startNs: r.u64(24)),
            ppid: r.u32(8),
            uid: r.u32(12),
            timestampNs: r.u64(16),
            comm: r.cString(32, 16),
            kind: kind
        )
    }

    /// struct sa_file_act: op, flags, fd, open flags, four lengths, then dir, name, dir2, name2 back to back.
    private static func fileChange(_ bytes: UnsafeRawBufferPointer, _ r: Reader, type: UInt32,
                                   transferOpen: Bool = false) throws -> FileChange {
        let dataOffset = 72
        guard bytes.count >= dataOffset else { throw DecodeError.truncated(type: type, size: bytes.count) }
        guard let op = transferOpen ? .write : FileOperation(code: r.u32(48)) else { throw DecodeError.unknownType(type) }
        let flags = r.u32(52)
        let lengths = [r.u16(64), r.u16(66), r.u16(68), r.u16(70)].map(Int.init)
        guard dataOffset + lengths.reduce(0, +) <= bytes.count else { throw DecodeError.truncated(type: type, size: bytes.count) }
        var at = dataOffset
        func piece(_ n: Int) -> UnsafeRawBufferPointer {
            defer { at += n }
            return UnsafeRawBufferPointer(rebasing: bytes[at..<at + n])
        }
        let dir = piece(lengths[0]), name = piece(lengths[1]), dir2 = piece(lengths[2]), name2 = piece(lengths[3])
        let dirTruncated = flags & 1 != 0, nameTruncated = flags & 2 != 0
        func path(_ dir: UnsafeRawBufferPointer, _ name: UnsafeRawBufferPointer) -> String {
            FilePath.join(dirLeafFirst: dir, name: String(decoding: name, as: UTF8.self), dirTruncated: dirTruncated,
                          nameTruncated: nameTruncated)
        }
        let newPath: String?
        if op == .symlink {
            newPath = String(decoding: name2, as: UTF8.self) + (nameTruncated ? "…" : "")
        } else {
            newPath = lengths[2] + lengths[3] > 0 ? path(dir2, name2) : nil
        }
        return FileChange(op: op, path: path(dir, name), newPath: newPath)
    }

    /// struct sa_net: the endpoint of an IP socket, or a unix socket's name ("@name" if abstract).
    private static func decodeNetwork(_ r: Reader, size: Int) throws -> NetworkCall {
        guard size >= 200 else { throw DecodeError.truncated(type: 15, size: size) }
        guard let op = NetworkCall.Operation(rawValue: r.u32(48)) else { throw DecodeError.unknownType(15) }
        let family = r.u16(56)
        var endpoint: Endpoint?
        var path: String?
        switch family {
        case afInet, afInet6:
            endpoint = Endpoint(address: r.ipAddress(64, family: family), port: r.u16(62))
        case 1:
            let len = min(Int(r.u32(80)), 108)
            if len > 0 {
                // An abstract name starts with a NUL byte: shown as "@name", as ss(8) does.
                path = r.bytes[88] == 0 ? "@" + r.string(89, len - 1) : r.string(88, len)
            }
        default:
            throw DecodeError.unknownType(15)
        }
        return NetworkCall(operation: op, result: Int32(bitPattern: r.u32(52)), family: family, socketType: r.u16(58),
                           ipProtocol: r.u16(60), endpoint: endpoint, path: path, fromCaller: r.u32(84) & 1 != 0)
    }

    /// The kernel names pty slaves "pts0"; users know them as pts/0 (/dev/pts/0).
    static func ttyName(_ kernelName: String) -> String {
        let utf8 = kernelName.utf8
        if utf8.count > 3, kernelName.hasPrefix("pts"), utf8.dropFirst(3).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return "pts/" + kernelName.dropFirst(3)
        }
        return kernelName
    }

    /// "b/a/" (leaf first, as the kernel walks it) → "/a/b". On bytes: it runs for every exec.
    static func cwd(leafFirst: String) -> String {
        var text = leafFirst
        return text.withUTF8 { cwd(leafFirst: UnsafeRawBufferPointer($0)) }
    }

    static func cwd(leafFirst bytes: UnsafeRawBufferPointer) -> String {
        let slash = UInt8(ascii: "/")
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 1)
        var end = bytes.count
        while end > 0 {
            var start = end
            while start > 0 && bytes[start - 1] != slash { start -= 1 }
            if start < end {
                out.append(slash)
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            }
            end = start - 1
        }
        if out.isEmpty { out.append(slash) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ bytes: [UInt8]) throws -> Event {
        try bytes.withUnsafeBytes { try decode($0) }
    }
}

/// Little-endian reads at fixed offsets; callers check the size first.
private struct Reader {
    let bytes: UnsafeRawBufferPointer

    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

    func string(_ at: Int, _ count: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<at + count]), as: UTF8.self)
    }

    /// A NUL-terminated string in a fixed-size field.
    func cString(_ at: Int, _ max: Int) -> String {
        let field = bytes[at..<at + max]
        let end = field.firstIndex(of: 0) ?? field.endIndex
        return string(at, end - at)
    }

    /// argv as the kernel laid it out: strings each ending in NUL. A last string cut short by the
    /// bound has no NUL and is kept as it is.
    func nulSeparated(_ at: Int, _ count: Int) -> [String] {
        var result: [String] = []
        var start = at
        let end = at + count
        for i in at..<end where bytes[i] == 0 {
            result.append(string(start, i - start))
            start = i + 1
        }
        if start < end { result.append(string(start, end - start)) }
        return result
    }

    func ipAddress(_ at: Int, family: UInt16) -> String {
        if family == EventDecoder.afInet {
            return (0..<4).map { String(bytes[at + $0]) }.joined(separator: ".")
        }
        return IPv6.format(Array(bytes[at..<at + 16]))
    }
}

enum IPv6 {
    /// RFC 5952 text form: lower-case hex, the longest run of two or more zero groups as "::",
    /// IPv4-mapped addresses as ::ffff:a.b.c.d.
    static func format(_ b: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:" + b[12..<16].map(String.init).joined(separator: ".")
        }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        if bestStart < 0 { return hex.joined(separator: ":") }
        let head = hex[0..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLen)...].joined(separator: ":")
        return head + "::" + tail
    }
}
