import Foundation
import GRDB

/// The answer to `sshaudit query sql`: column names (in order) and rows of SQLite values.
public struct SQLResult: Sendable {
    public var columns: [String]
    public var rows: [[SQLValue]]
}

public enum SQLValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case let .int64(v): self = .integer(v)
        case let .double(v): self = .real(v)
        case let .string(v): self = .text(v)
        case let .blob(v): self = .blob(v)
        }
    }
}

extension AuditReader {
    /// Runs one statement that only reads. The connection is opened read-only as well, so nothing can
    /// write; a statement that would is refused before it runs, with a message that says so.
    public func readOnlyQuery(_ sql: String) throws -> SQLResult {
        do {
            return try read { db in
                var statements: [Statement] = []
                let cursor = try db.allStatements(sql: sql)
                while let statement = try cursor.next() { statements.append(statement) }
                guard statements.count == 1, let statement = statements.first else {
                    throw QueryError.sql(statements.isEmpty ? "no statement given" : "give one statement at a time (got \(statements.count))")
                }
                guard statement.isReadonly else {
                    let verb = statement.sql.split(whereSeparator: { $0.isWhitespace }).first.map { String($0).uppercased() } ?? "?"
                    throw QueryError.notReadOnly("\(verb) writes to the database")
                }
                let columns = statement.columnNames
                var rows: [[SQLValue]] = []
                let rowCursor = try Row.fetchCursor(statement)
                while let row = try rowCursor.next() {
                    rows.append((0..<row.count).map { SQLValue(row[$0] as DatabaseValue) })
                }
                return SQLResult(columns: columns, rows: rows)
            }
        } catch let error as DatabaseError {
            // One line: SQLite's message without the statement GRDB appends.
            throw QueryError.sql(error.message ?? "\(error.resultCode)")
        }
    }
}
