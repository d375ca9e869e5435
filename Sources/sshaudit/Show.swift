import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditCore
import SSHAuditStore

/// One session as a timeline: the connection and its authentication, then the command tree, the
/// files it transferred and its forwardings.
struct Show: ParsableCommand, UsesDatabase, UsesFormat {
    static let configuration = CommandConfiguration(
        abstract: "Show one session as a timeline: connection, authentication, command tree, transfers, events, network.")

    enum Format: String, FormatChoice {
        case text, json
        static let standard = Format.text
        static let help = "Output format: text or json (one object; commands nested under \"children\", and per channel under \"channels\")."
    }

    @Argument(help: "Session id (the ID column of `sshaudit query sessions`).")
    var sessionID: Int64?

    @Option(help: "Instead of one session: this user's sessions and commands, interleaved by time.")
    var user: String?

    @Option(help: ArgumentHelp("With --user: from T on (\(QueryTime.help)).", valueName: "T"))
    var since: String?

    func validate() throws {
        if (sessionID == nil) == (user == nil) { throw ValidationError("give a session id or --user NAME") }
        if since != nil && user == nil { throw ValidationError("--since goes with --user") }
    }

    @OptionGroup var database: DatabaseOption

    @OptionGroup var output: FormatOption<Format>

    @OptionGroup var fleet: CentralOptions

    @OptionGroup var sensitivePaths: SensitivePathsOption

    func run() throws {
        let central = try fleet.reader()
        if let user { return try showUser(user, central: central) }
        guard let sessionID else { return }
        if let central {
            // Session ids are per host: --host names it when several hosts have this id. Recordings
            // stay on their host (not shipped): tty_recording is null here.
            let found = try central.timeline(session: sessionID)
            switch format {
            case .json: try printJSON(found)
            case .text: writeOut(VisibleText.render("Host \(found.host)") + "\n" + Self.render(found.row, sensitive: try sensitivePaths.patterns()))
            }
            return
        }
        let reader = try AuditReader(path: db)
        var timeline = try reader.timeline(session: sessionID)
        timeline.ttyRecording = try reader.ttySummary(session: sessionID)
        switch format {
        case .json: try printJSON(timeline)
        case .text: writeOut(Self.render(timeline, sensitive: try sensitivePaths.patterns()))
        }
    }

    /// " (uid N)", or " (uid N inside, M on the host)" when the sshd's user namespace maps it elsewhere.
    static func uidText(_ s: SessionRow) -> String {
        guard let uid = s.uid else { return "" }
        if let inside = s.uidInside, inside != uid { return " (uid \(inside) inside, \(uid) on the host)" }
        return " (uid \(uid))"
    }

