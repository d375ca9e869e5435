import Foundation

/// The ledger row_hash of a row from its JSON, for the tables whose JSON keys are exactly their
/// columns (integers, text and nulls): a copy kept elsewhere (the central database) can then be
/// checked against its ledger entry without the local database.
public enum ShippedRowHash {
    public static let tables: Set<String> = ["channels", "refusals"]

    /// A column's value as JSON holds it.
    private enum Value: Decodable {
        case null, integer(Int64), text(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null } else if let i = try? c.decode(Int64.self) { self = .integer(i) } else {
                self = .text(try c.decode(String.self))
            }
        }
    }

    /// The hash `verify` computes of the stored row, or nil when `table` is not one of `tables` or
    /// `json` is not such a row (a key missing, a value of another type).
    public static func of(table name: String, json: String) -> [UInt8]? {
        guard tables.contains(name), let table = LedgerTable(rawValue: name),
              let object = try? JSONDecoder().decode([String: Value].self, from: Data(json.utf8)) else { return nil }
        var encoder = Ledger.Encoder()
        encoder.start(table)
        for column in table.columns {
            switch object[column] {
            case .null: encoder.null()
            case let .integer(i): encoder.integer(i)
            case var .text(text): text.withUTF8 { encoder.text($0) }
            case nil: return nil
            }
        }
        return Array(encoder.digest)
    }
}
