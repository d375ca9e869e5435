import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditCore
import SSHAuditStore

/// An audit report for a period: logins per user and per day, failed attempts by source address,
/// top commands, privileged commands (sudo, su), sessions still open.
struct Report: ParsableCommand, UsesDatabase, UsesFormat {
    static let configuration = CommandConfiguration(
        abstract: "Write an audit report for a period (default: the last 7 days) as Markdown, HTML or JSON.",
        discussion: """
            The HTML report is one self-contained file with inline SVG charts (it fetches nothing):
              sshaudit report --since 30d --format html > report.html
            """)

    enum Format: String, FormatChoice {
        case markdown, html, json
        static let standard = Format.markdown
        static let help = "Output format: markdown, html or json."
    }

    @OptionGroup var database: DatabaseOption

    @Option(help: ArgumentHelp("Start of the period: \(QueryTime.help).", valueName: "T"))
    var since: String = "7d"

    @Option(help: ArgumentHelp("End of the period (exclusive; default: now).", valueName: "T"))
    var until: String?

    @OptionGroup var output: FormatOption<Format>

    @Option(help: "Rows per list (users, source addresses, programs, privileged commands, sensitive files, sessions from before the period, open sessions).")
    var top: Int = 15

    @OptionGroup var sensitivePaths: SensitivePathsOption

    func validate() throws {
        if top < 1 || top > 1000 { throw ValidationError("--top must be between 1 and 1000") }
        _ = try period()
    }

    func period() throws -> (since: String, until: String) {
        let end = try until.map { try QueryOptions.time($0, option: "--until") } ?? Timestamp.iso(ns: processNowNs)
        let start = try QueryOptions.time(since, option: "--since")
        if start >= end { throw ValidationError("--since (\(start)) must be before --until (\(end))") }
        return (start, end)
    }

    @OptionGroup var fleet: CentralOptions

    func run() throws {
        let (start, end) = try period()
        let generated = Timestamp.iso(ns: processNowNs)
        var source = db
        var report: AuditReport
        if let central = try fleet.reader() {
            report = try central.report(since: start, until: end, top: top, generatedAt: generated,
                                        sensitive: try sensitivePaths.patterns())
            let hosts = report.hosts ?? []
            source = "the central database (\(hosts.count) host\(hosts.count == 1 ? "" : "s"): \(hosts.joined(separator: ", ")))"
        } else {
            let reader = try AuditReader(path: db)
            report = try reader.report(since: start, until: end, top: top, generatedAt: generated)
            let sensitive = FileActivityFilter(sensitive: try sensitivePaths.patterns())
            report.sensitiveFiles = try reader.fileActivity(QueryFilter(limit: top, since: start, until: end), sensitive)
            report.sensitiveFilesTotal = try reader.fileActivityCount(QueryFilter(since: start, until: end), sensitive)
            report.ioUring = try reader.sessionEvents(of: "io_uring", since: start, until: end, limit: top)
            report.compatCalls = try reader.sessionEvents(of: "compat_calls", since: start, until: end, limit: top)
        }
        switch format {
        case .json: try printJSON(report)
        case .markdown: writeOut(ReportMarkdown.render(report, database: source))
        case .html: writeOut(ReportHTML.render(report, database: source))
        }
    }
}

/// A report's endpoint as `networkEndpoint` shows a row's.
func reportEndpoint(_ n: NetworkEndpoint) -> String {
    if let path = n.path { return path }
    return n.family == "unix" ? "(unnamed)" : endpoint(n.addr, n.port)
}

/// 12345 → "12,345".
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

func percent(_ part: Int, of whole: Int) -> String {
    whole == 0 ? "-" : String(format: "%.1f%%", Double(part) * 100 / Double(whole))
}

/// A session's end as the tables print it: its time, "(open)", or "(unseen)" when the recorder did not see it.
func sessionEnd(_ s: SessionRow) -> String { s.endedAt ?? (s.endedUnobserved ? "(unseen)" : "(open)") }

/// The cells of a report's list of sessions: session, user, from, start, then `last` of each.
func sessionListRows(_ list: [AuditReport.OpenSession], _ last: (SessionRow) -> String) -> [[String]] {
    list.map { o in
        let s = o.session
        return [sessionReference(s.id, host: o.host), s.user ?? "-", endpoint(s.remoteAddr, s.remotePort), s.startedAt, last(s)]
    }
}

