import Foundation
import SSHAuditCore
import SSHAuditStore

/// Runs a recorded event stream through the recorder's pipeline into a store, as `record` would have:
/// for fixtures, benchmarks and re-analysis without a kernel.
public enum Replayer {
    public struct Summary: Sendable {
        public var events: UInt64 = 0
        public var undecodable: UInt64 = 0
        /// Sessions open at once, at most.
        public var peakOpen = 0
        public var storeSeconds: TimeInterval = 0
        public var indexed = 0
        public var indexSeconds: TimeInterval = 0
        /// The store's note on its own integrity, if it has one.
        public var integrityNote: String?
    }

    public static func replay(_ file: String, into db: String) throws -> Summary {
        let log = try EventLogStream.open(file)
        let store = try AuditStore.openForRecording(path: db)
        let ids = try store.nextIDs()
        var failure: Error?
        let writer = BatchWriter(store: store) { failure = $0 }
        let pipeline = RecorderPipeline(correlator: Correlator.replaying(log.header, firstIDs: ids, sink: writer.enqueue))
        var summary = Summary()
        let start = Date()
        let source = EventLogSource(log, file: file, into: pipeline) {
            summary.peakOpen = max(summary.peakOpen, pipeline.correlator.openSessionCount)
        }
        do {
            while try source.pump() {}
        } catch {
            writer.close()
            throw error
        }
        writer.close()
        if let failure { throw RecorderFailure("database write failed: \(StoreError.reason(failure))") }
        let stored = Date()
        // Then the command-line index, which the recorder fills in its spare time. Here in large steps:
        // each transaction adds a segment to the full-text index, and fewer segments mean less merging.
        var indexed = 0
        while case let n = try store.indexCommandLines(limit: 20_000), n > 0 { indexed += n }
        let done = Date()
        summary.events = pipeline.events
        summary.undecodable = pipeline.undecodable
        summary.storeSeconds = stored.timeIntervalSince(start)
        summary.indexed = indexed
        summary.indexSeconds = done.timeIntervalSince(stored)
        summary.integrityNote = store.integrity.summary
        return summary
    }

    /// What a replay would write, by table (rows, not versions).
    public struct Counts: Sendable {
        public var events: UInt64 = 0, undecodable: UInt64 = 0
        public var sessions: Int64 = 0, commands: Int64 = 0, auths = 0, transfers: Int64 = 0, sessionEvents = 0
        public var files: Int64 = 0, network: Int64 = 0, refusals = 0, channels: Int64 = 0
        public var seconds: TimeInterval = 0
    }

    /// `--dry-run`: decode and correlate only; no database is opened.
    public static func dryRun(_ file: String) throws -> Counts {
        let log = try EventLogStream.open(file)
        // Ids start at 1 and each is handed out with the row's first version, so the highest id seen is
        // the number of rows of a table whose rows are sent again as they change.
        var c = Counts()
        let correlator = Correlator.replaying(log.header, firstIDs: RowIDs()) { output in
            switch output {
            case let .session(s): c.sessions = max(c.sessions, s.id)
            case let .command(cmd): c.commands = max(c.commands, cmd.id)
            case .auth: c.auths += 1
            case let .transfer(t): c.transfers = max(c.transfers, t.id)
            case .sessionEvent: c.sessionEvents += 1
            case let .fileActivity(f): c.files = max(c.files, f.id)
            case let .network(n): c.network = max(c.network, n.id)
            case .ttyChunk: break
            case .refusal: c.refusals += 1
            case let .channel(ch): c.channels = max(c.channels, ch.id)
            }
        }
        let pipeline = RecorderPipeline(correlator: correlator)
        let start = Date()
        while try EventLogSource(log, file: file, into: pipeline).pump() {}
        c.seconds = Date().timeIntervalSince(start)
        c.events = pipeline.events
        c.undecodable = pipeline.undecodable
        return c
    }
}
