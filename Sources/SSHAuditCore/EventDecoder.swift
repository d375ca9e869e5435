import CSSHAuditABI

/// Turns the kernel's ring-buffer records into `Event`s.
///
/// Every offset, size, type code and flag comes from the C declarations the kernel programs are
/// compiled with (bpf/events.h, through CSSHAuditABI): the decoder has no layout of its own. A record
/// that is too short or of an unknown type is rejected with an error, never guessed at.
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

    static let headerSize = MemoryLayout<sa_header>.size
    static let afInet: UInt16 = 2
    static let afInet6: UInt16 = 10

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Event {
        let r = Reader(bytes: bytes)
        guard bytes.count >= headerSize else { throw DecodeError.truncated(type: 0, size: bytes.count) }
        let type = r.u32(At.type)
        func need(_ n: Int) throws {
            if bytes.count < n { throw DecodeError.truncated(type: type, size: bytes.count) }
        }
        let kind: EventKind
        var hooksOffAtFork = false
        switch type {
        case SA_EV_FORK.rawValue:
            try need(MemoryLayout<sa_fork>.size)
            kind = .fork(child: ProcessKey(tgid: r.u32(At.forkChild), startNs: r.u64(At.forkChildStart)))
            hooksOffAtFork = r.u32(At.forkFlags) & SA_FORK_SESSION_HOOKS_OFF != 0
        case SA_EV_EXEC.rawValue:
            try need(At.execArgv)
            let filenameLen = min(Int(r.u32(At.execFilenameLen)), At.filenameMax)
            let argvLen = Int(r.u32(At.execArgvLen))
            let flags = r.u32(At.execFlags)
            let cwdLen = min(Int(r.u32(At.execCwdLen)), At.cwdMax)
            try need(At.execArgv + argvLen)
            let tty = Self.ttyName(r.cString(At.execTTY, At.execTTYSize))
            let newRoot = flags & SA_EXEC_NEW_ROOT != 0
            kind = .exec(ExecInfo(
                filename: r.string(At.execFilename, filenameLen),
                argv: r.nulSeparated(At.execArgv, argvLen),
                argvTruncated: flags & SA_EXEC_ARGV_TRUNCATED != 0,
                newRoot: newRoot,
                connection: newRoot && flags & SA_EXEC_CONNECTION != 0,
                tty: tty.isEmpty ? nil : tty,
                cwd: flags & SA_EXEC_CWD_TRUNCATED != 0
                    ? nil : Self.cwd(leafFirst: UnsafeRawBufferPointer(rebasing: bytes[At.execCwd..<At.execCwd + cwdLen])),
                sessionHooksOff: flags & SA_EXEC_SESSION_HOOKS_OFF != 0
            ))
        case SA_EV_EXIT.rawValue:
            try need(MemoryLayout<sa_exit>.size)
            kind = .exit(status: r.u32(At.exitCode))
        case SA_EV_ACCEPT.rawValue:
            try need(MemoryLayout<sa_accept>.size)
            let family = r.u16(At.acceptFamily)
            let local = Endpoint(address: r.ipAddress(At.acceptLocalAddr, family: family), port: r.u16(At.acceptLocalPort))
            let remote = Endpoint(address: r.ipAddress(At.acceptRemoteAddr, family: family), port: r.u16(At.acceptRemotePort))
            kind = .accept(local: local, remote: remote, socket: r.u64(At.acceptSocket))
        case SA_EV_CRED.rawValue:
            try need(MemoryLayout<sa_cred>.size)
            kind = .cred(ruid: r.u32(At.credRUID), euid: r.u32(At.credEUID), suid: r.u32(At.credSUID))
        case SA_EV_CHROOT.rawValue:
            kind = .chroot
        case SA_EV_SETSID.rawValue:
            kind = .setsid
        case SA_EV_LOG.rawValue:
            try need(At.logData)
            let len = min(Int(r.u32(At.logLen)), bytes.count - At.logData)
            guard let source = logSource(r.u32(At.logSource)) else { throw DecodeError.unknownType(type) }
            kind = .log(source: source, text: r.string(At.logData, len))
        case SA_EV_CONN_CLOSE.rawValue:
            try need(MemoryLayout<sa_conn_close>.size)
            kind = .connectionClosed(socket: r.u64(At.closeSocket), bytesIn: r.u64(At.closeReceived), bytesOut: r.u64(At.closeAcked))
        case SA_EV_FILE_OPEN.rawValue:
            try need(At.openPath)
            let len = min(Int(r.u32(At.openPathLen)), bytes.count - At.openPath, At.openPathMax - 1)
            kind = .fileOpened(fd: Int32(bitPattern: r.u32(At.openFD)), flags: r.u32(At.openFlags), path: r.string(At.openPath, len))
        case SA_EV_FILE_CLOSE.rawValue:
            try need(MemoryLayout<sa_file_close>.size)
            kind = .fileClosed(fd: Int32(bitPattern: r.u32(At.fileCloseFD)), position: r.u64(At.fileClosePosition),
                               size: r.u64(At.fileCloseSize))
        case SA_EV_SOCKET.rawValue:
            try need(MemoryLayout<sa_socket>.size)
            let op: SocketCall.Operation
            switch r.u32(At.socketOp) {
            case SA_SOCK_CONNECT: op = .connect
            case SA_SOCK_BIND: op = .bind
            default: throw DecodeError.unknownType(type)
            }
            let family = r.u16(At.socketFamily)
            let call: SocketCall
            switch family {
            case afInet, afInet6:
                call = SocketCall(operation: op, endpoint: Endpoint(address: r.ipAddress(At.socketAddr, family: family),
                                                                    port: r.u16(At.socketPort)), unixPath: nil)
            default:
                call = SocketCall(operation: op, endpoint: nil, unixPath: r.cString(At.socketUnixPath, At.socketUnixPathSize))
            }
            kind = .socket(call)
        case UInt32(SA_EV_FILE_ACT):
            kind = .fileChange(try fileChange(bytes, r, type: type))
        case UInt32(SA_EV_TRANSFER_OPEN):
            // A transfer server's open, named by the kernel (an absolute path).
            let change = try fileChange(bytes, r, type: type, transferOpen: true)
            kind = .fileOpened(fd: Int32(bitPattern: r.u32(At.actFD)), flags: r.u32(At.actOpenFlags), path: change.path)
        case SA_EV_NET.rawValue:
            kind = try .network(decodeNetwork(r, size: bytes.count))
        case SA_EV_TTY.rawValue:
            try need(At.ttyData)
            let len = Int(r.u32(At.ttyLen))
            guard let stream = ttyStream(UInt32(r.u16(At.ttyStream))) else { throw DecodeError.unknownType(type) }
            try need(At.ttyData + len)
            let flags = UInt32(r.u16(At.ttyFlags))
            kind = .tty(stream: stream, bytes: Array(bytes[At.ttyData..<At.ttyData + len]),
                        cut: flags & SA_TTY_FLAG_CUT != 0, capped: flags & SA_TTY_FLAG_CAPPED != 0)
        case SA_EV_TTY_WINSIZE.rawValue:
            try need(MemoryLayout<sa_tty_winsize>.size)
            kind = .ttyWindow(rows: r.u16(At.winRows), cols: r.u16(At.winCols))
        case SA_EV_FILE_REPEAT.rawValue:
            try need(MemoryLayout<sa_file_repeat>.size)
            kind = .fileRepeat(key: Array(bytes[At.repeatKey..<At.repeatKey + At.seenKeySize]), count: r.u64(At.repeatCount))
        case UInt32(SA_EV_COMPAT):
            try need(MemoryLayout<sa_compat>.size)
            let flags = r.u32(At.compatFlags)
            kind = .compatCalls(CompatCalls(counts: (0..<Int(SA_COMPAT_OPS)).map { r.u32(At.compatCounts + 4 * $0) },
                                            notCounted: flags & SA_COMPAT_NOT_COUNTED != 0, atStop: flags & SA_COMPAT_AT_STOP != 0))
        case UInt32(SA_EV_URING):
            try need(MemoryLayout<sa_uring>.size)
            kind = .ioUring(IOUringUse(ring: r.u64(At.uringRing), setupFlags: r.u32(At.uringSetupFlags),
                                       notCounted: r.u32(At.uringFlags) & SA_URING_NOT_COUNTED != 0,
                                       atStop: r.u32(At.uringFlags) & SA_URING_AT_STOP != 0,
                                       counts: (0..<Int(SA_URING_OPS)).map { r.u32(At.uringCounts + 4 * $0) }))
        default:
            throw DecodeError.unknownType(type)
        }
        var event = Event(
            process: ProcessKey(tgid: r.u32(At.tgid), startNs: r.u64(At.start)),
            ppid: r.u32(At.ppid),
            uid: r.u32(At.uid),
            timestampNs: r.u64(At.ts),
            comm: r.cString(At.comm, At.commSize),
            kind: kind
        )
        event.hooksOffAtFork = hooksOffAtFork
        return event
    }

    static func logSource(_ code: UInt32) -> LogSource? {
        switch code {
        case SA_LOG_FILE: return .file
        case SA_LOG_SYSLOG: return .syslog
        case SA_LOG_STDERR: return .stderr
        default: return nil
        }
    }

    static func ttyStream(_ code: UInt32) -> TTYStream? {
        switch code {
        case SA_TTY_OUTPUT: return .output
        case SA_TTY_STDOUT: return .stdout
        case SA_TTY_STDERR: return .stderr
        case SA_TTY_INPUT: return .input
        default: return nil
        }
    }

    static func fileOperation(_ code: UInt32) -> FileOperation? {
        switch Int32(bitPattern: code) {
        case SA_FOP_CREATE: return .create
        case SA_FOP_WRITE: return .write
        case SA_FOP_TRUNCATE: return .truncate
        case SA_FOP_RENAME: return .rename
        case SA_FOP_UNLINK: return .unlink
        case SA_FOP_RMDIR: return .rmdir
        case SA_FOP_MKDIR: return .mkdir
        case SA_FOP_CHMOD: return .chmod
        case SA_FOP_CHOWN: return .chown
        case SA_FOP_LINK: return .link
        case SA_FOP_SYMLINK: return .symlink
        case SA_FOP_SETXATTR: return .setxattr
        case SA_FOP_REMOVEXATTR: return .removexattr
        case SA_FOP_UTIME: return .utime
        case SA_FOP_SETFLAGS: return .setflags
        case SA_FOP_MOUNT: return .mount
        case SA_FOP_UMOUNT: return .umount
        case SA_FOP_REMOUNT: return .remount
        default: return nil
        }
    }

    static func networkOperation(_ code: UInt32) -> NetworkCall.Operation? {
        switch code {
        case SA_NET_CONNECT: return .connect
        case SA_NET_BIND: return .bind
        case SA_NET_LISTEN: return .listen
        case SA_NET_SEND: return .send
        case SA_NET_ACCEPT: return .accept
        default: return nil
        }
    }

    /// struct sa_file_act: op, flags, fd, open flags, four lengths, then dir, name, dir2, name2 back to back.
    private static func fileChange(_ bytes: UnsafeRawBufferPointer, _ r: Reader, type: UInt32,
                                   transferOpen: Bool = false) throws -> FileChange {
        guard bytes.count >= At.actData else { throw DecodeError.truncated(type: type, size: bytes.count) }
        guard let op = transferOpen ? .write : fileOperation(r.u32(At.actOp)) else { throw DecodeError.unknownType(type) }
        let flags = r.u32(At.actFlags)
        let lengths = [At.actDirLen, At.actNameLen, At.actDir2Len, At.actName2Len].map { Int(r.u16($0)) }
        guard At.actData + lengths.reduce(0, +) <= bytes.count else { throw DecodeError.truncated(type: type, size: bytes.count) }
        var at = At.actData
        func piece(_ n: Int) -> UnsafeRawBufferPointer {
            defer { at += n }
            return UnsafeRawBufferPointer(rebasing: bytes[at..<at + n])
        }
        let dir = piece(lengths[0]), name = piece(lengths[1]), dir2 = piece(lengths[2]), name2 = piece(lengths[3])
        // The key of the kernel's count of repeats follows the pieces.
        var seenKey: [UInt8]?
        if flags & SA_FILE_SEEN != 0 {
            guard at + At.seenKeySize <= bytes.count else { throw DecodeError.truncated(type: type, size: bytes.count) }
            seenKey = Array(bytes[at..<at + At.seenKeySize])
        }
        // One flag of each kind serves both names of a record (a rename's, a link's): a name from
        // user memory was cut only if it filled its room, and a walk only if it gave something (the
        // root's gives nothing). Otherwise "…" would go on the other name too.
        let dirFlag = flags & SA_FILE_TRUNCATED != 0, nameFlag = flags & SA_FILE_NAME_TRUNCATED != 0
        func dirTruncated(_ dir: UnsafeRawBufferPointer) -> Bool { dirFlag && dir.contains { $0 != UInt8(ascii: "/") } }
        func nameTruncated(_ name: UnsafeRawBufferPointer) -> Bool { nameFlag && name.count >= Int(SA_FILE_NAME_MAX) - 1 }
        // A call by name's walks note where the process's root was on them (bpf/events.h: SA_FILE_ROOT_AT).
        let rootAt = transferOpen ? 0 : r.u32(At.actOpenFlags)
        func path(_ dir: UnsafeRawBufferPointer, _ name: UnsafeRawBufferPointer, second: Bool = false) -> String {
            FilePath.join(dirLeafFirst: dir, name: RecordedText.string(name), dirTruncated: dirTruncated(dir),
                          nameTruncated: nameTruncated(name), rootAt: Int((rootAt >> (second ? 16 : 0)) & 0xffff) - 1,
                          detached: flags & (second ? SA_FILE_DETACHED2 : SA_FILE_DETACHED) != 0)
        }
        let newPath: String?
        if op == .setflags {
            newPath = name2.isEmpty ? nil : InodeFlags.describe(String(decoding: name2, as: UTF8.self))
        } else if op.newPathIsLiteral {
            // None given (mount_setattr; move_mount's usual "" from-path): no new path.
            newPath = name2.isEmpty ? nil : RecordedText.string(name2) + (nameTruncated(name2) ? "…" : "")
        } else {
            newPath = lengths[2] + lengths[3] > 0 ? path(dir2, name2, second: true) : nil
        }
        return FileChange(op: op, path: path(dir, name), newPath: newPath, seenKey: seenKey,
                          exchange: op == .rename && flags & SA_FILE_EXCHANGE != 0)
    }

    /// struct sa_net: the endpoint of an IP socket, or a unix socket's name ("@name" if abstract).
    private static func decodeNetwork(_ r: Reader, size: Int) throws -> NetworkCall {
        let type = SA_EV_NET.rawValue
        guard size >= MemoryLayout<sa_net>.size else { throw DecodeError.truncated(type: type, size: size) }
        guard let op = networkOperation(r.u32(At.netOp)) else { throw DecodeError.unknownType(type) }
        let family = r.u16(At.netFamily)
        let flags = r.u32(At.netFlags)
        // The caller's address could not be read: the call is known, not its endpoint.
        let unreadable = flags & SA_NET_UNREADABLE != 0
        var endpoint: Endpoint?
        var path: String?
        switch family {
        case afInet, afInet6:
            if !unreadable { endpoint = Endpoint(address: r.ipAddress(At.netAddr, family: family), port: r.u16(At.netPort)) }
        case 1:
            let len = unreadable ? 0 : min(Int(r.u32(At.netPathLen)), At.netPathSize)
            if len > 0 {
                // An abstract name starts with a NUL byte and may hold more: shown as "@name", each NUL
                // as "@", as ss(8) does (text with NUL bytes would end early in SQLite and C strings).
                if r.bytes[At.netPath] == 0 {
                    path = "@" + RecordedText.string(r.bytes[At.netPath + 1..<At.netPath + len].map { $0 == 0 ? UInt8(ascii: "@") : $0 })
                } else {
                    path = r.string(At.netPath, len)
                }
            }
        default:
            throw DecodeError.unknownType(type)
        }
        // The key of the kernel's count of repeats follows the record.
        var seenKey: [UInt8]?
        if flags & SA_NET_SEEN != 0 {
            let at = MemoryLayout<sa_net>.size
            guard at + At.seenKeySize <= size else { throw DecodeError.truncated(type: type, size: size) }
            seenKey = Array(r.bytes[at..<at + At.seenKeySize])
        }
        return NetworkCall(operation: op, result: Int32(bitPattern: r.u32(At.netResult)), family: family,
                           socketType: r.u16(At.netSockType), ipProtocol: r.u16(At.netProtocol), endpoint: endpoint,
                           path: path, fromCaller: flags & SA_NET_FROM_USER != 0, seenKey: seenKey)
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
        return RecordedText.string(out)
    }

    public static func decode(_ bytes: [UInt8]) throws -> Event {
        try bytes.withUnsafeBytes { try decode($0) }
    }
}

