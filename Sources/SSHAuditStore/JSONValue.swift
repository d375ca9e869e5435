/// A JSON document built in code (OCSF events), written compact with its keys in the order they were
/// set: Foundation's writers either reorder keys or sort them at a cost several times the rest of
/// the export.
public enum JSONValue: Sendable, Equatable {
    case string(String), int(Int64), bool(Bool), array([JSONValue]), object(JSONObject)

    public static func int(_ value: Int) -> JSONValue { .int(Int64(value)) }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case let .string(s): JSONText.appendQuoted(s, to: &out)
        case let .int(n): out.append(contentsOf: String(n).utf8)
        case let .bool(b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case let .array(items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(object): object.write(to: &out)
        }
    }
}

/// Keys in insertion order; setting nil leaves a key out (OCSF omits what is not known).
public struct JSONObject: Sendable, Equatable {
    private(set) var pairs: [(key: String, value: JSONValue)] = []

    public init() {}

    public subscript(key: String) -> JSONValue? {
        get { pairs.first { $0.key == key }?.value }
        set {
            let index = pairs.firstIndex { $0.key == key }
            switch (index, newValue) {
            case let (i?, value?): pairs[i].value = value
            case let (i?, nil): pairs.remove(at: i)
            case let (nil, value?): pairs.append((key, value))
            case (nil, nil): break
            }
        }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, pair) in pairs.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendQuoted(pair.key, to: &out)
            out.append(UInt8(ascii: ":"))
            pair.value.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

/// Optional values as JSON, nil meaning "leave the key out".
extension Optional where Wrapped == String {
    var json: JSONValue? { map(JSONValue.string) }
}

extension Optional where Wrapped == Int64 {
    var json: JSONValue? { map(JSONValue.int) }
}
