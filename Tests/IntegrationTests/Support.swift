import Foundation
import XCTest

/// Real processes for the integration tests: an sshd on 127.0.0.1 (through Tests/Integration/
/// sshd-harness.sh), the `sshaudit` binary recording with real BPF, and real ssh clients.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let harness = packageRoot.appending(path: "Tests/Integration/sshd-harness.sh").path

    /// The sshaudit binary built next to the test bundle (SSHAUDIT_BIN overrides).
    static var sshaudit: String {
        if let bin = ProcessInfo.processInfo.environment["SSHAUDIT_BIN"] { return bin }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appending(path: "sshaudit").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return packageRoot.appending(path: ".build/debug/sshaudit").path
    }
}

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion, feeding `input` on stdin.
@discardableResult
func runProcess(_ executable: String, _ args: [String], input: String? = nil, timeout: TimeInterval = 60) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    let out = Pipe(), err = Pipe(), inp = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inp
    try process.run()
    if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
    try? inp.fileHandleForWriting.close()
    // Read both pipes concurrently so neither can fill up and block the child.
    let stdoutData = DataBox(), stderrData = DataBox()
    let group = DispatchGroup()
    // Blocking reads on threads of their own: parked on GCD's pool, many parallel clients would
    // starve it, and Foundation's Process needs that pool to notice its children exit.
    for (pipe, box) in [(out, stdoutData), (err, stderrData)] {
        group.enter()
        Thread.detachNewThread { box.data = pipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        throw TestFailure("\(executable) \(args) did not finish within \(Int(timeout)) s")
    }
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: stdoutData.data, as: UTF8.self),
                         stderr: String(decoding: stderrData.data, as: UTF8.self))
}

/// Written by one reader thread, read after the group wait.
final class DataBox: @unchecked Sendable {
    var data = Data()
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Integration tests need root and a kernel with BPF: they fail loudly, never skip.
func requireRoot() throws {
    guard geteuid() == 0 else { throw TestFailure("integration tests must run as root (real BPF, real sshd)") }
}

/// A real sshd listening on 127.0.0.1:port with its own config, host key and test users.
final class SSHDServer {
    let dir: String
    let port: Int

    /// A root tree to run sshd in (chroot), e.g. Debian 13's OpenSSH 10; nil for the host's sshd.
    let root: String?

    /// Also listen on [::1].
    let ipv6: Bool

    /// MPTCP: sshd and the harness's ssh client run under `mptcpize`, so their connections are MPTCP ones.
    let mptcp: Bool

    /// - Parameter startMode: `listener` (sshd -D), `daemon` (without -D: it goes into the background)
    ///   or `inetd` (sshd -i per connection under systemd-socket-activate); see sshd-harness.sh.
    init(name: String, port: Int, logMode: String = "file", startMode: String = "listener", extraOptions: [String] = [],
         root: String? = nil, ipv6: Bool = false, mptcp: Bool = false) throws {
        try requireRoot()
        dir = "/run/sshaudit-test/\(name)"
        self.port = port
        self.root = root
        self.ipv6 = ipv6
        self.mptcp = mptcp
        // Users are shared by all tests: create them one test at a time.
        let setup = try harness(["setup", dir], lock: true)
        guard setup.status == 0 else { throw TestFailure("harness setup failed: \(setup.stderr)") }
        try start(logMode: logMode, startMode: startMode, extraOptions: extraOptions)
    }

    /// Starts this sshd (again: the harness stops the one running on this port first).
    func start(logMode: String = "file", startMode: String = "listener", extraOptions: [String] = []) throws {
        var args = ["start", dir, String(port), logMode, startMode]
        if !extraOptions.isEmpty { args += ["--"] + extraOptions }
        let start = try harness(args)
        guard start.status == 0 else { throw TestFailure("sshd did not start: \(start.stderr)") }
    }

