import ArgumentParser
import SSHAuditCore
import SSHAuditStore

extension FileOperation: ExpressibleByArgument {}

/// --sensitive-paths: the list of sensitive path patterns (`SensitivePaths`), for query, show and report.
struct SensitivePathsOption: ParsableArguments {
    @Option(name: .customLong("sensitive-paths"), help: ArgumentHelp(
        "File of sensitive path globs, one a line (* also matches /; default: \(SensitivePaths.defaultFile) if it exists, else the built-in list).",
        valueName: "FILE"), completion: .file())
    var file: String?

    func patterns() throws -> [String] {
        do { return try SensitivePaths.load(file) } catch { throw CLIError("\(error)") }
    }
}

extension Query {
    struct Files: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What sessions changed in the file system (creates, writes, renames, removals, chmod/chown, links), shell builtins included.",
            discussion: "One row per process, command, operation and path, with first and last time and count: --since and --until keep the rows that overlap the period. S: ! for a sensitive path.")
        @OptionGroup var options: QueryOptions

        @Option(help: ArgumentHelp("Only rows whose path or new path matches this glob (* also matches /).", valueName: "GLOB"))
        var path: String?

        @Option(help: ArgumentHelp("Only this operation: \(FileOperation.allCases.map(\.rawValue).joined(separator: ", ")).",
                                   valueName: "OP"))
        var op: FileOperation?

        @Flag(help: "Only sensitive paths (see --sensitive-paths).")
        var sensitive = false

        @OptionGroup var sensitivePaths: SensitivePathsOption

        func run() throws {
            let patterns = try sensitivePaths.patterns()
            let files = FileActivityFilter(path: path, op: op?.rawValue, sensitive: sensitive ? patterns : nil)
            let matcher = SensitivePaths.Matcher(patterns)
            let filter = try options.parsedFilter()
            try options.list(header: ["ID", "SESSION", "FIRST", "LAST", "COUNT", "PID", "UID", "OP", "S", "PATH"],
                             local: { try $0.fileActivity(filter, files) }, central: { try $0.files(filter, files) }) { f in [
                String(f.id), String(f.sessionID), f.firstAt, f.lastAt, String(f.count), String(f.pid), String(f.uid), f.op,
                matcher.matches(f) ? "!" : "", fileActivityPath(f),
            ] }
        }
    }
}

/// "path → new path", "path [attribute]" for a change of the file's own (an extended attribute, its
/// flags), or "path ← source" for a mount (cells go through VisibleText when printed).
func fileActivityPath(_ f: FileActivityRow) -> String {
    guard let newPath = f.newPath else { return f.path }
    let op = FileOperation(rawValue: f.op)
    if op?.newPathIsOfTheFile == true { return f.path + " [" + newPath + "]" }
    return f.path + (op?.newPathIsTheSource == true ? " ← " : " → ") + newPath
}
