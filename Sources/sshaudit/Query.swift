import ArgumentParser
import Foundation
import SSHAuditStore

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer questions from the recorded database.",
        subcommands: [Sessions.self, Commands.self, Auth.self]
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

struct QueryOptions: ParsableArguments {
    @Option(help: "Database file.")
    var db: String = AuditStore.defaultPath

    @Option(help: "Output format: table, json or csv.")
    var format: OutputFormat = .table

    @Option(help: "Only this session.")
    var session: Int64?

    @Option(help: "Only sessions of this user.")
    var user: String?

    @Option(help: "At most N rows.")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be a positive number") }
    }

    var filter: QueryFilter { QueryFilter(sessionID: session, user: user, limit: limit) }

    func open() throws -> AuditReader {
        let reader = try AuditReader(path: db)
        if let session, try !reader.sessionExists(session) {
            throw CLIError("no session \(session) in \(db)")
        }
        return reader
    }
}

extension Query {
    struct Sessions: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sessions: who, from where, when.")
        @OptionGroup var options: QueryOptions

        func run() throws {
            let rows = try options.open().sessions(options.filter)
            switch options.format {
            case .json: try printJSON(rows)
            case .csv: try printCSV(rows)
            case .table:
                printTable(
                    header: ["ID", "USER", "FROM", "STARTED", "ENDED", "CMDS", "EXIT"],
                    rows: rows.map { s in [
                        String(s.id), s.user ?? "-",
                        s.remoteAddr.map { "\($0):\(s.remotePort ?? 0)" } ?? "-",
                        s.startedAt, s.endedAt ?? "(open)", String(s.commandCount),
                        s.exitCode.map(String.init) ?? "-",
                    ] })
            }
        }
    }

    struct Commands: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Commands run in sessions: argv, exit code, duration.")
        @OptionGroup var options: QueryOptions

        func run() throws {
            let rows = try options.open().commands(options.filter)
            switch options.format {
            case .json: try printJSON(rows)
            case .csv: try printCSV(rows)
            case .table:
                printTable(
                    header: ["ID", "SESSION", "PID", "STARTED", "MS", "EXIT", "COMMAND"],
                    rows: rows.map { c in [
                        String(c.id), String(c.sessionID), String(c.pid), c.startedAt,
                        c.durationMs.map(String.init) ?? "-",
                        c.exitCode.map(String.init) ?? c.signal.map { "sig\($0)" } ?? "-",
                        c.argv.joined(separator: " "),
                    ] })
            }
        }
    }
}

extension Query {
    struct Auth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Authentication attempts: user as typed, source, method, result, key fingerprint.")
        @OptionGroup var options: QueryOptions

        @Flag(help: "Only attempts that did not succeed (failed, invalid_user, disconnected).")
        var failed = false

        func run() throws {
            var filter = options.filter
            filter.failedOnly = failed
            let rows = try options.open().authAttempts(filter)
            switch options.format {
            case .json: try printJSON(rows)
            case .csv: try printCSV(rows)
            case .table:
                printTable(
                    header: ["ID", "SESSION", "AT", "RESULT", "METHOD", "USER", "FROM", "KEY"],
                    rows: rows.map { a in [
                        String(a.id), String(a.sessionID), a.at, a.result, a.method ?? "-", a.user ?? "-",
                        a.remoteAddr.map { "\($0):\(a.remotePort ?? 0)" } ?? "-",
                        a.keyFingerprint.map { "\(a.keyType ?? "") \($0)" } ?? "-",
                    ] })
            }
        }
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// RFC 4180 CSV with the JSON keys as header (same names, same order); arrays as JSON text,
/// null as an empty field.
func printCSV<T: Encodable>(_ rows: [T]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let objects = try JSONSerialization.jsonObject(with: encoder.encode(rows)) as? [[String: Any]] ?? []
    guard let keys = objects.first?.keys.sorted() else { return }
    func field(_ value: Any?) throws -> String {
        let text: String
        switch value {
        case nil, is NSNull: return ""
        case let s as String: text = s
        case let n as NSNumber:  // JSON booleans come back as NSNumbers of ObjC type "c"
            text = String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : n.stringValue
        case let other?:
            text = String(decoding: try JSONSerialization.data(withJSONObject: other, options: [.withoutEscapingSlashes]), as: UTF8.self)
        }
        let needsQuotes = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
        return needsQuotes ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
    var out = keys.joined(separator: ",") + "\r\n"
    for object in objects {
        out += try keys.map { try field(object[$0]) }.joined(separator: ",") + "\r\n"
    }
    FileHandle.standardOutput.write(Data(out.utf8))
}

/// Aligned columns; the last column is cut to keep lines within 100 characters.
func printTable(header: [String], rows: [[String]], width: Int = 100) {
    let all = [header] + rows
    var widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    let fixed = widths.dropLast().reduce(0, +) + 2 * (widths.count - 1)
    widths[widths.count - 1] = max(10, min(widths.last!, width - fixed))
    var out = ""
    for row in all {
        var line = ""
        for (i, cell) in row.enumerated() {
            let isLast = i == row.count - 1
            var text = cell.replacingOccurrences(of: "\n", with: "\\n")
            if isLast && text.count > widths[i] { text = String(text.prefix(widths[i] - 1)) + "…" }
            line += isLast ? text : text.padding(toLength: widths[i], withPad: " ", startingAt: 0) + "  "
        }
        out += line + "\n"
    }
    FileHandle.standardOutput.write(Data(out.utf8))
}
