import Foundation
import SSHAuditBPF
import SSHAuditCore
import SSHAuditStore

/// Everything read so far, for the next run should this one be killed: the ring position, the
/// kernel's loss counters and the correlator's state, stored through the batch writer with the rows
/// they cover. About once a second; less often when the state is large, so that saving it costs at
/// most about 5% of a core. Nothing is saved without pinned kernel state (there is nothing to resume).
final class Checkpoints {
    private let tracer: BPFTracer
    private let output: OutputBox
    private let pipeline: RecorderPipeline
    /// The run the checkpoints belong to (a reopened database starts a new one).
    var runID: Int64
    private var lastCheckpoint: UInt64?
    private var checkpointInterval: TimeInterval = 1
    private var lastCheckpointAt = Date()

    init(tracer: BPFTracer, output: OutputBox, pipeline: RecorderPipeline, runID: Int64) {
        self.tracer = tracer
        self.output = output
        self.pipeline = pipeline
        self.runID = runID
    }

    /// Call between ring-buffer reads.
    func tick() {
        if Date().timeIntervalSince(lastCheckpointAt) >= checkpointInterval {
            lastCheckpointAt = Date()
            save()
        }
    }

    func save(force: Bool = false) {
        let position = tracer.readPosition
        guard force || position != lastCheckpoint, tracer.pinDirectory != nil else { return }
        let started = Date()
        defer { checkpointInterval = max(1, 20 * Date().timeIntervalSince(started)) }
        do {
            let losses = tracer.losses()
            output.writer.enqueue(checkpoint: Checkpoint(
                runID: runID, atNs: Clock.wallNs(), programs: BPFTracer.programsFingerprint,
                ringMapID: tracer.ringMapID, position: position, kernelRingFull: losses.ringFull,
                kernelMapFull: losses.mapFull, events: pipeline.events, decodeErrors: pipeline.undecodable,
                state: try pipeline.correlator.checkpoint()))
            lastCheckpoint = position
        } catch {
            warn("cannot save the correlator's state: \(error)")
        }
    }
}
