import Foundation

/// Builds SSH sessions and their commands from the ordered event stream of sshd's process tree.
///
/// The model (DESIGN.md §1): a listener accepts a connection and forks the per-connection monitor
/// (one session). The monitor's children are told apart by what they do:
/// - chroot → the pre-authentication child (sshd's own, never user commands);
/// - setresuid to one uid for all three ids, without chroot or exec → the post-auth user child: the
///   session is authenticated as that uid, and everything it starts is the user's;
/// - setsid without exec first → the session's shell (also how root logins on OpenSSH ≤ 9.7 show,
///   where the monitor itself becomes the session);
/// - exec without any of the above → a helper (PAM's motd scripts, unix_chkpwd, sshd-auth): not user
///   commands.
/// Each exec by a user process is one command; a process that execs again ends its previous command.
///
/// Deterministic and pure: the same events give the same records, so recorded streams replay in tests.
public final class Correlator {
    public enum Role: String, Equatable, Sendable, Codable {
        case listener
        case monitor
        /// A child of the monitor not yet told apart.
        case monitorChild
        case preauth
        case helper
        /// sshd's post-authentication child, running as the user.
        case userChild
        /// The user's shell and everything below it.
        case user
        /// Seen without its history (started before the recorder, or not an SSH process).
        case unknown
    }

    /// Tens of thousands of these can be held at once (one per live process of every open session),
    /// so the storage is packed: ids use 0 for none (ids start at 1), the pending uid uses UInt32.max
    /// (never a real uid: setresuid takes -1 as "unchanged"), and the flags share a byte. 72 bytes
    /// instead of 104 with optionals. The coded form (checkpoints) is that of the plain fields.
    struct Proc: Codable {
        var path: String?
        var cwd: String?
        private var sessionID: Int64 = 0
        private var commandID: Int64 = 0
        private var ancestorCommandID: Int64 = 0
        private var pendingAtNs: Int64 = 0
        private var pendingUIDValue = UInt32.max
        var role: Role
        private var flags: UInt8 = 0

        var session: Int64? {
            get { sessionID == 0 ? nil : sessionID }
            set { sessionID = newValue ?? 0 }
        }
        var command: Int64? {
            get { commandID == 0 ? nil : commandID }
            set { commandID = newValue ?? 0 }
        }
        /// The current command of the nearest ancestor at fork time: the parent in the command tree.
        var ancestorCommand: Int64? {
            get { ancestorCommandID == 0 ? nil : ancestorCommandID }
            set { ancestorCommandID = newValue ?? 0 }
        }
        /// A monitor child that set all three uids: the user child if it goes on to fork, setsid or
        /// exit without exec — PAM's unix_chkpwd (OpenSSH 10.x) also sets them, then execs.
        var pendingUID: PendingUID? {
            get { pendingUIDValue == .max ? nil : PendingUID(atNs: pendingAtNs, uid: pendingUIDValue) }
            set {
                pendingAtNs = newValue?.atNs ?? 0
                pendingUIDValue = newValue?.uid ?? .max
            }
        }
        var execed: Bool {
            get { flags & 1 != 0 }
            set { flags = newValue ? flags | 1 : flags & ~1 }
        }
        var chrooted: Bool {
            get { flags & 2 != 0 }
            set { flags = newValue ? flags | 2 : flags & ~2 }
        }
        /// Its history is lost (first seen mid-life, or a descendant of such a process): whatever it
        /// does belongs to no known session.
        var orphan: Bool {
            get { flags & 4 != 0 }
            set { flags = newValue ? flags | 4 : flags & ~4 }
        }

        init(role: Role, session: Int64? = nil, ancestorCommand: Int64? = nil, path: String? = nil, orphan: Bool = false) {
            self.role = role
            self.path = path
            self.session = session
            self.ancestorCommand = ancestorCommand
            self.orphan = orphan
        }

