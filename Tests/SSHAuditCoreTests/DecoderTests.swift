import XCTest
@testable import SSHAuditCore

/// Builds kernel records byte by byte, as bpf/events.h lays them out.
struct RecordBuilder {
    var bytes: [UInt8] = []

    init(type: UInt32, tgid: UInt32 = 100, ppid: UInt32 = 1, uid: UInt32 = 0, ts: UInt64 = 5_000, start: UInt64 = 42,
         comm: String = "sshd") {
        u32(type); u32(tgid); u32(ppid); u32(uid); u64(ts); u64(start)
        var c = Array(comm.utf8.prefix(15))
        c += [UInt8](repeating: 0, count: 16 - c.count)
        bytes += c
    }

    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func raw(_ b: [UInt8], padTo size: Int? = nil) {
        bytes += b
        if let size { bytes += [UInt8](repeating: 0, count: size - b.count) }
    }
}

final class DecoderTests: XCTestCase {
    func testHeaderAndFork() throws {
        var b = RecordBuilder(type: 1, tgid: 4242, ppid: 17, uid: 1001, ts: 123_456_789, start: 99, comm: "sshd-session")
        b.u32(4243); b.u32(0); b.u64(777)
        let e = try EventDecoder.decode(b.bytes)
        XCTAssertEqual(e, Event(process: ProcessKey(tgid: 4242, startNs: 99), ppid: 17, uid: 1001,
                                timestampNs: 123_456_789, comm: "sshd-session",
                                kind: .fork(child: ProcessKey(tgid: 4243, startNs: 777))))
    }

    func testExecSplitsArgvAndKeepsTheCutLastArgument() throws {
        var b = RecordBuilder(type: 2, comm: "bash")
        let filename = Array("/bin/bash".utf8)
        let argv = Array("bash\0-c\0echo hi; exit 3\0tail-cut".utf8)
        b.u32(UInt32(filename.count)); b.u32(UInt32(argv.count)); b.u32(9000); b.u32(1)  // truncated
        b.raw(filename, padTo: 512)
        b.raw(argv)
        let e = try EventDecoder.decode(b.bytes)
        XCTAssertEqual(e.kind, .exec(ExecInfo(filename: "/bin/bash", argv: ["bash", "-c", "echo hi; exit 3", "tail-cut"],
                                              argvTruncated: true, newRoot: false)))
    }

    func testExecWithEmptyArgumentsAndNewRoot() throws {
        var b = RecordBuilder(type: 2)
        let argv = Array("sshd\0\0-D\0".utf8)
        b.u32(10); b.u32(UInt32(argv.count)); b.u32(UInt32(argv.count)); b.u32(4)
        b.raw(Array("/usr/sbin/sshd".utf8.prefix(10)), padTo: 512)
        b.raw(argv)
        let e = try EventDecoder.decode(b.bytes)
        XCTAssertEqual(e.kind, .exec(ExecInfo(filename: "/usr/sbin/", argv: ["sshd", "", "-D"], newRoot: true)))
    }

    func testExitAcceptCredAndBareEvents() throws {
        var exit = RecordBuilder(type: 3)
        exit.u32(0x300); exit.u32(0)
        XCTAssertEqual(try EventDecoder.decode(exit.bytes).kind, .exit(status: 0x300))

        var v4 = RecordBuilder(type: 4)
        v4.u32(5); v4.u16(2); v4.u16(22); v4.u16(40_000); v4.u16(0); v4.u32(0)
        v4.raw([127, 0, 0, 1], padTo: 16); v4.raw([127, 0, 0, 2], padTo: 16)
        XCTAssertEqual(try EventDecoder.decode(v4.bytes).kind,
                       .accept(local: Endpoint(address: "127.0.0.1", port: 22), remote: Endpoint(address: "127.0.0.2", port: 40_000)))

        var v6 = RecordBuilder(type: 4)
        v6.u32(5); v6.u16(10); v6.u16(2222); v6.u16(50_001); v6.u16(0); v6.u32(0)
        v6.raw([UInt8](repeating: 0, count: 15) + [1])
        v6.raw([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 10) + [0x12, 0x34])
        XCTAssertEqual(try EventDecoder.decode(v6.bytes).kind,
                       .accept(local: Endpoint(address: "::1", port: 2222), remote: Endpoint(address: "2001:db8::1234", port: 50_001)))

        var cred = RecordBuilder(type: 5)
        cred.u32(1001); cred.u32(1001); cred.u32(1001); cred.u32(117)
        XCTAssertEqual(try EventDecoder.decode(cred.bytes).kind, .cred(ruid: 1001, euid: 1001, suid: 1001))

        XCTAssertEqual(try EventDecoder.decode(RecordBuilder(type: 6).bytes).kind, .chroot)
        XCTAssertEqual(try EventDecoder.decode(RecordBuilder(type: 7).bytes).kind, .setsid)
    }

    func testLogLine() throws {
        var b = RecordBuilder(type: 8)
        let text = Array("Failed password for bob from 127.0.0.1 port 5 ssh2\r\n".utf8)
        b.u32(UInt32(text.count)); b.u32(1)
        b.raw(text, padTo: 512)
        XCTAssertEqual(try EventDecoder.decode(b.bytes).kind,
                       .log(source: .file, text: "Failed password for bob from 127.0.0.1 port 5 ssh2\r\n"))
        var bad = RecordBuilder(type: 8)
        bad.u32(0); bad.u32(9)
        XCTAssertThrowsError(try EventDecoder.decode(bad.bytes))
    }

    func testRejectsShortAndUnknownRecords() {
        XCTAssertThrowsError(try EventDecoder.decode([UInt8](repeating: 0, count: 20))) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: 0, size: 20))
        }
        XCTAssertThrowsError(try EventDecoder.decode(RecordBuilder(type: 99).bytes)) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .unknownType(99))
        }
        var fork = RecordBuilder(type: 1)
        fork.u32(1)  // child start missing
        XCTAssertThrowsError(try EventDecoder.decode(fork.bytes)) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: 1, size: 52))
        }
        var exec = RecordBuilder(type: 2)
        exec.u32(3); exec.u32(100); exec.u32(100); exec.u32(0)
        exec.raw([], padTo: 512)
        exec.raw([0x61, 0])  // argv_len says 100
        XCTAssertThrowsError(try EventDecoder.decode(exec.bytes)) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: 2, size: 578))
        }
    }

    func testIPv6Text() {
        func text(_ b: [UInt8]) -> String { IPv6.format(b) }
        XCTAssertEqual(text([UInt8](repeating: 0, count: 16)), "::")
        XCTAssertEqual(text([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 7]), "::ffff:10.0.0.7")
        XCTAssertEqual(text([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2]), "fe80::1:0:0:2")
        XCTAssertEqual(text([0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]), "1:0:2:3:4:5:6:7")
    }

    func testEveryRecordedFixtureDecodes() throws {
        for name in Fixture.names {
            let log = try Fixture.load(name)
            XCTAssertGreaterThan(log.records.count, 5, name)
            XCTAssertNoThrow(try log.events(), name)
        }
    }
}
