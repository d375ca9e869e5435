import Foundation
import XCTest

/// Running under systemd: the unit file is valid, and `record` says READY=1 on NOTIFY_SOCKET once it
/// records (Type=notify).
final class ServiceTests: XCTestCase {
    func testUnitFileVerifies() throws {
        let unit = Paths.packageRoot.appending(path: "dist/sshaudit.service").path
        let r = try runProcess("/usr/bin/systemd-analyze", ["verify", unit])
        // Its exit status is 1 while the binary is missing. The binary is only there after `make install`; anything else is a real mistake in the unit.
        let problems = r.stderr.split(separator: "\n").filter { !$0.contains("is not executable") && !$0.contains("/usr/local/sbin/sshaudit") }
        XCTAssertEqual(problems, [], r.stderr)
        let text = try String(contentsOfFile: unit, encoding: .utf8)
        XCTAssertTrue(text.contains("Type=notify") && text.contains("Restart=on-failure"))
    }

    func testRecordNotifiesSystemdWhenReady() throws {
        try requireRoot()
        let path = "/run/sshaudit-test/notify-\(getpid()).sock"
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd); unlink(path) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let recorder = try Recorder(name: "notify", environment: ["NOTIFY_SOCKET": path])
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &buffer, buffer.count, 0)
        XCTAssertEqual(n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "", "READY=1")
        XCTAssertTrue(recorder.stderr.contains("recording"), "READY comes with the recording line")
        XCTAssertEqual(try recorder.stop(signal: SIGTERM), 0)
    }
}
