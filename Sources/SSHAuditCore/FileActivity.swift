import Foundation

/// File activity of a session's processes (bpf/files.bpf.h): what the kernel reports, and the rows
/// the correlator aggregates from it, one per (process, command, operation, path, new path).

public enum FileOperation: String, Sendable, Codable, CaseIterable {
    /// create: also a file made without a name (O_TMPFILE), whose path is DIR/#INODE, the kernel's name
    /// for it until a link names it.
    case create, write, truncate, rename, unlink, rmdir, mkdir, chmod, chown, link, symlink
    /// An extended attribute set or removed (ACLs, file capabilities, security labels, user.*): the
    /// attribute's name is the new path, as given.
    case setxattr, removexattr
    /// The file's access and modification times set (`touch -d`, `touch -r`).
    case utime
    /// The inode's flags set (`chattr +i`: immutable, append-only …): the new path names the flags the
    /// file holds after the call and those the caller passed (`InodeFlags`); none for file_setattr.
    case setflags
    /// A mount attached at the path (mount, move_mount, pivot_root's new root): the new path is its
    /// source as given (a device, a directory, "none"; move_mount's from-path, usually empty: none).
    /// Everything under the path names other files from then on.
    case mount
    /// The mount at the path detached (umount2).
    case umount
    /// The mount at the path, or its file system, changed: mount with MS_REMOUNT (`mount -o
    /// remount,rw`; the new path its source as given), mount_setattr, fspick (opened for fsconfig to
    /// reconfigure).
    case remount

    /// Whether the new path is a name as the caller gave it (a symlink's target, an attribute's name),
    /// not a path the kernel resolved.
    public var newPathIsLiteral: Bool {
        self == .symlink || self == .setxattr || self == .removexattr || self == .setflags || self == .mount || self == .remount
    }
    /// Whether the new path names something of the file itself (an attribute, its flags), shown as
    /// "path [new path]" rather than "path → new path".
    public var newPathIsOfTheFile: Bool { self == .setxattr || self == .removexattr || self == .setflags }
    /// Whether the new path is where the path's content comes from (a mount's source), shown as
    /// "path ← new path".
    public var newPathIsTheSource: Bool { self == .mount || self == .remount }
}

/// The flags chattr sets, as the kernel's program reports them: "flags 0x00080010 state 0x08" (FS_IOC_SETFLAGS)
/// or "xflags 0x00000008 state 0x08" (FS_IOC_FSSETXATTR's fsx_xflags, another numbering): the value the
/// caller passed, read from its memory at the call's exit ("?" if it could not be; another of its
/// threads may have rewritten it), and the inode's own flags then, which the kernel holds and no
/// caller can make say otherwise. Named as lsattr names them.
public enum InodeFlags {
    /// FS_IOC_SETFLAGS's numbering (FS_*_FL).
    static let flags: [(UInt32, String)] = [
        (0x1, "secure-deletion"), (0x2, "undelete"), (0x4, "compression"), (0x8, "sync"), (0x10, "immutable"),
        (0x20, "append-only"), (0x40, "no-dump"), (0x80, "no-atime"), (0x400, "no-compression"), (0x800, "encrypted"),
        (0x1000, "indexed"), (0x4000, "journaled-data"), (0x8000, "no-tail-merging"), (0x10000, "dirsync"),
        (0x20000, "top-of-hierarchy"), (0x80000, "extents"), (0x100000, "verity"), (0x800000, "no-cow"),
        (0x2000000, "dax"), (0x10000000, "inline-data"), (0x20000000, "project-hierarchy"), (0x40000000, "casefold"),
    ]
    /// FS_IOC_FSSETXATTR's (FS_XFLAG_*).
    static let xflags: [(UInt32, String)] = [
        (0x1, "realtime"), (0x2, "prealloc"), (0x8, "immutable"), (0x10, "append-only"), (0x20, "sync"),
        (0x40, "no-atime"), (0x80, "no-dump"), (0x100, "rt-inherit"), (0x200, "project-inherit"),
        (0x400, "no-symlinks"), (0x800, "extent-size"), (0x1000, "extent-size-inherit"), (0x2000, "no-defrag"),
        (0x4000, "filestream"), (0x8000, "dax"), (0x10000, "cow-extent-size"),
    ]
    /// The inode's own (S_* in the kernel's struct inode), the ones the program keeps.
    static let state: [(UInt32, String)] = [
        (0x1, "sync"), (0x2, "no-atime"), (0x4, "append-only"), (0x8, "immutable"), (0x40, "dirsync"),
    ]

