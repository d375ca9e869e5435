import Foundation
import XCTest

/// The HTML report as a person sees it: headless Chromium renders it to a PNG, and the picture must
/// show each chart with bars in its colour (not an empty page, not a broken SVG).
final class ReportScreenshotTests: XCTestCase {
    /// The chart colours of ReportHTML, and the chart each one draws.
    static let charts: [(name: String, rgb: (UInt8, UInt8, UInt8))] = [
        ("logins per day", (0x25, 0x63, 0xeb)), ("failed attempts per day", (0xdc, 0x26, 0x26)),
        ("failed attempts by source", (0xea, 0x58, 0x0c)), ("top commands", (0x16, 0xa3, 0x4a)),
        ("logins per user", (0x7c, 0x3a, 0xed)),
    ]

    func testHTMLReportRendersNonEmptyCharts() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "report-shot-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try QueryFixtureDatabase.build(in: dir)
        let report = try runProcess(Paths.sshaudit, ["report", "--db", db, "--since", "2025-03-01", "--format", "html"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = dir + "/report.html", png = dir + "/report.png"
        try report.stdout.write(toFile: html, atomically: true, encoding: .utf8)

        let pixels = try screenshot(html: html, png: png, width: 1000, height: 2400)
        XCTAssertEqual(pixels.width, 1000)
        XCTAssertEqual(pixels.height, 2400)
        for chart in Self.charts {
            let count = pixels.count { abs(Int($0.0) - Int(chart.rgb.0)) <= 8 && abs(Int($0.1) - Int(chart.rgb.1)) <= 8
                && abs(Int($0.2) - Int(chart.rgb.2)) <= 8 }
            XCTAssertGreaterThan(count, 300, "the \(chart.name) chart has no bars in the screenshot (\(count) pixels)")
        }
        // The page itself: mostly white background, with text (dark pixels) around the charts.
        let white = pixels.count { $0.0 > 245 && $0.1 > 245 && $0.2 > 245 }
        let dark = pixels.count { $0.0 < 80 && $0.1 < 80 && $0.2 < 80 }
        XCTAssertGreaterThan(white, pixels.width * pixels.height / 2)
        XCTAssertGreaterThan(dark, 2000, "no text rendered")

        // And a report of an empty period draws no bars at all: the check above can fail.
        let emptyReport = try runProcess(Paths.sshaudit, ["report", "--db", db, "--since", "2020-01-01", "--until", "2020-01-02",
                                                          "--format", "html"])
        try emptyReport.stdout.write(toFile: html, atomically: true, encoding: .utf8)
        let empty = try screenshot(html: html, png: png, width: 1000, height: 1200)
        for chart in Self.charts {
            XCTAssertEqual(empty.count { $0 == chart.rgb }, 0, chart.name)
        }
    }

    func screenshot(html: String, png: String, width: Int, height: Int) throws -> Pixels {
        try? FileManager.default.removeItem(atPath: png)
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile) else {
            throw TestFailure("chromium is not installed (make deps installs it)")
        }
        let profile = (png as NSString).deletingLastPathComponent + "/chromium-profile"
        let r = try runProcess(chromium, [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
            "--user-data-dir=\(profile)", "--force-device-scale-factor=1", "--window-size=\(width),\(height)",
            "--screenshot=\(png)", URL(fileURLWithPath: html).absoluteString,
        ], timeout: 120)
        guard FileManager.default.fileExists(atPath: png) else {
            throw TestFailure("chromium wrote no screenshot (status \(r.status)): \(r.stderr.suffix(2000))")
        }
        return try PNGImage.decode(Data(contentsOf: URL(fileURLWithPath: png)))
    }
}

/// RGB pixels of a decoded image.
struct Pixels {
    var width: Int
    var height: Int
    var rgb: [UInt8]

    func count(where match: ((UInt8, UInt8, UInt8)) -> Bool) -> Int {
        var n = 0
        var i = 0
        while i + 2 < rgb.count {
            if match((rgb[i], rgb[i + 1], rgb[i + 2])) { n += 1 }
            i += 3
        }
        return n
    }
}

/// A small PNG reader: 8-bit greyscale, RGB or RGBA (with or without alpha), not interlaced; the
/// zlib stream is inflated by the system's libz (loaded at run time).
enum PNGImage {
    static func decode(_ data: Data) throws -> Pixels {
        let bytes = [UInt8](data)
        guard bytes.count > 8, bytes[0..<8] == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] else { throw TestFailure("not a PNG") }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        var at = 8
        var width = 0, height = 0, colorType = 0, depth = 0, interlace = 0
        var compressed: [UInt8] = []
        while at + 8 <= bytes.count {
            let length = u32(at)
            let type = String(decoding: bytes[at + 4..<at + 8], as: UTF8.self)
            let body = at + 8
            guard body + length <= bytes.count else { throw TestFailure("truncated PNG chunk \(type)") }
            switch type {
            case "IHDR":
                width = u32(body); height = u32(body + 4)
                depth = Int(bytes[body + 8]); colorType = Int(bytes[body + 9]); interlace = Int(bytes[body + 12])
            case "IDAT":
                compressed += bytes[body..<body + length]
            default:
                break
            }
            if type == "IEND" { break }
            at = body + length + 4
        }
        let channels: Int
        switch colorType {
        case 0: channels = 1
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        default: throw TestFailure("PNG colour type \(colorType) not supported")
        }
        guard depth == 8, interlace == 0, width > 0, height > 0 else { throw TestFailure("PNG depth \(depth) interlace \(interlace)") }
        let stride = width * channels
        let raw = try inflate(compressed, expected: height * (stride + 1))
        var out = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let line = y * (stride + 1) + 1
            for x in 0..<stride {
                let a = x >= channels ? Int(out[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(out[(y - 1) * stride + x - channels]) : 0
                let v = Int(raw[line + x])
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw TestFailure("PNG filter \(filter)")
                }
                out[y * stride + x] = UInt8((v + predicted) & 0xff)
            }
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            let p = i * channels
            if channels >= 3 {
                rgb[i * 3] = out[p]; rgb[i * 3 + 1] = out[p + 1]; rgb[i * 3 + 2] = out[p + 2]
            } else {
                rgb[i * 3] = out[p]; rgb[i * 3 + 1] = out[p]; rgb[i * 3 + 2] = out[p]
            }
        }
        return Pixels(width: width, height: height, rgb: rgb)
    }

    typealias Uncompress = @convention(c) (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt>, UnsafePointer<UInt8>, UInt) -> Int32

    static func inflate(_ input: [UInt8], expected: Int) throws -> [UInt8] {
        guard let lib = dlopen("libz.so.1", RTLD_NOW), let symbol = dlsym(lib, "uncompress") else {
            throw TestFailure("cannot load libz.so.1")
        }
        let uncompress = unsafeBitCast(symbol, to: Uncompress.self)
        var out = [UInt8](repeating: 0, count: expected)
        var length = UInt(expected)
        let status = out.withUnsafeMutableBufferPointer { dst in
            input.withUnsafeBufferPointer { src in uncompress(dst.baseAddress!, &length, src.baseAddress!, UInt(input.count)) }
        }
        guard status == 0, Int(length) == expected else { throw TestFailure("inflate failed (zlib status \(status), \(length) bytes)") }
        return out
    }
}