        private enum CodingKeys: String, CodingKey {
            case path, cwd, session, command, ancestorCommand, pendingUID, role, execed, chrooted, orphan
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(Role.self, forKey: .role)
            path = try c.decodeIfPresent(String.self, forKey: .path)
            cwd = try c.decodeIfPresent(String.self, forKey: .cwd)
            session = try c.decodeIfPresent(Int64.self, forKey: .session)
            command = try c.decodeIfPresent(Int64.self, forKey: .command)
            ancestorCommand = try c.decodeIfPresent(Int64.self, forKey: .ancestorCommand)
            pendingUID = try c.decodeIfPresent(PendingUID.self, forKey: .pendingUID)
            execed = try c.decode(Bool.self, forKey: .execed)
            chrooted = try c.decode(Bool.self, forKey: .chrooted)
            orphan = try c.decode(Bool.self, forKey: .orphan)
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encodeIfPresent(path, forKey: .path)
            try c.encodeIfPresent(cwd, forKey: .cwd)
            try c.encodeIfPresent(session, forKey: .session)
            try c.encodeIfPresent(command, forKey: .command)
            try c.encodeIfPresent(ancestorCommand, forKey: .ancestorCommand)
            try c.encodeIfPresent(pendingUID, forKey: .pendingUID)
            try c.encode(execed, forKey: .execed)
            try c.encode(chrooted, forKey: .chrooted)
            try c.encode(orphan, forKey: .orphan)
        }
    }

    struct PendingUID: Codable {
        var atNs: Int64
        var uid: UInt32
    }

    /// A listener's accepted connection, until its fork shows which monitor serves it.
    struct PendingAccept: Codable {
        var local: Endpoint
        var remote: Endpoint
        var socket: UInt64
    }

    struct FileKey: Hashable, Codable {
        var tgid: UInt32
        var fd: Int32
    }

    /// A class, not a struct: thousands can be open, and a dictionary of references grows without
    /// copying or reserving room for these large values.
    final class OpenSession: Codable {
        var record: SessionRecord
        var shell: ProcessKey?
        var liveProcesses = 0
        var monitorExited = false
        /// Authentication rows so far, and whether sshd logged the accepted one.
        var authRows = 0
        var acceptLogged = false
        var disconnectLogged = false
        /// The accepted TCP connection, until the kernel reports its byte counters.
        var socket: UInt64?
        /// Transfer servers seen among the session's commands (for its kind).
        var transfer: String?

        init(record: SessionRecord) { self.record = record }
    }

    /// A session's kind from what was observed, the most specific first.
    static func kind(of open: OpenSession) -> String {
        let r = open.record
        if r.authenticatedAtNs == nil { return r.endedAtNs == nil ? "pending" : "auth-failed" }
        if let transfer = open.transfer { return transfer }
        if r.tty != nil { return "interactive" }
        if r.commandCount > 0 { return "exec" }
        return "forward-only"
    }

    /// Kernel-side losses happened now: every open session may miss something.
    public func noteLoss() {
        for id in sessions.keys { updateSession(id) { $0.drops = true } }
    }

    /// Events the kernel reported for sshd's process tree that no session could claim.
    public private(set) var unattributedEvents: UInt64 = 0

    /// The kernel follows only sshd's tree, so an event of a process the correlator never saw forked
    /// (nor found at start-up), or of its descendants, means history was lost: the event may belong
    /// to any open session.
    private func noteUnattributed() {
        unattributedEvents += 1
        // Once every open session carries the flag, more orphan events change nothing until one opens.
        guard !openSessionsFlagged else { return }
        for id in sessions.keys { updateSession(id) { $0.unattributedEvents = true } }
        openSessionsFlagged = true
    }

    /// Whether every open session is flagged `unattributedEvents` already.
    private var openSessionsFlagged = false

    private var bootToWallNs: Int64
    private let userName: (UInt32) -> String?
    private let binaryVersion: (UInt32, String) -> String?
    private let sink: (CorrelatorOutput) -> Void
    private var nextIDs: RowIDs
    private var procs: [ProcessKey: Proc] = [:]
    private var sessions: [Int64: OpenSession] = [:]
    private var openCommands: [Int64: CommandRecord] = [:]
    private var pendingAccept: [ProcessKey: PendingAccept] = [:]
    private var sessionBySocket: [UInt64: Int64] = [:]
    /// Sessions whose processes are all gone but whose connection has not reported its bytes yet.
    private var awaitingBytes: [UInt64: SessionRecord] = [:]
    private var openTransfers: [FileKey: TransferRecord] = [:]
    private var userNames: [UInt32: String?] = [:]
    /// Processes found by the start-up scan, adopted by pid at their first event (/proc gives no
    /// start time at kernel precision).
    private var seeded: [UInt32: Proc] = [:]

