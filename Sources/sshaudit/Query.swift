import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditCore
import SSHAuditStore

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer questions from the recorded database.",
        discussion: """
            Rows come oldest first. Filters combine (all must hold). Times are ISO 8601 UTC with milliseconds.
            Examples:
              sshaudit query sessions --from 203.0.113.0/24 --since 7d --failed
              sshaudit query commands --user alice --grep 'authorized_keys' --format json
              sshaudit query auth --failed --since 2026-11-28T00:00 --until 2026-11-29 --format csv
            """,
        subcommands: [Sessions.self, Commands.self, Auth.self, Keys.self, Sources.self, Transfers.self, Files.self, Network.self,
                      Refusals.self, SQL.self]
    )
}

/// `now` once per run, so that --since 2h and --until 1h measure from the same instant.
let processNowNs = Clock.wallNs()

struct QueryOptions: ParsableArguments, UsesDatabase, UsesFormat {
    @OptionGroup var database: DatabaseOption
    @OptionGroup var output: FormatOption<OutputFormat>

    @Option(help: "Only this session.")
    var session: Int64?

    @Option(help: "Only sessions of this user (auth: the user name as the client typed it).")
    var user: String?

    @Option(name: .customLong("from"), help: ArgumentHelp(
        "Only clients from this IP address or CIDR network, IPv4 or IPv6 (10.0.0.0/8, 2001:db8::/32).",
        valueName: "IP|CIDR"))
    var source: String?

    @Option(help: ArgumentHelp("Only rows at or after T: \(QueryTime.help).", valueName: "T"))
    var since: String?

    @Option(help: ArgumentHelp("Only rows before T.", valueName: "T"))
    var until: String?

    @Option(help: ArgumentHelp("Only what was done with this public key (SHA256:… as `ssh-keygen -lf` prints it).",
                               valueName: "FINGERPRINT"))
    var key: String?

    @OptionGroup var certificate: CertificateOptions

    @Option(help: ArgumentHelp(
        "Only sessions of an sshd in this container (its id or name as `query sessions` shows it, or the start of it).",
        valueName: "ID"))
    var container: String?

    @Option(help: "At most N rows.")
    var limit: Int?

    @OptionGroup var fleet: CentralOptions

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be a positive number") }
        _ = try parsedFilter()
    }

    /// The filter, or a usage error naming the option and the bad value.
    func parsedFilter() throws -> QueryFilter {
        var filter = QueryFilter(sessionID: session, user: user, limit: limit)
        if let key {
            guard key.hasPrefix("SHA256:") || key.hasPrefix("MD5:") else {
                throw ValidationError("--key: '\(key)' is not a key fingerprint (SHA256:…)")
            }
            filter.key = key
        }
        (filter.certID, filter.ca) = try certificate.parsed()
        if let container {
            guard !container.isEmpty else { throw ValidationError("--container needs a non-empty id or name") }
            guard fleet.central == nil else { throw ValidationError("--container is not available with --central yet") }
            filter.container = container
        }
        try Self.window(from: source, since: since, until: until, into: &filter)
        return filter
    }

    /// --from, --since and --until into `filter`, or a usage error naming the option and the bad value.
    static func window(from source: String?, since: String?, until: String?, into filter: inout QueryFilter) throws {
        if let source {
            guard let network = IPNetwork(source) else {
                throw ValidationError("--from: '\(source)' is not an IP address or CIDR network (e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::/32)")
            }
            filter.from = network
        }
        filter.since = try since.map { try time($0, option: "--since") }
        filter.until = try until.map { try time($0, option: "--until") }
        if let since = filter.since, let until = filter.until, since >= until {
            throw ValidationError("--since (\(since)) must be before --until (\(until))")
        }
    }

    static func time(_ text: String, option: String) throws -> String {
        guard let time = QueryTime.parse(text, nowNs: processNowNs) else {
            throw ValidationError("\(option): '\(text)' is not a time (\(QueryTime.help))")
        }
        return time
    }

    func open() throws -> AuditReader {
        let reader = try AuditReader(path: db)
        if let session, try !reader.sessionExists(session) {
            throw CLIError("no session \(session) in \(db)")
        }
        return reader
    }

    func print<T: Encodable>(_ rows: [T], header: [String], cells: (T) -> [String]) throws {
        try printRows(rows, format: format, header: header, cells: cells)
    }

    /// The rows from the local database, or with --central from every shipped host (a HOST column,
    /// a "host" key).
    func list<T: Encodable & Sendable>(header: [String], local: (AuditReader) throws -> [T],
                                       central: (CentralReader) throws -> [Hosted<T>], cells: (T) -> [String]) throws {
        if let fleet = try fleet.reader() {
            try printHostedRows(try central(fleet), format: format, header: header, cells: cells)
        } else {
            try print(try local(open()), header: header, cells: cells)
        }
    }
}

