import XCTest
@testable import SSHAuditCore

final class VisibleTextTests: XCTestCase {
    func render(_ s: String) -> String { VisibleText.render(s) }

    func testEveryC0ControlAndDELBecomeEscapes() {
        XCTAssertEqual(render("\u{1b}[2K\u{1b}[1A"), #"\x1b[2K\x1b[1A"#, "erase line, cursor up")
        XCTAssertEqual(render("\u{1b}]0;title\u{07}"), #"\x1b]0;title\x07"#, "window title (OSC … BEL)")
        XCTAssertEqual(render("a\tb\nc\rd"), #"a\tb\nc\rd"#)
        XCTAssertEqual(render("\r\n"), #"\r\n"#, "CR LF is one Character but two escapes")
        XCTAssertEqual(render("\u{0}\u{8}\u{7f}"), #"\x00\x08\x7f"#)
        for v in UInt32(0)..<0x20 {
            let out = render(String(UnicodeScalar(v)!))
            XCTAssertTrue(out.hasPrefix("\\") && out.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7f }, out)
        }
    }

    func testC1ControlsBecomeEscapes() {
        XCTAssertEqual(render("\u{9b}31m"), #"\u009b31m"#, "the one-character CSI")
        for v in UInt32(0x80)...0x9f {
            XCTAssertEqual(render(String(UnicodeScalar(v)!)), "\\u00" + String(v, radix: 16))
        }
    }

    func testBidirectionalAndInvisibleCharactersBecomeEscapes() {
        XCTAssertEqual(render("\u{202e}gnp.exe"), #"\u202egnp.exe"#, "right-to-left override")
        for v in Array(UInt32(0x202a)...0x202e) + Array(UInt32(0x2066)...0x2069) + [0x200e, 0x200f, 0x061c, 0x2028, 0x2029, 0x200b, 0x2060, 0xfeff] {
            XCTAssertEqual(render("a" + String(UnicodeScalar(v)!) + "b"), "a\\u" + String(format: "%04x", v) + "b")
        }
    }

    func testBackslashIsDoubledSoTheFormIsUnambiguous() {
        XCTAssertEqual(render(#"\x1b"#), #"\\x1b"#, "typed text that looks like an escape")
        XCTAssertNotEqual(render(#"\x1b"#), render("\u{1b}"))
        XCTAssertEqual(render(#"C:\dir\"#), #"C:\\dir\\"#)
    }

    func testPlainTextIsUntouched() {
        for text in ["ls -la /home/alice", "rm -rf '/tmp/x y'", "grüße", "日本語のファイル", "עברית", "e\u{301}", "👩‍💻 🇩🇪",
                     "a\u{200d}b", "", "…", "tab-free"] {
            XCTAssertEqual(render(text), text)
        }
    }

    func testWidthCountsTerminalColumns() {
        XCTAssertEqual(VisibleText.width(render("\u{1b}[2K")), 7, #"\x1b[2K"#)
        XCTAssertEqual(VisibleText.width("abc"), 3)
        XCTAssertEqual(VisibleText.width("grüße"), 5)
        XCTAssertEqual(VisibleText.width("e\u{301}"), 1, "a combining mark takes no column")
        XCTAssertEqual(VisibleText.width("日本"), 4, "wide characters take two")
        XCTAssertEqual(VisibleText.width("한"), 2)
        XCTAssertEqual(VisibleText.width("👍"), 2)
        XCTAssertEqual(VisibleText.width(render("\u{202e}")), 6)
    }

    func testFitCutsTheRenderedFormWithoutSplittingAnEscape() {
        XCTAssertEqual(VisibleText.fit("short", columns: 10), "short")
        XCTAssertEqual(VisibleText.fit("abcdefghij", columns: 5), "abcd…")
        XCTAssertEqual(VisibleText.fit("ab\u{1b}[2Kxyz", columns: 6), "ab…", #"\x1b does not fit whole: not cut in half"#)
        XCTAssertEqual(VisibleText.fit("ab\u{1b}[2Kxyz", columns: 7), #"ab\x1b…"#)
        XCTAssertEqual(VisibleText.fit("日本語", columns: 4), "日…", "a wide character is not cut in half")
        XCTAssertEqual(VisibleText.fit("e\u{301}e\u{301}e\u{301}", columns: 2), "e\u{301}…", "marks stay with their base")
        XCTAssertEqual(VisibleText.fit("\\\\\\", columns: 5), #"\\\\…"#)
        for limit in 1...12 {
            let cut = VisibleText.fit("x\u{1b}]0;\u{7}y\u{202e}z", columns: limit)
            XCTAssertLessThanOrEqual(VisibleText.width(cut), limit)
            XCTAssertFalse(cut.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202e }, cut)
        }
    }
    func testLinesWrapTheRenderedFormLeavingNothingOut() {
        XCTAssertEqual(VisibleText.lines("short", columns: 10), ["short"])
        XCTAssertEqual(VisibleText.lines("abcdefghij", columns: 4), ["abcd", "efgh", "ij"])
        XCTAssertEqual(VisibleText.lines("ab\u{1b}[2Kxyz", columns: 5), ["ab", #"\x1b["#, "2Kxyz"], "an escape is never split")
        XCTAssertEqual(VisibleText.lines("日本語", columns: 3), ["日", "本", "語"], "a wide character is never split")
        XCTAssertEqual(VisibleText.lines("e\u{301}e\u{301}e\u{301}", columns: 2), ["e\u{301}e\u{301}", "e\u{301}"])
        // Padding: a line never ends in spaces, so the end of the text cannot hide after blanks.
        XCTAssertEqual(VisibleText.lines("true" + String(repeating: " ", count: 10) + "; curl x", columns: 8),
                       ["true", "        ", "  ; curl", " x"])
        XCTAssertEqual(VisibleText.lines(String(repeating: " ", count: 20), columns: 8).joined(), String(repeating: " ", count: 20))
        let hostile = "x\u{1b}]0;\u{7}y\u{202e}z    " + String(repeating: "日 ", count: 9) + "e\u{301}\\ \u{9b}end"
        for limit in 1...24 {
            let lines = VisibleText.lines(hostile, columns: limit)
            XCTAssertEqual(lines.joined(), VisibleText.render(hostile), "nothing left out at \(limit)")
            for line in lines {
                XCTAssertLessThanOrEqual(VisibleText.width(line), max(limit, 6), "\(limit): \(lines)")  // a piece is never split: \u202e is 6 wide
                XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202e || $0.value == 0x9b }, line)
            }
            for line in lines.dropLast() where line.contains(where: { $0 != " " }) {
                XCTAssertFalse(line.hasSuffix(" "), "\(limit): \(lines)")
            }
        }
    }
}
