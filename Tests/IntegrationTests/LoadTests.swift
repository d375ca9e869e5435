import Foundation
import GRDB
import XCTest

/// 200 concurrent sessions each running 50 commands: nothing dropped in the kernel, every command stored.
final class LoadTests: XCTestCase {
    /// Every thread of the recorder runs at nice -4 (auditd's priority_boost), those it starts later
    /// too, so that a session saturating the CPUs does not starve it; --priority-boost 0 leaves it be.
    func testTheRecorderRunsAboveTheProgramsItRecords() throws {
        func nices(_ pid: Int32) throws -> Set<Int> {
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
            return Set(try tasks.map { tid in
                // stat: "pid (comm) state …"; nice is the 19th field, the 17th after the comm's ")".
                let stat = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8)
                let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
                return Int(fields[16])!
            })
        }
        let boosted = try Recorder(name: "nice-default")
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(boosted.pid)/task").count
        XCTAssertGreaterThan(threads, 1, "the writer's and the ring's threads are there once it records")
        // At most -4: libdispatch gives its own workers a priority by their QoS, some of them -4 already.
        XCTAssertEqual(try nices(boosted.pid).max(), -4)
        XCTAssertEqual(try boosted.stop(), 0, boosted.stderr)
        let plain = try Recorder(name: "nice-zero", arguments: ["--priority-boost", "0"])
        let own = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        XCTAssertEqual(try nices(plain.pid).max(), own, "the main thread and the writer's stay at the nice they were given")
        XCTAssertEqual(try plain.stop(), 0, plain.stderr)
    }

    func testTwoHundredConcurrentSessionsOfFiftyCommands() throws {
        let server = try SSHDServer(name: "load", port: 22371)
        defer { server.stop() }
        let recorder = try Recorder(name: "load")
        let clients = try runProcess("/bin/bash", ["-c", """
            fail=0
            # sshd turns away connections past MaxStartups before forking (no session is begun):
            # such a client tries again, as a person would.
            for s in $(seq 1 200); do
                (for try in 1 2 3 4 5 6 7 8; do
                    bash \(Paths.harness) ssh \(server.dir) \(server.port) sa_bob \\
                        "for c in \\$(seq 1 50); do /bin/true load-$s-\\$c; done" 2>/dev/null && exit 0
                    sleep 0.$((RANDOM % 9 + 1))
                done; exit 1) &
            done
            for job in $(jobs -p); do wait $job || fail=$((fail + 1)); done
            echo "failed=$fail"
            """], timeout: 600)
        XCTAssertTrue(clients.stdout.contains("failed=0"), clients.stdout + clients.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        XCTAssertTrue(recorder.stderr.contains(" 0 lost in the kernel, 0 processes not followed, 0 unattributed"), recorder.stderr)

        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: recorder.db, configuration: config)
        let (sessions, commands, perSession, drops) = try db.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sessions WHERE local_port = ?", arguments: [server.port]) ?? 0,
             try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM commands c JOIN sessions s ON s.id = c.session_id
                WHERE s.local_port = ? AND c.filename = '/bin/true' AND c.exit_code = 0
                """, arguments: [server.port]) ?? 0,
             try Set(Int.fetchAll(db, sql: """
                SELECT COUNT(*) FROM commands c JOIN sessions s ON s.id = c.session_id
                WHERE s.local_port = ? AND c.filename = '/bin/true' GROUP BY s.id
                """, arguments: [server.port])),
             try Int.fetchOne(db, sql: "SELECT SUM(ring_drops) + SUM(track_failures) + SUM(unattributed_events) FROM recorder_runs") ?? -1)
        }
        XCTAssertEqual(sessions, 200)
        XCTAssertEqual(commands, 10_000, "every command stored, each with its exit code")
        XCTAssertEqual(perSession, [50], "50 in every session")
        XCTAssertEqual(drops, 0, "the run ledger agrees")
        let incomplete = try db.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM sessions WHERE local_port = ?
                AND (drops = 1 OR unattributed_events = 1 OR truncated_argv = 1 OR recovered = 1)
                """, arguments: [server.port]) ?? -1
        }
        XCTAssertEqual(incomplete, 0, "every session complete")
    }
}
