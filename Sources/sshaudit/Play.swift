import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditRecorder
import SSHAuditStore

/// `play`: a session's terminal recording, replayed. The only output where recorded control sequences
/// reach the terminal as they are: the admin asked to see the session as its user saw it.
struct Play: ParsableCommand, UsesDatabase {
    static let configuration = CommandConfiguration(
        abstract: "Replay a session's terminal recording (record --tty) with its timing, or write it as asciicast v2.",
        discussion: """
            The recorded bytes are written as they are, control sequences included: play them in a terminal
            you trust with them. Input (record --tty all) is not replayed, only written to --asciicast as
            "i" events. Missing or cut parts are reported on stderr.
            """)

    @Argument(help: "Session id (the ID column of `sshaudit query sessions`).")
    var sessionID: Int64

    @OptionGroup var database: DatabaseOption

    @Option(help: "Play N times faster (0.5: twice as slow).")
    var speed: Double = 1

    @Flag(help: "Print everything at once, without the original timing.")
    var instant = false

    @Flag(help: "Write asciicast v2 (asciinema's format) instead of playing.")
    var asciicast = false

    func validate() throws {
        guard speed.isFinite, speed > 0 else { throw ValidationError("--speed must be a positive number") }
    }

    func run() throws {
        let reader = try AuditReader(path: db)
        guard try reader.sessionExists(sessionID) else { throw CLIError("no session \(sessionID) in \(db)") }
        guard let recording = try reader.ttyRecording(session: sessionID) else {
            throw CLIError("session \(sessionID) has no terminal recording (record --tty was off, or it showed nothing)")
        }
        for problem in recording.problems { warn("session \(sessionID): \(problem)") }
        if recording.incomplete && recording.problems.isEmpty {
            warn("session \(sessionID): the recording is incomplete: bytes were lost while it was recorded")
        }
        if asciicast {
            Stdout.write(Data(Self.asciicast(recording).utf8))
        } else {
            play(recording)
        }
        if recording.truncated {
            warn("session \(sessionID): the recording stops at the per-session cap (--tty-max); the session went on")
        }
    }

    private func play(_ recording: TTYRecording) {
        var last: Int64?
        for entry in recording.entries {
            guard case let .data(at, stream, bytes) = entry, stream != .input else { continue }
            if !instant, let last, at > last {
                let seconds = Double(at - last) / 1e9 / speed
                if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
            }
            last = at
            Stdout.write(Data(bytes))
        }
    }

    /// asciicast v2: a header line, then one `[seconds, "o"|"i"|"r", text]` line per entry. Text is
    /// UTF-8 decoded per stream across entries (a character split between two reads stays whole);
    /// invalid bytes become U+FFFD.
    static func asciicast(_ recording: TTYRecording) -> String {
        let start = recording.entries.first?.atNs ?? 0
        var cols = 80, rows = 24
        if let first = recording.entries.first(where: { if case .window = $0 { return true } else { return false } }),
           case let .window(_, r, c) = first, r > 0, c > 0 {
            cols = Int(c)
            rows = Int(r)
        }
        let header: [String: Any] = ["version": 2, "width": cols, "height": rows, "timestamp": Int(start / 1_000_000_000)]
        var out = String(decoding: try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), as: UTF8.self) + "\n"
        var carry: [TTYStream: [UInt8]] = [:]
        var seenWindow = false
        for entry in recording.entries {
            let t = String(format: "%.6f", Double(entry.atNs - start) / 1e9)
            switch entry {
            case let .window(_, r, c):
                if !seenWindow { seenWindow = true; continue }  // the header's size
                out += "[\(t), \"r\", \(jsonString("\(c)x\(r)"))]\n"
            case let .data(_, stream, bytes):
                let (text, rest) = utf8Prefix((carry[stream] ?? []) + bytes)
                carry[stream] = rest
                guard !text.isEmpty else { continue }
                out += "[\(t), \"\(stream == .input ? "i" : "o")\", \(jsonString(text))]\n"
            }
        }
        return out
    }

    /// The text of `bytes` up to an incomplete UTF-8 sequence at their end, and that sequence.
    static func utf8Prefix(_ bytes: [UInt8]) -> (String, [UInt8]) {
        guard !bytes.isEmpty else { return ("", []) }
        var cut = bytes.count
        // A lead byte within the last 3 whose sequence runs past the end: keep it for the next entry.
        for back in 1...min(3, bytes.count) {
            let b = bytes[bytes.count - back]
            if b & 0xC0 == 0x80 { continue }  // continuation byte
            let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if need > back { cut = bytes.count - back }
            break
        }
        return (String(decoding: bytes[..<cut], as: UTF8.self), Array(bytes[cut...]))
    }

    static func jsonString(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
