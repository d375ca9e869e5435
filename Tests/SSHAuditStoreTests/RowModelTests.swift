import Foundation
import GRDB
import XCTest
@testable import SSHAuditStore

/// The read models declare each table's columns once (their CodingKeys): decoding, JSON and CSV
/// all follow that declaration.
final class RowModelTests: XCTestCase {
    /// Every read model of a table, by the table it reads.
    static var models: [(table: String, check: (Database) throws -> [String])] = [
        ("sessions", missingNulls(SessionRow.self)), ("commands", missingNulls(CommandRow.self)),
        ("auth_attempts", missingNulls(AuthRow.self)), ("file_transfers", missingNulls(TransferRow.self)),
        ("session_events", missingNulls(SessionEventRow.self)), ("channels", missingNulls(ChannelRow.self)),
        ("refusals", missingNulls(RefusalRow.self)), ("network_activity", missingNulls(NetworkRow.self)),
        ("file_activity", missingNulls(FileActivityRow.self)),
    ]

    /// A row with every column that may be null set to null, the others to '1' (SQLite converts it to
    /// what each column asks for): its JSON must still name every declared column, with `null`. A
    /// column declared optional without `@Nullable` would be left out and is named here.
    static func missingNulls<T: TableRow>(_ type: T.Type) -> (Database) throws -> [String] {
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
}
