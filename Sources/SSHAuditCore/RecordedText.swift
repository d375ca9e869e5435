/// Bytes from the recorded world (a path, an argv string, a socket's name) as stored text, exactly.
///
/// Linux names are bytes, not UTF-8; the store, JSON and PostgreSQL hold text. Decoding with U+FFFD
/// in place of each invalid byte would make `x\xff` and `x\xfe` one name, so that one file's row could
/// stand for another's. Instead:
///
/// - valid UTF-8 without U+FFFD (every ordinary name) is kept as it is;
/// - a byte that is not part of valid UTF-8 is stored as U+FFFD followed by its two lower-case hex
///   digits (`x\xff` → `x�ff`);
/// - a U+FFFD that was in the bytes is stored as its three bytes so escaped (`�ef�bf�bd`), so that
///   every U+FFFD in stored text starts an escape and the form reads back to the bytes (`bytes(of:)`).
///
/// VisibleText shows each such escape as `\xff`. Rows stored before this form kept a bare U+FFFD.
public enum RecordedText {
    static let mark: Unicode.Scalar = "\u{FFFD}"

    /// The stored text of `bytes`.
    public static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if let text = bytes.withContiguousStorageIfAvailable({ string(UnsafeRawBufferPointer($0)) }) { return text }
        return string(Array(bytes))
    }

    /// The decoder's case (every string of every event): ASCII, nearly every name and argument, costs
    /// a scan eight bytes at a time before the decoding.
    public static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        if isASCII(bytes) { return String(decoding: bytes, as: UTF8.self) }
        return escaping(bytes)
    }

    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var high: UInt64 = 0, i = 0
        while i + 8 <= bytes.count {
            high |= bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            high |= UInt64(bytes[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }

    private static func escaping(_ bytes: UnsafeRawBufferPointer) -> String {
        if let text = String(validating: bytes, as: UTF8.self), !text.unicodeScalars.contains(mark) { return text }
        var out = String.UnicodeScalarView()
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        var rest = bytes[...]
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded)
                if scalar == mark {
                    rest.prefix(encoded.count).forEach { escape($0, into: &out) }
                } else {
                    out.append(scalar)
                }
                rest = rest.dropFirst(encoded.count)
            case .error(let length):
                rest.prefix(length).forEach { escape($0, into: &out) }
                rest = rest.dropFirst(length)
            case .emptyInput:
                return String(out)
            }
        }
    }

    private static let digits = Array("0123456789abcdef".unicodeScalars)

    private static func escape(_ byte: UInt8, into out: inout String.UnicodeScalarView) {
        out.append(mark)
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }

    /// The bytes that stored text stands for (the inverse of `string`). A U+FFFD not followed by two
    /// lower-case hex digits (a row stored before this form) stays as its UTF-8.
    public static func bytes(of text: String) -> [UInt8] {
        var out: [UInt8] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            if let byte = escapedByte(scalars[i...]) {
                out.append(byte)
                i += 3
                continue
            }
            out.append(contentsOf: String(scalars[i]).utf8)
            i += 1
        }
        return out
    }

    /// The byte escaped at the start of `scalars` (U+FFFD and two lower-case hex digits), if one is.
    static func escapedByte(_ scalars: some Collection<Unicode.Scalar>) -> UInt8? {
        var it = scalars.makeIterator()
        guard it.next() == mark, let hi = it.next().flatMap(hexValue), let lo = it.next().flatMap(hexValue) else { return nil }
        return hi << 4 | lo
    }

    private static func hexValue(_ scalar: Unicode.Scalar) -> UInt8? {
        switch scalar.value {
        case 0x30...0x39: return UInt8(scalar.value - 0x30)
        case 0x61...0x66: return UInt8(scalar.value - 0x61 + 10)
        default: return nil
        }
    }
}
