import Foundation
import GRDB
import GRDBSQLite

/// `verify`'s check of the --grep index (schema/0005, 0012) against the commands it covers, those up
/// to `indexed_upto`. The index keeps no text, so it is compared token by token: each (command,
/// position, trigram) it holds must be what SQLite's own trigram tokenizer makes of that command's
/// line, and it must hold nothing else. Both sides are summed per range of command ids under a hash
/// keyed afresh for each run (no change can be made to sum the same), and the ranges that differ are
/// compared again command by command, to name the first that differs. Reads every index entry: as
/// costly as reading the index, and only `verify` does it.
enum GrepIndexCheck {
    /// How the index makes a command's line of its argv (the recorder's indexer, schema/0012).
    static let indexedLine = "CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(argv)) ELSE argv END"
    static let vocabulary = "temp.sshaudit_verify_grep_index"
    static let rangeCount = 1 << 16

    /// The commands checked (0 without an index).
    static func run(_ db: Database) throws -> Int {
        guard try db.tableExists("commands_argv") else { return 0 }
        let upto: Int64
        if try db.tableExists("commands_argv_progress") {
            upto = try Int64.fetchOne(db, sql: "SELECT indexed_upto FROM commands_argv_progress") ?? 0
        } else if try db.tableExists("grdb_migrations"),
                  try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM grdb_migrations WHERE identifier LIKE '0012%')") == true {
            // Without it, queries would take the index as complete and miss what it lacks.
            throw LedgerProblem.grepIndexUnusable("has lost its record of which commands it holds (commands_argv_progress)")
        } else {
            // Before schema 0012, triggers kept the index complete.
            upto = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM commands") ?? 0
        }
        try readable { try db.execute(sql: "CREATE VIRTUAL TABLE \(vocabulary) USING fts5vocab(main, commands_argv, instance)") }
        defer { try? db.execute(sql: "DROP TABLE \(vocabulary)") }
        var sums = Sums(upto: upto)
        let tokenizer = try TrigramTokenizer(db)
        let checked = try sums.addCommands(db, tokenizer, only: nil)
        try sums.addIndex(db, only: nil)
        if let extra = sums.beyond {
            throw LedgerProblem.grepIndex(id: extra, why: "has an entry in the --grep index past the commands it holds (indexed_upto \(upto))")
        }
        let differing = Set(sums.ranges.indices.filter { sums.ranges[$0] != sums.indexRanges[$0] })
        guard !differing.isEmpty else { return checked }
        // Command by command in the ranges that differ.
        var each = Sums(upto: upto, perCommand: differing)
        _ = try each.addCommands(db, tokenizer, only: differing)
        try each.addIndex(db, only: differing)
        let ids = Set(each.commands.keys).union(each.index.keys).sorted()
        for id in ids where each.commands[id] != each.index[id] {
            let expected = each.commands[id], found = each.index[id]
            if found == nil { throw LedgerProblem.grepIndex(id: id, why: "is missing from the --grep index") }
            if expected == nil,
               !(try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM commands WHERE id = ?)", arguments: [id]) ?? false) {
                throw LedgerProblem.grepIndex(id: id, why: "has an entry in the --grep index, but there is no such command")
            }
            throw LedgerProblem.grepIndex(id: id, why: "has an entry in the --grep index that differs from its command line")
        }
        throw LedgerProblem.grepIndexUnusable("differs from the commands it holds")
    }

    /// Sums of keyed token hashes: per range of ids, or per command in the ranges given.
    struct Sums {
        let upto: Int64
        let width: Int64
        var ranges: [UInt64]
        var indexRanges: [UInt64]
        /// Per command: the sum and the number of tokens.
        var commands: [Int64: Token] = [:]
        var index: [Int64: Token] = [:]
        /// The lowest id past `indexed_upto` that the index holds.
        var beyond: Int64?
        let perCommand: Set<Int>?
        let key = UInt64.random(in: .min ... .max)

        struct Token: Equatable {
            var sum: UInt64 = 0
            var count = 0
        }

        init(upto: Int64, perCommand: Set<Int>? = nil) {
            self.upto = upto
            width = upto / Int64(GrepIndexCheck.rangeCount) + 1
            ranges = perCommand == nil ? Array(repeating: 0, count: GrepIndexCheck.rangeCount) : []
            indexRanges = ranges
            self.perCommand = perCommand
        }

        func range(_ id: Int64) -> Int { Int(id / width) }

        /// SipHash (Swift's `Hasher`, seeded at random per process) of the key and the instance; a
        /// trigram (at most 12 bytes) goes in as two words, the cheapest way in.
        func hash(_ id: Int64, _ position: Int64, _ token: UnsafeRawBufferPointer) -> UInt64 {
            var hasher = Hasher()
            hasher.combine(key)
            hasher.combine(UInt64(bitPattern: id))
            hasher.combine(UInt64(bitPattern: position) | UInt64(token.count) << 56)
            if token.count <= 16 {
                var words: (UInt64, UInt64) = (0, 0)
                withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: token) }
                hasher.combine(words.0)
                hasher.combine(words.1)
            } else {
                hasher.combine(bytes: token)
            }
            return UInt64(bitPattern: Int64(hasher.finalize()))
        }

        mutating func add(_ id: Int64, _ position: Int64, _ token: UnsafeRawBufferPointer, toIndex: Bool) {
            let h = hash(id, position, token)
            if perCommand == nil {
                if toIndex { indexRanges[range(id)] &+= h } else { ranges[range(id)] &+= h }
            } else {
                if toIndex {
                    index[id, default: Token()].sum &+= h
                    index[id, default: Token()].count += 1
                } else {
                    commands[id, default: Token()].sum &+= h
                    commands[id, default: Token()].count += 1
                }
            }
        }

        /// The tokens of the command lines up to `upto` (in the ranges `only`); returns how many.
        mutating func addCommands(_ db: Database, _ tokenizer: TrigramTokenizer, only: Set<Int>?) throws -> Int {
            var clauses: [String] = []
            if let only {
                clauses = only.sorted().map { "id BETWEEN \(Int64($0) * width) AND \(Int64($0 + 1) * width - 1)" }
            }
            let sql = "SELECT id, \(GrepIndexCheck.indexedLine) FROM commands WHERE id <= ?"
                + (clauses.isEmpty ? "" : " AND (" + clauses.joined(separator: " OR ") + ")")
            let rows = try Row.fetchCursor(db, sql: sql, arguments: [upto])
            var count = 0
            while let row = try rows.next() {
                let id: Int64 = row[0]
                try row.withUnsafeData(atIndex: 1) { data in
                    try data?.withUnsafeBytes { text in
                        try tokenizer.tokens(of: text) { position, token in add(id, position, token, toIndex: false) }
                    }
                }
                count += 1
            }
            return count
        }

        /// Every token instance the index holds (those of the ranges `only`).
        mutating func addIndex(_ db: Database, only: Set<Int>?) throws {
            let statement = try db.makeStatement(sql: "SELECT term, doc, offset FROM \(GrepIndexCheck.vocabulary)")
            let handle = statement.sqliteStatement
            while try readable({ try SQLiteCall.row(handle, in: db) }) {
                let id = sqlite3_column_int64(handle, 1)
                if id < 1 || id > upto {
                    beyond = min(beyond ?? id, id)
                    continue
                }
                if let only, !only.contains(range(id)) { continue }
                let token = UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, 0), count: Int(sqlite3_column_bytes(handle, 0)))
                add(id, sqlite3_column_int64(handle, 2), token, toIndex: true)
            }
            sqlite3_reset(handle)
        }
    }
}

