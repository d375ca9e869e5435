import SSHAuditCore
import SSHAuditStore

extension Show {
    /// The commands part of `show`: one header line per channel with its command tree indented under
    /// it, then the commands outside any channel (rows from before channels were recorded). Without
    /// channels, the command tree alone. Recorded text goes through VisibleText (formatTable).
    static func renderCommands(_ t: SessionTimeline) -> String {
        let commands = t.flattenedCommands
        guard !t.channels.isEmpty else {
            var out = "\nCommands (\(commands.count))\n"
            if !commands.isEmpty { out += commandTable(commands) }
            return out
        }
        var out = "\nCommands (\(commands.count)) in \(t.channels.count) channel\(t.channels.count == 1 ? "" : "s")\n"
        for node in t.channels {
            out += VisibleText.render(channelHeader(node.channel)) + "\n"
            let rows = SessionTimeline.flatten(node.commands)
            if !rows.isEmpty { out += indent(commandTable(rows)) }
        }
        let outside = commands.filter { $0.command.channelID == nil }
        if !outside.isEmpty {
            out += "outside any channel\n" + indent(commandTable(outside))
        }
        return out
    }

    /// "#2 exec · pid 4242 · pts/1 · 12:00:01.000Z → 12:00:02.500Z (1.5s) · exit 3".
    static func channelHeader(_ c: ChannelRow) -> String {
        var text = "#\(c.seq) \(c.kind ?? "unknown") · pid \(c.pid) · \(c.tty ?? "no tty") · \(c.startedAt)"
        if let end = c.endedAt {
            text += " → \(end) (\(duration(from: c.startedAt, to: end)))"
            text += c.exitCode.map { " · exit \($0)" } ?? " · exit unknown"
        } else {
            text += " · open"
        }
        return text
    }

    private static func commandTable(_ commands: [(depth: Int, command: CommandRow)]) -> String {
        formatTable(header: ["STARTED", "DURATION", "EXIT", "COMMAND"], rows: commands.map { depth, c in [
            c.startedAt, c.durationMs.map(durationText(ms:)) ?? (c.endedAt == nil ? "running" : "-"),
            exitText(c.exitCode, c.signal),
            String(repeating: "  ", count: min(depth, 20)) + (c.argv.isEmpty ? c.filename : c.argv.joined(separator: " ")),
        ] }, width: 96)
    }

    private static func indent(_ table: String) -> String {
        table.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }
            .joined(separator: "\n")
    }
}
