import ArgumentParser
import Foundation
import SSHAuditRecorder
import SSHAuditStore

/// `sshaudit replay`: the recorder's pipeline fed from an event log (SSHAuditRecorder.Replayer).
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the sessions of a file written by `record --events` into a database.")

    @Argument(help: "Event log file.")
    var file: String

    @Option(help: "Database file.")
    var db: String = AuditStore.defaultPath

    @Flag(help: "Decode and correlate only: count what would be stored, and write nothing.")
    var dryRun = false

    /// The benchmark's comparison of the write path's hand-written binding with GRDB's.
    @Flag(help: .hidden)
    var bindThroughGrdb = false

    func run() throws {
        if dryRun { return try count() }
        AuditStore.bindsThroughGRDB = bindThroughGrdb
        let s = try Replayer.replay(file, into: db)
        Stderr.line(
            "sshaudit: replayed \(s.events) events (\(s.undecodable) undecodable) into \(db) in "
            + String(format: "%.3f s (at most %d sessions open at once); indexed %d command lines in %.3f s",
                     s.storeSeconds, s.peakOpen, s.indexed, s.indexSeconds))
        if let note = s.integrityNote { Stderr.line("sshaudit: \(note)") }
    }

    /// `--dry-run`: the rows a replay would write, by table.
    func count() throws {
        let c = try Replayer.dryRun(file)
        Stderr.line(
            "sshaudit: dry run: \(c.events) events (\(c.undecodable) undecodable) give \(c.sessions) sessions, "
            + "\(c.commands) commands, \(c.auths) authentication attempts, \(c.transfers) file transfers, "
            + "\(c.sessionEvents) session events, \(c.files) file activity rows, \(c.network) network activity rows, "
            + "\(c.refusals) refusals and \(c.channels) channels; "
            + String(format: "decoded and correlated in %.3f s", c.seconds))
    }
}
