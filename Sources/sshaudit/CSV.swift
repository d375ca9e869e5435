import Foundation

/// RFC 4180 CSV (CRLF line ends; a field with a comma, a double quote, CR or LF is quoted, its double
/// quotes doubled) that a spreadsheet opens without running anything: a text cell beginning with
/// `=`, `+`, `-`, `@`, TAB or CR (OWASP's list of formula starts) gets a leading `'`. Numbers are
/// never changed, so an exit code of -1 stays a number.
enum CSV {
    /// A text cell.
    static func text(_ value: String) -> String {
        var cell = value
        if let first = cell.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { cell = "'" + cell }
        let special: Set<UInt8> = [0x2c, 0x22, 0x0a, 0x0d]  // , " LF CR
        let needsQuotes = cell.utf8.contains(where: special.contains)
        return needsQuotes ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
    }

    static func line(_ cells: [String]) -> String { cells.joined(separator: ",") + "\r\n" }

    /// Rows as their JSON objects (same keys, sorted, as header): strings are text cells, numbers and
    /// booleans as JSON writes them, arrays as compact JSON text (a text cell), null empty.
    static func rows<T: Encodable>(_ rows: [T]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let objects = try JSONDecoder().decode([[String: Cell]].self, from: encoder.encode(rows))
        guard let keys = objects.first?.keys.sorted() else { return "" }
        var out = line(keys.map(text))
        for object in objects {
            out += line(try keys.map { try object[$0]?.field(encoder) ?? "" })
        }
        return out
    }

    /// One JSON value, its type as JSON says (no guessing from the text).
    private enum Cell: Codable {
        case null, bool(Bool), integer(Int64), real(Double), string(String), array([Cell]), object([String: Cell])

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            // Most likely first: every miss costs a thrown error.
            if c.decodeNil() { self = .null }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else if let v = try? c.decode(Int64.self) { self = .integer(v) }
            else if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode([Cell].self) { self = .array(v) }
            else if let v = try? c.decode(Double.self) { self = .real(v) }
            else { self = .object(try c.decode([String: Cell].self)) }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .null: try c.encodeNil()
            case let .bool(v): try c.encode(v)
            case let .integer(v): try c.encode(v)
            case let .real(v): try c.encode(v)
            case let .string(v): try c.encode(v)
            case let .array(v): try c.encode(v)
            case let .object(v): try c.encode(v)
            }
        }

        func field(_ encoder: JSONEncoder) throws -> String {
            switch self {
            case .null: return ""
            case let .bool(v): return v ? "true" : "false"
            case let .integer(v): return String(v)
            case let .real(v): return String(v)
            case let .string(v): return CSV.text(v)
            case .array, .object: return CSV.text(String(decoding: try encoder.encode(self), as: UTF8.self))
            }
        }
    }
}
