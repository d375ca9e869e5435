import CZlib
import Foundation
import GRDB
import SSHAuditCore

/// Terminal recordings in the store (schema/0022): chunks compressed with zlib, read back whole.
public enum TTYCompression {
    /// zlib's format (RFC 1950), at a fast level: the recorder compresses on its writer thread.
    public static func compress(_ data: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let code = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &size, src.baseAddress, uLong(data.count), 1)
            }
        }
        precondition(code == Z_OK, "compressBound is enough by zlib's contract")
        out.removeSubrange(Int(size)...)
        return out
    }

    /// nil if it is not zlib's format or holds more than `limit` bytes (a stored row is not trusted).
    public static func decompress(_ data: [UInt8], limit: Int = 64 << 20) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = data
        return input.withUnsafeMutableBufferPointer { src -> [UInt8]? in
            stream.next_in = src.baseAddress
            stream.avail_in = uInt(src.count)
            while true {
                let code = chunk.withUnsafeMutableBufferPointer { dst -> Int32 in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(dst.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if out.count > limit { return nil }
                if code == Z_STREAM_END { return out }
                if code != Z_OK || (produced == 0 && stream.avail_in == 0) { return nil }
            }
        }
    }
}

extension AuditStore {
    /// Writes the batch's terminal chunks (before the sessions' rows: a session's last chunk is in the
    /// ledger before its final version).
    static func writeTTYChunks(_ batch: RowBatch, _ db: Database, _ tx: inout WriteContext) throws {
        var chunks: VersionWriter<TTYChunkColumn>?
        for case let .ttyChunk(t) in batch.outputs {
            if chunks == nil { chunks = try VersionWriter(db, TTYChunkColumn.self) }
            let data = TTYCompression.compress(t.data)
            try chunks!.put(db, id: t.id, final: true, &tx) { r in
                r.int(.id, t.id); r.int(.sessionID, t.sessionID); r.int(.seq, t.seq); r.time(.at, t.firstNs)
                r.int(.firstNs, t.firstNs); r.int(.lastNs, t.lastNs); r.int(.bytes, t.bytes)
                r.bool(.truncated, t.truncated); r.bool(.incomplete, t.incomplete); r.blob(.data, data)
            }
        }
    }
}

/// A session's terminal recording as stored: its entries in order, and what is known to be missing.
public struct TTYRecording: Sendable {
    public var entries: [TTYEntry]
    public var chunks: Int
    public var bytes: Int64
    /// The per-session cap was reached.
    public var truncated: Bool
    /// Bytes were lost in the kernel, or a chunk is missing or unreadable.
    public var incomplete: Bool
    /// Why it is incomplete beyond the kernel's losses (a missing or unreadable chunk).
    public var problems: [String]
}

/// What `show` says of a session's recording. JSON: bytes, chunks, incomplete, truncated.
public struct TTYRecordingSummary: Encodable, Equatable, Sendable {
    public var bytes: Int64
    public var chunks: Int64
    public var truncated: Bool
    public var incomplete: Bool
}

extension AuditReader {
    /// The recording of session `id`, nil if it has none.
    public func ttyRecording(session id: Int64) throws -> TTYRecording? {
        guard schema.contains("tty_chunks") else { return nil }
        return try read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT seq, first_ns, bytes, truncated, incomplete, data FROM tty_chunks WHERE session_id = ? ORDER BY seq, id
                """, arguments: [id])
            guard !rows.isEmpty else { return nil }
            var recording = TTYRecording(entries: [], chunks: rows.count, bytes: 0, truncated: false, incomplete: false, problems: [])
            var expected: Int64 = 0
            for row in rows {
                let seq: Int64 = row["seq"]
                if seq != expected {
                    recording.problems.append(seq > expected ? "chunks \(expected)–\(seq - 1) missing" : "chunk \(seq) stored twice")
                }
                expected = seq + 1
                recording.bytes += row["bytes"] as Int64
                recording.truncated = recording.truncated || row["truncated"] as Bool
                recording.incomplete = recording.incomplete || row["incomplete"] as Bool
                let blob = [UInt8]((row["data"] as Data?) ?? Data())
                guard let data = TTYCompression.decompress(blob), let entries = TTYEntry.decode(data, firstNs: row["first_ns"]) else {
                    recording.problems.append("chunk \(seq) unreadable")
                    continue
                }
                recording.entries += entries
            }
            if !recording.problems.isEmpty { recording.incomplete = true }
            return recording
        }
    }

    /// Size and state of session `id`'s recording, nil if it has none.
    public func ttySummary(session id: Int64) throws -> TTYRecordingSummary? {
        guard schema.contains("tty_chunks") else { return nil }
        return try read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, SUM(bytes) AS b, MAX(truncated) AS t, MAX(incomplete) AS i FROM tty_chunks WHERE session_id = ?
                """, arguments: [id]), (row["n"] as Int64) > 0 else { return nil }
            return TTYRecordingSummary(bytes: row["b"], chunks: row["n"], truncated: row["t"], incomplete: row["i"])
        }
    }

    /// Sessions whose recorded output (what was displayed, stdout and stderr; not input) contains
    /// `pattern`, case-sensitively. Every recording is read: a scan, not an index.
    public func sessionsWithTTYOutput(containing pattern: String) throws -> Set<Int64> {
        guard schema.contains("tty_chunks") else { return [] }
        let needle = Array(pattern.utf8)
        let ids = try read { db in try Int64.fetchAll(db, sql: "SELECT DISTINCT session_id FROM tty_chunks") }
        var found: Set<Int64> = []
        for id in ids {
            guard let recording = try ttyRecording(session: id) else { continue }
            var output: [UInt8] = []
            for case let .data(_, stream, bytes) in recording.entries where stream != .input { output += bytes }
            if Self.contains(output, needle) { found.insert(id) }
        }
        return found
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == first && haystack[i..<i + needle.count].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
