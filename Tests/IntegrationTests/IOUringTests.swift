import Foundation
import GRDB
import XCTest

/// Operations a session's process submits through io_uring never pass the syscall tracepoints the
/// file and network rows come from: they are counted per ring and opcode in the kernel and give the
/// session one `io_uring` event per ring (at its owner's exit), on real sshd. A flood of requests is
/// one event; a ring handed to a child that uses it after its creator exited is still counted; the
/// same program outside any session gives nothing.
final class IOUringTests: XCTestCase {
    var server: SSHDServer?
    var recorder: Recorder?
    var listener: Process?

    override func tearDown() {
        listener?.terminate()
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    /// Raw io_uring_setup / io_uring_enter (no library): `ops PATH PORT` opens PATH for writing twice
    /// and connects to 127.0.0.1:PORT once through the ring; `flood N` submits N no-ops; `orphan PATH`
    /// creates a ring, forks, and the child opens PATH through it once its parent has exited;
    /// `handle PATH` opens PATH for writing with truncation by its file handle (open_by_handle_at);
    /// `hold N PATH` submits N no-ops, says "held" and keeps the ring until PATH exists; `fill N`
    /// creates N rings (all open at once) and submits one no-op on each.
    static let source = #"""
        #define _GNU_SOURCE
        #include <linux/io_uring.h>
        #include <arpa/inet.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/mman.h>
        #include <sys/socket.h>
        #include <sys/syscall.h>
        #include <unistd.h>

        static int ring;
        static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_mask;
        static struct io_uring_sqe *sqes;
        static struct io_uring_cqe *cqes;

        static void *map(size_t size, off_t what) {
            void *p = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, what);
            if (p == MAP_FAILED) { perror("mmap"); exit(1); }
            return p;
        }

        static void setup(void) {
            struct io_uring_params p;
            memset(&p, 0, sizeof p);
            ring = syscall(__NR_io_uring_setup, 64, &p);
            if (ring < 0) { perror("io_uring_setup"); exit(1); }
            char *sq = map(p.sq_off.array + p.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING);
            char *cq = map(p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), IORING_OFF_CQ_RING);
            sqes = map(p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
            sq_tail = (unsigned *)(sq + p.sq_off.tail); sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
            sq_array = (unsigned *)(sq + p.sq_off.array);
            cq_head = (unsigned *)(cq + p.cq_off.head); cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
            cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
        }

