import CSSHAuditABI
@testable import SSHAuditCore

/// Kernel records for the tests, built from the C declarations the kernel programs are compiled with
/// (bpf/events.h, through CSSHAuditABI): like the decoder, the tests have no layout of their own.
enum KernelRecord {
    static func header(_ type: UInt32, tgid: UInt32 = 100, ppid: UInt32 = 1, uid: UInt32 = 0, ts: UInt64 = 5_000,
                       start: UInt64 = 42, comm: String = "sshd") -> sa_header {
        var h = sa_header()
        h.type = type
        h.tgid = tgid
        h.ppid = ppid
        h.uid = uid
        h.ts_ns = ts
        h.start_ns = start
        put(Array(comm.utf8.prefix(Int(SA_COMM_LEN) - 1)), into: &h.comm)
        return h
    }

    /// Copies `bytes` into a fixed-size C array field, cut to its size.
    static func put<Field>(_ bytes: [UInt8], into field: inout Field) {
        withUnsafeMutableBytes(of: &field) { raw in
            for (i, byte) in bytes.prefix(raw.count).enumerated() { raw[i] = byte }
        }
    }

    static func put<Field>(_ text: String, into field: inout Field) { put(Array(text.utf8), into: &field) }

    /// The first `size` bytes of `record` (what the kernel sends of it; all by default), then `tail`.
    static func bytes<R>(_ record: R, size: Int? = nil, tail: [UInt8] = []) -> [UInt8] {
        var record = record
        return withUnsafeBytes(of: &record) { Array($0.prefix(size ?? $0.count)) } + tail
    }
}
