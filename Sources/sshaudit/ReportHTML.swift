import Foundation
import SSHAuditCore
import SSHAuditStore

/// The report as one self-contained HTML page: inline CSS and SVG charts, no script, nothing fetched.
enum ReportHTML {
    /// Chart colours (also what the screenshot test looks for).
    static let loginColor = "#2563eb"
    static let failedColor = "#dc2626"
    static let sourceColor = "#ea580c"
    static let programColor = "#16a34a"
    static let userColor = "#7c3aed"

    static func render(_ r: AuditReport, database: String) -> String {
        let t = r.totals
        var body = "<h1>SSH audit report</h1>\n"
        body += "<p class=\"meta\">Period \(esc(r.since)) to \(esc(r.until)) (UTC, end excluded). Generated \(esc(r.generatedAt)) from <code>\(esc(database))</code>.</p>\n"

        body += "<section><h2>Summary</h2><div class=\"tiles\">"
        for (label, value) in [
            ("Connections", t.connections), ("Complete sessions", t.connections - t.incompleteSessions),
            ("Logins", t.logins), ("Never authenticated", t.unauthenticated),
            ("Users", t.users), ("Source addresses", t.sourceAddresses), ("Failed attempts", t.failedAttempts),
            ("Commands", t.commands), ("Privileged commands", t.privilegedCommands), ("Open sessions", t.openSessions),
            ("Sessions from before the period", t.sessionsFromBefore),
        ] {
            body += "<div class=\"tile\"><span class=\"n\">\(grouped(value))</span><span class=\"l\">\(esc(label))</span></div>"
        }
        body += "</div></section>\n"

        body += "<section><h2>Recording coverage</h2><ul>"
        for line in ReportCoverage.lines(r.coverage) { body += "<li>\(esc(line))</li>" }
        body += "</ul></section>\n"

        body += "<section><h2>Logins per day</h2>\n"
        body += columnChart(r.days.map { ($0.day, $0.logins) }, color: loginColor, id: "chart-logins-per-day")
        body += "<h3>Failed authentication attempts per day</h3>\n"
        body += columnChart(r.days.map { ($0.day, $0.failedAttempts) }, color: failedColor, id: "chart-failed-per-day")
        body += table(["Day", "Logins", "Failed attempts", "Never authenticated"], numeric: [1, 2, 3],
                      r.days.map { [$0.day, grouped($0.logins), grouped($0.failedAttempts), grouped($0.unauthenticated)] })
        body += "</section>\n"

        body += "<section><h2>Logins per user</h2>\n"
        body += barChart(r.loginsPerUser.map { ($0.user, $0.logins) }, color: userColor, id: "chart-logins-per-user")
        body += table(["User", "Logins", "Source addresses", "First", "Last"], numeric: [1, 2],
                      r.loginsPerUser.map { [$0.user, grouped($0.logins), grouped($0.sources), $0.first, $0.last] })
        body += "</section>\n"

        body += "<section><h2>Failed attempts by source address</h2>\n"
        body += barChart(r.failedBySource.map { ($0.address, $0.failedAttempts) }, color: sourceColor, id: "chart-failed-by-source")
        body += table(["Address", "Failed attempts", "Invalid users", "Users tried", "Refused", "First", "Last"], numeric: [1, 2, 3, 4],
                      r.failedBySource.map { [$0.address, grouped($0.failedAttempts), grouped($0.invalidUsers),
                                              grouped($0.usersTried), grouped($0.refused), $0.first, $0.last] })
        body += "</section>\n"

        if !r.certificates.isEmpty {
            body += "<section><h2>Certificates (logins per CA and key ID)</h2>\n"
            body += table(["CA", "Key ID", "Logins", "Users", "First", "Last"], numeric: [2],
                          r.certificates.map { [($0.caKeyType.map { "\($0) " } ?? "") + $0.caFingerprint, $0.certID ?? "-",
                                                grouped($0.logins), $0.users.joined(separator: ", "), $0.first, $0.last] })
            body += "</section>\n"
        }

        body += "<section><h2>Top commands</h2>\n"
        body += barChart(r.topPrograms.map { ($0.program, $0.runs) }, color: programColor, id: "chart-top-commands")
        body += table(["Program", "Runs", "Share"], numeric: [1, 2],
                      r.topPrograms.map { [$0.program, grouped($0.runs), percent($0.runs, of: t.commands)] })
        body += "</section>\n"

        body += "<section><h2>Privileged commands (sudo, su)</h2>\n"
        if r.privileged.isEmpty {
            body += "<p class=\"empty\">No sudo, su, sudoedit or doas in this period.</p>\n"
        } else {
            body += table(["User", "Privileged commands"], numeric: [1], r.privilegedByUser.map { [$0.user, grouped($0.count)] })
            body += "<p>Latest \(r.privileged.count) of \(grouped(t.privilegedCommands)):</p>\n"
            body += table(["Time", "Session", "User", "Exit", "Command"], numeric: [1, 3],
                          r.privileged.map { [$0.at, sessionReference($0.sessionID, host: $0.host), $0.user ?? "-", exitText($0.exitCode, $0.signal),
                                              $0.argv.joined(separator: " ")] }, codeColumn: 4)
        }
        body += "</section>\n"

        body += "<section><h2>Sensitive files changed</h2>\n"
        if r.sensitiveFiles.isEmpty {
            body += "<p class=\"empty\">No change to a sensitive path in this period.</p>\n"
        } else {
            if r.sensitiveFilesTotal > r.sensitiveFiles.count {
                body += "<p>First \(r.sensitiveFiles.count) of \(grouped(r.sensitiveFilesTotal)) (all of them: <code>sshaudit query files --sensitive</code> with this period):</p>\n"
            }
            body += table(["First", "Session", "PID", "UID", "Op", "Count", "Path"], numeric: [1, 2, 3, 5],
                          r.sensitiveFiles.map { [$0.firstAt, sessionReference($0.sessionID, host: $0.host), String($0.pid), String($0.uid), $0.op,
                                                  grouped(Int($0.count)), fileActivityPath($0)] }, codeColumn: 6)
        }
        body += "</section>\n"

        for section in countedSections(r) {
            body += "<section><h2>\(section.title)</h2>\n"
            if section.rows.isEmpty {
                body += "<p class=\"empty\">\(section.empty)</p>\n"
            } else {
                body += table(["At", "Session", section.column], numeric: [1],
                              section.rows.map { [$0.at, String($0.sessionID), $0.detail ?? "-"] })
            }
            body += "</section>\n"
        }

        body += "<section><h2>Network activity of sessions</h2>\n"
        if r.network.isEmpty {
            body += "<p class=\"empty\">No network activity recorded in this period.</p>\n"
        } else {
            body += table(["Op", "Proto", "Endpoint", "Sessions", "Users", "Count", "First", "Last"], numeric: [3, 5],
                          r.network.map { [$0.op, "\($0.family)/\($0.proto)", reportEndpoint($0), grouped($0.sessions),
                                           $0.users.joined(separator: ", "), grouped(Int($0.count)), $0.first, $0.last] },
                          codeColumn: 2)
        }
        body += "</section>\n"

        body += sessionList("Sessions begun before the period, open in it", lastColumn: "Ended", r.sessionsFromBefore,
                            total: t.sessionsFromBefore, sessionEnd)
        body += sessionList("Sessions still open", lastColumn: "Open for", r.openSessions, total: t.openSessions) {
            age(from: $0.startedAt, to: r.generatedAt)
        }

        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>SSH audit report \(esc(String(r.since.prefix(10)))) to \(esc(String(r.until.prefix(10))))</title>
            <style>
            body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #1f2937; background: #ffffff;
                   margin: 0 auto; padding: 24px; max-width: 960px; font-size: 14px; }
            h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e5e7eb; }
            h3 { font-size: 15px; margin: 16px 0 6px; }
            .meta { color: #6b7280; margin: 0; }
            .tiles { display: flex; flex-wrap: wrap; gap: 8px; }
            .tile { border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
            .tile .n { display: block; font-size: 20px; font-weight: bold; } .tile .l { color: #6b7280; font-size: 12px; }
            table { border-collapse: collapse; margin: 8px 0; width: 100%; }
            th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #f3f4f6; vertical-align: top; }
            th { color: #6b7280; font-weight: normal; font-size: 12px; }
            td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
            code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
            svg { display: block; margin: 8px 0; } svg text { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 11px; fill: #374151; }
            .empty { color: #6b7280; }
            </style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    /// Text for the page: its VisibleText form (no control or bidi character reaches the browser), with
    /// HTML's special characters as entities.
    static func esc(_ text: String) -> String { entities(VisibleText.render(text)) }

    /// HTML's special characters as entities.
    static func entities(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// A section listing sessions (session, user, from, start, and `lastColumn`), with how many more there are.
    static func sessionList(_ title: String, lastColumn: String, _ list: [AuditReport.OpenSession], total: Int,
                            _ last: (SessionRow) -> String) -> String {
        var body = "<section><h2>\(esc(title))</h2>\n"
        if list.isEmpty {
            body += "<p class=\"empty\">None.</p>\n"
        } else {
            body += table(["Session", "User", "From", "Started", lastColumn], numeric: [0], sessionListRows(list, last))
            if total > list.count { body += "<p>… and \(total - list.count) more.</p>\n" }
        }
        return body + "</section>\n"
    }

    static func table(_ header: [String], numeric: Set<Int>, _ rows: [[String]], codeColumn: Int? = nil) -> String {
        if rows.isEmpty { return "<p class=\"empty\">No data for this period.</p>\n" }
        var html = "<table><thead><tr>"
        for (i, h) in header.enumerated() { html += numeric.contains(i) ? "<th class=\"num\">\(esc(h))</th>" : "<th>\(esc(h))</th>" }
        html += "</tr></thead><tbody>\n"
        for row in rows {
            html += "<tr>"
            for (i, cell) in row.enumerated() {
                let text = i == codeColumn ? "<code>\(esc(cell))</code>" : esc(cell)
                html += numeric.contains(i) ? "<td class=\"num\">\(text)</td>" : "<td>\(text)</td>"
            }
            html += "</tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    /// Vertical bars, one per day; the first, middle and last days are labelled under the axis.
    static func columnChart(_ points: [(String, Int)], color: String, id: String) -> String {
        let width = 900, height = 200, left = 50, bottom = 24, top = 14
        let plotWidth = width - left - 10, plotHeight = height - bottom - top
        guard let peak = points.map(\.1).max(), peak > 0 else {
            return "<p class=\"empty\" id=\"\(id)\">No data for this period.</p>\n"
        }
        let slot = Double(plotWidth) / Double(points.count)
        let barWidth = max(1.0, slot * 0.8)
        var svg = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - 10)\" y2=\"\(top + plotHeight)\" stroke=\"#9ca3af\"/>"
        svg += "<text x=\"\(left - 6)\" y=\"\(top + 4)\" text-anchor=\"end\">\(grouped(peak))</text>"
        svg += "<text x=\"\(left - 6)\" y=\"\(top + plotHeight)\" text-anchor=\"end\">0</text>"
        for (i, point) in points.enumerated() {
            let h = Double(plotHeight) * Double(point.1) / Double(peak)
            let x = Double(left) + Double(i) * slot + (slot - barWidth) / 2
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@: %@</title></rect>",
                          x, Double(top + plotHeight) - h, barWidth, h, color, esc(point.0), grouped(point.1))
        }
        let labelled = Set([0, points.count / 2, points.count - 1])
        for i in labelled.sorted() {
            let x = Double(left) + (Double(i) + 0.5) * slot
            svg += String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%@</text>", x, height - 6, esc(points[i].0))
        }
        return svg + "</svg>\n"
    }

    /// Horizontal bars with the label on the left and the value after the bar.
    static func barChart(_ rows: [(String, Int)], color: String, id: String) -> String {
        guard let peak = rows.map(\.1).max(), peak > 0 else {
            return "<p class=\"empty\" id=\"\(id)\">No data for this period.</p>\n"
        }
        let width = 900, rowHeight = 20, label = 220, valueRoom = 80
        let height = rows.count * rowHeight + 8
        let plotWidth = Double(width - label - valueRoom)
        var svg = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">"
        for (i, row) in rows.enumerated() {
            let y = 4 + i * rowHeight
            let w = max(1.0, plotWidth * Double(row.1) / Double(peak))
            let name = VisibleText.fit(row.0, columns: 32)  // rendered already: only HTML's characters remain
            svg += "<text x=\"\(label - 8)\" y=\(quote(y + 14)) text-anchor=\"end\">\(entities(name))</text>"
            svg += String(format: "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%@\"/>", label, y + 2, w, rowHeight - 5, color)
            svg += String(format: "<text x=\"%.1f\" y=\"%d\">%@</text>", Double(label) + w + 6, y + 14, grouped(row.1))
        }
        return svg + "</svg>\n"
    }

    static func quote(_ n: Int) -> String { "\"\(n)\"" }
}
