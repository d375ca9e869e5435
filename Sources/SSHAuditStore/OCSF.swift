import Foundation
import SSHAuditCore

/// Row versions as OCSF 1.8 events (https://schema.ocsf.io), for SIEMs: auth rows as Authentication
/// (3002), sessions as SSH Activity (4007), commands as Process Activity (1007), file activity as
/// File System Activity (1001), network activity as Network Activity (4001), refusals as Network
/// Activity "Refuse" (4001, activity 5). What OCSF has no attribute of the class for, and the ledger
/// entry, go under `unmapped`. Transfers, session events and channels have no class here:
/// `export --format ocsf` leaves them out (jsonl has them; a channel's commands carry its id).
public enum OCSF {
    public static let schemaVersion = "1.8.0"

    /// The event for `version`, or nil when its table has no OCSF class here. `host`: the device.
    public static func event(_ version: ExportedVersion, host: String) -> JSONObject? {
        switch version.row {
        case let .auth(a): return authentication(a, version, host)
        case let .session(s): return sshActivity(s, version, host)
        case let .command(c): return processActivity(c, version, host)
        case let .file(f): return fileSystemActivity(f, version, host)
        case let .network(n): return networkActivity(n, version, host)
        case let .refusal(r): return refusal(r, version, host)
        case .transfer, .event, .channel: return nil
        }
    }

    /// Category, class and activity (OCSF's type_uid is class_uid * 100 + activity_id), time, metadata.
    private static func base(category: Int, class classUID: Int, activity: Int, severity: Int, timeNs: Int64?,
                             _ v: ExportedVersion) -> JSONObject {
        var e = JSONObject()
        e["class_uid"] = .int(classUID)
        e["category_uid"] = .int(category)
        e["activity_id"] = .int(activity)
        e["type_uid"] = .int(classUID * 100 + activity)
        e["severity_id"] = .int(severity)
        e["time"] = .int(millis(timeNs) ?? 0)
        e["metadata"] = [
            "version": .string(schemaVersion),
            "product": ["name": "sshaudit", "vendor_name": "sshaudit"],
            "log_name": .string(v.table),
            "uid": .string("\(v.table)/\(v.rowID)"),
            "sequence": .int(v.seq),
        ]
        return e
    }

    /// The ledger entry behind the event: a consumer can chain the events as `verify` chains entries.
    private static func ledger(_ v: ExportedVersion) -> JSONValue {
        ["seq": .int(v.seq), "row_hash": .string(v.rowHash), "chain": .string(v.chain),
         "previous_chain": .string(v.previousChain), "altered": .bool(v.altered)]
    }

    private static func authentication(_ a: AuthRow, _ v: ExportedVersion, _ host: String) -> JSONObject {
        // accepted → Success; failed → Failure; a partial step (one factor of several) → Other.
        let status = a.result == "accepted" ? 1 : a.result == "failed" ? 2 : 99
        var e = base(category: 3, class: 3002, activity: 1, severity: status == 2 ? 2 : 1, timeNs: Timestamp.parse(a.at), v)
        // OCSF requires a user; sshd does not always say whose the attempt was (type 0: Unknown).
        e["user"] = a.user.map { ["name": .string($0)] } ?? ["name": "", "type_id": 0]
        e["status_id"] = .int(status)
        e["status"] = .string(a.result)
        e["is_remote"] = true
        e["logon_type_id"] = 10  // Remote Interactive
        e["service"] = ["name": "sshd"]
        e["session"] = ["uid": .string(String(a.sessionID))]
        e["src_endpoint"] = endpoint(a.remoteAddr, a.remotePort)
        var unmapped = common(v, host, keyType: a.keyType, a.keyFingerprint, a.certID, a.certSerial, a.caKeyType, a.caFingerprint)
        unmapped["method"] = a.method.json
        unmapped["submethod"] = a.submethod.json
        unmapped["auth_info"] = a.authInfo.json
        unmapped["addr_mismatch"] = .bool(a.addrMismatch)
        e["unmapped"] = .object(unmapped)
        return e
    }