    /// - Parameters:
    ///   - bootToWallNs: add to a CLOCK_BOOTTIME timestamp to get Unix-epoch nanoseconds.
    ///   - firstIDs: ids continue those already in the database.
    ///   - userName: resolves a uid to a login name at the time of the session.
    ///   - binaryVersion: the OpenSSH release of a running sshd (pid, path), if it can be read.
    ///   - sink: receives every new or changed row, in order.
    public init(bootToWallNs: Int64, firstIDs: RowIDs = RowIDs(),
                userName: @escaping (UInt32) -> String?,
                binaryVersion: @escaping (UInt32, String) -> String? = { _, _ in nil },
                sink: @escaping (CorrelatorOutput) -> Void) {
        self.bootToWallNs = bootToWallNs
        self.nextIDs = firstIDs
        self.userName = userName
        self.binaryVersion = binaryVersion
        self.sink = sink
    }

    public var openSessionCount: Int { sessions.count }
    public var trackedProcesses: [ProcessKey] { Array(procs.keys) }

    public func role(of key: ProcessKey) -> Role? { procs[key]?.role }

    /// The rows of everything still open (sessions, then their running commands and open transfers),
    /// for a new database file to start from.
    public func openRows() -> [CorrelatorOutput] {
        sessions.values.sorted { $0.record.id < $1.record.id }.map { .session($0.record) }
            + openCommands.values.sorted { $0.id < $1.id }.map { .command($0) }
            + openTransfers.values.sorted { $0.id < $1.id }.map { .transfer($0) }
    }

    /// Declares a listener found before recording started (the /proc scan).
    public func seedListener(pid: UInt32, path: String?) {
        seeded[pid] = Proc(role: .listener, path: path)
    }

    /// Rebuilds a session that was open before recording started: its row (marked recovered) and a
    /// command for each of the user's processes running now, with argv as /proc shows it.
    ///
    /// With `resuming`, the session is one the database already has (this recorder's previous run
    /// saw it and stopped): it keeps its row and id, and still-running commands keep theirs.
    public func seedSession(_ seed: SessionSeed, resuming: (session: SessionRecord, openCommands: [CommandRecord])? = nil) {
        var record: SessionRecord
        var reusable: [UInt32: CommandRecord] = [:]
        if let resuming {
            record = resuming.session
            for c in resuming.openCommands { reusable[c.pid] = c }
            // What happened while nobody watched, as /proc shows it now.
            if record.authenticatedAtNs == nil, let uid = seed.uid {
                record.uid = uid
                record.user = resolve(uid)
                record.authenticatedAtNs = seed.authenticatedAtNs
            }
            if record.remote == nil { record.remote = seed.remote?.endpoint }
            if record.local == nil { record.local = seed.local?.endpoint }
        } else {
            record = SessionRecord(id: nextIDs.session, sshdPid: seed.monitor.pid, sshdStartNs: 0,
                                   startedAtNs: seed.monitor.startedAtNs)
            nextIDs.session += 1
            record.listenerPid = seed.listenerPid
            record.sshdPath = seed.monitor.exe
            record.sshdVersion = seed.monitor.exe.flatMap { binaryVersion(seed.monitor.pid, $0) }
            record.local = seed.local?.endpoint
            record.remote = seed.remote?.endpoint
            record.uid = seed.uid
            record.user = seed.uid.flatMap(resolve)
            record.authenticatedAtNs = seed.authenticatedAtNs
            record.recovered = true
        }
        let id = record.id
        let open = OpenSession(record: record)
        open.liveProcesses = 1 + seed.processes.count
        open.acceptLogged = seed.authenticatedAtNs != nil  // the attempt happened before: nothing to add
        seeded[seed.monitor.pid] = Proc(role: .monitor, session: id, path: seed.monitor.exe)

        var commandOf: [UInt32: Int64] = [:]
        var outputs: [CommandRecord] = []
        for p in seed.processes {
            let role: Role
            switch p.role {
            case .listener, .monitor: role = .unknown
            case .preauth: role = .preauth
            case .helper: role = .helper
            case .userChild: role = .userChild
            case .user: role = .user
            }
            var proc = Proc(role: role, session: id, ancestorCommand: commandOf[p.ppid], path: p.exe)
            proc.execed = true
            if role == .user, let known = reusable[p.pid] {
                // Seen by the previous run and still running: the same command continues.
                openCommands[known.id] = known
                proc.command = known.id
                commandOf[p.pid] = known.id
                if open.shell == nil { open.shell = ProcessKey(tgid: p.pid, startNs: 0) }
            } else if role == .user {
                let cid = nextIDs.command
                nextIDs.command += 1
                var command = CommandRecord(
                    id: cid, sessionID: id, parentID: proc.ancestorCommand, pid: p.pid, ppid: p.ppid, uid: p.uid,
                    filename: p.exe ?? p.argv.first ?? "", argv: p.argv, argvTruncated: false, startedAtNs: p.startedAtNs)
                command.recovered = true
                openCommands[cid] = command
                proc.command = cid
                commandOf[p.pid] = cid
                outputs.append(command)
                record.commandCount += 1
                if open.shell == nil { open.shell = ProcessKey(tgid: p.pid, startNs: 0) }
            } else if let inherited = commandOf[p.ppid] {
                commandOf[p.pid] = inherited
            }
            seeded[p.pid] = proc
        }
        open.record = record
        open.record.kind = Self.kind(of: open)
        record = open.record
        sessions[id] = open
        openSessionsFlagged = false
        sink(.session(record))
        for command in outputs { sink(.command(command)) }
    }

