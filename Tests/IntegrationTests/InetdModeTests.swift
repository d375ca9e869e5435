import Foundation
import XCTest

/// sshd started per connection (`sshd -i`) by a socket manager, here systemd-socket-activate
/// --inetd -a as systemd's Accept=yes sockets, inetd and xinetd do it: no sshd listens or accepts.
/// Each connection's sshd is its monitor; its rows equal those of the same logins against a
/// listener sshd.
final class InetdModeTests: XCTestCase {
    var servers: [SSHDServer] = []
    var recorders: [Recorder] = []

    override func tearDown() {
        for server in servers { server.stop() }
        for recorder in recorders { _ = try? recorder.stop() }
        super.tearDown()
    }

    func server(_ name: String, port: Int, startMode: String = "listener", root: String? = nil) throws -> SSHDServer {
        let server = try SSHDServer(name: name, port: port, startMode: startMode, root: root)
        servers.append(server)
        return server
    }

    func recorder(_ name: String) throws -> Recorder {
        let recorder = try Recorder(name: name)
        recorders.append(recorder)
        return recorder
    }

    /// The same logins against a listener and an inetd-mode sshd (started while recording), at the
    /// same time: the same rows, and the inetd session's addresses are its connection's.
    func compareWithListener(_ name: String, ports: (Int, Int), root: String? = nil) throws {
        let recorder = try recorder(name)
        // One harness directory: the same host and user keys for both.
        let listener = try server(name, port: ports.0, root: root)
        let inetd = try server(name, port: ports.1, startMode: "inetd", root: root)
        // Both servers' logins at once: each one's failed passwords wait out sshd's delay meanwhile,
        // and the recorder must keep two servers' interleaved logins apart.
        let done = DispatchSemaphore(value: 0)
        let listenerError = DataBox()
        Thread.detachNewThread {
            do { try StartModes.logins(listener) } catch { listenerError.data = Data("\(error)".utf8) }
            done.signal()
        }
        let clientPort = try XCTUnwrap(try StartModes.logins(inetd))
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the listener's logins ended")
        XCTAssertTrue(listenerError.data.isEmpty, String(decoding: listenerError.data, as: UTF8.self))
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let expected = try StartModes.rows(recorder, port: listener.port)
        XCTAssertEqual(expected.filter { $0.hasPrefix("session ") }.count, 4, "\(expected)")
        XCTAssertEqual(try StartModes.rows(recorder, port: inetd.port), expected)
        let first = try XCTUnwrap(try recorder.query("sessions").first { $0.int("local_port") == inetd.port })
        XCTAssertEqual(first.int("remote_port"), clientPort)
        XCTAssertEqual(first.string("remote_addr"), "127.0.0.1")
        XCTAssertEqual(first.string("local_addr"), "127.0.0.1")
        let auth = try recorder.query("auth", ["--session", String(try XCTUnwrap(first.int("id")))])
        XCTAssertEqual(auth.map { $0.int("remote_port") }, [clientPort])
    }

    /// The host's OpenSSH 9.2: `systemd-socket-activate --inetd -a … /usr/sbin/sshd -i -f CONFIG -E LOG`.
    func testInetdSessionsEqualAListenersRows() throws {
        try compareWithListener("inetd-92", ports: (22500, 22501))
    }

    /// OpenSSH 10 (Debian 13 tree): the activated command is `chroot ROOT /usr/sbin/sshd -i …`,
    /// which execs sshd-session, whose pre-authentication child execs sshd-auth.
    func testOpenSSH10InetdInChrootEqualsAListenersRows() throws {
        let tree = OpenSSHTreeSuite(suite: "trixie", root: "/var/lib/sshaudit-test/trixie", versionPrefix: "OpenSSH_10.",
                                    sshdPath: "/usr/lib/openssh/sshd-session", name: "inetd-ossh10", basePort: 22502)
        try tree.ensureTree()
        try compareWithListener("inetd-10", ports: (22502, 22503), root: tree.root)
        let sessions = try recorders[0].query("sessions").filter { $0.int("local_port") == 22503 }
        XCTAssertTrue(sessions.allSatisfy { $0.string("sshd_path") == tree.sshdPath && ($0.string("sshd_version") ?? "").hasPrefix("OpenSSH_10.") },
                      "\(sessions)")
    }

