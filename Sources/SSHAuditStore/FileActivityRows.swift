import Foundation
import GRDB
import SSHAuditCore

#if canImport(Glibc)
import Glibc
#endif

/// Paths whose change says most about an intruder (README, "Sensitive paths"): shell-style globs in
/// which `*` also matches `/` (fnmatch(3) without flags), matched against a row's path
/// and new path. The list is configurable: a file of patterns, one a line (`#` starts a comment).
public enum SensitivePaths {
    public static let defaults: [String] = [
        "*/.ssh/authorized_keys*",
        "/etc/passwd", "/etc/passwd-", "/etc/shadow", "/etc/shadow-", "/etc/group", "/etc/gshadow",
        "/etc/sudoers", "/etc/sudoers.d", "/etc/sudoers.d/*",
        "/etc/crontab", "/etc/cron.*", "/etc/cron.*/*", "/var/spool/cron", "/var/spool/cron/*",
        "/etc/systemd/system/*", "/etc/systemd/user/*", "/usr/lib/systemd/system/*", "/lib/systemd/system/*",
        "/run/systemd/system/*", "*/.config/systemd/user/*",
        "/etc/ld.so.preload",
        "*/.bashrc", "*/.bash_profile", "*/.bash_login", "*/.bash_logout", "*/.bash_aliases", "*/.profile", "*/.zshrc",
        "*/.zshenv", "*/.zprofile", "*/.zlogin", "/etc/profile", "/etc/profile.d/*", "/etc/bash.bashrc", "/etc/zsh/*",
        "/etc/environment",
        // What sshd itself runs or reads at a login: a user's rc and environment, the host's.
        "*/.ssh/rc", "*/.ssh/environment", "/etc/ssh/sshrc", "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/*",
        "/etc/pam.d/*", "/etc/ld.so.conf", "/etc/ld.so.conf.d/*",
        "/usr/lib/systemd/user/*", "/var/run/systemd/system/*",  // /var/run: /run by another name
        "/root", "/root/*",
    ]

    /// Read when no other file is named, if it exists.
    public static let defaultFile = "/etc/sshaudit/sensitive-paths"

    /// The patterns in effect: those of `file`, else of `defaultFile` if it exists, else `defaults`.
    public static func load(_ file: String?) throws -> [String] {
        guard let path = file ?? (FileManager.default.fileExists(atPath: defaultFile) ? defaultFile : nil) else {
            return defaults
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw QueryError.unreadable(path, "not a readable UTF-8 file")
        }
        let patterns = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if patterns.isEmpty { throw QueryError.unreadable(path, "no patterns in it") }
        // Stored paths are absolute, never end in "/" and hold no comment: such a line would match
        // nothing, silently.
        if let bad = patterns.first(where: { !($0.hasPrefix("/") || $0.hasPrefix("*")) || ($0.count > 1 && $0.hasSuffix("/")) || $0.contains(" #") }) {
            throw QueryError.unreadable(path, "\"\(VisibleText.render(bad))\" can never match a stored path: a pattern starts with / or *, "
                                        + "does not end with /, and a comment takes a line of its own")
        }
        return patterns
    }

    /// Whether a row is sensitive (a Matcher made for one row; make one for many).
    public static func matches(_ row: FileActivityRow, _ patterns: [String]) -> Bool {
        Matcher(patterns).matches(row)
    }

    /// The patterns, and the directories on the way to what they name: a pattern's text up to each
    /// `/` that holds more than wildcards (`/etc/cron.d/*`: `/etc`, `/etc/cron.d`; `*/.ssh/authorized_keys*`:
    /// `*/.ssh`). Renaming ~/.ssh aside and another directory in its place, or mounting over /etc,
    /// changes every file below at once: such a row is sensitive too.
    public static func expanded(_ patterns: [String]) -> [String] {
        var out: [String] = [], seen = Set<String>()
        for pattern in patterns {
            var ends = pattern.indices.filter { pattern[$0] == "/" && $0 != pattern.startIndex }.map { pattern[..<$0] }
            ends.append(pattern[...])
            for glob in ends where glob.contains(where: { !"*?/".contains($0) }) && seen.insert(String(glob)).inserted {
                out.append(String(glob))
            }
        }
        return out
    }

    /// The sensitive test for many rows: the expanded patterns made once. A report or `--sensitive`
    /// runs it on every file row of a period (tens of thousands), so each glob keeps the literal text
    /// a path must start and end with to match it: most paths are turned down by comparing bytes,
    /// and fnmatch(3) runs only on the rest.
    public struct Matcher: Sendable {
        public let globs: [String]
        private let compiled: [Glob]
        public init(_ patterns: [String]) {
            globs = SensitivePaths.expanded(patterns)
            compiled = globs.map(Glob.init)
        }

        struct Glob: Sendable {
            /// NUL-terminated, for fnmatch.
            let pattern: [CChar]
            /// The bytes before the first and after the last of `* ? [ ] \`: fnmatch without flags
            /// matches them literally at the path's start and end.
            let prefix: [UInt8], suffix: [UInt8]
            init(_ glob: String) {
                let bytes = Array(glob.utf8)
                let special: Set<UInt8> = [UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\\")]
                prefix = Array(bytes.prefix { !special.contains($0) })
                suffix = Array(bytes.reversed().prefix { !special.contains($0) }.reversed())
                pattern = bytes.map { CChar(bitPattern: $0) } + [0]
            }
        }