/// Time between two stored times, or "?".
func age(from start: String, to end: String) -> String { duration(from: start, to: end) }

enum ReportMarkdown {
    static func render(_ r: AuditReport, database: String) -> String {
        var md = "# SSH audit report\n\n"
        md += "Period: \(cell(r.since)) to \(cell(r.until)) (UTC, end excluded). Generated \(cell(r.generatedAt)) from \(code(database)).\n\n"
        let t = r.totals
        md += "## Summary\n\n| | |\n|---|--:|\n"
        for (label, value) in [
            ("Connections", grouped(t.connections)),
            ("Complete sessions (none recovered, lost in the kernel, cut or unseen ending)",
             "\(grouped(t.connections - t.incompleteSessions)) of \(grouped(t.connections))"),
            ("Logins", grouped(t.logins)),
            ("Connections that never authenticated", grouped(t.unauthenticated)), ("Users who logged in", grouped(t.users)),
            ("Source addresses", grouped(t.sourceAddresses)),
            ("Authentication attempts", grouped(t.authAttempts)), ("Failed attempts", grouped(t.failedAttempts)),
            ("Commands", grouped(t.commands)), ("Privileged commands (sudo, su)", grouped(t.privilegedCommands)),
            ("Sessions begun before the period, open in it", grouped(t.sessionsFromBefore)),
            ("Sessions still open (now)", grouped(t.openSessions)),
        ] { md += "| \(label) | \(value) |\n" }

        md += "\n## Recording coverage\n\n"
        for line in ReportCoverage.lines(r.coverage) { md += "- \(cell(line))\n" }

        md += "\n## Logins per day\n\n"
        if r.days.isEmpty { md += "No connections in this period.\n" } else {
            let peak = max(1, r.days.map(\.logins).max() ?? 1)
            md += "| Day | Logins | | Failed attempts | Never authenticated |\n|---|--:|---|--:|--:|\n"
            for d in r.days {
                md += "| \(cell(d.day)) | \(grouped(d.logins)) | \(bar(d.logins, of: peak)) | \(grouped(d.failedAttempts)) | \(grouped(d.unauthenticated)) |\n"
            }
        }

        md += "\n## Logins per user\n\n"
        if r.loginsPerUser.isEmpty { md += "No logins in this period.\n" } else {
            md += "| User | Logins | Source addresses | First | Last |\n|---|--:|--:|---|---|\n"
            for u in r.loginsPerUser {
                md += "| \(cell(u.user)) | \(grouped(u.logins)) | \(grouped(u.sources)) | \(cell(u.first)) | \(cell(u.last)) |\n"
            }
            if t.users > r.loginsPerUser.count { md += "\n… and \(t.users - r.loginsPerUser.count) more users.\n" }
        }

        md += "\n## Failed attempts by source address\n\n"
        if r.failedBySource.isEmpty { md += "No failed attempts or refused connections in this period.\n" } else {
            md += "| Address | Failed attempts | Invalid users | Users tried | Refused | First | Last |\n|---|--:|--:|--:|--:|---|---|\n"
            for s in r.failedBySource {
                md += "| \(cell(s.address)) | \(grouped(s.failedAttempts)) | \(grouped(s.invalidUsers)) | \(grouped(s.usersTried)) | \(grouped(s.refused)) | \(cell(s.first)) | \(cell(s.last)) |\n"
            }
        }

        md += "\n## Certificates (logins per CA and key ID)\n\n"
        if r.certificates.isEmpty { md += "No certificate logins in this period.\n" } else {
            md += "| CA | Key ID | Logins | Users | First | Last |\n|---|---|--:|---|---|---|\n"
            for c in r.certificates {
                md += "| \(cell((c.caKeyType.map { "\($0) " } ?? "") + c.caFingerprint)) | \(cell(c.certID ?? "-")) | \(grouped(c.logins)) | \(cell(c.users.joined(separator: ", "))) | \(cell(c.first)) | \(cell(c.last)) |\n"
            }
        }

        md += "\n## Top commands\n\n"
        if r.topPrograms.isEmpty { md += "No commands in this period.\n" } else {
            md += "| Program | Runs | Share |\n|---|--:|--:|\n"
            for p in r.topPrograms { md += "| \(cell(p.program)) | \(grouped(p.runs)) | \(percent(p.runs, of: t.commands)) |\n" }
        }

        md += "\n## Privileged commands (sudo, su)\n\n"
        if r.privileged.isEmpty { md += "No sudo, su, sudoedit or doas in this period.\n" } else {
            md += "| User | Privileged commands |\n|---|--:|\n"
            for u in r.privilegedByUser { md += "| \(cell(u.user)) | \(grouped(u.count)) |\n" }
            md += "\nLatest \(r.privileged.count) of \(grouped(t.privilegedCommands)):\n\n"
            md += "| Time | Session | User | Exit | Command |\n|---|--:|---|--:|---|\n"
            for p in r.privileged {
                md += "| \(cell(p.at)) | \(cell(sessionReference(p.sessionID, host: p.host))) | \(cell(p.user ?? "-")) | \(exitText(p.exitCode, p.signal)) | \(code(p.argv.joined(separator: " "))) |\n"
            }
        }

        md += "\n## Sensitive files changed\n\n"
        if r.sensitiveFiles.isEmpty { md += "No change to a sensitive path in this period.\n" } else {
            if r.sensitiveFilesTotal > r.sensitiveFiles.count {
                md += "First \(r.sensitiveFiles.count) of \(grouped(r.sensitiveFilesTotal)) (all of them: `sshaudit query files --sensitive` with this period):\n\n"
            }
            md += "| First | Session | PID | UID | Op | Count | Path |\n|---|--:|--:|--:|---|--:|---|\n"
            for f in r.sensitiveFiles {
                md += "| \(cell(f.firstAt)) | \(cell(sessionReference(f.sessionID, host: f.host))) | \(f.pid) | \(f.uid) | \(f.op) | \(grouped(Int(f.count))) | \(code(fileActivityPath(f))) |\n"
            }
        }

        for section in countedSections(r) {
            md += "\n## \(section.title)\n\n"
            if section.rows.isEmpty { md += section.empty + "\n" } else {
                md += "| At | Session | \(section.column) |\n|---|--:|---|\n"
                for e in section.rows { md += "| \(cell(e.at)) | \(e.sessionID) | \(cell(e.detail ?? "-")) |\n" }
            }
        }

        md += "\n## Network activity of sessions\n\n"
        if r.network.isEmpty { md += "No network activity recorded in this period.\n" } else {
            md += "| Op | Proto | Endpoint | Sessions | Users | Count | First | Last |\n|---|---|---|--:|---|--:|---|---|\n"
            for n in r.network {
                md += "| \(n.op) | \(n.family)/\(n.proto) | \(code(reportEndpoint(n))) | \(grouped(n.sessions)) | \(cell(n.users.joined(separator: ", "))) | \(grouped(Int(n.count))) | \(cell(n.first)) | \(cell(n.last)) |\n"
            }
        }

        md += sessionList("Sessions begun before the period, open in it", lastColumn: "Ended", r.sessionsFromBefore,
                          total: t.sessionsFromBefore, sessionEnd)
        md += sessionList("Sessions still open", lastColumn: "Open for", r.openSessions, total: t.openSessions) {
            age(from: $0.startedAt, to: r.generatedAt)
        }
        return md
    }

