import CSSHAuditABI

/// Terminal recording (`record --tty`): what a session's terminal showed (and, with `all`, what was
/// typed), kept per session as numbered chunks.
///
/// A chunk's `data` is a sequence of entries, each starting with its kind byte:
/// - 1…4 (`TTYStream`): a LEB128 time delta (ns since the previous entry, the first since the
///   chunk's `firstNs`), a LEB128 byte count, the bytes;
/// - 5 (window size): a time delta, rows, columns (LEB128 each).
/// The chunk's first entry's time is `firstNs` (wall ns) in the row. The store compresses `data`.
public enum TTYStream: UInt8, Sendable, Codable {
    /// Read from the pty master: what the client's terminal displayed, echo included.
    case output = 1
    /// A session without a pty: its command's stdout …
    case stdout = 2
    /// … and stderr.
    case stderr = 3
    /// Written to the pty master or the command's stdin: the client's keystrokes (record --tty all).
    case input = 4
}

public enum TTYMode: String, Sendable, CaseIterable {
    case off, output, all
    /// SA_TTY_MODE_* in bpf/events.h (0: off).
    public var kernelValue: UInt32 {
        switch self {
        case .off: return 0
        case .output: return SA_TTY_MODE_OUTPUT
        case .all: return SA_TTY_MODE_ALL
        }
    }
}

/// One stored piece of a session's recording: written once, in order (`seq` from 0).
public struct TTYChunkRecord: Equatable, Sendable {
    public var id: Int64
    public var sessionID: Int64
    public var seq: Int64
    public var firstNs: Int64
    public var lastNs: Int64
    /// Recorded bytes in `data` (input included).
    public var bytes: Int64
    public var data: [UInt8]
    /// The per-session cap (`record --tty-max`) was reached: what followed is not recorded.
    public var truncated: Bool
    /// Bytes were lost before this chunk was written (the kernel's ring buffer was full, a read
    /// longer than the kernel's bound): the recording has a gap.
    public var incomplete: Bool
}

/// One decoded entry of a chunk.
public enum TTYEntry: Equatable, Sendable {
    case data(atNs: Int64, stream: TTYStream, bytes: [UInt8])
    case window(atNs: Int64, rows: UInt16, cols: UInt16)

    public var atNs: Int64 {
        switch self {
        case let .data(at, _, _), let .window(at, _, _): return at
        }
    }

    /// Entries of a chunk's `data`; nil if it is malformed.
    public static func decode(_ data: [UInt8], firstNs: Int64) -> [TTYEntry]? {
        var entries: [TTYEntry] = []
        var i = 0
        var at = firstNs
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while i < data.count, shift < 64 {
                let b = data[i]
                i += 1
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while i < data.count {
            let kind = data[i]
            i += 1
            guard let delta = varint(), delta <= UInt64(Int64.max) else { return nil }
            at = at &+ Int64(delta)
            if kind == 5 {
                guard let rows = varint(), let cols = varint(), rows <= 0xffff, cols <= 0xffff else { return nil }
                entries.append(.window(atNs: at, rows: UInt16(rows), cols: UInt16(cols)))
                continue
            }
            guard let stream = TTYStream(rawValue: kind), let n = varint(), n <= UInt64(data.count - i) else { return nil }
            entries.append(.data(atNs: at, stream: stream, bytes: Array(data[i..<i + Int(n)])))
            i += Int(n)
        }
        return entries
    }
}

/// Collects the terminal records of open sessions into chunks, within the per-session cap.
///
/// Chunks are handed out when a session's buffer reaches `chunkBytes`, when all buffers together
/// reach `pendingBytes` (a bound on memory), at each checkpoint (so a checkpoint never holds terminal
/// bytes) and when the session's processes are all gone, before its last row: nothing of a session
/// arrives after its end.
public final class TTYRecorder {
    public var maxBytesPerSession: Int64 = 16 << 20
    public var chunkBytes = 64 << 10
    public var pendingBytes = 8 << 20

    struct Open: Codable {
        var seq: Int64 = 0
        var bytes: Int64 = 0
        var truncated = false
        var truncatedWritten = false
        var incomplete = false
        /// The buffer is not checkpointed: a checkpoint flushes it first.
        var buffer: [UInt8] = []
        var firstNs: Int64 = 0
        var lastNs: Int64 = 0
        var bufferedBytes: Int64 = 0

