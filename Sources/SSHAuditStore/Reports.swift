import Foundation
import GRDB
import SSHAuditCore

/// The numbers behind `sshaudit report`, for the period [since, until). Each part reads only the rows
/// of the period, through an index in time order; the commands (the most rows) are counted on a
/// second connection while the rest is read, so the two halves use both cores.
public struct AuditReport: Encodable, Sendable {
    public struct Totals: Encodable, Sendable {
        public var connections = 0
        public var logins = 0
        public var unauthenticated = 0
        public var users = 0
        public var sourceAddresses = 0
        public var authAttempts = 0
        public var failedAttempts = 0
        public var commands = 0
        public var privilegedCommands = 0
        public var openSessions = 0
        /// Sessions begun before the period and open in it (ended in or after it, or still open).
        public var sessionsFromBefore = 0
        /// Sessions of the period whose record may miss something (recovered, kernel drops, cut argv,
        /// end not seen, unattributed events); connections minus these are complete.
        public var incompleteSessions = 0

        enum CodingKeys: String, CodingKey {
            case connections, logins, unauthenticated, users, commands
            case incompleteSessions = "incomplete_sessions"
            case sourceAddresses = "source_addresses", authAttempts = "auth_attempts"
            case failedAttempts = "failed_attempts", privilegedCommands = "privileged_commands"
            case openSessions = "open_sessions", sessionsFromBefore = "sessions_from_before"
        }
    }

    public struct UserLogins: Encodable, Sendable, Equatable {
        public var user: String
        public var logins: Int
        public var sources: Int
        public var first: String
        public var last: String

        public init(user: String, logins: Int, sources: Int, first: String, last: String) {
            (self.user, self.logins, self.sources, self.first, self.last) = (user, logins, sources, first, last)
        }
    }

    public struct Day: Encodable, Sendable, Equatable {
        public var day: String
        public var logins: Int
        public var unauthenticated: Int
        public var failedAttempts: Int

        public init(day: String, logins: Int, unauthenticated: Int, failedAttempts: Int) {
            (self.day, self.logins, self.unauthenticated, self.failedAttempts) = (day, logins, unauthenticated, failedAttempts)
        }

        enum CodingKeys: String, CodingKey {
            case day, logins, unauthenticated
            case failedAttempts = "failed_attempts"
        }
    }

    public struct Source: Encodable, Sendable, Equatable {
        public var address: String
        public var failedAttempts: Int
        public var invalidUsers: Int
        public var usersTried: Int
        /// Connections its listener refused before serving them (MaxStartups, PerSourcePenalties).
        public var refused: Int
        public var first: String
        public var last: String

        public init(address: String, failedAttempts: Int, invalidUsers: Int, usersTried: Int, first: String, last: String,
                    refused: Int = 0) {
            (self.address, self.failedAttempts, self.invalidUsers, self.usersTried) = (address, failedAttempts, invalidUsers, usersTried)
            (self.first, self.last, self.refused) = (first, last, refused)
        }

        enum CodingKeys: String, CodingKey {
            case address, first, last, refused
            case failedAttempts = "failed_attempts", invalidUsers = "invalid_users", usersTried = "users_tried"
        }
    }

    /// Logins with an OpenSSH certificate, per CA and key ID (the identity the CA signed).
    public struct Certificate: Encodable, Sendable, Equatable {
        public var caFingerprint: String
        @Nullable public var caKeyType: String?
        @Nullable public var certID: String?
        public var logins: Int
        public var users: [String]
        public var first: String
        public var last: String

        public init(caFingerprint: String, caKeyType: String?, certID: String?, logins: Int, users: [String], first: String, last: String) {
            (self.caFingerprint, self.logins, self.users, self.first, self.last) = (caFingerprint, logins, users, first, last)
            self.caKeyType = caKeyType
            self.certID = certID
        }

        enum CodingKeys: String, CodingKey {
            case logins, users, first, last
            case caFingerprint = "ca_fingerprint", caKeyType = "ca_key_type", certID = "cert_id"
        }
    }

    public struct Program: Encodable, Sendable, Equatable {
        public var program: String
        public var runs: Int

        public init(program: String, runs: Int) { (self.program, self.runs) = (program, runs) }
    }