    static func names(_ value: UInt32, _ table: [(UInt32, String)]) -> String {
        var names = table.filter { value & $0.0 != 0 }.map(\.1)
        if table.reduce(value, { $0 & ~$1.0 }) != 0 { names.append("other") }
        return names.isEmpty ? "none" : names.joined(separator: ", ")
    }

    /// "immutable (passed flags 0x00080010: immutable, extents)": the inode's flags after the call, then
    /// what the caller passed; "none (…)" when it holds none of them. The report's own text if it is
    /// not the program's.
    public static func describe(_ reported: String) -> String {
        let parts = reported.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "flags" || parts[0] == "xflags", parts[2] == "state", parts[3].hasPrefix("0x"),
              let state = UInt32(parts[3].dropFirst(2), radix: 16) else { return reported }
        let passed: String
        if parts[1] == "?" {
            passed = "\(parts[0]) unreadable"
        } else if parts[1].hasPrefix("0x"), let value = UInt32(parts[1].dropFirst(2), radix: 16) {
            passed = "\(parts[0]) \(parts[1]): \(names(value, parts[0] == "flags" ? flags : xflags))"
        } else {
            return reported
        }
        return "\(names(state, Self.state)) (passed \(passed))"
    }
}

/// One change a session's process made, as the kernel saw it succeed.
public struct FileChange: Equatable, Sendable {
    public var op: FileOperation
    /// Absolute: the directory or file as the kernel resolved it, plus the caller's name for calls by
    /// name ("." and ".." in that name resolved lexically). "…" marks a part beyond the kernel's bounds.
    public var path: String
    /// rename and link: the new name (resolved like `path`); symlink: the target exactly as given;
    /// setxattr, removexattr: the attribute's name as given; setflags: the flags set (`InodeFlags`).
    public var newPath: String?
    /// The kernel counts this operation's repeats under this key (the bytes of struct
    /// sa_file_seen_key) instead of reporting each: they come as `EventKind.fileRepeat`.
    public var seenKey: [UInt8]?
    /// A rename that swapped its two names (renameat2 with RENAME_EXCHANGE): both files moved, each to
    /// the other's name. Recorded as two renames, one each way.
    public var exchange: Bool
    public init(op: FileOperation, path: String, newPath: String? = nil, seenKey: [UInt8]? = nil, exchange: Bool = false) {
        self.op = op
        self.path = path
        self.newPath = newPath
        self.seenKey = seenKey
        self.exchange = exchange
    }

    /// What a change stores: itself, or for an exchange the two renames it made.
    public var recorded: [FileChange] {
        guard exchange, let newPath else { return [self] }
        return [FileChange(op: op, path: path, newPath: newPath), FileChange(op: op, path: newPath, newPath: path)]
    }
}

/// A row of file_activity: every change of one kind to one path by one process (and command), with
/// the first and last time and how many.
public struct FileActivityRecord: Equatable, Sendable, Codable {
    public var id: Int64
    public var sessionID: Int64
    public var commandID: Int64?
    public var pid: UInt32
    public var uid: UInt32
    public var op: FileOperation
    public var path: String
    public var newPath: String?
    public var firstAtNs: Int64
    public var lastAtNs: Int64
    public var count: Int64
    /// Its process exited (or the row was given up at the bound): no later version comes. Not a column.
    public var closed = false
}

