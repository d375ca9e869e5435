import Foundation
import GRDB
import XCTest

/// The recorded are the adversary: a logged-in user forks as fast as they like, a remote client
/// connects as fast as MaxStartups allows. The recorder stays alive, under its memory bound (README,
/// "What is recorded, and the bounds"), counts what it loses, and records what comes after.
final class BoundsTests: XCTestCase {
    /// The documented bound on the recorder's resident memory (VmHWM), the ring buffer's mapping
    /// included (README, "Memory").
    static let rssBoundKiB = 448 * 1024

    var server: SSHDServer?
    var recorder: Recorder?

    override func tearDown() {
        server?.stop()
        if let recorder { recorder.send(SIGCONT); _ = try? recorder.stop() }
        super.tearDown()
    }

    // In one session: 500 processes that exec a shell with an 8 KB argument and wait, then 7,500 execs
    // of /bin/true with such an argument while the recorder is paused (a slower reader, or a faster
    // attacker), so that the kernel's ring buffer overflows and the exits of the 500 are lost; then
    // 92,000 forks of children that exit at once, in bursts of 1,000 alive together. 100,000 processes.
    func testForkStormInOneSession() throws {
        let server = try SSHDServer(name: "bounds-storm", port: 22461)
        self.server = server
        let work = try Self.workDirectory(server.dir)
        let storm = try Self.compile(Self.forkStormSource, named: "forkstorm", in: server.dir)
        let recorder = try Recorder(name: "bounds-storm")
        self.recorder = recorder
        let memory = MemoryWatch(pid: recorder.pid)

        let client = DispatchGroup()
        client.enter()
        let result = DataBox()
        Thread.detachNewThread {
            let r = try? server.ssh("sa_alice", ["\(storm) \(work) 100000 500 7500 1000"])
            result.data = Data(((r?.stdout ?? "") + (r?.stderr ?? "")).utf8)
            client.leave()
        }
        let t0 = Date()
        func elapsed() -> String { String(format: "%.1f s", Date().timeIntervalSince(t0)) }
        try Self.waitForFile(work + "/held", timeout: 60)
        print("fork storm: 500 held at \(elapsed())")
        recorder.send(SIGSTOP)  // a reader that falls behind: the ring buffer overflows meanwhile
        XCTAssertTrue(FileManager.default.createFile(atPath: work + "/go1", contents: nil))
        try Self.waitForFile(work + "/released", timeout: 90)
        print("fork storm: 7,500 execs done, the 500 released at \(elapsed())")
        recorder.send(SIGCONT)
        XCTAssertTrue(FileManager.default.createFile(atPath: work + "/go2", contents: nil))
        XCTAssertEqual(client.wait(timeout: .now() + 120), .success, "the storm finished")
        let output = String(decoding: result.data, as: UTF8.self)
        XCTAssertTrue(output.contains("forks=100000"), output)
        print("fork storm: 100,000 forks done at \(elapsed())")

        // The exits the kernel lost are found by the recorder's sweep: no command stays running.
        let port = server.port
        let deadline = Date().addingTimeInterval(45)
        var unended = -1, ended = 0
        while Date() < deadline {
            unended = (try? Self.count(recorder.db, """
                SELECT COUNT(*) FROM commands c JOIN sessions s ON s.id = c.session_id
                WHERE s.local_port = \(port) AND c.ended_at IS NULL
                """)) ?? -1
            // Ended, or found gone (its monitor's exit may be among the drops: then its end is unknown).
            ended = (try? Self.count(recorder.db, """
                SELECT COUNT(*) FROM sessions WHERE local_port = \(port) AND (ended_at IS NOT NULL OR ended_unobserved = 1)
                """)) ?? 0
            if unended == 0 && ended > 0 { break }
            Thread.sleep(forTimeInterval: 1)
        }
        print("fork storm: every command ended at \(elapsed())")
        XCTAssertTrue(memory.alive, "the recorder is alive")
        let after = try server.ssh("sa_bob", ["/bin/echo after-the-storm"])
        XCTAssertEqual(after.status, 0, after.stderr)
        let peak = memory.stop()
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        print("fork storm: recorder VmHWM \(peak.hwm / 1024) MiB, peak RssAnon \(peak.anon / 1024) MiB, \(recorder.stderr)")

        XCTAssertLessThanOrEqual(peak.hwm, Self.rssBoundKiB, "peak RSS under the documented bound")
        XCTAssertEqual(unended, 0, "commands whose exit the kernel lost still end")
        XCTAssertEqual(ended, 1, "the storm's session ended, or was found gone")
        let status = try Self.status(recorder.db)
        print("fork storm: status \(status.filter { $0.key.hasPrefix("total") })")
        let drops = status["total_ring_drops"] as? Int ?? 0
        XCTAssertGreaterThan(drops, 0, "the overflow is counted: \(status)")
        XCTAssertGreaterThanOrEqual(status["total_unobserved_exits"] as? Int ?? 0, 500, "\(status)")
        let storm1 = try Self.rows(recorder.db, "SELECT drops, ended_at FROM sessions WHERE local_port = \(port) ORDER BY id LIMIT 1")
        XCTAssertEqual(storm1.first?["drops"] as Bool?, true, "the storm's session is flagged")
        // Commands found gone end without an exit status; none is invented.
        XCTAssertGreaterThanOrEqual(try Self.count(recorder.db, """
            SELECT COUNT(*) FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(port) AND c.filename = '/bin/sh' AND c.exit_code IS NULL AND c.signal IS NULL
            """), 1)
        let later = try Self.rows(recorder.db, """
            SELECT c.exit_code FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(port) AND s.user = 'sa_bob' AND c.filename = '/bin/echo' AND c.argv LIKE '%after-the-storm%'
            """)
        XCTAssertEqual(later.map { $0["exit_code"] as Int? }, [0], "a later login is recorded")
    }

