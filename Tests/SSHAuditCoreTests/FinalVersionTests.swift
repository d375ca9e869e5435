import XCTest
@testable import SSHAuditCore

/// A row's final version (`CorrelatorOutput.isFinal`) must be its last: the store refuses any version
/// after it, and `verify` reports one as tampering. So no real recording may produce one.
final class FinalVersionTests: XCTestCase {
    func testNoRecordedRowHasAVersionAfterItsFinalOne() throws {
        for name in Fixture.names {
            let (sessions, _, outputs) = try Fixture.replay(name)
            var finished = Set<String>()
            for output in outputs {
                let key: String
                switch output {
                case let .session(s): key = "session \(s.id)"
                case let .command(c): key = "command \(c.id)"
                case let .auth(a): key = "auth \(a.id)"
                case let .transfer(t): key = "transfer \(t.id)"
                case let .sessionEvent(e): key = "event \(e.id)"
                case let .fileActivity(f): key = "file \(f.id)"
                case let .network(n): key = "network \(n.id)"
                case let .ttyChunk(t): key = "tty \(t.id)"
                case let .refusal(r): key = "refusal \(r.id)"
                case let .channel(c): key = "channel \(c.id)"
                }
                XCTAssertFalse(finished.contains(key), "\(name): a version of \(key) after its final one")
                if output.isFinal { finished.insert(key) }
            }
            // Every session seen to its end is closed once its connection's byte counts arrived.
            for s in sessions where s.endedAtNs != nil && s.bytesIn != nil {
                XCTAssertTrue(s.closed, "\(name): session \(s.id) ended and was counted, but was not closed")
            }
        }
    }
}
