import Foundation
import XCTest

/// The Debian 13 tree's sshd in a chroot, in its own PID and mount namespaces, and in a user namespace
/// with shifted uids: the session's user is the tree's account, never the host's account that has the
/// same uid; the uid is recorded inside and on the host; the sshd's root and cgroup (container) are
/// recorded and `--container` finds the session.
final class NamespaceTests: XCTestCase {
    static let tree = "/var/lib/sshaudit-test/trixie"
    let suite = OpenSSHTreeSuite(suite: "trixie", root: NamespaceTests.tree, versionPrefix: "OpenSSH_10.",
                                 sshdPath: "/usr/lib/openssh/sshd-session", name: "ns", basePort: 22640)

    override func setUpWithError() throws { try suite.ensureTree() }

    /// A user of the tree only whose uid is, on the host, another account's (created when the host has
    /// none): the uid and that host name.
    func treeUser(_ user: String, password: String) throws -> (uid: Int, hostName: String) {
        let script = """
            set -e
            R=\(Self.tree)
            if ! chroot "$R" id -u \(user) >/dev/null 2>&1; then
              U=$( (getent passwd; chroot "$R" getent passwd) | awk -F: '$3 >= 1000 && $3 < 60000 { print $3 }' | sort -n | tail -1)
              U=$(( ${U:-999} + 1 ))
              chroot "$R" useradd -m -s /bin/bash -u "$U" \(user)
            fi
            U=$(chroot "$R" id -u \(user))
            getent passwd "$U" >/dev/null || useradd -M -s /usr/sbin/nologin -u "$U" ns_host$U
            echo '\(user):\(password)' | chroot "$R" chpasswd
            chroot "$R" chage -E -1 -M -1 \(user)
            echo "$U $(getent passwd "$U" | cut -d: -f1)"
            """
        let r = try runProcess("/usr/bin/flock", ["/run/sshaudit-test.lock", "/bin/bash", "-c", script])
        guard r.status == 0 else { throw TestFailure("cannot create \(user) in the tree: \(r.stderr)") }
        let f = r.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard f.count == 2, let uid = Int(f[0]), f[1] != user else { throw TestFailure("unexpected: \(r.stdout)") }
        return (uid, f[1])
    }

    /// The sessions of this test's sshd.
    func sessions(_ recorder: Recorder, port: Int, _ extra: [String] = []) throws -> [[String: Any]] {
        try recorder.query("sessions", extra).filter { $0.int("local_port") == port }
    }

    /// The tree's sshd, set up by the harness, then run by `launch` (a command line around
    /// `chroot TREE sshd -D -f CONFIG -E LOG`); stopped (with its whole namespace) afterwards.
    final class WrappedSSHD {
        let server: SSHDServer
        let process = Process()
        let stdin = Pipe()
        /// pid 1 of the new namespaces, on the host.
        private(set) var initPid: Int32?

        init(name: String, port: Int, wrap: [String]) throws {
            server = try SSHDServer(name: name, port: port, root: NamespaceTests.tree)
            _ = try server.harness(["stop", server.dir, String(port)])  // the same config, run our way
            let sshd = ["chroot", NamespaceTests.tree, "/usr/sbin/sshd", "-D", "-f", "\(server.dir)/sshd_config_\(port)",
                        "-E", "\(server.dir)/sshd_\(port).log"]
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["--fork", "--kill-child", "--mount", "--pid"] + wrap + sshd
            process.standardInput = stdin
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice  // nothing left holding the test's output
            try process.run()
        }

