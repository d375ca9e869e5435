import Foundation

/// A recorded event stream: what `sshaudit record --events FILE` writes and what tests and benchmarks
/// replay. Layout: one JSON header line, then each kernel record as [u32 little-endian length][bytes].
/// The header carries what replay needs to be deterministic: the boot-to-wall clock offset and the
/// uid → name map of the machine's users at the time.
public struct EventLogHeader: Codable, Equatable, Sendable {
    public var format = "sshaudit-events"
    public var version = 1
    public var bootToWallNs: Int64
    public var users: [String: String]
    /// sshd listeners found by the start-up scan (pid → executable), seeded before the first event.
    public var listeners: [String: String]
    /// Sessions that were open at the start (the scan), seeded before the first event.
    public var sessions: [SessionSeed]

    public init(bootToWallNs: Int64, users: [String: String] = [:], listeners: [String: String] = [:],
                sessions: [SessionSeed] = []) {
        self.bootToWallNs = bootToWallNs
        self.users = users
        self.listeners = listeners
        self.sessions = sessions
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(Int.self, forKey: .version)
        bootToWallNs = try c.decode(Int64.self, forKey: .bootToWallNs)
        users = try c.decodeIfPresent([String: String].self, forKey: .users) ?? [:]
        listeners = try c.decodeIfPresent([String: String].self, forKey: .listeners) ?? [:]
        sessions = try c.decodeIfPresent([SessionSeed].self, forKey: .sessions) ?? []
    }

    enum CodingKeys: String, CodingKey {
        case format, version, users, listeners, sessions
        case bootToWallNs = "boot_to_wall_ns"
    }
}

public enum EventLogError: Error, CustomStringConvertible {
    case notAnEventLog(String)
    case truncatedRecord(offset: Int)
    case cannotOpen(String, String)
    case unsafe(String, String)
    public var description: String {
        switch self {
        case let .notAnEventLog(why): return "not an sshaudit event log: \(why)"
        case let .truncatedRecord(offset): return "event log ends inside a record at byte \(offset)"
        case let .cannotOpen(path, why): return "cannot open the events log \(path): \(why)"
        case let .unsafe(path, why): return "refusing to use \(path): \(why)"
        }
    }
}

/// Where records were lost: in place of a length, `gapMarker`, then the number of records not logged
/// (u64 little-endian). A kernel record is never that long.
let gapMarker: UInt32 = 0xFFFF_FFFF

/// Writes an event log for `record --events`. The file is 0600 and only its owner may change it, like
/// the database (an existing one that others could read or write is refused, not loosened or fixed:
/// what it held may already have been read, and a descriptor opened earlier stays open).
///
/// The log is a by-product: the database is the record. A failed write (disk full) never stops the
/// recorder and never leaves half a record: the file is cut back to its last whole record, the
/// records are dropped and counted, and once the file can be written again a gap marker says how
/// many are missing there. `report` receives one line when writing fails and when it works again.
/// Plain write(2) calls: Foundation's FileHandle.write traps on an I/O error.
public final class EventLogWriter {
    public let path: String
    private var fd: Int32
    private var identity: FileIdentity
    /// The first line of the file (nil until `begin`).
    private var header: [UInt8]?
    /// Bytes of whole records (and the header) in the file: the next write goes there.
    private var offset = 0
    private var buffer: [UInt8] = []
    private var bufferedRecords: UInt64 = 0
    private var notLogged: UInt64 = 0
    /// Why writing fails, while it does (reported once).
    private var failure: String?
    private let report: (String) -> Void

    /// Opens the file (checked, created 0600); nothing is written before `begin`.
    public init(path: String, report: @escaping (String) -> Void) throws {
        self.path = path
        self.report = report
        (fd, identity) = try Self.open(path)
    }

    /// Replaces what the file held (a log of an earlier run) with `header`, at once: the file is a
    /// valid log from the start.
    public func begin(header: EventLogHeader) {
        self.header = Self.encode(header)
        ftruncate(fd, 0)
        offset = 0
        flush()
    }

    deinit { Glibc.close(fd) }