        /// A path of the row (`paths(of:)`) matches a pattern or a directory on the way to one, or
        /// its place is unknown (`unknownPlace`), or it is a symlink or mount to the root itself.
        public func matches(_ row: FileActivityRow) -> Bool {
            let linksOrMounts = row.op == "symlink" || row.op == "mount" || row.op == "remount"
            return SensitivePaths.paths(of: row).contains {
                SensitivePaths.unknownPlace($0) || ($0 == "/" && linksOrMounts) || matchesGlob($0)
            }
        }

        /// What `SensitivePaths.matches(path, globs)` answers.
        func matchesGlob(_ path: String) -> Bool {
            let bytes = Array(path.utf8)
            var cPath: [CChar]?
            for glob in compiled where bytes.starts(with: glob.prefix) && bytes.reversed().starts(with: glob.suffix.reversed()) {
                if cPath == nil { cPath = bytes.map { CChar(bitPattern: $0) } + [0] }
                if fnmatch(glob.pattern, cPath!, 0) == 0 { return true }
            }
            return false
        }
    }

    /// The paths a row names, as they are matched: its path, and its new path where that is a place
    /// (a rename's or link's destination, a symlink's target, a mount's source; not an attribute's
    /// name). A relative symlink target is read from the link's directory (`linkTarget`); every
    /// absolute one is resolved lexically, as the kernel reads `/etc//cron.d` or `/tmp/../etc`
    /// (the kernel resolved the rest already, or user space did for a call by name).
    public static func paths(of row: FileActivityRow) -> [String] {
        var paths = [row.path]
        if let new = row.newPath, !["setxattr", "removexattr", "setflags"].contains(row.op) {
            paths.append(new)
            if row.op == "symlink", let target = linkTarget(path: row.path, target: new) { paths.append(target) }
        }
        return paths.map { $0.hasPrefix("/") && !isLexical($0) ? FilePath.lexical([], $0) : $0 }
    }

    /// Whether an absolute path is already as `FilePath.lexical` gives it: no empty, `.` or `..`
    /// component and no `/` at the end (most stored paths: the kernel resolved them).
    static func isLexical(_ path: String) -> Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        var component = 0, dots = 0, first = true
        for byte in path.utf8 {
            if byte == slash {
                if !first && (component == 0 || component == dots && dots <= 2) { return false }
                first = false
                (component, dots) = (0, 0)
            } else {
                component += 1
                if byte == dot { dots += 1 }
            }
        }
        return path == "/" || !(component == 0 || component == dots && dots <= 2)
    }

    /// Whether a path's real place is unknown: cut short by the kernel's bounds (a "…" mark: a name
    /// longer than 511 bytes, a directory deeper than 32 levels, `FilePath.join`), or named through one
    /// of the kernel's own links, which resolve to another directory or file whatever the text says
    /// (`/proc/self/root/etc/cron.d/job`, `/proc/PID/cwd/…`, `/dev/fd/3/authorized_keys` for a
    /// directory open on descriptor 3). Such a path could be any file: it is shown as sensitive.
    public static func unknownPlace(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        if contains(bytes, Array("…".utf8)) { return true }
        // Only /proc and /dev paths (in any spelling) need their components read.
        guard contains(bytes, Array("proc".utf8)) || contains(bytes, Array("dev".utf8)) else { return false }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard path.hasPrefix("/"), let first = parts.first else { return false }
        if first == "dev" {
            return parts.count > 1 && ["fd", "stdin", "stdout", "stderr"].contains(parts[1])
        }
        guard first == "proc", parts.count > 2, parts[1] == "self" || parts[1] == "thread-self" || parts[1].allSatisfy(\.isNumber) else {
            return false
        }
        let links: Set<Substring> = ["root", "cwd", "fd", "exe", "map_files"]
        if links.contains(parts[2]) { return true }
        // /proc/PID/task/TID/root …
        return parts[2] == "task" && parts.count > 4 && links.contains(parts[4])
    }

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// For a store that narrows by regular expressions first (the central one): a path Matcher may
    /// flag whatever the patterns, or read differently from its text (unknownPlace; a `//`, `.` or
    /// `..` component).
    public static let closerLook = "…|//|/\\.\\.?(/|$)|^/proc/|^/dev/"

    public static func matches(_ path: String, _ patterns: [String]) -> Bool {
        patterns.contains { fnmatch($0, path, 0) == 0 }
    }

    /// A `--path` glob: the path or the new path, as the SQL filter has it.
    public static func matchesGlob(_ row: FileActivityRow, _ glob: String) -> Bool {
        matches(row.path, [glob]) || (row.newPath.map { matches($0, [glob]) } ?? false)
    }