    /// A list of sessions (session, user, from, start, and `lastColumn`), with how many more there are.
    static func sessionList(_ title: String, lastColumn: String, _ list: [AuditReport.OpenSession], total: Int,
                            _ last: (SessionRow) -> String) -> String {
        var md = "\n## \(title)\n\n"
        if list.isEmpty { return md + "None.\n" }
        md += "| Session | User | From | Started | \(lastColumn) |\n|--:|---|---|---|---|\n"
        for row in sessionListRows(list, last) { md += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        if total > list.count { md += "\n… and \(total - list.count) more.\n" }
        return md
    }

    static func bar(_ value: Int, of peak: Int) -> String {
        let n = value == 0 ? 0 : max(1, value * 20 / peak)
        return String(repeating: "█", count: n)
    }

    /// Recorded text (a table cell or a line) as Markdown that shows exactly its VisibleText form:
    /// HTML's `<`, `>`, `&` as entities; `\`, `|` (which would end the cell), `` ` ``, `*`, `[`, `]`, `~`
    /// backslash-escaped, and `_` too unless it is inside a word (sa_alice), where it cannot emphasise.
    static func cell(_ text: String) -> String {
        let scalars = Array(VisibleText.render(text).unicodeScalars)
        func alphanumeric(_ i: Int) -> Bool {
            scalars.indices.contains(i) && (scalars[i].properties.isAlphabetic || scalars[i].properties.numericType != nil)
        }
        func inWord(_ i: Int) -> Bool { alphanumeric(i - 1) && alphanumeric(i + 1) }
        var out = ""
        for (i, ch) in scalars.enumerated() {
            switch ch {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "_" where inWord(i): out += "_"
            case "\\", "|", "`", "*", "_", "[", "]", "~": out += "\\"; out.unicodeScalars.append(ch)
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Recorded text as a code span, whole (a cut would let padding hide a command's end or a rename's
    /// destination; the HTML report cuts none either): its content is literal in Markdown (no HTML, no
    /// escapes), so it shows the VisibleText form as is. The fence is one backtick longer than any run
    /// of backticks inside; only `|` is escaped, which GFM reads before the span, in a table cell.
    static func code(_ text: String) -> String {
        let shown = VisibleText.render(text).replacingOccurrences(of: "|", with: "\\|")
        var longest = 0, run = 0
        for ch in shown.unicodeScalars { run = ch == "`" ? run + 1 : 0; longest = max(longest, run) }
        let fence = String(repeating: "`", count: longest + 1)
        // A space inside each end when the text begins or ends with a backtick or a space: Markdown strips one.
        let pad = shown.hasPrefix("`") || shown.hasSuffix("`") || shown.hasPrefix(" ") || shown.hasSuffix(" ") ? " " : ""
        return fence + pad + shown + pad + fence
    }
}

/// The coverage part of a report in words, the same in every format.
/// A session as a report names it: its id, in a fleet report "HOST #ID".
/// The report's lists of what sessions did that is counted, not itemised (session events of one kind):
/// title, what an empty list says, the detail column's heading, the rows (nil: not in this report).
/// Both renderers draw them alike.
func countedSections(_ r: AuditReport) -> [(title: String, empty: String, column: String, rows: [SessionEventRow])] {
    [("Operations through io_uring", "No session used io_uring in this period.", "Requests by kind", r.ioUring),
     ("32-bit system calls", "No session made 32-bit system calls in this period.", "Calls by kind", r.compatCalls)]
        .compactMap { title, empty, column, rows in rows.map { (title, empty, column, $0) } }
}

func sessionReference(_ id: Int64, host: String?) -> String {
    host.map { "\($0) #\(id)" } ?? String(id)
}

enum ReportCoverage {
    static func lines(_ coverage: AuditReport.Coverage?) -> [String] {
        guard let c = coverage else {
            return ["Not in a fleet report: recorder runs are not shipped. Each host's own `sshaudit report` and `status` "
                + "show its runs, the time it was not recording and what it lost."]
        }
        guard c.runs > 0 else { return ["NOT WATCHED: no recorder ran in this period; nothing in it was recorded."] }
        var lines = ["Recorder runs in the period: \(c.runs)"
            + (c.uncleanRuns > 0 ? " (\(c.uncleanRuns) did not stop cleanly: crashed or killed)" : ", all stopped cleanly or still running")]
        if c.gaps.isEmpty {
            lines.append("Recording covered the whole period.")
        } else {
            lines.append("NOT RECORDING for \(durationText(ms: Int64(c.notRecordingSeconds * 1000))) of the period: "
                + c.gaps.map { "\($0.from) to \($0.to)" }.joined(separator: "; "))
        }
        lines.append("Lost in the kernel: \(c.ringDrops) events, \(c.trackFailures) processes not followed; "
            + "events no session could claim: \(c.unattributedEvents); lost at the recorder's bounds: \(c.overflows); "
            + "processes gone without an exit event: \(c.unobservedExits).")
        return lines
    }
}
