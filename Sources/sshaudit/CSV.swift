import Foundation
import SSHAuditStore

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

    /// Rows by the keys their row model encodes (as `json` writes them, so the header is the JSON keys
    /// sorted, taken from the first row), each cell typed by what the model declares (`RowCells`):
    /// text as a text cell, numbers and booleans as such, arrays as compact JSON text, null empty.
    static func rows<T: Encodable>(_ rows: [T]) throws -> String {
        let encoded = try rows.map { try Dictionary(RowCells.of($0).map { ($0.key, $0.cell) }, uniquingKeysWith: { _, last in last }) }
        guard let keys = encoded.first?.keys.sorted() else { return "" }
        var out = line(keys.map(text))
        for cells in encoded {
            out += line(keys.map { cells[$0].map(field) ?? "" })
        }
        return out
    }

    static func field(_ cell: RowCell) -> String {
        switch cell {
        case .null: return ""
        case let .bool(v): return v ? "true" : "false"
        case let .integer(v): return String(v)
        case let .real(v): return String(v)
        case let .text(v), let .json(v): return text(v)
        }
    }
}
