import Foundation

/// The central database's layout (PostgreSQL), created and upgraded by `ship` itself.
///
/// Every host's rows live in the same tables, keyed by `host` (a host's identity: its name and
/// /etc/machine-id unless `ship --host` says otherwise). A row table holds row *versions*: (host, id,
/// seq) with `seq` the local ledger entry that version was written with, so a version arrives once
/// whatever happens. The columns the queries filter on are typed; `row` is the row exactly as local
/// `query --format json` prints it. Row tables are partitioned by month of the row's time (`at`),
/// created as rows arrive; the layout distributes by `host` (Citus: `create_distributed_table(T,
/// 'host')` on each table; its primary keys already start with `host`). `ledger` is the hosts'
/// ledgers, entry for entry, and `hosts.shipped_seq` the cursor, advanced in the transaction that
/// ships the entries up to it.
///
/// `latest` marks a row's newest version (the shipper clears it on the version a newer one replaces,
/// in the same transaction): fleet queries read only those, through partial indexes. Command lines
/// get a trigram index when the pg_trgm extension can be created, so that `--grep` is an index scan.
public enum CentralSchema {
    /// 3: channels and refusals (their ledger entries were shipped before, their rows from 3 on).
    /// 4: `last_at` of file and network rows, typed and indexed, so that a period matches the rows
    /// that overlap it (filled from `row` on upgrade).
    static let version = 4

