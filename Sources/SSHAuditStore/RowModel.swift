import Foundation
import GRDB

/// A table's read model (docs/ARCHITECTURE.md §4, "One declaration per table"): its `CodingKeys` are
/// the table's declaration (TableColumns.swift). GRDB decodes a row by them (`FetchableRecord` +
/// `Decodable`, column = key), the JSON output is the synthesized `Encodable` by the same keys, and CSV takes its cells
/// from that encoding (`RowCells`). A nullable column is declared `@Nullable`, so that an absent value
/// is written `null`, never left out.
public protocol TableReadModel: FetchableRecord, Codable, Sendable {
    /// The table it reads.
    static var table: String { get }
}

extension TableReadModel {
    /// GRDB's decoding, with a stored value of the wrong type (a row changed outside sshaudit) as one
    /// line naming the table and row, not GRDB's dump of the whole row.
    public init(row: Row) throws {
        do {
            self = try FetchableRecordDecoder().decode(Self.self, from: row)
        } catch {
            let id = (row["id"] as DatabaseValue?).map(\.description) ?? "?"
            throw QueryError.wrongType(table: Self.table, id: id)
        }
    }
}

/// What the tests ask of every read model: its keys, and which of them may be left out.
protocol TableRow: TableReadModel {
    associatedtype CodingKeys: CodingKey & CaseIterable
    /// Keys that are not columns and are left out when absent (a fleet row's `host`).
    static var leftOutWhenAbsent: Set<String> { get }
}

extension TableRow {
    static var leftOutWhenAbsent: Set<String> { [] }
}