    public func append(_ record: UnsafeRawBufferPointer) {
        var len = UInt32(record.count).littleEndian
        withUnsafeBytes(of: &len) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: record)
        bufferedRecords += 1
        if buffer.count > 1 << 20 { flush() }
    }

    /// Writes what is buffered (and the header or a gap marker still owed).
    public func flush() {
        guard let header, offset == 0 || notLogged > 0 || !buffer.isEmpty else { return }
        var out: [UInt8] = []
        if offset == 0 { out += header }
        if notLogged > 0 {
            var marker = gapMarker.littleEndian
            var count = notLogged.littleEndian
            withUnsafeBytes(of: &marker) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: &count) { out.append(contentsOf: $0) }
        }
        out += buffer
        if let error = write(out) {
            ftruncate(fd, off_t(offset))  // no partial record stays behind
            notLogged += bufferedRecords
            if failure == nil {
                report("cannot write the events log \(path): \(error); recording to the database goes on (the database "
                       + "is the record); the records not logged are counted and marked in the log once it can be written again")
            }
            failure = error
        } else {
            offset += out.count
            if failure != nil {
                report("writing the events log \(path) again; \(notLogged) record(s) were not logged, marked there as a gap")
            }
            failure = nil
            notLogged = 0
        }
        buffer.removeAll(keepingCapacity: true)
        bufferedRecords = 0
    }

    /// Log rotation (SIGHUP). If the path names another file now (this one was moved away), the log
    /// goes on in a file there, starting with `header`. If it still names this file, nothing changes,
    /// unless the file was cut short (copytruncate): then it starts again with `header`.
    public func reopen(header: EventLogHeader) throws {
        flush()
        let (newFD, newIdentity) = try Self.open(path)
        if newIdentity == identity {
            Glibc.close(newFD)
            var st = stat()
            guard fstat(fd, &st) == 0, Int(st.st_size) < offset else { return }
        } else {
            ftruncate(newFD, 0)
            Glibc.close(fd)
            (fd, identity) = (newFD, newIdentity)
        }
        self.header = Self.encode(header)
        offset = 0
        flush()
    }

    public func close() {
        flush()
        Glibc.close(fd)
        fd = -1
    }

    /// Writes all of `bytes` at `offset`; the error, if that fails.
    private func write(_ bytes: [UInt8]) -> String? {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            done += n
        }
        return nil
    }

    static func encode(_ header: EventLogHeader) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Strings and integers only: encoding cannot fail.
        return Array((try? encoder.encode(header)) ?? Data("{}".utf8)) + [0x0A]
    }

    /// Opens (creating 0600) the file at `path` for writing: never through a symbolic link, only a
    /// regular file, and only one that `PathSafety` finds private, in a directory it finds safe.
    static func open(_ path: String) throws -> (Int32, FileIdentity) {
        let dir = (path as NSString).deletingLastPathComponent
        if let why = PathSafety.problem(dir.isEmpty ? "." : dir) { throw EventLogError.unsafe(dir.isEmpty ? "." : dir, why) }
        var st = stat()
        if lstat(path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw EventLogError.unsafe(path, st.st_mode & S_IFMT == S_IFLNK ? "is a symbolic link" : "not a regular file")
        }
        // O_NONBLOCK: a FIFO put there in between must not block the open (it is refused below).
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw EventLogError.cannotOpen(path, errno == ELOOP ? "is a symbolic link" : String(cString: strerror(errno)))
        }
        guard fstat(fd, &st) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw EventLogError.cannotOpen(path, why)
        }
        if let why = st.st_mode & S_IFMT != S_IFREG ? "not a regular file" : PathSafety.problem(of: st, private: true) {
            Glibc.close(fd)
            throw EventLogError.unsafe(path, why)
        }
        return (fd, FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
    }
}

/// A whole event log in memory (tests, fixtures); `EventLogStream` reads one without holding it.
public struct EventLog {
    public var header: EventLogHeader
    /// Raw kernel records, in order.
    public var records: [[UInt8]]

    public init(contentsOf url: URL) throws {
        let stream = try EventLogStream(path: url.path)
        var records: [[UInt8]] = []
        try stream.forEach { records.append([UInt8]($0)) }
        header = stream.header
        self.records = records
    }

