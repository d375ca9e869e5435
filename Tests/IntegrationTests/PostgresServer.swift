import Foundation
import XCTest

/// A throw-away PostgreSQL server for the fleet tests: Debian's binaries (`initdb`, `pg_ctl`, run as
/// the `postgres` account), a data directory of its own, a free loopback port, password
/// authentication, and a role and database for `ship`.
final class PostgresServer {
    let dir: String
    let port: Int
    let user = "shipper"
    let password = "Ship-Pw-3x"
    let database = "fleet"
    private let bin: String

    /// The URL `ship --to` takes (no password in it) and the password file beside it.
    var url: String { "postgresql://\(user)@127.0.0.1:\(port)/\(database)" }
    var passwordFile: String { dir + "/password" }

    /// With TLS, the server only accepts TLS connections over TCP, with a certificate for 127.0.0.1
    /// signed by a CA of its own (`caFile`).
    let tls: Bool
    var caFile: String { dir + "/ca.crt" }

    init(name: String, tls: Bool = false) throws {
        self.tls = tls
        try requireRoot()
        guard let bin = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?
            .compactMap({ Int($0) }).max().map({ "/usr/lib/postgresql/\($0)/bin" }) else {
            throw TestFailure("no PostgreSQL server installed (Debian: postgresql)")
        }
        self.bin = bin
        dir = "/run/sshaudit-test/\(name)-pg"
        port = try Self.freePort()
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "Pg-Admin-1\n".write(toFile: dir + "/admin", atomically: true, encoding: .utf8)
        try run("/bin/chown", ["-R", "postgres:", dir])
        try asPostgres("initdb", ["-D", dir + "/data", "-A", "scram-sha-256", "--pwfile", dir + "/admin", "-U", "postgres"])
        if tls { try makeCertificates() }
        try start()
        try psql("CREATE ROLE \(user) LOGIN PASSWORD '\(password)'")
        try psql("CREATE DATABASE \(database) OWNER \(user)")
        try (password + "\n").write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
    }

    /// pg_ctl start, spawned and reaped by hand: the server it leaves running holds whatever it
    /// inherits, and Foundation's Process did not reap pg_ctl beside that server. What it says goes to DIR/log.
    func start() throws {
        let args = ["/usr/sbin/runuser", "-u", "postgres", "--", "\(bin)/pg_ctl", "-D", dir + "/data", "-l", dir + "/log", "-w",
                    "-t", "60", "-o", "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(dir) -c fsync=off"
                        + (tls ? " -c ssl=on" : ""), "start"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        var pid: pid_t = 0
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, args[0], &actions, nil, argv, environ) == 0 else { throw TestFailure("cannot spawn pg_ctl") }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(90)
        while waitpid(pid, &status, WNOHANG) == 0 {
            guard Date() < deadline else { kill(pid, SIGKILL); throw TestFailure("pg_ctl start did not finish in 90 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard status == 0 else {
            throw TestFailure("pg_ctl start failed: \((try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "")")
        }
    }

    /// A CA, and the server's key and certificate (CN localhost, IP 127.0.0.1) signed by it; TCP
    /// connections must use TLS (pg_hba: hostssl only).
    private func makeCertificates() throws {
        let data = dir + "/data"
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sshaudit test CA",
                                     "-keyout", dir + "/ca.key", "-out", caFile])
        try run("/usr/bin/openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                     "-keyout", data + "/server.key", "-out", dir + "/server.csr"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: dir + "/san.ext", atomically: true, encoding: .utf8)
        try run("/usr/bin/openssl", ["x509", "-req", "-in", dir + "/server.csr", "-CA", caFile, "-CAkey", dir + "/ca.key",
                                     "-CAcreateserial", "-days", "2", "-extfile", dir + "/san.ext", "-out", data + "/server.crt"])
        try "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
            .write(toFile: data + "/pg_hba.conf", atomically: true, encoding: .utf8)
        try run("/bin/chown", ["-R", "postgres:", dir])
        chmod(data + "/server.key", 0o600)
        chmod(caFile, 0o644)
    }

    func stop() throws {
        try asPostgres("pg_ctl", ["-D", dir + "/data", "-w", "-m", "fast", "stop"])
    }

    /// Stops the server for good (tear-down).
    func destroy() {
        _ = try? stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// One SQL statement as the owner of the fleet database; the rows, `|`-separated.
    @discardableResult
    func query(_ sql: String) throws -> [[String]] {
        let r = try runProcess("/usr/bin/env", ["PGPASSWORD=\(password)", "\(bin)/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                                "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database, "-c", sql])
        guard r.status == 0 else { throw TestFailure("psql \(sql): \(r.stderr)") }
        return r.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    /// A single number from `sql`.
    func number(_ sql: String) throws -> Int {
        guard let n = try query(sql).first?.first.flatMap({ Int($0) }) else { throw TestFailure("no number from \(sql)") }
        return n
    }

    private func psql(_ sql: String) throws {
        let r = try runProcess("/usr/bin/env", ["PGPASSWORD=Pg-Admin-1", "\(bin)/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                                "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-c", sql])
        guard r.status == 0 else { throw TestFailure("psql \(sql): \(r.stderr)") }
    }

    private func asPostgres(_ tool: String, _ args: [String]) throws {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/\(tool)"] + args)
    }

    private func run(_ executable: String, _ args: [String]) throws {
        let r = try runProcess(executable, args, timeout: 120)
        guard r.status == 0 else { throw TestFailure("\(executable) \(args.joined(separator: " ")): \(r.stdout) \(r.stderr)") }
    }

    /// A loopback TCP port nobody listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw TestFailure("bind: \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
