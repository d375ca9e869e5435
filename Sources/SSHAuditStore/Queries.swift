import Foundation
import GRDB

/// Failures of the read side that the user can act on (one line each).
public enum QueryError: Error, CustomStringConvertible {
    case unreadable(String, String)
    case sql(String)
    case notReadOnly(String)
    case noSession(Int64, String)
    case wrongType(table: String, id: String)

    public var description: String {
        switch self {
        case let .unreadable(path, why): return "cannot read \(path): \(why)"
        case let .sql(message): return "SQL error: \(message)"
        case let .notReadOnly(statement): return "refused: only read-only statements are allowed (\(statement))"
        case let .noSession(id, path): return "no session \(id) in \(path)"
        case let .wrongType(table, id):
            return "\(table) row \(id) holds a value of the wrong type: it was changed outside sshaudit (`sshaudit verify` names it)"
        }
    }
}

/// The filtered listings of `sshaudit query`. Every filter is exact; how the rows are reached is chosen
/// per query so that the answer costs about what it prints:
///
/// 1. A selective filter (one session, a user, an address or network, a --grep pattern, failed
///    connections) is first asked for at most `candidateCap` matching rows through its own index. The
///    smallest such set that fits is fetched by id, filtered by everything else, sorted and cut.
/// 2. Otherwise every filter matches many rows, so the first rows in time order are soon found: an
///    index in time order (the user's, the address's, or the time index itself) is walked from
///    --since and stops at --limit.
///
/// Rows come oldest first (time, then id). A file or network row stands for repeats from `first_at` to
/// `last_at`, a session lasts from `started_at` to `ended_at`: a period matches the rows that overlap
/// it (see `spans` and `sessionsOfPeriod`).
struct QueryPlanner {
    enum Kind { case sessions, commands, auth, transfers, files, network }

    let db: Database
    let kind: Kind
    var filter: QueryFilter
    let schema: Set<String>
    var limits = PlanLimits()
    /// Conditions of one kind's own options (query files: --path, --op, --sensitive), on its alias.
    var extra: [Clause] = []
    /// rows() gives counts instead (one row, or one a chunk of candidates): see count().
    var countOnly = false

    // MARK: - Per-kind shape

    var table: String {
        switch kind {
        case .sessions: return "sessions"
        case .commands: return "commands"
        case .auth: return "auth_attempts"
        case .transfers: return "file_transfers"
        case .files: return "file_activity"
        case .network: return "network_activity"
        }
    }

    var alias: String {
        switch kind {
        case .sessions: return "s"
        case .commands: return "c"
        case .auth: return "a"
        case .transfers: return "f"
        case .files: return "fa"
        case .network: return "n"
        }
    }

    var timeColumn: String {
        switch kind {
        case .sessions, .commands: return "started_at"
        case .auth: return "at"
        case .transfers: return "opened_at"
        case .files: return "first_at"
        case .network: return "first_at"
        }
    }

    var timeIndex: String {
        switch kind {
        case .sessions: return "sessions_started_at"
        case .commands: return "commands_started_at"
        case .auth: return "auth_attempts_at"
        case .transfers: return "file_transfers_opened_at"
        case .files: return "file_activity_first_at"
        case .network: return "network_activity_first_at"
        }
    }

    /// Rows that stand for a span of repeats (first_at … last_at): --since and --until match every row
    /// that overlaps the period, not only those begun in it, so that a loop begun before the period
    /// an administrator reviews still shows for what it did in it.
    var spans: Bool { kind == .files || kind == .network }

    /// The partial index (schema/0030) of the rows whose span goes on past their start, by last_at.
    var spanIndex: String { kind == .files ? "file_activity_spans" : "network_activity_spans" }

    /// Index on (session_id, …) of the kind's table.
    var sessionIndex: String? {
        switch kind {
        case .sessions: return nil
        case .commands: return "commands_session"
        case .auth: return "auth_attempts_session"
        case .transfers: return "file_transfers_session"
        case .files: return "file_activity_session"
        case .network: return "network_activity_session"
        }
    }