/// Paths from the kernel's pieces (bpf/events.h, struct sa_file_act).
public enum FilePath {
    /// `name` read from the directory `parts` as the text goes: "." skipped, ".." one up but never
    /// below `floor` components; absolute. (A symlink on the way is not followed.)
    public static func lexical(_ parts: [Substring], _ name: String, floor: Int = 0) -> String {
        var parts = parts
        for component in name.split(separator: "/", omittingEmptySubsequences: true) where component != "." {
            if component == ".." {
                if parts.count > floor { parts.removeLast() }
            } else {
                parts.append(component)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The path of a file that is on no attached mount: its mount was detached (open_tree, fsmount,
    /// umount -l) while a descriptor or a working directory still held it, so the path from that
    /// mount's root is no path anyone else can open.
    public static let detachedPrefix = "(detached mount)"

    /// A directory the kernel walked (leaf first, "b/a/" for /a/b) and a name from the caller ("" when
    /// the kernel resolved the file itself). ".." stops at the process's root, as in the kernel: an
    /// absolute name's directory is that root; for a relative one, `rootAt` (bytes of the walk below
    /// the root, -1 if the walk did not pass it: a working directory outside a chroot, or a kernel
    /// record that does not say) tells how far up it may climb.
    static func join(dirLeafFirst: UnsafeRawBufferPointer, name: String, dirTruncated: Bool, nameTruncated: Bool,
                     rootAt: Int = -1, detached: Bool = false) -> String {
        let dir = EventDecoder.cwd(leafFirst: dirLeafFirst)
        let parts = dir.split(separator: "/", omittingEmptySubsequences: true)
        var floor = 0
        if name.hasPrefix("/") {
            floor = parts.count
        } else if rootAt >= 0, rootAt <= dirLeafFirst.count {
            let below = dirLeafFirst.prefix(rootAt).filter { $0 == UInt8(ascii: "/") }.count
            floor = max(0, parts.count - below)
        }
        var path = lexical(parts, name, floor: floor)
        if dirTruncated { path = "…" + path }
        if detached { path = detachedPrefix + path }
        if nameTruncated { path += "…" }
        return path
    }
}

/// The open rows, until their process exits. Every change is sent as the row's new version (the
/// writer keeps only the last version of a row per batch), so what is stored is current at each batch.
///
/// Bounded (`CorrelatorBounds.fileRows`, `fileBytes`): when full, the oldest rows are closed and
/// dropped. Nothing is lost, as each was stored up to date: a later change of the same kind to the
/// same path by the same process starts a new row.
///
/// The kernel reports an operation once and counts its repeats under a key (`FileChange.seenKey`,
/// bpf/events.h: sa_file_seen_key); the recorder passes those counts on (`EventKind.fileRepeat`):
/// each key is kept with its row and the count already added, so a count read twice adds once.
final class FileActivityTable: Codable {
    struct Key: Hashable, Codable {
        var process: ProcessKey
        var command: Int64?
        var op: FileOperation
        var path: String
        var newPath: String?
    }

    private var rows: [Key: FileActivityRecord] = [:]
    private var byProcess: [ProcessKey: [Key]] = [:]
    private(set) var heldBytes = 0

    /// A kernel key: its row, and the repeats already added to it.
    struct Seen: Codable {
        var row: Key
        var counted: UInt64
    }
    private var seen: [[UInt8]: Seen] = [:]
    private var seenByProcess: [ProcessKey: [[UInt8]]] = [:]
    /// Keys whose rows are closed or whose process exec'd: the kernel is to drop them.
    private var released: [[UInt8]] = []
    /// What a key holds in memory (its bytes twice, the entry).
    static let seenCost = 2 * 160 + 96

    /// The keys of a process's operations the kernel counts.
    func seenKeys(of process: ProcessKey) -> [[UInt8]] { seenByProcess[process] ?? [] }
    var allSeenKeys: [[UInt8]] { Array(seen.keys) }
    var seenCounts: [(key: [UInt8], counted: UInt64)] { seen.map { ($0.key, $0.value.counted) } }

    /// A key the correlator does not keep (its report belongs to no session's process): released.
    func release(_ key: [UInt8]?) {
        if let key, seen[key] == nil { released.append(key) }
    }
    func takeReleased() -> [[UInt8]] {
        defer { released.removeAll() }
        return released
    }

    /// The kernel counted `count` repeats in all of the operation it reported with `key`.
    func repeated(_ key: [UInt8], count: UInt64, atNs: Int64, sink: (CorrelatorOutput) -> Void) {
        guard var s = seen[key], count > s.counted, var row = rows[s.row] else { return }
        row.count += Int64(clamping: count - s.counted)
        row.lastAtNs = max(row.lastAtNs, atNs)
        s.counted = count
        seen[key] = s
        rows[s.row] = row
        sink(.fileActivity(row))
    }

    /// The process exec'd: the kernel counts nothing more under its keys (they name its exec count).
    func forgetSeen(of process: ProcessKey) {
        for key in seenByProcess.removeValue(forKey: process) ?? [] where seen.removeValue(forKey: key) != nil {
            heldBytes -= Self.seenCost
            released.append(key)
        }
    }

    private func noteSeen(_ key: [UInt8]?, row: Key) {
        guard let key, seen[key] == nil else { return }
        seen[key] = Seen(row: row, counted: 0)
        seenByProcess[row.process, default: []].append(key)
        heldBytes += Self.seenCost
    }
    var nextID: Int64

    init(nextID: Int64) { self.nextID = nextID }

    var count: Int { rows.count }
    var openRows: [FileActivityRecord] { rows.values.sorted { $0.id < $1.id } }

    func record(_ change: FileChange, process: ProcessKey, session: Int64, command: Int64?, uid: UInt32, atNs: Int64,
                bounds: CorrelatorBounds, sink: (CorrelatorOutput) -> Void) {
        let key = Key(process: process, command: command, op: change.op, path: change.path, newPath: change.newPath)
        if var row = rows[key] {
            row.lastAtNs = max(row.lastAtNs, atNs)
            row.count += 1
            rows[key] = row
            noteSeen(change.seenKey, row: key)
            sink(.fileActivity(row))
            if heldBytes > bounds.fileBytes { giveUpOldest(room: 0, bounds: bounds, sink: sink) }
            return
        }
        let cost = Self.held(change)
        if rows.count >= bounds.fileRows || heldBytes + cost > bounds.fileBytes { giveUpOldest(room: cost, bounds: bounds, sink: sink) }
        let row = FileActivityRecord(id: nextID, sessionID: session, commandID: command, pid: process.tgid, uid: uid,
                                     op: change.op, path: change.path, newPath: change.newPath, firstAtNs: atNs,
                                     lastAtNs: atNs, count: 1)
        nextID += 1
        rows[key] = row
        byProcess[process, default: []].append(key)
        heldBytes += cost
        noteSeen(change.seenKey, row: key)
        sink(.fileActivity(row))
        // Keys count towards the bound too (many spellings of one path are as many keys).
        if heldBytes > bounds.fileBytes { giveUpOldest(room: 0, bounds: bounds, sink: sink) }
    }

    /// The process is gone: its rows get their last version.
    func close(process: ProcessKey, sink: (CorrelatorOutput) -> Void) {
        forgetSeen(of: process)
        guard let keys = byProcess.removeValue(forKey: process) else { return }
        for key in keys { close(key, sink: sink) }
    }

    private func close(_ key: Key, sink: (CorrelatorOutput) -> Void) {
        guard var row = rows.removeValue(forKey: key) else { return }
        heldBytes -= Self.held(FileChange(op: row.op, path: row.path, newPath: row.newPath))
        row.closed = true
        sink(.fileActivity(row))
    }

    /// Closes the oldest rows until a sixteenth of the count bound is free and `cost` more fits.
    private func giveUpOldest(room cost: Int, bounds: CorrelatorBounds, sink: (CorrelatorOutput) -> Void) {
        let keep = bounds.fileRows - CorrelatorBounds.slack(bounds.fileRows)
        for (key, _) in rows.sorted(by: { $0.value.id < $1.value.id }) {
            guard rows.count > keep || heldBytes + cost > bounds.fileBytes else { break }
            close(key, sink: sink)
            // Its kernel keys go too: a repeat reported again starts a new row.
            if let own = seenByProcess[key.process] {
                let gone = own.filter { seen[$0]?.row == key }
                for k in gone where seen.removeValue(forKey: k) != nil { heldBytes -= Self.seenCost }
                released += gone
                let left = own.filter { seen[$0] != nil }
                seenByProcess[key.process] = left.isEmpty ? nil : left
            }
            if var keys = byProcess[key.process] {
                keys.removeAll { $0 == key }
                byProcess[key.process] = keys.isEmpty ? nil : keys
            }
        }
    }

    /// What a row holds in memory and in the checkpoint (the record, its key, two copies of each path).
    static func held(_ change: FileChange) -> Int {
        256 + 2 * (CommandRecord.held(change.path) + (change.newPath.map(CommandRecord.held) ?? 0))
    }

    // The checkpoint holds the rows in id order; the per-process index is rebuilt.
    private struct Entry: Codable {
        var key: Key
        var row: FileActivityRecord
    }

    private struct SeenEntry: Codable {
        var key: Data
        var seen: Seen
    }

    private enum CodingKeys: String, CodingKey { case nextID, rows, seen }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        nextID = try c.decode(Int64.self, forKey: .nextID)
        for entry in try c.decode([Entry].self, forKey: .rows) {
            rows[entry.key] = entry.row
            byProcess[entry.key.process, default: []].append(entry.key)
            heldBytes += Self.held(FileChange(op: entry.row.op, path: entry.row.path, newPath: entry.row.newPath))
        }
        for entry in try c.decodeIfPresent([SeenEntry].self, forKey: .seen) ?? [] {
            noteSeen(Array(entry.key), row: entry.seen.row)
            seen[Array(entry.key)]?.counted = entry.seen.counted
        }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(nextID, forKey: .nextID)
        try c.encode(rows.sorted { $0.value.id < $1.value.id }.map { Entry(key: $0.key, row: $0.value) }, forKey: .rows)
        try c.encode(seen.map { SeenEntry(key: Data($0.key), seen: $0.value) }.sorted { $0.key.lexicographicallyPrecedes($1.key) },
                     forKey: .seen)
    }
}
