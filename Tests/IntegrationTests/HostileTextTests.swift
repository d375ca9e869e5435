import Foundation
import XCTest

/// The audited user writes what the auditor reads: argv, file names and user names as typed reach
/// every human-readable output. Recorded from a real sshd, then each output is checked for raw
/// control characters, a spreadsheet formula, and unescaped HTML.
final class HostileTextTests: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder!

    /// Erase the line and move up, set the window title, reverse what follows, DEL, the one-character
    /// CSI (U+009B), TAB, a newline (a fake table row), a literal backslash escape, and HTML.
    static let hostileArgs = ["\u{1b}[2K\u{1b}[1A", "\u{1b}]0;owned\u{07}", "\u{202e}gnp.exe", "del\u{7f}x", "csi\u{9b}31m",
                              "a\tb", "c\nFAKE ROW", "\\x1b", "<script>alert(1)</script>"]
    static let formulaUser = "=HYPERLINK(\"x\")"

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    /// `text` as one bash word, every byte outside printable ASCII as \xHH inside $'…'.
    static func bashWord(_ text: String) -> String {
        "$'" + text.utf8.map { b in
            (0x20..<0x7f).contains(b) && b != 0x27 && b != 0x5c ? String(UnicodeScalar(b)) : String(format: "\\x%02x", b)
        }.joined() + "'"
    }

    /// What a terminal would act on or a page would reorder: C0 controls (LF is allowed only where the
    /// caller says, as line ends), DEL, C1 controls and the bidirectional controls.
    static func rawControls(_ text: String, allowLineFeed: Bool = true) -> [String] {
        text.unicodeScalars.compactMap { s in
            let v = s.value
            if v == 0x0a && allowLineFeed { return nil }
            let bad = v < 0x20 || v == 0x7f || (0x80...0x9f).contains(v) || (0x202a...0x202e).contains(v)
                || (0x2066...0x2069).contains(v)
            return bad ? String(format: "U+%04X", v) : nil
        }
    }

    /// RFC 4180 fields of each record.
    static func csvRecords(_ text: String) -> [[String]] {
        var records: [[String]] = [], fields: [String] = [], field = "", quoted = false, wasQuoted = false
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { chars.removeFirst(); field.unicodeScalars.append(c) } else { quoted = false }
                } else { field.unicodeScalars.append(c) }
            } else if c == "\"" && field.isEmpty && !wasQuoted {
                quoted = true; wasQuoted = true
            } else if c == "," {
                fields.append(field); field = ""; wasQuoted = false
            } else if c == "\r" && chars.first == "\n" {
                chars.removeFirst()
                fields.append(field); records.append(fields); fields = []; field = ""; wasQuoted = false
            } else { field.unicodeScalars.append(c) }
        }
        return records
    }

    func sshaudit(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try runProcess(Paths.sshaudit, args)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)", file: file, line: line)
        return r.stdout
    }

    func testRecordedControlCharactersReachNoHumanOutputRaw() throws {
        server = try SSHDServer(name: "render-hostile", port: 22430,
                                extraOptions: ["-o", "Subsystem=sftp /usr/lib/openssh/sftp-server"])
        recorder = try Recorder(name: "render-hostile")
        let token = UUID().uuidString.prefix(8)
        // A program whose name is hostile (the report's top programs), `su` with hostile argv (its
        // privileged commands), and /bin/echo with every kind of hostile argument.
        let program = "/tmp/render-\(token)-\u{1b}[2K<script>\u{202e}"
        let script = [
            "/bin/echo " + Self.hostileArgs.map(Self.bashWord).joined(separator: " "),
            "cp /bin/true \(Self.bashWord(program)) && \(Self.bashWord(program)); rm -f \(Self.bashWord(program))",
            "su \(Self.bashWord("<b>\u{1b}[2K")) \(Self.bashWord("\u{202e}x")) 2>/dev/null",
            "true",
        ].joined(separator: "; ")
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("<script>alert(1)</script>"), "echo ran: \(r.stdout)")

        // A file uploaded under a hostile name (transfers).
        let key = server.dir + "/id_alice_root"
        try? FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: server.dir + "/id_alice", toPath: key)
        chmod(key, 0o600)
        let upload = "/tmp/render-\(token)-\u{1b}]0;x\u{07}\u{202e}.txt"
        defer { unlink(upload) }
        let sftp = try runProcess("/usr/bin/sftp", [
            "-b", "-", "-i", key, "-P", String(server.port), "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "sa_alice@127.0.0.1",
        ], input: "put /etc/hostname \"\(upload)\"\n")
        XCTAssertEqual(sftp.status, 0, sftp.stderr)

        // A login as a spreadsheet formula. (The client refuses such a name on its command line, so it
        // comes from a client config file.)
        let config = server.dir + "/render-formula-user.conf"
        try "Host *\n  User \"=HYPERLINK(\\\"x\\\")\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let login = try runProcess("/usr/bin/sshpass", [
            "-p", "Wrong-Pw-1", "ssh", "-p", String(server.port), "-F", config, "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "127.0.0.1", "true",
        ])
        XCTAssertNotEqual(login.status, 0, "a wrong password")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let db = recorder.db
        // JSON stays exact.
        let commands = try recorder.query("commands")
        let echo = try XCTUnwrap(commands.first { $0.argv == ["/bin/echo"] + Self.hostileArgs }, "\(commands.map(\.argv))")
        let session = try XCTUnwrap(echo.int("session_id"))
        XCTAssertTrue(try recorder.query("auth").contains { $0.string("user") == Self.formulaUser })
        XCTAssertTrue(try recorder.query("transfers").contains { $0.string("path") == upload })

        // Every human-readable output: no raw control; table rows stay one per line.
        let outputs: [(String, [String])] = [
            ("commands", ["query", "commands", "--db", db]),
            ("sessions", ["query", "sessions", "--db", db]),
            ("auth", ["query", "auth", "--db", db]),
            ("transfers", ["query", "transfers", "--db", db]),
            ("show", ["show", String(session), "--db", db]),
            ("show --user", ["show", "--user", "sa_alice", "--db", db]),
            ("status", ["status", "--db", db]),
            ("keys", ["query", "keys", "--db", db]),
            ("sources", ["query", "sources", "--db", db]),
            ("sql", ["query", "sql", "--db", db, "SELECT argv FROM commands"]),
            ("sql filename", ["query", "sql", "--db", db, "SELECT filename, user FROM commands, auth_attempts"]),
            ("markdown", ["report", "--db", db, "--format", "markdown"]),
            ("html", ["report", "--db", db, "--format", "html"]),
            ("events", ["events", recorder.eventsFile]),
        ]
        var text: [String: String] = [:]
        for (name, args) in outputs {
            let out = try sshaudit(args)
            text[name] = out
            let raw = Self.rawControls(out)
            XCTAssertTrue(raw.isEmpty, "\(name): raw \(Set(raw).sorted()) in:\n\(out)")
        }
        for (name, kind) in [("commands", "commands"), ("sessions", "sessions"), ("auth", "auth"), ("transfers", "transfers")] {
            let rows = try recorder.query(kind).count
            XCTAssertEqual(text[name]?.split(separator: "\n", omittingEmptySubsequences: false).count, rows + 2,
                           "\(name): a header, one line per row, and the final line end:\n\(text[name] ?? "")")
        }
        // The escapes are there to read, in place of the controls.
        // (Where the table cuts the line depends on the other columns' widths: other tests' sessions
        // recorded alongside make them wider.)
        XCTAssertTrue(text["commands"]!.contains(#"/bin/echo \x1b[2K\x1b[1A"#), text["commands"]!)
        XCTAssertTrue(text["show"]!.contains(#"/bin/echo \x1b[2K\x1b[1A"#), text["show"]!)
        XCTAssertTrue(text["show --user"]!.contains(
            #"/bin/echo \x1b[2K\x1b[1A \x1b]0;owned\x07 \u202egnp.exe del\x7fx csi\u009b31m a\tb c\nFAKE ROW \\x1b <script>alert(1)</script>  → 0"#),
                      text["show --user"]!)
        XCTAssertTrue(text["transfers"]!.contains(#"\x1b]0;x\x07\u202e"#), text["transfers"]!)
        let md = text["markdown"]!, html = text["html"]!
        // Markdown: HTML and markup are escaped outside code spans; inside one (`su …`) text is literal.
        let outsideCode = md.replacingOccurrences(of: "(`+)[^`]*?\\1", with: "", options: .regularExpression)
        XCTAssertFalse(outsideCode.contains("<script>") || outsideCode.contains("<b>"), md)
        XCTAssertTrue(md.contains("&lt;script&gt;") && md.contains(#"`su <b>\x1b[2K \u202ex`"#), md)
        XCTAssertFalse(html.contains("<script") || html.contains("<b>"), "recorded HTML stays text:\n\(html)")
        XCTAssertTrue(html.contains("&lt;script&gt;") && html.contains("&lt;b&gt;") && html.contains(#"\x1b[2K"#), html)

        // CSV: the typed user name cannot be a formula (a number such as -1 may start with "-"); numbers
        // stay numbers.
        let auth = Self.csvRecords(try sshaudit(["query", "auth", "--db", db, "--format", "csv"]))
        let userColumn = try XCTUnwrap(auth.first?.firstIndex(of: "user"))
        let users = auth.dropFirst().map { $0[userColumn] }
        XCTAssertTrue(users.contains("'" + Self.formulaUser), "\(users)")
        for (name, args) in [("auth", ["query", "auth"]), ("sources", ["query", "sources"]), ("commands", ["query", "commands"]),
                             ("sql", ["query", "sql", "SELECT user, argv FROM auth_attempts, commands"])] {
            let fields = Self.csvRecords(try sshaudit(args + ["--db", db, "--format", "csv"])).joined()
            let formulas = Set(fields.filter { field in
                Double(field) == nil && field.unicodeScalars.first.map { "=+-@\t\r".unicodeScalars.contains($0) } ?? false
            })
            XCTAssertTrue(formulas.isEmpty, "\(name): formula cells \(formulas.sorted())")
        }
        XCTAssertEqual(try sshaudit(["query", "sql", "--db", db, "--format", "csv", "SELECT -1 AS n, '-1' AS t, '=1+1' AS f"]),
                       "n,t,f\r\n-1,'-1,'=1+1\r\n")
    }
    /// Padding pushes what matters past a table's cut: a command's end behind blanks, a rename's
    /// destination behind a long source. `show` wraps its last column instead of cutting it, and the
    /// Markdown report prints the whole text, so both are there to read.
    func testPaddingCannotPushACommandsEndOrARenamesDestinationOutOfSight() throws {
        server = try SSHDServer(name: "render-padding", port: 22431)
        recorder = try Recorder(name: "render-padding")
        let token = UUID().uuidString.prefix(8).lowercased()
        let home = String(cString: try XCTUnwrap(getpwnam("sa_alice")).pointee.pw_dir)
        let units = home + "/.config/systemd/user"
        let unitsExisted = FileManager.default.fileExists(atPath: units)
        let source = "/tmp/pad-\(token)-" + String(repeating: "a", count: 180)
        let unit = units + "/pad-\(token).service"
        defer {
            unlink(unit)
            unlink(source + "/k")
            rmdir(source)
            if !unitsExisted { rmdir(units) }
        }
        let padding = String(repeating: " ", count: 150)
        let script = "true\(padding); mkdir -p \(source) ~/.config/systemd/user && echo x > \(source)/k"
            + " && mv \(source)/k ~/.config/systemd/user/pad-\(token).service; echo pad-end-\(token)"
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("pad-end-\(token)"), r.stdout)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let files = try recorder.query("files")
        let move = try XCTUnwrap(files.first { $0.string("op") == "rename" && $0.string("new_path") == unit },
                                 "\(files.map { "\($0.string("op") ?? "") \($0.string("path") ?? "")" })")
        let session = try XCTUnwrap(move.int("session_id"))
        let show = try sshaudit(["show", String(session), "--db", recorder.db])
        XCTAssertTrue(tableCells(show, column: "PATH").contains(source + "/k → " + unit), show)
        let command = try XCTUnwrap(tableCells(show, column: "COMMAND").first { $0.contains("bash -c true") }, show)
        XCTAssertTrue(command.hasSuffix("; echo pad-end-\(token)"), "the command's end, after its padding:\n\(show)")
        XCTAssertTrue(command.contains("true" + padding + "; mkdir"), "the padding kept (it starts a line):\n\(show)")
        for line in show.split(separator: "\n") {
            XCTAssertLessThanOrEqual(line.count, 100, "show stays within 100 columns:\n\(show)")
        }

        let markdown = try sshaudit(["report", "--db", recorder.db, "--format", "markdown", "--top", "1000"])
        XCTAssertTrue(markdown.contains("`" + source + "/k → " + unit + "`"), "the report's sensitive files:\n\(markdown)")

        // `query` in a 60-column terminal, one field a line: the padded command whole, and no piece of
        // it at column 0, where only a row's line or a field's label may start.
        let shell = "stty cols 60 rows 50; exec '\(Paths.sshaudit)' query commands --db '\(recorder.db)' --session \(session)"
        let tty = try runProcess("/usr/bin/script", ["-qec", shell, "/dev/null"])
        XCTAssertEqual(tty.status, 0, tty.stderr)
        let narrow = tty.stdout.replacingOccurrences(of: "\r\n", with: "\n")
        let records = recordFields(narrow)
        let padded = try XCTUnwrap(records.compactMap { $0["COMMAND"] }.first { $0.contains("bash -c true") }, narrow)
        XCTAssertTrue(padded.hasSuffix("; echo pad-end-\(token)") && padded.contains("true" + padding + "; mkdir"), narrow)
        let labels: Set = ["ID", "SESSION", "PID", "STARTED", "MS", "EXIT", "COMMAND"]
        for line in narrow.split(separator: "\n") where !line.hasPrefix(" ") && !line.hasPrefix("-[ ") {
            XCTAssertTrue(labels.contains(String(line.prefix { $0 != " " })), "a line that is no field:\n\(line)")
        }
        XCTAssertTrue(records.allSatisfy { Set($0.keys) == labels }, narrow)
    }
}