    /// The process's state, adopting a seeded process on its first event.
    private func lookup(_ key: ProcessKey) -> Proc? {
        if let proc = procs[key] { return proc }
        guard let proc = seeded.removeValue(forKey: key.tgid) else { return nil }
        procs[key] = proc
        if let id = proc.session, sessions[id]?.shell?.tgid == key.tgid { sessions[id]?.shell = key }
        return proc
    }

    /// Decodes one kernel record (bpf/events.h) and handles it. Returns false for a record that does
    /// not decode: callers count those, and nothing is guessed from it.
    @discardableResult
    public func handle(record: UnsafeRawBufferPointer) -> Bool {
        guard let event = try? EventDecoder.decode(record) else { return false }
        handle(event)
        return true
    }

    public func handle(_ event: Event) {
        let key = event.process
        let wallNs = Int64(bitPattern: event.timestampNs) &+ bootToWallNs
        if let known = lookup(key) {
            if known.orphan { noteUnattributed() }
        } else if Self.needsHistory(event.kind) {
            procs[key] = Proc(role: .unknown, orphan: true)
            noteUnattributed()
        }
        switch event.kind {
        case let .fork(child):
            handleFork(parentKey: key, child: child, ppid: event.ppid, wallNs: wallNs)
        case let .exec(info):
            handleExec(key, event: event, info: info, wallNs: wallNs)
        case let .exit(status):
            handleExit(key, status: status, wallNs: wallNs)
        case let .accept(local, remote, socket):
            // An sshd process outside any session that accepts a connection is a listener (started
            // before the recorder, or just exec'd).
            if (lookup(key)?.role ?? .unknown) == .unknown, event.comm.hasPrefix("sshd") {
                procs[key, default: Proc(role: .listener)].role = .listener
            }
            if procs[key]?.role == .listener {
                pendingAccept[key] = PendingAccept(local: local, remote: remote, socket: socket)
            }
        case let .cred(ruid, euid, suid):
            handleCred(key, ruid: ruid, euid: euid, suid: suid, wallNs: wallNs)
        case .chroot:
            if let role = lookup(key)?.role, role == .monitorChild || role == .helper {
                procs[key]?.role = .preauth
                procs[key]?.chrooted = true
            }
        case .setsid:
            handleSetsid(key, uid: event.uid, wallNs: wallNs)
        case let .log(_, text):
            handleLog(key, text: text, wallNs: wallNs)
        case let .connectionClosed(socket, bytesIn, bytesOut):
            handleConnectionClosed(socket: socket, bytesIn: Int64(bytesIn), bytesOut: Int64(bytesOut))
        case let .fileOpened(fd, flags, path):
            handleFileOpened(key, fd: fd, flags: flags, path: path, wallNs: wallNs)
        case let .fileClosed(fd, position, _):
            guard var transfer = openTransfers.removeValue(forKey: FileKey(tgid: key.tgid, fd: fd)) else { return }
            transfer.closedAtNs = wallNs
            // Transfers read or write sequentially: the offset at close is how far they got.
            if transfer.mode == .read { transfer.bytesRead = Int64(position) } else { transfer.bytesWritten = Int64(position) }
            sink(.transfer(transfer))
        case let .socket(call):
            handleSocket(key, call: call, wallNs: wallNs)
        }
    }