    /// The user and the address live in the row itself (sessions, auth) or in its session.
    var ownsUserAndAddress: Bool { kind == .sessions || kind == .auth }
    var userColumn: String { ownsUserAndAddress ? "\(alias).user" : "s.user" }
    var addressColumn: String { ownsUserAndAddress ? "\(alias).remote_addr" : "s.remote_addr" }
    var needsSessionJoin: Bool { !ownsUserAndAddress && (filter.user != nil || filter.from != nil) }

    func has(_ name: String) -> Bool { schema.contains(name) }
    func hint(_ index: String?) -> String {
        guard let index, has(index) else { return "" }
        return " INDEXED BY \(index)"
    }

    // MARK: - Running

    func rows() throws -> [Row] {
        // A database not yet upgraded to schema 0019 (read-only here) holds no certificate.
        if filter.ca != nil || filter.certID != nil, !has("sessions_ca") { return [] }
        var predicates: [Clause] = []
        if let id = filter.sessionID {
            predicates.append(Clause(kind == .sessions ? "s.id = ?" : "\(alias).session_id = ?", [id]))
        }
        if let user = filter.user { predicates.append(Clause("\(userColumn) = ?", [user])) }
        if let key = filter.key {
            predicates.append(ownsUserAndAddress
                ? Clause("\(alias).key_fingerprint = ?", [key])
                : Clause("\(alias).session_id IN (SELECT id FROM sessions WHERE key_fingerprint = ?)", [key]))
        }
        for (column, value) in [("cert_id", filter.certID), ("ca_fingerprint", filter.ca)] {
            guard let value else { continue }
            predicates.append(ownsUserAndAddress
                ? Clause("\(alias).\(column) = ?", [value])
                : Clause("\(alias).session_id IN (SELECT id FROM sessions WHERE \(column) = ?)", [value]))
        }
        if let container = filter.container {
            // A database not yet upgraded to schema 0025 knows no container.
            guard has("sessions_container") else { return [] }
            let column = kind == .sessions ? "\(alias).container" : "container"
            // A name (LXC's "web") matches exactly; an id may be given by its start, as docker prints
            // it (12 hex digits or more), never a name by its start ("web" is not "webdb").
            let isIDStart = container.utf8.count >= 12
                && container.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
            let match = isIDStart
                ? Clause("(\(column) = ? OR substr(\(column), 1, length(?)) = ?)", [container, container, container])
                : Clause("\(column) = ?", [container])
            predicates.append(kind == .sessions ? match
                : Clause("\(alias).session_id IN (SELECT id FROM sessions WHERE \(match.sql))", match.arguments))
        }
        var addresses: [String]?
        if let network = filter.from {
            switch try AddressResolver(db: db, schema: schema, inAuth: kind == .auth, distinctCap: limits.distinctCap).resolve(network) {
            case .none: return []
            case let .list(list):
                addresses = list
                predicates.append(Clause("\(addressColumn) IN (SELECT value FROM json_each(?))", [jsonArray(list)]))
            case .function:
                try AddressResolver.register(network, in: db)
                predicates.append(Clause("sshaudit_from(\(addressColumn))", []))
            }
        }
        predicates += timeClauses(alias: alias)
        predicates += extra
        if filter.incompleteOnly, kind == .sessions {
            predicates.append(Clause("(s.recovered = 1 OR s.drops = 1 OR s.truncated_argv = 1 OR s.ended_unobserved = 1 OR s.unattributed_events = 1)", []))
        }
        if filter.failedOnly {
            switch kind {
            case .sessions: predicates.append(Clause("s.authenticated_at IS NULL", []))
            case .commands: predicates.append(Clause("(c.exit_code <> 0 OR c.signal IS NOT NULL)", []))
            // A credential refused: one row per sshd "Failed …" line (invalid users and connections
            // closed before authenticating are session_events, partial steps are not refusals).
            case .auth: predicates.append(Clause("a.result = 'failed'", []))
            case .transfers, .files: break
            // Connects the kernel refused (a scan shows as many of these).
            case .network: predicates.append(Clause("n.op = 'connect_failed'", []))
            }
        }

        let access = try chooseAccess(addresses: addresses)
        if case let .ids(ids, _, _) = access, ids.isEmpty { return [] }
        if let pattern = filter.grep {
            let exact: Bool
            if case let .ids(_, fromSearch, _) = access { exact = fromSearch } else { exact = false }
            if !exact {
                switch kind {
                case .commands:
                    predicates.append(Clause("sshaudit_argv_contains(c.argv, ?)", [pattern]))
                case .sessions:
                    predicates.append(Clause("""
                        EXISTS (SELECT 1 FROM commands g\(hint("commands_session")) WHERE g.session_id = s.id
                            AND sshaudit_argv_contains(g.argv, ?))
                        """, [pattern]))
                case .auth, .transfers, .files, .network: break
                }
            }
        }

        func select(_ access: Access, limit: Int?, adding more: [Clause] = []) throws -> [Row] {
            var sql = countOnly ? "SELECT COUNT(*) FROM \(table) \(alias)" : "SELECT \(alias).* FROM \(table) \(alias)"
            var all = predicates + more
            switch access {
            case let .ids(ids, _, _):
                sql += " NOT INDEXED"
                all.insert(Clause("\(alias).id IN (SELECT value FROM json_each(?))", [jsonArray(ids)]), at: 0)
            case let .index(name):
                sql += hint(name)
            }
            if needsSessionJoin { sql += " CROSS JOIN sessions s ON s.id = \(alias).session_id" }
            if !all.isEmpty { sql += " WHERE " + all.map(\.sql).joined(separator: " AND ") }
            if !countOnly {
                sql += " ORDER BY \(alias).\(timeColumn), \(alias).id"
                if let limit { sql += " LIMIT \(limit)" }
            }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(all.flatMap(\.arguments)))
        }
        if spans, let since = filter.since, case let .index(name) = access, name == timeIndex {
            // The time index alone would be walked from the oldest row (a span's end has no bound
            // there). Rows begun before --since that went on into it come first in output order: all of
            // them, from the span index (a full read of a database without it), then the rows begun in
            // the period, walked from --since.
            let carried = try select(.index(has(spanIndex) ? spanIndex : nil), limit: filter.limit, adding: [
                Clause("\(alias).last_at > \(alias).first_at", []), Clause("\(alias).first_at < ?", [since]),
            ])
            let remaining = filter.limit.map { max(0, $0 - carried.count) }
            if remaining == 0, !countOnly { return carried }
            return carried + (try select(access, limit: remaining, adding: [Clause("\(alias).first_at >= ?", [since])]))
        }
        if kind == .sessions, let since = filter.since, case .index = access {
            return try sessionsOfPeriod(since, access: access, select: select)
        }
        guard case let .ids(ids, fromSearch, true) = access else { return try select(access, limit: filter.limit) }
        // Candidates already in output order: check them chunk by chunk, the first chunks first, and
        // stop as soon as --limit rows passed.
        var rows: [Row] = []
        var start = 0, size = max(filter.limit ?? 1024, 256)
        while start < ids.count {
            let chunk = Array(ids[start..<min(ids.count, start + size)])
            rows += try select(.ids(chunk, fromSearch: fromSearch, sorted: false), limit: nil)
            if let limit = filter.limit, rows.count >= limit { return Array(rows.prefix(limit)) }
            start += size
            size *= 4
        }
        return rows
    }

    /// Sessions with --since, walked through an index: those begun in the period come from `access` as
    /// any row does, after the sessions begun before --since that were still open at it, which come
    /// first in output order. Those are found in three disjoint parts, each through an index of its
    /// own, so that a period months back costs about what a recent one does: sessions still without an
    /// end (`sessions_open`), sessions that ended in or after the period and began less than an hour
    /// before it (through `access`, from an hour before --since), and the longer ones (`sessions_long`,
    /// schema/0031, by end). The overlap itself is `timeClauses`', already among the predicates.
    private func sessionsOfPeriod(_ since: String, access: Access, select: (Access, Int?, [Clause]) throws -> [Row]) throws -> [Row] {
        func index(_ name: String) -> Access { .index(has(name) ? name : nil) }
        let hourBefore = "strftime('%Y-%m-%dT%H:%M:%fZ', ?, '-1 hour')"
        var carried = try select(index("sessions_open"), filter.limit, [Clause("s.ended_at IS NULL", []), Clause("s.started_at < ?", [since])])
        carried += try select(index("sessions_long"), filter.limit, [
            Clause(Self.longSession, []), Clause("s.ended_at >= ?", [since]), Clause("s.started_at < \(hourBefore)", [since]),
        ])
        carried += try select(access, filter.limit, [
            Clause("s.ended_at >= ?", [since]), Clause("s.started_at >= \(hourBefore)", [since]), Clause("s.started_at < ?", [since]),
        ])
        if countOnly { return carried + (try select(access, nil, [Clause("s.started_at >= ?", [since])])) }
        // Read without conversion: a value of another type (changed outside sshaudit) must not trap.
        carried = carried
            .map { row in
                (start: String.fromDatabaseValue(row["started_at"] as DatabaseValue) ?? "",
                 id: Int64.fromDatabaseValue(row["id"] as DatabaseValue) ?? 0, row: row)
            }
            .sorted { ($0.start, $0.id) < ($1.start, $1.id) }
            .map(\.row)
        if let limit = filter.limit, carried.count >= limit { return Array(carried.prefix(limit)) }
        let remaining = filter.limit.map { $0 - carried.count }
        return carried + (try select(access, remaining, [Clause("s.started_at >= ?", [since])]))
    }

    /// The WHERE clause of schema/0031's `sessions_long`, word for word (SQLite uses a partial index
    /// only for a query whose WHERE clause contains the index's).
    static let longSession = "s.ended_at >= coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', s.started_at, '+1 hour'), '')"

    /// How many rows rows() gives without --limit.
    func count() throws -> Int {
        var counting = self
        counting.countOnly = true
        counting.filter.limit = nil
        return try counting.rows().reduce(0) { $0 + (Int.fromDatabaseValue($1[0]) ?? 0) }
    }

    enum Access {
        /// Rows fetched by id; `fromSearch` when the ids are exactly the --grep matches; `sorted` when
        /// the ids are in output order already (then they are checked in chunks, in that order).
        case ids([Int64], fromSearch: Bool, sorted: Bool)
        /// Rows walked through this index (in time order, where it is).
        case index(String?)
    }

    /// An index that holds exactly the rows of one filter value, in time order (after --since).
    func orderedIndex(user: Bool = false, addresses: [String]? = nil, failed: Bool = false) -> String? {
        switch kind {
        case .sessions:
            if user { return "sessions_user" }
            if let addresses, addresses.count == 1 { return "sessions_remote" }
            if failed { return "sessions_unauthenticated" }
        case .auth:
            if user { return "auth_attempts_user" }
            if let addresses, addresses.count == 1 { return "auth_attempts_remote" }
        case .commands, .transfers, .files, .network:
            break
        }
        return nil
    }

    func chooseAccess(addresses: [String]?) throws -> Access {
        if let id = filter.sessionID {
            return kind == .sessions ? .ids([id], fromSearch: false, sorted: false) : .index(sessionIndex)
        }
        let searching = filter.grep != nil && (kind == .commands || kind == .sessions)
        let failedIndexed = filter.failedOnly && kind == .sessions
        let certificate = filter.ca != nil || filter.certID != nil
        let selective = [searching, filter.user != nil, addresses != nil, failedIndexed, certificate].filter { $0 }.count
        if selective == 0 { return .index(timeIndex) }
        // One filter with an index of its own in time order: walk it, no sort, stop at --limit.
        if selective == 1, !searching,
           let index = orderedIndex(user: filter.user != nil, addresses: addresses, failed: failedIndexed), has(index) {
            return .index(index)
        }
        // Several filters: the smallest set that one of them picks (if any is small) is fetched by id.
        var best: (ids: [Int64], fromSearch: Bool, sorted: Bool)?
        func consider(_ found: (ids: [Int64], sorted: Bool)?, fromSearch: Bool = false) {
            guard let found else { return }
            if best == nil || found.ids.count < best!.ids.count { best = (found.ids, fromSearch, found.sorted) }
        }
        if let pattern = filter.grep, searching {
            consider(try searchCandidates(pattern).map { ($0, false) }, fromSearch: true)
        }
        if let user = filter.user {
            consider(try candidates(where: Clause("user = ?", [user]), index: kind == .auth ? "auth_attempts_user" : "sessions_user"))
        }
        if let addresses {
            consider(try candidates(where: Clause("remote_addr IN (SELECT value FROM json_each(?))", [jsonArray(addresses)]),
                                    index: kind == .auth ? "auth_attempts_remote" : "sessions_remote"))
        }
        // Certificates of one CA (and key ID), or of one key ID: through the partial indexes of certificates.
        if let ca = filter.ca {
            let clause = filter.certID.map { Clause("ca_fingerprint = ? AND cert_id = ?", [ca, $0]) } ?? Clause("ca_fingerprint = ?", [ca])
            consider(try candidates(where: clause, index: kind == .auth ? "auth_attempts_ca" : "sessions_ca"))
        } else if let certID = filter.certID {
            consider(try candidates(where: Clause("cert_id = ?", [certID]), index: kind == .auth ? "auth_attempts_cert_id" : "sessions_cert_id"))
        }
        if failedIndexed, has("sessions_unauthenticated") {
            consider(try candidates(where: Clause("authenticated_at IS NULL", []), index: "sessions_unauthenticated"))
        }
        if let best { return .ids(best.ids, fromSearch: best.fromSearch, sorted: best.sorted) }
        // Every filter matches many rows, so matching rows are dense: walk in time order.
        if let index = orderedIndex(user: filter.user != nil, addresses: addresses, failed: failedIndexed), has(index) {
            return .index(index)
        }
        return .index(timeIndex)
    }

    /// Ids of this kind's rows whose own row (sessions, auth) or session (commands, transfers) matches
    /// `clause`, within --since/--until; nil when there are more than the cap. Commands and transfers
    /// come in output order: their (time, id) pairs are read from the covering (session_id, time) index.
    func candidates(where clause: Clause, index: String) throws -> (ids: [Int64], sorted: Bool)? {
        let cap = limits.candidateCap
        if ownsUserAndAddress {
            let time = timeClauses(alias: nil)
            let all = [clause] + time
            let sql = "SELECT id FROM \(table)\(hint(index)) WHERE " + all.map(\.sql).joined(separator: " AND ")
                + " LIMIT \(cap + 1)"
            let ids = try Int64.fetchAll(db, sql: sql, arguments: StatementArguments(all.flatMap(\.arguments)))
            return ids.count > cap ? nil : (ids, false)
        }
        // Sessions first (a session starts before its commands and transfers: --until bounds them too).
        var sessionClauses = [clause]
        if let until = filter.until { sessionClauses.append(Clause("started_at < ?", [until])) }
        let sessionSQL = "SELECT id FROM sessions\(hint(index)) WHERE "
            + sessionClauses.map(\.sql).joined(separator: " AND ") + " LIMIT \(cap + 1)"
        let sessions = try Int64.fetchAll(db, sql: sessionSQL, arguments: StatementArguments(sessionClauses.flatMap(\.arguments)))
        if sessions.count > cap { return nil }
        if sessions.isEmpty { return ([], false) }
        let rows = [Clause("session_id IN (SELECT value FROM json_each(?))", [jsonArray(sessions)])]
            + timeClauses(alias: nil)
        let sortedCap = limits.sortedCap
        let sql = "SELECT \(timeColumn), id FROM \(table)\(hint(sessionIndex)) WHERE " + rows.map(\.sql).joined(separator: " AND ")
            + " LIMIT \(sortedCap + 1)"
        var pairs: [(key: Int64, id: Int64)] = []
        let cursor = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(rows.flatMap(\.arguments)))
        while let row = try cursor.next() {
            pairs.append((try row.withUnsafeData(atIndex: 0) { timeKey($0) }, row[1]))
            if pairs.count > sortedCap { return nil }
        }
        pairs.sort { ($0.key, $0.id) < ($1.key, $1.id) }
        return (pairs.map(\.id), true)
    }

    /// The commands (or their sessions) whose command line contains `pattern`, from the trigram index;
    /// nil when the index cannot answer (no index, pattern under 3 characters) or matches too many.
    func searchCandidates(_ pattern: String) throws -> [Int64]? {
        guard has("commands_argv"), pattern.unicodeScalars.count >= 3 else { return nil }
        let cap = limits.candidateCap
        let phrase = "\"" + pattern.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        var commandIDs = try Int64.fetchAll(db, sql: "SELECT rowid FROM commands_argv WHERE commands_argv MATCH ? LIMIT \(cap + 1)",
                                            arguments: [phrase])
        if commandIDs.count > cap { return nil }
        // The index only proposes: each match is checked against the stored command line, so that an
        // entry added or changed outside sshaudit shows nothing that was not run (`verify` names it).
        if !commandIDs.isEmpty {
            commandIDs = try Int64.fetchAll(db, sql: """
                SELECT id FROM commands WHERE id IN (SELECT value FROM json_each(?)) AND sshaudit_argv_contains(argv, ?) ORDER BY id
                """, arguments: [jsonArray(commandIDs), pattern])
        }
        // Rows stored since the index was last filled (schema/0012): few, read directly.
        if has("commands_argv_progress") {
            commandIDs += try Int64.fetchAll(db, sql: """
                SELECT id FROM commands WHERE id > (SELECT indexed_upto FROM commands_argv_progress)
                AND sshaudit_argv_contains(argv, ?) ORDER BY id LIMIT \(cap + 1)
                """, arguments: [pattern])
            if commandIDs.count > cap { return nil }
        }
        if kind == .commands { return commandIDs }
        if commandIDs.isEmpty { return [] }
        return try Int64.fetchAll(db, sql: "SELECT DISTINCT session_id FROM commands WHERE id IN (SELECT value FROM json_each(?))",
                                  arguments: [jsonArray(commandIDs)])
    }

    /// --since and --until on the kind's time (columns qualified with `alias` when given); for rows
    /// of a span and for sessions, every row that overlaps [since, until).
    func timeClauses(alias: String?) -> [Clause] {
        let prefix = alias.map { $0 + "." } ?? ""
        var clauses: [Clause] = []
        if let since = filter.since {
            if kind == .sessions {
                clauses.append(Clause(Self.openSinceClause(alias ?? table), [since, since, since, since, since]))
            } else {
                clauses.append(Clause("\(prefix)\(spans ? "last_at" : timeColumn) >= ?", [since]))
            }
        }
        if let until = filter.until { clauses.append(Clause("\(prefix)\(timeColumn) < ?", [until])) }
        return clauses
    }
}

