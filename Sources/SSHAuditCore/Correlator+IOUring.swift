extension Correlator {
    /// A ring of a session's process, reported when its owner exited: one session event with its
    /// counts. sshd's own processes and processes outside sessions have none (the kernel follows
    /// only rings a session's process created).
    func noteIOUring(_ key: ProcessKey, _ use: IOUringUse, wallNs: Int64) {
        guard let proc = lookup(key), let sessionID = proc.session else { return }
        emitEvent(sessionID, atNs: wallNs, kind: .ioUring, detail: use.detail)
    }

    /// A session's process's 32-bit system calls (CompatCalls): one session event.
    func noteCompatCalls(_ key: ProcessKey, _ calls: CompatCalls, wallNs: Int64) {
        guard let proc = lookup(key), let sessionID = proc.session else { return }
        emitEvent(sessionID, atNs: wallNs, kind: .compatCalls, detail: calls.detail)
    }
}