    /// Whether an event can only come from a process whose fork (or start-up scan) was seen. A new
    /// sshd (exec of a new root), an accept (a listener the scan may not have recognised yet) and a
    /// connection's close (sessions from before the recorder) stand on their own.
    private static func needsHistory(_ kind: EventKind) -> Bool {
        switch kind {
        case let .exec(info): return !info.newRoot
        case .accept, .connectionClosed: return false
        case .fork, .exit, .cred, .chroot, .setsid, .log, .fileOpened, .fileClosed, .socket: return true
        }
    }

    // MARK: - Events

    private func handleFork(parentKey: ProcessKey, child: ProcessKey, ppid: UInt32, wallNs: Int64) {
        if procs[parentKey] == nil { procs[parentKey] = lookup(parentKey) ?? Proc(role: .unknown) }
        confirmUserChild(parentKey)
        let parent = procs[parentKey]!
        var proc = Proc(role: .unknown, session: parent.session,
                        ancestorCommand: parent.command ?? parent.ancestorCommand, path: parent.path)
        proc.orphan = parent.orphan
        switch parent.role {
        case .listener:
            proc.role = .monitor
            proc.session = startSession(monitor: child, listener: parentKey, path: parent.path, wallNs: wallNs)
        case .monitor:
            proc.role = .monitorChild
        case .userChild, .user:
            proc.role = .user
        case .monitorChild, .helper, .preauth, .unknown:
            proc.role = parent.role
        }
        procs[child] = proc
        if let id = proc.session { sessions[id]?.liveProcesses += 1 }
    }

    private func startSession(monitor: ProcessKey, listener: ProcessKey, path: String?, wallNs: Int64) -> Int64 {
        let id = nextIDs.session
        nextIDs.session += 1
        var record = SessionRecord(id: id, sshdPid: monitor.tgid, sshdStartNs: monitor.startNs, startedAtNs: wallNs)
        record.listenerPid = listener.tgid
        record.sshdPath = path
        record.sshdVersion = path.flatMap { binaryVersion(listener.tgid, $0) }
        // sshd accepts and forks in one step of its loop: the last accept is this connection's.
        let open = OpenSession(record: record)
        if let conn = pendingAccept.removeValue(forKey: listener) {
            open.record.local = conn.local
            open.record.remote = conn.remote
            open.socket = conn.socket
            sessionBySocket[conn.socket] = id
        }
        open.record.kind = Self.kind(of: open)
        record = open.record
        sessions[id] = open
        openSessionsFlagged = false
        sink(.session(record))
        return id
    }

    private func handleExec(_ key: ProcessKey, event: Event, info: ExecInfo, wallNs: Int64) {
        // A newly started sshd is a listener only once it accepts: `sshd -t` or `sshd -V` never do.
        var proc = lookup(key) ?? Proc(role: .unknown)
        proc.path = info.filename
        proc.cwd = info.cwd
        switch proc.role {
        case .user:
            closeCommand(of: &proc, wallNs: wallNs, status: nil)
            if let sessionID = proc.session {
                let id = nextIDs.command
                nextIDs.command += 1
                var record = CommandRecord(
                    id: id, sessionID: sessionID, parentID: proc.ancestorCommand, pid: key.tgid,
                    ppid: event.ppid, uid: event.uid, filename: info.filename, argv: info.argv,
                    argvTruncated: info.argvTruncated, startedAtNs: wallNs)
                record.cwd = info.cwd
                openCommands[id] = record
                proc.command = id
                sink(.command(record))
                let name = baseName(info.filename)
                if sessions[sessionID]?.transfer == nil {
                    if name == "sftp-server" { sessions[sessionID]?.transfer = "sftp" }
                    // scp -t/-f is the legacy protocol's server side; rsync --server is rsync over ssh.
                    else if name == "scp", info.argv.contains(where: { $0 == "-t" || $0 == "-f" }) { sessions[sessionID]?.transfer = "scp" }
                    else if name == "rsync", info.argv.contains("--server") { sessions[sessionID]?.transfer = "rsync" }
                }
                updateSession(sessionID) {
                    $0.commandCount += 1
                    if $0.tty == nil, let tty = info.tty { $0.tty = tty }
                    if info.argvTruncated { $0.truncatedArgv = true }
                }
            }
        case .monitorChild:
            proc.role = .helper
            proc.pendingUID = nil
        case .monitor:
            // The monitor re-execs itself (sshd -R, sshd-session): that binary serves the session.
            if let id = proc.session {
                let version = binaryVersion(key.tgid, info.filename)
                updateSession(id) {
                    $0.sshdPath = info.filename
                    if let version { $0.sshdVersion = version }
                }
            }
        default:
            break
        }
        proc.execed = true
        procs[key] = proc
    }

