import Foundation
import GRDB
import SSHAuditCore

#if canImport(Glibc)
import Glibc
#endif

/// Paths whose change says most about an intruder (README, "Sensitive paths"): shell-style globs in
/// which `*` also matches `/` (SQLite's GLOB, fnmatch(3) without flags), matched against a row's path
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
        "*/.bashrc", "*/.bash_profile", "*/.bash_login", "*/.bash_logout", "*/.profile", "*/.zshrc", "*/.zshenv",
        "*/.zprofile", "*/.zlogin", "/etc/profile", "/etc/profile.d/*", "/etc/bash.bashrc", "/etc/zsh/*",
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
        return patterns
    }

    public static func matches(_ path: String, _ patterns: [String]) -> Bool {
        patterns.contains { fnmatch($0, path, 0) == 0 }
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

    /// The sensitive test for many rows: the expanded patterns made once.
    public struct Matcher: Sendable {
        public let globs: [String]
        public init(_ patterns: [String]) { globs = SensitivePaths.expanded(patterns) }

        public func matches(_ row: FileActivityRow) -> Bool {
            SensitivePaths.matches(row.path, globs) || (row.newPath.map { SensitivePaths.matches($0, globs) } ?? false)
                || (row.op == "symlink"
                    ? row.newPath.flatMap { SensitivePaths.linkTarget(path: row.path, target: $0) }.map { SensitivePaths.matches($0, globs) } ?? false
                    : false)
        }
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

    /// linkTarget for SQL: `sshaudit_link_target(path, new_path)`, NULL for an absolute target.
    static let linkTargetFunction = DatabaseFunction("sshaudit_link_target", argumentCount: 2, pure: true) { values in
        guard let path = String.fromDatabaseValue(values[0]), let target = String.fromDatabaseValue(values[1]) else { return nil }
        return linkTarget(path: path, target: target)
    }

    /// The same test in SQL, on a query's alias.
    static func clause(_ alias: String, _ patterns: [String]) -> Clause {
        let one = "\(alias).path GLOB p.value OR \(alias).new_path GLOB p.value"
            + " OR (\(alias).op = 'symlink' AND sshaudit_link_target(\(alias).path, \(alias).new_path) GLOB p.value)"
        return Clause("EXISTS (SELECT 1 FROM json_each(?) AS p WHERE \(one))", [jsonArray(expanded(patterns))])
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
        return try read { db in
            var planner = planner(.files, filter, db)
            if let glob = files.path { planner.extra.append(Clause("(fa.path GLOB ? OR fa.new_path GLOB ?)", [glob, glob])) }
            if let op = files.op { planner.extra.append(Clause("fa.op = ?", [op])) }
            if let patterns = files.sensitive { planner.extra.append(SensitivePaths.clause("fa", patterns)) }
            return try planner.rows().map(FileActivityRow.init(row:))
        }
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