    /// Row tables: local name, the typed columns besides host, id, seq, at, latest and row, and
    /// their indexes by name. The primary key (host, id, seq, at) serves a row's versions and a
    /// session's rows by host and id; the others cover the filters of `query`, on newest versions only.
    static let rowTables: [(name: String, columns: String, indexes: [(String, String)])] = [
        ("sessions", #""user" text, remote_addr text, ended_at timestamptz, key_fingerprint text"#,
         [("sessions_by_user", #"("user", at) WHERE latest"#), ("sessions_by_time", "(at, host, id) WHERE latest"),
          ("sessions_by_addr", "((\(inet("remote_addr")))) WHERE latest"), ("sessions_by_key", "(key_fingerprint) WHERE latest"),
          // A period's sessions begun before it: those ended in or after it, and those still open (NULL).
          ("sessions_by_end", "(ended_at) WHERE latest")]),
        ("commands", "session_id bigint NOT NULL, filename text, command_line text",
         [("commands_by_session", "(host, session_id) WHERE latest"), ("commands_by_time", "(at, host, id) WHERE latest")]),
        ("auth_attempts", #"session_id bigint, "user" text, remote_addr text, result text, key_fingerprint text"#,
         [("auth_attempts_by_session", "(host, session_id) WHERE latest"), ("auth_attempts_by_user", #"("user", at) WHERE latest"#),
          ("auth_attempts_by_addr", "((\(inet("remote_addr")))) WHERE latest"), ("auth_attempts_by_time", "(at, host, id) WHERE latest")]),
        ("file_transfers", "session_id bigint NOT NULL, path text",
         [("file_transfers_by_session", "(host, session_id) WHERE latest"), ("file_transfers_by_time", "(at, host, id) WHERE latest")]),
        ("session_events", "session_id bigint NOT NULL, kind text",
         [("session_events_by_session", "(host, session_id) WHERE latest"), ("session_events_by_time", "(at) WHERE latest")]),
        ("file_activity", "session_id bigint NOT NULL, op text, path text, last_at timestamptz",
         [("file_activity_by_session", "(host, session_id) WHERE latest"), ("file_activity_by_time", "(at, host, id) WHERE latest"),
          ("file_activity_by_end", "(last_at) WHERE latest")]),
        ("network_activity", "session_id bigint NOT NULL, op text, addr text, last_at timestamptz",
         [("network_activity_by_session", "(host, session_id) WHERE latest"), ("network_activity_by_time", "(at, host, id) WHERE latest"),
          ("network_activity_by_end", "(last_at) WHERE latest")]),
        ("channels", "session_id bigint NOT NULL, kind text",
         [("channels_by_session", "(host, session_id) WHERE latest"), ("channels_by_time", "(at, host, id) WHERE latest")]),
        ("refusals", "remote_addr text NOT NULL, reason text NOT NULL",
         [("refusals_by_time", "(at, host, id) WHERE latest"), ("refusals_by_addr", "((\(inet("remote_addr"))), at) WHERE latest")]),
    ]

    /// Tables added after a host may have shipped their ledger entries (layout: the first to hold
    /// their rows): `ship` copies the rows of those entries once (`hosts.layout` says it is done).
    static let addedTables: [(name: String, layout: Int)] = [("channels", 3), ("refusals", 3)]

    /// Rows of a span of repeats (`at` is their first time), whose `last_at` came with layout 4.
    public static let spanTables = ["file_activity", "network_activity"]

    /// Layout 1's indexes (named TABLE_N), replaced by the ones above.
    static let layout1Indexes = ["sessions": 4, "commands": 3, "auth_attempts": 4, "file_transfers": 2, "session_events": 2]

    /// A stored address as PostgreSQL's inet in its IPv6 form (IPv4 as ::ffff:a.b.c.d), the way
    /// `--from` compares addresses (IPNetwork). The queries use this very expression, so that the
    /// index on it serves them.
    public static func inet(_ column: String) -> String {
        "(CASE WHEN \(column) LIKE '%:%' THEN \(column) ELSE '::ffff:' || \(column) END)::inet"
    }

    public static var tableNames: [String] { rowTables.map(\.name) }

    static var ddl: String {
        var sql = """
            CREATE TABLE IF NOT EXISTS sshaudit_central (version integer NOT NULL);
            CREATE TABLE IF NOT EXISTS hosts (
                host             text PRIMARY KEY,
                hostname         text NOT NULL,
                machine_id       text,
                shipped_seq      bigint NOT NULL DEFAULT 0,
                shipped_chain    bytea,
                first_shipped_at timestamptz NOT NULL DEFAULT now(),
                last_shipped_at  timestamptz NOT NULL DEFAULT now()
            );
            -- The layout whose rows the host has shipped: a host registered before 3 gets 2.
            ALTER TABLE hosts ADD COLUMN IF NOT EXISTS layout integer NOT NULL DEFAULT 2;
            CREATE TABLE IF NOT EXISTS ledger (
                host       text NOT NULL,
                seq        bigint NOT NULL,
                tbl        text NOT NULL,
                row_id     bigint NOT NULL,
                row_hash   bytea NOT NULL,
                chain      bytea NOT NULL,
                fixed_hash bytea,
                final      boolean,
                once_set   bigint,
                layout     bigint,
                PRIMARY KEY (host, seq)
            );
            CREATE INDEX IF NOT EXISTS ledger_row ON ledger (host, tbl, row_id, seq);

            """
        for table in rowTables {
            sql += """
                CREATE TABLE IF NOT EXISTS \(table.name) (
                    host text NOT NULL, id bigint NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL,
                    \(table.columns), row jsonb NOT NULL, latest boolean NOT NULL DEFAULT true,
                    PRIMARY KEY (host, id, seq, at)
                ) PARTITION BY RANGE (at);
                ALTER TABLE \(table.name) ADD COLUMN IF NOT EXISTS latest boolean NOT NULL DEFAULT true;

                """
            if spanTables.contains(table.name) {
                sql += "ALTER TABLE \(table.name) ADD COLUMN IF NOT EXISTS last_at timestamptz;\n"
            }
            for (name, index) in table.indexes {
                sql += "CREATE INDEX IF NOT EXISTS \(name) ON \(table.name) \(index);\n"
            }
        }
        return sql
    }

    /// The trigram index of command lines, when pg_trgm is there.
    static let grepIndex = "CREATE INDEX IF NOT EXISTS commands_grep ON commands USING gin (command_line gin_trgm_ops) WHERE latest"

    /// Creates or upgrades the layout; several shippers may start at once (one lock serialises them).
    static func migrate(_ db: PGConnection) throws {
        try db.transaction {
            try db.query("SELECT pg_advisory_xact_lock(hashtext('sshaudit-central-schema'))")
            let exists = try db.query("SELECT to_regclass('sshaudit_central') IS NOT NULL").first?.first == "t"
            let found = exists
                ? try db.query("SELECT max(version) FROM sshaudit_central").first?.first.flatMap { $0 }.flatMap { Int($0) }
                : nil
            if let found, found > version {
                throw CentralError("the central database has layout \(found), newer than this sshaudit knows (\(version)): upgrade sshaudit")
            }
            try db.execute(ddl)
            // pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it. If it
            // cannot be, --grep still answers, by reading every command line.
            try db.execute("SAVEPOINT trgm")
            do {
                try db.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                try db.execute(grepIndex)
                try db.execute("RELEASE SAVEPOINT trgm")
            } catch {
                try db.execute("ROLLBACK TO SAVEPOINT trgm")
            }
            if let found, found < 4 {
                // Rows shipped before layout 4 have their last time in `row` only.
                for table in spanTables {
                    try db.execute("UPDATE \(table) SET last_at = (row->>'last_at')::timestamptz WHERE last_at IS NULL")
                }
            }
            if let found, found < 2 {
                // Layout 1 had no `latest`: every version got true; keep it on the newest only.
                for (table, count) in layout1Indexes {
                    for i in 0..<count { try db.execute("DROP INDEX IF EXISTS \(table)_\(i)") }
                }
                for table in tableNames {
                    try db.execute("""
                        UPDATE \(table) AS t SET latest = false WHERE latest
                            AND EXISTS (SELECT 1 FROM \(table) AS n WHERE n.host = t.host AND n.id = t.id AND n.seq > t.seq)
                        """)
                }
            }
            if found != version {
                try db.execute("DELETE FROM sshaudit_central")
                try db.query("INSERT INTO sshaudit_central (version) VALUES ($1)", [String(version)])
            }
        }
    }

    /// Clears `latest` on the versions that `rows` (id and seq of versions just shipped) replace.
    static func supersede(_ db: PGConnection, table: String, host: String, rows: [(id: Int64, seq: Int64)]) throws {
        guard !rows.isEmpty else { return }
        try db.query("""
            UPDATE \(table) AS t SET latest = false
            FROM unnest($2::bigint[], $3::bigint[]) AS n(id, seq)
            WHERE t.host = $1 AND t.id = n.id AND t.seq < n.seq AND t.latest
            """, [host, "{" + rows.map { String($0.id) }.joined(separator: ",") + "}",
                  "{" + rows.map { String($0.seq) }.joined(separator: ",") + "}"])
    }

    /// The month partition of `table` for `month` (YYYY-MM), created if missing. In the shipping
    /// transaction, under a lock: two shippers may need the same month at once.
    static func ensurePartition(_ db: PGConnection, table: String, month: String) throws {
        // The month comes from a stored row: only its digits reach the statement, re-formatted.
        let parts = month.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let number = Int(parts[1]), (1...9998).contains(year), (1...12).contains(number) else {
            throw CentralError("not a month: \(month)")
        }
        let this = String(format: "%04d-%02d", year, number)
        let next = number == 12 ? String(format: "%04d-01", year + 1) : String(format: "%04d-%02d", year, number + 1)
        try db.query("SELECT pg_advisory_xact_lock(hashtext('sshaudit-central-partitions'))")
        try db.execute("""
            CREATE TABLE IF NOT EXISTS \(table)_\(this.replacingOccurrences(of: "-", with: "_")) PARTITION OF \(table)
                FOR VALUES FROM ('\(this)-01T00:00:00Z') TO ('\(next)-01T00:00:00Z')
            """)
    }
}