/// A damaged index (its shadow tables edited) is a finding, not an error of sshaudit.
private func readable<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as DatabaseError {
        throw LedgerProblem.grepIndexUnusable("cannot be read (\(error.message ?? "\(error.resultCode)"))")
    }
}

/// SQLite's FTS5 tokenizer as the index declares it (`trigram case_sensitive 1`, schema/0005), called
/// directly: the tokens the index would hold for a text.
final class TrigramTokenizer {
    private let methods: fts5_tokenizer
    private let tokenizer: OpaquePointer

    init(_ db: Database) throws {
        func fail(_ why: String) -> LedgerProblem { .grepIndexUnusable("cannot be checked: \(why)") }
        // The API is handed out through a pointer bound to `SELECT fts5(?)` (SQLite's documented way).
        var api: UnsafeMutablePointer<fts5_api>?
        let statement = try db.makeStatement(sql: "SELECT fts5(?1)")
        let code = withUnsafeMutablePointer(to: &api) { pointer -> Int32 in
            sqlite3_bind_pointer(statement.sqliteStatement, 1, pointer, fts5APIPointerType, nil)
            return sqlite3_step(statement.sqliteStatement)
        }
        sqlite3_reset(statement.sqliteStatement)
        guard code == SQLITE_ROW, let api, let find = api.pointee.xFindTokenizer else { throw fail("no FTS5 in this SQLite") }
        var context: UnsafeMutableRawPointer?
        var methods = fts5_tokenizer()
        guard find(api, "trigram", &context, &methods) == SQLITE_OK, let create = methods.xCreate else {
            throw fail("no trigram tokenizer in this SQLite")
        }
        var created: OpaquePointer?
        let status = "case_sensitive".withCString { name in
            "1".withCString { value -> Int32 in
                var arguments: [UnsafePointer<CChar>?] = [name, value]
                return create(context, &arguments, 2, &created)
            }
        }
        guard status == SQLITE_OK, let created else { throw fail("the trigram tokenizer refused its options") }
        self.methods = methods
        tokenizer = created
    }

    deinit { methods.xDelete?(tokenizer) }

    /// Calls `body` with each token's position and bytes, in order.
    func tokens(of text: UnsafeRawBufferPointer, _ body: (Int64, UnsafeRawBufferPointer) -> Void) throws {
        try withoutActuallyEscaping(body) { body in
            var sink = Sink(body: body)
            let code = withUnsafeMutablePointer(to: &sink) { pointer in
                methods.xTokenize?(tokenizer, pointer, FTS5_TOKENIZE_DOCUMENT, text.baseAddress?.assumingMemoryBound(to: CChar.self),
                                   Int32(text.count), { context, _, token, count, _, _ in
                    let sink = context!.assumingMemoryBound(to: Sink.self)
                    sink.pointee.body(sink.pointee.position, UnsafeRawBufferPointer(start: token, count: Int(count)))
                    sink.pointee.position += 1
                    return SQLITE_OK
                }) ?? SQLITE_ERROR
            }
            guard code == SQLITE_OK else { throw LedgerProblem.grepIndexUnusable("cannot be checked: the tokenizer failed") }
        }
    }

    private struct Sink {
        let body: (Int64, UnsafeRawBufferPointer) -> Void
        var position: Int64 = 0
    }
}

/// The type name `SELECT fts5(?)` expects its pointer under: must outlive the statement.
private let fts5APIPointerType: UnsafePointer<CChar> = UnsafePointer(strdup("fts5_api_ptr")!)
