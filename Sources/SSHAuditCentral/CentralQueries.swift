import Foundation
import SSHAuditStore

/// A row of a fleet query: the row as the host's own `query` prints it, and the host it came from.
/// JSON: the row's keys plus "host".
public struct Hosted<Row: Encodable & Sendable>: Encodable, Sendable {
    public let host: String
    public let row: Row

    public init(host: String, row: Row) { (self.host, self.row) = (host, row) }

    enum Keys: String, CodingKey { case host }

    public func encode(to encoder: Encoder) throws {
        try row.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(host, forKey: .host)
    }
}

/// The read side of the central database: `query`, `show`, `query keys` and `query sources` across
/// hosts, with the local filters and the local rows. Only each row's newest version is read (`latest`);
/// the rows are decoded from the JSON the host's own query printed when it was shipped, so a fleet
/// answer carries exactly the keys and values a local one does. Never writes.
public final class CentralReader {
    let db: PGConnection
    /// The host keys `--host` named (its key, HOSTNAME/MACHINE-ID, or its host name); nil: every host.
    public let hosts: [String]?
    private let decoder = JSONDecoder()

    public init(_ db: PGConnection, host: String?) throws {
        self.db = db
        guard try db.query("SELECT to_regclass('sshaudit_central') IS NOT NULL").first?.first == "t" else {
            throw CentralError("the central database holds nothing shipped yet (sshaudit ship creates it)")
        }
        let layout = try db.query("SELECT max(version) FROM sshaudit_central").first?.first.flatMap { $0 }.flatMap { Int($0) } ?? 0
        guard layout >= CentralSchema.version else {
            throw CentralError("the central database has layout \(layout): run this version's sshaudit ship once to upgrade it")
        }
        if let host {
            let keys = try db.query("SELECT host FROM hosts WHERE host = $1 OR hostname = $1 ORDER BY host", [host]).compactMap { $0[0] }
            guard !keys.isEmpty else { throw CentralError("no host \(host) in the central database") }
            hosts = keys
        } else {
            hosts = nil
        }
    }

    // MARK: - Listings

    public func sessions(_ filter: QueryFilter) throws -> [Hosted<SessionRow>] { try rows(.sessions, filter) }
    public func commands(_ filter: QueryFilter) throws -> [Hosted<CommandRow>] { try rows(.commands, filter) }
    public func authAttempts(_ filter: QueryFilter) throws -> [Hosted<AuthRow>] { try rows(.auth, filter) }
    public func transfers(_ filter: QueryFilter) throws -> [Hosted<TransferRow>] { try rows(.transfers, filter) }
    public func network(_ filter: QueryFilter) throws -> [Hosted<NetworkRow>] { try rows(.network, filter) }

    /// `query refusals`: as the local one, only `from`, `since`, `until` and `limit` apply.
    public func refusals(_ filter: QueryFilter) throws -> [Hosted<RefusalRow>] {
        var only = QueryFilter(sessionID: nil, user: nil, limit: filter.limit)
        (only.from, only.since, only.until) = (filter.from, filter.since, filter.until)
        return try rows(.refusals, only)
    }

    /// `query files`: with --path and --sensitive matched as the local store matches them (fnmatch):
    /// PostgreSQL narrows by regular expressions made from the globs (every symlink or mount row, and
    /// every path SensitivePaths.closerLook catches, passes --sensitive's), and where one is wider than its glob (bracket expressions, escapes) or it is
    /// --sensitive, the globs decide here (SensitivePaths.Matcher), before --limit.
    public func files(_ filter: QueryFilter, _ files: FileActivityFilter) throws -> [Hosted<FileActivityRow>] {
        // --sensitive is decided here always: a symlink's relative target is read from its directory.
        let exact = files.path.map { Self.regex(glob: $0).exact } ?? true && files.sensitive == nil
        var unlimited = filter
        if !exact { unlimited.limit = nil }
        var found: [Hosted<FileActivityRow>] = try rows(.files(files), unlimited)
        if !exact {
            let matcher = files.sensitive.map(SensitivePaths.Matcher.init)
            found = found.filter { hosted in
                (files.path.map { SensitivePaths.matchesGlob(hosted.row, $0) } ?? true)
                    && (matcher.map { $0.matches(hosted.row) } ?? true)
            }
            if let limit = filter.limit { found = Array(found.prefix(limit)) }
        }
        return found
    }