/// Where each field the decoder reads lies in its record: offsets and sizes of the C declarations
/// (bpf/events.h). Every record starts with struct sa_header, so header fields are record offsets.
enum At {
    static func of<R>(_ field: PartialKeyPath<R>) -> Int { MemoryLayout<R>.offset(of: field)! }

    static let type = of(\sa_header.type), tgid = of(\sa_header.tgid), ppid = of(\sa_header.ppid)
    static let uid = of(\sa_header.uid), ts = of(\sa_header.ts_ns), start = of(\sa_header.start_ns)
    static let comm = of(\sa_header.comm), commSize = MemoryLayout.size(ofValue: sa_header().comm)

    static let forkChild = of(\sa_fork.child_tgid), forkChildStart = of(\sa_fork.child_start_ns), forkFlags = of(\sa_fork.flags)

    static let execFilenameLen = of(\sa_exec.filename_len), execArgvLen = of(\sa_exec.argv_len)
    static let execFlags = of(\sa_exec.flags), execCwdLen = of(\sa_exec.cwd_len)
    static let execTTY = of(\sa_exec.tty), execTTYSize = MemoryLayout.size(ofValue: sa_exec().tty)
    static let execCwd = of(\sa_exec.cwd), cwdMax = Int(SA_CWD_MAX)
    static let execFilename = of(\sa_exec.filename), filenameMax = Int(SA_FILENAME_MAX)
    static let execArgv = Int(sa_exec_argv_offset)