    private static func sshActivity(_ s: SessionRow, _ v: ExportedVersion, _ host: String) -> JSONObject {
        let ended = s.endedAt != nil || s.endedUnobserved
        let startNs = Timestamp.parse(s.startedAt)
        let endNs = s.endedAt.flatMap(Timestamp.parse)
        var e = base(category: 4, class: 4007, activity: ended ? 2 : 1, severity: 1, timeNs: endNs ?? startNs, v)
        e["start_time"] = millis(startNs).json
        e["end_time"] = millis(endNs).json
        e["src_endpoint"] = endpoint(s.remoteAddr, s.remotePort)
        e["dst_endpoint"] = endpoint(s.localAddr, s.localPort, hostname: host)
        e["auth_type_id"] = .int(authType(s.authMethod))
        if s.bytesIn != nil || s.bytesOut != nil {
            e["traffic"] = ["bytes_in": .int(s.bytesIn ?? 0), "bytes_out": .int(s.bytesOut ?? 0)]
        }
        var unmapped = common(v, host, keyType: s.keyType, s.keyFingerprint, s.certID, s.certSerial, s.caKeyType, s.caFingerprint)
        unmapped["user"] = s.user.json
        unmapped["uid"] = s.uid.json
        unmapped["auth_method"] = s.authMethod.json
        unmapped["tty"] = s.tty.json
        unmapped["authenticated_at"] = s.authenticatedAt.json
        unmapped["exit_code"] = s.exitCode.json
        unmapped["command_count"] = .int(s.commandCount)
        unmapped["kind"] = s.kind.json
        unmapped["sshd_pid"] = .int(s.sshdPid)
        unmapped["sshd_path"] = s.sshdPath.json
        unmapped["sshd_version"] = s.sshdVersion.json
        unmapped["recovered"] = .bool(s.recovered)
        unmapped["drops"] = .bool(s.drops)
        unmapped["truncated_argv"] = .bool(s.truncatedArgv)
        unmapped["ended_unobserved"] = .bool(s.endedUnobserved)
        unmapped["unattributed_events"] = .bool(s.unattributedEvents)
        e["unmapped"] = .object(unmapped)
        return e
    }

    private static func processActivity(_ c: CommandRow, _ v: ExportedVersion, _ host: String) -> JSONObject {
        let startNs = Timestamp.parse(c.startedAt)
        let endNs = c.endedAt.flatMap(Timestamp.parse)
        var e = base(category: 1, class: 1007, activity: endNs == nil ? 1 : 2, severity: 1, timeNs: endNs ?? startNs, v)
        let name = c.filename.split(separator: "/").last.map(String.init) ?? c.filename
        var process = JSONObject()
        process["pid"] = .int(c.pid)
        process["name"] = .string(name)
        process["cmd_line"] = .string(c.argv.joined(separator: " "))
        process["file"] = ["name": .string(name), "path": .string(c.filename), "type_id": 1]  // 1: a regular file
        process["parent_process"] = ["pid": .int(c.ppid)]
        process["user"] = ["uid": .string(String(c.uid))]
        process["created_time"] = millis(startNs).json
        process["terminated_time"] = millis(endNs).json
        process["working_directory"] = c.cwd.json
        e["process"] = .object(process)
        e["actor"] = ["session": ["uid": .string(String(c.sessionID))], "user": ["uid": .string(String(c.uid))]]
        e["device"] = device(host)
        e["exit_code"] = c.exitCode.json
        var unmapped = JSONObject()
        unmapped["ledger"] = ledger(v)
        unmapped["argv"] = .array(c.argv.map(JSONValue.string))
        unmapped["argv_truncated"] = .bool(c.argvTruncated)
        unmapped["parent_command_id"] = c.parentID.json
        unmapped["signal"] = c.signal.json
        unmapped["duration_ms"] = c.durationMs.json
        unmapped["recovered"] = .bool(c.recovered)
        unmapped["channel_id"] = c.channelID.json  // its session channel (ssh multiplexing)
        e["unmapped"] = .object(unmapped)
        return e
    }

