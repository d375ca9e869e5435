import Foundation

/// File transfers (sftp-server, scp, rsync, internal-sftp) and the file changes of a session's processes.
extension Correlator {
    func handleFileOpened(_ key: ProcessKey, fd: Int32, flags: UInt32, path: String, wallNs: Int64) {
        guard lookup(key) != nil else { return }
        confirmUserChild(key)
        // sshd's user-privileged child serving internal-sftp, or a transfer server the user's session ran.
        guard var proc = procs[key], proc.role == .user || proc.role == .userChild, let sessionID = proc.session else { return }
        if flags & 3 == 0 && proc.receiver { return }  // O_RDONLY by a receiver: nothing goes to the client
        // A process that never exec'd and runs no transfer server is sshd's own code: internal-sftp
        // (the kernel reports those only for processes named sshd).
        let internalSFTP = proc.transferServer == nil && (proc.role == .userChild || !proc.execed)
        let proto = internalSFTP ? "sftp" : proc.transferServer?.rawValue ?? "scp"
        // The working directory of its exec, which its command holds (a forked child has none).
        let cwd = proc.command.flatMap { openCommands[$0]?.cwd }
        let absolute = path.hasPrefix("/") ? path : ((cwd ?? "/") as NSString).appendingPathComponent(path)
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
        let file = FileKey(tgid: key.tgid, fd: fd)
        if openTransfers[file] == nil, openTransfers.count >= bounds.transfers {
            // The oldest open files give up their close (bytes moved): counted, sessions flagged.
            let keep = bounds.transfers - CorrelatorBounds.slack(bounds.transfers)
            for (old, t) in openTransfers.sorted(by: { $0.value.id < $1.value.id }) where openTransfers.count > keep {
                openTransfers.removeValue(forKey: old)
                overflows += 1
                updateSession(t.sessionID) { $0.drops = true }
            }
        }
        openTransfers[file] = transfer
        if !proc.opensFiles {
            proc.opensFiles = true
            procs[key] = proc
        }
        // sshd's own process reads files before it execs a shell (/etc/motd): its rows wait for its end.
        if !internalSFTP { sink(.transfer(transfer)) }
    }

    /// A change to the file system by the session's user processes or sshd's user-privileged child
    /// (which serves internal-sftp itself). The pre-authentication child and PAM's helpers are sshd's
    /// own; the kernel reports nothing of listeners and monitors.
    func handleFileChange(_ key: ProcessKey, _ change: FileChange, uid: UInt32, wallNs: Int64) {
        guard lookup(key) != nil else { return files.release(change.seenKey) }
        confirmUserChild(key)
        guard let proc = procs[key], proc.role == .user || proc.role == .userChild, let sessionID = proc.session else {
            return files.release(change.seenKey)  // not kept: the kernel is to count nothing under it
        }
        files.record(change, process: key, session: sessionID, command: proc.command ?? proc.ancestorCommand, uid: uid,
                     atNs: wallNs, bounds: bounds, sink: sink)
    }

    /// An upload's final row waiting for a rename by the process that wrote it, to carry the final name
    /// (bounded like open files): rsync writes to ".NAME.XXXXXX" in the destination's directory and
    /// renames it to NAME once complete; sftp clients may put to a temporary name and rename it
    /// ("put x x.part", then "rename"; WinSCP's ".filepart"), so all that sftp-server writes waits,
    /// until a rename or its process's end.
    struct HeldUpload: Hashable, Codable {
        var tgid: UInt32
        var path: String
    }

    /// Whether a transfer row is one of sshd's own process that has not exec'd (internal-sftp, or the
    /// reads of a session's process before it execs the shell).
    func awaitsConfirmation(_ transfer: TransferRecord, _ proc: Proc?) -> Bool {
        guard let proc else { return false }
        return transfer.proto == TransferServer.sftp.rawValue && proc.transferServer == nil && !proc.execed
    }

