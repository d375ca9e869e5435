import XCTest
@testable import SSHAuditCore

/// Terminal recording replayed from real sshd (Fixtures/tty_output.events, record-fixtures-tty.sh:
/// OpenSSH 9.2, `record --tty output`): an `ssh -tt` session computing 6*7, then `ssh host 'echo
/// $((6*7)); echo err >&2'`.
final class TTYRecorderTests: XCTestCase {
    func replay(cap: Int64? = nil, checkpointEvery: Int? = nil) throws -> [CorrelatorOutput] {
        let log = try Fixture.load("tty_output")
        var outputs: [CorrelatorOutput] = []
        var correlator = Correlator.replaying(log) { outputs.append($0) }
        if let cap { correlator.tty.maxBytesPerSession = cap }
        for (i, event) in try log.events().enumerated() {
            correlator.handle(event)
            if let every = checkpointEvery, i % every == 0 {
                // A restarted recorder continues from the checkpoint: the same rows, the same ids.
                let state = try correlator.checkpoint()
                correlator = Correlator.replaying(log) { outputs.append($0) }
                if let cap { correlator.tty.maxBytesPerSession = cap }
                try correlator.restore(state)
            }
        }
        correlator.tty.flushAll()
        return outputs
    }

    /// This fixture's sessions (port 22599), by id.
    func sessions(_ outputs: [CorrelatorOutput]) -> [Int64: SessionRecord] {
        var out: [Int64: SessionRecord] = [:]
        for case let .session(s) in outputs where s.local?.port == 22599 { out[s.id] = s }
        return out
    }

    func entries(_ outputs: [CorrelatorOutput], session id: Int64) -> [TTYEntry] {
        outputs.compactMap { if case let .ttyChunk(c) = $0, c.sessionID == id { return c } else { return nil } }
            .flatMap { TTYEntry.decode($0.data, firstNs: $0.firstNs) ?? [] }
    }

    func bytes(_ entries: [TTYEntry], _ streams: Set<TTYStream>) -> String {
        String(decoding: entries.flatMap { if case let .data(_, s, b) = $0, streams.contains(s) { return b } else { return [] } }, as: UTF8.self)
    }

    func testOutputOfBothSessionsInOrderAndBeforeTheirLastRow() throws {
        let outputs = try replay()
        let sessions = sessions(outputs)
        let interactive = try XCTUnwrap(sessions.values.first { $0.kind == "interactive" })
        let exec = try XCTUnwrap(sessions.values.first { $0.kind == "exec" })
        let shown = entries(outputs, session: interactive.id)
        XCTAssertTrue(bytes(shown, [.output]).contains("42\r\n"), bytes(shown, [.output]))
        XCTAssertTrue(shown.contains { if case .window = $0 { return true } else { return false } }, "the pty's size at allocation")
        XCTAssertEqual(bytes(shown, [.input, .stdout, .stderr]), "", "output mode: the pty only, no input")
        let command = entries(outputs, session: exec.id)
        XCTAssertEqual(bytes(command, [.stdout]), "42\n")
        XCTAssertEqual(bytes(command, [.stderr]), "err\n")
        XCTAssertEqual(zip(command, command.dropFirst()).filter { $0.atNs > $1.atNs }.count, 0, "in time order")

        // Nothing of a session arrives after its last row; seqs are 0, 1, 2… per session.
        var closed: Set<Int64> = []
        var nextSeq: [Int64: Int64] = [:]
        for output in outputs {
            switch output {
            case let .session(s) where s.closed: closed.insert(s.id)
            case let .ttyChunk(c):
                XCTAssertFalse(closed.contains(c.sessionID), "chunk \(c.seq) of session \(c.sessionID) after its last row")
                XCTAssertEqual(c.seq, nextSeq[c.sessionID, default: 0])
                nextSeq[c.sessionID] = c.seq + 1
            default: break
            }
        }
        XCTAssertTrue(closed.isSuperset(of: [interactive.id, exec.id]))
    }

    func testTheCapTruncatesOnceAndExactly() throws {
        let outputs = try replay(cap: 100)
        let interactive = try XCTUnwrap(sessions(outputs).values.first { $0.kind == "interactive" })
        let chunks = outputs.compactMap { if case let .ttyChunk(c) = $0, c.sessionID == interactive.id { return c } else { return nil } }
        XCTAssertEqual(chunks.reduce(0) { $0 + $1.bytes }, 100)
        XCTAssertEqual(chunks.filter(\.truncated).count, 1, "truncated once, in the last chunk")
        XCTAssertEqual(chunks.last?.truncated, true)
    }

    func testCheckpointsChangeNothing() throws {
        func recorded(_ outputs: [CorrelatorOutput]) -> [TTYEntry] {
            outputs.compactMap { if case let .ttyChunk(c) = $0 { return c } else { return nil } }
                .flatMap { TTYEntry.decode($0.data, firstNs: $0.firstNs) ?? [] }
        }
        let straight = recorded(try replay())
        XCTAssertFalse(straight.isEmpty)
        for every in [1, 7, 50] {
            // Chunks are cut at each checkpoint; what they hold is the same.
            XCTAssertEqual(recorded(try replay(checkpointEvery: every)), straight, "a checkpoint every \(every) records")
        }
    }
}