extension QueryPlanner {
    /// A session (as `alias`) open at or after --since (five parameters, each --since): ended then or
    /// later, or still open. A session whose end was not seen (its monitor was found gone when the
    /// recorder came back, `ended_unobserved`) counts as open up to its last known activity, its own
    /// times and its commands' (as retention counts it).
    static func openSinceClause(_ alias: String) -> String {
        """
        (\(alias).ended_at >= ? OR (\(alias).ended_at IS NULL AND (\(alias).ended_unobserved = 0 OR \(alias).started_at >= ?
            OR \(alias).authenticated_at >= ? OR EXISTS (SELECT 1 FROM commands k WHERE k.session_id = \(alias).id
                AND (k.started_at >= ? OR k.ended_at >= ?)))))
        """
    }
}

/// Where the planner switches strategy (smaller in tests, to reach every path on little data).
struct PlanLimits: Sendable {
    /// A filter that matches at most this many rows has them fetched by id.
    var candidateCap = 10_000
    /// A network whose text ranges hold more distinct addresses than this is checked row by row
    /// (each distinct address costs one index seek to find).
    var distinctCap = 2_000
    /// Commands or transfers of the matching sessions: up to this many are sorted by time from the
    /// covering (session_id, time) index, then checked in that order.
    var sortedCap = 50_000
}

