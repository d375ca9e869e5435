import SSHAuditBPF

/// The live source: the kernel programs' ring buffer.
public final class RingSource: EventSource {
    let tracer: BPFTracer

    /// Every record read from `tracer`'s ring goes to `pipeline` from now on.
    public init(tracer: BPFTracer, into pipeline: RecorderPipeline) throws {
        self.tracer = tracer
        try tracer.setHandler { bytes in pipeline.consume(bytes) }
    }

    /// Reads what the ring holds, waiting up to 50 ms for a first record; the ring never ends.
    public func pump() throws -> Bool {
        tracer.poll(timeoutMs: 50)
        return true
    }
}