        /* Queues n copies of *sqe, submits them, waits for all, returns the last result. */
        static int run(const struct io_uring_sqe *sqe, unsigned n) {
            unsigned tail = *sq_tail;
            for (unsigned k = 0; k < n; k++, tail++) {
                unsigned i = tail & *sq_mask;
                sqes[i] = *sqe;
                sq_array[i] = i;
            }
            __atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
            if (syscall(__NR_io_uring_enter, ring, n, n, IORING_ENTER_GETEVENTS, NULL, 0) < 0) { perror("io_uring_enter"); exit(1); }
            int res = 0;
            for (unsigned k = 0; k < n; k++) {
                unsigned head = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);
                res = cqes[head & *cq_mask].res;
                __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
            }
            return res;
        }

        static int open_for_write(const char *path) {
            struct io_uring_sqe sqe = { .opcode = IORING_OP_OPENAT, .fd = AT_FDCWD, .addr = (unsigned long)path,
                                        .len = 0644, .open_flags = O_WRONLY | O_CREAT | O_TRUNC };
            int fd = run(&sqe, 1);
            if (fd < 0) { fprintf(stderr, "openat: %s\n", strerror(-fd)); exit(1); }
            return fd;
        }

        static int by_handle(const char *path, const char *dir) {
            struct file_handle *h = malloc(sizeof *h + MAX_HANDLE_SZ);
            int mount_id;
            h->handle_bytes = MAX_HANDLE_SZ;
            if (name_to_handle_at(AT_FDCWD, path, h, &mount_id, 0) < 0) { perror("name_to_handle_at"); return 1; }
            int mount_fd = open(dir, O_RDONLY | O_DIRECTORY);
            int fd = open_by_handle_at(mount_fd, h, O_WRONLY | O_TRUNC);
            if (fd < 0) { perror("open_by_handle_at"); return 1; }
            close(fd);
            printf("handle done\n");
            return 0;
        }

        int main(int argc, char **argv) {
            if (argc < 3) return 2;
            if (!strcmp(argv[1], "handle") && argc == 4) return by_handle(argv[2], argv[3]);
            setup();
            if (!strcmp(argv[1], "ops") && argc == 4) {
                close(open_for_write(argv[2]));
                close(open_for_write(argv[2]));
                int s = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                struct io_uring_sqe sqe = { .opcode = IORING_OP_CONNECT, .fd = s, .addr = (unsigned long)&a, .off = sizeof a };
                int r = run(&sqe, 1);
                if (r < 0) { fprintf(stderr, "connect: %s\n", strerror(-r)); return 1; }
                printf("ops done\n");
            } else if (!strcmp(argv[1], "flood")) {
                struct io_uring_sqe sqe = { .opcode = IORING_OP_NOP };
                for (long left = atol(argv[2]); left > 0; left -= 64) run(&sqe, left < 64 ? left : 64);
                printf("flood done\n");
            } else if (!strcmp(argv[1], "hold")) {
                struct io_uring_sqe sqe = { .opcode = IORING_OP_NOP };
                run(&sqe, atoi(argv[2]));
                printf("held\n");
                fflush(stdout);
                while (argc < 4 || access(argv[3], F_OK) != 0) usleep(10000);
            } else if (!strcmp(argv[1], "fill")) {
                struct io_uring_sqe sqe = { .opcode = IORING_OP_NOP };
                run(&sqe, 1);
                for (int n = atoi(argv[2]) - 1; n > 0; n--) { setup(); run(&sqe, 1); }
                printf("filled\n");
            } else if (!strcmp(argv[1], "orphan")) {
                pid_t parent = getpid();
                if (fork() != 0) _exit(0);
                while (getppid() == parent) usleep(1000);
                close(open_for_write(argv[2]));
                printf("orphan done\n");
            } else {
                return 2;
            }
            return 0;
        }
        """#

    /// The program, in a directory every user may read (compiled by root: it is no one's secret).
    func compileProgram() throws -> String {
        try compileTestProgram(Self.source, name: "uring-prog", program: "uring")
    }

    /// A loopback listener outside every session (connects complete in its backlog).
    func startListener(port: Int) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", """
            import socket, threading
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", \(port))); s.listen(64)
            print("ready", flush=True)
            threading.Event().wait()
            """]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        listener = process
        guard String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("ready") else {
            throw TestFailure("listener did not start")
        }
    }

    func testRequestsThroughIOUringAreCountedPerRingInSessionsOnly() throws {
        let token = UUID().uuidString.prefix(8)
        let inside = "/tmp/uring-in-\(token)", orphan = "/tmp/uring-orphan-\(token)", outside = "/tmp/uring-out-\(token)"
        defer { for path in [inside, orphan, outside] { unlink(path) } }
        let program = try compileProgram()
        try startListener(port: 22651)
        let server = try SSHDServer(name: "uring-ops", port: 22650)
        self.server = server
        let recorder = try Recorder(name: "uring-ops")
        self.recorder = recorder

        // Outside any session: the same requests, and a flood.
        for args in [["ops", outside, "22651"], ["flood", "1000"]] {
            let r = try runProcess(program, args)
            XCTAssertEqual(r.status, 0, r.stderr)
        }

        let r = try server.ssh("sa_alice", ["\(program) ops \(inside) 22651 && \(program) flood 100000 && \(program) orphan \(orphan)"])
        XCTAssertTrue(r.stdout.contains("ops done") && r.stdout.contains("flood done") && r.stdout.contains("orphan done"),
                      r.stdout + r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: inside) && FileManager.default.fileExists(atPath: orphan))
        XCTAssertEqual(try recorder.stop(), 0)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(mine.count, 1)
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let note = "; operations through io_uring are counted by kind, not itemised"
        let uses = try recorder.events(session: sessionID).filter { $0.hasPrefix("io_uring ") }
        XCTAssertEqual(uses.sorted(), [
            "io_uring io_uring instance created, no operations submitted",  // the orphan's creator exited
            "io_uring nop ×100000" + note,                                  // one event for the whole flood
            "io_uring openat ×1" + note,                                    // … the child that inherited it
            "io_uring connect ×1, openat ×2" + note,                      // in opcode order
        ].sorted())

        // Nothing for the runs outside sessions: these four are all the database holds.
        var config = Configuration()
        config.readonly = true
        let all = try DatabaseQueue(path: recorder.db, configuration: config).read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM session_events WHERE kind = 'io_uring'")
        }
        XCTAssertEqual(all, 4)

        // Visible in show and report.
        let show = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", recorder.db])
        XCTAssertTrue(show.stdout.contains("connect ×1, openat ×2"), show.stdout + show.stderr)
        let report = try runProcess(Paths.sshaudit, ["report", "--db", recorder.db])
        XCTAssertTrue(report.stdout.contains("## Operations through io_uring") && report.stdout.contains("nop ×100000"),
                      report.stdout + report.stderr)
    }

    /// A ring whose owner is still running when the recorder stops cleanly: its exit would report the
    /// counts, but no recorder reads that any more. The stop stores them, saying they run until then.
    func testCountsOfARingStillOpenAtAStopAreStored() throws {
        let token = UUID().uuidString.prefix(8)
        let output = "/tmp/uring-hold-\(token).out", release = "/tmp/uring-hold-\(token).go"
        defer { for path in [output, release] { unlink(path) } }
        let program = try compileProgram()
        let server = try SSHDServer(name: "uring-stop", port: 22653)
        self.server = server
        let recorder = try Recorder(name: "uring-stop")
        self.recorder = recorder

        // The owner runs on in the background after the client returns: still the session's process.
        let r = try server.ssh("sa_alice", ["nohup \(program) hold 37 \(release) > \(output) 2>&1 < /dev/null &"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let deadline = Date().addingTimeInterval(20)
        while (try? String(contentsOfFile: output, encoding: .utf8))?.contains("held") != true {
            guard Date() < deadline else {
                throw TestFailure("the ring's owner never said 'held': \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "no output")")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(try recorder.stop(), 0)
        _ = FileManager.default.createFile(atPath: release, contents: nil)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        XCTAssertEqual(try recorder.events(session: sessionID).filter { $0.hasPrefix("io_uring ") }, [
            "io_uring nop ×37; operations through io_uring are counted by kind, not itemised; "
                + "counted until the recorder stopped, its owner still running",
        ])
    }

    /// An attack on the bound: one session opens more rings at once than the kernel follows (4,096).
    /// Every ring still gives its event: the ones beyond the bound at once, as not counted (and a
    /// kernel table full in the run's counters), none hidden. As root: a user's rings count against
    /// its locked-memory limit (8 MiB by default, about 1,000 rings), root's do not.
    func testMoreRingsThanTheKernelFollowsAreEachReported() throws {
        let program = try compileProgram()
        let server = try SSHDServer(name: "uring-fill", port: 22654, extraOptions: ["-o", "PermitRootLogin=prohibit-password"])
        self.server = server
        try server.allowRootLogin()
        let recorder = try Recorder(name: "uring-fill")
        self.recorder = recorder

        let rings = 4096 + 20  // SA_URING_MAX + 20
        let r = try server.ssh("root", ["ulimit -n 8192 && \(program) fill \(rings)"])
        XCTAssertTrue(r.stdout.contains("filled"), r.stdout + r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let uses = try recorder.events(session: sessionID).filter { $0.hasPrefix("io_uring ") }
        XCTAssertEqual(uses.count, rings, "one event per ring")
        let notCounted = uses.filter { $0.contains("not counted") }.count
        // Rings of other tests' sessions running meanwhile may hold a few of the places too.
        XCTAssertGreaterThanOrEqual(notCounted, 20)
        XCTAssertLessThan(notCounted, 60)
        XCTAssertEqual(uses.filter { $0.hasSuffix("nop ×1; operations through io_uring are counted by kind, not itemised") }.count,
                       rings - notCounted, "the followed rings counted their one no-op each")
        var config = Configuration()
        config.readonly = true
        let tableFull = try DatabaseQueue(path: recorder.db, configuration: config).read { db in
            try Int.fetchOne(db, sql: "SELECT track_failures FROM recorder_runs ORDER BY id DESC LIMIT 1")
        }
        XCTAssertEqual(tableFull, notCounted, "each ring not counted is a kernel table full")
    }

    /// open_by_handle_at (root only: CAP_DAC_READ_SEARCH) bypasses the open hooks' syscalls: its write
    /// with truncation is file activity like an open's, named by the file it opened.
    func testOpenByHandleForWritingIsFileActivity() throws {
        let token = UUID().uuidString.prefix(8)
        let inside = "/tmp/uring-handle-in-\(token)", outside = "/tmp/uring-handle-out-\(token)"
        defer { for path in [inside, outside] { unlink(path) } }
        for path in [inside, outside] { try "old".write(toFile: path, atomically: false, encoding: .utf8) }
        let program = try compileProgram()
        let server = try SSHDServer(name: "uring-handle", port: 22652, extraOptions: ["-o", "PermitRootLogin=prohibit-password"])
        self.server = server
        try server.allowRootLogin()
        let recorder = try Recorder(name: "uring-handle")
        self.recorder = recorder

        let out = try runProcess(program, ["handle", outside, "/tmp"])
        XCTAssertEqual(out.status, 0, out.stderr)
        let r = try server.ssh("root", ["\(program) handle \(inside) /tmp"])
        XCTAssertTrue(r.stdout.contains("handle done"), r.stdout + r.stderr)
        XCTAssertEqual(try String(contentsOfFile: inside, encoding: .utf8), "", "truncated")
        XCTAssertEqual(try recorder.stop(), 0)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let rows = try recorder.query("files", ["--path", "/tmp/uring-handle-*"])
        XCTAssertEqual(rows.map { "\($0.int("session_id") ?? -1) \($0.string("op") ?? "-") \($0.string("path") ?? "-") ×\($0.int("count") ?? 0)" },
                       ["\(sessionID) truncate \(inside) ×1"], "the session's open by handle, nothing of the one outside")
    }
}
