import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditStore

/// Whether the audit trail can be trusted: recorder runs, gaps between them, losses.
struct Status: ParsableCommand, UsesDatabase, UsesFormat {
    static let configuration = CommandConfiguration(
        abstract: "Recorder runs, gaps in recording, and everything lost (never silent).")

    @OptionGroup var database: DatabaseOption

    @OptionGroup var output: FormatOption<Format>

    enum Format: String, FormatChoice {
        case table, json
        static let standard = Format.table
        static let help = "Output format: table or json."
    }

    func run() throws {
        let report = try AuditReader(path: db).status()
        let running = Self.sshdRunning()
        if format == .json {
            try printJSON(StatusOutput(report: report, sshdRunning: running))
            return
        }
        var out = """
            sessions: \(report.sessions) (\(report.openSessions) open, \(report.endedUnobserved) ended while not recording)
            commands: \(report.commands), authentication attempts: \(report.authAttempts)
            (a crashed run's STOPPED is its last heartbeat, written every 5 s)
            lost in the kernel: \(report.totalRingDrops) events, \(report.totalTrackFailures) processes not followed
            events no session could claim: \(report.totalUnattributedEvents)
            lost at the recorder's own bounds: \(report.totalOverflows) entries; processes gone without an exit event: \(report.totalUnobservedExits)
            runs that did not stop cleanly: \(report.uncleanRuns)
            sshd on this host now: \(running?.summary ?? "unknown (reading /proc needs root)")

            """
        Stdout.write(Data(out.utf8))
        out = ""
        var previousStop: String?
        var rows: [[String]] = []
        for (i, run) in report.runs.enumerated() {
            if let previousStop {
                // A run that resumed the killed one's kernel state read what happened in between.
                let gap = run.resumedFrom == nil ? "not recording" : "kernel kept recording"
                rows.append(["", gap, previousStop, run.startedAt, "", "", "", ""])
            }
            let last = i == report.runs.count - 1
            // A killed run whose kernel state a later run continued lost nothing.
            let resumedBy = report.runs.first { $0.resumedFrom == run.id }.map { "killed, resumed by \($0.id)" }
            rows.append([String(run.id), run.cleanExit ? "clean" : resumedBy ?? (last ? "running or crashed" : "crashed"),
                         run.startedAt, run.stoppedAt ?? "-", String(run.events), String(run.ringDrops), String(run.trackFailures),
                         String(run.unattributedEvents)])
            previousStop = run.stoppedAt ?? run.startedAt  // killed before its first heartbeat
        }
        printTable(header: ["RUN", "STATE", "STARTED", "STOPPED", "EVENTS", "DROPS", "UNTRACKED", "UNATTRIBUTED"], rows: rows)
    }
}

extension Status {
    /// The sshd instances running now, by how they were started, found as the recorder's start-up
    /// scan finds them (ProcScan); nil without root, to whom /proc does not show other users' binaries.
    static func sshdRunning() -> SSHDCensus? {
        guard geteuid() == 0 else { return nil }
        return SSHDCensus(ProcScan.sshdTree(ProcScan.processes(), connections: ProcScan.tcpConnections()))
    }
}

/// `status --format json`: the report's keys, and `sshd_running` (`listeners`, `per_connection`;
/// null without root).
struct StatusOutput: Encodable {
    let report: StatusReport
    let sshdRunning: SSHDCensus?

    enum CodingKeys: String, CodingKey {
        case sshdRunning = "sshd_running"
    }

    func encode(to encoder: Encoder) throws {
        try report.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sshdRunning, forKey: .sshdRunning)
    }
}