/// --cert-id and --ca: sessions, attempts and keys of OpenSSH certificates.
struct CertificateOptions: ParsableArguments {
    @Option(name: .customLong("cert-id"), help: ArgumentHelp(
        "Only certificates with this key ID, exactly (as `ssh-keygen -L` prints it between the quotes).", valueName: "ID"))
    var certID: String?

    @Option(help: ArgumentHelp("Only certificates signed by this CA key (SHA256:… as `ssh-keygen -lf CA.pub` prints it).",
                               valueName: "FINGERPRINT"))
    var ca: String?

    /// The values, or a usage error naming the option and the bad value.
    func parsed() throws -> (certID: String?, ca: String?) {
        if let certID, certID.isEmpty { throw ValidationError("--cert-id needs a non-empty key ID") }
        if let ca, !(ca.hasPrefix("SHA256:") || ca.hasPrefix("MD5:")) || ca.count < 8 {
            throw ValidationError("--ca: '\(ca)' is not a key fingerprint (SHA256:…)")
        }
        return (certID, ca)
    }
}

/// --grep, for the listings where it means something (commands, and the sessions that ran them).
struct GrepOption: ParsableArguments {
    // Unconditional: the pattern may start with a dash (--grep -rf).
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Only commands whose command line (argv joined by spaces) contains PATTERN, case-sensitively (sessions: that ran one).",
        valueName: "PATTERN"))
    var grep: String?

    func validate() throws {
        if let grep, grep.isEmpty { throw ValidationError("--grep needs a non-empty PATTERN") }
    }
}