    static let exitCode = of(\sa_exit.exit_code)

    static let acceptFamily = of(\sa_accept.family), acceptLocalPort = of(\sa_accept.local_port)
    static let acceptRemotePort = of(\sa_accept.remote_port), acceptLocalAddr = of(\sa_accept.local_addr)
    static let acceptRemoteAddr = of(\sa_accept.remote_addr), acceptSocket = of(\sa_accept.sock_id)

    static let credRUID = of(\sa_cred.ruid), credEUID = of(\sa_cred.euid), credSUID = of(\sa_cred.suid)

    static let logLen = of(\sa_log.len), logSource = of(\sa_log.source), logData = of(\sa_log.data)

    static let closeSocket = of(\sa_conn_close.sock_id), closeReceived = of(\sa_conn_close.bytes_received)
    static let closeAcked = of(\sa_conn_close.bytes_acked)

    static let openFD = of(\sa_file_open.fd), openFlags = of(\sa_file_open.flags)
    static let openPathLen = of(\sa_file_open.path_len), openPath = of(\sa_file_open.path), openPathMax = Int(SA_PATH_MAX)

    static let fileCloseFD = of(\sa_file_close.fd), fileClosePosition = of(\sa_file_close.position)
    static let fileCloseSize = of(\sa_file_close.size)

