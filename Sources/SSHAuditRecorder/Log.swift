import Foundation

/// The one place the recorder's own messages (and the CLI's) leave the process: a line on stderr.
///
/// Under systemd with stderr connected to the journal (`JOURNAL_STREAM` names stderr's device and
/// inode), each line starts with an sd-daemon priority prefix ("<4>"), which journald turns into the
/// entry's priority and strips; anywhere else the line is printed as it is. A hand-written writer
/// rather than swift-log: one destination and four levels need no logging framework, and plain
/// write(2) never traps when the disk is full (FileHandle.write does).
public enum Log {
    /// syslog(3) priorities.
    public enum Level: Int, Sendable {
        case error = 3, warning = 4, notice = 5, info = 6
    }

    /// Whether stderr is the journal's stream, decided once.
    static let toJournal: Bool = {
        guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        return isStream(stream, fd: 2)
    }()

    /// `JOURNAL_STREAM` is "DEVICE:INODE" of the stream journald gave the service; a descriptor that
    /// was redirected elsewhere since (a child's stderr to a file) must not get prefixes.
    static func isStream(_ value: String, fd: Int32) -> Bool {
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }

    /// The line as written: each of its lines prefixed with the priority when going to the journal.
    static func formatted(_ text: String, level: Level, journal: Bool) -> String {
        guard journal else { return text + "\n" }
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { "<\(level.rawValue)>\($0)\n" }.joined()
    }

    public static func line(_ text: String, level: Level = .info) {
        _ = writeAll(2, Array(formatted(text, level: level, journal: toJournal).utf8))
    }
}

/// A message of the recorder or the CLI about something the user may want to act on.
public func warn(_ message: String) {
    Log.line("sshaudit: \(message)", level: .warning)
}

/// Output with plain write(2): FileHandle.write traps when the write fails (stdout or stderr may be a
/// file on the disk that just filled up), and a message must never crash the recorder.
public enum Stderr {
    /// Callers render recorded text themselves; error messages go through `SSHAudit.fail`.
    public static func line(_ text: String, level: Log.Level = .info) {
        Log.line(text, level: level)
    }
}

/// Writes all of `bytes` to `fd`; the errno of a failed write, or nil.
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return errno }
        if n == 0 { return EIO }
        done += n
    }
    return nil
}