    enum Kind {
        case sessions, commands, auth, transfers, network, refusals
        case files(FileActivityFilter)

        var table: String {
            switch self {
            case .sessions: return "sessions"
            case .commands: return "commands"
            case .auth: return "auth_attempts"
            case .transfers: return "file_transfers"
            case .network: return "network_activity"
            case .files: return "file_activity"
            case .refusals: return "refusals"
            }
        }

        var alias: String {
            switch self {
            case .sessions: return "s"
            case .commands: return "c"
            case .auth: return "a"
            case .transfers: return "f"
            case .network: return "n"
            case .files: return "fa"
            case .refusals: return "r"
            }
        }

        var isSessions: Bool { if case .sessions = self { return true } else { return false } }

        /// The user, address, key and certificate are the row's own (else its session's).
        var ownsIdentity: Bool {
            switch self {
            case .sessions, .auth, .refusals: return true
            default: return false
            }
        }
    }

    /// Parameters of one statement ($1, $2, … in the order bound).
    private struct Statement {
        var conditions: [String] = []
        var parameters: [String?] = []

        mutating func bind(_ value: String) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
    }

    /// The local planner's filters, with the same meaning (Queries.swift), as PostgreSQL conditions.
    func statement(_ kind: Kind, _ filter: QueryFilter) -> (sql: String, parameters: [String?]) {
        var q = Statement()
        let t = kind.alias
        let who = kind.ownsIdentity ? t : "s"
        var joinSession = false
        q.conditions.append("\(t).latest")
        let hostsParameter = hosts.map { q.bind(PGArray.literal($0)) }
        if let hostsParameter { q.conditions.append("\(t).host = ANY(\(hostsParameter)::text[])") }
        if let id = filter.sessionID {
            q.conditions.append("\(kind.isSessions ? "s.id" : "\(t).session_id") = \(q.bind(String(id)))::bigint")
        }
        if let user = filter.user { q.conditions.append(#"\#(who)."user" = \#(q.bind(user))"#); joinSession = true }
        if let key = filter.key { q.conditions.append("\(who).key_fingerprint = \(q.bind(key))"); joinSession = true }
        if let certID = filter.certID { q.conditions.append("\(who).row->>'cert_id' = \(q.bind(certID))"); joinSession = true }
        if let ca = filter.ca { q.conditions.append("\(who).row->>'ca_fingerprint' = \(q.bind(ca))"); joinSession = true }
        if let network = filter.from {
            // Every address in its IPv6 form, IPv4 as ::ffff:a.b.c.d, as IPNetwork compares them.
            q.conditions.append("\(CentralSchema.inet("\(who).remote_addr")) <<= \(q.bind(Self.mappedNetwork(network)))::inet")
            joinSession = true
        }
        // A file or network row overlaps the period (QueryPlanner.spans): its last time is in or after it.
        // A session was open in it (QueryPlanner.openSinceClause): see the end of this function.
        var sessionsSince: String?
        if let since = filter.since {
            let since = q.bind(since) + "::timestamptz"
            if kind.isSessions {
                sessionsSince = since
            } else {
                q.conditions.append("\(t).\(CentralSchema.spanTables.contains(kind.table) ? "last_at" : "at") >= \(since)")
            }
        }
        if let until = filter.until { q.conditions.append("\(t).at < \(q.bind(until))::timestamptz") }
        if filter.incompleteOnly, kind.isSessions {
            q.conditions.append(Self.incomplete("s"))
        }
        if filter.failedOnly {
            switch kind {
            case .sessions: q.conditions.append("s.row->>'authenticated_at' IS NULL")
            case .commands: q.conditions.append("((c.row->>'exit_code')::bigint <> 0 OR c.row->>'signal' IS NOT NULL)")
            case .auth: q.conditions.append("a.result = 'failed'")
            // Connects the kernel refused.
            case .network: q.conditions.append("n.op = 'connect_failed'")
            case .transfers, .files, .refusals: break
            }
        }
        if case let .files(files) = kind {
            if let op = files.op { q.conditions.append("fa.op = \(q.bind(op))") }
            if let glob = files.path {
                let regexes = q.bind(PGArray.literal([Self.regex(glob: glob).pattern]))
                q.conditions.append("(fa.path ~ ANY(\(regexes)::text[]) OR fa.row->>'new_path' ~ ANY(\(regexes)::text[]))")
            }
            if let sensitive = files.sensitive {
                let regexes = q.bind(PGArray.literal(SensitivePaths.expanded(sensitive).map { Self.regex(glob: $0).pattern }
                                                     + [SensitivePaths.closerLook]))
                q.conditions.append("(fa.path ~ ANY(\(regexes)::text[]) OR fa.row->>'new_path' ~ ANY(\(regexes)::text[]) OR fa.op IN ('symlink', 'mount', 'remount'))")
            }
        }
        if let pattern = filter.grep {
            let like = q.bind(Self.likeContaining(pattern))
            switch kind {
            case .commands:
                q.conditions.append("c.command_line LIKE \(like)")
            case .sessions:
                let hostCondition = hostsParameter.map { " AND g.host = ANY(\($0)::text[])" } ?? ""
                q.conditions.append("""
                    (s.host, s.id) IN (SELECT g.host, g.session_id FROM commands AS g
                                       WHERE g.latest AND g.command_line LIKE \(like)\(hostCondition))
                    """)
            case .auth, .transfers, .network, .files, .refusals: break
            }
        }
        if let since = sessionsSince {
            // Sessions open in the period: those begun in it, walked by time from --since (the partitions
            // before it pruned), and those begun before it that ended in or after it or have no end,
            // found by `sessions_by_end` in the partitions before it. An end not seen counts up to the
            // session's last known activity: its own times, its commands'.
            let common = q.conditions.joined(separator: " AND ")
            let before = """
                s.at < \(since) AND (s.ended_at >= \(since) OR (s.ended_at IS NULL AND (s.row->'ended_unobserved' IS DISTINCT FROM 'true'::jsonb
                    OR (s.row->>'authenticated_at')::timestamptz >= \(since)
                    OR EXISTS (SELECT 1 FROM commands AS k WHERE k.latest AND k.host = s.host AND k.session_id = s.id
                               AND (k.at >= \(since) OR (k.row->>'ended_at')::timestamptz >= \(since))))))
                """
            let limit = filter.limit.map { " LIMIT \($0)" } ?? ""
            let sql = """
                SELECT host, row FROM (
                    (SELECT s.host, s.row::text AS row, s.at, s.id FROM sessions AS s WHERE \(common) AND s.at >= \(since)
                     ORDER BY s.at, s.host, s.id\(limit))
                    UNION ALL
                    (SELECT s.host, s.row::text AS row, s.at, s.id FROM sessions AS s WHERE \(common) AND \(before)
                     ORDER BY s.at, s.host, s.id\(limit))
                ) AS s ORDER BY s.at, s.host, s.id\(limit)
                """
            return (sql, q.parameters)
        }
        var sql = "SELECT \(t).host, \(t).row::text FROM \(kind.table) AS \(t)"
        if joinSession, !kind.ownsIdentity {
            sql += " JOIN sessions AS s ON s.latest AND s.host = \(t).host AND s.id = \(t).session_id"
        }
        sql += " WHERE " + q.conditions.joined(separator: " AND ")
        sql += " ORDER BY \(t).at, \(t).host, \(t).id"
        if let limit = filter.limit { sql += " LIMIT \(limit)" }
        return (sql, q.parameters)
    }

    private func rows<Row: Decodable & Encodable & Sendable>(_ kind: Kind, _ filter: QueryFilter) throws -> [Hosted<Row>] {
        let (sql, parameters) = statement(kind, filter)
        return try db.query(sql, parameters).map { r in Hosted(host: r[0] ?? "", row: try decode(Row.self, r[1])) }
    }

    func decode<Row: Decodable>(_ type: Row.Type, _ json: String?) throws -> Row {
        do {
            return try decoder.decode(Row.self, from: Data((json ?? "null").utf8))
        } catch {
            throw CentralError("a shipped row does not read as a \(Row.self): \(error)")
        }
    }

    // MARK: - One session

    /// The session `id` of the host `--host` named, or of the one host that has such a session.
    public func timeline(session id: Int64) throws -> Hosted<SessionTimeline> {
        var q = Statement()
        var sql = "SELECT host, row::text FROM sessions WHERE latest AND id = \(q.bind(String(id)))::bigint"
        if let hosts { sql += " AND host = ANY(\(q.bind(PGArray.literal(hosts)))::text[])" }
        let found = try db.query(sql + " ORDER BY host", q.parameters)
        guard let first = found.first, let host = first[0] else { throw CentralError("no session \(id) in the central database") }
        guard found.count == 1 else {
            let names = found.compactMap { $0[0] }.joined(separator: ", ")
            throw CentralError("session \(id) exists on \(found.count) hosts (\(names)): say which with --host")
        }
        func part<Row: Decodable>(_ table: String, _ type: Row.Type) throws -> [Row] {
            try db.query("SELECT row::text FROM \(table) WHERE latest AND host = $1 AND session_id = $2::bigint ORDER BY at, id",
                         [host, String(id)]).map { try decode(Row.self, $0[0]) }
        }
        let commands = try part("commands", CommandRow.self)
        var timeline = SessionTimeline(
            session: try decode(SessionRow.self, first[1]), auth: try part("auth_attempts", AuthRow.self),
            commands: AuditReader.tree(commands),
            transfers: try part("file_transfers", TransferRow.self), events: try part("session_events", SessionEventRow.self),
            files: try part("file_activity", FileActivityRow.self))
        timeline.network = try part("network_activity", NetworkRow.self)
        // Commands nested under their channels, as local `show` nests them.
        timeline.channels = AuditReader.channelTree(try db.query(
            "SELECT row::text FROM channels WHERE latest AND host = $1 AND session_id = $2::bigint ORDER BY (row->>'seq')::bigint, id",
            [host, String(id)]).map { try decode(ChannelRow.self, $0[0]) }, commands)
        return Hosted(host: host, row: timeline)
    }

    // MARK: - Keys and sources, per host

    /// As `AuditReader.keys`, for each host.
    public func keys(firstSeenSince: String? = nil, certID: String? = nil, ca: String? = nil, limit: Int? = nil) throws -> [Hosted<KeyRow>] {
        var q = Statement()
        q.conditions = ["a.latest", "a.key_fingerprint IS NOT NULL"]
        if let hosts { q.conditions.append("a.host = ANY(\(q.bind(PGArray.literal(hosts)))::text[])") }
        if let certID { q.conditions.append("a.row->>'cert_id' = \(q.bind(certID))") }
        if let ca { q.conditions.append("a.row->>'ca_fingerprint' = \(q.bind(ca))") }
        let having = firstSeenSince.map { "HAVING min(a.row->>'at') >= \(q.bind($0))" } ?? ""
        let rows = try db.query("""
            SELECT a.host, a.key_fingerprint, max(a.row->>'key_type'), min(a.row->>'at'), max(a.row->>'at'),
                   jsonb_agg(DISTINCT a."user")::text, jsonb_agg(DISTINCT a.remote_addr)::text,
                   count(DISTINCT CASE WHEN a.result = 'accepted' THEN a.session_id END),
                   count(*) FILTER (WHERE a.result = 'failed'),
                   a.row->>'cert_id', max(a.row->>'ca_key_type'), a.row->>'ca_fingerprint',
                   jsonb_agg(DISTINCT a.row->>'cert_serial')::text
            FROM auth_attempts AS a WHERE \(q.conditions.joined(separator: " AND "))
            GROUP BY a.host, a.key_fingerprint, a.row->>'ca_fingerprint', a.row->>'cert_id'
            \(having)
            ORDER BY 4, 1\(limit.map { " LIMIT \($0)" } ?? "")
            """, q.parameters)
        return rows.map { r in
            Hosted(host: r[0] ?? "", row: KeyRow(
                keyFingerprint: r[1] ?? "", keyType: r[2], certID: r[9], caKeyType: r[10], caFingerprint: r[11],
                serials: AuditReader.strings(r[12]), firstSeen: r[3] ?? "", lastSeen: r[4] ?? "",
                users: AuditReader.strings(r[5]), sources: AuditReader.strings(r[6]), sessions: Int64(r[7] ?? "") ?? 0,
                failedAttempts: Int64(r[8] ?? "") ?? 0))
        }
    }

    /// As `AuditReader.sources`, for each host.
    public func sources(firstSeenSince: String? = nil, limit: Int? = nil) throws -> [Hosted<SourceRow>] {
        var q = Statement()
        let only = hosts.map { " AND x.host = ANY(\(q.bind(PGArray.literal($0)))::text[])" } ?? ""
        let having = firstSeenSince.map { "HAVING min(at) >= \(q.bind($0))" } ?? ""
        let rows = try db.query("""
            WITH seen AS (
                SELECT x.host, x.remote_addr AS addr, x.row->>'started_at' AS at, NULL::text AS result, NULL::text AS "user",
                       x.id AS session
                FROM sessions AS x WHERE x.latest AND x.remote_addr IS NOT NULL\(only)
                UNION ALL
                SELECT x.host, x.remote_addr, x.row->>'at', x.result, x."user", NULL
                FROM auth_attempts AS x WHERE x.latest AND x.remote_addr IS NOT NULL\(only)
                UNION ALL
                SELECT x.host, s.remote_addr, x.row->>'at', 'invalid_user', x.row->>'detail', NULL
                FROM session_events AS x JOIN sessions AS s ON s.latest AND s.host = x.host AND s.id = x.session_id
                WHERE x.latest AND x.kind = 'invalid_user' AND s.remote_addr IS NOT NULL\(only)
                UNION ALL
                SELECT x.host, x.remote_addr, x.row->>'at', 'refused', NULL, NULL
                FROM refusals AS x WHERE x.latest\(only)
            )
            SELECT host, addr, min(at), max(at), count(*) FILTER (WHERE result = 'accepted'),
                   count(*) FILTER (WHERE result = 'failed'), count(*) FILTER (WHERE result = 'invalid_user'),
                   jsonb_agg(DISTINCT "user")::text, count(session), count(*) FILTER (WHERE result = 'refused')
            FROM seen GROUP BY host, addr
            \(having)
            ORDER BY 3, 1\(limit.map { " LIMIT \($0)" } ?? "")
            """, q.parameters)
        return rows.map { r in
            Hosted(host: r[0] ?? "", row: SourceRow(
                remoteAddr: r[1] ?? "", firstSeen: r[2] ?? "", lastSeen: r[3] ?? "", accepted: Int64(r[4] ?? "") ?? 0,
                failed: Int64(r[5] ?? "") ?? 0, invalidUser: Int64(r[6] ?? "") ?? 0, usersTried: AuditReader.strings(r[7]),
                sessions: Int64(r[8] ?? "") ?? 0, refused: Int64(r[9] ?? "") ?? 0))
        }
    }

    // MARK: - Values

    /// A POSIX regular expression for a glob as fnmatch(3) without flags reads it (`*` and `?` also
    /// match `/`); `exact` when it matches exactly what the glob does. A bracket expression or an
    /// escape makes it match anything (then the glob itself must decide).
    static func regex(glob: String) -> (pattern: String, exact: Bool) {
        var out = "^"
        for ch in glob {
            switch ch {
            case "*": out += ".*"
            case "?": out += "."
            case "\\", "[", "]": return (".*", false)
            case ".", "+", "(", ")", "{", "}", "^", "$", "|": out += "\\" + String(ch)
            default: out.append(ch)
            }
        }
        return (out + "$", true)
    }

    /// A LIKE pattern matching text that contains `text` literally (\ % _ escaped; \ is LIKE's escape).
    static func likeContaining(_ text: String) -> String {
        var out = "%"
        for ch in text {
            if ch == "\\" || ch == "%" || ch == "_" { out.append("\\") }
            out.append(ch)
        }
        return out + "%"
    }

    /// The network in its IPv6 form (an IPv4 network as ::ffff:a.b.c.d/96+n), as PostgreSQL's inet.
    static func mappedNetwork(_ network: IPNetwork) -> String {
        guard network.isIPv4 else { return network.description }
        let b = network.bytes
        return "::ffff:\(b[12]).\(b[13]).\(b[14]).\(b[15])/\(network.prefixLength)"
    }
}