    // For 30 s, connections as fast as MaxStartups lets them in (64 clients against 10:30:30), that
    // never authenticate: closed at once, after sending a banner, or after reading sshd's. Every
    // connection sshd served is a session (or counted as lost); the recorder stays under its bound.
    func testConnectionFlood() throws {
        let server = try SSHDServer(name: "bounds-flood", port: 22462, extraOptions: ["-o", "MaxStartups=10:30:30"])
        self.server = server
        let flood = try Self.compile(Self.floodSource, named: "flood", in: server.dir, libraries: ["-lpthread"])
        let recorder = try Recorder(name: "bounds-flood")
        self.recorder = recorder
        let memory = MemoryWatch(pid: recorder.pid)
        let portsFile = server.dir + "/banner-ports"
        let run = try runProcess(flood, [String(server.port), "30", "64", portsFile], timeout: 90)
        XCTAssertEqual(run.status, 0, run.stderr)
        let bannerPorts = Set(try String(contentsOfFile: portsFile, encoding: .utf8).split(separator: "\n").compactMap { Int($0) })
        XCTAssertTrue(memory.alive, "the recorder is alive")

        let login = try server.ssh("sa_alice", ["/bin/echo after-the-flood"])
        XCTAssertEqual(login.status, 0, login.stderr)
        let peak = memory.stop()
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        print("connection flood: \(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)); recorder VmHWM \(peak.hwm / 1024) MiB, peak RssAnon \(peak.anon / 1024) MiB")
        XCTAssertLessThanOrEqual(peak.hwm, Self.rssBoundKiB, "peak RSS under the documented bound")

        let status = try Self.status(recorder.db)
        let lost = (status["total_ring_drops"] as? Int ?? 0) + (status["total_overflows"] as? Int ?? 0)
            + (status["total_track_failures"] as? Int ?? 0)
        let sessions = try Self.rows(recorder.db, "SELECT remote_port FROM sessions WHERE local_port = \(server.port)")
        let sessionPorts = Set(sessions.compactMap { $0["remote_port"] as Int? })
        // sshd logs every connection it serves (the per-connection process, after it forked).
        let log = try String(contentsOfFile: server.dir + "/sshd_\(server.port).log", encoding: .utf8)
        let served = log.split(whereSeparator: \.isNewline).filter { $0.contains("Connection from ") && $0.contains(" port \(server.port)") }.count
        XCTAssertGreaterThan(bannerPorts.count, 500, "a real flood: \(run.stdout)")
        XCTAssertGreaterThan(served, 1_000, "a real flood")
        if lost == 0 {
            XCTAssertGreaterThanOrEqual(sessions.count, served, "every connection served is a session (the login too)")
            XCTAssertEqual(bannerPorts.subtracting(sessionPorts), [], "each connection that got sshd's banner is a session")
        } else {
            XCTAssertGreaterThanOrEqual(sessions.count + lost, served, "every connection is a session or counted as lost")
        }
        let later = try Self.rows(recorder.db, """
            SELECT c.exit_code FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(server.port) AND c.filename = '/bin/echo' AND c.argv LIKE '%after-the-flood%'
            """)
        XCTAssertEqual(later.map { $0["exit_code"] as Int? }, [0], "a real login afterwards is recorded")
    }