    /// One row per (process, command, operation, path): `count` times between first_at and last_at.
    private static func fileSystemActivity(_ f: FileActivityRow, _ v: ExportedVersion, _ host: String) -> JSONObject {
        // Create 1, Update 3, Delete 4, Rename 5, Set Attributes 6 (times, chattr's flags, an extended
        // attribute outside the security and system namespaces), Set Security 7 (permissions, owner, ACLs, capabilities,
        // security labels), Mount 12 (mount, remount: its source, as given, is the file_result), Unmount 13.
        let activity: Int
        switch f.op {
        case "create", "mkdir", "link", "symlink": activity = 1
        case "write", "truncate": activity = 3
        case "unlink", "rmdir": activity = 4
        case "rename": activity = 5
        case "utime", "setflags": activity = 6
        case "setxattr", "removexattr":
            let name = f.newPath ?? ""
            activity = name.hasPrefix("security.") || name.hasPrefix("system.") ? 7 : 6
        case "chmod", "chown": activity = 7
        case "mount", "remount": activity = 12
        case "umount": activity = 13
        default: activity = 99
        }
        let firstNs = Timestamp.parse(f.firstAt), lastNs = Timestamp.parse(f.lastAt)
        var e = base(category: 1, class: 1001, activity: activity, severity: 1, timeNs: lastNs ?? firstNs, v)
        // An attribute's name is the file's xattributes (its value is not recorded: ""), not a file;
        // chattr's flags are one of them, "inode_flags".
        var xattributes: [String: String]?
        switch (f.op, f.newPath) {
        case ("setxattr", let name?), ("removexattr", let name?): xattributes = [name: ""]
        case ("setflags", let flags?): xattributes = ["inode_flags": flags]
        default: xattributes = nil
        }
        e["file"] = file(f.path, op: f.op, xattributes: xattributes)
        if xattributes == nil, let newPath = f.newPath { e["file_result"] = file(newPath, op: f.op) }
        aggregated(&e, v, host, pid: f.pid, uid: f.uid, session: f.sessionID, command: f.commandID, op: f.op, count: f.count,
                   firstNs: firstNs, lastNs: lastNs)
        return e
    }

    /// A path as OCSF's file: its name and type (1 regular file, 2 folder, 7 symbolic link, 0 unknown),
    /// and the extended attributes an operation changed.
    private static func file(_ path: String, op: String, xattributes: [String: String]? = nil) -> JSONValue {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let type: Int
        switch op {
        case "create", "write", "truncate": type = 1
        case "mkdir", "rmdir": type = 2
        case "symlink": type = 7
        default: type = 0
        }
        var object = JSONObject()
        object["name"] = .string(name)
        object["path"] = .string(path)
        object["type_id"] = .int(type)
        if let xattributes {
            var x = JSONObject()
            for (name, value) in xattributes.sorted(by: { $0.key < $1.key }) { x[name] = .string(value) }
            object["xattributes"] = .object(x)
        }
        return .object(object)
    }

    /// One row per (process, command, operation, endpoint). Connect and accept open a connection
    /// (1), a refused connect fails (4), bind and listen wait for connections (7, Listen), a datagram
    /// sent to an address is traffic (6).
    private static func networkActivity(_ n: NetworkRow, _ v: ExportedVersion, _ host: String) -> JSONObject {
        let activity: Int
        switch n.op {
        case "connect", "accept": activity = 1
        case "connect_failed": activity = 4
        case "bind", "listen": activity = 7
        case "send": activity = 6
        default: activity = 99
        }
        let firstNs = Timestamp.parse(n.firstAt), lastNs = Timestamp.parse(n.lastAt)
        var e = base(category: 4, class: 4001, activity: activity, severity: activity == 4 ? 2 : 1, timeNs: lastNs ?? firstNs, v)
        var endpoint = JSONObject()
        endpoint["ip"] = n.addr.json
        endpoint["port"] = n.port.json
        // A unix socket's path (an abstract name starts with @); OCSF wants some name for an endpoint.
        endpoint["name"] = (n.path ?? (n.addr == nil ? "(unnamed \(n.family) socket)" : nil)).json
        // Where the process connected to, or where it waits (bind, listen; an accept's peer is its source).
        let outbound = n.op == "connect" || n.op == "connect_failed" || n.op == "send"
        e[outbound ? "dst_endpoint" : "src_endpoint"] = .object(endpoint)
        e["connection_info"] = ["protocol_name": .string(n.proto), "direction_id": .int(outbound ? 2 : 1)]
        // The process and the machine come with OCSF's host profile, which the event says it applies.
        if case var .object(metadata)? = e["metadata"] {
            metadata["profiles"] = ["host"]
            e["metadata"] = .object(metadata)
        }
        aggregated(&e, v, host, pid: n.pid, uid: n.uid, session: n.sessionID, command: n.commandID, op: n.op, count: n.count,
                   firstNs: firstNs, lastNs: lastNs)
        if case var .object(unmapped)? = e["unmapped"] {
            unmapped["family"] = .string(n.family)
            e["unmapped"] = .object(unmapped)
        }
        return e
    }