    func closedTransfer(_ transfer: TransferRecord, process key: ProcessKey) {
        if awaitsConfirmation(transfer, procs[key]) {
            if unconfirmedSFTP.values.reduce(0, { $0 + $1.count }) >= bounds.transfers {
                overflows += 1  // this one is given up
                updateSession(transfer.sessionID) { $0.drops = true }
                return
            }
            return unconfirmedSFTP[key.tgid, default: []].append(transfer)
        }
        let server = procs[key]?.transferServer
        guard transfer.mode != .read, let server, transfer.proto == server.rawValue,
              server == .sftp || baseName(transfer.path).hasPrefix(".") else { return sink(.transfer(transfer)) }
        if heldUploads.count >= bounds.transfers {
            // The oldest are stored under the name they were written under. rsync's is temporary:
            // counted, sessions flagged. sftp-server's is most often the final one (a recursive put
            // of many files waits here too), and a rename that comes later is in file activity.
            let keep = bounds.transfers - CorrelatorBounds.slack(bounds.transfers)
            for (old, t) in heldUploads.sorted(by: { $0.value.id < $1.value.id }) where heldUploads.count > keep {
                heldUploads.removeValue(forKey: old)
                sink(.transfer(t))
                guard t.proto == TransferServer.rsync.rawValue else { continue }
                overflows += 1
                updateSession(t.sessionID) { $0.drops = true }
            }
        }
        let held = HeldUpload(tgid: key.tgid, path: transfer.path)
        // The same name written again (a second put): the first upload is final as it is.
        if let earlier = heldUploads.removeValue(forKey: held) { sink(.transfer(earlier)) }
        heldUploads[held] = transfer
    }

    /// An upload renamed by the process that wrote it gets its final name: rsync's and sftp-server's
    /// (held for it, HeldUpload), and internal-sftp's (held until its process ends).
    func renamedUpload(_ key: ProcessKey, from path: String, to newPath: String) {
        if var held = unconfirmedSFTP[key.tgid],
           let i = held.lastIndex(where: { $0.path == path && $0.mode != .read }) {
            held[i].path = newPath
            unconfirmedSFTP[key.tgid] = held
            return
        }
        guard var transfer = heldUploads.removeValue(forKey: HeldUpload(tgid: key.tgid, path: path)) else { return }
        transfer.path = newPath
        sink(.transfer(transfer))
    }

    /// A process of sshd's own code ended without exec: it served internal-sftp, and what it opened
    /// for the client is a transfer (files still open close with it).
    func confirmInternalSFTP(_ key: ProcessKey, _ proc: Proc, atNs wallNs: Int64) {
        var rows = unconfirmedSFTP.removeValue(forKey: key.tgid) ?? []
        for (file, transfer) in openTransfers where file.tgid == key.tgid && awaitsConfirmation(transfer, proc) {
            var t = transfer
            t.closedAtNs = wallNs
            rows.append(t)
        }
        guard let first = rows.first else { return }
        if let open = sessions[first.sessionID], open.transfer == nil {
            open.transfer = "sftp"
            updateSession(first.sessionID) { _ in }
        }
        for t in rows.sorted(by: { $0.id < $1.id }) { sink(.transfer(t)) }
    }

    /// It exec'd: what it read before was sshd's, not the client's.
    func discardUnconfirmedSFTP(_ key: ProcessKey) {
        unconfirmedSFTP.removeValue(forKey: key.tgid)
        let proc = procs[key]
        openTransfers = openTransfers.filter { !($0.key.tgid == key.tgid && awaitsConfirmation($0.value, proc)) }
    }

    func releaseHeldUploads(of key: ProcessKey) {
        guard !heldUploads.isEmpty else { return }
        for (held, transfer) in heldUploads.sorted(by: { $0.value.id < $1.value.id }) where held.tgid == key.tgid {
            heldUploads.removeValue(forKey: held)
            sink(.transfer(transfer))
        }
    }

    /// rsync --server without --sender and scp -t only receive from the client.
    static func onlyReceives(_ info: ExecInfo) -> Bool {
        switch baseName(info.filename) {
        case "rsync": return info.argv.contains("--server") && !info.argv.contains("--sender")
        case "scp": return info.argv.contains("-t") && !info.argv.contains("-f")
        default: return false
        }
    }
}
