import CLibBPF
import CSSHAuditABI
import Foundation

/// The kernel's keyed hash of a counted repeat's names (bpf/files.bpf.h: seen_mix, seen_names_hash)
/// and what an attacker would need to beat it: the secret it is seeded with, which root reads here
/// from a recorder's pinned `config`, and a second name of the same hash.
enum SeenHash {
    static func secret(of recorder: Recorder) throws -> UInt64 {
        let fd = bpf_obj_get(recorder.pinDirectory + "/config")
        guard fd >= 0 else { throw TestFailure("the recorder pins no config") }
        defer { close(fd) }
        var zero: UInt32 = 0
        var config = sa_config()
        guard bpf_map_lookup_elem(fd, &zero, &config) == 0, config.seen_secret != 0 else { throw TestFailure("no secret in config") }
        return config.seen_secret
    }

    static func mix(_ h: UInt64, _ v: UInt64) -> UInt64 { let x = (h ^ v) &* 0x9E37_79B9_7F4A_7C15; return x ^ (x >> 31) }
    static func word(_ b: ArraySlice<UInt8>) -> UInt64 { b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
    static func bytes(_ w: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }

    /// The hash state after `state` took `name`'s 8-byte words, then zero words up to `words`.
    static func hash(_ name: [UInt8], after state: UInt64, words: Int) -> UInt64 {
        (0..<words).map { $0 * 8 < name.count ? word(name[($0 * 8)..<min($0 * 8 + 8, name.count)]) : 0 }.reduce(state) { mix($0, $1) }
    }

    /// Another 16-byte name of `first`'s hash from hash state `state` (the rest of both names zeros):
    /// its first word random (after `first`'s first `keep` bytes), its second word the one that makes
    /// the mix's input equal, tried until that is letters and digits.
    static func collision(with first: [UInt8], after state: UInt64, keep: Int = 0) -> [UInt8]? {
        let target = mix(state, word(first[0..<8])) ^ word(first[8..<16])
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        func printable(_ b: [UInt8]) -> Bool { b.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) } }
        for _ in 0..<2_000_000 {
            let head = Array(first[0..<keep]) + (keep..<8).map { _ in alphabet.randomElement()! }
            let tail = bytes(target ^ mix(state, word(head[...])))
            if printable(tail) { return head + tail }
        }
        return nil
    }
}