    /// A connection the listener accepted and closed before serving it: Network Activity "Refuse"
    /// (5), not Authentication: no credential was ever offered. The connection's source and the
    /// listener's address; the listener process is the actor (OCSF's host profile).
    private static func refusal(_ r: RefusalRow, _ v: ExportedVersion, _ host: String) -> JSONObject {
        var e = base(category: 4, class: 4001, activity: 5, severity: 2, timeNs: Timestamp.parse(r.at), v)
        e["src_endpoint"] = endpoint(r.remoteAddr, r.remotePort)
        e["dst_endpoint"] = endpoint(r.localAddr, r.localPort, hostname: host)
        e["connection_info"] = ["protocol_name": "tcp", "direction_id": 1]  // 1: Inbound
        e["status_id"] = 2  // Failure: the client was not served
        e["status_detail"] = r.detail.json  // sshd's words; the reason is under unmapped
        if case var .object(metadata)? = e["metadata"] {
            metadata["profiles"] = ["host"]
            e["metadata"] = .object(metadata)
        }
        e["actor"] = ["process": ["pid": .int(r.listenerPid)]]
        e["device"] = device(host)
        var unmapped = JSONObject()
        unmapped["ledger"] = ledger(v)
        unmapped["reason"] = .string(r.reason)
        unmapped["listener_pid"] = .int(r.listenerPid)
        unmapped["listener_start_ns"] = .int(r.listenerStartNs)
        e["unmapped"] = .object(unmapped)
        return e
    }

    /// What an aggregated row (file or network activity: one row per process, command, operation and
    /// target) says besides its target: who, where, how often, when, and its ledger entry.
    private static func aggregated(_ e: inout JSONObject, _ v: ExportedVersion, _ host: String, pid: Int64, uid: Int64, session: Int64,
                                   command: Int64?, op: String, count: Int64, firstNs: Int64?, lastNs: Int64?) {
        e["actor"] = actor(pid: pid, uid: uid, session: session)
        e["device"] = device(host)
        e["count"] = .int(count)
        e["start_time"] = millis(firstNs).json
        e["end_time"] = millis(lastNs).json
        var unmapped = JSONObject()
        unmapped["ledger"] = ledger(v)
        unmapped["op"] = .string(op)
        unmapped["command_id"] = command.json
        e["unmapped"] = .object(unmapped)
    }

    private static func actor(pid: Int64, uid: Int64, session: Int64) -> JSONValue {
        ["process": ["pid": .int(pid), "user": ["uid": .string(String(uid))]], "session": ["uid": .string(String(session))],
         "user": ["uid": .string(String(uid))]]
    }

    /// `unmapped` of a login's events: the ledger entry, the device, and the key or certificate.
    private static func common(_ v: ExportedVersion, _ host: String, keyType: String?, _ fingerprint: String?, _ certID: String?,
                               _ serial: String?, _ caKeyType: String?, _ caFingerprint: String?) -> JSONObject {
        var o = JSONObject()
        o["ledger"] = ledger(v)
        o["device"] = device(host)
        o["key_type"] = keyType.json
        o["key_fingerprint"] = fingerprint.json
        o["cert_id"] = certID.json
        o["cert_serial"] = serial.json
        o["ca_key_type"] = caKeyType.json
        o["ca_fingerprint"] = caFingerprint.json
        return o
    }

    private static func device(_ host: String) -> JSONValue { ["hostname": .string(host), "type_id": 1] }  // 1: Server

    private static func endpoint(_ address: String?, _ port: Int64?, hostname: String? = nil) -> JSONValue? {
        var e = JSONObject()
        e["ip"] = address.json
        e["port"] = port.json
        e["hostname"] = hostname.json
        return e == JSONObject() ? nil : .object(e)
    }

    /// sshd's method names as OCSF's SSH authentication types; several factors (`publickey,password`)
    /// are Other (the methods are under `unmapped.auth_method`).
    private static func authType(_ method: String?) -> Int {
        if method?.contains(",") == true { return 99 }
        switch method?.split(separator: "/").first {
        case "publickey": return 6
        case "password": return 5
        case "keyboard-interactive": return 4
        case "hostbased": return 3
        case "gssapi-with-mic", "gssapi-keyex": return 2
        case nil: return 0
        default: return 99
        }
    }

    private static func millis(_ ns: Int64?) -> Int64? { ns.map { $0 / 1_000_000 } }
}