        /// The host pid of the process unshare forked (pid 1 in the new namespace).
        func child() throws -> Int32 {
            let deadline = Date().addingTimeInterval(10)
            let pid = process.processIdentifier
            while Date() < deadline {
                let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
                if let child = text.split(separator: " ").first.flatMap({ Int32($0) }) {
                    initPid = child
                    return child
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            throw TestFailure("unshare forked no child")
        }

        /// Waits until sshd listens on its port.
        func listening() throws {
            _ = try child()
            let hex = String(format: "%04X", server.port)
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline {
                let tcp = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
                if tcp.split(separator: "\n").contains(where: {
                    let f = $0.split(separator: " ")
                    return f.count > 3 && f[1].hasSuffix(":" + hex) && f[3] == "0A"
                }) { return }
                if !process.isRunning { throw TestFailure("the wrapped sshd exited") }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw TestFailure("the wrapped sshd does not listen on \(server.port)")
        }

        func stop() {
            // The namespace's pid 1 first: its end ends every process in it. (unshare's --kill-child
            // does not reach it once it exec'd with new privileges in a user namespace.)
            if let initPid { Glibc.kill(initPid, SIGKILL) }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            server.stop()
        }
    }

    /// chroot: the tree's user, whose uid is another name's on the host, is the session's user; the
    /// uid is the same inside and out; the root is the tree; the sshd moved into a cgroup named like
    /// an LXC container's is found by `--container` (its name, or the start of it), and only it.
    func testChrootUserIsTheTreesAndContainerFilter() throws {
        let (uid, hostName) = try treeUser("ns_carol", password: "Carol-Pw-3x")
        let server = try SSHDServer(name: "ns-chroot", port: 22640, root: Self.tree)
        let base = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.procs") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified"
        let cgroup = base + "/lxc.payload.ns-box-\(getpid())"
        defer {
            server.stop()
            rmdir(cgroup)
        }
        try FileManager.default.createDirectory(atPath: cgroup, withIntermediateDirectories: false)
        try String(try XCTUnwrap(server.pid)).write(toFile: cgroup + "/cgroup.procs", atomically: false, encoding: .utf8)
        let recorder = try Recorder(name: "ns-chroot")
        defer { _ = try? recorder.stop() }
        XCTAssertEqual(try server.sshWithPasswords("ns_carol", ["Carol-Pw-3x"], command: "id -u; exit 4").status, 4)
        XCTAssertEqual(try recorder.stop(), 0)
        let s = try XCTUnwrap(try sessions(recorder, port: server.port).first)
        XCTAssertEqual(s.string("user"), "ns_carol", "not the host's \(hostName): \(s)")
        XCTAssertEqual(s.int("uid"), uid)
        XCTAssertEqual(s.int("uid_inside"), uid)
        XCTAssertEqual(s.string("root"), Self.tree)
        XCTAssertEqual(s.string("container"), "ns-box-\(getpid())")
        XCTAssertEqual(s.string("cgroup"), "/lxc.payload.ns-box-\(getpid())")
        XCTAssertEqual(try sessions(recorder, port: server.port, ["--container", "ns-box-\(getpid())"]).count, 1)
        XCTAssertEqual(try sessions(recorder, port: server.port, ["--container", "ns-box"]).count, 0,
                       "a name matches whole: the start of one is another container's name")
        XCTAssertEqual(try sessions(recorder, port: server.port, ["--container", "ns-boxx"]).count, 0)
        let commands = try recorder.query("commands", ["--container", "ns-box-\(getpid())"])
        XCTAssertEqual(commands.map(\.argv).first, ["bash", "-c", "id -u; exit 4"])
        let show = try runProcess(Paths.sshaudit, ["show", String(try XCTUnwrap(s.int("id"))), "--db", recorder.db])
        XCTAssertTrue(show.stdout.contains("root \(Self.tree)") && show.stdout.contains("container ns-box-\(getpid())"), show.stdout)
        let bad = try runProcess(Paths.sshaudit, ["query", "sessions", "--db", recorder.db, "--container", ""])
        XCTAssertEqual(bad.status, 2, bad.stderr)
    }

    /// `unshare --pid --mount --fork` around the tree's sshd: the listener is pid 1 in its namespace,
    /// its children have other pids there; sessions and commands are attributed all the same, and the
    /// user is the tree's.
    func testPIDAndMountNamespace() throws {
        let (uid, _) = try treeUser("ns_carol", password: "Carol-Pw-3x")
        let recorder = try Recorder(name: "ns-pid")
        defer { _ = try? recorder.stop() }
        let sshd = try WrappedSSHD(name: "ns-pid", port: 22641, wrap: [])
        defer { sshd.stop() }
        try sshd.listening()
        let r = try sshd.server.sshWithPasswords("ns_carol", ["Carol-Pw-3x"], command: "echo $$; /bin/true; exit 5")
        XCTAssertEqual(r.status, 5, r.stderr)
        let innerShellPid = try XCTUnwrap(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(try recorder.stop(), 0)
        let s = try XCTUnwrap(try sessions(recorder, port: sshd.server.port).first)
        XCTAssertEqual(s.string("user"), "ns_carol")
        XCTAssertEqual(s.int("uid"), uid)
        XCTAssertEqual(s.string("root"), Self.tree)
        XCTAssertEqual(s.int("exit_code"), 5)
        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        XCTAssertEqual(commands.map(\.argv), [["bash", "-c", "echo $$; /bin/true; exit 5"], ["/bin/true"]])
        // The host's pids, not the namespace's.
        XCTAssertNotEqual(commands.first?.int("pid"), innerShellPid)
    }

    /// A user namespace whose uid 0 is the host's root and whose other uids are shifted by 100000:
    /// the user is the tree's, `uid` the host's view (shifted), `uid_inside` the tree's uid.
    func testShiftedUserNamespace() throws {
        let (uid, _) = try treeUser("ns_carol", password: "Carol-Pw-3x")
        let recorder = try Recorder(name: "ns-user")
        defer { _ = try? recorder.stop() }
        let sshd = try WrappedSSHD(name: "ns-user", port: 22642, wrap: ["--user", "/bin/sh", "-c", "read go; exec \"$@\"", "sh"])
        defer { sshd.stop() }
        let child = try sshd.child()
        for file in ["uid_map", "gid_map"] {
            try "0 0 1\n1 100001 65535\n".write(toFile: "/proc/\(child)/\(file)", atomically: false, encoding: .utf8)
        }
        sshd.stdin.fileHandleForWriting.write(Data("go\n".utf8))
        try sshd.listening()
        let r = try sshd.server.sshWithPasswords("ns_carol", ["Carol-Pw-3x"], command: "id -u")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), String(uid), "the uid inside")
        XCTAssertEqual(try recorder.stop(), 0)
        let s = try XCTUnwrap(try sessions(recorder, port: sshd.server.port).first)
        XCTAssertEqual(s.string("user"), "ns_carol")
        XCTAssertEqual(s.int("uid"), uid + 100_000)
        XCTAssertEqual(s.int("uid_inside"), uid)
        XCTAssertEqual(s.string("root"), Self.tree)
        let commands = try recorder.query("commands", ["--session", String(try XCTUnwrap(s.int("id")))])
        XCTAssertFalse(commands.isEmpty)
        XCTAssertEqual(Set(commands.map { $0.int("uid") }), [uid + 100_000], "commands: the host's view")
        let show = try runProcess(Paths.sshaudit, ["show", String(try XCTUnwrap(s.int("id"))), "--db", recorder.db])
        XCTAssertTrue(show.stdout.contains("(uid \(uid) inside, \(uid + 100_000) on the host)"), show.stdout)
    }

    /// Root inside the tree writes a name with terminal controls into its passwd, first for the uid
    /// of a user of the tree: that name is recorded (the tree's own passwd names the uid so), and
    /// `show` and `query` print it with every control written out.
    func testHostileNameInTheTreesPasswd() throws {
        let (uid, _) = try treeUser("ns_dave", password: "Dave-Pw-5k")
        let hostile = "ns\u{1b}]0;owned\u{07}\u{1b}[2Jdave"
        let passwd = Self.tree + "/etc/passwd"
        let line = "\(hostile):x:\(uid):\(uid)::/home/ns_dave:/bin/bash\n"
        let lock = try runProcess("/usr/bin/flock", ["/run/sshaudit-test.lock", "/bin/sh", "-c",
                                                     "printf '%s' \"$1\" | cat - \"$2\" > \"$2.ns\" && cat \"$2.ns\" > \"$2\" && rm \"$2.ns\"",
                                                     "sh", line, passwd])
        XCTAssertEqual(lock.status, 0, lock.stderr)
        defer {
            _ = try? runProcess("/usr/bin/flock", ["/run/sshaudit-test.lock", "/bin/sh", "-c",
                                                   "grep -v '^ns.\\]0;owned' \"$1\" > \"$1.ns\" && cat \"$1.ns\" > \"$1\" && rm \"$1.ns\"", "sh", passwd])
        }
        let server = try SSHDServer(name: "ns-hostile", port: 22643, root: Self.tree)
        defer { server.stop() }
        let recorder = try Recorder(name: "ns-hostile")
        defer { _ = try? recorder.stop() }
        XCTAssertEqual(try server.sshWithPasswords("ns_dave", ["Dave-Pw-5k"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0)
        let s = try XCTUnwrap(try sessions(recorder, port: server.port).first)
        XCTAssertEqual(s.string("user"), hostile, "the tree's passwd names uid \(uid) so")
        let id = String(try XCTUnwrap(s.int("id")))
        for args in [["show", id], ["query", "sessions", "--session", id]] {
            let out = try runProcess(Paths.sshaudit, args + ["--db", recorder.db])
            XCTAssertEqual(out.status, 0, out.stderr)
            XCTAssertFalse(out.stdout.utf8.contains(0x1b) || out.stdout.utf8.contains(0x07), "\(args): raw controls")
            XCTAssertTrue(out.stdout.contains(#"ns\x1b]0;owned\x07\x1b[2Jdave"#) || args[0] == "query", out.stdout)
        }
    }
}