    private func handleCred(_ key: ProcessKey, ruid: UInt32, euid: UInt32, suid: UInt32, wallNs: Int64) {
        guard var proc = lookup(key), proc.role == .monitorChild, !proc.execed, !proc.chrooted,
              ruid == euid, euid == suid, proc.session != nil else { return }
        // The monitor's brief euid switches (reading authorized_keys) happen in the monitor itself
        // and never set all three ids. Which child this is shows by what it does next.
        proc.pendingUID = PendingUID(atNs: wallNs, uid: ruid)
        procs[key] = proc
    }

    /// The monitor child that set the user's uids did something only the post-auth child does.
    private func confirmUserChild(_ key: ProcessKey) {
        guard var proc = procs[key], proc.role == .monitorChild, let pending = proc.pendingUID,
              let sessionID = proc.session else { return }
        proc.role = .userChild
        proc.pendingUID = nil
        procs[key] = proc
        authenticate(sessionID, uid: pending.uid, wallNs: pending.atNs)
    }

    private func handleSetsid(_ key: ProcessKey, uid: UInt32, wallNs: Int64) {
        guard lookup(key) != nil else { return }
        confirmUserChild(key)
        guard var proc = procs[key], let sessionID = proc.session else { return }
        switch proc.role {
        case .monitorChild where !proc.execed && !proc.chrooted:
            // Root logins on OpenSSH ≤ 9.7: no user child, the monitor forks the shell directly.
            proc.role = .user
            authenticate(sessionID, uid: uid, wallNs: wallNs)
        case .user:
            break
        default:
            return
        }
        procs[key] = proc
        if sessions[sessionID]?.shell == nil { sessions[sessionID]?.shell = key }
    }

    private func authenticate(_ sessionID: Int64, uid: UInt32, wallNs: Int64) {
        guard let open = sessions[sessionID], open.record.authenticatedAtNs == nil else { return }
        let name = resolve(uid)
        updateSession(sessionID) {
            $0.uid = uid
            $0.user = name
            $0.authenticatedAtNs = wallNs
        }
        // sshd logged nothing usable (LogLevel QUIET, or the line came before the recorder): the
        // process tree still shows the success; the method stays unknown.
        if !open.acceptLogged {
            emitAuth(sessionID, atNs: wallNs, user: name, remote: open.record.remote, method: nil, result: .accepted)
        }
    }

    private func handleLog(_ key: ProcessKey, text: String, wallNs: Int64) {
        guard let proc = lookup(key), proc.role == .monitor, let sessionID = proc.session,
              let open = sessions[sessionID], let line = AuthLogParser.parse(text) else { return }
        switch line.result {
        case .disconnected:
            // One end per connection, and only for connections that never authenticated.
            guard open.record.authenticatedAtNs == nil, !open.acceptLogged, !open.disconnectLogged else { return }
            sessions[sessionID]?.disconnectLogged = true
        case .accepted:
            sessions[sessionID]?.acceptLogged = true
            updateSession(sessionID) {
                $0.authMethod = line.method
                $0.keyFingerprint = line.keyFingerprint
            }
        case .failed, .invalidUser:
            break
        }
        emitAuth(sessionID, atNs: wallNs, user: line.user, remote: line.remote ?? open.record.remote,
                 method: line.method, result: line.result, keyType: line.keyType, keyFingerprint: line.keyFingerprint)
    }

