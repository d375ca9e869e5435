import Foundation

/// Builds SSH sessions and their commands from the ordered event stream of sshd's process tree.
///
/// The model (docs/ARCHITECTURE.md §3): a listener accepts a connection and forks the per-connection monitor
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
    public typealias Role = ProcessRole

    /// Tens of thousands of these can be held at once (one per live process of every open session),
    /// so the storage is packed: ids use 0 for none (ids start at 1), the pending uid uses UInt32.max
    /// (never a real uid: setresuid takes -1 as "unchanged"), and the flags share a byte. 72 bytes
    /// instead of 104 with optionals. The coded form (checkpoints) is that of the plain fields.
    struct Proc: Codable {
        /// Held only by a process that is or may become a listener (`holdsPath`): a session's sshd_path.
        var path: String?
        private var sessionID: Int64 = 0
        private var commandID: Int64 = 0
        private var ancestorCommandID: Int64 = 0
        private var channelID: Int64 = 0
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
        /// The session channel it belongs to (Channels.swift): set at its fork, from its parent or as a
        /// new channel's process, and never changed.
        var channel: Int64? {
            get { channelID == 0 ? nil : channelID }
            set { channelID = newValue ?? 0 }
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
        /// The transfer server it runs (or was forked from): what its file opens are.
        var transferServer: TransferServer? {
            get { flags & 8 != 0 ? .sftp : flags & 16 != 0 ? .rsync : nil }
            set { flags = (flags & ~24) | (newValue == .sftp ? 8 : newValue == .rsync ? 16 : 0) }
        }
        /// It opened a file for a transfer: its exit closes those the kernel saw no close of.
        var opensFiles: Bool {
            get { flags & 32 != 0 }
            set { flags = newValue ? flags | 32 : flags & ~32 }
        }
        /// A transfer server that only receives (rsync --server without --sender, scp -t): what it
        /// reads (basis files, its libraries' configuration) never goes to the client.
        var receiver: Bool {
            get { flags & 64 != 0 }
            set { flags = newValue ? flags | 64 : flags & ~64 }
        }
        /// Forked by its monitor while the session hooks were not attached (Event.hooksOffAtFork).
        var hooksOffAtFork: Bool {
            get { flags & 128 != 0 }
            set { flags = newValue ? flags | 128 : flags & ~128 }
        }

        init(role: Role, session: Int64? = nil, ancestorCommand: Int64? = nil, path: String? = nil, orphan: Bool = false) {
            self.role = role
            self.path = path
            self.session = session
            self.ancestorCommand = ancestorCommand
            self.orphan = orphan
        }

        private enum CodingKeys: String, CodingKey {
            case path, session, command, ancestorCommand, pendingUID, role, execed, chrooted, orphan, transfer, opensFiles, receiver
            case hooksOffAtFork
            case channel
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(Role.self, forKey: .role)
            path = try c.decodeIfPresent(String.self, forKey: .path)
            session = try c.decodeIfPresent(Int64.self, forKey: .session)
            command = try c.decodeIfPresent(Int64.self, forKey: .command)
            ancestorCommand = try c.decodeIfPresent(Int64.self, forKey: .ancestorCommand)
            pendingUID = try c.decodeIfPresent(PendingUID.self, forKey: .pendingUID)
            execed = try c.decode(Bool.self, forKey: .execed)
            chrooted = try c.decode(Bool.self, forKey: .chrooted)
            orphan = try c.decode(Bool.self, forKey: .orphan)
            transferServer = try c.decodeIfPresent(TransferServer.self, forKey: .transfer)
            opensFiles = try c.decodeIfPresent(Bool.self, forKey: .opensFiles) ?? false
            receiver = try c.decodeIfPresent(Bool.self, forKey: .receiver) ?? false
            hooksOffAtFork = try c.decodeIfPresent(Bool.self, forKey: .hooksOffAtFork) ?? false
            channel = try c.decodeIfPresent(Int64.self, forKey: .channel)
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encodeIfPresent(path, forKey: .path)
            try c.encodeIfPresent(session, forKey: .session)
            try c.encodeIfPresent(command, forKey: .command)
            try c.encodeIfPresent(ancestorCommand, forKey: .ancestorCommand)
            try c.encodeIfPresent(pendingUID, forKey: .pendingUID)
            try c.encode(execed, forKey: .execed)
            try c.encode(chrooted, forKey: .chrooted)
            try c.encode(orphan, forKey: .orphan)
            // Only when set: the coded form of other processes stays what it was.
            try c.encodeIfPresent(transferServer, forKey: .transfer)
            if opensFiles { try c.encode(true, forKey: .opensFiles) }
            if receiver { try c.encode(true, forKey: .receiver) }
            if hooksOffAtFork { try c.encode(true, forKey: .hooksOffAtFork) }
            try c.encodeIfPresent(channel, forKey: .channel)
        }
    }

    /// Transfer servers whose file opens the kernel reports (scp is the rest: sftp-server, scp, rsync).
    enum TransferServer: String, Codable {
        case sftp, rsync

        init?(running path: String) {
            let name = baseName(path)
            if name.hasPrefix("sftp-server") { self = .sftp } else if name.hasPrefix("rsync") { self = .rsync } else { return nil }
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
        /// When it was accepted (absent in checkpoints of older versions).
        var atNs: Int64?
        /// It was closed before any fork took it: its byte counters (in, out).
        var closedBytes: [Int64]?
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
        /// Whether sshd logged the accepted authentication.
        var acceptLogged = false
        /// How the unauthenticated connection ended was logged (closed, timed out, too many failures).
        var disconnectLogged = false
        /// Factors accepted so far ("Partial …"), as sshd logs each method, and the key of the last
        /// one that had a key. Optional: absent in checkpoints of older versions.
        var factors: [String]?
        var factorKey: AuthKey?
        /// The accepted TCP connection, until the kernel reports its byte counters.
        var socket: UInt64?
        /// Transfer servers seen among the session's commands (for its kind).
        var transfer: String?
        /// A per-connection sshd's session (sshd -i): its connection is the accept record the kernel
        /// sends right after the exec, for the socket on the monitor's standard input.
        var awaitsConnection: Bool?
        /// Channels started so far (their `seq`). Optional: absent in checkpoints of older versions.
        var channelCount: Int64?
        /// Where its sshd lives (read at the session's start), and the user sshd logged as accepted.
        var namespace: ListenerNamespace.Shared?
        var loggedUser: String?
        /// Its pre-authentication child has chrooted (to sshd's empty directory): a later chroot by a
        /// monitor child is the user child's (ChrootDirectory). Optional: absent in older checkpoints.
        var preauthChrooted: Bool?
        /// A process of it ran while the session hooks were detached (sessionHooksWereOff): what it did
        /// without an exec (an internal-sftp transfer) may have gone unseen. Optional: absent in older
        /// checkpoints.
        var hooksWereOff: Bool?

        init(record: SessionRecord) { self.record = record }
    }

    /// A session's kind from what was observed, the most specific first.
    static func kind(of open: OpenSession) -> String {
        let r = open.record
        if r.authenticatedAtNs == nil { return r.endedAtNs == nil && !r.endedUnobserved ? "pending" : "auth-failed" }
        if let transfer = open.transfer { return transfer }
        if r.tty != nil { return "interactive" }
        if r.commandCount > 0 { return "exec" }
        // Nothing seen, but the hooks that would show an internal-sftp transfer were off: no claim.
        if open.hooksWereOff == true { return "unknown" }
        return "forward-only"
    }

    /// Kernel-side losses happened now: every open session may miss something.
    public func noteLoss() {
        tty.noteLoss()
        for id in sessions.keys { updateSession(id) { $0.drops = true } }
    }

    /// Events the kernel reported for sshd's process tree that no session could claim.
    public internal(set) var unattributedEvents: UInt64 = 0

    /// Entries refused or given up at a bound (`CorrelatorBounds`): each a loss, its session flagged.
    public internal(set) var overflows: UInt64 = 0

    /// Processes found gone by `sweep` whose exit event never came.
    public internal(set) var unobservedExits: UInt64 = 0

    /// The kernel follows only sshd's tree, so an event of a process the correlator never saw forked
    /// (nor found at start-up), or of its descendants, means history was lost: the event may belong
    /// to any open session.
    func noteUnattributed() {
        unattributedEvents += 1
        // Once every open session carries the flag, more orphan events change nothing until one opens.
        guard !openSessionsFlagged else { return }
        for id in sessions.keys { updateSession(id) { $0.unattributedEvents = true } }
        openSessionsFlagged = true
    }

    /// The size of the last checkpoint: room for the next one is reserved at once.
    var lastCheckpointSize = 0

    /// Whether every open session is flagged `unattributedEvents` already.
    var openSessionsFlagged = false

    var bootToWallNs: Int64
    let bounds: CorrelatorBounds
    let userName: (UInt32) -> String?
    let binaryVersion: (UInt32, String) -> String?
    /// nil (replay): names come from `userName`, every sshd taken for the host's.
    let namespaces: NamespaceLookup?
    /// Each listener's namespace, read at its first fork and shared by its sessions (a cache: emptied
    /// when full; an entry goes when its listener ends).
    var listenerNamespaces: [ProcessKey: ListenerNamespace.Shared] = [:]
    let sink: (CorrelatorOutput) -> Void
    var nextIDs: RowIDs
    var procs: [ProcessKey: Proc] = [:]
    var sessions: [Int64: OpenSession] = [:]
    var openCommands: [Int64: CommandRecord] = [:]
    /// What the running commands hold (`CommandRecord.heldBytes`), against `bounds.commandBytes`.
    var commandBytes = 0
    var pendingAccept: [ProcessKey: PendingAccept] = [:]
    var sessionBySocket: [UInt64: Int64] = [:]
    /// Sessions whose processes are all gone but whose connection has not reported its bytes yet.
    /// Ended sessions whose connection's byte counts are still to come, by socket. The session itself,
    /// not a copy of its row: thousands can wait at once, and the row is by far its largest part.
    var awaitingBytes: [UInt64: OpenSession] = [:]
    var openTransfers: [FileKey: TransferRecord] = [:]
    /// rsync uploads closed under their temporary name, until the rename to the final one.
    var heldUploads: [HeldUpload: TransferRecord] = [:]
    /// Files closed by a process of sshd's own code that has not exec'd, by tgid (see `confirmInternalSFTP`).
    var unconfirmedSFTP: [UInt32: [TransferRecord]] = [:]
    /// Session channels whose process runs (Channels.swift).
    var channels = ChannelTable()
    /// File activity rows of running processes (FileActivity.swift).
    var files: FileActivityTable
    /// Network activity of the user's processes, aggregated until each process exits.
    let network: NetworkActivity
    var userNames: [UInt32: String?] = [:]
    /// Processes found by the start-up scan, adopted by pid at their first event (/proc gives no
    /// start time at kernel precision).
    var seeded: [UInt32: Proc] = [:]

    /// - Parameters:
    ///   - bootToWallNs: add to a CLOCK_BOOTTIME timestamp to get Unix-epoch nanoseconds.
    ///   - firstIDs: ids continue those already in the database.
    ///   - userName: resolves a uid to a login name at the time of the session.
    ///   - binaryVersion: the OpenSSH release of a running sshd (pid, path), if it can be read.
    ///   - namespaces: reads an sshd's root, cgroup and user namespace, and names from its passwd.
    ///   - bounds: how much state to hold at most.
    ///   - sink: receives every new or changed row, in order.
    public init(bootToWallNs: Int64, firstIDs: RowIDs = RowIDs(), bounds: CorrelatorBounds = CorrelatorBounds(),
                userName: @escaping (UInt32) -> String?,
                binaryVersion: @escaping (UInt32, String) -> String? = { _, _ in nil },
                namespaces: NamespaceLookup? = nil,
                sink: @escaping (CorrelatorOutput) -> Void) {
        self.namespaces = namespaces
        self.bootToWallNs = bootToWallNs
        self.bounds = bounds
        self.nextIDs = firstIDs
        self.files = FileActivityTable(nextID: firstIDs.file)
        self.network = NetworkActivity(bound: bounds.networkRows)
        self.userName = userName
        self.binaryVersion = binaryVersion
        self.sink = sink
        self.tty = TTYRecorder(firstID: 1) { sink(.ttyChunk($0)) }
    }

    /// Terminal recording (record --tty): chunks of the open sessions' recordings.
    public let tty: TTYRecorder

    public var openSessionCount: Int { sessions.count }
    /// Whether a session is open or a session's process still runs (a program left behind when its
    /// session closed is still that session's).
    public var hasSessionProcesses: Bool { !sessions.isEmpty || procs.values.contains { $0.session != nil } }
    public var trackedProcesses: [ProcessKey] { Array(procs.keys) }
    /// Every process followed, those found at start-up and not seen since with start time 0 (for `sweep`).
    public var followedProcesses: [ProcessKey] {
        Array(procs.keys) + seeded.keys.map { ProcessKey(tgid: $0, startNs: 0) }
    }

    /// How many entries each table holds now (for tests and the bounds' documentation).
    public var tableSizes: [String: Int] {
        ["procs": procs.count, "seeded": seeded.count, "sessions": sessions.count, "openCommands": openCommands.count,
         "commandBytes": commandBytes, "pendingAccept": pendingAccept.count, "sessionBySocket": sessionBySocket.count,
         "awaitingBytes": awaitingBytes.count, "openTransfers": openTransfers.count, "userNames": userNames.count,
         "pathHolders": pathHolders, "fileActivity": files.count, "heldUploads": heldUploads.count,
         "unconfirmedSFTP": unconfirmedSFTP.values.reduce(0) { $0 + $1.count }, "networkRows": network.count,
         "channels": channels.count]
    }

    public func role(of key: ProcessKey) -> Role? { procs[key]?.role }

    /// The rows of everything still open (sessions, then their running commands and open transfers),
    /// for a new database file to start from.
    public func openRows() -> [CorrelatorOutput] {
        countedOnly.removeAll()  // the rows below carry the counts
        return sessions.values.sorted { $0.record.id < $1.record.id }.map { .session($0.record) }
            + openCommands.values.sorted { $0.id < $1.id }.map { .command($0) }
            + openTransfers.values.sorted { $0.id < $1.id }.map { .transfer($0) }
            + heldUploads.values.sorted { $0.id < $1.id }.map { var t = $0; t.closedAtNs = nil; return .transfer(t) }
            + files.openRows.map { .fileActivity($0) }
            + network.openRows.map { .network($0) }
            + channels.openRows.map { .channel($0) }
    }

    /// The process's state, adopting a seeded process on its first event.
    func lookup(_ key: ProcessKey) -> Proc? {
        if let proc = procs[key] { return proc }
        guard let proc = seeded.removeValue(forKey: key.tgid) else { return nil }
        procs[key] = proc
        if let id = proc.session, sessions[id]?.shell?.tgid == key.tgid { sessions[id]?.shell = key }
        if let channel = proc.channel { channels.adopt(channel: channel, seeded: ProcessKey(tgid: key.tgid, startNs: 0), as: key) }
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
            // Without room it stays unknown: each of its events is counted here all the same.
            if hasRoomForProcess { procs[key] = Proc(role: .unknown, orphan: true) }
            noteUnattributed()
        }
        switch event.kind {
        case let .fork(child):
            handleFork(parentKey: key, child: child, ppid: event.ppid, hooksOff: event.hooksOffAtFork, wallNs: wallNs)
        case let .exec(info):
            handleExec(key, event: event, info: info, wallNs: wallNs)
        case let .exit(status):
            handleExit(key, status: status, wallNs: wallNs)
        case let .accept(local, remote, socket):
            // An sshd outside any session that accepts a connection is a listener: one whose start the
            // kernel reported (it reports only the real sshd, see ListenerTrust), or its child before
            // any connection (sshd without -D going into the background). The start-up scan's
            // listeners are seeded as such. A process first seen at its accept, or whose history was
            // lost, is not made one: nothing vouches that it is sshd.
            if let proc = lookup(key), proc.role == .unknown, !proc.orphan, event.comm.hasPrefix("sshd") {
                procs[key]?.role = .listener
            }
            if let proc = procs[key], proc.role == .monitor, let id = proc.session, let open = sessions[id],
               open.awaitsConnection == true {
                // sshd -i: the connection its socket manager accepted and handed it on stdin.
                open.awaitsConnection = nil
                open.socket = socket
                followSocket(socket, for: id)
                updateSession(id) {
                    $0.local = local
                    $0.remote = remote
                }
            } else if procs[key]?.role == .listener {
                acceptedAgain(key)
                if pendingAccept[key] != nil || pendingAccept.count < bounds.pendingAccepts {
                    pendingAccept[key] = PendingAccept(local: local, remote: remote, socket: socket, atNs: wallNs)
                } else {
                    overflows += 1  // the connection's session will have no addresses
                }
            } else if procs[key]?.role == .user {
                // A user's program accepted a connection: who connected, to which of its ports.
                let family = remote.address.contains(":") ? "inet6" : "inet"
                noteNetwork(key, uid: event.uid, wallNs: wallNs, NetworkActivity.Key(
                    op: .accept, family: family, proto: "tcp", addr: remote.address, port: local.port, path: nil))
            }
        case let .cred(ruid, euid, suid):
            handleCred(key, ruid: ruid, euid: euid, suid: suid, wallNs: wallNs)
        case .chroot:
            guard let proc = lookup(key), proc.role == .monitorChild || proc.role == .helper else { break }
            if proc.role == .monitorChild, !proc.execed, let id = proc.session, sessions[id]?.preauthChrooted == true {
                // ChrootDirectory: sshd's user child chroots as root, then takes the user's uids. The
                // pre-authentication child (forked at once, or sshd-auth on OpenSSH 10) chrooted first.
                break
            }
            procs[key]?.role = .preauth
            procs[key]?.chrooted = true
            if let id = proc.session { sessions[id]?.preauthChrooted = true }
        case .setsid:
            handleSetsid(key, uid: event.uid, wallNs: wallNs)
        case let .log(_, text):
            handleLog(key, text: text, wallNs: wallNs)
        case let .connectionClosed(socket, bytesIn, bytesOut):
            handleConnectionClosed(socket: socket, bytesIn: Int64(bytesIn), bytesOut: Int64(bytesOut))
        case let .fileOpened(fd, flags, path):
            handleFileOpened(key, fd: fd, flags: flags, path: path, wallNs: wallNs)
        case let .fileClosed(fd, position, size):
            guard var transfer = openTransfers.removeValue(forKey: FileKey(tgid: key.tgid, fd: fd)) else { return }
            transfer.closedAtNs = wallNs
            // Downloads read sequentially: the offset at close is how far they got. An upload is the
            // file as it was left: its size (a writer may seek, e.g. rsync's sparse files).
            if transfer.mode == .read { transfer.bytesRead = Int64(position) } else { transfer.bytesWritten = Int64(size) }
            closedTransfer(transfer, process: key)
        case let .socket(call):
            handleSocket(key, call: call, wallNs: wallNs)
        case let .fileChange(change):
            for recorded in change.recorded { handleFileChange(key, recorded, uid: event.uid, wallNs: wallNs) }
            // An exchange leaves both names in place: no upload took another's name (and no transfer
            // server swaps files).
            if change.op == .rename, !change.exchange, let newPath = change.newPath { renamedUpload(key, from: change.path, to: newPath) }
        case let .network(call):
            noteNetwork(key, uid: event.uid, wallNs: wallNs, NetworkActivity.Key(
                op: call.op, family: NetworkCall.familyName(call.family),
                proto: NetworkCall.protoName(family: call.family, type: call.socketType, proto: call.ipProtocol),
                addr: call.endpoint?.address, port: call.endpoint?.port, path: call.path), seenKey: call.seenKey)
        case let .tty(stream, bytes, cut, capped):
            if let id = procs[key]?.session, sessions[id] != nil {
                tty.append(session: id, atNs: wallNs, stream: stream, bytes: bytes, cut: cut, capped: capped)
            } else {
                tty.noteOrphan()
            }
        case let .ttyWindow(rows, cols):
            if let id = procs[key]?.session, sessions[id] != nil {
                tty.window(session: id, atNs: wallNs, rows: rows, cols: cols)
            } else {
                tty.noteOrphan()
            }
        case let .fileRepeat(seenKey, count):
            if network.owns(seenKey) {
                if let (seen, added) = network.takeRepeats(seenKey, count: count) {
                    addNetwork(seen.process, session: seen.session, command: seen.row.command, uid: seen.uid, wallNs: wallNs,
                               seen.row, times: added)
                }
            } else {
                files.repeated(seenKey, count: count, atNs: wallNs, sink: sink)
            }
        case let .ioUring(use):
            noteIOUring(key, use, wallNs: wallNs)
        case let .compatCalls(calls):
            noteCompatCalls(key, calls, wallNs: wallNs)
        }
    }

    /// The kernel's keys of the file operations and network calls of `process` whose repeats it
    /// counts in `file_seen` (FileActivityTable, NetworkActivity): the recorder reads their counts
    /// before the process's exit or exec.
    public func fileSeenKeys(of process: ProcessKey) -> [[UInt8]] { files.seenKeys(of: process) + network.seenKeys(of: process) }
    /// Keys no row needs any more: the recorder removes them from the kernel's map.
    public func takeReleasedFileSeenKeys() -> [[UInt8]] { files.takeReleased() + network.takeReleased() }
    /// Each key with the repeats already added to its row: the recorder passes on only counts that moved.
    public var fileSeenCounts: [(key: [UInt8], counted: UInt64)] { files.seenCounts + network.seenCounts }

    /// Whether an event can only come from a process whose fork (or start-up scan) was seen. A new
    /// sshd (exec of a new root), an accept (a listener the scan may not have recognised yet) and a
    /// connection's close (sessions from before the recorder) stand on their own.
    static func needsHistory(_ kind: EventKind) -> Bool {
        switch kind {
        case let .exec(info): return !info.newRoot
        case .accept, .connectionClosed, .fileRepeat: return false
        case .fork, .exit, .cred, .chroot, .setsid, .log, .fileOpened, .fileClosed, .socket, .fileChange, .network, .tty,
             .ttyWindow, .ioUring, .compatCalls: return true
        }
    }

    // MARK: - Events

    func handleFork(parentKey: ProcessKey, child: ProcessKey, ppid: UInt32, hooksOff: Bool = false, wallNs: Int64) {
        // A parent not followed (no room when it appeared, like its record in the kernel): nor is its child.
        guard procs[parentKey] != nil else { return }
        confirmUserChild(parentKey)
        let parent = procs[parentKey]!
        var proc = Proc(role: .unknown, session: parent.session,
                        ancestorCommand: parent.command ?? parent.ancestorCommand)
        proc.channel = parent.channel
        proc.orphan = parent.orphan
        proc.transferServer = parent.transferServer
        proc.receiver = parent.receiver
        switch parent.role {
        case .listener:
            proc.role = .monitor
        case .monitor:
            proc.role = .monitorChild
            proc.hooksOffAtFork = hooksOff
        case .userChild, .user:
            proc.role = .user
        case .monitorChild, .helper, .preauth, .unknown:
            proc.role = parent.role
        }
        guard procs[child] != nil || hasRoomForProcess else {
            // The kernel's map, as large, does not follow it either: counted, its session flagged. A
            // listener's child not followed is a connection without a session, counted all the same.
            overflows += 1
            if let id = proc.session { updateSession(id) { $0.drops = true } }
            return
        }
        proc.path = heldPath(parent.path, for: proc, replacing: procs[child]?.path)
        if parent.role == .listener {
            proc.session = startSession(monitor: child, listener: parentKey, path: parent.path, wallNs: wallNs)
        }
        // sshd's user child forks one process per session channel (session.c); nothing else.
        if parent.role == .userChild, let id = proc.session { proc.channel = startChannel(child, session: id, atNs: wallNs) }
        procs[child] = proc
        if let id = proc.session { sessions[id]?.liveProcesses += 1 }
    }

    /// A session served by `monitor`: forked by `listener`, or (nil) started for one connection by a
    /// socket manager (sshd -i), whose connection comes in the accept record after its exec.
    func startSession(monitor: ProcessKey, listener: ProcessKey?, path: String?, wallNs: Int64) -> Int64 {
        let id = nextIDs.session
        nextIDs.session += 1
        var record = SessionRecord(id: id, sshdPid: monitor.tgid, sshdStartNs: monitor.startNs, startedAtNs: wallNs)
        record.listenerPid = listener?.tgid
        record.sshdPath = path
        record.sshdVersion = path.flatMap { binaryVersion(listener?.tgid ?? monitor.tgid, $0) }
        // Read now, while the listener (long-lived) or else the new monitor still runs.
        let ns = namespace(listener: listener, monitor: monitor)
        if let ns { record.place(in: ns.value) }
        // sshd accepts and forks in one step of its loop: the last accept is this connection's.
        let open = OpenSession(record: record)
        open.namespace = ns
        open.awaitsConnection = listener == nil ? true : nil
        if let listener, let conn = pendingAccept.removeValue(forKey: listener) {
            open.record.local = conn.local
            open.record.remote = conn.remote
            if let bytes = conn.closedBytes, bytes.count == 2 {
                // The client reset it before this fork: its counters came already.
                open.record.bytesIn = bytes[0]
                open.record.bytesOut = bytes[1]
            } else {
                open.socket = conn.socket
                followSocket(conn.socket, for: id)
            }
        }
        admit(open)
        return id
    }

    /// A session the correlator starts to follow: its kind, room made for it at the bound, its row sent.
    func admit(_ open: OpenSession) {
        open.record.kind = Self.kind(of: open)
        makeRoomForSession()
        sessions[open.record.id] = open
        openSessionsFlagged = false
        sink(.session(open.record))
    }

    /// The namespace of a new session's sshd: its listener's, read once while it runs; a per-connection
    /// sshd's own (nil `listener`). Only what was read is kept: a failed read is tried again next time.
    func namespace(listener: ProcessKey?, monitor: ProcessKey) -> ListenerNamespace.Shared? {
        guard let namespaces else { return nil }
        guard let listener else { return namespaces.read(monitor.tgid, monitor.startNs).map(ListenerNamespace.Shared.init) }
        if let known = listenerNamespaces[listener] { return known }
        guard let ns = namespaces.read(listener.tgid, listener.startNs).map(ListenerNamespace.Shared.init) else {
            return namespaces.read(monitor.tgid, monitor.startNs).map(ListenerNamespace.Shared.init)
        }
        if listenerNamespaces.count >= 1_024 { listenerNamespaces.removeAll() }
        listenerNamespaces[listener] = ns
        return ns
    }

    /// A session's process ran while the session hooks were not attached (a recorder lagging, or down
    /// with them detached): a program it started, or its user child (or, for root on OpenSSH ≤ 9.7,
    /// its shell) forked then, may have made 32-bit calls, changed files or connected unseen, even
    /// with no program started (internal-sftp).
    func sessionHooksWereOff(_ id: Int64) {
        sessions[id]?.hooksWereOff = true
        updateSession(id) { $0.drops = true }
    }

    func handleExec(_ key: ProcessKey, event: Event, info: ExecInfo, wallNs: Int64) {
        // A newly started sshd is a listener only once it accepts: `sshd -t` or `sshd -V` never do.
        // Any other process without a record has none because there was no room (see `handle`).
        let known = lookup(key)
        if info.sessionHooksOff, let id = known?.session { sessionHooksWereOff(id) }
        if known?.opensFiles == true { discardUnconfirmedSFTP(key) }
        files.forgetSeen(of: key)  // the kernel's counts under its old exec count were read before
        network.forgetSeen(of: key)
        guard var proc = known ?? (info.newRoot ? Proc(role: .unknown) : nil) else { return }
        guard procs[key] != nil || hasRoomForProcess else {
            overflows += 1  // a new sshd not followed, as the kernel's full map does not follow it
            return
        }
        if known == nil, info.connection {
            // sshd -i, started by a socket manager with an accepted connection on its standard input
            // (the kernel reports only the real sshd): that connection's monitor, with no listener.
            proc.role = .monitor
            let id = startSession(monitor: key, listener: nil, path: info.filename, wallNs: wallNs)
            proc.session = id
            sessions[id]?.liveProcesses += 1
        }
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
                record.channelID = proc.channel
                if let channel = proc.channel, let row = channels.exec(channel: channel, process: key, info) {
                    sink(.channel(row))
                }
                hold(record)
                proc.command = id
                sink(.command(record))
                let name = baseName(info.filename)
                if sessions[sessionID]?.transfer == nil {
                    if name == "sftp-server" { sessions[sessionID]?.transfer = "sftp" }
                    // scp -t/-f is the legacy protocol's server side; rsync --server is rsync over ssh.
                    else if name == "scp", info.argv.contains(where: { $0 == "-t" || $0 == "-f" }) { sessions[sessionID]?.transfer = "scp" }
                    else if name == "rsync", info.argv.contains("--server") { sessions[sessionID]?.transfer = "rsync" }
                }
                countCommand(sessionID, info)
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
        proc.path = heldPath(info.filename, for: proc, replacing: proc.path)
        proc.transferServer = TransferServer(running: info.filename)
        proc.receiver = Self.onlyReceives(info)
        proc.execed = true
        procs[key] = proc
    }

    func handleCred(_ key: ProcessKey, ruid: UInt32, euid: UInt32, suid: UInt32, wallNs: Int64) {
        guard var proc = lookup(key), proc.role == .monitorChild, !proc.execed, !proc.chrooted,
              ruid == euid, euid == suid, proc.session != nil else { return }
        // The monitor's brief euid switches (reading authorized_keys) happen in the monitor itself
        // and never set all three ids. Which child this is shows by what it does next.
        proc.pendingUID = PendingUID(atNs: wallNs, uid: ruid)
        procs[key] = proc
    }

    /// The monitor child that set the user's uids did something only the post-auth child does.
    func confirmUserChild(_ key: ProcessKey) {
        guard var proc = procs[key], proc.role == .monitorChild, let pending = proc.pendingUID,
              let sessionID = proc.session else { return }
        proc.role = .userChild
        proc.pendingUID = nil
        procs[key] = proc
        authenticate(sessionID, uid: pending.uid, wallNs: pending.atNs)
        if proc.hooksOffAtFork { sessionHooksWereOff(sessionID) }
    }

    func handleSetsid(_ key: ProcessKey, uid: UInt32, wallNs: Int64) {
        guard lookup(key) != nil else { return }
        confirmUserChild(key)
        guard var proc = procs[key], let sessionID = proc.session else { return }
        switch proc.role {
        case .monitorChild where !proc.execed && !proc.chrooted:
            // Root logins on OpenSSH ≤ 9.7: no user child, the monitor forks the shell directly.
            proc.role = .user
            authenticate(sessionID, uid: uid, wallNs: wallNs)
            if proc.hooksOffAtFork { sessionHooksWereOff(sessionID) }
            // The monitor serves the session itself: each such child is one channel.
            proc.channel = startChannel(key, session: sessionID, atNs: wallNs)
        case .user:
            break
        default:
            return
        }
        procs[key] = proc
        if sessions[sessionID]?.shell == nil { sessions[sessionID]?.shell = key }
    }

    func handleExit(_ key: ProcessKey, status: UInt32, wallNs: Int64) {
        guard lookup(key) != nil else { return }
        confirmUserChild(key)  // internal-sftp: the user child serves the session itself, then exits
        guard let proc = procs.removeValue(forKey: key) else { return }
        ended(key, proc, atNs: wallNs, status: status)
    }

    /// A process is gone: its exit was seen (`status`), or `sweep` found it gone without one (nil).
    func ended(_ key: ProcessKey, _ gone: Proc, atNs wallNs: Int64, status: UInt32?) {
        var proc = gone
        if proc.path != nil { pathHolders -= 1 }
        listenerEnded(key)
        listenerNamespaces.removeValue(forKey: key)
        // The kernel reports close calls only: the files it left open were closed by its end.
        if proc.opensFiles {
            confirmInternalSFTP(key, proc, atNs: wallNs)
            openTransfers = openTransfers.filter { $0.key.tgid != key.tgid }
        }
        files.close(process: key, sink: sink)
        releaseHeldUploads(of: key)
        for row in network.ended(key) { sink(.network(row)) }
        closeCommand(of: &proc, wallNs: wallNs, status: status)
        if let channel = proc.channel, let row = channels.end(channel: channel, process: key, atNs: wallNs, status: status) {
            sink(.channel(row))
        }
        guard let sessionID = proc.session, let open = sessions[sessionID] else { return }
        let before = open.record
        if let status, open.shell == key {
            let ws = WaitStatus(status)
            open.record.exitCode = ws.code ?? (128 + (ws.signal ?? 0))  // as a shell reports a killed child
        }
        if status == nil { open.record.drops = true }
        open.liveProcesses -= 1
        if proc.role == .monitor {
            open.monitorExited = true
            if status == nil { open.record.endedUnobserved = true } else { open.record.endedAtNs = wallNs }
        }
        // Keep the session while any of its processes lives: a process left running after logout
        // still reports into it. Once none does, only the connection's byte counts can still come.
        let done = open.monitorExited && open.liveProcesses <= 0
        if done { tty.finish(sessionID) }  // its recording's last chunk before its last row
        if done && open.socket == nil { open.record.closed = true }
        open.record.kind = Self.kind(of: open)
        sessions[sessionID] = open
        if open.record != before || (!countedOnly.isEmpty && countedOnly.remove(sessionID) != nil) { sink(.session(open.record)) }
        if proc.role == .monitor, status != nil, open.record.authenticatedAtNs == nil, !open.acceptLogged,
           !open.disconnectLogged {
            // Never authenticated and no end logged: the connection ended before any success.
            open.disconnectLogged = true
            emitEvent(sessionID, atNs: wallNs, kind: .closedBeforeAuth)
        }
        if done {
            sessions.removeValue(forKey: sessionID)
            if let socket = open.socket {
                if awaitingBytes.count >= bounds.awaitingBytes {
                    let keep = bounds.awaitingBytes - CorrelatorBounds.slack(bounds.awaitingBytes)
                    for (old, s) in awaitingBytes.sorted(by: { $0.value.record.id < $1.value.record.id }) where awaitingBytes.count > keep {
                        forgetSocket(old, of: s.record.id)
                    }
                }
                awaitingBytes[socket] = open
            }
        }
    }

    func handleConnectionClosed(socket: UInt64, bytesIn: Int64, bytesOut: Int64) {
        if pendingClosed(socket: socket, bytesIn: bytesIn, bytesOut: bytesOut) { return }
        guard let id = sessionBySocket.removeValue(forKey: socket) else { return }
        if sessions[id] != nil {
            sessions[id]?.socket = nil
            updateSession(id) {
                $0.bytesIn = bytesIn
                $0.bytesOut = bytesOut
            }
        } else if var record = awaitingBytes.removeValue(forKey: socket)?.record {
            record.bytesIn = bytesIn
            record.bytesOut = bytesOut
            record.closed = true
            sink(.session(record))
        }
    }

    /// sshd's post-auth child opens forwarded connections and listeners for the client: -L/-D
    /// connect, -R and agent forwarding bind.
    func handleSocket(_ key: ProcessKey, call: SocketCall, wallNs: Int64) {
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
        emitEvent(sessionID, atNs: wallNs, kind: kind, targetHost: call.endpoint?.address, targetPort: call.endpoint?.port,
                  detail: call.unixPath)
    }

    /// One network call (or accept) of a user's process: its row for this (process, command,
    /// operation, endpoint) counts one more, or a new row starts. sshd's own processes (forwarding: session
    /// events) and processes outside sessions have none.
    func noteNetwork(_ key: ProcessKey, uid: UInt32, wallNs: Int64, _ call: NetworkActivity.Key, seenKey: [UInt8]? = nil) {
        guard let proc = lookup(key), proc.role == .user, let sessionID = proc.session else { return network.release(seenKey) }
        let commandID = proc.command ?? proc.ancestorCommand
        var endpoint = call
        endpoint.command = commandID
        addNetwork(key, session: sessionID, command: commandID, uid: uid, wallNs: wallNs, endpoint, seenKey: seenKey)
    }

    /// `times` occurrences of `endpoint` (its command set) in its row, or in a new one; a row given up at
    /// the bound flags its session.
    func addNetwork(_ key: ProcessKey, session sessionID: Int64, command commandID: Int64?, uid: UInt32, wallNs: Int64,
                    _ endpoint: NetworkActivity.Key, times: Int64 = 1, seenKey: [UInt8]? = nil) {
        let (row, evicted) = network.note(process: key, key: endpoint, times: times, seenKey: seenKey, atNs: wallNs) { k in
            let id = nextIDs.network
            nextIDs.network += 1
            return NetworkRecord(id: id, sessionID: sessionID, commandID: commandID, pid: key.tgid, uid: uid, op: k.op,
                                 family: k.family, proto: k.proto, addr: k.addr, port: k.port, path: k.path,
                                 firstAtNs: wallNs, lastAtNs: wallNs, count: 1)
        }
        for old in evicted {
            // Given up at the bound: its later counts are lost (counted, its session flagged).
            overflows += 1
            updateSession(old.sessionID) { $0.drops = true }
            sink(.network(old))
        }
        sink(.network(row))
    }

    func closeCommand(of proc: inout Proc, wallNs: Int64, status: UInt32?) {
        guard let id = proc.command, var record = release(id) else { return }
        record.endedAtNs = wallNs
        if let status {
            let ws = WaitStatus(status)
            record.exitCode = ws.code
            record.signal = ws.signal
        }
        proc.command = nil
        sink(.command(record))
    }

    /// A new session channel whose process is `key`: its row, and its id for the process to carry.
    func startChannel(_ key: ProcessKey, session id: Int64, atNs: Int64) -> Int64 {
        let row = openChannel(key, of: sessions[id], session: id, kind: nil, atNs: atNs) {}
        sink(.channel(row))
        return row.id
    }

    /// Enters a new channel of session `id` (`open`: its state, nil if given up at the bound). A
    /// session being seeded is not in `sessions` yet: `evictedOwn` flags it if one of its own
    /// channels gives way at the bound.
    func openChannel(_ key: ProcessKey, of open: OpenSession?, session id: Int64, kind: String?, atNs: Int64,
                             evictedOwn: () -> Void) -> ChannelRecord {
        let seq = (open?.channelCount ?? 0) + 1
        open?.channelCount = seq
        let channelID = nextIDs.channel
        nextIDs.channel += 1
        let (row, evicted) = channels.start(id: channelID, process: key, sessionID: id, seq: seq, kind: kind, atNs: atNs,
                                            bound: bounds.channels)
        for old in evicted {
            // Given up at the bound: its end and exit code are lost (counted, its session flagged).
            overflows += 1
            if old.sessionID == id, sessions[id] == nil { evictedOwn() } else { updateSession(old.sessionID) { $0.drops = true } }
        }
        return row
    }

    func updateSession(_ id: Int64, _ change: (inout SessionRecord) -> Void) {
        guard let open = sessions[id] else { return }
        let before = open.record
        change(&open.record)
        open.record.kind = Self.kind(of: open)
        guard open.record != before else { return }
        if !countedOnly.isEmpty { countedOnly.remove(id) }
        sink(.session(open.record))
    }

    /// Sessions whose row changed only in its command count since it was last sent. A shell loop
    /// execs thousands of times a second: its session's row (28 columns, a ledger entry per version
    /// stored) is sent again once per `flushCommandCounts`, not at every exec.
    var countedOnly: Set<Int64> = []

    /// A command started in the session: counted in place; the row is sent now only if something
    /// else in it changed (its first command, a terminal, a cut argv, its kind).
    func countCommand(_ id: Int64, _ info: ExecInfo) {
        guard let open = sessions[id] else { return }
        open.record.commandCount += 1
        let tty = open.record.tty == nil && info.tty != nil, cut = info.argvTruncated && !open.record.truncatedArgv
        if tty { open.record.tty = info.tty }
        if cut { open.record.truncatedArgv = true }
        let kind = Self.kind(of: open)  // after the terminal: a shell's first exec makes it interactive
        guard open.record.commandCount == 1 || tty || cut || kind != open.record.kind else {
            countedOnly.insert(id)
            return
        }
        open.record.kind = kind
        countedOnly.remove(id)
        sink(.session(open.record))
    }

    /// Sends the rows of sessions whose command count changed since they were last sent: the recorder
    /// calls it between reads of the ring buffer, replay every few thousand events; a checkpoint and
    /// every other change of the row send it too.
    public func flushCommandCounts() {
        guard !countedOnly.isEmpty else { return }
        for id in countedOnly.sorted() {
            if let open = sessions[id] { sink(.session(open.record)) }
        }
        countedOnly.removeAll(keepingCapacity: true)
    }

    // MARK: - Bounds and lost exits

    /// Ends the processes that are gone although their exit was never reported: the kernel's ring
    /// buffer dropped it, or its full map did not follow a child whose fork it reported. Each is taken
    /// as an exit not seen: its command ends at `atNs` (when it was found gone) without exit code or
    /// signal, its session is flagged `drops`, and a session whose monitor is gone is
    /// `ended_unobserved` (its `ended_at` stays unknown).
    ///
    /// A session that ended more than 15 minutes before `atNs` no longer awaits its connection's
    /// byte counts: TCP gives up on an unacknowledged close by then, so the close was lost (counted,
    /// flagged).
    ///
    /// For a live recorder only, and only once every record the kernel wrote before `isAlive` looked
    /// has been handled: an exit still on its way must not be taken for a lost one. A replay has no
    /// live system to ask and never sweeps, so it stays deterministic.
    /// - Parameter isAlive: whether that process still runs (start time 0: whichever has the pid).
    /// - Returns: how many processes were found gone.
    @discardableResult
    public func sweep(atNs: Int64, isAlive: (ProcessKey) -> Bool) -> Int {
        let closeTimeoutNs: Int64 = 15 * 60 * 1_000_000_000
        for (socket, record) in awaitingBytes.map({ ($0.key, $0.value.record) }).sorted(by: { $0.1.id < $1.1.id })
        where atNs - (record.endedAtNs ?? record.startedAtNs) > closeTimeoutNs {
            forgetSocket(socket, of: record.id)
        }
        var gone: [(ProcessKey, Proc)] = []
        for key in procs.keys.sorted(by: { ($0.startNs, $0.tgid) < ($1.startNs, $1.tgid) }) where !isAlive(key) {
            gone.append((key, procs.removeValue(forKey: key)!))
        }
        for pid in seeded.keys.sorted() where !isAlive(ProcessKey(tgid: pid, startNs: 0)) {
            gone.append((ProcessKey(tgid: pid, startNs: 0), seeded.removeValue(forKey: pid)!))
        }
        for (key, proc) in gone { ended(key, proc, atNs: atNs, status: nil) }
        unobservedExits += UInt64(gone.count)
        return gone.count
    }

    var hasRoomForProcess: Bool { procs.count + seeded.count < bounds.processes }

    /// Processes holding a path, against `bounds.listenerPaths`.
    var pathHolders = 0

    /// What `proc` holds of `path` in place of `old`: nothing unless it may become a listener, and
    /// nothing new once `bounds.listenerPaths` processes hold one (counted).
    func heldPath(_ path: String?, for proc: Proc, replacing old: String?) -> String? {
        let wanted = Self.holdsPath(proc, path) ? path : nil
        if wanted != nil, old == nil, pathHolders >= bounds.listenerPaths {
            overflows += 1
            return nil
        }
        pathHolders += (wanted == nil ? 0 : 1) - (old == nil ? 0 : 1)
        return wanted
    }

    /// Only a process that is or may become a listener needs its path (a new session's sshd_path);
    /// a user's processes need only the name of a transfer server (`transferServer`). Paths are what
    /// a user can make long, so no more are held than that.
    static func holdsPath(_ proc: Proc, _ path: String?) -> Bool {
        switch proc.role {
        case .listener: return true
        case .unknown: return !proc.orphan && path.map { baseName($0).hasPrefix("sshd") } == true
        default: return false
        }
    }

    /// Holds a running command, within `bounds.commands` and `bounds.commandBytes`: the oldest
    /// running commands give up their end (their rows stay as stored; their sessions are flagged).
    func hold(_ command: CommandRecord) {
        let cost = command.heldBytes
        if openCommands.count >= bounds.commands || commandBytes + cost > bounds.commandBytes {
            let count = bounds.commands - CorrelatorBounds.slack(bounds.commands)
            let bytes = bounds.commandBytes - CorrelatorBounds.slack(bounds.commandBytes) - cost
            for id in openCommands.keys.sorted() where openCommands.count > count || commandBytes > bytes {
                guard let evicted = release(id) else { continue }
                overflows += 1
                updateSession(evicted.sessionID) { $0.drops = true }
            }
        }
        openCommands[command.id] = command
        commandBytes += cost
    }

    func release(_ id: Int64) -> CommandRecord? {
        guard let record = openCommands.removeValue(forKey: id) else { return nil }
        commandBytes -= record.heldBytes
        return record
    }

    /// Room for one more open session: the oldest give up their later updates (an end, an exit
    /// code). Their processes still report into them: commands keep their session.
    func makeRoomForSession() {
        guard sessions.count >= bounds.sessions else { return }
        let keep = bounds.sessions - CorrelatorBounds.slack(bounds.sessions)
        for id in sessions.keys.sorted() where sessions.count > keep {
            updateSession(id) { $0.drops = true }
            if countedOnly.remove(id) != nil, let open = sessions[id] { sink(.session(open.record)) }
            guard let open = sessions.removeValue(forKey: id) else { continue }
            tty.finish(id)
            overflows += 1
            if let socket = open.socket, sessionBySocket[socket] == id { sessionBySocket.removeValue(forKey: socket) }
        }
    }

    /// Awaits the byte counters of `socket` for session `id`, within `bounds.connections` (the
    /// kernel's `connections` map is as large, and forgets its oldest entries too).
    func followSocket(_ socket: UInt64, for id: Int64) {
        if let stale = sessionBySocket[socket] {
            // The kernel reused the socket: the close of the connection that had it was never reported.
            forgetSocket(socket, of: stale)
        } else if sessionBySocket.count >= bounds.connections {
            let keep = bounds.connections - CorrelatorBounds.slack(bounds.connections)
            for (old, sid) in sessionBySocket.sorted(by: { $0.value < $1.value }) where sessionBySocket.count > keep {
                forgetSocket(old, of: sid)
            }
        }
        sessionBySocket[socket] = id
    }

    /// Gives up a connection's byte counters: counted, its session flagged. (`awaitingBytes` only
    /// holds sockets still in `sessionBySocket`, so this bounds both.)
    func forgetSocket(_ socket: UInt64, of id: Int64) {
        sessionBySocket.removeValue(forKey: socket)
        overflows += 1
        if sessions[id] != nil {
            sessions[id]?.socket = nil
            updateSession(id) { $0.drops = true }
        } else if var record = awaitingBytes.removeValue(forKey: socket)?.record {
            record.drops = true
            record.closed = true  // ended, and its byte counts are given up: nothing more comes
            sink(.session(record))
        }
    }

    /// The user's name and uid inside the sshd's user namespace, for the uid the kernel reported.
    /// The name is the one the sshd's own passwd gives that uid (the account whose uid the process
    /// took); when that cannot be read (the namespace unknown, its processes gone, no entry), the
    /// name sshd logged as accepted. Without a namespace reader (replay): the host's name, as before,
    /// and no uid inside.
    func identify(hostUID: UInt32, _ ns: ListenerNamespace?, loggedUser: String?,
                          pids: [UInt32?]) -> (String?, UInt32?) {
        guard let namespaces else { return (resolve(hostUID), nil) }
        // A root unknown: the host's passwd may name another person (a tree's uid 1000 need not be
        // the host's); sshd's own line names the one who logged in.
        guard let ns else { return (loggedUser ?? resolve(hostUID), nil) }
        guard let inside = ns.insideUID(hostUID) else { return (loggedUser, nil) }
        let name = ns.hostRoot ? resolve(inside) : namespaces.userName(inside, ns, pids.compactMap { $0 })
        return (name ?? loggedUser, inside)
    }

    func resolve(_ uid: UInt32) -> String? {
        if let cached = userNames[uid] { return cached }
        if userNames.count >= bounds.userNames { userNames.removeAll() }  // a cache: nothing is lost
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