    public struct Privileged: Encodable, Sendable, Equatable {
        public var commandID: Int64
        public var sessionID: Int64
        @Nullable public var user: String?
        public var at: String
        @Nullable public var exitCode: Int64?
        @Nullable public var signal: Int64?
        public var argv: [String]
        /// In a fleet report (`--central`): the host of the session; absent in a host's own report.
        public var host: String?

        public init(commandID: Int64, sessionID: Int64, user: String?, at: String, exitCode: Int64?, signal: Int64?, argv: [String],
                    host: String? = nil) {
            (self.commandID, self.sessionID, self.at, self.argv, self.host) = (commandID, sessionID, at, argv, host)
            self.user = user
            self.exitCode = exitCode
            self.signal = signal
        }

        enum CodingKeys: String, CodingKey {
            case user, at, argv, signal, host
            case commandID = "command_id", sessionID = "session_id", exitCode = "exit_code"
        }
    }

    public struct UserCount: Encodable, Sendable, Equatable {
        public var user: String
        public var count: Int

        public init(user: String, count: Int) { (self.user, self.count) = (user, count) }
    }

    /// A session still open, or open in the period from before it; in a fleet report with its host
    /// (JSON: the session's keys plus "host").
    public struct OpenSession: Encodable, Sendable {
        public var session: SessionRow
        public var host: String?

        public init(session: SessionRow, host: String? = nil) { (self.session, self.host) = (session, host) }

        enum Keys: String, CodingKey { case host }

        public func encode(to encoder: Encoder) throws {
            try session.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encodeIfPresent(host, forKey: .host)
        }
    }

    /// Whether the period was watched: the recorder runs that overlap it, the time no run covered,
    /// and what those runs lost. A report over unwatched time must say so.
    public struct Coverage: Encodable, Sendable, Equatable {
        public struct Gap: Encodable, Sendable, Equatable {
            public var from: String
            public var to: String
        }
        public var runs = 0
        /// Runs that ended without a clean stop (killed, crashed, machine down).
        public var uncleanRuns = 0
        public var ringDrops: Int64 = 0
        public var trackFailures: Int64 = 0
        public var unattributedEvents: Int64 = 0
        /// Lost at the recorder's own bounds; processes found gone without an exit event.
        public var overflows: Int64 = 0
        public var unobservedExits: Int64 = 0
        /// Seconds of the period (up to the report's generation) that no run covered.
        public var notRecordingSeconds: Double = 0
        /// Those stretches, oldest first (at most `top`).
        public var gaps: [Gap] = []

        enum CodingKeys: String, CodingKey {
            case runs, gaps
            case uncleanRuns = "unclean_runs", ringDrops = "ring_drops", trackFailures = "track_failures"
            case unattributedEvents = "unattributed_events", notRecordingSeconds = "not_recording_seconds"
            case overflows, unobservedExits = "unobserved_exits"
        }
    }

    public var since: String
    public var until: String
    public var generatedAt: String
    public var totals = Totals()
    public var loginsPerUser: [UserLogins] = []
    public var days: [Day] = []
    public var failedBySource: [Source] = []
    /// The CAs and key IDs of the period's logins, most used first (at most `top`).
    public var certificates: [Certificate] = []
    public var topPrograms: [Program] = []
    public var privilegedByUser: [UserCount] = []
    /// The latest privileged commands of the period, newest first.
    public var privileged: [Privileged] = []
    /// Sessions without an end, whenever they started (not only in the period), oldest first.
    public var openSessions: [OpenSession] = []
    /// Sessions begun before the period and open in it, as `query sessions --since` adds them (a
    /// login made before the period and kept through it: its logins are not the period's), oldest
    /// first (at most `top`).
    public var sessionsFromBefore: [OpenSession] = []
    /// Sessions' network activity of the period by endpoint, listeners first (NetworkRows.swift).
    public var network: [NetworkEndpoint] = []
    /// From the hosts' recorder runs; nil in a fleet report (`--central`): recorder runs are not
    /// shipped, each host's own `report` and `status` tell its coverage.
    public var coverage: Coverage? = Coverage()
    /// In a fleet report: the hosts it covers.
    public var hosts: [String]?
    /// Changes to sensitive paths (`SensitivePaths`) in the period, oldest first (at most `top`).
    public var sensitiveFiles: [FileActivityRow] = []
    /// How many there are in the period: more than `sensitiveFiles` holds when the list was cut.
    public var sensitiveFilesTotal = 0
    /// Sessions' io_uring use in the period (session events of kind `io_uring`), oldest first (at
    /// most `top`); nil in a fleet report.
    public var ioUring: [SessionEventRow]?
    /// Sessions' 32-bit system calls in the period (session events of kind `compat_calls`), likewise.
    public var compatCalls: [SessionEventRow]?