/// A nullable column: encoded as `null` when absent (the synthesized encoder would leave the key out),
/// decoded as nil when null or when the column or key is missing (a database from before the
/// migration that added it).
@propertyWrapper
public struct Nullable<Value: Codable & Sendable>: Codable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = try c.decodeNil() ? nil : c.decode(Value.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

extension Nullable: Equatable where Value: Equatable {}

/// A flag column added by a later migration: false when the column is missing or null.
@propertyWrapper
public struct FalseIfMissing: Codable, Equatable, Sendable {
    public var wrappedValue: Bool

    public init(wrappedValue: Bool) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = try c.decodeNil() ? false : c.decode(Bool.self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(wrappedValue)
    }
}

/// `commands.argv`: stored as JSON text (`decodeArgv`, which also reads older forms), an array of
/// strings in JSON (the output, and a shipped row read back).
@propertyWrapper
public struct ArgvColumn: Codable, Equatable, Sendable {
    public var wrappedValue: [String]

    public init(wrappedValue: [String]) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { wrappedValue = [] }
        // A database column is text; JSON has the array (a text there fails fast, before the array).
        else if let text = try? c.decode(String.self) { wrappedValue = decodeArgv(text) }
        else { wrappedValue = try c.decode([String].self) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(wrappedValue)
    }
}

// The synthesized `init(from:)` and `encode(to:)` ask for the wrapper itself: these overloads (more
// specific, so chosen at compile time) make a missing key no error and go to the wrapped value
// directly, which GRDB reads straight from its column and an encoder writes without a nested one.
extension KeyedDecodingContainer {
    public func decode<V: Codable & Sendable>(_ type: Nullable<V>.Type, forKey key: Key) throws -> Nullable<V> {
        Nullable(wrappedValue: try decodeIfPresent(V.self, forKey: key))
    }

    public func decode(_ type: FalseIfMissing.Type, forKey key: Key) throws -> FalseIfMissing {
        FalseIfMissing(wrappedValue: try decodeIfPresent(Bool.self, forKey: key) ?? false)
    }

    public func decode(_ type: ArgvColumn.Type, forKey key: Key) throws -> ArgvColumn {
        // A database column is text; JSON has the array.
        if let text = try? decodeIfPresent(String.self, forKey: key) { return ArgvColumn(wrappedValue: decodeArgv(text)) }
        return ArgvColumn(wrappedValue: try decodeIfPresent([String].self, forKey: key) ?? [])
    }
}

extension KeyedEncodingContainer {
    public mutating func encode<V: Codable & Sendable>(_ value: Nullable<V>, forKey key: Key) throws {
        if let wrapped = value.wrappedValue { try encode(wrapped, forKey: key) } else { try encodeNil(forKey: key) }
    }

    public mutating func encode(_ value: FalseIfMissing, forKey key: Key) throws {
        try encode(value.wrappedValue, forKey: key)
    }

    public mutating func encode(_ value: ArgvColumn, forKey key: Key) throws {
        try encode(value.wrappedValue, forKey: key)
    }
}

/// One output cell, typed by what the row model encodes (never guessed from text).
public enum RowCell: Equatable, Sendable {
    case null, bool(Bool), integer(Int64), real(Double), text(String)
    /// An array or object, as compact JSON text with sorted keys.
    case json(String)
}

/// A row's cells in the order its encoder writes them (the declaration order of a row model), by key.
/// A key left out by the encoder (`encodeIfPresent` of nil) has no cell.
public enum RowCells {
    public static func of<T: Encodable>(_ row: T) throws -> [(key: String, cell: RowCell)] {
        let capture = CellCapture()
        try row.encode(to: CellEncoder(capture: capture))
        return capture.cells
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The cell of one value: a scalar as its type, anything else (an array) as JSON text.
    static func cell<T: Encodable>(_ value: T) throws -> RowCell {
        let single = SingleCapture()
        try value.encode(to: single)
        if let cell = single.cell { return cell }
        return .json(try json(value))
    }
}

final class CellCapture {
    var cells: [(key: String, cell: RowCell)] = []
}

/// Captures the top-level keyed container of a row; a nested value goes through `RowCells.cell`.
private struct CellEncoder: Encoder {
    let capture: CellCapture
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedCells<Key>(capture: capture))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer { Discard() }
    func singleValueContainer() -> SingleValueEncodingContainer { Discard() }
}

private struct KeyedCells<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let capture: CellCapture
    var codingPath: [CodingKey] = []

    func put(_ key: Key, _ cell: RowCell) { capture.cells.append((key.stringValue, cell)) }

    mutating func encodeNil(forKey key: Key) throws { put(key, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(key, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(key, .text(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(key, .real(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(key, .integer(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(key, .integer(Int64(value))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { put(key, try RowCells.cell(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedCells<NestedKey>(capture: CellCapture()))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { Discard() }
    mutating func superEncoder() -> Encoder { CellEncoder(capture: capture) }
    mutating func superEncoder(forKey key: Key) -> Encoder { CellEncoder(capture: capture) }
}

/// The value of one cell when it encodes as one scalar (a column wrapper does); nil otherwise.
private final class SingleCapture: Encoder, SingleValueEncodingContainer {
    var cell: RowCell?
    var codingPath: [CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedCells<Key>(capture: CellCapture()))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { Discard() }
    func singleValueContainer() -> SingleValueEncodingContainer { self }

    func encodeNil() throws { cell = .null }
    func encode(_ value: Bool) throws { cell = .bool(value) }
    func encode(_ value: String) throws { cell = .text(value) }
    func encode(_ value: Double) throws { cell = .real(value) }
    func encode(_ value: Int64) throws { cell = .integer(value) }
    func encode(_ value: Int) throws { cell = .integer(Int64(value)) }
    func encode<T: Encodable>(_ value: T) throws {
        // The other integer widths and Float come here too (a generic witness): no re-encoding loop.
        if let v = value as? any BinaryInteger { cell = .integer(Int64(truncatingIfNeeded: v)) }
        else if let v = value as? Float { cell = .real(Double(v)) }
        else { cell = try RowCells.cell(value) }
    }
}

/// Swallows what is not a cell of its own (the elements of an array, written as JSON text instead).
private struct Discard: UnkeyedEncodingContainer, SingleValueEncodingContainer {
    var codingPath: [CodingKey] = []
    var count = 0
    mutating func encodeNil() throws {}
    mutating func encode<T: Encodable>(_ value: T) throws {}
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedCells<NestedKey>(capture: CellCapture()))
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { Discard() }
    mutating func superEncoder() -> Encoder { CellEncoder(capture: CellCapture()) }
}
