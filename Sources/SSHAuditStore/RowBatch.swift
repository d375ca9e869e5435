import SSHAuditCore

/// Correlator rows to be written together: the last version of each row, in the order the rows first
/// appeared. A newer version of a session, command or transfer takes the place of the one waiting
/// (a command's exec and exit, a session's command count cost one write); authentication attempts and
/// session events are written once, so each is kept.
public struct RowBatch {
    public private(set) var outputs: [CorrelatorOutput] = []
    private var position: [RowKey: Int] = [:]

    public init() {}

    public init(_ outputs: [CorrelatorOutput]) {
        for output in outputs where !replaceWaiting(output) { append(output) }
    }

    public var count: Int { outputs.count }
    /// What the rows hold (`CorrelatorOutput.heldBytes`): a queue of rows is bounded by it too.
    public private(set) var heldBytes = 0
    public var isEmpty: Bool { outputs.isEmpty }

    /// Puts `output` in the place of the waiting version of its row, if there is one.
    public mutating func replaceWaiting(_ output: CorrelatorOutput) -> Bool {
        guard let key = RowKey(output), let index = position[key] else { return false }
        heldBytes += output.heldBytes - outputs[index].heldBytes
        outputs[index] = output
        return true
    }

    /// Adds `output` at the end (after `replaceWaiting` found no version of its row).
    public mutating func append(_ output: CorrelatorOutput) {
        if let key = RowKey(output) { position[key] = outputs.count }
        heldBytes += output.heldBytes
        outputs.append(output)
    }
}

/// A row that is written again as it changes.
private enum RowKey: Hashable {
    case session(Int64), command(Int64), transfer(Int64), file(Int64), network(Int64)
    case channel(Int64)

    init?(_ output: CorrelatorOutput) {
        switch output {
        case let .session(s): self = .session(s.id)
        case let .command(c): self = .command(c.id)
        case let .transfer(t): self = .transfer(t.id)
        case let .fileActivity(f): self = .file(f.id)
        case let .network(n): self = .network(n.id)
        case let .channel(c): self = .channel(c.id)
        case .auth, .sessionEvent, .ttyChunk, .refusal: return nil
        }
    }
}
