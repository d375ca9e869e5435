import Foundation
import GRDB

/// Every public key seen: when first and last used, as which users, from where, in how many sessions.
/// A certificate is one row per CA, key ID and certified key, with the serials seen.
public struct KeyRow: Encodable, Sendable {
    public var keyFingerprint: String
    public var keyType: String?
    public var certID: String?
    public var caKeyType: String?
    public var caFingerprint: String?
    public var serials: [String]
    public var firstSeen: String
    public var lastSeen: String
    public var users: [String]
    public var sources: [String]
    public var sessions: Int64
    public var failedAttempts: Int64

    public init(keyFingerprint: String, keyType: String?, certID: String?, caKeyType: String?, caFingerprint: String?,
                serials: [String], firstSeen: String, lastSeen: String, users: [String], sources: [String], sessions: Int64,
                failedAttempts: Int64) {
        (self.keyFingerprint, self.keyType, self.certID, self.caKeyType, self.caFingerprint) = (keyFingerprint, keyType, certID, caKeyType, caFingerprint)
        (self.serials, self.firstSeen, self.lastSeen, self.users, self.sources) = (serials, firstSeen, lastSeen, users, sources)
        (self.sessions, self.failedAttempts) = (sessions, failedAttempts)
    }

    enum CodingKeys: String, CodingKey {
        case users, sources, sessions
        case keyFingerprint = "key_fingerprint", keyType = "key_type", firstSeen = "first_seen", lastSeen = "last_seen"
        case failedAttempts = "failed_attempts"
        case certID = "cert_id", caKeyType = "ca_key_type", caFingerprint = "ca_fingerprint", serials
    }

    // A plain key leaves the certificate keys out (as key_type when unknown), so that its JSON is as
    // before; a certificate has them all.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(keyFingerprint, forKey: .keyFingerprint)
        try c.encodeIfPresent(keyType, forKey: .keyType)
        try c.encode(firstSeen, forKey: .firstSeen)
        try c.encode(lastSeen, forKey: .lastSeen)
        try c.encode(users, forKey: .users)
        try c.encode(sources, forKey: .sources)
        try c.encode(sessions, forKey: .sessions)
        try c.encode(failedAttempts, forKey: .failedAttempts)
        if caFingerprint != nil || certID != nil {
            try c.encode(certID, forKey: .certID)
            try c.encode(caKeyType, forKey: .caKeyType)
            try c.encode(caFingerprint, forKey: .caFingerprint)
            try c.encode(serials, forKey: .serials)
        }
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
    /// Connections the listener refused before serving them (the refusals table).
    public var refused: Int64

    public init(remoteAddr: String, firstSeen: String, lastSeen: String, accepted: Int64, failed: Int64, invalidUser: Int64,
                usersTried: [String], sessions: Int64, refused: Int64 = 0) {
        (self.remoteAddr, self.firstSeen, self.lastSeen, self.accepted, self.failed) = (remoteAddr, firstSeen, lastSeen, accepted, failed)
        (self.invalidUser, self.usersTried, self.sessions, self.refused) = (invalidUser, usersTried, sessions, refused)
    }

    enum CodingKeys: String, CodingKey {
        case failed, sessions, accepted, refused
        case remoteAddr = "remote_addr", firstSeen = "first_seen", lastSeen = "last_seen"
        case invalidUser = "invalid_user", usersTried = "users_tried"
    }
}

