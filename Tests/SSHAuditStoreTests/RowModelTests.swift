import Foundation
import GRDB
import XCTest
@testable import SSHAuditStore

/// The read models declare each table's columns once (their CodingKeys): decoding, JSON and CSV
/// all follow that declaration.
final class RowModelTests: XCTestCase {
    /// Every read model of a table.
    static var models: [(table: String, check: (Database) throws -> [String])] {
        [(SessionRow.table, missingNulls(SessionRow.self)), (CommandRow.table, missingNulls(CommandRow.self)),
         (AuthRow.table, missingNulls(AuthRow.self)), (TransferRow.table, missingNulls(TransferRow.self)),
         (SessionEventRow.table, missingNulls(SessionEventRow.self)), (ChannelRow.table, missingNulls(ChannelRow.self)),
         (RefusalRow.table, missingNulls(RefusalRow.self)), (NetworkRow.table, missingNulls(NetworkRow.self)),
         (FileActivityRow.table, missingNulls(FileActivityRow.self))]
    }

    /// A row with every column that may be null set to null, the others to '1' (SQLite converts it to
    /// what each column asks for): its JSON must still name every declared column, with `null`. A
    /// column declared optional without `@Nullable` would be left out and is named here.
    static func missingNulls<T: TableRow>(_ type: T.Type) -> (Database) throws -> [String] {
        // (Statement rows: SQLite converts '1' to what each column asks for.)
        { db in
            let keys = T.CodingKeys.allCases.map(\.stringValue)
            var nullable: Set<String> = []
            func fetch(_ nulls: Set<String>) throws -> T? {
                let columns = keys.map { "\(nulls.contains($0) ? "NULL" : "'1'") AS \"\($0)\"" }
                return try T.fetchOne(db, sql: "SELECT " + columns.joined(separator: ", "))
            }
            // One column at a time: null stays if the row still decodes (only a non-null column fails).
            for key in keys where (try? fetch(nullable.union([key]))) != nil { nullable.insert(key) }
            guard let row = try fetch(nullable) else { return ["(no row)"] }
            let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(row)) as! [String: Any]
            XCTAssertTrue(object.values.contains { $0 is NSNull }, "\(T.self): no null written, the probe is broken")
            return keys.filter { object[$0] == nil && !T.leftOutWhenAbsent.contains($0) }
        }
    }

    /// A read model reads exactly its table's declared columns (TableColumns.swift), apart from keys
    /// that are no columns (a fleet row's `host`); most take the declaration itself as `CodingKeys`.
    func testEveryReadModelReadsItsTableColumns() {
        func check<T: TableRow>(_ type: T.Type) {
            let keys = Set(T.CodingKeys.allCases.map(\.stringValue)).subtracting(T.leftOutWhenAbsent)
            XCTAssertEqual(keys, Set(LedgerTable(rawValue: T.table)?.columns ?? []), "\(T.self)")
        }
        check(SessionRow.self); check(CommandRow.self); check(AuthRow.self); check(TransferRow.self)
        check(SessionEventRow.self); check(ChannelRow.self); check(RefusalRow.self); check(NetworkRow.self)
        check(FileActivityRow.self)
        XCTAssertEqual(LedgerTable.sessions.columns.prefix(4), ["id", "sshd_pid", "sshd_start_ns", "listener_pid"])
        XCTAssertEqual(LedgerTable.sessions.setOnceColumns, ["user", "uid", "remote_addr", "remote_port", "local_addr", "local_port"])
    }

    func testEveryDeclaredColumnIsInTheJSONWithNull() throws {
        let db = try DatabaseQueue()
        try db.read { db in
            for (table, check) in Self.models {
                XCTAssertEqual(try check(db), [], "\(table): declared columns missing from the JSON of a row with nulls")
            }
        }
    }

    /// CSV cells take their type from the model: a Bool column is a boolean even where a number
    /// column beside it holds 1 and a text column holds "true".
    func testCSVCellsAreTypedByTheModel() throws {
        let db = try DatabaseQueue()
        let session = try db.read { db in
            try SessionRow.fetchOne(db, sql: """
                SELECT 1 AS id, 1 AS sshd_pid, 'true' AS user, 1 AS uid, '2026-01-01T00:00:00.000Z' AS started_at,
                       1 AS command_count, 1 AS recovered, 0 AS drops, NULL AS kind
                """)
        }
        let cells = Dictionary(try RowCells.of(XCTUnwrap(session)).map { ($0.key, $0.cell) }, uniquingKeysWith: { $1 })
        XCTAssertEqual(cells["recovered"], .bool(true))
        XCTAssertEqual(cells["drops"], .bool(false))
        XCTAssertEqual(cells["truncated_argv"], .bool(false), "a flag column missing from the row is false")
        XCTAssertEqual(cells["uid"], .integer(1))
        XCTAssertEqual(cells["command_count"], .integer(1))
        XCTAssertEqual(cells["user"], .text("true"))
        XCTAssertEqual(cells["kind"], .null)
        XCTAssertEqual(cells["tty"], .null, "a nullable column missing from the row is null")
        XCTAssertEqual(Set(cells.keys), Set(SessionRow.CodingKeys.allCases.map(\.stringValue)))

        let command = try db.read { db in
            try CommandRow.fetchOne(db, sql: """
                SELECT 1 AS id, 1 AS session_id, 1 AS pid, 1 AS ppid, 0 AS uid, '/bin/echo' AS filename,
                       '["echo","a,b"]' AS argv, 1 AS argv_truncated, '2026-01-01T00:00:00.000Z' AS started_at, 0 AS recovered
                """)
        }
        let commandCells = Dictionary(try RowCells.of(XCTUnwrap(command)).map { ($0.key, $0.cell) }, uniquingKeysWith: { $1 })
        XCTAssertEqual(commandCells["argv"], .json(#"["echo","a,b"]"#))
        XCTAssertEqual(commandCells["argv_truncated"], .bool(true))
        XCTAssertEqual(commandCells["uid"], .integer(0))
        XCTAssertEqual(commandCells["channel_id"], .null)
    }

    /// A stored value of the wrong type (a row changed outside sshaudit with sqlite3) is a one-line
    /// error naming the table and row; GRDB's own error would dump the whole row, and reading the
    /// column by subscript, as the readers did, trapped.
    func testAValueOfTheWrongTypeIsAOneLineError() throws {
        let db = try DatabaseQueue()
        let row = try db.read { db in
            try XCTUnwrap(Row.fetchOne(db, sql: "SELECT 7 AS id, 1 AS session_id, 'soon' AS at, 'local_forward' AS kind"))
        }
        XCTAssertEqual(try SessionEventRow(row: row).sessionID, 1)
        let tampered = try db.read { db in
            try XCTUnwrap(Row.fetchOne(db, sql: "SELECT 7 AS id, 'one' AS session_id, 'soon' AS at, 'local_forward' AS kind"))
        }
        XCTAssertThrowsError(try SessionEventRow(row: tampered)) { error in
            XCTAssertEqual("\(error)", "session_events row 7 holds a value of the wrong type: it was changed outside sshaudit "
                + "(`sshaudit verify` names it)")
        }
    }
}
