import Foundation

/// UTC ISO 8601 timestamps with milliseconds, the one time format of the database and the CLI.
/// Pure arithmetic (days from civil, after H. Hinnant), so it costs no formatter and no locale.
public enum Timestamp {
    /// "2026-11-28T23:55:01.123Z" for Unix-epoch nanoseconds.
    public static func iso(ns: Int64) -> String {
        var bytes: [UInt8] = []
        appendISO(ns: ns, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the text of `iso(ns:)` as UTF-8: the store binds it without making a String first (it
    /// runs several times for every row written).
    public static func appendISO(ns: Int64, to out: inout [UInt8]) {
        let ms = ns / 1_000_000 - (ns % 1_000_000 < 0 ? 1 : 0)  // floor, without overflow at Int64.min
        var secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let milli = Int(ms - secs * 1000)
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        secs -= days * 86_400
        let (y, m, d) = civil(fromDays: days)
        let h = Int(secs / 3600), mi = Int(secs % 3600 / 60), s = Int(secs % 60)
        // Int64 nanoseconds span the years 1677 to 2262: four digits always do.
        func digits(_ v: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
                divisor /= 10
            }
        }
        digits(y, 4); out.append(UInt8(ascii: "-")); digits(m, 2); out.append(UInt8(ascii: "-")); digits(d, 2)
        out.append(UInt8(ascii: "T")); digits(h, 2); out.append(UInt8(ascii: ":")); digits(mi, 2)
        out.append(UInt8(ascii: ":")); digits(s, 2); out.append(UInt8(ascii: ".")); digits(milli, 3)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fff]]" with an optional "Z" or "±HH:MM" (local
    /// times without an offset are taken as UTC). Returns Unix-epoch nanoseconds.
    public static func parse(_ text: String) -> Int64? {
        let chars = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= chars.count else { return nil }
            var v = 0
            for c in chars[i..<i + width] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += width
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < chars.count, chars[i] == c else { return false }
            i += 1
            return true
        }
        guard let y = number(4), expect(45), let mo = number(2), expect(45), let d = number(2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var h = 0, mi = 0, s = 0, fracNs: Int64 = 0, offsetSecs = 0
        if i < chars.count {
            guard expect(84) || expect(32) || expect(116) else { return nil }  // T, space, t
            guard let hh = number(2), expect(58), let mm = number(2), hh < 24, mm < 60 else { return nil }
            h = hh; mi = mm
            if expect(58) {
                guard let ss = number(2), ss < 61 else { return nil }
                s = ss
                if expect(46) {
                    var digits = 0
                    while i < chars.count, chars[i] >= 48, chars[i] <= 57 {
                        if digits < 9 { fracNs = fracNs * 10 + Int64(chars[i] - 48); digits += 1 }
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in digits..<9 { fracNs *= 10 }
                }
            }
            if expect(90) || expect(122) {  // Z
            } else if i < chars.count, chars[i] == 43 || chars[i] == 45 {
                let sign = chars[i] == 45 ? -1 : 1
                i += 1
                guard let oh = number(2) else { return nil }
                _ = expect(58)
                guard let om = number(2) else { return nil }
                offsetSecs = sign * (oh * 3600 + om * 60)
            }
        }
        guard i == chars.count else { return nil }
        let days = Int64(daysFromCivil(y, mo, d))
        let secs = days * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offsetSecs)
        return secs * 1_000_000_000 + fracNs
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = Int(z0) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

/// The one way the program reads the time: wall-clock nanoseconds since the Unix epoch, and the
/// kernel's CLOCK_BOOTTIME, in which its records are stamped.
public enum Clock {
    public static func ns(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public static func wallNs() -> Int64 { ns(CLOCK_REALTIME) }

    /// Offset from the kernel's CLOCK_BOOTTIME timestamps to wall-clock time, taken once.
    public static func bootToWallNs() -> Int64 {
        let before = ns(CLOCK_BOOTTIME)
        let wall = ns(CLOCK_REALTIME)
        let after = ns(CLOCK_BOOTTIME)
        return wall - (before + (after - before) / 2)
    }
}
