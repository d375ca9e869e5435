import Foundation

enum Users {
    static func name(of uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return String(cString: pwd.pw_name)
    }

    /// uid → name for every local user (written into event logs so replays resolve names alike).
    static func all() -> [String: String] {
        var map: [String: String] = [:]
        setpwent()
        while let entry = getpwent() {
            map[String(entry.pointee.pw_uid)] = String(cString: entry.pointee.pw_name)
        }
        endpwent()
        return map
    }
}

/// One recorder per database: a second one would read the same pinned ring buffer. An advisory lock
/// on the database file, held while the process lives (never closed before exit: closing any
/// descriptor of the file would drop SQLite's own locks).
final class RecorderLock {
    let fd: Int32

    init(database: String) throws {
        fd = open(database, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RecorderFailure("cannot open \(database): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw RecorderFailure("another sshaudit record is already writing to \(database)")
        }
    }
}

/// A failure the user can act on, as one sentence.
public struct RecorderFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
