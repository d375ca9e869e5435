import Foundation
import XCTest

/// The people sshaudit records attack the record: a program of their own named `sshd`, session data
/// shaped like log lines, a recorder told to trust another binary. Each test is such an attack.
final class ListenerTrustTests: XCTestCase {
    var servers: [SSHDServer] = []
    var recorders: [Recorder] = []
    var impostors: [Impostor] = []

    override func tearDown() {
        for impostor in impostors { impostor.stop() }
        for server in servers { server.stop() }
        for recorder in recorders { _ = try? recorder.stop() }
        super.tearDown()
    }

    func server(_ name: String, port: Int, logMode: String = "file", options: [String] = []) throws -> SSHDServer {
        let server = try SSHDServer(name: name, port: port, logMode: logMode, extraOptions: options)
        servers.append(server)
        return server
    }

    func recorder(_ name: String, arguments: [String] = []) throws -> Recorder {
        let recorder = try Recorder(name: name, arguments: arguments)
        recorders.append(recorder)
        return recorder
    }

    /// Sessions on `port` and the auth rows of those sessions.
    func rows(_ recorder: Recorder, port: Int) throws -> (sessions: [[String: Any]], auth: [[String: Any]]) {
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == port }
        let ids = Set(sessions.compactMap { $0.int("id") })
        return (sessions, try recorder.query("auth").filter { ids.contains($0.int("session_id") ?? -1) })
    }

    func summary(_ auth: [[String: Any]]) -> [String] {
        auth.map { "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil") \($0.string("user") ?? "nil")" }
    }

    /// An unprivileged user's own `sshd`, one started before the recorder (the /proc scan sees it) and
    /// one after (the kernel sees it exec): each accepts a connection to itself and forks a "monitor"
    /// that logs an accepted root login through every channel sshd uses and starts a "session".
    /// Nothing of it is recorded; the real sshd's login at the same time is, completely.
    func testImpostorSSHDIsNeverTracked() throws {
        let real = try server("trust-real", port: 22400)
        let before = try Impostor(name: "trust-impostor-a", port: 22404)
        impostors.append(before)
        let recorder = try recorder("trust-impostor")
        let after = try Impostor(name: "trust-impostor-b", port: 22405)
        impostors.append(after)
        for impostor in [before, after] { try impostor.play() }

        let r = try real.ssh("sa_alice", ["/bin/echo real-login"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        for impostor in [before, after] {
            let (sessions, _) = try rows(recorder, port: impostor.port)
            XCTAssertEqual(sessions.count, 0, "the impostor on \(impostor.port) made sessions: \(sessions)")
        }
        let auth = try recorder.query("auth")
        XCTAssertFalse(auth.contains { $0.string("remote_addr") == "203.0.113.66" }, "forged attempt: \(auth)")
        XCTAssertFalse(auth.contains { $0.string("user") == "root" }, "forged root login: \(auth)")
        let sessions = try recorder.query("sessions")
        XCTAssertFalse(sessions.contains { $0.int("uid") == 65534 }, "a login as the impostor's user: \(sessions)")

        let mine = try rows(recorder, port: real.port)
        XCTAssertEqual(mine.sessions.count, 1, "\(mine.sessions)")
        let s = try XCTUnwrap(mine.sessions.first)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.string("auth_method"), "publickey")
        XCTAssertNotNil(s.string("ended_at"))
        XCTAssertEqual(summary(mine.auth), ["accepted publickey sa_alice"])
        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        XCTAssertEqual(commands.map(\.argv), [["bash", "-c", "/bin/echo real-login"], ["/bin/echo", "real-login"]])
    }

    /// A root login on OpenSSH ≤ 9.7 has no separate session process: the monitor itself writes the
    /// client's data to the shell. Data shaped like syslog lines is never read as sshd's log.
    func testRootSessionDataIsNeverReadAsALogLine() throws {
        let server = try server("trust-root", port: 22401, options: ["-o", "PermitRootLogin=prohibit-password"])
        try server.allowRootLogin()
        let recorder = try recorder("trust-root")
        let marker = "trustmark" + UUID().uuidString.prefix(8).lowercased()
        let line = "<38>Nov 29 01:41:29 sshd[1]: Accepted publickey for \(marker) from 203.0.113.66 port 4242 ssh2: ED25519 SHA256:\(marker)\n"
        let data = String(repeating: line, count: 3000)
        let piped = try server.ssh("root", ["cat >/dev/null; echo piped"], input: data)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertEqual(piped.stdout, "piped\n")
        let plain = try server.ssh("root", ["true"])
        XCTAssertEqual(plain.status, 0, plain.stderr)

        Thread.sleep(forTimeInterval: 1)  // the rows reach the WAL
        let wal = try Data(contentsOf: URL(fileURLWithPath: recorder.db + "-wal"))
        XCTAssertNil(wal.range(of: Data(marker.utf8)), "session data in the WAL")
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        for file in [recorder.db, recorder.db + "-wal", recorder.eventsFile] where FileManager.default.fileExists(atPath: file) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            XCTAssertNil(bytes.range(of: Data(marker.utf8)), "session data in \(file)")
        }
        let (sessions, auth) = try rows(recorder, port: server.port)
        XCTAssertEqual(sessions.count, 2, "\(sessions)")
        XCTAssertEqual(sessions.map { $0.string("user") }, ["root", "root"])
        for s in sessions {
            let own = auth.filter { $0.int("session_id") == s.int("id") }
            XCTAssertEqual(summary(own), ["accepted publickey root"], "session \(s)")
        }
        XCTAssertFalse(auth.contains { $0.string("remote_addr") == "203.0.113.66" }, "\(auth)")
    }

    /// `record --sshd PATH`: only that binary's listeners count, whether they started before the
    /// recorder or after.
    func testOnlyThePinnedBinaryIsTrusted() throws {
        let bad = try runProcess(Paths.sshaudit, ["record", "--db", "/run/sshaudit-test/trust-pin-bad/audit.db",
                                                  "--sshd", "/nonexistent/sshd"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("/nonexistent/sshd"), bad.stderr)

        let early = try server("trust-pin-early", port: 22402)
        let other = try recorder("trust-pin-other", arguments: ["--sshd", "/usr/bin/ssh"])
        let pinned = try recorder("trust-pin-sshd", arguments: ["--sshd", "/usr/sbin/sshd"])
        let late = try server("trust-pin-late", port: 22403)
        for s in [early, late] {
            let r = try s.ssh("sa_alice", ["true"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertEqual(try other.stop(), 0, other.stderr)
        XCTAssertEqual(try pinned.stop(), 0, pinned.stderr)
        for s in [early, late] {
            let (sessions, auth) = try rows(other, port: s.port)
            XCTAssertEqual(sessions.count, 0, "another binary was pinned: \(sessions)")
            XCTAssertEqual(auth.count, 0)
            let found = try rows(pinned, port: s.port)
            XCTAssertEqual(found.sessions.map { $0.string("user") }, ["sa_alice"])
            XCTAssertEqual(summary(found.auth), ["accepted publickey sa_alice"])
        }
    }

    /// sshd without -D forks into the background after the recorder saw it start: the child it leaves
    /// listening is the listener (trusted as its parent was), and the monitors' lines in the -E file,
    /// which the child holds open, are read.
    func testSSHDInTheBackground() throws {
        let server = try server("trust-daemon", port: 22407)
        server.stop()  // the harness runs sshd -D: the same configuration, started without it below
        let recorder = try recorder("trust-daemon")
        let pidFile = server.dir + "/sshd_22407.pid"
        let started = try runProcess("/usr/sbin/sshd", ["-f", server.dir + "/sshd_config_22407", "-E", server.dir + "/sshd_22407.log"])
        XCTAssertEqual(started.status, 0, started.stderr)
        let deadline = Date().addingTimeInterval(10)
        while ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").isEmpty, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let r = try server.ssh("sa_alice", ["true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let (sessions, auth) = try rows(recorder, port: server.port)
        XCTAssertEqual(sessions.map { $0.string("user") }, ["sa_alice"])
        XCTAssertEqual(summary(auth), ["accepted publickey sa_alice"])
    }

    /// OpenSSH 10 chrooted in a Debian 13 tree, started while recording (and pinned with --sshd by its
    /// path on the host): its -E path is resolved inside its root, so its attempts are read.
    func testChrootedSSHDStartedWhileRecording() throws {
        let tree = OpenSSHTreeSuite(suite: "trixie", root: "/var/lib/sshaudit-test/trixie", versionPrefix: "OpenSSH_10.",
                                    sshdPath: "/usr/lib/openssh/sshd-session", name: "trust-ossh10", basePort: 22408)
        try tree.ensureTree()
        let recorder = try recorder("trust-chroot", arguments: ["--sshd", tree.root + "/usr/sbin/sshd"])
        let server = try SSHDServer(name: "trust-chroot", port: 22408, root: tree.root)
        servers.append(server)
        XCTAssertEqual(try server.sshWithPasswords("sa_alice", ["Wrong-Pw-1", "Alice-Pw-7q"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let (sessions, auth) = try rows(recorder, port: server.port)
        XCTAssertEqual(sessions.map { $0.string("user") }, ["sa_alice"])
        XCTAssertEqual(summary(auth), ["failed password sa_alice", "accepted password sa_alice"])
    }

    /// sshd -e logs to its standard error: read there, and only because of -e.
    func testStandardErrorIsReadWithDashE() throws {
        let server = try server("trust-stderr", port: 22406, logMode: "syslog", options: ["-e"])
        let recorder = try recorder("trust-stderr")
        XCTAssertEqual(try server.ssh("sa_alice", ["true"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let (sessions, auth) = try rows(recorder, port: server.port)
        XCTAssertEqual(sessions.count, 1)
        XCTAssertEqual(summary(auth), ["accepted publickey sa_alice"])
    }
}

extension SSHDServer {
    /// A key for root, accepted by this sshd (started with PermitRootLogin=prohibit-password).
    func allowRootLogin() throws {
        let key = dir + "/id_root"
        if !FileManager.default.fileExists(atPath: key) {
            let r = try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "root@trust", "-f", key])
            guard r.status == 0 else { throw TestFailure("ssh-keygen: \(r.stderr)") }
        }
        let installed = try runProcess("/usr/bin/install", ["-o", "root", "-g", "root", "-m", "0644", key + ".pub",
                                                          dir + "/authorized_keys/root"])
        guard installed.status == 0 else { throw TestFailure("install: \(installed.stderr)") }
    }
}

/// A program an unprivileged user (nobody) compiled and named `sshd`, run from a directory of theirs.
/// It listens on `port`; `play()` makes it connect to itself, accept, and fork a child that writes
/// `Accepted publickey for root from 203.0.113.66 …` to a file, to its standard error and as a syslog
/// datagram, then forks a grandchild that becomes a session leader, as a root login's shell does.
final class Impostor {
    let port: Int
    let dir: String
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    static let source = #"""
        #include <arpa/inet.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/wait.h>
        #include <unistd.h>

        static const char line[] = "Accepted publickey for root from 203.0.113.66 port 4242 ssh2: ED25519 SHA256:impostor\n";
        static const char syslog_line[] = "<38>Nov 29 01:41:29 sshd[4242]: Accepted publickey for root from 203.0.113.66 port 4242 ssh2: ED25519 SHA256:impostor";

        int main(int argc, char **argv) {
            if (argc != 3) return 2;
            struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
            inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
            int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
            setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(l, (struct sockaddr *)&addr, sizeof addr) || listen(l, 8)) { perror("listen"); return 1; }
            printf("listening\n");
            fflush(stdout);
            char go[16];
            if (!fgets(go, sizeof go, stdin)) return 1;
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)&addr, sizeof addr)) { perror("connect"); return 1; }
            int a = accept(l, NULL, NULL);
            if (a < 0) { perror("accept"); return 1; }
            pid_t monitor = fork();
            if (monitor == 0) {
                int f = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0600);
                write(f, line, strlen(line));
                write(2, line, strlen(line));
                int s[2];
                if (socketpair(AF_UNIX, SOCK_DGRAM, 0, s) == 0) send(s[0], syslog_line, strlen(syslog_line), 0);
                pid_t shell = fork();
                if (shell == 0) { setsid(); _exit(0); }
                waitpid(shell, NULL, 0);
                write(f, line, strlen(line));
                _exit(0);
            }
            waitpid(monitor, NULL, 0);
            close(a);
            close(c);
            printf("done\n");
            fflush(stdout);
            return 0;
        }
        """#

    init(name: String, port: Int) throws {
        self.port = port
        dir = try compileAsNobody(Self.source, name: name)
        let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env", "--"]

        process.executableURL = URL(fileURLWithPath: asNobody[0])
        process.arguments = Array(asNobody.dropFirst()) + [dir + "/sshd", String(port), dir + "/sshd.log"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        try expect("listening")
    }

    /// Reads the program's next line, which must be `text`.
    private func expect(_ text: String) throws {
        var line = Data()
        let deadline = Date().addingTimeInterval(20)
        while line.last != UInt8(ascii: "\n") {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || Date() > deadline { throw TestFailure("the impostor on \(port) did not say \(text)") }
            line += byte
        }
        guard String(decoding: line, as: UTF8.self) == text + "\n" else {
            throw TestFailure("the impostor on \(port) said \(String(decoding: line, as: UTF8.self))")
        }
    }

    /// Connects, accepts, forks and logs; returns once its "monitor" is done.
    func play() throws {
        input.fileHandleForWriting.write(Data("go\n".utf8))
        try expect("done")
        try awaitExit(process, timeout: 20, what: "the impostor on \(port) did not exit")
        XCTAssertEqual(process.terminationStatus, 0)
        // It really wrote what a real monitor would have.
        let logged = (try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(logged.hasPrefix("Accepted publickey for root from 203.0.113.66"), logged)
    }

    func stop() {
        if process.isRunning { process.terminate() }
    }
}