    /// 20 connections at once, each its own sshd -i: 20 sessions, each with its command.
    func testTwentyConcurrentConnections() throws {
        let recorder = try recorder("inetd-parallel")
        let server = try server("inetd-parallel", port: 22504, startMode: "inetd")
        let group = DispatchGroup()
        let statuses = Locked<[Int32]>([])
        for i in 0..<20 {
            group.enter()
            Thread.detachNewThread {
                let status = (try? server.ssh("sa_bob", ["/bin/echo inetd-par-\(i)"]))?.status ?? -1
                statuses.mutate { $0.append(status) }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(statuses.value, Array(repeating: 0, count: 20))
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 20)
        XCTAssertEqual(Set(sessions.compactMap { $0.int("remote_port") }).count, 20, "each its own client port")
        XCTAssertTrue(sessions.allSatisfy { $0.string("user") == "sa_bob" && $0.int("exit_code") == 0 && $0.string("auth_method") == "publickey" },
                      "\(sessions)")
        let ids = Set(sessions.compactMap { $0.int("id") })
        let commands = try recorder.query("commands").filter { ids.contains($0.int("session_id") ?? -1) }
        var seen: [Int: [String]] = [:]
        for c in commands where c.argv.first == "/bin/echo" { seen[c.int("session_id") ?? -1, default: []].append(c.argv.joined(separator: " ")) }
        XCTAssertEqual(Set(seen.keys), ids, "a session without its command")
        XCTAssertEqual(seen.values.flatMap { $0 }.sorted(), (0..<20).map { "/bin/echo inetd-par-\($0)" }.sorted())
        let auth = try recorder.query("auth").filter { ids.contains($0.int("session_id") ?? -1) }
        XCTAssertEqual(auth.count, 20)
        XCTAssertTrue(auth.allSatisfy { $0.string("result") == "accepted" && $0.string("method") == "publickey" })
    }

    /// A recorder started while an inetd-mode session is open finds that connection's sshd by its
    /// socket on stdin and recovers the session: its monitor, connection, user and shell, and what
    /// the user runs next.
    func testRecorderStartedDuringAnInetdSessionRecoversIt() throws {
        let server = try server("inetd-recover", port: 22505, startMode: "inetd")
        let ssh = try InteractiveSSH(server: server, user: "sa_alice")
        let port = try ssh.waitFor(#"client=127\.0\.0\.1 (\d+) 22505"#, timeout: 30, typing: #"echo "client=$SSH_CLIENT""#)
        let manager = try XCTUnwrap(server.pid)
        // The connection's sshd: the socket manager's child.
        let monitor = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init).first {
            ((try? String(contentsOfFile: "/proc/\($0)/stat", encoding: .utf8)) ?? "").split(separator: ")").last?
                .split(separator: " ").dropFirst().first == Substring(String(manager))
        })

        let recorder = try recorder("inetd-recover")
        // The start-up line counts it (other tests' sshds may run too).
        let found = try XCTUnwrap(recorder.stderr.range(of: #"[0-9]+ per-connection"#, options: .regularExpression))
        XCTAssertGreaterThanOrEqual(Int(recorder.stderr[found].prefix { $0.isNumber }) ?? 0, 1, recorder.stderr)
        // So does `status`, from /proc now. (Through popen: Foundation's Process, with the ssh client
        // and the recorder running as its children already, has been seen never to notice this one end.)
        let status = try XCTUnwrap(popen("'\(Paths.sshaudit)' status --db '\(recorder.db)' --format json", "r"))
        var text = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let n = fread(&buffer, 1, buffer.count, status), n > 0 { text.append(contentsOf: buffer[0..<n]) }
        XCTAssertEqual(pclose(status), 0)
        let running = try XCTUnwrap((try JSONSerialization.jsonObject(with: text) as? [String: Any])?["sshd_running"] as? [String: Int],
                                    String(decoding: text, as: UTF8.self))
        XCTAssertGreaterThanOrEqual(running["per_connection"] ?? 0, 1, "\(running)")
        ssh.type("/bin/echo after-start")
        try ssh.waitFor("after-start\\r?\\n")
        ssh.type("exit")
        XCTAssertEqual(try ssh.waitForExit(), 0)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 1, "\(sessions)")
        let s = try XCTUnwrap(sessions.first)
        XCTAssertEqual(s.int("sshd_pid"), Int(monitor))
        XCTAssertEqual(s["recovered"] as? Bool, true)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.int("remote_port"), Int(port))
        XCTAssertNotNil(s.string("ended_at"))
        XCTAssertEqual(s.int("exit_code"), 0)
        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        XCTAssertEqual(commands.first?.argv, ["-bash"])
        XCTAssertEqual(commands.first?["recovered"] as? Bool, true)
        XCTAssertTrue(commands.contains { $0.argv == ["/bin/echo", "after-start"] && $0["recovered"] as? Bool == false }, "\(commands)")
    }