/// "2026-11-28T23:55:01.123Z" as the integer 20261128235501123, which sorts the same; anything else
/// (never written by the recorder) sorts last.
func timeKey(_ data: Data?) -> Int64 {
    guard let data, data.count == 24 else { return Int64.max }
    return data.withUnsafeBytes { raw -> Int64 in
        var key: Int64 = 0
        for (i, byte) in raw.enumerated() where i < 23 {
            if byte >= 48 && byte <= 57 { key = key * 10 + Int64(byte - 48) }
            else if !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19) { return Int64.max }
        }
        return key
    }
}

struct Clause {
    var sql: String
    var arguments: [DatabaseValueConvertible?]
    init(_ sql: String, _ arguments: [DatabaseValueConvertible?]) {
        self.sql = sql
        self.arguments = arguments
    }
}

func jsonArray(_ ids: [Int64]) -> String {
    "[" + ids.map(String.init).joined(separator: ",") + "]"
}

func jsonArray(_ strings: [String]) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: strings, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
    return String(decoding: data, as: UTF8.self)
}

/// Which stored addresses a network covers. The distinct addresses in the network's text ranges are
/// read from the address index by skip-scan (one index seek per distinct address, however many rows
/// each has), then checked one by one; past `distinctCap` of them, a SQL function checks each row.
struct AddressResolver {
    enum Match { case none, list([String]), function }