    public func events() throws -> [Event] {
        try records.map { try EventDecoder.decode($0) }
    }
}

extension Correlator {
    /// A correlator set up as the recorder was when it wrote `log`: same clock offset, same user
    /// names, same seeded listeners.
    public static func replaying(_ log: EventLog, firstIDs: RowIDs = RowIDs(), bounds: CorrelatorBounds = CorrelatorBounds(),
                                 sink: @escaping (CorrelatorOutput) -> Void) -> Correlator {
        replaying(log.header, firstIDs: firstIDs, bounds: bounds, sink: sink)
    }

    public static func replaying(_ header: EventLogHeader, firstIDs: RowIDs = RowIDs(),
                                 bounds: CorrelatorBounds = CorrelatorBounds(),
                                 sink: @escaping (CorrelatorOutput) -> Void) -> Correlator {
        let users = header.users
        let correlator = Correlator(bootToWallNs: header.bootToWallNs, firstIDs: firstIDs, bounds: bounds,
                                    userName: { users[String($0)] }, sink: sink)
        for (pid, path) in header.listeners.sorted(by: { $0.key < $1.key }) {
            if let pid = UInt32(pid) { correlator.seedListener(pid: pid, path: path.isEmpty ? nil : path) }
        }
        for session in header.sessions { correlator.seedSession(session) }
        return correlator
    }
}

/// An event log read front to back with a quarter MiB of it in memory at a time (replaying a large log
/// must not cost its size in memory).
public final class EventLogStream {
    public let header: EventLogHeader
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var at = 0
    private var offset = 0
    private static let chunk = 256 << 10

    public init(path: String) throws {
        handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        var line: [UInt8] = []
        while true {
            guard let data = try handle.read(upToCount: 64 << 10), !data.isEmpty else {
                throw EventLogError.notAnEventLog("no header line")
            }
            if let newline = data.firstIndex(of: 0x0A) {
                line += data[data.startIndex..<newline]
                buffer = [UInt8](data[(newline + 1)...])
                offset = line.count + 1
                break
            }
            line += data
            if line.count > 64 << 20 { throw EventLogError.notAnEventLog("no header line") }
        }
        do {
            header = try JSONDecoder().decode(EventLogHeader.self, from: Data(line))
        } catch {
            throw EventLogError.notAnEventLog("bad header")
        }
        guard header.format == "sshaudit-events", header.version == 1 else {
            throw EventLogError.notAnEventLog("format \(header.format) version \(header.version)")
        }
    }

    /// Records the recorder could not write into this file (a full disk), by gap markers.
    public private(set) var recordsNotLogged: UInt64 = 0

    /// Hands each record to `body` in order (valid only during the call), and the number of records
    /// missing at each gap to `gap`; returns how many records were handed.
    @discardableResult
    public func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void,
                        gap: (UInt64) -> Void = { _ in }) throws -> Int {
        var count = 0
        while true {
            while buffer.count - at >= 4 {
                let len = Int(buffer[at]) | Int(buffer[at + 1]) << 8 | Int(buffer[at + 2]) << 16 | Int(buffer[at + 3]) << 24
                if len == Int(gapMarker) {
                    guard buffer.count - at - 4 >= 8 else { break }
                    let missing = (0..<8).reduce(UInt64(0)) { $0 | UInt64(buffer[at + 4 + $1]) << (8 * UInt64($1)) }
                    recordsNotLogged += missing
                    gap(missing)
                    at += 12
                    continue
                }
                guard buffer.count - at - 4 >= len else { break }
                try buffer.withUnsafeBytes { raw in
                    try body(UnsafeRawBufferPointer(rebasing: raw[(at + 4)..<(at + 4 + len)]))
                }
                at += 4 + len
                count += 1
            }
            // Keep the partial record, then read more.
            offset += at
            buffer.removeFirst(at)
            at = 0
            guard let data = try handle.read(upToCount: Self.chunk), !data.isEmpty else { break }
            buffer += data
        }
        if !buffer.isEmpty { throw EventLogError.truncatedRecord(offset: offset) }
        try handle.close()
        return count
    }
}