extension Query {
    struct Sessions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sessions: who, from where, when.",
            discussion: """
                A session lasts from its start to its end: --since and --until keep every session open in the \
                period, also one begun before it (ended in or after it, or still open). A session whose end was \
                not seen counts as open up to its last known activity.
                """)
        @OptionGroup var options: QueryOptions
        @OptionGroup var search: GrepOption
        @Flag(help: "Only connections that never authenticated.")
        var failed = false
        @Flag(help: "Only sessions whose record may be incomplete: recovered, kernel drops, cut argv, end not seen, unattributed events.")
        var incomplete = false
        // Unconditional: the pattern may start with a dash.
        @Option(name: .customLong("tty-grep"), parsing: .unconditional, help: ArgumentHelp(
            "Only sessions whose terminal recording (what was displayed, stdout and stderr; not input) contains "
            + "PATTERN, case-sensitively. Reads every recording.", valueName: "PATTERN"))
        var ttyGrep: String?

        func validate() throws {
            if let ttyGrep, ttyGrep.isEmpty { throw ValidationError("--tty-grep needs a non-empty PATTERN") }
        }

        func run() throws {
            var filter = try options.parsedFilter()
            filter.failedOnly = failed
            filter.incompleteOnly = incomplete
            filter.grep = search.grep
            // --tty-grep reads the recordings, which stay on the host (they are not shipped).
            if ttyGrep != nil, options.fleet.central != nil {
                throw ValidationError("--tty-grep reads this host's recordings: not with --central")
            }
            let ttyFilter: ((AuditReader) throws -> [SessionRow])? = ttyGrep.map { pattern in { reader in
                let matching = try reader.sessionsWithTTYOutput(containing: pattern)
                var unlimited = filter
                unlimited.limit = nil
                let rows = try reader.sessions(unlimited).filter { matching.contains($0.id) }
                return options.limit.map { Array(rows.prefix($0)) } ?? rows
            } }
            try options.list(header: ["ID", "USER", "FROM", "STARTED", "ENDED", "CMDS", "EXIT", "KIND"],
                             local: { try ttyFilter?($0) ?? $0.sessions(filter) }, central: { try $0.sessions(filter) }) { s in [
                String(s.id), s.user ?? "-", endpoint(s.remoteAddr, s.remotePort),
                s.startedAt, sessionEnd(s), String(s.commandCount),
                s.exitCode.map(String.init) ?? "-", s.kind ?? "-",
            ] }
        }
    }

    struct Commands: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Commands run in sessions: argv, exit code, duration.")
        @OptionGroup var options: QueryOptions
        @OptionGroup var search: GrepOption
        @Flag(help: "Only commands that exited with a status other than 0 or were killed by a signal.")
        var failed = false

        func run() throws {
            var filter = try options.parsedFilter()
            filter.failedOnly = failed
            filter.grep = search.grep
            try options.list(header: ["ID", "SESSION", "PID", "STARTED", "MS", "EXIT", "COMMAND"],
                             local: { try $0.commands(filter) }, central: { try $0.commands(filter) }) { c in [
                String(c.id), String(c.sessionID), String(c.pid), c.startedAt,
                c.durationMs.map(String.init) ?? "-", exitText(c.exitCode, c.signal), c.argv.joined(separator: " "),
            ] }
        }
    }

    struct Auth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Authentication attempts (accepted, partial, failed): user as typed, source, method, key or certificate.")
        @OptionGroup var options: QueryOptions

        @Flag(help: "Only credentials refused (result failed: one per sshd `Failed …` line).")
        var failed = false

        func run() throws {
            var filter = try options.parsedFilter()
            filter.failedOnly = failed
            try options.list(header: ["ID", "SESSION", "AT", "RESULT", "METHOD", "USER", "FROM", "KEY"],
                             local: { try $0.authAttempts(filter) }, central: { try $0.authAttempts(filter) }) { a in [
                String(a.id), String(a.sessionID), a.at, a.result, a.method ?? "-", a.user ?? "-",
                endpoint(a.remoteAddr, a.remotePort), keyText(a),
            ] }
        }
    }

    struct Transfers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Files read or written by sessions' transfer servers (sftp, scp, rsync).")
        @OptionGroup var options: QueryOptions

        func run() throws {
            let filter = try options.parsedFilter()
            try options.list(header: ["ID", "SESSION", "OPENED", "PROTO", "MODE", "BYTES", "PATH"],
                             local: { try $0.transfers(filter) }, central: { try $0.transfers(filter) }) { t in [
                String(t.id), String(t.sessionID), t.openedAt, t.transferProtocol, t.mode,
                String(t.bytesRead + t.bytesWritten), t.path,
            ] }
        }
    }
}

extension Query {
    struct Network: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Network activity of sessions' processes: connect, bind, listen, accept (one row per process, operation and endpoint).",
            discussion: "Each row stands for its repeats from first_at to last_at: --since and --until keep the rows that overlap the period.")
        @OptionGroup var options: QueryOptions

        @Flag(help: "Only connects the kernel refused (connect_failed).")
        var failed = false

        func run() throws {
            var filter = try options.parsedFilter()
            filter.failedOnly = failed
            try options.list(header: ["ID", "SESSION", "PID", "FIRST", "LAST", "COUNT", "OP", "PROTO", "ENDPOINT"],
                             local: { try $0.network(filter) }, central: { try $0.network(filter) }) { n in [
                String(n.id), String(n.sessionID), String(n.pid), n.firstAt, n.lastAt, String(n.count), n.op,
                "\(n.family)/\(n.proto)", networkEndpoint(n),
            ] }
        }
    }
}

extension Query {
    struct Refusals: ParsableCommand, UsesDatabase, UsesFormat {
        static let configuration = CommandConfiguration(
            abstract: "Connections a listener refused before serving them (MaxStartups, PerSourcePenalties).",
            discussion: "Not sessions and not authentication attempts: no process ever served them. REASON is "
                + "max_startups, penalty, or unknown when sshd logged no reason the recorder saw.")
        @OptionGroup var database: DatabaseOption
        @OptionGroup var output: FormatOption<OutputFormat>
        @Option(name: .customLong("from"), help: ArgumentHelp(
            "Only clients from this IP address or CIDR network, IPv4 or IPv6.", valueName: "IP|CIDR"))
        var source: String?
        @Option(help: ArgumentHelp("Only rows at or after T: \(QueryTime.help).", valueName: "T"))
        var since: String?
        @Option(help: ArgumentHelp("Only rows before T.", valueName: "T"))
        var until: String?
        @Option(help: "At most N rows.")
        var limit: Int?
        @OptionGroup var fleet: CentralOptions

