import ArgumentParser
import Foundation
import SSHAuditStore

extension Query {
    /// Any SELECT over the tables (sessions, commands, auth_attempts, file_transfers, session_events,
    /// recorder_runs), on a read-only connection.
    struct SQL: ParsableCommand, UsesDatabase, UsesFormat {
        static let configuration = CommandConfiguration(
            commandName: "sql",
            abstract: "Run one read-only SQL statement (SELECT, WITH, EXPLAIN, read-only PRAGMA).",
            discussion: """
                The database is opened read-only: INSERT, UPDATE, DELETE, CREATE, DROP and the like are
                refused with an error (exit status 1). Example:
                  sshaudit query sql "SELECT user, count(*) FROM sessions GROUP BY user ORDER BY 2 DESC LIMIT 5"
                """)

        @Argument(help: "The SQL statement.")
        var statement: String

        @OptionGroup var database: DatabaseOption

        @OptionGroup var output: FormatOption<OutputFormat>

        func validate() throws {
            if statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ValidationError("give a SQL statement")
            }
        }

        func run() throws {
            let result = try AuditReader(path: db).readOnlyQuery(statement)
            switch format {
            case .table:
                printTable(header: result.columns, rows: result.rows.map { $0.map(\.tableText) })
            case .csv:
                writeOut(CSV.line(result.columns.map(CSV.text)) + result.rows.map { CSV.line($0.map(\.csvText)) }.joined())
            case .json, .jsonl:
                let keys = uniqueKeys(result.columns).map(JSONText.string)
                let objects = result.rows.map { row in
                    "{" + zip(keys, row).map { "\($0): \($1.jsonText)" }.joined(separator: ", ") + "}"
                }
                if format == .jsonl {
                    writeOut(objects.map { $0 + "\n" }.joined())
                } else {
                    writeOut(objects.isEmpty ? "[]\n" : "[\n  " + objects.joined(separator: ",\n  ") + "\n]\n")
                }
            }
        }

        /// JSON objects need distinct keys: a repeated column name gets _2, _3 …
        func uniqueKeys(_ columns: [String]) -> [String] {
            var seen: [String: Int] = [:]
            return columns.map { name in
                seen[name, default: 0] += 1
                return seen[name]! == 1 ? name : "\(name)_\(seen[name]!)"
            }
        }
    }
}

extension SQLValue {
    var tableText: String {
        switch self {
        case .null: return "NULL"
        case let .integer(v): return String(v)
        case let .real(v): return String(v)
        case let .text(v): return v
        case let .blob(v): return "x'" + v.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }

    var csvText: String {
        switch self {
        case .null: return ""
        case let .text(v): return CSV.text(v)
        default: return tableText
        }
    }

    /// Blobs as base64 strings.
    var jsonText: String {
        switch self {
        case .null: return "null"
        case let .integer(v): return String(v)
        case let .real(v): return v.isFinite ? String(v) : "null"
        case let .text(v): return JSONText.string(v)
        case let .blob(v): return JSONText.string(v.base64EncodedString())
        }
    }
}
