/// Text that came from the recorded world (argv, paths, user names as typed, log text, any cell of
/// the database) made safe to put in front of a human: every character that a terminal or a page
/// would act on or hide instead of showing is written out as an escape, so a recorded user cannot
/// erase, rewrite or reorder what the auditor sees.
///
/// - `\` → `\\` (so every other backslash starts an escape, and the form reads back unambiguously);
/// - TAB, LF, CR → `\t`, `\n`, `\r`; the other C0 controls and DEL → `\x00`…`\x1f`, `\x7f`;
/// - C1 controls (U+0080…U+009F, e.g. U+009B, the one-character CSI) → `\u0080`…`\u009f`;
/// - bidirectional controls (U+202A…U+202E, U+2066…U+2069, and the marks U+200E, U+200F, U+061C),
///   the line and paragraph separators (U+2028, U+2029) and the invisible U+200B, U+2060, U+FEFF
///   → `\u202e` etc.
/// - a byte that was not UTF-8 (RecordedText: stored as U+FFFD and two hex digits) → `\x80`…`\xff`
///   (never a character: U+0080…U+00FF show as themselves or as `\u0080`…`\u009f`).
/// Everything else, all other Unicode included, is kept as is. Hex digits are lower case.
/// It lives in SSHAuditCore, under both the store and the CLI, so there is one rule for every output.
public enum VisibleText {
    /// The visible form of `text`.
    public static func render(_ text: String) -> String {
        // The common case (printable ASCII without a backslash) costs one scan and no copy.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x5c }) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for (scalar, escaped) in pieces(text) {
            if let escaped { out += escaped } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// Each character of `text` with its escape, if it has one; an escaped byte (RecordedText) is one
    /// piece, its U+FFFD standing for the three scalars.
    private static func pieces(_ text: String) -> [(Unicode.Scalar, String?)] {
        let scalars = Array(text.unicodeScalars)
        var out: [(Unicode.Scalar, String?)] = []
        out.reserveCapacity(scalars.count)
        var i = 0
        while i < scalars.count {
            if let byte = RecordedText.escapedByte(scalars[i...]) {
                out.append((scalars[i], hex("\\x", byte, digits: 2)))
                i += 3
            } else {
                out.append((scalars[i], escape(scalars[i])))
                i += 1
            }
        }
        return out
    }

    /// The terminal columns a rendered text takes: combining marks and format characters none, East
    /// Asian wide characters and emoji two, everything else one.
    public static func width(_ rendered: String) -> Int {
        if rendered.utf8.allSatisfy({ $0 < 0x80 }) { return rendered.utf8.count }
        return rendered.unicodeScalars.reduce(0) { $0 + columns($1) }
    }

    /// `text` rendered and, if it is wider than `limit` columns, cut to `limit - 1` columns plus "…".
    /// The cut never splits an escape or leaves a combining mark without its base.
    public static func fit(_ text: String, columns limit: Int) -> String {
        let rendered = render(text)
        if width(rendered) <= limit { return rendered }
        guard limit > 0 else { return "" }
        var out = "", used = 0
        for (scalar, escaped) in pieces(text) {
            let w = escaped?.utf8.count ?? columns(scalar)  // an escape is ASCII
            if used + w > limit - 1 { break }
            if let escaped { out += escaped } else { out.unicodeScalars.append(scalar) }
            used += w
        }
        return out + "…"
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String? {
        switch scalar.value {
        case 0x5c: return "\\\\"
        case 0x09: return "\\t"
        case 0x0a: return "\\n"
        case 0x0d: return "\\r"
        case 0x00...0x1f, 0x7f: return hex("\\x", scalar.value, digits: 2)
        case 0x80...0x9f,                  // C1 controls
             0x061c, 0x200e, 0x200f,       // bidi marks: ALM, LRM, RLM
             0x202a...0x202e,              // bidi embeddings and overrides: LRE, RLE, PDF, LRO, RLO
             0x2066...0x2069,              // bidi isolates: LRI, RLI, FSI, PDI
             0x2028, 0x2029,               // line and paragraph separators
             0x200b, 0x2060, 0xfeff:       // invisible: zero-width space, word joiner, BOM
            return hex("\\u", scalar.value, digits: 4)
        default: return nil
        }
    }

    /// `text` rendered and cut into lines of at most `limit` columns, nothing left out: joined, the
    /// lines are `render(text)`. A break never splits an escape or leaves a combining mark without its
    /// base, and never leaves a line ending in spaces (they begin the next one, where they show as a
    /// shifted start), so an attacker's padding can push text onto a later line but not out of sight.
    public static func lines(_ text: String, columns limit: Int) -> [String] {
        let rendered = render(text)
        if width(rendered) <= limit { return [rendered] }
        var lines: [String] = [], line: [Unicode.Scalar] = [], used = 0
        func flush() {
            // Trailing spaces move to the next line, unless the line is nothing but spaces.
            var keep = line.count
            while keep > 0 && line[keep - 1] == " " { keep -= 1 }
            if keep == 0 { keep = line.count }
            var done = ""
            done.unicodeScalars.append(contentsOf: line[..<keep])
            lines.append(done)
            line = Array(line[keep...])
            used = line.count
        }
        for (scalar, escaped) in pieces(text) {
            let piece = escaped.map { Array($0.unicodeScalars) } ?? [scalar]
            let w = escaped?.utf8.count ?? columns(scalar)  // an escape is ASCII
            while used + w > limit && used > 0 { flush() }  // twice when the spaces carried over leave no room
            line += piece
            used += w
        }
        if !line.isEmpty {
            var last = ""
            last.unicodeScalars.append(contentsOf: line)
            lines.append(last)
        }
        return lines
    }

    private static func hex<N: BinaryInteger>(_ prefix: String, _ value: N, digits: Int) -> String {
        let text = String(value, radix: 16)
        return prefix + String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// wcwidth-style columns of one printable scalar.
    private static func columns(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        if v < 0x300 { return 1 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if (0x1160...0x11ff).contains(v) { return 0 }  // Hangul medial vowels and final consonants
        if scalar.properties.isEmojiPresentation { return 2 }
        switch v {
        case 0x1100...0x115f, 0x2329, 0x232a, 0x2e80...0x303e, 0x3041...0x33ff, 0x3400...0x4dbf, 0x4e00...0x9fff,
             0xa000...0xa4cf, 0xa960...0xa97f, 0xac00...0xd7a3, 0xf900...0xfaff, 0xfe10...0xfe19, 0xfe30...0xfe6f,
             0xff00...0xff60, 0xffe0...0xffe6, 0x1f300...0x1f64f, 0x1f900...0x1f9ff, 0x20000...0x2fffd, 0x30000...0x3fffd:
            return 2
        default: return 1
        }
    }
}