        func run() throws {
            var filter = QueryFilter(sessionID: nil, user: nil, limit: limit)
            if let limit, limit < 1 { throw ValidationError("--limit must be a positive number") }
            try QueryOptions.window(from: source, since: since, until: until, into: &filter)
            let header = ["ID", "AT", "FROM", "ON", "REASON", "DETAIL", "LISTENER"]
            let cells = { (r: RefusalRow) in [
                String(r.id), r.at, endpoint(r.remoteAddr, r.remotePort), endpoint(r.localAddr, r.localPort), r.reason,
                r.detail ?? "-", String(r.listenerPid),
            ] }
            if let fleet = try fleet.reader() {
                try printHostedRows(try fleet.refusals(filter), format: format, header: header, cells: cells)
            } else {
                try printRows(try AuditReader(path: db).refusals(filter), format: format, header: header, cells: cells)
            }
        }
    }
}

/// Where a network row points: address and port, or a unix socket's name.
func networkEndpoint(_ n: NetworkRow) -> String {
    if let path = n.path { return path }
    return n.family == "unix" ? "(unnamed)" : endpoint(n.addr, n.port)
}

/// A key as people read it: "TYPE FINGERPRINT", and for a certificate its key ID, serial and CA.
func keyText(type: String?, fingerprint: String?, certID: String?, serial: String?, caType: String?, ca: String?) -> String {
    var text = fingerprint.map { "\(type.map { "\($0) " } ?? "")\($0)" } ?? "-"
    if certID != nil || ca != nil {
        text += " ID \(certID ?? "?") (serial \(serial ?? "?")) CA \(caType.map { "\($0) " } ?? "")\(ca ?? "?")"
    }
    return text
}

func keyText(_ a: AuthRow) -> String {
    keyText(type: a.keyType, fingerprint: a.keyFingerprint, certID: a.certID, serial: a.certSerial, caType: a.caKeyType,
            ca: a.caFingerprint)
}

func endpoint(_ address: String?, _ port: Int64?) -> String {
    guard let address else { return "-" }
    let host = address.contains(":") && !address.hasPrefix("::ffff:") ? "[\(address)]" : address
    return port.map { "\(host):\($0)" } ?? host
}

func exitText(_ code: Int64?, _ signal: Int64?) -> String {
    code.map(String.init) ?? signal.map { "sig\($0)" } ?? "-"
}

func writeOut(_ text: String) {
    Stdout.write(Data(text.utf8))
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    Stdout.write(try encoder.encode(value))
    Stdout.write(Data("\n".utf8))
}

/// One compact JSON object per line (keys sorted, as in `json`).
func printJSONLines<T: Encodable>(_ rows: [T]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var out = Data()
    for row in rows {
        out.append(try encoder.encode(row))
        out.append(0x0a)
    }
    Stdout.write(out)
}

/// A `table` on stdout, every cell whole. Into a pipe or a file: one line a row (a cut would let
/// padding hide the end of a command from `grep`). In a terminal: within its width, the last column
/// (command, path, endpoint, key) wrapped under itself; a terminal too narrow for the other columns
/// whole gets one field a line instead (formatRecords), never a cut cell: a time cut to "2026-12…"
/// is no answer to "when".
func printTable(header: [String], rows: [[String]]) {
    guard let columns = terminalColumns() else { return writeOut(formatTable(header: header, rows: rows, width: .max)) }
    let widths = naturalWidths(header: header, rows: rows)
    let needed = widths.dropLast().reduce(0, +) + 2 * (widths.count - 1) + min(widths.last ?? 0, 24)
    writeOut(needed <= columns || rows.isEmpty
             ? formatTable(header: header, rows: rows, width: columns)
             : formatRecords(header: header, rows: rows, width: columns))
}

