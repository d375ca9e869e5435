import Foundation

/// Listeners and sessions found running when recording starts (the /proc scan), and sessions a restarted recorder continues.
extension Correlator {
    /// Declares a listener found before recording started (the /proc scan).
    public func seedListener(pid: UInt32, path: String?) {
        guard seeded[pid] != nil || hasRoomForProcess else {
            overflows += 1
            return
        }
        var proc = Proc(role: .listener)
        proc.path = heldPath(path, for: proc, replacing: seeded[pid]?.path)
        seeded[pid] = proc
    }

    /// Rebuilds a session that was open before recording started: its row (marked recovered) and a
    /// command for each of the user's processes running now, with argv as /proc shows it.
    ///
    /// With `resuming`, the session is one the database already has (this recorder's previous run
    /// saw it and stopped): it keeps its row and id, and still-running commands keep theirs; so do
    /// its channels still open (`channels`: those rows, and how many channels the session had).
    /// Otherwise each process of sshd's user child is a new channel (Channels.swift), its kind read
    /// from its argv as /proc shows it now, its terminal unknown.
    public func seedSession(_ seed: SessionSeed, resuming: (session: SessionRecord, openCommands: [CommandRecord])? = nil,
                            channels resumed: (open: [ChannelRecord], count: Int64) = ([], 0)) {
        var record: SessionRecord
        var reusable: [UInt32: CommandRecord] = [:]
        let ns = namespaces?.read(seed.listenerPid ?? seed.monitor.pid, 0).map(ListenerNamespace.Shared.init)
        if let resuming {
            record = resuming.session
            for c in resuming.openCommands { reusable[c.pid] = c }
            // What happened while nobody watched, as /proc shows it now.
            if record.authenticatedAtNs == nil, let uid = seed.uid {
                record.uid = uid
                (record.user, record.uidInside) = identify(hostUID: uid, ns?.value, loggedUser: nil,
                                                           pids: [seed.listenerPid, seed.monitor.pid])
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
            if let ns { record.place(in: ns.value) }
            if let uid = seed.uid {
                (record.user, record.uidInside) = identify(hostUID: uid, ns?.value, loggedUser: nil,
                                                           pids: [seed.listenerPid, seed.monitor.pid])
            }
            record.authenticatedAtNs = seed.authenticatedAtNs
            record.recovered = true
        }
        let id = record.id
        let open = OpenSession(record: record)
        open.namespace = ns
        open.acceptLogged = seed.authenticatedAtNs != nil  // the attempt happened before: nothing to add
        // Each process followed, within the bound on processes; the others are lost (counted, flagged).
        func follow(_ pid: UInt32, _ proc: Proc) -> Bool {
            guard seeded[pid] != nil || hasRoomForProcess else {
                overflows += 1
                record.drops = true
                return false
            }
            if seeded[pid]?.path != nil { pathHolders -= 1 }
            seeded[pid] = proc
            open.liveProcesses += 1
            return true
        }
        _ = follow(seed.monitor.pid, Proc(role: .monitor, session: id))

        var commandOf: [UInt32: Int64] = [:]
        var outputs: [CommandRecord] = []
        // Channels: the processes of sshd's user child (or, for a root login on OpenSSH <= 9.7, the
        // monitor's user processes); their descendants inherit them.
        var userChildren: Set<UInt32> = [], channelOf: [UInt32: Int64] = [:], newChannels: [ChannelRecord] = []
        let openChannels = Dictionary(resumed.open.map { ($0.pid, $0) }, uniquingKeysWith: { $1 })
        open.channelCount = resumed.count
        for p in seed.processes {
            let role: Role
            switch p.role {
            case .listener, .monitor, .monitorChild, .unknown: role = .unknown
            case .preauth, .helper, .userChild, .user: role = p.role
            }
            var proc = Proc(role: role, session: id, ancestorCommand: commandOf[p.ppid])
            proc.execed = true
            proc.transferServer = p.exe.flatMap(TransferServer.init(running:))
            guard follow(p.pid, proc) else { continue }
            if role == .userChild { userChildren.insert(p.pid) }
            proc.channel = channelOf[p.ppid]
            if role == .user, userChildren.contains(p.ppid) || p.ppid == seed.monitor.pid {
                let key = ProcessKey(tgid: p.pid, startNs: 0)
                if let known = openChannels[p.pid] {
                    channels.resume(known, process: key)
                    proc.channel = known.id
                } else {
                    // sshd itself (internal-sftp) never exec'd; anything else as /proc shows it now.
                    let own = p.exe.map { baseName($0).hasPrefix("sshd") } ?? false
                    let kind = own ? ChannelKind.withoutExec : ChannelKind.of(firstExec: ExecInfo(filename: p.exe ?? "", argv: p.argv))
                    let row = openChannel(key, of: open, session: id, kind: kind, atNs: p.startedAtNs) { record.drops = true }
                    newChannels.append(row)
                    proc.channel = row.id
                }
            }
            if let channel = proc.channel { channelOf[p.pid] = channel }
            if role == .user, let known = reusable[p.pid] {
                // Seen by the previous run and still running: the same command continues.
                hold(known)
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
                command.channelID = proc.channel
                hold(command)
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
        admit(open)
        for channel in newChannels { sink(.channel(channel)) }
        for command in outputs { sink(.command(command)) }
    }
}