    /// Recorded text goes through VisibleText: the header and each fact here, the rest through
    /// formatTable.
    static func render(_ t: SessionTimeline, sensitive: [String] = SensitivePaths.defaults) -> String {
        let s = t.session
        var title = "Session \(s.id)"
        if let user = s.user { title += " · \(user)" + uidText(s) }
        title += " · from \(endpoint(s.remoteAddr, s.remotePort)) to \(endpoint(s.localAddr, s.localPort))"
        var out = VisibleText.render(title) + "\n"
        var facts: [String] = []
        if let path = s.sshdPath { facts.append("sshd \(path)" + (s.sshdVersion.map { " (\($0))" } ?? "")) }
        // An sshd in a chroot, a container or another namespace: where it lived.
        if let root = s.root, root != "/" { facts.append("root \(root)") }
        if let container = s.container { facts.append("container \(container)") }
        if let cgroup = s.cgroup, s.container != nil || s.root.map({ $0 != "/" }) == true { facts.append("cgroup \(cgroup)") }
        if let tty = s.tty { facts.append("tty \(tty)") }
        if let method = s.authMethod {
            facts.append("auth \(method)" + (s.keyFingerprint == nil ? "" : " " + keyText(
                type: s.keyType, fingerprint: s.keyFingerprint, certID: s.certID, serial: s.certSerial, caType: s.caKeyType,
                ca: s.caFingerprint)))
        }
        if s.bytesIn != nil || s.bytesOut != nil {
            facts.append("in \(s.bytesIn.map(String.init) ?? "?") B, out \(s.bytesOut.map(String.init) ?? "?") B")
        }
        if let kind = s.kind { facts.append("kind \(kind)") }
        if s.recovered { facts.append("recovered (began before the recorder)") }
        if s.drops { facts.append("INCOMPLETE: events were lost while it was open (the kernel's or the recorder's bounds)") }
        if s.truncatedArgv { facts.append("some argv cut at 8 KiB") }
        if s.unattributedEvents { facts.append("INCOMPLETE: events no session could claim arrived while it was open") }
        if s.endedUnobserved { facts.append("ended while the recorder was not running") }
        facts.append(Self.ttyFact(t.ttyRecording))
        // Facts joined by " · ", wrapped to stay within 100 columns.
        var line = ""
        for fact in facts.map(VisibleText.render) {
            if !line.isEmpty && VisibleText.width(line) + 3 + VisibleText.width(fact) > 98 { out += "  " + line + "\n"; line = "" }
            line += line.isEmpty ? fact : " · " + fact
        }
        if !line.isEmpty { out += "  " + line + "\n" }

        // The connection's life, in time order.
        var events: [(String, Int, String)] = [(s.startedAt, 0, "connected from \(endpoint(s.remoteAddr, s.remotePort))")]
        for a in t.auth {
            var text = "auth \(a.result)"
            if let method = a.method { text += " \(method)" + (a.submethod.map { "/\($0)" } ?? "") }
            if let user = a.user { text += " for \(user)" }
            if a.keyFingerprint != nil || a.certID != nil { text += " " + keyText(a) }
            if let info = a.authInfo { text += " (\(info))" }
            events.append((a.at, 1, text))
        }
        if let at = s.authenticatedAt {
            events.append((at, 2, "authenticated as \(s.user ?? "?")" + uidText(s)))
        }
        if let end = s.endedAt {
            var text = "ended after \(duration(from: s.startedAt, to: end))"
            if let code = s.exitCode { text += ", exit \(code)" }
            events.append((end, 3, text))
        }
        events.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        out += "\n" + formatTable(header: ["TIME", "EVENT"], rows: events.map { [$0.0, $0.2] })
        if s.endedAt == nil { out += "(still open)\n" }

        out += renderCommands(t)
        if !t.transfers.isEmpty {
            out += "\nFile transfers (\(t.transfers.count))\n"
            out += formatTable(header: ["OPENED", "PROTO", "MODE", "BYTES", "PATH"], rows: t.transfers.map { f in [
                f.openedAt, f.transferProtocol, f.mode, String(f.bytesRead + f.bytesWritten), f.path,
            ] })
        }
        if !t.files.isEmpty {
            // Sensitive paths first, marked "!": what an intruder changes to stay is what to read first.
            let matcher = SensitivePaths.Matcher(sensitive)
            let marked = t.files.map { (matcher.matches($0), $0) }
            let count = marked.filter(\.0).count
            out += "\nFile activity (\(t.files.count)\(count > 0 ? ", \(count) sensitive" : ""))\n"
            out += formatTable(header: ["FIRST", "COUNT", "OP", "S", "PATH"],
                               rows: (marked.filter(\.0) + marked.filter { !$0.0 }).map { sensitive, f in [
                f.firstAt, String(f.count), f.op, sensitive ? "!" : "", fileActivityPath(f),
            ] })
        }
        if !t.events.isEmpty {
            out += "\nSession events (\(t.events.count))\n"
            out += formatTable(header: ["AT", "KIND", "TARGET", "DETAIL"], rows: t.events.map { e in [
                e.at, e.kind, e.targetHost.map { host in e.targetPort.map { "\(host):\($0)" } ?? host } ?? "-", e.detail ?? "-",
            ] })
        }
        if !t.network.isEmpty {
            out += "\nNetwork (\(t.network.count))\n"
            out += formatTable(header: ["FIRST", "COUNT", "PID", "OP", "PROTO", "ENDPOINT"], rows: t.network.map { n in [
                n.firstAt, String(n.count), String(n.pid), n.op, "\(n.family)/\(n.proto)", networkEndpoint(n),
            ] })
        }
        return out
    }
}