    // An sshd binary padded to 4 GiB (a sparse file: a hostile or huge file where /proc/PID/exe
    // points): learning its version reads a bounded number of bytes, not the file.
    func testHugeSSHDBinaryIsNotReadWhole() throws {
        let server = try SSHDServer(name: "bounds-bigsshd", port: 22463)
        self.server = server
        let big = server.dir + "/sshd"
        try? FileManager.default.removeItem(atPath: big)
        try FileManager.default.copyItem(atPath: "/usr/sbin/sshd", toPath: big)
        XCTAssertEqual(truncate(big, 4 << 30), 0)
        let recorder = try Recorder(name: "bounds-bigsshd")
        self.recorder = recorder
        let memory = MemoryWatch(pid: recorder.pid)
        // The same listener, run from the padded copy (an absolute path: sshd re-executes itself).
        server.stop()
        let config = server.dir + "/sshd_config_\(server.port)"
        let started = try runProcess("/bin/bash", ["-c", """
            setsid \(big) -D -f \(config) -E \(server.dir)/sshd_\(server.port).log </dev/null >/dev/null 2>&1 &
            for i in $(seq 100); do [ -s \(server.dir)/sshd_\(server.port).pid ] && exit 0; sleep 0.1; done; exit 1
            """])
        XCTAssertEqual(started.status, 0, "the padded sshd listens")
        let readBefore = Self.bytesRead(recorder.pid)
        let login = try server.ssh("sa_alice", ["/bin/echo hi"])
        XCTAssertEqual(login.status, 0, login.stderr)
        Thread.sleep(forTimeInterval: 1)
        let read = Self.bytesRead(recorder.pid) - readBefore
        let peak = memory.stop()
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        print("4 GiB sshd: recorder read \(read >> 20) MiB, VmHWM \(peak.hwm / 1024) MiB, peak RssAnon \(peak.anon / 1024) MiB")
        XCTAssertLessThan(read, 64 << 20, "at most 16 MiB of the binary, and the recorder's other reads")
        XCTAssertLessThanOrEqual(peak.hwm, Self.rssBoundKiB)
        let rows = try Self.rows(recorder.db, "SELECT sshd_path, sshd_version FROM sessions WHERE local_port = \(server.port)")
        XCTAssertEqual(rows.map { $0["sshd_path"] as String? }, [big])
        XCTAssertEqual(rows.first?["sshd_version"] as String?, "OpenSSH_9.2p1 Debian-2+deb12u10" , "found in the first bytes")
    }