    let db: Database
    let schema: Set<String>
    let inAuth: Bool
    let distinctCap: Int

    func resolve(_ network: IPNetwork) throws -> Match {
        let table = inAuth ? "auth_attempts" : "sessions"
        let index = inAuth ? "auth_attempts_remote" : "sessions_remote"
        guard schema.contains(index), let ranges = network.textRanges else { return .function }
        let sql = """
            WITH RECURSIVE d(addr, n) AS (
                SELECT (SELECT min(remote_addr) FROM \(table) INDEXED BY \(index) WHERE remote_addr >= ?1 AND remote_addr < ?2), 1
                UNION ALL
                SELECT (SELECT min(remote_addr) FROM \(table) INDEXED BY \(index) WHERE remote_addr > d.addr AND remote_addr < ?2), n + 1
                FROM d WHERE d.addr IS NOT NULL AND n <= ?3
            )
            SELECT addr FROM d WHERE addr IS NOT NULL
            """
        let statement = try db.cachedStatement(sql: sql)
        var seen = 0
        var matches: [String] = []
        for range in ranges {
            let found = try String.fetchAll(statement, arguments: [range.lower, range.upper, distinctCap - seen])
            seen += found.count
            if seen > distinctCap { return .function }
            matches += found.filter(network.contains(text:))
        }
        return matches.isEmpty ? .none : .list(matches)
    }

