import XCTest
@testable import SSHAuditCore

final class TimestampTests: XCTestCase {
    func testFormatsUTCWithMilliseconds() {
        XCTAssertEqual(Timestamp.iso(ns: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Timestamp.iso(ns: 1_795_917_299_123_999_999), "2026-11-29T01:54:59.123Z")
        XCTAssertEqual(Timestamp.iso(ns: 951_782_400_000_000_000), "2000-02-29T00:00:00.000Z")
        XCTAssertEqual(Timestamp.iso(ns: -1_000_000), "1969-12-31T23:59:59.999Z")
        // The ends of the range (every digit written, no sign, no overflow).
        XCTAssertEqual(Timestamp.iso(ns: .max), "2262-04-11T23:47:16.854Z")
        XCTAssertEqual(Timestamp.iso(ns: .min), "1677-09-21T00:12:43.145Z")
        var bytes = Array("x".utf8)
        Timestamp.appendISO(ns: 0, to: &bytes)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "x1970-01-01T00:00:00.000Z")
    }

    func testParsesWhatItFormatsAndCommonForms() {
        for ns: Int64 in [0, 1_795_917_299_123_000_000, 951_782_400_000_000_000, 4_102_444_799_999_000_000] {
            XCTAssertEqual(Timestamp.parse(Timestamp.iso(ns: ns)), ns)
        }
        XCTAssertEqual(Timestamp.parse("2026-11-28"), 1_795_824_000_000_000_000)
        XCTAssertEqual(Timestamp.parse("2026-11-28T01:00"), 1_795_827_600_000_000_000)
        XCTAssertEqual(Timestamp.parse("2026-11-28T03:00:00+02:00"), 1_795_827_600_000_000_000)
        XCTAssertEqual(Timestamp.parse("2026-11-28 01:00:00.5Z"), 1_795_827_600_500_000_000)
        for bad in ["", "yesterday", "2026-13-01", "2026-11-28T25:00", "2026-11-28T01:00:00.", "2026-11-28Tx"] {
            XCTAssertNil(Timestamp.parse(bad), bad)
        }
    }
}
