import Foundation
import GRDB

/// Every public key seen: when first and last used, as which users, from where, in how many sessions.
public struct KeyRow: Encodable, Sendable {
    public var keyFingerprint: String
    public var keyType: String?
    public var firstSeen: String
    public var lastSeen: String
    public var users: [String]
    public var sources: [String]
    public var sessions: Int64
    public var failedAttempts: Int64

    enum CodingKeys: String, CodingKey {
        case users, sources, sessions
        case keyFingerprint = "key_fingerprint", keyType = "key_type", firstSeen = "first_seen", lastSeen = "last_seen"
        case failedAttempts = "failed_attempts"
    }
}

/// Every remote address seen: first and last contact, attempts by result, users tried, sessions.
public struct SourceRow: Encodable, Sendable {
    public var remoteAddr: String
    public var firstSeen: String
    public var lastSeen: String
    public var accepted: Int64
    public var failed: Int64
    public var invalidUser: Int64
    public var usersTried: [String]
    public var sessions: Int64

    enum CodingKeys: String, CodingKey {
        case failed, sessions, accepted
        case remoteAddr = "remote_addr", firstSeen = "first_seen", lastSeen = "last_seen"
        case invalidUser = "invalid_user", usersTried = "users_tried"
    }
}

extension AuditReader {
    /// - Parameter firstSeenSince: only keys never seen before this time (ISO 8601 text).
    public func keys(firstSeenSince: String? = nil, limit: Int? = nil) throws -> [KeyRow] {
        try reader.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT a.key_fingerprint AS fp, MAX(a.key_type) AS type, MIN(a.at) AS first, MAX(a.at) AS last,
                       json_group_array(DISTINCT a.user) AS users, json_group_array(DISTINCT a.remote_addr) AS sources,
                       COUNT(DISTINCT CASE WHEN a.result = 'accepted' THEN a.session_id END) AS sessions,
                       SUM(a.result <> 'accepted') AS failed
                FROM auth_attempts a WHERE a.key_fingerprint IS NOT NULL
                GROUP BY a.key_fingerprint
                \(firstSeenSince == nil ? "" : "HAVING MIN(a.at) >= ?")
                ORDER BY first\(limit.map { " LIMIT \($0)" } ?? "")
                """, arguments: StatementArguments(firstSeenSince.map { [$0] } ?? []))
            return rows.map { r in
                KeyRow(keyFingerprint: r["fp"], keyType: r["type"], firstSeen: r["first"], lastSeen: r["last"],
                       users: Self.strings(r["users"]), sources: Self.strings(r["sources"]), sessions: r["sessions"],
                       failedAttempts: r["failed"] ?? 0)
            }
        }
    }

    public func sources(firstSeenSince: String? = nil, limit: Int? = nil) throws -> [SourceRow] {
        try reader.read { db in
            // Addresses come from sessions (every connection, also those sshd logged nothing about)
            // and from attempts (what was tried).
            let rows = try Row.fetchAll(db, sql: """
                WITH seen AS (
                    SELECT remote_addr AS addr, started_at AS at, NULL AS result, NULL AS user, id AS session
                    FROM sessions WHERE remote_addr IS NOT NULL
                    UNION ALL
                    SELECT remote_addr, at, result, user, NULL FROM auth_attempts WHERE remote_addr IS NOT NULL
                )
                SELECT addr, MIN(at) AS first, MAX(at) AS last,
                       SUM(result = 'accepted') AS accepted, SUM(result = 'failed') AS failed,
                       SUM(result = 'invalid_user') AS invalid, json_group_array(DISTINCT user) AS users,
                       COUNT(session) AS sessions
                FROM seen GROUP BY addr
                \(firstSeenSince == nil ? "" : "HAVING MIN(at) >= ?")
                ORDER BY first\(limit.map { " LIMIT \($0)" } ?? "")
                """, arguments: StatementArguments(firstSeenSince.map { [$0] } ?? []))
            return rows.map { r in
                SourceRow(remoteAddr: r["addr"], firstSeen: r["first"], lastSeen: r["last"], accepted: r["accepted"] ?? 0,
                          failed: r["failed"] ?? 0, invalidUser: r["invalid"] ?? 0, usersTried: Self.strings(r["users"]),
                          sessions: r["sessions"])
            }
        }
    }

    /// A JSON array from json_group_array, without its nulls, sorted.
    static func strings(_ json: String?) -> [String] {
        guard let json, let array = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any] else { return [] }
        return array.compactMap { $0 as? String }.sorted()
    }
}
