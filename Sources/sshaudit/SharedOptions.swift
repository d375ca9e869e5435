import ArgumentParser
import SSHAuditStore

/// --db, the same for every command that opens the database (one help text, one check).
struct DatabaseOption: ParsableArguments {
    @Option(help: "Database file.", completion: .file(extensions: ["db"]))
    var db: String = AuditStore.defaultPath

    func validate() throws {
        if db.isEmpty { throw ValidationError("--db needs a file name") }
    }
}

/// A command with `@OptionGroup var database: DatabaseOption` reads the path as `db`.
protocol UsesDatabase {
    var database: DatabaseOption { get }
}

extension UsesDatabase {
    var db: String { database.db }
}

/// An output format a command offers: its values, its default and their help.
protocol FormatChoice: ExpressibleByArgument, CaseIterable, Equatable {
    static var standard: Self { get }
    static var help: String { get }
}

/// --format, the same option for every command that prints in more than one format; a value outside
/// the command's formats is a usage error that lists them.
struct FormatOption<Format: FormatChoice>: ParsableArguments {
    @Option(help: ArgumentHelp(Format.help))
    var format: Format = Format.standard
}

/// A command with `@OptionGroup var output: FormatOption<…>` reads the choice as `format`.
protocol UsesFormat {
    associatedtype Format: FormatChoice
    var output: FormatOption<Format> { get }
}

extension UsesFormat {
    var format: Format { output.format }
}

/// The listings' formats (`query`, `keys`, `sources`, `sql`).
enum OutputFormat: String, FormatChoice {
    case table, json, csv, jsonl
    static let standard = OutputFormat.table
    static let help = "Output format: table, json (one array), csv or jsonl (one object per line)."
}
