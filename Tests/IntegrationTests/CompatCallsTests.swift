import Foundation
import GRDB
import XCTest

/// The 32-bit system call interface (int $0x80, open to 64-bit programs too) is ignored by the
/// kernel's tracepoints of each call: a file created that way gives no file row. The kernel counts a
/// session's such calls by i386 number instead: one `compat_calls` session event per process, at its
/// exit or at the recorder's clean stop, on real sshd; nothing for the same calls outside sessions.
final class CompatCallsTests: XCTestCase {
    var server: SSHDServer?
    var recorder: Recorder?

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    /// `creat PATH` creates PATH with i386 creat (8); `flood N` calls i386 getpid (20) N times;
    /// `hold PATH RELEASE` creates PATH, says "held" and waits until RELEASE exists; `many N` starts
    /// N processes that each call i386 getpid once and stay until all have, then exit.
    static let source = #"""
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/mman.h>
        #include <sys/wait.h>
        #include <unistd.h>

        static long int80(long nr, long a, long b) {
            long ret;
            __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
            return ret;
        }

        /* The 32-bit interface takes 32-bit pointers: the path goes below 4 GiB. */
        static long creat32(const char *path) {
            char *low = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
            if (low == MAP_FAILED) { perror("mmap"); exit(1); }
            strncpy(low, path, 4000);
            long fd = int80(8, (long)(unsigned long)low, 0644);
            if (fd < 0) { fprintf(stderr, "creat: %ld\n", fd); exit(1); }
            return fd;
        }

        int main(int argc, char **argv) {
            if (argc < 3) return 2;
            if (!strcmp(argv[1], "creat")) {
                creat32(argv[2]);
                printf("created\n");
            } else if (!strcmp(argv[1], "flood")) {
                for (long n = atol(argv[2]); n > 0; n--) int80(20, 0, 0);
                printf("flooded\n");
            } else if (!strcmp(argv[1], "many")) {
                int n = atoi(argv[2]), go[2];
                if (pipe(go) != 0) return 1;
                for (int i = 0; i < n; i++) {
                    if (fork() == 0) { char c; int80(20, 0, 0); close(go[1]); read(go[0], &c, 1); _exit(0); }
                }
                close(go[0]);
                usleep(500000);   /* every child has made its call and waits */
                close(go[1]);     /* … and now they all exit */
                while (wait(NULL) > 0) {}
                printf("many done\n");
            } else if (!strcmp(argv[1], "hold") && argc == 4) {
                creat32(argv[2]);
                printf("held\n");
                fflush(stdout);
                while (access(argv[3], F_OK) != 0) usleep(10000);
            } else {
                return 2;
            }
            return 0;
        }
        """#

    func compileProgram() throws -> String {
        try compileTestProgram(Self.source, name: "compat-prog", program: "int80")
    }

    func testThirtyTwoBitCallsAreCountedPerProcessInSessionsOnly() throws {
        let token = UUID().uuidString.prefix(8)
        let inside = "/tmp/compat-in-\(token)", held = "/tmp/compat-held-\(token)", outside = "/tmp/compat-out-\(token)"
        let output = "/tmp/compat-hold-\(token).out", release = "/tmp/compat-hold-\(token).go"
        defer { for path in [inside, held, outside, output, release] { unlink(path) } }
        let program = try compileProgram()
        let server = try SSHDServer(name: "compat", port: 22660)
        self.server = server
        let recorder = try Recorder(name: "compat")
        self.recorder = recorder

        // Outside any session: the same calls.
        for args in [["creat", outside], ["flood", "1000"]] {
            let r = try runProcess(program, args)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let r = try server.ssh("sa_alice", ["\(program) creat \(inside) && \(program) flood 100000 && "
                                            + "(nohup \(program) hold \(held) \(release) > \(output) 2>&1 < /dev/null &)"])
        XCTAssertTrue(r.stdout.contains("created") && r.stdout.contains("flooded"), r.stdout + r.stderr)
        let deadline = Date().addingTimeInterval(20)
        while (try? String(contentsOfFile: output, encoding: .utf8))?.contains("held") != true {
            guard Date() < deadline else { throw TestFailure("the holding process never said 'held'") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: inside) && FileManager.default.fileExists(atPath: held))
        XCTAssertEqual(try recorder.stop(), 0)
        _ = FileManager.default.createFile(atPath: release, contents: nil)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(mine.count, 1)
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let note = "; 32-bit system calls (int 0x80 or a 32-bit program) are counted by kind, not itemised"
        XCTAssertEqual(try recorder.events(session: sessionID).filter { $0.hasPrefix("compat_calls ") }.sorted(), [
            "compat_calls creat ×1" + note,                        // at its exit
            "compat_calls creat ×1" + note + "; counted until the recorder stopped, the process still running",
            "compat_calls getpid ×100000" + note,                  // one event for the whole flood
        ].sorted())
        // The files themselves are no file rows: the tracepoints never saw the calls.
        let files = try recorder.query("files", ["--path", "/tmp/compat-*"]).compactMap { $0.string("path") }
        XCTAssertFalse(files.contains(inside) || files.contains(held), "\(files)")
        XCTAssertTrue(files.contains(output), "the shell's redirection, an ordinary open: \(files)")

        // Nothing for the runs outside sessions.
        var config = Configuration()
        config.readonly = true
        let all = try DatabaseQueue(path: recorder.db, configuration: config).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM session_events WHERE kind = 'compat_calls'")
        }
        XCTAssertEqual(all, 3)
        let report = try runProcess(Paths.sshaudit, ["report", "--db", recorder.db])
        XCTAssertTrue(report.stdout.contains("## 32-bit system calls") && report.stdout.contains("getpid ×100000"),
                      report.stdout + report.stderr)
    }

    /// An attack on the bound: one session's processes all making 32-bit calls at once, more of them
    /// than the kernel counts (1,024). Each still gives its event: those beyond the bound at their
    /// first call, as not counted (and a kernel table full), none hidden.
    func testMoreProcessesThanTheKernelCountsAreEachReported() throws {
        let program = try compileProgram()
        let server = try SSHDServer(name: "compat-many", port: 22661)
        self.server = server
        let recorder = try Recorder(name: "compat-many")
        self.recorder = recorder

        let processes = 1024 + 16  // SA_COMPAT_MAX + 16
        let r = try server.ssh("sa_alice", ["\(program) many \(processes)"])
        XCTAssertTrue(r.stdout.contains("many done"), r.stdout + r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let events = try recorder.events(session: sessionID).filter { $0.hasPrefix("compat_calls ") }
        XCTAssertEqual(events.count, processes, "one event per process")
        let notCounted = events.filter { $0.contains("no room to count") }.count
        XCTAssertGreaterThanOrEqual(notCounted, 16)
        XCTAssertEqual(events.filter { $0.hasPrefix("compat_calls getpid ×1;") }.count, processes, "each its one call")
        var config = Configuration()
        config.readonly = true
        let tableFull = try DatabaseQueue(path: recorder.db, configuration: config).read { db in
            try Int.fetchOne(db, sql: "SELECT track_failures FROM recorder_runs ORDER BY id DESC LIMIT 1")
        }
        XCTAssertEqual(tableFull, notCounted, "each process not counted is a kernel table full")
    }
}
