import Foundation
import SSHAuditStore

/// `verify --central`: the off-host anchor. Every shipped host's chain is recomputed from its entries
/// inside the central database; with a local database, its ledger is compared with the shipped copy
/// entry for entry, so that a row rewritten on the host after shipping (its chain rebuilt to match)
/// is named.
public enum CentralVerify {
    public struct HostReport: Sendable {
        public var host: String
        public var entries: Int
        public var rows: Int
        public var head: String?
    }

    /// Checks every host's chain (or `only` that host's); throws on the first break.
    public static func chains(_ db: PGConnection, only: String? = nil) throws -> [HostReport] {
        let hosts = try db.query("SELECT host, shipped_seq FROM hosts WHERE $1::text IS NULL OR host = $1 ORDER BY host", [only])
        if let only, hosts.isEmpty { throw CentralError("no host \(only) in the central database") }
        var reports: [HostReport] = []
        for host in hosts {
            let name = host[0]!
            var previous: [UInt8]?
            var count = 0
            var after: Int64 = 0
            while true {
                let rows = try db.query("""
                    SELECT seq, tbl, row_id, encode(row_hash, 'hex'), encode(chain, 'hex'), encode(fixed_hash, 'hex'), final, once_set, layout
                    FROM ledger WHERE host = $1 AND seq > $2 ORDER BY seq LIMIT 10000
                    """, [name, String(after)])
                guard !rows.isEmpty else { break }
                for r in rows {
                    let chain = unhex(r[4]!)
                    let entry = LedgerEntry(
                        seq: Int64(r[0]!)!, table: r[1]!, rowID: Int64(r[2]!)!, rowHash: unhex(r[3]!), chain: chain,
                        previousChain: previous ?? [], fixedHash: r[5].map(unhex), final: r[6].map { $0 == "t" },
                        onceSet: r[7].flatMap { Int64($0) }, layout: r[8].flatMap { Int64($0) })
                    // The first entry shipped is the anchor (the local ledger may have been pruned before).
                    if previous != nil, !entry.chainHolds {
                        throw CentralError("host \(name): the shipped ledger breaks at entry \(entry.seq) (\(entry.table) \(entry.rowID))")
                    }
                    previous = chain
                    after = entry.seq
                    count += 1
                }
            }
            guard after == Int64(host[1]!)! else {
                throw CentralError("host \(name): the shipped ledger ends at entry \(after), its cursor says \(host[1]!)")
            }
            // Each shipped row version belongs to an entry of its table and row.
            var orphans = 0
            var rows = 0
            for table in CentralSchema.rowTables.map(\.name) {
                let r = try db.query("""
                    SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
                        SELECT 1 FROM ledger AS l WHERE l.host = t.host AND l.seq = t.seq AND l.tbl = $2 AND l.row_id = t.id))
                    FROM \(table) AS t WHERE t.host = $1
                    """, [name, table])
                rows += Int(r[0][0]!)!
                orphans += Int(r[0][1]!)!
            }
            if orphans > 0 { throw CentralError("host \(name): \(orphans) shipped row version(s) have no ledger entry") }
            for table in ShippedRowHash.tables.sorted() { try checkContent(db, host: name, table: table) }
            reports.append(HostReport(host: name, entries: count, rows: rows, head: previous.map { hex($0) }))
        }
        return reports
    }

    /// Each shipped version of `table` (one whose JSON is its columns) hashes to its ledger entry's
    /// row_hash: a row changed inside the central database is named without the local one.
    static func checkContent(_ db: PGConnection, host: String, table: String) throws {
        var after: Int64 = -1
        while true {
            let rows = try db.query("""
                SELECT t.seq, t.id, t.row::text, encode(l.row_hash, 'hex') FROM \(table) AS t
                JOIN ledger AS l ON l.host = t.host AND l.seq = t.seq
                WHERE t.host = $1 AND t.seq > $2 ORDER BY t.seq LIMIT 10000
                """, [host, String(after)])
            guard !rows.isEmpty else { return }
            for r in rows {
                guard let hash = ShippedRowHash.of(table: table, json: r[2] ?? ""), hex(hash) == r[3] else {
                    throw CentralError("host \(host): shipped \(table) \(r[1] ?? "?") (entry \(r[0] ?? "?")) does not hash to its ledger entry: changed centrally")
                }
            }
            after = Int64(rows.last![0]!)!
        }
    }

    /// Compares the local ledger of `reader` with the copy shipped for `host`: every local entry up
    /// to the shipped cursor must be the shipped one. Returns how many entries were compared.
    public static func compare(_ db: PGConnection, host: String, with reader: AuditReader) throws -> Int {
        guard let cursor = try db.query("SELECT shipped_seq FROM hosts WHERE host = $1", [host]).first?[0].flatMap({ Int64($0) }) else {
            throw CentralError("no host \(host) in the central database (ship --host names it)")
        }
        var after: Int64 = 0
        var compared = 0
        while after < cursor {
            let local = try reader.ledgerEntries(after: after, limit: 5_000).filter { $0.seq <= cursor }
            guard let last = local.last else { break }
            let shipped = try db.query("""
                SELECT seq, encode(chain, 'hex') FROM ledger WHERE host = $1 AND seq > $2 AND seq <= $3 ORDER BY seq
                """, [host, String(after), String(last.seq)])
            let shippedChains = Dictionary(uniqueKeysWithValues: shipped.map { (Int64($0[0]!)!, $0[1]!) })
            for entry in local {
                guard let chain = shippedChains[entry.seq] else {
                    throw CentralError("entry \(entry.seq) (\(entry.table) \(entry.rowID)) is in the local ledger but was never shipped for \(host)")
                }
                guard chain == hex(entry.chain) else {
                    throw CentralError("entry \(entry.seq) (\(entry.table) \(entry.rowID)) differs from the copy shipped for \(host): rewritten after shipping")
                }
                compared += 1
            }
            if shipped.count > local.count {
                let missing = Set(shipped.map { Int64($0[0]!)! }).subtracting(local.map(\.seq)).min()!
                throw CentralError("entry \(missing) was shipped for \(host) but is missing from the local ledger")
            }
            after = last.seq
            if local.count < 5_000 { break }
        }
        return compared
    }

    static func hex(_ bytes: [UInt8]) -> String { String(PGConnection.bytea(bytes).dropFirst(2)) }

    static func unhex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8 = c <= 57 ? c - 48 : (c | 0x20) - 87
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }
}
