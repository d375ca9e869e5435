import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditStore

/// Runs a recorded event stream through decoder, correlator and store, as `record` would have:
/// for fixtures, benchmarks and re-analysis without a kernel.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the sessions of a file written by `record --events` into a database.")

    @Argument(help: "Event log file.")
    var file: String

    @Option(help: "Database file.")
    var db: String = AuditStore.defaultPath

    @Flag(help: "Decode and correlate only: count what would be stored, and write nothing.")
    var dryRun = false

    func run() throws {
        if dryRun { return try count() }
        let log = try EventLogStream.open(file)
        let store = try AuditStore.openForRecording(path: db)
        let ids = try store.nextIDs()
        var failure: Error?
        let writer = BatchWriter(store: store) { failure = $0 }
        let correlator = Correlator.replaying(log.header, firstIDs: ids, sink: writer.enqueue)
        var peakOpen = 0
        let start = Date()
        let fed: (events: Int, undecodable: Int)
        do {
            fed = try feed(log, to: correlator) { peakOpen = max(peakOpen, correlator.openSessionCount) }
        } catch {
            writer.close()
            throw error
        }
        writer.close()
        if let failure { throw CLIError("database write failed: \(StoreError.reason(failure))") }
        let stored = Date()
        // Then the command-line index, which the recorder fills in its spare time. Here in large steps:
        // each transaction adds a segment to the full-text index, and fewer segments mean less merging.
        var indexed = 0
        while case let n = try store.indexCommandLines(limit: 20_000), n > 0 { indexed += n }
        let done = Date()
        Stderr.line(
            "sshaudit: replayed \(fed.events) events (\(fed.undecodable) undecodable) into \(db) in "
            + String(format: "%.3f s (at most %d sessions open at once); indexed %d command lines in %.3f s",
                     stored.timeIntervalSince(start), peakOpen, indexed, done.timeIntervalSince(stored)))
        if let note = store.integrity.summary { Stderr.line("sshaudit: \(note)") }
    }
}

extension Replay {
    /// `--dry-run`: the rows a replay would write, by table. No database is opened.
    func count() throws {
        let log = try EventLogStream.open(file)
        // Ids start at 1 and each is handed out with the row's first version, so the highest id seen is
        // the number of rows of a table whose rows are sent again as they change.
        var sessions: Int64 = 0, commands: Int64 = 0, auths = 0, transfers: Int64 = 0, events = 0, files: Int64 = 0
        var network: Int64 = 0, refusals = 0, channels: Int64 = 0
        let correlator = Correlator.replaying(log.header, firstIDs: RowIDs()) { output in
            switch output {
            case let .session(s): sessions = max(sessions, s.id)
            case let .command(c): commands = max(commands, c.id)
            case .auth: auths += 1
            case let .transfer(t): transfers = max(transfers, t.id)
            case .sessionEvent: events += 1
            case let .fileActivity(f): files = max(files, f.id)
            case let .network(n): network = max(network, n.id)
            case .ttyChunk: break
            case .refusal: refusals += 1
            case let .channel(c): channels = max(channels, c.id)
            }
        }
        let start = Date()
        let fed = try feed(log, to: correlator)
        Stderr.line(
            "sshaudit: dry run: \(fed.events) events (\(fed.undecodable) undecodable) give \(sessions) sessions, "
            + "\(commands) commands, \(auths) authentication attempts, \(transfers) file transfers, "
            + "\(events) session events, \(files) file activity rows, \(network) network activity rows, "
            + "\(refusals) refusals and \(channels) channels; "
            + String(format: "decoded and correlated in %.3f s", Date().timeIntervalSince(start)))
    }
}

extension Replay {
    /// Every record of `log` through `correlator`, `after` each one; the counts of records read and
    /// of those that did not decode.
    func feed(_ log: EventLogStream, to correlator: Correlator,
              after: () -> Void = {}) throws -> (events: Int, undecodable: Int) {
        var undecodable = 0
        do {
            let events = try log.forEach { record in
                if !correlator.handle(record: record) { undecodable += 1 }
                after()
            }
            correlator.tty.flushAll()  // recordings of sessions still open at the log's end
            if log.recordsNotLogged > 0 {
                warn("\(file): \(log.recordsNotLogged) record(s) were not logged (the recorder could not write the file); "
                     + "the sessions open then may be incomplete")
            }
            return (events, undecodable)
        } catch let error as EventLogError {
            throw CLIError("\(file): \(error)")
        }
    }
}

extension EventLogStream {
    /// Opens an event log, with errors a user can act on.
    static func open(_ path: String) throws -> EventLogStream {
        do {
            return try EventLogStream(path: path)
        } catch let error as EventLogError {
            throw CLIError("\(path): \(error)")
        } catch {
            throw CLIError("cannot read \(path): \((error as NSError).localizedDescription)")
        }
    }
}
