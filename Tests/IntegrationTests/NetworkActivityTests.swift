import CSSHAuditABI
import Foundation
import GRDB
import XCTest

/// Network activity of a session's processes on real sshd: connect (TCP, UDP, IPv4, IPv6, unix
/// sockets, bash's /dev/tcp builtin, refused), bind, listen and accept; nothing of processes outside
/// sessions; and a connect flood that the recorder's bound absorbs.
final class NetworkActivityTests: XCTestCase {
    var server: SSHDServer?
    var recorder: Recorder?
    var listeners: Process?

    override func tearDown() {
        listeners?.terminate()
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    /// Listeners outside every session (root, not under sshd): TCP on 127.0.0.1 and [::1], and a unix
    /// socket anyone may connect to. Their own bind, listen and accept must give no rows.
    func startListeners(tcp4: Int, tcp6: Int, unixPath: String) throws {
        let script = """
            import os, socket, threading
            def serve(s):
                while True:
                    c, _ = s.accept(); c.close()
            a = socket.socket(); a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); a.bind(("127.0.0.1", \(tcp4))); a.listen(64)
            b = socket.socket(socket.AF_INET6); b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); b.bind(("::1", \(tcp6))); b.listen(64)
            u = socket.socket(socket.AF_UNIX); u.bind("\(unixPath)"); os.chmod("\(unixPath)", 0o777); u.listen(64)
            for s in (a, b, u): threading.Thread(target=serve, args=(s,), daemon=True).start()
            print("ready", flush=True)
            threading.Event().wait()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        listeners = process
        let line = out.fileHandleForReading.availableData
        guard String(decoding: line, as: UTF8.self).hasPrefix("ready") else { throw TestFailure("listeners did not start") }
    }

    func database(_ recorder: Recorder) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        return try DatabaseQueue(path: recorder.db, configuration: config)
    }

    func testConnectBindListenAcceptOfASession() throws {
        let token = UUID().uuidString.prefix(8)
        let served = "/tmp/net-served-\(token).sock", bound = "/tmp/net-bound-\(token).sock"
        defer { unlink(served); unlink(bound) }
        let server = try SSHDServer(name: "net-activity", port: 22570)
        self.server = server
        let recorder = try Recorder(name: "net-activity")
        self.recorder = recorder
        try startListeners(tcp4: 23570, tcp6: 23571, unixPath: served)

        // Outside any session: root's bash connects with the same builtin.
        let outside = try runProcess("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/23570; exec 3>&-; echo $$"])
        let outsidePIDs = [Int(outside.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), Int(listeners!.processIdentifier)]
        XCTAssertNotNil(outsidePIDs[0], outside.stderr)

        let python = """
            import errno, os, socket
            s = socket.socket(socket.AF_INET6); s.connect(("::1", 23571)); s.close()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("127.0.0.1", 23572)); u.close()
            import ctypes
            z = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); z.connect(("127.0.0.1", 0))
            assert ctypes.CDLL(None).connect(z.fileno(), bytes(16), 16) == 0; z.close()
            x = socket.socket(socket.AF_UNIX); x.connect("\(served)"); x.close()
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("127.0.0.1", 23573)); l.listen(4)
            c = socket.create_connection(("127.0.0.1", 23573)); a, _ = l.accept(); a.close(); c.close(); l.close()
            f = socket.socket()
            assert f.connect_ex(("127.0.0.1", 23574)) == errno.ECONNREFUSED
            n = socket.socket(); n.setblocking(False)
            assert n.connect_ex(("127.0.0.1", 23570)) == errno.EINPROGRESS
            b = socket.socket(socket.AF_UNIX); b.bind("\(bound)"); b.listen(1); b.close()
            h = socket.socket(socket.AF_UNIX); h.bind("\\0net-\\x1b[2J-\(token)"); h.close()
            print("python done")
            """
        let script = """
            exec 3<>/dev/tcp/127.0.0.1/23570; exec 3>&-
            exec 3<>/dev/tcp/127.0.0.1/23570; exec 3>&-
            bash -c 'printf sshd > /proc/$$/comm; exec 3<>/dev/tcp/127.0.0.1/23570'
            /usr/bin/python3 -c '\(python)'
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertTrue(r.stdout.contains("python done"), r.stdout + r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)

        // The recorder follows every sshd on the machine: this test's session is the one on its port.
        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(mine.count, 1)
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let everything = try recorder.query("network")
        XCTAssertTrue(everything.allSatisfy { !outsidePIDs.contains($0.int("pid")) }, "nothing of processes outside sessions")
        let rows = everything.filter { $0.int("session_id") == sessionID }
        XCTAssertTrue(rows.allSatisfy { Set($0.keys) == ["id", "session_id", "command_id", "pid", "uid", "op", "family", "proto",
                                                        "addr", "port", "path", "first_at", "last_at", "count"] },
                      "JSON keys: \(rows.first.map { Array($0.keys).sorted() } ?? [])")
        let alice = try XCTUnwrap(Int(runProcess("/usr/bin/id", ["-u", "sa_alice"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue(rows.allSatisfy { $0.int("uid") == alice && $0.int("command_id") != nil }, "\(rows)")

        func describe(_ row: [String: Any]) -> String {
            let target = row.string("path") ?? "\(row.string("addr") ?? "-"):\(row.int("port").map(String.init) ?? "-")"
            return "\(row.string("op")!) \(row.string("family")!)/\(row.string("proto")!) \(target) ×\(row.int("count")!)"
        }
        // Grouped per command: the shell, the renamed bash, python (which the shell exec'd in its
        // own process: its rows are its own all the same).
        var byCommand: [Int: [String]] = [:]
        for row in rows { byCommand[row.int("command_id")!, default: []].append(describe(row)) }
        let found = Set(byCommand.values.map { $0.sorted() })
        let expected: Set<[String]> = [
            ["connect inet/tcp 127.0.0.1:23570 ×2"],  // the shell's two /dev/tcp builtins, one row
            ["connect inet/tcp 127.0.0.1:23570 ×1"],  // named "sshd": still a user's process
            [
                "accept inet/tcp 127.0.0.1:23573 ×1",
                "bind inet/tcp 127.0.0.1:23573 ×1",
                "bind unix/stream \(bound) ×1",
                "bind unix/stream @net-\u{1b}[2J-\(token) ×1",  // abstract, with an escape sequence
                "connect inet/tcp 127.0.0.1:23570 ×1",  // non-blocking: EINPROGRESS
                "connect inet/tcp 127.0.0.1:23573 ×1",
                "connect inet/udp 127.0.0.1:0 ×1",  // port 0 is a peer too; the AF_UNSPEC dissolve after it is none
                "connect inet/udp 127.0.0.1:23572 ×1",
                "connect inet6/tcp ::1:23571 ×1",
                "connect unix/stream \(served) ×1",
                "connect_failed inet/tcp 127.0.0.1:23574 ×1",
                "listen inet/tcp 127.0.0.1:23573 ×1",
                "listen unix/stream \(bound) ×1",
            ],
        ]
        XCTAssertEqual(found, expected)

        // The same rows through the filters of the other queries.
        let session = ["--session", String(sessionID)]
        XCTAssertEqual(try recorder.query("network", session).map(describe), rows.map(describe))
        XCTAssertEqual(try recorder.query("network", session + ["--user", "sa_alice"]).count, rows.count)
        XCTAssertEqual(try recorder.query("network", ["--user", "sa_alice"]).count, everything.count)
        XCTAssertEqual(try recorder.query("network", session + ["--user", "sa_bob"]).count, 0)
        XCTAssertEqual(try recorder.query("network", session + ["--from", "127.0.0.0/8"]).count, rows.count)
        XCTAssertEqual(try recorder.query("network", session + ["--from", "192.0.2.0/24"]).count, 0)
        XCTAssertEqual(try recorder.query("network", session + ["--since", "1h"]).count, rows.count)
        XCTAssertEqual(try recorder.query("network", session + ["--until", "1h"]).count, 0)
        XCTAssertEqual(try recorder.query("network", session + ["--failed"]).map(describe), ["connect_failed inet/tcp 127.0.0.1:23574 ×1"])

        // Recorded text reaches the terminal only through VisibleText.
        let table = try runProcess(Paths.sshaudit, ["query", "network", "--db", recorder.db, "--session", String(sessionID)])
        XCTAssertFalse(table.stdout.contains("\u{1b}"), table.stdout)
        XCTAssertTrue(table.stdout.contains("@net-"), table.stdout)

        // show and report list them.
        let show = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", recorder.db, "--format", "json"])
        let timeline = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], show.stderr)
        XCTAssertEqual((timeline["network"] as? [[String: Any]])?.map(describe).sorted(), rows.map(describe).sorted())
        let text = try runProcess(Paths.sshaudit, ["show", String(sessionID), "--db", recorder.db]).stdout
        XCTAssertTrue(text.contains("Network (\(rows.count))") && text.contains("[::1]:23571") && text.contains(served), text)
        let report = try runProcess(Paths.sshaudit, ["report", "--db", recorder.db, "--format", "json", "--since", "1h"])
        let reported = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any], report.stderr)
        let endpoints = try XCTUnwrap(reported["network"] as? [[String: Any]])
        let ops = endpoints.map { $0.string("op") ?? "" }
        XCTAssertEqual(Array(ops.prefix(2)), ["listen", "listen"], "listeners first: \(endpoints)")
        let busiest = endpoints.first { $0.string("op") == "connect" && $0.int("port") == 23570 }
        XCTAssertGreaterThanOrEqual(busiest?.int("count") ?? 0, 4, "one line per endpoint, all processes: \(endpoints)")
        let markdown = try runProcess(Paths.sshaudit, ["report", "--db", recorder.db, "--since", "1h"]).stdout
        XCTAssertTrue(markdown.contains("## Network activity of sessions") && markdown.contains("`127.0.0.1:23574`"), markdown)

        // Every row is in the ledger.
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", recorder.db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let entries = try database(recorder).read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT row_id) FROM ledger WHERE tbl = 'network_activity'")
        }
        XCTAssertEqual(entries, everything.count)
    }

    /// 100,000 connects to distinct endpoints from one session: every endpoint is stored, the
    /// recorder holds at most its bound of rows being counted (the oldest give up their later counts,
    /// counted as overflows, the session flagged), and what comes after is still recorded.
    func testConnectFloodIsBounded() throws {
        let server = try SSHDServer(name: "net-flood", port: 22571)
        self.server = server
        let recorder = try Recorder(name: "net-flood")
        self.recorder = recorder
        let python = """
            import socket
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(100000):
                u.connect(("127.0.0.%d" % (1 + i // 50000), 1 + i % 50000))
            u.connect(("127.0.0.1", 1))
            t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.connect(("127.0.0.9", 9))
            print("flood done")
            """
        let r = try server.ssh("sa_alice", ["/usr/bin/python3 -c '\(python)'"])
        XCTAssertTrue(r.stdout.contains("flood done"), r.stdout + r.stderr)
        // The recorder writes 100,000 rows: let it catch up (the last row is stored last) before the stop,
        // which waits 30 s at most.
        let db = try database(recorder)
        let deadline = Date().addingTimeInterval(240)
        while Date() < deadline, try db.read({ db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM network_activity WHERE addr = '127.0.0.9'") ?? 0
        }) == 0 {
            Thread.sleep(forTimeInterval: 1)
        }
        let hwm = try String(contentsOfFile: "/proc/\(recorder.pid)/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
        let kib = Int(hwm?.split(separator: " ").dropFirst().first ?? "") ?? .max
        XCTAssertLessThan(kib, BoundsTests.rssBoundKiB, "the recorder stays within its memory bound: \(hwm ?? "?")")
        XCTAssertEqual(try recorder.stop(), 0)
        print("net flood: recorder \(hwm ?? "?")")

        // The recorder follows every sshd on the machine: this test's session is the one on its port.
        let mine = "session_id IN (SELECT id FROM sessions WHERE local_port = \(server.port))"
        let (rows, total, first, after, drops, overflows, ringDrops) = try db.read { db in (
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM network_activity WHERE \(mine)")!,
            try Int.fetchOne(db, sql: "SELECT SUM(count) FROM network_activity WHERE \(mine)")!,
            try Int.fetchAll(db, sql: "SELECT count FROM network_activity WHERE addr = '127.0.0.1' AND port = 1 AND \(mine) ORDER BY id"),
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM network_activity WHERE addr = '127.0.0.9' AND port = 9 AND \(mine)")!,
            try Int.fetchOne(db, sql: "SELECT MAX(drops) FROM sessions WHERE local_port = \(server.port)")!,
            try Int.fetchOne(db, sql: "SELECT SUM(overflows) FROM recorder_runs")!,
            try Int.fetchOne(db, sql: "SELECT SUM(ring_drops) FROM recorder_runs")!
        ) }
        XCTAssertEqual(ringDrops, 0, "the ring buffer kept up")
        // 100,000 distinct endpoints, then 127.0.0.1:1 again, then one more. The kernel counts the second
        // 127.0.0.1:1 under the first one's key; whether that count reaches the correlator before or
        // after it gave the first row up at the bound (it lags the kernel by the flood's records), the
        // count lands in that row or in a new one: never lost.
        XCTAssertEqual(total, 100_002, "every connect counted")
        XCTAssertTrue(first == [2] || first == [1, 1], "127.0.0.1:1 twice: \(first)")
        XCTAssertEqual(rows, 100_000 + first.count, "one row per distinct endpoint, and one for an endpoint counted again after it was given up")
        XCTAssertEqual(after, 1, "what came after the flood is recorded")
        XCTAssertEqual(drops, 1, "the session is flagged")
        XCTAssertGreaterThanOrEqual(overflows, 100_000 - 16_384, "rows given up at the bound are counted")
    }

    /// A program that sends datagrams to addresses given with each call, and serves a unix socket.
    /// argv: FLOOD DIR TOKEN. Prints "sent" when done.
    static let sender = #"""
        #define _GNU_SOURCE
        #include <arpa/inet.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <fcntl.h>
        #include <stddef.h>
        #include <sys/mman.h>
        #include <sys/socket.h>
        #include <sys/un.h>
        #include <unistd.h>

        static struct sockaddr_in v4(const char *ip, int port) {
            struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
            inet_pton(AF_INET, ip, &a.sin_addr);
            return a;
        }
        static struct sockaddr_un un(const char *dir, const char *name) {
            struct sockaddr_un a = { .sun_family = AF_UNIX };
            snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", dir, name);
            return a;
        }
        int main(int argc, char **argv) {
            long flood = atol(argv[1]);
            const char *dir = argv[2];
            char byte = 'x';
            /* sendto: one endpoint, FLOOD times (counted in the kernel, one record). */
            int u = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = v4("127.0.0.1", 23575);
            for (long i = 0; i < flood; i++)
                if (sendto(u, &byte, 1, 0, (struct sockaddr *)&a, sizeof(a)) != 1) { perror("sendto"); return 1; }
            /* sendmsg over IPv6. */
            int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
            struct sockaddr_in6 b = { .sin6_family = AF_INET6, .sin6_port = htons(23576), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
            struct iovec iov = { &byte, 1 };
            struct msghdr m = { .msg_name = &b, .msg_namelen = sizeof(b), .msg_iov = &iov, .msg_iovlen = 1 };
            if (sendmsg(u6, &m, 0) != 1) { perror("sendmsg"); return 1; }
            /* sendmmsg: three messages, the last to another address. */
            struct sockaddr_in c[3] = { v4("127.0.0.1", 23577), v4("127.0.0.1", 23577), v4("127.0.0.2", 23577) };
            struct mmsghdr mm[3];
            memset(mm, 0, sizeof(mm));
            for (int i = 0; i < 3; i++) {
                mm[i].msg_hdr.msg_name = &c[i];
                mm[i].msg_hdr.msg_namelen = sizeof(c[i]);
                mm[i].msg_hdr.msg_iov = &iov;
                mm[i].msg_hdr.msg_iovlen = 1;
            }
            if (sendmmsg(u, mm, 3, 0) != 3) { perror("sendmmsg"); return 1; }
            /* A unix datagram socket's path. */
            int r = socket(AF_UNIX, SOCK_DGRAM, 0);
            struct sockaddr_un rd = un(dir, "dgram.sock");
            if (bind(r, (struct sockaddr *)&rd, sizeof(rd)) != 0) { perror("bind dgram"); return 1; }
            int d = socket(AF_UNIX, SOCK_DGRAM, 0);
            if (sendto(d, &byte, 1, 0, (struct sockaddr *)&rd, sizeof(rd)) != 1) { perror("sendto unix"); return 1; }
            /* The same path, given with a length that cuts a decoy off its end: the kernel reads no further. */
            struct sockaddr_un cut = un(dir, "dgram.sockDECOY");
            socklen_t cutlen = offsetof(struct sockaddr_un, sun_path) + strlen(cut.sun_path) - 5;
            if (sendto(d, &byte, 1, 0, (struct sockaddr *)&cut, cutlen) != 1) { perror("sendto cut"); return 1; }
            /* Abstract names that differ only after a NUL byte inside them. */
            const char *tags[2] = { "X", "Y" };
            for (int i = 0; i < 2; i++) {
                struct sockaddr_un ab = { .sun_family = AF_UNIX };
                int n = snprintf(ab.sun_path + 1, sizeof(ab.sun_path) - 1, "sa-%s", argv[3]);
                ab.sun_path[1 + n] = 0;
                ab.sun_path[2 + n] = tags[i][0];
                socklen_t len = offsetof(struct sockaddr_un, sun_path) + n + 3;
                int b = socket(AF_UNIX, SOCK_DGRAM, 0);
                if (bind(b, (struct sockaddr *)&ab, len) != 0) { perror("bind abstract"); return 1; }
                if (sendto(d, &byte, 1, 0, (struct sockaddr *)&ab, len) != 1) { perror("sendto abstract"); return 1; }
            }
            /* Abstract names of 100 bytes that differ only in their last byte, each sent to twice: past the
             * first 64 bytes the kernel's key holds, the seeded hash of the whole name keeps them apart. */
            for (int i = 0; i < 2; i++) {
                struct sockaddr_un ab = { .sun_family = AF_UNIX };
                int n = snprintf(ab.sun_path + 1, sizeof(ab.sun_path) - 1, "sa-%s-", argv[3]);
                memset(ab.sun_path + 1 + n, 'L', 98 - n);
                ab.sun_path[99] = tags[i][0];
                socklen_t len = offsetof(struct sockaddr_un, sun_path) + 100;
                int b = socket(AF_UNIX, SOCK_DGRAM, 0);
                if (bind(b, (struct sockaddr *)&ab, len) != 0) { perror("bind long abstract"); return 1; }
                for (int k = 0; k < 2; k++)
                    if (sendto(d, &byte, 1, 0, (struct sockaddr *)&ab, len) != 1) { perror("sendto long abstract"); return 1; }
            }
            /* AF_UNSPEC on an IPv4 socket is taken as AF_INET; an IPv6 socket sends to an AF_INET address. */
            struct sockaddr_in unspec = v4("127.0.0.1", 23578);
            unspec.sin_family = AF_UNSPEC;
            if (sendto(u, &byte, 1, 0, (struct sockaddr *)&unspec, sizeof(unspec)) != 1) { perror("sendto unspec"); return 1; }
            struct sockaddr_in four = v4("127.0.0.1", 23579);
            if (sendto(u6, &byte, 1, 0, (struct sockaddr *)&four, sizeof(four)) != 1) { perror("sendto v4 on v6"); return 1; }
            /* An address in a page not yet faulted in (a file mapping never touched): the kernel reads it,
             * the probe cannot. */
            char file[200];
            snprintf(file, sizeof(file), "%s/addr.bin", dir);
            int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
            struct sockaddr_in hidden = v4("127.0.0.1", 23581);
            if (fd < 0 || write(fd, &hidden, sizeof(hidden)) != sizeof(hidden)) { perror("addr file"); return 1; }
            void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
            if (page == MAP_FAILED) { perror("mmap"); return 1; }
            if (sendto(u, &byte, 1, 0, (struct sockaddr *)page, sizeof(hidden)) != 1) { perror("sendto unfaulted"); return 1; }
            /* The same through sendmsg, its msghdr itself in a page not yet faulted in: counted with it. */
            struct sockaddr_in dest = v4("127.0.0.1", 23582);
            struct iovec one = { .iov_base = &byte, .iov_len = 1 };
            struct msghdr hdr = { .msg_name = &dest, .msg_namelen = sizeof(dest), .msg_iov = &one, .msg_iovlen = 1 };
            snprintf(file, sizeof(file), "%s/msghdr.bin", dir);
            int hfd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
            if (hfd < 0 || write(hfd, &hdr, sizeof(hdr)) != sizeof(hdr)) { perror("msghdr file"); return 1; }
            void *hpage = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, hfd, 0);
            if (hpage == MAP_FAILED) { perror("mmap msghdr"); return 1; }
            if (sendmsg(u, (struct msghdr *)hpage, 0) != 1) { perror("sendmsg unfaulted"); return 1; }
            /* TCP Fast Open: sendto with an address connects (refused here: nothing listens). */
            int t = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in tfo = v4("127.0.0.1", 23580);
            sendto(t, &byte, 1, MSG_FASTOPEN, (struct sockaddr *)&tfo, sizeof(tfo));
            /* A TCP socket's sendto without MSG_FASTOPEN ignores the address: nothing more. */
            /* Served over a unix stream socket: bind, listen, accept. */
            int l = socket(AF_UNIX, SOCK_STREAM, 0);
            struct sockaddr_un ls = un(dir, "stream.sock");
            if (bind(l, (struct sockaddr *)&ls, sizeof(ls)) != 0 || listen(l, 1) != 0) { perror("listen"); return 1; }
            int k = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(k, (struct sockaddr *)&ls, sizeof(ls)) != 0) { perror("connect"); return 1; }
            int s = accept(l, NULL, NULL);
            if (s < 0) { perror("accept"); return 1; }
            printf("sent\n");
            return 0;
        }
        """#

    /// A network repeat's key holds a hash of the endpoint (events.h, sa_net_seen_id and the unix
    /// name's first bytes), seeded with a secret no user can read. With the secret, as root reads it
    /// here from the recorder's pinned `config`, two abstract unix names of one hash are easy to make;
    /// the value holds the endpoint itself, so the sends to the second name are its own, none counted
    /// under the first name's row.
    func testEndpointsOfOneHashAreNeverCountedUnderEachOther() throws {
        let server = try SSHDServer(name: "net-collide", port: 22574)
        self.server = server
        let recorder = try Recorder(name: "net-collide")
        self.recorder = recorder
        let secret = try SeenHash.secret(of: recorder)
        // seen_names_hash over the 128 name bytes: a send's endpoint (sa_net_seen_id, zero padded to 64
        // bytes), then the unix name's first 64 bytes. Two 16-byte abstract names of one hash from the
        // state after the endpoint's words have one key (`where` is their length).
        var id = sa_net_seen_id()
        id.flags = SA_NET_FROM_USER
        id.family = UInt16(AF_UNIX)
        id.sock_type = UInt16(SOCK_DGRAM.rawValue)
        let endpoint = withUnsafeBytes(of: &id) { Array($0) }
        let before = SeenHash.hash(endpoint, after: secret, words: Int(SA_FILE_SEEN_NAME) / 8)
        let first = [0] + Array("collide".utf8) + Array("sameword".utf8)
        let other = try XCTUnwrap(SeenHash.collision(with: first, after: before, keep: 1), "a second name of the same hash")
        XCTAssertEqual(SeenHash.hash(first, after: before, words: 8), SeenHash.hash(other, after: before, words: 8))
        XCTAssertNotEqual(first, other)
        let a = String(decoding: first.dropFirst(), as: UTF8.self), b = String(decoding: other.dropFirst(), as: UTF8.self)

        let script = """
            python3 -c 'import socket
            names = [b"\\x00\(a)", b"\\x00\(b)"]
            receivers = [socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in names]
            for r, n in zip(receivers, names): r.bind(n)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            for i in (0, 1, 1, 1, 0): s.sendto(b"x", names[i])'
            """
        let r = try server.ssh("sa_alice", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        let sends = try recorder.query("network").filter { $0.int("session_id") == sessionID && $0.string("op") == "send" }
        let counts = Dictionary(sends.map { ($0.string("path") ?? "-", $0.int("count") ?? 0) }, uniquingKeysWith: +)
        XCTAssertEqual(counts, ["@" + a: 2, "@" + b: 3], "the second name's sends are its own")
    }

    /// Datagrams sent to an address with each call (sendto, sendmsg, sendmmsg; IPv4, IPv6, a unix
    /// path) and a unix socket served (accept) in a session: one row per endpoint with its exact count.
    /// 1,000,000 sends to one endpoint are one report and a count in the kernel, not a million records.
    /// The same program outside any session gives nothing. Runs serially (Makefile SERIAL_TESTS): every
    /// recorder on the machine follows this session, and one whose kernel table of counted operations
    /// another test filled (testConnectFloodIsBounded) would get each of the million sends as a record.
    func testSendsToAddressesAndUnixAcceptsOfASession() throws {
        let program = try compileTestProgram(Self.sender, name: "net-send", program: "sender")
        let inside = "/tmp/net-send-\(UUID().uuidString.prefix(8))", outside = inside + "-root"
        for dir in [inside, outside] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, 0o777)
        }
        defer { for dir in [inside, outside] { try? FileManager.default.removeItem(atPath: dir) } }
        let server = try SSHDServer(name: "net-send", port: 22572)
        self.server = server
        let recorder = try Recorder(name: "net-send")
        self.recorder = recorder

        let token = String(UUID().uuidString.prefix(8))
        let root = try runProcess(program, ["1000", outside, token + "r"])
        XCTAssertEqual(root.stdout, "sent\n", root.stderr)
        let flood = 1_000_000
        let r = try server.ssh("sa_alice", ["\(program) \(flood) \(inside) \(token)"])
        XCTAssertEqual(r.stdout, "sent\n", r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)

        let mine = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let sessionID = try XCTUnwrap(mine.first?.int("id"))
        XCTAssertEqual(mine.first?.int("drops"), 0)
        let everything = try recorder.query("network")
        XCTAssertFalse(everything.contains { ($0.string("path") ?? "").hasPrefix(outside) || ($0.string("path") ?? "").contains(token + "r") },
                       "nothing outside sessions")
        func describe(_ row: [String: Any]) -> String {
            let target = row.string("path") ?? "\(row.string("addr") ?? "-"):\(row.int("port").map(String.init) ?? "-")"
            return "\(row.string("op")!) \(row.string("family")!)/\(row.string("proto")!) \(target) ×\(row.int("count")!)"
        }
        let rows = everything.filter { $0.int("session_id") == sessionID }.map(describe).sorted()
        let long = "@sa-\(token)-" + String(repeating: "L", count: 98 - "sa-\(token)-".utf8.count)
        XCTAssertEqual(rows, [
            "bind unix/dgram \(long)X ×1",
            "bind unix/dgram \(long)Y ×1",
            "send unix/dgram \(long)X ×2",  // longer than the key's 64 bytes: told apart by the hash
            "send unix/dgram \(long)Y ×2",
            "accept unix/stream \(inside)/stream.sock ×1",
            "bind unix/dgram @sa-\(token)@X ×1",
            "bind unix/dgram @sa-\(token)@Y ×1",
            "bind unix/dgram \(inside)/dgram.sock ×1",
            "connect inet/tcp 127.0.0.1:23580 ×1",  // TCP Fast Open, as given
            "bind unix/stream \(inside)/stream.sock ×1",
            "connect unix/stream \(inside)/stream.sock ×1",
            "listen unix/stream \(inside)/stream.sock ×1",
            "send inet/udp 127.0.0.1:23575 ×\(flood)",
            "send inet/udp 127.0.0.1:23577 ×2",
            "send inet/udp 127.0.0.1:23578 ×1",  // AF_UNSPEC
            "send inet/udp 127.0.0.2:23577 ×1",
            "send inet/udp -:- ×2",  // the address the probe could not read: sendto's, and sendmsg's whole msghdr
            "send inet6/udp ::1:23576 ×1",
            "send inet6/udp ::ffff:127.0.0.1:23579 ×1",
            "send unix/dgram @sa-\(token)@X ×1",
            "send unix/dgram @sa-\(token)@Y ×1",
            "send unix/dgram \(inside)/dgram.sock ×2",  // the decoy cut off
        ].sorted())
        // The flood was counted in the kernel: the recorder's run saw far fewer records than sends (it
        // follows every sshd on the machine: other tests' sessions add theirs).
        let runs = try database(recorder).read { db in
            try Row.fetchAll(db, sql: "SELECT events, ring_drops FROM recorder_runs")
        }
        XCTAssertEqual(runs.map { $0["ring_drops"] as Int64 }, [0])
        XCTAssertLessThan(runs.map { $0["events"] as Int64 }.reduce(0, +), Int64(flood / 2), "\(runs)")
        // OCSF: a send is traffic (6) to its destination.
        let export = try runProcess(Paths.sshaudit, ["export", "--db", recorder.db, "--host", "test-host", "--format", "ocsf"])
        let sends = export.stdout.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard let e = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  e.int("class_uid") == 4001, (e["dst_endpoint"] as? [String: Any])?.int("port") == 23575 else { return nil }
            return e
        }
        XCTAssertEqual(sends.map { $0.int("activity_id") }, [6], export.stderr)
        let schema = try OCSFSchema.load()
        for event in sends { XCTAssertEqual(schema.problems(event), [], "\(event)") }
    }
}