extension AuditReader {
    /// - Parameter firstSeenSince: only keys never seen before this time (ISO 8601 text).
    /// - Parameters certID, ca: only certificates with this key ID, signed by this CA key.
    public func keys(firstSeenSince: String? = nil, certID: String? = nil, ca: String? = nil,
                     limit: Int? = nil) throws -> [KeyRow] {
        try reader.read { db in
            let certificates = schema.contains("auth_attempts_ca")
            var conditions = ["a.key_fingerprint IS NOT NULL"]
            var arguments: [DatabaseValueConvertible?] = []
            if certID != nil || ca != nil, !certificates { return [] }
            if let certID { conditions.append("a.cert_id = ?"); arguments.append(certID) }
            if let ca { conditions.append("a.ca_fingerprint = ?"); arguments.append(ca) }
            if let firstSeenSince { arguments.append(firstSeenSince) }
            // Certificates grouped by CA and key ID (and the key certified), plain keys by key.
            let certColumns = certificates
                ? "a.ca_fingerprint AS ca, a.cert_id AS cert_id, MAX(a.ca_key_type) AS ca_type, json_group_array(DISTINCT a.cert_serial) AS serials"
                : "NULL AS ca, NULL AS cert_id, NULL AS ca_type, '[]' AS serials"
            let rows = try Row.fetchAll(db, sql: """
                SELECT a.key_fingerprint AS fp, MAX(a.key_type) AS type, MIN(a.at) AS first, MAX(a.at) AS last,
                       json_group_array(DISTINCT a.user) AS users, json_group_array(DISTINCT a.remote_addr) AS sources,
                       COUNT(DISTINCT CASE WHEN a.result = 'accepted' THEN a.session_id END) AS sessions,
                       SUM(a.result = 'failed') AS failed, \(certColumns)
                FROM auth_attempts a WHERE \(conditions.joined(separator: " AND "))
                GROUP BY a.key_fingerprint\(certificates ? ", a.ca_fingerprint, a.cert_id" : "")
                \(firstSeenSince == nil ? "" : "HAVING MIN(a.at) >= ?")
                ORDER BY first\(limit.map { " LIMIT \($0)" } ?? "")
                """, arguments: StatementArguments(arguments))
            return rows.map { r in
                KeyRow(keyFingerprint: r["fp"], keyType: r["type"], certID: r["cert_id"], caKeyType: r["ca_type"],
                       caFingerprint: r["ca"], serials: Self.strings(r["serials"]), firstSeen: r["first"],
                       lastSeen: r["last"], users: Self.strings(r["users"]), sources: Self.strings(r["sources"]),
                       sessions: r["sessions"], failedAttempts: r["failed"] ?? 0)
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
                    \(schema.contains("session_events") ? """
                    UNION ALL
                    SELECT s.remote_addr, e.at, 'invalid_user', e.detail, NULL FROM session_events e
                    JOIN sessions s ON s.id = e.session_id WHERE e.kind = 'invalid_user' AND s.remote_addr IS NOT NULL
                    """ : "")
                    \(schema.contains("refusals") ? """
                    UNION ALL
                    SELECT remote_addr, at, 'refused', NULL, NULL FROM refusals
                    """ : "")
                )
                SELECT addr, MIN(at) AS first, MAX(at) AS last,
                       SUM(result = 'accepted') AS accepted, SUM(result = 'failed') AS failed,
                       SUM(result = 'invalid_user') AS invalid, json_group_array(DISTINCT user) AS users,
                       COUNT(session) AS sessions, SUM(result = 'refused') AS refused
                FROM seen GROUP BY addr
                \(firstSeenSince == nil ? "" : "HAVING MIN(at) >= ?")
                ORDER BY first\(limit.map { " LIMIT \($0)" } ?? "")
                """, arguments: StatementArguments(firstSeenSince.map { [$0] } ?? []))
            return rows.map { r in
                SourceRow(remoteAddr: r["addr"], firstSeen: r["first"], lastSeen: r["last"], accepted: r["accepted"] ?? 0,
                          failed: r["failed"] ?? 0, invalidUser: r["invalid"] ?? 0, usersTried: Self.strings(r["users"]),
                          sessions: r["sessions"], refused: r["refused"] ?? 0)
            }
        }
    }

    /// A JSON array from json_group_array, without its nulls, sorted.
    public static func strings(_ json: String?) -> [String] {
        guard let json, let array = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any] else { return [] }
        return array.compactMap { $0 as? String }.sorted()
    }
}