    // The sweep asks /proc whether a process is gone. A process whose first thread has exited shows
    // as a zombie there while its other threads run: it is not gone, and what it execs later is still
    // its session's command (were it taken for gone, the exec would belong to no session).
    func testAProcessWhoseMainThreadExitedIsNotTakenForGone() throws {
        let server = try SSHDServer(name: "bounds-threads", port: 22464)
        self.server = server
        let program = try Self.compile(#"""
            /* The main thread exits; another thread execs /bin/echo 12 s later (after sweeps). */
            #include <pthread.h>
            #include <unistd.h>
            static void *late(void *arg) { sleep(12); execl("/bin/echo", "echo", "late-exec", (char *)0); return arg; }
            int main(void) { pthread_t t; pthread_create(&t, 0, late, 0); pthread_exit(0); }
            """#, named: "zombieleader", in: server.dir, libraries: ["-lpthread"])
        let recorder = try Recorder(name: "bounds-threads")
        self.recorder = recorder
        let r = try server.ssh("sa_alice", [program])
        XCTAssertEqual(r.stdout, "late-exec\n", r.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let rows = try Self.rows(recorder.db, """
            SELECT c.exit_code FROM commands c JOIN sessions s ON s.id = c.session_id
            WHERE s.local_port = \(server.port) AND c.filename = '/bin/echo'
            """)
        XCTAssertEqual(rows.map { $0["exit_code"] as Int? }, [0], "the late exec is the session's command")
        let status = try Self.status(recorder.db)
        XCTAssertEqual(status["total_unobserved_exits"] as? Int, 0, "\(status)")
        XCTAssertEqual(status["total_unattributed_events"] as? Int, 0, "\(status)")
    }

    // The systemd unit lets the recorder reach its documented bound, and no further by much.
    func testServiceLimitsMatchTheBound() throws {
        let unit = try String(contentsOf: Paths.packageRoot.appending(path: "dist/sshaudit.service"), encoding: .utf8)
        func value(_ key: String) -> String? {
            unit.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        let memory = try XCTUnwrap(value("MemoryMax"))
        XCTAssertTrue(memory.hasSuffix("M"), memory)
        let mib = try XCTUnwrap(Int(memory.dropLast()))
        XCTAssertGreaterThanOrEqual(mib * 1024, Self.rssBoundKiB)
        XCTAssertLessThanOrEqual(mib * 1024, 2 * Self.rssBoundKiB)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(Int(value("TasksMax") ?? "")), 8)
    }

    // MARK: - Helpers

    /// A directory the test users can write (for the storm's handshake files).
    static func workDirectory(_ dir: String) throws -> String {
        let work = dir + "/work"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        chmod(work, 0o777)
        return work
    }

    static func compile(_ source: String, named name: String, in dir: String, libraries: [String] = []) throws -> String {
        let c = dir + "/\(name).c", binary = dir + "/\(name)"
        try source.write(toFile: c, atomically: true, encoding: .utf8)
        let r = try runProcess("/usr/bin/cc", ["-O2", "-o", binary, c] + libraries)
        guard r.status == 0 else { throw TestFailure("cc \(name): \(r.stderr)") }
        chmod(binary, 0o755)
        return binary
    }

    static func waitForFile(_ path: String, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !FileManager.default.fileExists(atPath: path) {
            if Date() > deadline { throw TestFailure("\(path) never appeared") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    static func rows(_ db: String, _ sql: String) throws -> [Row] {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: db, configuration: config).read { try Row.fetchAll($0, sql: sql) }
    }

    static func count(_ db: String, _ sql: String) throws -> Int {
        try rows(db, sql).first?[0] ?? -1
    }

    /// Bytes the process has read with read(2) and the like (/proc/PID/io rchar).
    static func bytesRead(_ pid: Int32) -> Int {
        let io = (try? String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8)) ?? ""
        let line = io.split(separator: "\n").first { $0.hasPrefix("rchar:") } ?? ""
        return Int(line.split(separator: " ").last ?? "") ?? 0
    }

    static func status(_ db: String) throws -> [String: Any] {
        let r = try runProcess(Paths.sshaudit, ["status", "--db", db, "--format", "json"])
        guard r.status == 0, let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("status: \(r.stderr)")
        }
        return json
    }

    static let forkStormSource = #"""
        /* forkstorm DIR TOTAL HELD EXECS BURST: HELD children exec a shell with an 8 KB argument that
         * waits on a pipe; DIR/held appears; after DIR/go1, EXECS execs of /bin/true with such an
         * argument, then the HELD are released (DIR/released); after DIR/go2, the rest of TOTAL forks
         * in bursts of BURST children alive together, which exit at once. Prints forks=N. */
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/wait.h>
        #include <unistd.h>

        static char dir[512], big[8001];
        static long forks;

        static void at(const char *name, char *out) { snprintf(out, 600, "%s/%s", dir, name); }
        static void touch(const char *name) { char p[600]; at(name, p); close(open(p, O_CREAT | O_WRONLY, 0644)); }
        static void await(const char *name) { char p[600]; at(name, p); while (access(p, F_OK) != 0) usleep(20000); }

        static pid_t fork_retrying(void) {
            for (;;) {
                pid_t pid = fork();
                if (pid >= 0) { if (pid > 0) forks++; return pid; }
                if (errno != EAGAIN) { perror("fork"); exit(2); }
                usleep(1000);
            }
        }

        static void reap(long n) { while (n > 0) { if (wait(NULL) > 0) n--; else if (errno == ECHILD) break; } }

        int main(int argc, char **argv) {
            if (argc != 6) { fprintf(stderr, "usage: forkstorm DIR TOTAL HELD EXECS BURST\n"); return 2; }
            snprintf(dir, sizeof dir, "%s", argv[1]);
            long total = atol(argv[2]), held = atol(argv[3]), execs = atol(argv[4]), burst = atol(argv[5]);
            memset(big, 'x', 8000);
            int hold[2];
            if (pipe(hold) != 0) return 2;
            for (long i = 0; i < held; i++) {
                if (fork_retrying() == 0) {
                    close(hold[1]);
                    dup2(hold[0], 0);
                    execl("/bin/sh", "sh", "-c", "read x", big, (char *)NULL);
                    _exit(127);
                }
            }
            close(hold[0]);
            touch("held");
            await("go1");
            for (long i = 0; i < execs; i++) {
                pid_t pid = fork_retrying();
                if (pid == 0) { execl("/bin/true", "true", big, (char *)NULL); _exit(127); }
                waitpid(pid, NULL, 0);
            }
            close(hold[1]);
            reap(held);
            touch("released");
            await("go2");
            while (forks < total) {
                long n = total - forks < burst ? total - forks : burst;
                int gate[2];
                if (pipe(gate) != 0) return 2;
                for (long i = 0; i < n; i++) {
                    if (fork_retrying() == 0) { char c; close(gate[1]); read(gate[0], &c, 1); _exit(0); }
                }
                close(gate[0]);
                close(gate[1]);
                reap(n);
            }
            printf("forks=%ld\n", forks);
            return 0;
        }
        """#

    static let floodSource = #"""
        /* flood PORT SECONDS WORKERS PORTSFILE: WORKERS threads connect to 127.0.0.1:PORT as fast as
         * they can for SECONDS, never authenticating: one in three closes at once, one sends a client
         * banner and closes, one reads sshd's banner and closes. The local ports of connections that
         * got sshd's banner go to PORTSFILE. Prints connects=N banners=M. */
        #include <arpa/inet.h>
        #include <netinet/in.h>
        #include <pthread.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/time.h>
        #include <time.h>
        #include <unistd.h>

        static int port;
        static time_t until;
        static long connects, banners;
        static FILE *ports;
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

        static void *worker(void *arg) {
            long n = (long)arg;
            while (time(NULL) < until) {
                int fd = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                struct timeval tv = { 2, 0 };
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); usleep(1000); continue; }
                __sync_fetch_and_add(&connects, 1);
                switch (n++ % 3) {
                case 0: break;
                case 1: (void)!write(fd, "SSH-2.0-flood\r\n", 15); break;
                case 2: {
                    char buf[256];
                    ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
                    if (got >= 8 && memcmp(buf, "SSH-2.0-", 8) == 0) {
                        struct sockaddr_in me; socklen_t len = sizeof me;
                        getsockname(fd, (struct sockaddr *)&me, &len);
                        __sync_fetch_and_add(&banners, 1);
                        pthread_mutex_lock(&lock);
                        fprintf(ports, "%d\n", ntohs(me.sin_port));
                        pthread_mutex_unlock(&lock);
                    }
                }
                }
                close(fd);
            }
            return NULL;
        }