    /// The pid in the harness's pid file: the listener's, or in inetd mode the socket manager's.
    var pid: Int32? {
        (try? String(contentsOfFile: (root ?? "") + dir + "/sshd_\(port).pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Runs Tests/Integration/sshd-harness.sh, inside `root` when there is one.
    func harness(_ args: [String], input: String? = nil, lock: Bool = false) throws -> ProcessResult {
        var command = ["/usr/bin/env"] + (root.map { ["SSHD_HARNESS_ROOT=\($0)"] } ?? []) + (ipv6 ? ["SSHD_HARNESS_IPV6=1"] : [])
            + (mptcp ? ["SSHD_HARNESS_MPTCP=1"] : [])
        if lock { command += ["/usr/bin/flock", "/run/sshaudit-test.lock"] }
        command += ["/bin/bash", Paths.harness] + args
        return try runProcess(command[0], Array(command.dropFirst()), input: input)
    }

    /// `ssh -i key user@127.0.0.1 args…` as the test user.
    func ssh(_ user: String, _ args: [String], input: String? = nil) throws -> ProcessResult {
        try harness(["ssh", dir, String(port), user] + args, input: input)
    }

    /// A password login with the real client, answering its prompts with `passwords` in turn (through
    /// SSH_ASKPASS, so that several tries happen in one connection).
    func sshWithPasswords(_ user: String, _ passwords: [String], command: String = "true",
                          source: String? = nil) throws -> ProcessResult {
        let base = "/run/sshaudit-test/askpass-\(UUID().uuidString)"  // the client's side, never in a chroot
        let list = passwords.joined(separator: "\n") + "\n"
        try list.write(toFile: base + ".list", atomically: true, encoding: .utf8)
        try """
            #!/bin/sh
            n=$(cat '\(base).count' 2>/dev/null || echo 0)
            echo $((n + 1)) > '\(base).count'
            sed -n "$((n + 1))p" '\(base).list'
            """.write(toFile: base + ".sh", atomically: true, encoding: .utf8)
        chmod(base + ".sh", 0o700)
        defer { for ext in [".list", ".sh", ".count"] { try? FileManager.default.removeItem(atPath: base + ext) } }
        return try runProcess("/usr/bin/env", [
            "SSH_ASKPASS=\(base).sh", "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none",
            "/usr/bin/setsid", "-w", "/usr/bin/ssh", "-p", String(port), "-F", "/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
            "-o", "NumberOfPasswordPrompts=\(passwords.count)", "-o", "BindAddress=\(source ?? "127.0.0.1")",
            "\(user)@127.0.0.1", command,
        ])
    }

    /// Connects and reads sshd's banner, then closes without authenticating.
    func connectAndClose() throws {
        let r = try runProcess("/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port); head -1 <&3; exec 3>&-"])
        guard r.stdout.hasPrefix("SSH-2.0-") else { throw TestFailure("no SSH banner: \(r.stdout)") }
    }

    func stop() {
        _ = try? harness(["stop", dir, String(port)])
    }
}

/// A syslog daemon's socket at /dev/log for the syslog route (this machine has none). Keeps what it
/// receives; removed at close if it was created here.
final class SyslogSink: @unchecked Sendable {
    private let fd: Int32
    private var created = false
    private var lines: [String] = []
    private let lock = NSLock()

    init() throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        if FileManager.default.fileExists(atPath: "/dev/log") {
            created = false  // a real syslog daemon is there: sshd logs to it
            return
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array("/dev/log".utf8) + [0]) }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw TestFailure("cannot bind /dev/log: errno \(errno)") }
        created = true
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { return }
                lock.lock()
                lines.append(String(decoding: buffer[0..<n], as: UTF8.self))
                lock.unlock()
            }
        }
        thread.start()
    }

    var received: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    func close() {
        if created { unlink("/dev/log") }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// `sshaudit record` running against a fresh database, stopped with SIGINT.
final class Recorder {
    let db: String
    let eventsFile: String
    private let process = Process()
    private let stderrPipe = Pipe()
    private var stderrText = ""
    private let lock = NSLock()

    /// - Parameters:
    ///   - fresh: false keeps the database of an earlier recorder with the same name (a restart).
    ///   - arguments: more options for `record`.
    ///   - directory: where the database (and by default the events log) go, if not a directory of
    ///     the recorder's own (that one is emptied when `fresh`).
    init(name: String, fresh: Bool = true, environment: [String: String] = [:], arguments: [String] = [],
         directory: String? = nil, eventsFile events: String? = nil) throws {
        try requireRoot()
        let dir = directory ?? "/run/sshaudit-test/\(name)-rec"
        if fresh, directory == nil { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        db = dir + "/audit.db"
        eventsFile = events ?? dir + "/events-\(UUID().uuidString.prefix(8)).bin"
        if fresh { removeKernelState() }
        process.executableURL = URL(fileURLWithPath: Paths.sshaudit)
        process.arguments = ["record", "--db", db, "--events", eventsFile] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.stderrText += String(decoding: data, as: UTF8.self)
            self.lock.unlock()
        }
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !stderr.contains("recording") {
            if !process.isRunning { throw TestFailure("sshaudit record exited early: \(stderr)") }
            if Date() > deadline { throw TestFailure("sshaudit record never said 'recording': \(stderr)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return stderrText
    }

    func send(_ signal: Int32) { Glibc.kill(process.processIdentifier, signal) }

    /// Sends `signal` and waits up to `timeout` for the exit: its status, or nil if still running.
    func signalAndWait(_ signal: Int32, timeout: TimeInterval) -> Int32? {
        Glibc.kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var pid: Int32 { process.processIdentifier }

    func waitForStderr(_ text: String, timeout: TimeInterval = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !stderr.contains(text) {
            if Date() > deadline { throw TestFailure("recorder never said '\(text)': \(stderr)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Where the recorder pins its kernel state (README: one directory per database, named by the
    /// FNV-1a hash of its path). A killed recorder leaves it; a clean stop removes it.
    var pinDirectory: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in db.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return "/sys/fs/bpf/sshaudit/db-" + String(hash, radix: 16)
    }

    /// Removes the pinned kernel state (as a reboot would): its programs detach.
    func removeKernelState() {
        let dir = pinDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] { unlink(dir + "/" + name) }
        rmdir(dir)
    }

    /// SIGKILL: the recorder dies wherever it is.
    func kill() {
        let pid = process.processIdentifier
        Glibc.kill(pid, SIGKILL)
        // Dead once gone or a zombie (Foundation reaps it on its own schedule) whose other threads are
        // gone too: the leader turns zombie first, and the descriptors (the database lock) are
        // released only when the last thread exits.
        for _ in 0..<200 {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count ?? 0
            if stat.isEmpty || (stat.contains(") Z ") && threads <= 1) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    /// SIGINT (or `signal`), then wait for the flush; returns the exit status.
    func stop(signal: Int32 = SIGINT) throws -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        // Let the last exits reach the ring buffer before asking to stop.
        Thread.sleep(forTimeInterval: 0.5)
        Glibc.kill(process.processIdentifier, signal)
        try awaitExit(process, timeout: 30, what: "sshaudit record did not stop on signal \(signal): \(stderr)")
        stderrPipe.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    /// `sshaudit query KIND --format json`, parsed.
    func query(_ kind: String, _ extra: [String] = []) throws -> [[String: Any]] {
        let result = try runProcess(Paths.sshaudit, ["query", kind, "--db", db, "--format", "json"] + extra)
        guard result.status == 0 else { throw TestFailure("query \(kind) failed: \(result.stderr)") }
        guard let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] else {
            throw TestFailure("query \(kind) did not print a JSON array: \(result.stdout)")
        }
        return rows
    }
}

extension Recorder {
    /// The facts of a session's connection (session_events, from `show --format json`), each as
    /// "KIND DETAIL" ("nil" when there is no detail), in order.
    func events(session id: Int?) throws -> [String] {
        guard let id else { throw TestFailure("no session id") }
        let result = try runProcess(Paths.sshaudit, ["show", String(id), "--db", db, "--format", "json"])
        guard result.status == 0,
              let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("show \(id) failed: \(result.stderr)")
        }
        return (object["events"] as? [[String: Any]] ?? []).map { "\($0["kind"] as? String ?? "nil") \($0["detail"] as? String ?? "nil")" }
    }
}

/// The remote port as sshd saw it, from `$SSH_CLIENT` ("ADDR PORT LOCALPORT") printed in the session.
func clientPort(fromSSHClientLine line: String) -> Int? {
    let parts = line.split(separator: " ")
    return parts.count == 3 ? Int(parts[1]) : nil
}

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { self[key] as? Int }
    func string(_ key: String) -> String? { self[key] as? String }
    var argv: [String] { self["argv"] as? [String] ?? [] }
}

/// A long-lived `ssh -tt` whose input is typed line by line and whose output is watched.
final class InteractiveSSH: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var text = ""
    private let lock = NSLock()

    init(server: SSHDServer, user: String) throws {
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Paths.harness, "ssh", server.dir, String(server.port), user, "-tt"]
        if let root = server.root {
            process.environment = ProcessInfo.processInfo.environment.merging(["SSHD_HARNESS_ROOT": root]) { _, new in new }
        }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.text += String(decoding: data, as: UTF8.self)
            self.lock.unlock()
        }
        try process.run()
    }

    var transcript: String {
        lock.lock()
        defer { lock.unlock() }
        return text
    }

    func type(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Waits until the output matches, returning the first capture of `pattern`.
    @discardableResult
    func waitFor(_ pattern: String, timeout: TimeInterval = 20) throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            // NSString ranges: a match may end inside "\r\n", which is one Character in a String.
            let t = transcript as NSString
            if let m = regex.firstMatch(in: t as String, range: NSRange(location: 0, length: t.length)) {
                return t.substring(with: m.numberOfRanges > 1 ? m.range(at: 1) : m.range)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestFailure("timed out waiting for /\(pattern)/ in: \(transcript)")
    }

    func waitForExit(timeout: TimeInterval = 20) throws -> Int32 {
        try awaitExit(process, timeout: timeout, what: "ssh -tt did not exit: \(transcript)")
        output.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }
}

/// Polls until `process` exits; past `timeout` it is terminated and the test fails with `what`.
func awaitExit(_ process: Process, timeout: TimeInterval, what: @autoclosure () -> String) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline {
            process.terminate()
            throw TestFailure(what())
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
}

/// A test's helper program compiled by root into /run/sshaudit-test/NAME-PID, a directory every user
/// may read (the session's user runs it; it is no one's secret). Returns the program's path. The
/// directory is this test process's own: tests of one class run at once (`make test` runs them in
/// parallel, a process each), and one test's build must not remove a binary another is running.
func compileTestProgram(_ source: String, name: String, program: String) throws -> String {
    let root = "/run/sshaudit-test", dir = "\(root)/\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: dir)
    // Those of test processes that are gone.
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where entry.hasPrefix(name + "-") {
        if let pid = Int32(entry.dropFirst(name.count + 1)), kill(pid, 0) != 0, errno == ESRCH {
            try? FileManager.default.removeItem(atPath: "\(root)/\(entry)")
        }
    }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    chmod(dir, 0o755)
    try source.write(toFile: dir + "/\(program).c", atomically: true, encoding: .utf8)
    let cc = try runProcess("/usr/bin/cc", ["-O1", "-o", dir + "/" + program, dir + "/\(program).c"])
    guard cc.status == 0 else { throw TestFailure("cc: \(cc.stderr)") }
    chmod(dir + "/" + program, 0o755)
    return dir + "/" + program
}

/// A local user's own program: a fresh /run/sshaudit-test/NAME owned by nobody, with `source`
/// compiled there by nobody as NAME/sshd. Returns the directory.
func compileAsNobody(_ source: String, name: String) throws -> String {
    try requireRoot()
    let dir = "/run/sshaudit-test/\(name)"
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    guard chown(dir, 65534, 65534) == 0 else { throw TestFailure("chown \(dir): errno \(errno)") }
    try source.write(toFile: dir + "/impostor.c", atomically: true, encoding: .utf8)
    chmod(dir + "/impostor.c", 0o644)
    let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env", "--"]
    let cc = try runProcess(asNobody[0], Array(asNobody.dropFirst()) + ["/usr/bin/cc", "-o", dir + "/sshd", dir + "/impostor.c"])
    guard cc.status == 0 else { throw TestFailure("cc: \(cc.stderr)") }
    return dir
}

/// A value a test's worker threads share (each client's result, a pipe's output), behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    func mutate(_ change: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&stored)
    }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

extension Locked where Value == Data {
    /// What a pipe's handler has appended so far, as text.
    var text: String { String(decoding: value, as: UTF8.self) }
}

/// A test with its own sshd and recorder, both stopped after it.
class RecordedSSHDTestCase: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder!

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }
}

extension SSHDServer {
    /// The options of a client the test runs itself (sftp, rsync's ssh) as sa_alice, with a copy of
    /// her key named `name` (ssh wants it 0600).
    func clientOptions(key name: String) throws -> [String] {
        let key = dir + "/" + name
        if !FileManager.default.fileExists(atPath: key) {
            try FileManager.default.copyItem(atPath: dir + "/id_alice", toPath: key)
            chmod(key, 0o600)
        }
        return ["-i", key, "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    }

    /// `sftp -b -` as sa_alice running `batch`.
    func sftp(key name: String, _ batch: String) throws -> ProcessResult {
        try runProcess("/usr/bin/sftp", ["-b", "-", "-P", String(port)] + clientOptions(key: name) + ["sa_alice@127.0.0.1"],
                       input: batch)
    }
}

/// The rows of a table printed one field a line (formatRecords): per "-[ N ]" line, each field's
/// label and value, its continuation lines (blank up to the value) joined back.
func recordFields(_ text: String) -> [[String: String]] {
    var records: [[String: String]] = [], label: String?, column = 0
    for line in text.split(separator: "\n").map(String.init) {
        if line.hasPrefix("-[ ") {
            records.append([:])
            label = nil
        } else if line.first == " ", let label, !records.isEmpty {
            records[records.count - 1][label, default: ""] += line.dropFirst(column)
        } else if !records.isEmpty {
            let name = String(line.prefix { $0 != " " })
            let value = String(line.dropFirst(name.count).drop { $0 == " " })
            records[records.count - 1][name] = value
            (label, column) = (name, line.count - value.count)
        }
    }
    return records
}

/// Every cell of a printed table's (or `show`'s tables') column `column`, each with its continuation
/// lines (blank up to the column) joined back: what a reader sees, as one text per row.
func tableCells(_ text: String, column: String) -> [String] {
    var cells: [String] = [], offset: Int?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
        if let range = line.range(of: "  " + column), line.hasSuffix(column) {
            offset = line.distance(from: line.startIndex, to: range.lowerBound) + 2
        } else if let at = offset, line.count > at {
            if line.prefix(at).allSatisfy({ $0 == " " }), !cells.isEmpty {
                cells[cells.count - 1] += line.dropFirst(at)
            } else {
                cells.append(String(line.dropFirst(at)))
            }
        } else {
            offset = nil  // the table ended
        }
    }
    return cells
}

/// Polls `condition` (a throw counts as not yet) every 0.05 s until it holds, or fails after `timeout`
/// seconds naming `what`.
func waitUntil(_ what: String, timeout: TimeInterval = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while (try? condition()) != true {
        guard Date() < deadline else { throw TestFailure("timed out waiting until \(what)") }
        Thread.sleep(forTimeInterval: 0.05)
    }
}
