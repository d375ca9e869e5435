import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditStore

extension Query {
    struct Keys: ParsableCommand, UsesDatabase, UsesFormat {
        static let configuration = CommandConfiguration(
            abstract: "Every public key seen (certificates by CA and key ID): first and last use, users, sources, sessions.")
        @OptionGroup var database: DatabaseOption
        @OptionGroup var output: FormatOption<OutputFormat>
        @Option(help: ArgumentHelp("Only keys never seen before T: \(QueryTime.help).", valueName: "T"))
        var firstSeenSince: String?
        @OptionGroup var certificate: CertificateOptions
        @Option(help: "At most N rows.") var limit: Int?
        @OptionGroup var fleet: CentralOptions

        func run() throws {
            let since = try firstSeenSince.map { try QueryOptions.time($0, option: "--first-seen-since") }
            let (certID, ca) = try certificate.parsed()
            let header = ["KEY", "FIRST", "LAST", "USERS", "SESSIONS", "FROM"]
            if let central = try fleet.reader() {
                let rows = try central.keys(firstSeenSince: since, certID: certID, ca: ca, limit: limit)
                return try printHostedRows(rows, format: format, header: header, cells: Self.cells)
            }
            let rows = try AuditReader(path: db).keys(firstSeenSince: since, certID: certID, ca: ca, limit: limit)
            try printRows(rows, format: format, header: header, cells: Self.cells)
        }

        // A certificate by what identifies it first (its key ID and CA), then the key it certifies.
        static func cells(_ k: KeyRow) -> [String] { [
                k.caFingerprint == nil && k.certID == nil ? k.keyFingerprint
                    : "ID \(k.certID ?? "?") (serial \(k.serials.joined(separator: ","))) CA \(k.caFingerprint ?? "?") key \(k.keyFingerprint)",
                k.firstSeen, k.lastSeen, k.users.joined(separator: ","), String(k.sessions), k.sources.joined(separator: ","),
            ]
        }
    }

    struct Sources: ParsableCommand, UsesDatabase, UsesFormat {
        static let configuration = CommandConfiguration(
            abstract: "Every remote address: first seen, attempts by result, users tried, sessions.")
        @OptionGroup var database: DatabaseOption
        @OptionGroup var output: FormatOption<OutputFormat>
        @Option(help: ArgumentHelp("Only addresses never seen before T: \(QueryTime.help).", valueName: "T"))
        var firstSeenSince: String?
        @Option(help: "At most N rows.") var limit: Int?
        @OptionGroup var fleet: CentralOptions

        func run() throws {
            let since = try firstSeenSince.map { try QueryOptions.time($0, option: "--first-seen-since") }
            let header = ["FROM", "FIRST", "LAST", "OK", "FAILED", "INVALID", "REFUSED", "SESSIONS", "USERS"]
            if let central = try fleet.reader() {
                let rows = try central.sources(firstSeenSince: since, limit: limit)
                return try printHostedRows(rows, format: format, header: header, cells: Self.cells)
            }
            let rows = try AuditReader(path: db).sources(firstSeenSince: since, limit: limit)
            try printRows(rows, format: format, header: header, cells: Self.cells)
        }

        static func cells(_ s: SourceRow) -> [String] {
            [s.remoteAddr, s.firstSeen, s.lastSeen, String(s.accepted), String(s.failed), String(s.invalidUser),
             String(s.refused), String(s.sessions), s.usersTried.joined(separator: ",")]
        }
    }
}

func printRows<T: Encodable>(_ rows: [T], format: OutputFormat, header: [String], cells: (T) -> [String]) throws {
    switch format {
    case .json: try printJSON(rows)
    case .jsonl: try printJSONLines(rows)
    case .csv: writeOut(try CSV.rows(rows))
    case .table: printTable(header: header, rows: rows.map(cells))
    }
}
