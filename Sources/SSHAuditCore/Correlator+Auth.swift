import Foundation

/// sshd's log lines: authentication attempts, what they say about a session, and its events.
extension Correlator {
    func authenticate(_ sessionID: Int64, uid: UInt32, wallNs: Int64) {
        guard let open = sessions[sessionID], open.record.authenticatedAtNs == nil else { return }
        let (name, inside) = identify(hostUID: uid, open.namespace?.value, loggedUser: open.loggedUser,
                                      pids: [open.record.listenerPid, open.record.sshdPid])
        updateSession(sessionID) {
            $0.uid = uid
            $0.uidInside = inside
            $0.user = name
            $0.authenticatedAtNs = wallNs
        }
        // sshd logged nothing usable (LogLevel QUIET, or the line came before the recorder): the
        // process tree still shows the success; the method stays unknown.
        if !open.acceptLogged {
            emitAuth(sessionID, atNs: wallNs, user: name, remote: open.record.remote, method: nil, result: .accepted)
        }
    }

    func handleLog(_ key: ProcessKey, text: String, wallNs: Int64) {
        if procs[key]?.role == .listener { return listenerLog(key, text: text) }
        guard let proc = lookup(key), proc.role == .monitor, let sessionID = proc.session,
              let open = sessions[sessionID],
              let line = AuthLogParser.parse(text, connection: open.record.remote) else { return }
        let unauthenticated = open.record.authenticatedAtNs == nil && !open.acceptLogged
        switch line.result {
        case .disconnected, .tooManyFailures:
            // One end per connection, and only for connections that never authenticated.
            guard unauthenticated, !open.disconnectLogged else { return }
            open.disconnectLogged = true
            emitEvent(sessionID, atNs: wallNs, kind: line.result == .disconnected ? .closedBeforeAuth : .tooManyFailures,
                      detail: line.user)
            return
        case .invalidUser:
            guard unauthenticated else { return }
            emitEvent(sessionID, atNs: wallNs, kind: .invalidUser, detail: line.user)
            return
        case .partial:
            if let methodText = line.methodText { open.factors = (open.factors ?? []) + [methodText] }
            if let fingerprint = line.keyFingerprint {
                open.factorKey = AuthKey(type: line.keyType, fingerprint: fingerprint, certificate: line.certificate)
            }
        case .accepted:
            open.acceptLogged = true
            open.loggedUser = line.user
            // Every factor in order; the key of the last factor that had one (the accepted one's first).
            let methods = (open.factors ?? []) + (line.methodText.map { [$0] } ?? [])
            let key = line.keyFingerprint.map { AuthKey(type: line.keyType, fingerprint: $0, certificate: line.certificate) }
                ?? open.factorKey
            updateSession(sessionID) {
                $0.authMethod = methods.isEmpty ? nil : methods.joined(separator: ",")
                $0.keyFingerprint = key?.fingerprint
                $0.keyType = key?.type
                $0.certificate = key?.certificate
            }
        case .failed:
            break
        }
        // The address is the connection's as the kernel saw it accepted, never the line's.
        emitAuth(sessionID, atNs: wallNs, user: line.user, remote: open.record.remote, method: line.method,
                 result: line.result, line: line)
    }

    /// One credential tried (accepted, failed, partial), or the tree's own finding of a success.
    func emitAuth(_ sessionID: Int64, atNs: Int64, user: String?, remote: Endpoint?, method: String?,
                          result: AuthLine.Result, line: AuthLine? = nil) {
        let id = nextIDs.auth
        nextIDs.auth += 1
        sink(.auth(AuthRecord(id: id, sessionID: sessionID, atNs: atNs, user: user, remote: remote, method: method,
                              result: result, keyType: line?.keyType, keyFingerprint: line?.keyFingerprint,
                              addrMismatch: line?.addrMismatch ?? false, submethod: line?.submethod,
                              certificate: line?.certificate, info: line?.info)))
    }

    /// A fact of the connection (session_events), such as how one that never authenticated ended.
    func emitEvent(_ sessionID: Int64, atNs: Int64, kind: SessionEventRecord.Kind, targetHost: String? = nil,
                           targetPort: UInt16? = nil, detail: String? = nil) {
        let id = nextIDs.event
        nextIDs.event += 1
        sink(.sessionEvent(SessionEventRecord(id: id, sessionID: sessionID, atNs: atNs, kind: kind,
                                              targetHost: targetHost, targetPort: targetPort, detail: detail)))
    }
}