    public init(since: String, until: String, generatedAt: String) {
        (self.since, self.until, self.generatedAt) = (since, until, generatedAt)
    }

    enum CodingKeys: String, CodingKey {
        case since, until, totals, days, privileged, coverage, certificates, hosts, network
        case sensitiveFiles = "sensitive_files", sensitiveFilesTotal = "sensitive_files_total", ioUring = "io_uring", compatCalls = "compat_calls"
        case generatedAt = "generated_at", loginsPerUser = "logins_per_user", failedBySource = "failed_by_source"
        case topPrograms = "top_programs", privilegedByUser = "privileged_by_user", openSessions = "open_sessions"
        case sessionsFromBefore = "sessions_from_before"
    }
}

/// The partial index commands_privileged (0005) holds exactly the rows of this condition; a query
/// must repeat it word for word for SQLite to use that index.
let privilegedCondition = "filename GLOB '*/sudo' OR filename GLOB '*/su' OR filename GLOB '*/sudoedit' OR filename GLOB '*/doas'"

extension AuditReader {
    /// Another read-only connection to the same file (for reading in parallel).
    func secondConnection() throws -> DatabaseQueue {
        try DatabaseQueue(path: path, configuration: Self.configuration())
    }

    /// `top` bounds each list (users, sources, programs, privileged commands, open sessions). The
    /// parts run at the same time on their own connections.
    public func report(since: String, until: String, top: Int = 15, generatedAt: String) throws -> AuditReport {
        var report = AuditReport(since: since, until: until, generatedAt: generatedAt)
        let schema = self.schema
        let authPart = ResultBox<AuditReport>()
        let commandPart = ResultBox<AuditReport>()
        let authConnection = try secondConnection(), commandConnection = try secondConnection()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            authPart.set(Result {
                var r = AuditReport(since: since, until: until, generatedAt: generatedAt)
                try authConnection.read { db in try Self.authPart(db, schema: schema, &r, top: top) }
                return r
            })
        }
        DispatchQueue.global().async(group: group) {
            commandPart.set(Result {
                var r = AuditReport(since: since, until: until, generatedAt: generatedAt)
                try commandConnection.read { db in
                    let counted = try Self.countPrograms(db, schema: schema, since: since, until: until, top: top)
                    r.totals.commands = counted.count
                    r.topPrograms = counted.programs
                    try Self.privilegedPart(db, schema: schema, &r, top: top)
                }
                return r
            })
        }
        try read { db in
            try Self.sessionPart(db, &report, top: top)
            report.openSessions = try Row.fetchAll(db, sql: """
                SELECT * FROM sessions\(has("sessions_open") ? " INDEXED BY sessions_open" : "") WHERE ended_at IS NULL
                AND ended_unobserved = 0 ORDER BY started_at, id LIMIT \(top)
                """).map { AuditReport.OpenSession(session: try SessionRow(row: $0)) }
            report.totals.openSessions = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM sessions WHERE ended_at IS NULL AND ended_unobserved = 0
                """) ?? 0
            // Begun before the period (until = since), open in it: the sessions a period adds from before.
            let fromBefore = planner(.sessions, QueryFilter(limit: top, since: since, until: since), db)
            report.sessionsFromBefore = try fromBefore.rows().map { AuditReport.OpenSession(session: try SessionRow(row: $0)) }
            report.totals.sessionsFromBefore = try fromBefore.count()
            report.totals.incompleteSessions = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM sessions WHERE started_at >= ? AND started_at < ?
                AND (recovered = 1 OR drops = 1 OR truncated_argv = 1 OR ended_unobserved = 1 OR unattributed_events = 1)
                """, arguments: [report.since, report.until]) ?? 0
            report.coverage = try Self.coverage(db, since: since, until: until, now: generatedAt, top: top)
            report.network = try Self.networkPart(db, schema: schema, since: since, until: until, top: top)
        }
        group.wait()
        let auth = try authPart.get(), commands = try commandPart.get()
        report.totals.authAttempts = auth.totals.authAttempts
        report.totals.failedAttempts = auth.totals.failedAttempts
        report.failedBySource = auth.failedBySource
        report.certificates = auth.certificates
        var days = Dictionary(uniqueKeysWithValues: report.days.map { ($0.day, $0) })
        for day in auth.days {
            days[day.day, default: AuditReport.Day(day: day.day, logins: 0, unauthenticated: 0, failedAttempts: 0)].failedAttempts = day.failedAttempts
        }
        report.days = days.values.sorted { $0.day < $1.day }
        report.totals.commands = commands.totals.commands
        report.topPrograms = commands.topPrograms
        report.totals.privilegedCommands = commands.totals.privilegedCommands
        report.privilegedByUser = commands.privilegedByUser
        report.privileged = commands.privileged
        return report
    }

    func has(_ name: String) -> Bool { schema.contains(name) }

    /// How a live recorder shows in recorder_runs: not stopped cleanly, its last heartbeat (every 5 s)
    /// recent. It covers the time up to now.
    static let liveHeartbeatNs: Int64 = 30_000_000_000

    /// The runs overlapping [since, until) and the stretches of it (up to `now`) that none covered.
    static func coverage(_ db: Database, since: String, until: String, now: String, top: Int) throws -> AuditReport.Coverage {
        var coverage = AuditReport.Coverage()
        guard let startNs = Timestamp.parse(since), let untilNs = Timestamp.parse(until),
              let nowNs = Timestamp.parse(now) else { return coverage }
        let endNs = min(untilNs, nowNs)
        let lastRun = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM recorder_runs")
        // A run is [started_at, stopped_at]; a crashed run's stopped_at is its last heartbeat.
        let rows = try Row.fetchAll(db, sql: """
            SELECT * FROM recorder_runs WHERE started_at < ? AND (stopped_at IS NULL OR stopped_at >= ?) ORDER BY started_at
            """, arguments: [until, since])
        var covered: [(Int64, Int64)] = []
        var endOfRun: [Int64: Int64] = [:]
        for row in rows {
            let id: Int64 = row["id"]
            let clean: Bool = row["clean_exit"]
            guard let runStart = Timestamp.parse(row["started_at"]) else { continue }
            var runEnd = (row["stopped_at"] as String?).flatMap(Timestamp.parse) ?? runStart
            if id == lastRun, !clean, nowNs - runEnd <= liveHeartbeatNs { runEnd = nowNs }
            coverage.runs += 1
            if !clean, !(id == lastRun && runEnd == nowNs) { coverage.uncleanRuns += 1 }
            coverage.ringDrops += row["ring_drops"]
            coverage.trackFailures += row["track_failures"]
            coverage.unattributedEvents += row["unattributed_events"] ?? 0
            coverage.overflows += row["overflows"] ?? 0
            coverage.unobservedExits += row["unobserved_exits"] ?? 0
            endOfRun[id] = runEnd
            // Resumed from a killed run: the kernel recorded the time between them.
            if let previous = row["resumed_from"] as Int64?, let previousEnd = endOfRun[previous], previousEnd < runStart {
                covered.append((previousEnd, runStart))
            }
            covered.append((runStart, runEnd))
        }
        // Walk the period in time order: whatever lies before the next run's start is a gap.
        var cursor = startNs
        var gapNs: Int64 = 0
        func gap(to end: Int64) {
            guard end > cursor else { return }
            gapNs += end - cursor
            if coverage.gaps.count < top {
                coverage.gaps.append(.init(from: Timestamp.iso(ns: cursor), to: Timestamp.iso(ns: end)))
            }
        }
        for (runStart, runEnd) in covered.sorted(by: { $0.0 < $1.0 }) where runStart < endNs {
            gap(to: runStart)
            cursor = max(cursor, runEnd)
        }
        gap(to: endNs)
        coverage.notRecordingSeconds = Double(gapNs) / 1e9
        return coverage
    }

    /// Connections, logins per user and per day: one pass over the period's sessions, in time order.
    private static func sessionPart(_ db: Database, _ report: inout AuditReport, top: Int) throws {
        struct PerUser { var name: String; var logins = 0; var sources = Set<String>(); var first: String; var last: String }
        var userIndex: [String: Int] = [:]
        var users: [PerUser] = []
        var sources = Set<String>()
        var days: [AuditReport.Day] = []
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT user, remote_addr, started_at, authenticated_at IS NOT NULL FROM sessions INDEXED BY sessions_started_at
            WHERE started_at >= ? AND started_at < ? ORDER BY started_at
            """, arguments: [report.since, report.until])
        while let row = try cursor.next() {
            let address: String? = row[1]
            let started: String = row[2]
            let authenticated: Bool = row[3]
            let day = started.prefix(10)
            if days.last.map({ $0.day != day }) ?? true {
                days.append(AuditReport.Day(day: String(day), logins: 0, unauthenticated: 0, failedAttempts: 0))
            }
            report.totals.connections += 1
            if let address { sources.insert(address) }
            guard authenticated else { days[days.count - 1].unauthenticated += 1; continue }
            days[days.count - 1].logins += 1
            let name: String = row[0] ?? "(unknown)"
            let i: Int
            if let known = userIndex[name] { i = known } else {
                i = users.count
                userIndex[name] = i
                users.append(PerUser(name: name, first: started, last: started))
            }
            users[i].logins += 1
            users[i].last = started
            if let address { users[i].sources.insert(address) }
        }
        report.totals.logins = users.map(\.logins).reduce(0, +)
        report.totals.unauthenticated = report.totals.connections - report.totals.logins
        report.totals.users = users.count
        report.totals.sourceAddresses = sources.count
        report.loginsPerUser = users.sorted { ($0.logins, $1.name) > ($1.logins, $0.name) }.prefix(top).map {
            AuditReport.UserLogins(user: $0.name, logins: $0.logins, sources: $0.sources.count, first: $0.first, last: $0.last)
        }
        report.days = days
    }

    /// Failed attempts per source address (the top ones) and per day: one pass over the covering
    /// index of failed attempts, in time order (so days come one after the other, and a source's
    /// first and last attempts are its first and last rows); the users each top source tried and its
    /// invalid-user connections are counted afterwards, for those sources only. A failed attempt is a
    /// credential refused, one per sshd `Failed …` line (`result = 'failed'`): invalid users and
    /// connections closed before authenticating are facts of the connection (session_events).
    private static func authPart(_ db: Database, schema: Set<String>, _ report: inout AuditReport, top: Int) throws {
        let index = schema.contains("auth_attempts_failed") ? " INDEXED BY auth_attempts_failed" : ""
        let args: StatementArguments = [report.since, report.until]
        struct Source { var address: String; var attempts = 0; var first: Int64; var last: Int64 }
        var sourceIndex: [String: Int] = [:]
        var sources: [Source] = []
        var days: [AuditReport.Day] = []
        var dayKey: Int64 = -1
        // "result <> 'accepted'" repeats the partial index's condition word for word, so SQLite uses it.
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT remote_addr, at FROM auth_attempts\(index)
            WHERE result <> 'accepted' AND result = 'failed' AND at >= ? AND at < ? ORDER BY at
            """, arguments: args)
        while let row = try cursor.next() {
            let address: String = row[0] ?? "(unknown)"
            let at = try row.withUnsafeData(atIndex: 1) { timeKey($0) }
            let day = at / 1_000_000_000
            if day != dayKey {
                dayKey = day
                days.append(AuditReport.Day(day: String((row[1] as String).prefix(10)), logins: 0, unauthenticated: 0, failedAttempts: 0))
            }
            days[days.count - 1].failedAttempts += 1
            let i: Int
            if let known = sourceIndex[address] { i = known } else {
                i = sources.count
                sourceIndex[address] = i
                sources.append(Source(address: address, first: at, last: at))
            }
            sources[i].attempts += 1
            sources[i].last = at
        }
        let users = try db.cachedStatement(sql: """
            SELECT count(DISTINCT user) FROM auth_attempts\(schema.contains("auth_attempts_remote") ? " INDEXED BY auth_attempts_remote" : "")
            WHERE remote_addr = ? AND at >= ? AND at < ? AND result = 'failed'
            """)
        let invalid: Statement? = schema.contains("session_events") ? try db.cachedStatement(sql: """
            SELECT count(*) FROM sessions s\(schema.contains("sessions_remote") ? " INDEXED BY sessions_remote" : "")
            JOIN session_events e ON e.session_id = s.id
            WHERE s.remote_addr = ? AND e.kind = 'invalid_user' AND e.at >= ? AND e.at < ?
            """) : nil
        // Refusals per source (connections the listener dropped before serving them): a source only
        // refused is listed too, with no failed attempt.
        var refused: [String: Int] = [:]
        if schema.contains("refusals") {
            let rows = try Row.fetchCursor(db, sql: """
                SELECT remote_addr, at FROM refusals\(schema.contains("refusals_at") ? " INDEXED BY refusals_at" : "")
                WHERE at >= ? AND at < ? ORDER BY at
                """, arguments: args)
            while let row = try rows.next() {
                let address: String = row[0]
                let at = try row.withUnsafeData(atIndex: 1) { timeKey($0) }
                refused[address, default: 0] += 1
                if let i = sourceIndex[address] {
                    sources[i].first = min(sources[i].first, at)
                    sources[i].last = max(sources[i].last, at)
                } else {
                    sourceIndex[address] = sources.count
                    sources.append(Source(address: address, first: at, last: at))
                }
            }
        }
        report.failedBySource = try sources.sorted {
            ($0.attempts, refused[$0.address] ?? 0, $1.address) > ($1.attempts, refused[$1.address] ?? 0, $0.address)
        }
            .prefix(top).map { s in
                let period: StatementArguments = [s.address, report.since, report.until]
                return AuditReport.Source(address: s.address, failedAttempts: s.attempts,
                                          invalidUsers: try invalid.map { try Int.fetchOne($0, arguments: period) ?? 0 } ?? 0,
                                          usersTried: try Int.fetchOne(users, arguments: period) ?? 0,
                                          first: isoText(timeKey: s.first), last: isoText(timeKey: s.last),
                                          refused: refused[s.address] ?? 0)
            }
        report.days = days
        report.totals.failedAttempts = days.map(\.failedAttempts).reduce(0, +)
        report.totals.authAttempts = report.totals.failedAttempts + (try Int.fetchOne(db, sql: """
            SELECT count(*) FROM auth_attempts INDEXED BY auth_attempts_at WHERE at >= ? AND at < ? AND result IN ('accepted', 'partial')
            """, arguments: args) ?? 0)
        if schema.contains("sessions_ca") {
            report.certificates = try Row.fetchAll(db, sql: """
                SELECT ca_fingerprint, MAX(ca_key_type) AS ca_type, cert_id, count(*) AS logins,
                       json_group_array(DISTINCT user) AS users, MIN(started_at) AS first, MAX(started_at) AS last
                FROM sessions INDEXED BY sessions_ca
                WHERE ca_fingerprint IS NOT NULL AND authenticated_at IS NOT NULL AND started_at >= ? AND started_at < ?
                GROUP BY ca_fingerprint, cert_id ORDER BY logins DESC, ca_fingerprint, cert_id LIMIT \(top)
                """, arguments: args).map { r in
                AuditReport.Certificate(caFingerprint: r["ca_fingerprint"], caKeyType: r["ca_type"], certID: r["cert_id"],
                                        logins: r["logins"], users: AuditReader.strings(r["users"]), first: r["first"],
                                        last: r["last"])
            }
        }
    }

    private static func privilegedPart(_ db: Database, schema: Set<String>, _ report: inout AuditReport, top: Int) throws {
        let index = schema.contains("commands_privileged") ? " INDEXED BY commands_privileged" : ""
        var byUser: [String: Int] = [:]
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT s.user FROM commands c\(index) JOIN sessions s ON s.id = c.session_id
            WHERE (\(privilegedCondition)) AND c.started_at >= ? AND c.started_at < ?
            """, arguments: [report.since, report.until])
        while let row = try cursor.next() {
            let user: String = row[0] ?? "(unknown)"
            byUser[user, default: 0] += 1
            report.totals.privilegedCommands += 1
        }
        report.privilegedByUser = byUser.map { AuditReport.UserCount(user: $0.key, count: $0.value) }
            .sorted { ($0.count, $1.user) > ($1.count, $0.user) }
            .prefix(top).map { $0 }
        report.privileged = try Row.fetchAll(db, sql: """
            SELECT c.id, c.session_id, s.user, c.started_at, c.exit_code, c.signal, c.argv
            FROM commands c\(index) JOIN sessions s ON s.id = c.session_id
            WHERE (\(privilegedCondition)) AND c.started_at >= ? AND c.started_at < ?
            ORDER BY c.started_at DESC, c.id DESC LIMIT \(top)
            """, arguments: [report.since, report.until]).map { row in
            AuditReport.Privileged(commandID: row[0], sessionID: row[1], user: row[2], at: row[3], exitCode: row[4],
                                   signal: row[5], argv: decodeArgv(row[6]))
        }
    }

    /// Runs per program (the basename of the executed file). With the commands_program index: the
    /// distinct files by skip-scan, then each one's rows in the period counted inside the index.
    static func countPrograms(_ db: Database, schema: Set<String>, since: String, until: String, top: Int) throws
        -> (count: Int, programs: [AuditReport.Program]) {
        var counts: [String: Int] = [:]
        if schema.contains("commands_program") {
            let next = try db.cachedStatement(sql: """
                SELECT min(filename) FROM commands INDEXED BY commands_program WHERE filename > ?
                """)
            let count = try db.cachedStatement(sql: """
                SELECT count(*) FROM commands INDEXED BY commands_program WHERE filename = ? AND started_at >= ? AND started_at < ?
                """)
            var file = try String.fetchOne(db, sql: "SELECT min(filename) FROM commands INDEXED BY commands_program")
            while let current = file {
                let n = try Int.fetchOne(count, arguments: [current, since, until]) ?? 0
                if n > 0 { counts[current] = n }
                file = try String.fetchOne(next, arguments: [current])
            }
        } else {
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT filename, count(*) FROM commands INDEXED BY commands_started_at
                WHERE started_at >= ? AND started_at < ? GROUP BY filename
                """, arguments: [since, until])
            while let row = try cursor.next() { counts[row[0], default: 0] += row[1] }
        }
        return (counts.values.reduce(0, +), topPrograms(counts, top: top))
    }

    /// Runs per program (the basename of the executed file), the most run first, at most `top`.
    public static func topPrograms(_ runsPerFile: [String: Int], top: Int) -> [AuditReport.Program] {
        var programs: [String: Int] = [:]
        for (path, n) in runsPerFile {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            programs[name, default: 0] += n
        }
        return programs.map { AuditReport.Program(program: $0.key, runs: $0.value) }
            .sorted { ($0.runs, $1.program) > ($1.runs, $0.program) }
            .prefix(top).map { $0 }
    }
}

/// The stored text back from `timeKey` (20261128235501123 → "2026-11-28T23:55:01.123Z").
func isoText(timeKey key: Int64) -> String {
    guard key != Int64.max else { return "?" }
    let d = String(key)
    guard d.count == 17 else { return "?" }
    let c = Array(d)
    return "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(c[8..<10])):\(String(c[10..<12])):\(String(c[12..<14])).\(String(c[14..<17]))Z"
}

/// The one decoder of a stored argv (the JSON array of strings the write path stores), for every
/// reader; text that is not such an array is shown as it is.
func decodeArgv(_ text: String?) -> [String] {
    guard let text else { return [] }
    return ArgvSearch.strings(argvJSON: text) ?? (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? [text]
}

/// A value handed from a worker thread to the waiting one (read after DispatchGroup.wait).
final class ResultBox<T>: @unchecked Sendable {
    private var result: Result<T, Error>?
    func set(_ result: Result<T, Error>) { self.result = result }
    func get() throws -> T {
        guard let result else { throw QueryError.sql("internal: no result") }
        return try result.get()
    }
}