        enum CodingKeys: String, CodingKey { case seq, bytes, truncated, truncatedWritten, incomplete }
    }

    struct State: Codable {
        var nextID: Int64
        var open: [Int64: Open]
        var orphans: UInt64
    }

    private var nextID: Int64
    private var open: [Int64: Open] = [:]
    private var pending = 0
    /// Terminal records of no open session (a session already ended or given up): counted, never stored.
    public private(set) var orphans: UInt64 = 0
    private let sink: (TTYChunkRecord) -> Void

    init(firstID: Int64, sink: @escaping (TTYChunkRecord) -> Void) {
        self.nextID = firstID
        self.sink = sink
    }

    public func setFirstID(_ id: Int64) { nextID = max(nextID, id) }

    var state: State { State(nextID: nextID, open: open, orphans: orphans) }

    func restore(_ state: State) {
        nextID = state.nextID
        open = state.open
        orphans = state.orphans
        pending = 0
    }

    func noteOrphan() { orphans += 1 }

    /// The kernel lost terminal bytes (or any records): every open recording may have a gap.
    func noteLoss() {
        for id in open.keys { open[id]?.incomplete = true }
    }

    func append(session id: Int64, atNs: Int64, stream: TTYStream, bytes: [UInt8], cut: Bool, capped: Bool = false) {
        var s = open[id] ?? Open()
        if cut { s.incomplete = true }
        if capped { s.truncated = true }  // the kernel's own count reached the cap
        var take = bytes[...]
        let room = maxBytesPerSession - s.bytes
        if Int64(take.count) > room {
            take = take.prefix(Int(max(0, room)))
            s.truncated = true
        }
        if !take.isEmpty {
            s.bytes += Int64(take.count)
            s.bufferedBytes += Int64(take.count)
            entry(&s, kind: stream.rawValue, atNs: atNs)
            Self.varint(UInt64(take.count), into: &s.buffer)
            s.buffer.append(contentsOf: take)
            pending += take.count
        }
        open[id] = s
        if s.buffer.count >= chunkBytes || (s.truncated && !s.truncatedWritten) { flush(id) }
        if pending >= pendingBytes { flushAll() }
    }

    func window(session id: Int64, atNs: Int64, rows: UInt16, cols: UInt16) {
        var s = open[id] ?? Open()
        guard !s.truncated else { return }
        entry(&s, kind: 5, atNs: atNs)
        Self.varint(UInt64(rows), into: &s.buffer)
        Self.varint(UInt64(cols), into: &s.buffer)
        open[id] = s
    }

    private func entry(_ s: inout Open, kind: UInt8, atNs: Int64) {
        if s.buffer.isEmpty { s.firstNs = atNs; s.lastNs = atNs }
        let at = max(atNs, s.lastNs)  // CPUs' clocks: never backwards within a recording
        s.buffer.append(kind)
        Self.varint(UInt64(at - s.lastNs), into: &s.buffer)
        s.lastNs = at
    }

    /// Hands out the session's buffered entries as a chunk (and the truncation, once).
    func flush(_ id: Int64) {
        guard var s = open[id], !s.buffer.isEmpty || (s.truncated && !s.truncatedWritten) else { return }
        let chunk = TTYChunkRecord(id: nextID, sessionID: id, seq: s.seq, firstNs: s.firstNs, lastNs: s.lastNs,
                                   bytes: s.bufferedBytes, data: s.buffer, truncated: s.truncated,
                                   incomplete: s.incomplete)
        nextID += 1
        pending -= Int(s.bufferedBytes)
        s.seq += 1
        s.buffer = []
        s.bufferedBytes = 0
        if s.truncated { s.truncatedWritten = true }
        open[id] = s
        sink(chunk)
    }

    public func flushAll() {
        for id in open.keys.sorted() { flush(id) }
        pending = 0
    }

    /// The session is over: its last chunk now, before its final row.
    func finish(_ id: Int64) {
        flush(id)
        open.removeValue(forKey: id)
    }

    static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
