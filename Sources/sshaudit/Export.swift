import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditStore

/// One JSON object per line for log shippers (Vector, Fluent Bit, Filebeat): each row version with
/// its ledger entry, as OCSF events or as sshaudit's own rows. With --cursor it continues where the
/// last run stopped; with --follow it keeps writing what the recorder stores.
struct Export: ParsableCommand, UsesDatabase, UsesFormat {
    static let configuration = CommandConfiguration(
        abstract: "Write row versions as JSON lines (OCSF or sshaudit's rows), each with its ledger entry.",
        discussion: """
            Only the latest version of a row can be written (the database keeps rows, not their
            history): a version superseded before export is passed over and the later one carries the
            row. Delivery is at least once: the cursor is saved after the lines are written, so after a
            crash the lines since the saved cursor come again; `seq` tells them apart.
            """)

    enum Format: String, FormatChoice {
        case jsonl, ocsf
        static let standard = Format.jsonl
        static let help = "jsonl (the rows as `query --format json` prints them) or ocsf (OCSF \(OCSF.schemaVersion) events)."
    }

    @OptionGroup var database: DatabaseOption

    @OptionGroup var output: FormatOption<Format>

    @Option(help: "File holding the last ledger seq written: export continues after it and updates it.")
    var cursor: String?

    @Flag(help: "Keep running and write new versions as the recorder stores them.")
    var follow = false

    @Option(help: "Seconds between looks at the database with --follow.")
    var interval: Double = 1

    @Option(help: "Host name in the lines (default: this machine's).")
    var host: String?

    func validate() throws {
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be between 0 and 3600 seconds") }
    }

    func run() throws {
        let reader = try AuditReader(path: db)
        let host = self.host ?? ProcessInfo.processInfo.hostName
        var after = try cursor.map(ExportCursor.load) ?? 0
        let last = try reader.latestSeq()
        if after > last {
            throw CLIError("\(cursor!): the cursor is at ledger entry \(after), past the last one of \(db) (\(last)): "
                           + "is this the database it was made for?")
        }
        while true {
            let (versions, through) = try reader.versions(after: after, limit: 5_000)
            guard through > after else {
                guard follow else { return }
                Thread.sleep(forTimeInterval: interval)
                continue
            }
            var out = Data()
            for version in versions {
                switch format {
                case .jsonl: out.append(try ExportLine.json(version, host: host))
                case .ocsf:
                    guard let event = OCSF.event(version, host: host) else { continue }
                    out.append(contentsOf: JSONValue.object(event).bytes)
                }
                out.append(0x0A)
            }
            Stdout.write(out)
            if let cursor { try ExportCursor.save(through, to: cursor) }
            after = through
        }
    }
}

/// A `jsonl` line: the ledger entry's fields and the row as `query --format json` prints it.
private struct ExportLine: Encodable {
    let seq: Int64
    let table: String
    let rowID: Int64
    let rowHash: String
    let chain: String
    let previousChain: String
    let altered: Bool
    let host: String
    let row: ExportedVersion.Row

    enum CodingKeys: String, CodingKey {
        case seq, table, chain, altered, host, row
        case rowID = "row_id", rowHash = "row_hash", previousChain = "previous_chain"
    }

    static func json(_ v: ExportedVersion, host: String) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(ExportLine(seq: v.seq, table: v.table, rowID: v.rowID, rowHash: v.rowHash, chain: v.chain,
                                             previousChain: v.previousChain, altered: v.altered, host: host, row: v.row))
    }
}

/// The cursor file: the last ledger seq written, replaced atomically and synced, so that a crash
/// leaves the old value or the new one, never a torn one. Like the database, it must be safe from
/// other users: whoever could move it back or forward could make the export repeat or skip rows.
enum ExportCursor {
    static func load(_ path: String) throws -> Int64 {
        let dir = directory(of: path)
        if let why = PathSafety.problem(dir) { throw CLIError("refusing to use \(dir): \(why)") }
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        if let why = PathSafety.problem(path) { throw CLIError("refusing to use \(path): \(why)") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let seq = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)), seq >= 0 else {
            throw CLIError("\(path): not an export cursor (one ledger seq number expected)")
        }
        return seq
    }

    static func save(_ seq: Int64, to path: String) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array("\(seq)\n".utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError("cannot save the cursor \(path): \(why)")
        }
        let dirFD = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { fsync(dirFD); close(dirFD) }
    }

    private static func directory(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }
}
