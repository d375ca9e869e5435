import Foundation
import SSHAuditCore

/// The replay source: a file written by `record --events`, read front to back.
public final class EventLogSource: EventSource {
    public let file: String
    let log: EventLogStream
    private let pipeline: RecorderPipeline
    private let after: () -> Void

    /// `after` runs after each record.
    public init(_ log: EventLogStream, file: String, into pipeline: RecorderPipeline, after: @escaping () -> Void = {}) {
        self.log = log
        self.file = file
        self.pipeline = pipeline
        self.after = after
    }

    /// Every record of the log through the pipeline, then the terminal recordings of the sessions
    /// still open at its end. False: a log has nothing more after that.
    public func pump() throws -> Bool {
        do {
            var sinceFlush = 0
            try log.forEach { record in
                pipeline.consume(record)
                sinceFlush += 1
                // As a live recorder sends command counts between reads of the ring buffer.
                if sinceFlush == 4096 {
                    sinceFlush = 0
                    pipeline.correlator.flushCommandCounts()
                    _ = pipeline.correlator.takeReleasedFileSeenKeys()  // no kernel map to remove them from
                }
                after()
            }
            pipeline.correlator.flushCommandCounts()
            pipeline.correlator.tty.flushAll()  // recordings of sessions still open at the log's end
            if log.recordsNotLogged > 0 {
                warn("\(file): \(log.recordsNotLogged) record(s) were not logged (the recorder could not write the file); "
                     + "the sessions open then may be incomplete")
            }
            return false
        } catch let error as EventLogError {
            throw RecorderFailure("\(file): \(error)")
        }
    }
}

extension EventLogStream {
    /// Opens an event log, with errors a user can act on.
    public static func open(_ path: String) throws -> EventLogStream {
        do {
            return try EventLogStream(path: path)
        } catch let error as EventLogError {
            throw RecorderFailure("\(path): \(error)")
        } catch {
            throw RecorderFailure("cannot read \(path): \((error as NSError).localizedDescription)")
        }
    }
}