    /// `sshaudit_from(addr)`: whether the address text lies in `network` (memoized per address).
    static func register(_ network: IPNetwork, in db: Database) throws {
        let memo = Memo()
        db.add(function: DatabaseFunction("sshaudit_from", argumentCount: 1, pure: true) { values in
            guard let text = String.fromDatabaseValue(values[0]) else { return false }
            if let known = memo.values[text] { return known }
            let inside = network.contains(text: text)
            if memo.values.count < 100_000 { memo.values[text] = inside }
            return inside
        })
    }

    final class Memo: @unchecked Sendable {
        var values: [String: Bool] = [:]
    }
}

/// `sshaudit_argv_contains(argv, pattern)`: whether the command line (argv joined by spaces, as the
/// commands_argv index holds it) contains `pattern`, case-sensitively. Used where the index is not.
enum ArgvSearch {
    static let function = DatabaseFunction("sshaudit_argv_contains", argumentCount: 2, pure: true) { values in
        guard let argv = String.fromDatabaseValue(values[0]), let pattern = String.fromDatabaseValue(values[1]) else {
            return false
        }
        return contains(argv: argv, pattern: pattern)
    }

    static func contains(argv: String, pattern: String) -> Bool {
        let needle = Array(pattern.utf8)
        if needle.isEmpty { return true }
        let line = commandLine(argvJSON: argv)
        return line.withUnsafeBufferPointer { hay in
            guard hay.count >= needle.count else { return false }
            let first = needle[0]
            var i = 0
            let last = hay.count - needle.count
            while i <= last {
                if hay[i] == first {
                    var j = 1
                    while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                    if j == needle.count { return true }
                }
                i += 1
            }
            return false
        }
    }