    static let socketOp = of(\sa_socket.op), socketFamily = of(\sa_socket.family), socketPort = of(\sa_socket.port)
    static let socketAddr = of(\sa_socket.addr), socketUnixPath = of(\sa_socket.unix_path)
    static let socketUnixPathSize = MemoryLayout.size(ofValue: sa_socket().unix_path)

    static let actOp = of(\sa_file_act.op), actFlags = of(\sa_file_act.flags), actFD = of(\sa_file_act.fd)
    static let actOpenFlags = of(\sa_file_act.open_flags), actDirLen = of(\sa_file_act.dir_len)
    static let actNameLen = of(\sa_file_act.name_len), actDir2Len = of(\sa_file_act.dir2_len)
    static let actName2Len = of(\sa_file_act.name2_len), actData = Int(sa_file_act_data_offset)
    static let seenKeySize = MemoryLayout<sa_file_seen_key>.size
    static let repeatCount = of(\sa_file_repeat.count), repeatKey = of(\sa_file_repeat.key)
    static let seenKeyTgid = of(\sa_file_seen_key.tgid), seenKeyStart = of(\sa_file_seen_key.start_ns)

    static let netOp = of(\sa_net.op), netResult = of(\sa_net.result), netFamily = of(\sa_net.family)
    static let netSockType = of(\sa_net.sock_type), netProtocol = of(\sa_net.protocol), netPort = of(\sa_net.port)
    static let netAddr = of(\sa_net.addr), netPathLen = of(\sa_net.path_len), netFlags = of(\sa_net.flags)
    static let netPath = of(\sa_net.path), netPathSize = Int(SA_NET_PATH_MAX)

    static let ttyLen = of(\sa_tty.len), ttyStream = of(\sa_tty.stream), ttyFlags = of(\sa_tty.flags)
    static let ttyData = of(\sa_tty.data)

    static let winRows = of(\sa_tty_winsize.rows), winCols = of(\sa_tty_winsize.cols)

    static let uringRing = of(\sa_uring.ring), uringSetupFlags = of(\sa_uring.setup_flags)
    static let uringFlags = of(\sa_uring.flags), uringCounts = of(\sa_uring.counts)
    static let compatFlags = of(\sa_compat.flags), compatCounts = of(\sa_compat.counts)
}

/// Little-endian reads at fixed offsets; callers check the size first.
private struct Reader {
    let bytes: UnsafeRawBufferPointer

    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

    func string(_ at: Int, _ count: Int) -> String {
        RecordedText.string(UnsafeRawBufferPointer(rebasing: bytes[at..<at + count]))
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

/// The one IPv6 text formatter: the decoder's, the /proc scan's and the store's addresses.
public enum IPv6 {
    /// RFC 5952 text form: lower-case hex, the longest run of two or more zero groups as "::",
    /// IPv4-mapped addresses as ::ffff:a.b.c.d.
    public static func format(_ b: [UInt8]) -> String {
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
