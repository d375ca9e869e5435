import XCTest
@testable import SSHAuditCore

/// Names are bytes: stored text must tell apart every two names and read back to the bytes.
final class RecordedTextTests: XCTestCase {
    func testValidUTF8IsKeptAsItIs() {
        for text in ["/etc/cron.d/x", "grüße", "日本語", "dev-disk-by\\x2duuid.device", "", "a\u{0}b"] {
            XCTAssertEqual(RecordedText.string(Array(text.utf8)), text)
        }
    }

    func testBytesThatAreNotUTF8BecomeEscapesThatKeepThemApart() {
        XCTAssertEqual(RecordedText.string([0x78, 0xff]), "x\u{FFFD}ff")
        XCTAssertEqual(RecordedText.string([0x78, 0xfe]), "x\u{FFFD}fe")
        // A sequence cut short, an overlong form, a surrogate: each byte of it.
        XCTAssertEqual(RecordedText.string([0xe2, 0x82]), "\u{FFFD}e2\u{FFFD}82")
        XCTAssertEqual(RecordedText.string([0xc0, 0xaf]), "\u{FFFD}c0\u{FFFD}af")
        XCTAssertEqual(RecordedText.string([0xed, 0xa0, 0x80, 0x41]), "\u{FFFD}ed\u{FFFD}a0\u{FFFD}80A")
        // Valid text around them is kept.
        XCTAssertEqual(RecordedText.string(Array("é".utf8) + [0xff] + Array("日".utf8)), "é\u{FFFD}ff日")
        // The old lossy decoding made these one name.
        XCTAssertEqual(String(decoding: [0x78, 0xff], as: UTF8.self), String(decoding: [0x78, 0xfe], as: UTF8.self))
    }

    /// The ASCII scan reads eight bytes at a time: a byte that is not ASCII is found at every place.
    func testAByteAnywhereInALongNameIsFound() {
        for at in 0..<21 {
            var bytes = [UInt8](repeating: 0x61, count: 21)
            bytes[at] = 0xff
            let text = RecordedText.string(bytes)
            XCTAssertEqual(text.unicodeScalars.filter { $0 == "\u{FFFD}" }.count, 1, "at \(at)")
            XCTAssertEqual(RecordedText.bytes(of: text), bytes)
        }
    }

    func testAReplacementCharacterInTheBytesIsEscapedToo() {
        // Else "x\u{FFFD}ff" typed as valid UTF-8 would be the name x\xff.
        let typed = Array("x\u{FFFD}ff".utf8)
        XCTAssertEqual(RecordedText.string(typed), "x\u{FFFD}ef\u{FFFD}bf\u{FFFD}bdff")
        XCTAssertNotEqual(RecordedText.string(typed), RecordedText.string([0x78, 0xff]))
    }

    /// Every byte string reads back exactly, so no two share a stored text: all strings of up to four
    /// bytes over an alphabet of ASCII, hex digits, lead and continuation bytes and U+FFFD's bytes.
    func testEveryByteStringReadsBack() {
        let alphabet: [UInt8] = [0x61, 0x66, 0x30, 0x2f, 0xef, 0xbf, 0xbd, 0x80, 0xc3, 0xa9, 0xff, 0xe6, 0x97, 0xa5, 0xf0, 0x9f]
        var all: [[UInt8]] = [[]], last: [[UInt8]] = [[]]
        for _ in 1...4 {
            last = last.flatMap { prefix in alphabet.map { prefix + [$0] } }
            all += last
        }
        var seen: [String: [UInt8]] = [:]
        for bytes in all {
            let text = RecordedText.string(bytes)
            XCTAssertEqual(RecordedText.bytes(of: text), bytes, text)
            if let other = seen[text] { XCTAssertEqual(other, bytes, "two names, one text: \(text)") }
            seen[text] = bytes
        }
        for byte in UInt8.min...UInt8.max {
            XCTAssertEqual(RecordedText.bytes(of: RecordedText.string([byte, 0x41])), [byte, 0x41])
        }
    }

    func testABareReplacementCharacterReadsBackAsItself() {
        // A row stored before this form: its U+FFFD stands for no byte it can name.
        XCTAssertEqual(RecordedText.bytes(of: "x\u{FFFD}"), Array("x\u{FFFD}".utf8))
        XCTAssertEqual(RecordedText.bytes(of: "x\u{FFFD}FF"), Array("x\u{FFFD}FF".utf8), "upper case is not the form")
    }

    func testShownAsByteEscapes() {
        XCTAssertEqual(VisibleText.render(RecordedText.string([0x78, 0xff, 0x1b])), #"x\xff\x1b"#)
        XCTAssertEqual(VisibleText.render(RecordedText.string(Array("a\u{FFFD}".utf8))), #"a\xef\xbf\xbd"#)
        XCTAssertEqual(VisibleText.render("old \u{FFFD} row"), "old \u{FFFD} row")
        XCTAssertEqual(VisibleText.width(VisibleText.render(RecordedText.string([0xff]))), 4)
        // A cut never splits an escape.
        XCTAssertEqual(VisibleText.fit(RecordedText.string([0x61, 0xff, 0xfe, 0xfd]), columns: 8), #"a\xff…"#)
    }
}