    /// UTF-8 of the argv strings joined by single spaces; the text itself when it is not a JSON array
    /// of strings (as the index's trigger does).
    static func commandLine(argvJSON: String) -> [UInt8] {
        let bytes = Array(argvJSON.utf8)
        var none: [Int]? = nil
        return decodeStringArray(bytes, starts: &none) ?? bytes
    }

    /// The strings of a JSON array of strings (nil if it is not one): the argv column, without the
    /// cost of a JSONDecoder per row.
    public static func strings(argvJSON: String) -> [String]? {
        var starts: [Int]? = []
        guard let bytes = decodeStringArray(Array(argvJSON.utf8), starts: &starts), let starts else { return nil }
        return starts.indices.map { i in
            String(decoding: bytes[starts[i]..<(i + 1 < starts.count ? starts[i + 1] : bytes.count)], as: UTF8.self)
        }
    }

    /// Decodes the strings, joined by spaces; with `starts`, not joined, and each one's offset noted.
    static func decodeStringArray(_ b: [UInt8], starts: inout [Int]?) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 } }
        func hex4() -> UInt32? {
            guard i + 4 <= b.count else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = b[i + k]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: return nil
                }
                v = v << 4 | d
            }
            i += 4
            return v
        }
        skipSpace()
        guard i < b.count, b[i] == 0x5b else { return nil }  // [
        i += 1
        skipSpace()
        if i < b.count, b[i] == 0x5d { i += 1; skipSpace(); return i == b.count ? [] : nil }
        var first = true
        while true {
            skipSpace()
            guard i < b.count, b[i] == 0x22 else { return nil }  // "
            i += 1
            if starts != nil { starts!.append(out.count) } else if !first { out.append(0x20) }
            first = false
            while true {
                guard i < b.count else { return nil }
                let c = b[i]
                i += 1
                if c == 0x22 { break }
                if c != 0x5c { out.append(c); continue }
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case 0x22, 0x5c, 0x2f: out.append(e)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0c)
                case 0x6e: out.append(0x0a)
                case 0x72: out.append(0x0d)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard var scalar = hex4() else { return nil }
                    if (0xd800..<0xdc00).contains(scalar), i + 6 <= b.count, b[i] == 0x5c, b[i + 1] == 0x75 {
                        i += 2
                        guard let low = hex4(), (0xdc00..<0xe000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    }
                    out += Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{fffd}").utf8)
                default: return nil
                }
            }
            skipSpace()
            guard i < b.count else { return nil }
            if b[i] == 0x2c { i += 1; continue }  // ,
            if b[i] == 0x5d { i += 1; break }  // ]
            return nil
        }
        skipSpace()
        return i == b.count ? out : nil
    }
}