    private func emitAuth(_ sessionID: Int64, atNs: Int64, user: String?, remote: Endpoint?, method: String?,
                          result: AuthLine.Result, keyType: String? = nil, keyFingerprint: String? = nil) {
        let id = nextIDs.auth
        nextIDs.auth += 1
        sessions[sessionID]?.authRows += 1
        sink(.auth(AuthRecord(id: id, sessionID: sessionID, atNs: atNs, user: user, remote: remote, method: method,
                              result: result, keyType: keyType, keyFingerprint: keyFingerprint)))
    }

    private func handleExit(_ key: ProcessKey, status: UInt32, wallNs: Int64) {
        guard lookup(key) != nil else { return }
        confirmUserChild(key)  // internal-sftp: the user child serves the session itself, then exits
        guard var proc = procs.removeValue(forKey: key) else { return }
        pendingAccept.removeValue(forKey: key)
        closeCommand(of: &proc, wallNs: wallNs, status: status)
        guard let sessionID = proc.session, let open = sessions[sessionID] else { return }
        let before = open.record
        if open.shell == key {
            let ws = WaitStatus(status)
            open.record.exitCode = ws.code ?? (128 + (ws.signal ?? 0))  // as a shell reports a killed child
        }
        open.liveProcesses -= 1
        if proc.role == .monitor {
            open.monitorExited = true
            open.record.endedAtNs = wallNs
        }
        // Keep the session while any of its processes lives: a process left running after logout
        // still reports into it. Once none does, only the connection's byte counts can still come.
        let done = open.monitorExited && open.liveProcesses <= 0
        if done && open.socket == nil { open.record.closed = true }
        open.record.kind = Self.kind(of: open)
        sessions[sessionID] = open
        if open.record != before { sink(.session(open.record)) }
        if proc.role == .monitor, open.record.authenticatedAtNs == nil, open.authRows == 0 {
            // Nothing logged and never authenticated: the connection ended before any success.
            emitAuth(sessionID, atNs: wallNs, user: nil, remote: open.record.remote, method: nil, result: .disconnected)
        }
        if done {
            sessions.removeValue(forKey: sessionID)
            if let socket = open.socket { awaitingBytes[socket] = open.record }
        }
    }

    private func handleConnectionClosed(socket: UInt64, bytesIn: Int64, bytesOut: Int64) {
        guard let id = sessionBySocket.removeValue(forKey: socket) else { return }
        if sessions[id] != nil {
            sessions[id]?.socket = nil
            updateSession(id) {
                $0.bytesIn = bytesIn
                $0.bytesOut = bytesOut
            }
        } else if var record = awaitingBytes.removeValue(forKey: socket) {
            record.bytesIn = bytesIn
            record.bytesOut = bytesOut
            record.closed = true
            sink(.session(record))
        }
    }

    private func handleFileOpened(_ key: ProcessKey, fd: Int32, flags: UInt32, path: String, wallNs: Int64) {
        guard let proc = lookup(key), proc.role == .user, let sessionID = proc.session else { return }
        let name = proc.path.map(baseName) ?? ""
        let proto = name.hasPrefix("sftp-server") ? "sftp" : name.hasPrefix("rsync") ? "rsync" : "scp"
        let absolute = path.hasPrefix("/") ? path : ((proc.cwd ?? "/") as NSString).appendingPathComponent(path)
        let mode: TransferRecord.Mode
        switch flags & 3 {  // O_ACCMODE
        case 0: mode = .read
        case 1: mode = .write
        default: mode = .readwrite
        }
        let id = nextIDs.transfer
        nextIDs.transfer += 1
        let transfer = TransferRecord(id: id, sessionID: sessionID, commandID: proc.command, proto: proto,
                                      path: absolute, mode: mode, openedAtNs: wallNs)
        openTransfers[FileKey(tgid: key.tgid, fd: fd)] = transfer
        sink(.transfer(transfer))
    }

    /// sshd's post-auth child opens forwarded connections and listeners for the client: -L/-D
    /// connect, -R and agent forwarding bind.
    private func handleSocket(_ key: ProcessKey, call: SocketCall, wallNs: Int64) {
        guard lookup(key) != nil else { return }
        confirmUserChild(key)
        guard let proc = procs[key], proc.role == .userChild, let sessionID = proc.session else { return }
        let kind: SessionEventRecord.Kind
        switch (call.operation, call.endpoint, call.unixPath) {
        case (.connect, .some, _): kind = .localForward
        case (.bind, .some, _): kind = .remoteForward
        case (.bind, nil, .some): kind = .agentForward
        default: return
        }
        let id = nextIDs.event
        nextIDs.event += 1
        sink(.sessionEvent(SessionEventRecord(id: id, sessionID: sessionID, atNs: wallNs, kind: kind,
                                              targetHost: call.endpoint?.address, targetPort: call.endpoint?.port,
                                              detail: call.unixPath)))
    }

