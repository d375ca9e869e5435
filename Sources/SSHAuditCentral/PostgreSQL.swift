import CLibPQ
import Foundation

/// A failure of the central database, as one line.
public struct CentralError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One connection to PostgreSQL through libpq (Debian's libpq5): text parameters, text results. The
/// password never comes from the command line: libpq reads PGPASSWORD or the password file (PGPASSFILE,
/// ~/.pgpass), or `--password-file` hands it over as a connection parameter.
public final class PGConnection {
    private let conn: OpaquePointer

    /// `url`: a postgresql:// URL or a libpq connection string, without a password.
    public init(url: String, password: String? = nil, applicationName: String = "sshaudit") throws {
        var keys = ["dbname", "application_name", "connect_timeout"]
        var values = [url, applicationName, "10"]
        if let password { keys.append("password"); values.append(password) }
        // expand_dbname = 1: `dbname` holds the URL and its parts; the later keys complete it.
        let handle = keys.withCStrings { k in values.withCStrings { v in PQconnectdbParams(k, v, 1) } }
        guard let handle else { throw CentralError("cannot connect: out of memory") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let why = Self.oneLine(PQerrorMessage(handle))
            PQfinish(handle)
            throw CentralError("cannot connect to the central database: \(why)")
        }
        conn = handle
        // The server's notices ("relation … already exists, skipping") are not the user's business.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    /// Whether `url` carries a password (user:password@ or password=), which must not be on a command line.
    public static func urlHasPassword(_ url: String) -> Bool {
        if url.contains("password=") { return true }
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://"),
              let authority = url.split(separator: "/", maxSplits: 3).dropFirst(1).first(where: { !$0.isEmpty }),
              let at = authority.lastIndex(of: "@") else { return false }
        return authority[..<at].contains(":")
    }

    /// Runs `sql` with text parameters ($1, $2, …; nil is NULL); returns the rows as text (nil: NULL).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> [[String?]] {
        let result = parameters.withOptionalCStrings { params in
            PQexecParams(conn, sql, Int32(parameters.count), nil, params, nil, nil, 0)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw CentralError(Self.oneLine(result.flatMap { PQresultErrorMessage($0) } ?? PQerrorMessage(conn)))
        }
        let rows = Int(PQntuples(result)), columns = Int(PQnfields(result))
        return (0..<rows).map { r in
            (0..<columns).map { c in
                PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(r), Int32(c)))
            }
        }
    }

    /// Several statements in one string, no parameters (the schema).
    public func execute(_ sql: String) throws {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw CentralError(Self.oneLine(result.flatMap { PQresultErrorMessage($0) } ?? PQerrorMessage(conn)))
        }
    }

    /// `body` in one transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    public var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }

    static func oneLine(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        return String(cString: message).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }

    /// bytea as PostgreSQL's hex text input.
    public static func bytea(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = Array("\\x".utf8)
        out.reserveCapacity(2 + bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

private extension Array where Element == String {
    func withCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        map { Optional($0) }.withOptionalCStrings { body($0) }
    }
}

private extension Array where Element == String? {
    /// A NULL-terminated array of C strings (nil entries stay NULL), alive during `body`.
    func withOptionalCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies: [UnsafeMutablePointer<CChar>?] = map { $0.map { strdup($0) } }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// PostgreSQL's text form of an array (for `unnest($n::TYPE[])`): every element quoted, `\` and `"`
/// escaped, nil as NULL.
enum PGArray {
    static func literal(_ values: [String?]) -> String {
        var out = "{"
        for (i, value) in values.enumerated() {
            if i > 0 { out += "," }
            guard let value else { out += "NULL"; continue }
            out += "\""
            for ch in value.unicodeScalars {
                if ch == "\\" || ch == "\"" { out += "\\" }
                out.unicodeScalars.append(ch)
            }
            out += "\""
        }
        return out + "}"
    }

    static func literal(_ values: [String]) -> String { literal(values.map(Optional.some)) }
}
