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
    public var description: String {
        switch self {
        case let .notAnEventLog(why): return "not an sshaudit event log: \(why)"
        case let .truncatedRecord(offset): return "event log ends inside a record at byte \(offset)"
        }
    }
}

public final class EventLogWriter {
    private let handle: FileHandle
    private var buffer = Data()

    public init(path: String, header: EventLogHeader) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        buffer.append(try encoder.encode(header))
        buffer.append(0x0A)
    }

    public func append(_ record: UnsafeRawBufferPointer) {
        var len = UInt32(record.count).littleEndian
        withUnsafeBytes(of: &len) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: record)
        if buffer.count > 1 << 20 { flush() }
    }

    public func close() throws {
        flush()
        try handle.close()
    }

    public func flush() {
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
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

    /// Hands each record to `body` in order (valid only during the call); returns how many.
    @discardableResult
    public func forEach(_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var count = 0
        while true {
            while buffer.count - at >= 4 {
                let len = Int(buffer[at]) | Int(buffer[at + 1]) << 8 | Int(buffer[at + 2]) << 16 | Int(buffer[at + 3]) << 24
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
