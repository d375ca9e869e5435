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
        var chunks: VersionWriter?
        for case let .ttyChunk(t) in batch.outputs {
            if chunks == nil { chunks = try VersionWriter(db, .ttyChunks) }
            let data = TTYCompression.compress(t.data)
            try chunks!.put(db, id: t.id, final: true, &tx) { r in
                r.int(t.id); r.int(t.sessionID); r.int(t.seq); r.time(t.firstNs); r.int(t.firstNs); r.int(t.lastNs)
                r.int(t.bytes); r.bool(t.truncated); r.bool(t.incomplete); r.blob(data)
            }
        }
    }
}