/// Each column's width, its widest cell or header as rendered.
func naturalWidths(header: [String], rows: [[String]]) -> [Int] {
    header.indices.map { i in ([header] + rows).map { VisibleText.width(VisibleText.render($0[i])) }.max() ?? 0 }
}

/// One field a line, "LABEL  value", each row under a line "-[ N ]---" (psql's expanded display), for
/// a terminal too narrow for the table. Every value whole, through VisibleText: one wider than its
/// room goes on over continuation lines that start under it, never at column 0 where a label or a
/// row's line begins, and never end in blanks (VisibleText.lines), so recorded text can neither
/// forge a field nor hide its end in padding.
func formatRecords(header: [String], rows: [[String]], width: Int) -> String {
    let labels = header.map(VisibleText.render)
    let labelWidth = labels.map(VisibleText.width).max() ?? 0
    let indent = String(repeating: " ", count: labelWidth + 2)
    let room = max(16, width - indent.count)
    var out = ""
    for (r, row) in rows.enumerated() {
        let title = "-[ \(r + 1) ]"
        out += title + String(repeating: "-", count: max(0, min(width, indent.count + 24) - title.count)) + "\n"
        for (i, cell) in row.enumerated() where i < labels.count {
            let value = VisibleText.lines(cell, columns: room).joined(separator: "\n" + indent)
            out += labels[i]
            if !value.isEmpty { out += String(repeating: " ", count: indent.count - VisibleText.width(labels[i])) + value }
            out += "\n"
        }
    }
    return out
}

/// The width of the terminal stdout is, or nil if it is not one.
func terminalColumns() -> Int? {
    guard isatty(STDOUT_FILENO) == 1 else { return nil }
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return 100
}

/// Aligned columns within `width` terminal columns. Every cell is shown through VisibleText (controls
/// as escapes, so no cell can break a line itself). The last column (command, path, endpoint, key,
/// event) is never cut: a cell wider than its room (at least 24 columns) goes on over continuation
/// lines that start under it, so padding cannot push the end of a command or the destination of a
/// rename out of sight. While the line is still too long, the widest of the other columns is cut down
/// to the next widest, then those by turns (cells end in "…"). Widths count the rendered form.
func formatTable(header: [String], rows: [[String]], width: Int = 100) -> String {
    guard !header.isEmpty else { return String(repeating: "\n", count: rows.count + 1) }  // a statement with no columns
    let raw = [header] + rows
    let all = raw.map { $0.map(VisibleText.render) }
    let lengths = all.map { $0.map(VisibleText.width) }
    var widths = header.indices.map { i in lengths.map { $0[i] }.max() ?? 0 }
    let gaps = 2 * (widths.count - 1)
    let last = widths.count - 1
    // The last column wraps: it needs only room for some of its text, the others are cut to leave it 24.
    widths[last] = min(widths[last], max(24, width - gaps - widths[..<last].reduce(0, +)))
    let cuttable = Array(widths.indices.dropLast())
    var excess = widths.reduce(0, +) + gaps - width
    while excess > 0 {  // a column at a time from the widest, so that no one column loses it all
        guard let widest = cuttable.max(by: { widths[$0] < widths[$1] }), widths[widest] > 8 else { break }
        let tied = cuttable.filter { widths[$0] == widths[widest] }.count > 1
        let next = cuttable.map { widths[$0] }.filter { $0 < widths[widest] }.max() ?? 8
        let cut = tied ? 1 : min(excess, widths[widest] - max(next, 8))  // down to the next widest, then by turns
        widths[widest] -= cut
        excess -= cut
    }
    let indent = String(repeating: " ", count: widths[..<last].reduce(0, +) + gaps)
    var out = ""
    out.reserveCapacity(all.count * (min(width, 200) + 1))
    for (r, row) in all.enumerated() {
        for (i, cell) in row.enumerated() {
            var text = cell, n = lengths[r][i]
            if i == last && n > widths[i] {
                out += VisibleText.lines(raw[r][i], columns: widths[i]).joined(separator: "\n" + indent)
                break
            }
            if n > widths[i] {
                text = VisibleText.fit(raw[r][i], columns: widths[i])
                n = VisibleText.width(text)
            }
            out += text
            if i < row.count - 1 { out += String(repeating: " ", count: widths[i] - n + 2) }
        }
        out += "\n"
    }
    return out
}