    /// Where a symlink's relative target points, read from the link's directory as the text goes
    /// (`/tmp/a/l` → `../../etc/shadow` is /etc/shadow; a symlink on the way is not followed), so that
    /// a link made to a sensitive file is sensitive too, as one with an absolute target is by its new
    /// path. nil for an absolute target.
    public static func linkTarget(path: String, target: String) -> String? {
        guard !target.hasPrefix("/"), let slash = path.lastIndex(of: "/") else { return nil }
        return FilePath.lexical(path[..<slash].split(separator: "/", omittingEmptySubsequences: true), target)
    }

    /// The same test in SQL: `sshaudit_sensitive(op, path, new_path, PATTERNS)`, PATTERNS a JSON array
    /// of patterns, is Matcher's own answer, so that `--sensitive` and the report select exactly the
    /// rows `show` marks (SQLite's GLOB differs from fnmatch(3) on bracket expressions and escapes).
    static let sensitiveFunction = DatabaseFunction("sshaudit_sensitive", argumentCount: 4, pure: true) { values in
        guard let op = String.fromDatabaseValue(values[0]), let path = String.fromDatabaseValue(values[1]),
              let patterns = String.fromDatabaseValue(values[3]) else { return false }
        let row = FileActivityRow(id: 0, sessionID: 0, commandID: nil, pid: 0, uid: 0, op: op, path: path,
                                  newPath: String.fromDatabaseValue(values[2]), firstAt: "", lastAt: "", count: 0, host: nil)
        return matchers.matcher(for: patterns).matches(row)
    }

    /// The Matcher of each pattern list the SQL function was given (one or two per process). A query
    /// passes the same list for every row: it is compared with the last one (bytes) before any hashing.
    private static let matchers = MatcherCache()
    private final class MatcherCache: @unchecked Sendable {
        private let lock = NSLock()
        private var byJSON: [String: Matcher] = [:]
        private var last: (json: String, matcher: Matcher)?
        func matcher(for json: String) -> Matcher {
            lock.lock()
            defer { lock.unlock() }
            if let last, last.json == json { return last.matcher }
            if let known = byJSON[json] {
                last = (json, known)
                return known
            }
            let patterns = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String] ?? []
            let made = Matcher(patterns)
            byJSON[json] = made
            last = (json, made)
            return made
        }
    }

    /// The same test in SQL, on a query's alias.
    static func clause(_ alias: String, _ patterns: [String]) -> Clause {
        Clause("sshaudit_sensitive(\(alias).op, \(alias).path, \(alias).new_path, ?)", [jsonArray(patterns)])
    }
}

/// What `query files` selects besides the usual filters.
public struct FileActivityFilter: Sendable {
    /// A glob on the path or the new path.
    public var path: String?
    public var op: String?
    /// Only rows matching these patterns (`SensitivePaths`).
    public var sensitive: [String]?
    public init(path: String? = nil, op: String? = nil, sensitive: [String]? = nil) {
        self.path = path
        self.op = op
        self.sensitive = sensitive
    }
}

extension AuditReader {
    /// File activity of sessions (empty on a database without the table).
    public func fileActivity(_ filter: QueryFilter, _ files: FileActivityFilter = FileActivityFilter()) throws -> [FileActivityRow] {
        guard schema.contains("file_activity") else { return [] }
        return try read { db in try filesPlanner(filter, files, db).rows().map(FileActivityRow.init(row:)) }
    }

    private func filesPlanner(_ filter: QueryFilter, _ files: FileActivityFilter, _ db: Database) -> QueryPlanner {
        var planner = planner(.files, filter, db)
        if let glob = files.path { planner.extra.append(Clause("(fa.path GLOB ? OR fa.new_path GLOB ?)", [glob, glob])) }
        if let op = files.op { planner.extra.append(Clause("fa.op = ?", [op])) }
        if let patterns = files.sensitive { planner.extra.append(SensitivePaths.clause("fa", patterns)) }
        return planner
    }

    /// How many rows fileActivity(filter, files) gives without its limit (the report's "N of M").
    public func fileActivityCount(_ filter: QueryFilter, _ files: FileActivityFilter) throws -> Int {
        guard schema.contains("file_activity") else { return 0 }
        return try read { db in try filesPlanner(filter, files, db).count() }
    }

    /// A session's file activity, oldest first (for `show` and `report`).
    public func fileActivity(session id: Int64) throws -> [FileActivityRow] {
        try fileActivity(QueryFilter(sessionID: id))
    }
}

/// A row of file_activity: changes of one kind to one path by one process.
public struct FileActivityRow: Codable, Equatable, Sendable, FetchableRecord, TableRow {
    public static let table = "file_activity"
    public var id: Int64
    public var sessionID: Int64
    @Nullable public var commandID: Int64?
    public var pid: Int64
    public var uid: Int64
    public var op: String
    public var path: String
    @Nullable public var newPath: String?
    public var firstAt: String
    public var lastAt: String
    public var count: Int64
    /// In a fleet report (`report --central`): the host of the row; absent from a host's own output.
    public var host: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, pid, uid, op, path, count, host
        case sessionID = "session_id", commandID = "command_id", newPath = "new_path", firstAt = "first_at", lastAt = "last_at"
    }

    static var leftOutWhenAbsent: Set<String> { ["host"] }
}
