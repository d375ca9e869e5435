import Foundation
import GRDB
import SSHAuditCore

/// When the audit trail was written and what it lost: the recorder_runs table, for `sshaudit status`
/// and reports. A gap between runs is time nobody watched.
public struct RunRow: Encodable, Sendable {
    public var id: Int64
    public var startedAt: String
    public var stoppedAt: String?
    public var cleanExit: Bool
    public var ringDrops: Int64
    public var trackFailures: Int64
    public var decodeErrors: Int64
    public var unattributedEvents: Int64
    /// Entries the recorder's own bounds refused or gave up; processes found gone without an exit.
    public var overflows: Int64
    public var unobservedExits: Int64
    public var events: Int64
    /// The killed run whose kernel state this run continued (no gap between them).
    public var resumedFrom: Int64?

    enum CodingKeys: String, CodingKey {
        case id, events
        case startedAt = "started_at", stoppedAt = "stopped_at", cleanExit = "clean_exit", ringDrops = "ring_drops"
        case trackFailures = "track_failures", decodeErrors = "decode_errors"
        case unattributedEvents = "unattributed_events", resumedFrom = "resumed_from"
        case overflows, unobservedExits = "unobserved_exits"
    }
}

public struct StatusReport: Encodable, Sendable {
    public var runs: [RunRow]
    public var sessions: Int64
    public var openSessions: Int64
    public var endedUnobserved: Int64
    public var commands: Int64
    public var authAttempts: Int64
    public var totalRingDrops: Int64
    public var totalTrackFailures: Int64
    public var totalUnattributedEvents: Int64
    public var totalOverflows: Int64
    public var totalUnobservedExits: Int64
    public var uncleanRuns: Int64

    enum CodingKeys: String, CodingKey {
        case runs, sessions, commands
        case openSessions = "open_sessions", endedUnobserved = "ended_unobserved", authAttempts = "auth_attempts"
        case totalRingDrops = "total_ring_drops", totalTrackFailures = "total_track_failures", uncleanRuns = "unclean_runs"
        case totalUnattributedEvents = "total_unattributed_events"
        case totalOverflows = "total_overflows", totalUnobservedExits = "total_unobserved_exits"
    }
}

extension AuditReader {
    public func status(lastRuns: Int = 10) throws -> StatusReport {
        try reader.read { db in
            func count(_ sql: String) throws -> Int64 { try Int64.fetchOne(db, sql: sql) ?? 0 }
            let runs = try Row.fetchAll(db, sql: "SELECT * FROM recorder_runs ORDER BY id DESC LIMIT ?", arguments: [lastRuns])
                .reversed().map { r in
                    RunRow(id: r["id"], startedAt: r["started_at"], stoppedAt: r["stopped_at"], cleanExit: r["clean_exit"],
                           ringDrops: r["ring_drops"], trackFailures: r["track_failures"], decodeErrors: r["decode_errors"],
                           unattributedEvents: r["unattributed_events"], overflows: r["overflows"],
                           unobservedExits: r["unobserved_exits"], events: r["events"],
                           resumedFrom: r["resumed_from"])
                }
            return StatusReport(
                runs: Array(runs),
                sessions: try count("SELECT COUNT(*) FROM sessions"),
                openSessions: try count("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND ended_unobserved = 0"),
                endedUnobserved: try count("SELECT COUNT(*) FROM sessions WHERE ended_unobserved = 1"),
                commands: try count("SELECT COUNT(*) FROM commands"),
                authAttempts: try count("SELECT COUNT(*) FROM auth_attempts"),
                totalRingDrops: try count("SELECT COALESCE(SUM(ring_drops), 0) FROM recorder_runs"),
                totalTrackFailures: try count("SELECT COALESCE(SUM(track_failures), 0) FROM recorder_runs"),
                totalUnattributedEvents: try count("SELECT COALESCE(SUM(unattributed_events), 0) FROM recorder_runs"),
                totalOverflows: try count("SELECT COALESCE(SUM(overflows), 0) FROM recorder_runs"),
                totalUnobservedExits: try count("SELECT COALESCE(SUM(unobserved_exits), 0) FROM recorder_runs"),
                uncleanRuns: try count("SELECT COUNT(*) FROM recorder_runs WHERE clean_exit = 0 AND id < (SELECT MAX(id) FROM recorder_runs)"))
        }
    }
}
