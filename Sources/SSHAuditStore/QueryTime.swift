import Foundation
import SSHAuditCore

/// Times given to `--since` and `--until`: ISO 8601 ("2026-11-28", "2026-11-28T23:55",
/// "2026-11-28T23:55:01.123Z", "…+02:00"; without an offset, UTC) or relative to now ("90s", "30m",
/// "2h", "7d", "2w" ago), or "now". The result is the database's own text form, so that it compares
/// with the stored times as text.
public enum QueryTime {
    public static let help = "ISO 8601 (2026-11-28, 2026-11-28T23:55:01Z) or relative (30m, 2h, 7d)"

    public static func parse(_ text: String, nowNs: Int64 = Clock.wallNs()) -> String? {
        parseNs(text, nowNs: nowNs).map(Timestamp.iso(ns:))
    }

    public static func parseNs(_ text: String, nowNs: Int64 = Clock.wallNs()) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "now" { return nowNs }
        if let ago = relativeNs(trimmed) { return nowNs - ago }
        return Timestamp.parse(trimmed)
    }

    /// "30m" → 30 minutes in nanoseconds; units s, m, h, d, w.
    static func relativeNs(_ text: String) -> Int64? {
        guard let unit = text.last, text.count >= 2, text.count <= 12 else { return nil }
        let digits = text.dropLast()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(digits) else { return nil }
        let seconds: Int64
        switch unit {
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86_400
        case "w": seconds = 7 * 86_400
        default: return nil
        }
        let (total, overflow) = n.multipliedReportingOverflow(by: seconds * 1_000_000_000)
        return overflow ? nil : total
    }
}