        int main(int argc, char **argv) {
            if (argc != 5) { fprintf(stderr, "usage: flood PORT SECONDS WORKERS PORTSFILE\n"); return 2; }
            port = atoi(argv[1]);
            until = time(NULL) + atoi(argv[2]);
            int workers = atoi(argv[3]);
            ports = fopen(argv[4], "w");
            if (!ports) { perror(argv[4]); return 2; }
            pthread_t t[256];
            for (long i = 0; i < workers && i < 256; i++) pthread_create(&t[i], NULL, worker, (void *)i);
            for (long i = 0; i < workers && i < 256; i++) pthread_join(t[i], NULL);
            fclose(ports);
            printf("connects=%ld banners=%ld\n", connects, banners);
            return 0;
        }
        """#
}

/// Watches a process's memory from /proc/PID/status: the kernel's peak (VmHWM) and the highest
/// anonymous memory seen (sampled every 100 ms).
final class MemoryWatch: @unchecked Sendable {
    private let pid: Int32
    private let lock = NSLock()
    private var running = true
    private var peak = (hwm: 0, anon: 0)
    private var seenAlive = true

    init(pid: Int32) {
        self.pid = pid
        Thread.detachNewThread { [self] in
            while true {
                lock.lock()
                let go = running
                lock.unlock()
                guard go else { return }
                sample()
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    private func sample() {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            lock.lock(); seenAlive = false; lock.unlock()
            return
        }
        func kib(_ key: String) -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return 0 }
            return Int(line.split(separator: " ").dropFirst().first { Int($0) != nil } ?? "") ?? 0
        }
        let zombie = text.contains("State:\tZ")
        lock.lock()
        if zombie { seenAlive = false }
        peak.hwm = max(peak.hwm, kib("VmHWM"))
        peak.anon = max(peak.anon, kib("RssAnon"))
        lock.unlock()
    }

    /// Whether the process was alive at every sample so far, and is now.
    var alive: Bool {
        sample()
        lock.lock()
        defer { lock.unlock() }
        return seenAlive
    }

    /// Stops watching; the peaks seen (KiB), VmHWM read last.
    func stop() -> (hwm: Int, anon: Int) {
        sample()
        lock.lock()
        defer { lock.unlock() }
        running = false
        return peak
    }
}