    /// An sshd -i that is not the real login service: a program a user compiled and named sshd, run
    /// by a socket manager as that user and as root. It speaks on the connection, logs an accepted
    /// root login on every channel sshd uses and starts a "session". Nothing of it is recorded; the
    /// real inetd-mode sshd's login at the same time is.
    func testUntrustedPerConnectionSSHDIsNeverTracked() throws {
        let recorder = try recorder("inetd-impostor")
        let real = try server("inetd-impostor-real", port: 22506, startMode: "inetd")
        let impostor = try InetdImpostor(name: "inetd-impostor", ports: [22507, 22508])
        defer { impostor.stop() }
        for port in impostor.ports { try impostor.connect(port) }
        let r = try real.ssh("sa_alice", ["/bin/echo real-login"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        for port in impostor.ports {
            XCTAssertEqual(try recorder.query("sessions").filter { $0.int("local_port") == port }.count, 0, "port \(port)")
        }
        let auth = try recorder.query("auth")
        XCTAssertFalse(auth.contains { $0.string("user") == "root" || ($0.string("key_fingerprint") ?? "").contains("impostor") }, "\(auth)")
        let mine = try recorder.query("sessions").filter { $0.int("local_port") == real.port }
        XCTAssertEqual(mine.map { $0.string("user") }, ["sa_alice"])
        XCTAssertEqual(mine.first?.string("auth_method"), "publickey")
    }
}

extension InteractiveSSH {
    /// Types `line`, then waits for `pattern` as `waitFor` does.
    func waitFor(_ pattern: String, timeout: TimeInterval, typing line: String) throws -> String {
        type(line)
        return try waitFor(pattern, timeout: timeout)
    }
}

/// A program an unprivileged user (nobody) compiled and named `sshd`, started per connection by
/// systemd-socket-activate --inetd: on each port, once run by nobody and once by root. With the
/// connection on stdin it sends an SSH banner, writes `Accepted publickey for root from 203.0.113.66 …`
/// to a file, its standard error and a syslog datagram, and forks a child that becomes a session leader.
final class InetdImpostor {
    let ports: [Int]
    let dir: String
    private var managers: [Int32] = []

    static let source = #"""
        #include <fcntl.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/wait.h>
        #include <unistd.h>

        static const char line[] = "Accepted publickey for root from 203.0.113.66 port 4242 ssh2: ED25519 SHA256:impostor\n";
        static const char syslog_line[] = "<38>Nov 29 01:41:29 sshd[4242]: Accepted publickey for root from 203.0.113.66 port 4242 ssh2: ED25519 SHA256:impostor";

        int main(int argc, char **argv) {
            if (argc != 2) return 2;
            write(1, "SSH-2.0-OpenSSH_9.2p1\r\n", 23);
            int f = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0600);
            write(f, line, strlen(line));
            write(2, line, strlen(line));
            int s[2];
            if (socketpair(AF_UNIX, SOCK_DGRAM, 0, s) == 0) send(s[0], syslog_line, strlen(syslog_line), 0);
            pid_t child = fork();
            if (child == 0) { setsid(); write(f, line, strlen(line)); _exit(0); }
            waitpid(child, NULL, 0);
            write(f, line, strlen(line));
            return 0;
        }
        """#

    init(name: String, ports: [Int]) throws {
        self.ports = ports
        dir = try compileAsNobody(Self.source, name: name)
        let asNobody = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env --"
        for (i, port) in ports.enumerated() {
            // The first as nobody; the second as root, running nobody's binary. Detached, as the
            // harness starts sshd: the socket managers outlive this call.
            let user = i == 0 ? asNobody : ""
            let started = try runProcess("/bin/sh", ["-c", """
                setsid \(user) /usr/bin/systemd-socket-activate --inetd -a -l 127.0.0.1:\(port) \(dir)/sshd \(dir)/sshd-\(port).log \
                    </dev/null >/dev/null 2>&1 & echo $!
                """])
            guard let pid = Int32(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw TestFailure("cannot start the impostor's socket manager: \(started.stderr)")
            }
            managers.append(pid)
            let deadline = Date().addingTimeInterval(10)
            while !StartModes.listening(port) {
                guard Date() < deadline else { throw TestFailure("the impostor's socket manager does not listen on \(port)") }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// Connects, reads the banner, and waits until the impostor has logged all three lines.
    func connect(_ port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect to \(port): errno \(errno)") }
        var banner = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &banner, banner.count, 0)
        guard n > 0, String(decoding: banner[0..<n], as: UTF8.self).hasPrefix("SSH-2.0-") else {
            throw TestFailure("no banner from the impostor on \(port)")
        }
        let log = dir + "/sshd-\(port).log"
        let deadline = Date().addingTimeInterval(10)
        while ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count < 3 {
            guard Date() < deadline else { throw TestFailure("the impostor on \(port) did not log") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func stop() {
        for pid in managers { kill(pid, SIGTERM) }
    }
}
