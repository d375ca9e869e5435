import Foundation
import SSHAuditStore

/// `report --central`: the numbers of `AuditReader.report` for the period [since, until), over every
/// shipped host (or those `--host` named), from each row's newest version. The same definitions as a
/// host's own report (Reports.swift): a login is a session that authenticated, a failed attempt a
/// row with result `failed`, a privileged command one of sudo, su, sudoedit or doas. User names and
/// addresses count once across hosts; sessions and commands name their host. Coverage is not known
/// here (recorder runs are not shipped): `coverage` is absent.
extension CentralReader {
    public func report(since: String, until: String, top: Int = 15, generatedAt: String,
                       sensitive: [String] = SensitivePaths.defaults) throws -> AuditReport {
        var report = AuditReport(since: since, until: until, generatedAt: generatedAt)
        report.coverage = nil
        if let hosts { report.hosts = hosts } else { report.hosts = try db.query("SELECT host FROM hosts ORDER BY host").compactMap { $0[0] } }
        // $1, $2: the period; $3: the hosts (every host when NULL).
        let period: [String?] = [since, until, hosts.map { PGArray.literal($0) }]
        func inPeriod(_ t: String) -> String {
            "\(t).latest AND \(t).at >= $1::timestamptz AND \(t).at < $2::timestamptz AND ($3::text[] IS NULL OR \(t).host = ANY($3::text[]))"
        }
        /// File and network rows that overlap the period (QueryPlanner.spans).
        func overlapsPeriod(_ t: String) -> String {
            "\(t).latest AND \(t).last_at >= $1::timestamptz AND \(t).at < $2::timestamptz AND ($3::text[] IS NULL OR \(t).host = ANY($3::text[]))"
        }
        func number(_ text: String?) -> Int { text.flatMap { Int($0) } ?? 0 }
        let day = "to_char(%@.at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        let authenticated = "s.row->>'authenticated_at' IS NOT NULL"

        // Connections, logins and never-authenticated per day; users and sources of the period.
        var days: [String: AuditReport.Day] = [:]
        for r in try db.query("""
            SELECT \(day.replacingOccurrences(of: "%@", with: "s")), count(*) FILTER (WHERE \(authenticated)),
                   count(*) FILTER (WHERE NOT (\(authenticated)))
            FROM sessions AS s WHERE \(inPeriod("s")) GROUP BY 1
            """, period) {
            let d = r[0] ?? "?"
            days[d] = AuditReport.Day(day: d, logins: number(r[1]), unauthenticated: number(r[2]), failedAttempts: 0)
        }
        let totals = try db.query("""
            SELECT count(*), count(*) FILTER (WHERE \(authenticated)),
                   count(DISTINCT coalesce(s."user", '(unknown)')) FILTER (WHERE \(authenticated)), count(DISTINCT s.remote_addr),
                   count(*) FILTER (WHERE \(Self.incomplete("s")))
            FROM sessions AS s WHERE \(inPeriod("s"))
            """, period).first ?? []
        report.totals.connections = number(totals.first ?? nil)
        report.totals.logins = number(totals.dropFirst(1).first ?? nil)
        report.totals.unauthenticated = report.totals.connections - report.totals.logins
        report.totals.users = number(totals.dropFirst(2).first ?? nil)
        report.totals.sourceAddresses = number(totals.dropFirst(3).first ?? nil)
        report.totals.incompleteSessions = number(totals.dropFirst(4).first ?? nil)
        report.loginsPerUser = try db.query("""
            SELECT coalesce(s."user", '(unknown)') AS u, count(*), count(DISTINCT s.remote_addr),
                   min(s.row->>'started_at'), max(s.row->>'started_at')
            FROM sessions AS s WHERE \(inPeriod("s")) AND \(authenticated)
            GROUP BY 1 ORDER BY 2 DESC, coalesce(s."user", '(unknown)') COLLATE "C" LIMIT \(top)
            """, period).map {
            AuditReport.UserLogins(user: $0[0] ?? "?", logins: number($0[1]), sources: number($0[2]), first: $0[3] ?? "?", last: $0[4] ?? "?")
        }

        // Failed attempts per day and per source; attempts in all; certificates.
        for r in try db.query("""
            SELECT \(day.replacingOccurrences(of: "%@", with: "a")), count(*) FROM auth_attempts AS a
            WHERE \(inPeriod("a")) AND a.result = 'failed' GROUP BY 1
            """, period) {
            let d = r[0] ?? "?"
            days[d, default: AuditReport.Day(day: d, logins: 0, unauthenticated: 0, failedAttempts: 0)].failedAttempts = number(r[1])
        }
        report.days = days.values.sorted { $0.day < $1.day }
        report.totals.failedAttempts = report.days.map(\.failedAttempts).reduce(0, +)
        report.totals.authAttempts = report.totals.failedAttempts + number(try db.query("""
            SELECT count(*) FROM auth_attempts AS a WHERE \(inPeriod("a")) AND a.result IN ('accepted', 'partial')
            """, period).first?.first ?? nil)
        // Failed attempts and refusals per source (a source only refused is listed too), as local.
        report.failedBySource = try db.query("""
            WITH seen AS (
                SELECT coalesce(a.remote_addr, '(unknown)') AS addr, a."user", a.row->>'at' AS at, 'failed' AS kind
                FROM auth_attempts AS a WHERE \(inPeriod("a")) AND a.result = 'failed'
                UNION ALL
                SELECT r.remote_addr, NULL, r.row->>'at', 'refused' FROM refusals AS r WHERE \(inPeriod("r"))
            )
            SELECT x.addr, count(*) FILTER (WHERE x.kind = 'failed'), count(DISTINCT x."user"), min(x.at), max(x.at),
                   (SELECT count(*) FROM session_events AS e JOIN sessions AS s ON s.latest AND s.host = e.host AND s.id = e.session_id
                    WHERE \(inPeriod("e")) AND e.kind = 'invalid_user' AND s.remote_addr = x.addr),
                   count(*) FILTER (WHERE x.kind = 'refused')
            FROM seen AS x GROUP BY x.addr ORDER BY 2 DESC, 7 DESC, x.addr COLLATE "C" LIMIT \(top)
            """, period).map {
            AuditReport.Source(address: $0[0] ?? "?", failedAttempts: number($0[1]), invalidUsers: number($0[5]),
                               usersTried: number($0[2]), first: $0[3] ?? "?", last: $0[4] ?? "?", refused: number($0[6]))
        }
        report.certificates = try db.query("""
            SELECT s.row->>'ca_fingerprint', max(s.row->>'ca_key_type'), s.row->>'cert_id', count(*),
                   jsonb_agg(DISTINCT s."user")::text, min(s.row->>'started_at'), max(s.row->>'started_at')
            FROM sessions AS s WHERE \(inPeriod("s")) AND \(authenticated) AND s.row->>'ca_fingerprint' IS NOT NULL
            GROUP BY 1, 3 ORDER BY 4 DESC, (s.row->>'ca_fingerprint') COLLATE "C", (s.row->>'cert_id') COLLATE "C" LIMIT \(top)
            """, period).map {
            AuditReport.Certificate(caFingerprint: $0[0] ?? "?", caKeyType: $0[1], certID: $0[2], logins: number($0[3]),
                                    users: AuditReader.strings($0[4]), first: $0[5] ?? "?", last: $0[6] ?? "?")
        }

        // Commands per program; privileged commands (the same programs as Reports.swift's condition).
        var runsPerFile: [String: Int] = [:]
        for r in try db.query("SELECT c.filename, count(*) FROM commands AS c WHERE \(inPeriod("c")) GROUP BY 1", period) {
            runsPerFile[r[0] ?? "?", default: 0] += number(r[1])
        }
        report.totals.commands = runsPerFile.values.reduce(0, +)
        report.topPrograms = AuditReader.topPrograms(runsPerFile, top: top)
        let privileged = "c.filename ~ '/(sudo|su|sudoedit|doas)$'"
        var byUser: [String: Int] = [:]
        for r in try db.query("""
            SELECT coalesce(s."user", '(unknown)'), count(*) FROM commands AS c
            JOIN sessions AS s ON s.latest AND s.host = c.host AND s.id = c.session_id
            WHERE \(inPeriod("c")) AND \(privileged) GROUP BY 1
            """, period) {
            byUser[r[0] ?? "?"] = number(r[1])
        }
        report.totals.privilegedCommands = byUser.values.reduce(0, +)
        report.privilegedByUser = byUser.map { AuditReport.UserCount(user: $0.key, count: $0.value) }
            .sorted { ($0.count, $1.user) > ($1.count, $0.user) }.prefix(top).map { $0 }
        report.privileged = try db.query("""
            SELECT c.host, c.row::text, s."user" FROM commands AS c
            JOIN sessions AS s ON s.latest AND s.host = c.host AND s.id = c.session_id
            WHERE \(inPeriod("c")) AND \(privileged) ORDER BY c.at DESC, c.host, c.id DESC LIMIT \(top)
            """, period).map { r in
            let c = try decode(CommandRow.self, r[1])
            return AuditReport.Privileged(commandID: c.id, sessionID: c.sessionID, user: r[2], at: c.startedAt, exitCode: c.exitCode,
                                          signal: c.signal, argv: c.argv, host: r[0])
        }

        // Changes to sensitive paths: PostgreSQL narrows by regular expressions made from the globs
        // (every symlink or mount passes: its target or source is read here, as does every path
        // SensitivePaths.closerLook catches), SensitivePaths.Matcher (the local test, fnmatch) decides.
        let regexes = PGArray.literal(SensitivePaths.expanded(sensitive).map { Self.regex(glob: $0).pattern } + [SensitivePaths.closerLook])
        let matcher = SensitivePaths.Matcher(sensitive)
        // Every candidate of the period is read, to count them all (the report's "N of M").
        var sensitiveRows: [FileActivityRow] = []
        var sensitiveTotal = 0
        var after: (at: String, host: String, id: String)? = nil
        while true {
            var parameters = period + [regexes]
            var page = ""
            if let after {
                parameters += [after.at, after.host, after.id]
                page = " AND (f.at, f.host, f.id) > ($5::timestamptz, $6, $7::bigint)"
            }
            let found = try db.query("""
                SELECT f.host, f.row::text, f.at::text, f.id FROM file_activity AS f
                WHERE \(overlapsPeriod("f")) AND (f.path ~ ANY($4::text[]) OR f.row->>'new_path' ~ ANY($4::text[]) OR f.op IN ('symlink', 'mount', 'remount'))\(page)
                ORDER BY f.at, f.host, f.id LIMIT 500
                """, parameters)
            for r in found {
                var row = try decode(FileActivityRow.self, r[1])
                guard matcher.matches(row) else { continue }
                sensitiveTotal += 1
                guard sensitiveRows.count < top else { continue }
                row.host = r[0]
                sensitiveRows.append(row)
            }
            guard found.count == 500, let last = found.last else { break }
            after = (last[2] ?? "", last[0] ?? "", last[3] ?? "")
        }
        report.sensitiveFiles = sensitiveRows
        report.sensitiveFilesTotal = sensitiveTotal

        // Network activity by endpoint over the hosts, listeners first (NetworkRows.swift's order).
        report.network = try db.query("""
            SELECT n.row->>'op', n.row->>'family', n.row->>'proto', n.row->>'addr', n.row->'port', n.row->>'path',
                   count(DISTINCT (n.host, n.session_id)), jsonb_agg(DISTINCT s."user")::text, sum((n.row->>'count')::bigint),
                   min(n.row->>'first_at'), max(n.row->>'last_at')
            FROM network_activity AS n JOIN sessions AS s ON s.latest AND s.host = n.host AND s.id = n.session_id
            WHERE \(overlapsPeriod("n"))
            GROUP BY 1, 2, 3, 4, 5, 6
            ORDER BY CASE n.row->>'op' WHEN 'listen' THEN 0 WHEN 'accept' THEN 1 WHEN 'bind' THEN 2 WHEN 'connect_failed' THEN 3 ELSE 4 END,
                     9 DESC, 10, (n.row->>'op') COLLATE "C", (n.row->>'family') COLLATE "C", (n.row->>'proto') COLLATE "C",
                     coalesce(n.row->>'addr', '') COLLATE "C", coalesce(n.row->'port', '-1'::jsonb), coalesce(n.row->>'path', '') COLLATE "C"
            LIMIT \(top)
            """, period).map {
            NetworkEndpoint(op: $0[0] ?? "?", family: $0[1] ?? "?", proto: $0[2] ?? "?", addr: $0[3],
                            port: $0[4].flatMap { Int64($0) }, path: $0[5], sessions: number($0[6]),
                            users: AuditReader.strings($0[7]), count: Int64($0[8] ?? "") ?? 0, first: $0[9] ?? "?", last: $0[10] ?? "?")
        }

        // Sessions begun before the period and open in it (the fleet's `query sessions --since` adds them).
        var fromBefore = QueryFilter(since: since, until: since)
        let all = statement(.sessions, fromBefore)
        report.totals.sessionsFromBefore = number(try db.query("SELECT count(*) FROM (\(all.sql)) AS b", all.parameters).first?.first ?? nil)
        fromBefore.limit = top
        report.sessionsFromBefore = try sessions(fromBefore).map { AuditReport.OpenSession(session: $0.row, host: $0.host) }

        // Sessions without an end, whenever they started.
        let open = "s.latest AND s.row->>'ended_at' IS NULL AND s.row->'ended_unobserved' = 'false'::jsonb AND ($1::text[] IS NULL OR s.host = ANY($1::text[]))"
        let hostsOnly: [String?] = [hosts.map { PGArray.literal($0) }]
        report.totals.openSessions = number(try db.query("SELECT count(*) FROM sessions AS s WHERE \(open)", hostsOnly).first?.first ?? nil)
        report.openSessions = try db.query("""
            SELECT s.host, s.row::text FROM sessions AS s WHERE \(open) ORDER BY s.at, s.host, s.id LIMIT \(top)
            """, hostsOnly).map { AuditReport.OpenSession(session: try decode(SessionRow.self, $0[1]), host: $0[0]) }
        return report
    }

    /// Sessions whose record may miss something, as `query sessions --incomplete` means it.
    static func incomplete(_ t: String) -> String {
        "(" + ["recovered", "drops", "truncated_argv", "ended_unobserved", "unattributed_events"]
            .map { "\(t).row->'\($0)' = 'true'::jsonb" }.joined(separator: " OR ") + ")"
    }
}