    private func closeCommand(of proc: inout Proc, wallNs: Int64, status: UInt32?) {
        guard let id = proc.command, var record = openCommands.removeValue(forKey: id) else { return }
        record.endedAtNs = wallNs
        if let status {
            let ws = WaitStatus(status)
            record.exitCode = ws.code
            record.signal = ws.signal
        }
        proc.command = nil
        sink(.command(record))
    }

    private func updateSession(_ id: Int64, _ change: (inout SessionRecord) -> Void) {
        guard let open = sessions[id] else { return }
        let before = open.record
        change(&open.record)
        open.record.kind = Self.kind(of: open)
        guard open.record != before else { return }
        sink(.session(open.record))
    }

    // MARK: - Checkpoints

    /// Everything the correlator knows, so that a restarted recorder goes on exactly where this one
    /// was: fed the same events from here, it emits the same rows with the same ids.
    struct State: Codable {
        var bootToWallNs: Int64
        var nextIDs: RowIDs
        var procs: [ProcessKey: Proc]
        var sessions: [Int64: OpenSession]
        var openCommands: [Int64: CommandRecord]
        var pendingAccept: [ProcessKey: PendingAccept]
        var sessionBySocket: [UInt64: Int64]
        var awaitingBytes: [UInt64: SessionRecord]
        var openTransfers: [FileKey: TransferRecord]
        var userNames: [UInt32: String?]
        var seeded: [UInt32: Proc]
        var unattributedEvents: UInt64
    }

    /// The state as bytes (JSON), for the recorder's checkpoint.
    public func checkpoint() throws -> Data {
        let state = State(bootToWallNs: bootToWallNs, nextIDs: nextIDs, procs: procs, sessions: sessions,
                          openCommands: openCommands, pendingAccept: pendingAccept, sessionBySocket: sessionBySocket,
                          awaitingBytes: awaitingBytes, openTransfers: openTransfers, userNames: userNames,
                          seeded: seeded, unattributedEvents: unattributedEvents)
        return try JSONEncoder().encode(state)
    }

    /// Replaces the state with a checkpoint's (same build of sshaudit: the layout is not versioned).
    public func restore(_ checkpoint: Data) throws {
        let state = try JSONDecoder().decode(State.self, from: checkpoint)
        bootToWallNs = state.bootToWallNs
        nextIDs = state.nextIDs
        procs = state.procs
        sessions = state.sessions
        openCommands = state.openCommands
        pendingAccept = state.pendingAccept
        sessionBySocket = state.sessionBySocket
        awaitingBytes = state.awaitingBytes
        openTransfers = state.openTransfers
        userNames = state.userNames
        seeded = state.seeded
        unattributedEvents = state.unattributedEvents
        openSessionsFlagged = false
    }

    private func resolve(_ uid: UInt32) -> String? {
        if let cached = userNames[uid] { return cached }
        let name = userName(uid)
        userNames[uid] = name
        return name
    }
}

/// The kernel's wait status: (exit code << 8) for a normal exit, the signal number (| 0x80 for a
/// core dump) for a killed process.
public struct WaitStatus: Equatable, Sendable {
    public let raw: UInt32
    public init(_ raw: UInt32) { self.raw = raw }
    public var signal: Int32? { raw & 0x7f == 0 ? nil : Int32(raw & 0x7f) }
    public var code: Int32? { raw & 0x7f == 0 ? Int32((raw >> 8) & 0xff) : nil }
}

/// The last component of a path ("/usr/bin/rsync" → "rsync"), on bytes: it runs for every exec.
func baseName(_ path: String) -> Substring {
    let utf8 = path.utf8
    var end = utf8.endIndex
    while end > utf8.startIndex, utf8[utf8.index(before: end)] == UInt8(ascii: "/") { end = utf8.index(before: end) }
    var start = end
    while start > utf8.startIndex, utf8[utf8.index(before: start)] != UInt8(ascii: "/") { start = utf8.index(before: start) }
    return path[start..<end]
}