func duration(from start: String, to end: String) -> String {
    guard let a = Timestamp.parse(start), let b = Timestamp.parse(end) else { return "?" }
    return durationText(ms: (b - a) / 1_000_000)
}

/// 850ms, 4.2s, 3m07s, 2h05m, 3d04h.
func durationText(ms: Int64) -> String {
    if ms < 1000 { return "\(ms)ms" }
    if ms < 60_000 { return String(format: "%.1fs", Double(ms) / 1000) }
    let s = ms / 1000
    if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
    if s < 86_400 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    return String(format: "%dd%02dh", s / 86_400, s % 86_400 / 3600)
}

/// One user's activity across sessions, in time order: for "what did this account do, everywhere?".
struct UserTimelineEntry: Encodable {
    var at: String
    var type: String  // session_start, command, session_end
    var sessionID: Int64
    var text: String
    /// With --central: the host of the session (nil locally, and then absent from the JSON).
    var host: String?

    enum CodingKeys: String, CodingKey {
        case at, type, text, host
        case sessionID = "session_id"
    }
}

extension Show {
    func showUser(_ user: String, central: CentralReader?) throws {
        var filter = QueryFilter(user: user)
        filter.since = try since.map { try QueryOptions.time($0, option: "--since") }
        let sessions: [Hosted<SessionRow>], commands: [Hosted<CommandRow>]
        if let central {
            (sessions, commands) = (try central.sessions(filter), try central.commands(filter))
        } else {
            let reader = try AuditReader(path: db)
            sessions = try reader.sessions(filter).map { Hosted(host: "", row: $0) }
            commands = try reader.commands(filter).map { Hosted(host: "", row: $0) }
        }
        let hostOf: (String) -> String? = { central == nil ? nil : $0 }
        var entries: [UserTimelineEntry] = []
        for hosted in sessions {
            let s = hosted.row
            var start = "session \(s.id) from \(endpoint(s.remoteAddr, s.remotePort))"
            if let kind = s.kind { start += " (\(kind))" }
            if let method = s.authMethod {
                start += " \(method)" + (s.keyFingerprint.map { " \($0)" } ?? "") + (s.certID.map { " ID \($0)" } ?? "")
            }
            entries.append(UserTimelineEntry(at: s.startedAt, type: "session_start", sessionID: s.id, text: start,
                                             host: hostOf(hosted.host)))
            if let end = s.endedAt {
                entries.append(UserTimelineEntry(at: end, type: "session_end", sessionID: s.id,
                                                 text: "session \(s.id) ended" + (s.exitCode.map { " (exit \($0))" } ?? ""),
                                                 host: hostOf(hosted.host)))
            }
        }
        for hosted in commands {
            let c = hosted.row
            var text = c.argv.joined(separator: " ")
            if let code = c.exitCode { text += "  → \(code)" } else if let sig = c.signal { text += "  → signal \(sig)" }
            entries.append(UserTimelineEntry(at: c.startedAt, type: "command", sessionID: c.sessionID, text: text,
                                             host: hostOf(hosted.host)))
        }
        let order = ["session_start": 0, "command": 1, "session_end": 2]
        entries.sort { ($0.at, order[$0.type]!, $0.host ?? "", $0.sessionID) < ($1.at, order[$1.type]!, $1.host ?? "", $1.sessionID) }
        switch format {
        case .json: try printJSON(entries)
        case .text:
            if entries.isEmpty { throw CLIError("nothing recorded for user \(user)") }
            writeOut(entries.map {
                let session = $0.host.map { "\($0) " } ?? ""
                return VisibleText.render("\($0.at)  [\(session)\($0.sessionID)] \($0.type == "command" ? "  " : "")\($0.text)")
            }.joined(separator: "\n") + "\n")
        }
    }
}

extension Show {
    /// Whether the session has a terminal recording, and how large it is.
    static func ttyFact(_ r: TTYRecordingSummary?) -> String {
        guard let r else { return "no terminal recording" }
        var text = "terminal recording \(r.bytes) B in \(r.chunks) chunk(s)"
        if r.truncated { text += ", TRUNCATED at the cap (--tty-max)" }
        if r.incomplete { text += ", INCOMPLETE: bytes were lost" }
        return text
    }
}
