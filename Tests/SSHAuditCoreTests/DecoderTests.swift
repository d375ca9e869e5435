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

    /// exec: lengths and flags, cwd length, tty, cwd (leaf first), filename, argv.
    func execRecord(filename: [UInt8], filenameLen: Int? = nil, argv: [UInt8], total: Int, flags: UInt32,
                    tty: String = "", cwdLeafFirst: String = "") -> [UInt8] {
        var b = RecordBuilder(type: 2, comm: "bash")
        b.u32(UInt32(filenameLen ?? filename.count)); b.u32(UInt32(argv.count)); b.u32(UInt32(total)); b.u32(flags)
        b.u32(UInt32(cwdLeafFirst.utf8.count)); b.u32(0)
        b.raw(Array(tty.utf8), padTo: 16)
        b.raw(Array(cwdLeafFirst.utf8), padTo: 512)
        b.raw(filename, padTo: 512)
        b.raw(argv)
        return b.bytes
    }

    func testExecSplitsArgvAndKeepsTheCutLastArgument() throws {
        let bytes = execRecord(filename: Array("/bin/bash".utf8), argv: Array("bash\0-c\0echo hi; exit 3\0tail-cut".utf8),
                               total: 9000, flags: 1, tty: "pts3", cwdLeafFirst: "b/a/")
        XCTAssertEqual(try EventDecoder.decode(bytes).kind, .exec(ExecInfo(
            filename: "/bin/bash", argv: ["bash", "-c", "echo hi; exit 3", "tail-cut"], argvTruncated: true,
            newRoot: false, tty: "pts/3", cwd: "/a/b")))
    }

    func testExecWithEmptyArgumentsAndNewRoot() throws {
        let argv = Array("sshd\0\0-D\0".utf8)
        let bytes = execRecord(filename: Array("/usr/sbin/sshd".utf8.prefix(10)), argv: argv, total: argv.count, flags: 4)
        XCTAssertEqual(try EventDecoder.decode(bytes).kind,
                       .exec(ExecInfo(filename: "/usr/sbin/", argv: ["sshd", "", "-D"], newRoot: true, cwd: "/")))
        // sshd -i: a new root with a connection on its standard input (flags 4 | 16); 16 alone means nothing.
        let inetd = execRecord(filename: Array("/usr/sbin/sshd".utf8), argv: Array("sshd\0-i\0".utf8), total: 8, flags: 20)
        XCTAssertEqual(try EventDecoder.decode(inetd).kind,
                       .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["sshd", "-i"], newRoot: true, connection: true, cwd: "/")))
        let stray = execRecord(filename: Array("/usr/sbin/sshd".utf8), argv: Array("sshd\0".utf8), total: 5, flags: 16)
        XCTAssertEqual(try EventDecoder.decode(stray).kind, .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["sshd"], cwd: "/")))
        // A working directory too deep to walk whole is unknown, not wrong.
        let deep = execRecord(filename: [0x78], argv: [0x78, 0], total: 2, flags: 8, tty: "tty1", cwdLeafFirst: "z/y/")
        XCTAssertEqual(try EventDecoder.decode(deep).kind, .exec(ExecInfo(filename: "x", argv: ["x"], tty: "tty1", cwd: nil)))
    }

    func testConnectionFileAndSocketRecords() throws {
        var close = RecordBuilder(type: 9)
        close.u64(0xffff_8880_1234_5678); close.u64(5_253_526); close.u64(8962)
        XCTAssertEqual(try EventDecoder.decode(close.bytes).kind,
                       .connectionClosed(socket: 0xffff_8880_1234_5678, bytesIn: 5_253_526, bytesOut: 8962))

        var open = RecordBuilder(type: 10, comm: "sftp-server")
        open.u32(5); open.u32(0o1101); open.u32(15); open.u32(0)
        open.raw(Array("/tmp/up-sftp.bin".utf8.prefix(15)), padTo: 256)
        XCTAssertEqual(try EventDecoder.decode(open.bytes).kind, .fileOpened(fd: 5, flags: 0o1101, path: "/tmp/up-sftp.bi"))

        var fileClose = RecordBuilder(type: 11)
        fileClose.u32(5); fileClose.u32(0); fileClose.u64(5_242_880); fileClose.u64(5_242_880)
        XCTAssertEqual(try EventDecoder.decode(fileClose.bytes).kind, .fileClosed(fd: 5, position: 5_242_880, size: 5_242_880))

        var connect = RecordBuilder(type: 12)
        connect.u32(1); connect.u16(2); connect.u16(8080); connect.raw([10, 0, 0, 9], padTo: 16); connect.raw([], padTo: 112)
        XCTAssertEqual(try EventDecoder.decode(connect.bytes).kind,
                       .socket(SocketCall(operation: .connect, endpoint: Endpoint(address: "10.0.0.9", port: 8080), unixPath: nil)))
        var bind = RecordBuilder(type: 12)
        bind.u32(2); bind.u16(1); bind.u16(0); bind.raw([], padTo: 16)
        bind.raw(Array("/tmp/ssh-x/agent.1".utf8), padTo: 108); bind.u32(0)
        XCTAssertEqual(try EventDecoder.decode(bind.bytes).kind,
                       .socket(SocketCall(operation: .bind, endpoint: nil, unixPath: "/tmp/ssh-x/agent.1")))
    }

    func testExitAcceptCredAndBareEvents() throws {
        var exit = RecordBuilder(type: 3)
        exit.u32(0x300); exit.u32(0)
        XCTAssertEqual(try EventDecoder.decode(exit.bytes).kind, .exit(status: 0x300))

        var v4 = RecordBuilder(type: 4)
        v4.u32(5); v4.u16(2); v4.u16(22); v4.u16(40_000); v4.u16(0); v4.u32(0)
        v4.raw([127, 0, 0, 1], padTo: 16); v4.raw([127, 0, 0, 2], padTo: 16); v4.u64(77)
        XCTAssertEqual(try EventDecoder.decode(v4.bytes).kind,
                       .accept(local: Endpoint(address: "127.0.0.1", port: 22), remote: Endpoint(address: "127.0.0.2", port: 40_000), socket: 77))

        var v6 = RecordBuilder(type: 4)
        v6.u32(5); v6.u16(10); v6.u16(2222); v6.u16(50_001); v6.u16(0); v6.u32(0)
        v6.raw([UInt8](repeating: 0, count: 15) + [1])
        v6.raw([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 10) + [0x12, 0x34]); v6.u64(78)
        XCTAssertEqual(try EventDecoder.decode(v6.bytes).kind,
                       .accept(local: Endpoint(address: "::1", port: 2222), remote: Endpoint(address: "2001:db8::1234", port: 50_001), socket: 78))

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
        var stderr = RecordBuilder(type: 8)
        stderr.u32(2); stderr.u32(3)
        stderr.raw(Array("ok".utf8), padTo: 512)
        XCTAssertEqual(try EventDecoder.decode(stderr.bytes).kind, .log(source: .stderr, text: "ok"))
        var bad = RecordBuilder(type: 8)
        bad.u32(0); bad.u32(9)
        XCTAssertThrowsError(try EventDecoder.decode(bad.bytes))
    }

    /// Terminal recording: struct sa_tty (len, stream, flags, fd, data at 64) and sa_tty_winsize.
    func testTTYRecords() throws {
        var b = RecordBuilder(type: 17)
        let data: [UInt8] = [0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff, 0x34, 0x32]  // binary, NUL and all
        b.u32(UInt32(data.count)); b.u16(3); b.u16(1); b.u32(7); b.u32(0)
        b.raw(data)
        XCTAssertEqual(try EventDecoder.decode(b.bytes).kind, .tty(stream: .stderr, bytes: data, cut: true, capped: false))
        var capped = RecordBuilder(type: 17)
        capped.u32(0); capped.u16(1); capped.u16(2); capped.u32(7); capped.u32(0)
        XCTAssertEqual(try EventDecoder.decode(capped.bytes).kind, .tty(stream: .output, bytes: [], cut: false, capped: true))
        var short = RecordBuilder(type: 17)
        short.u32(100); short.u16(1); short.u16(0); short.u32(7); short.u32(0)
        short.raw([1, 2, 3])
        XCTAssertThrowsError(try EventDecoder.decode(short.bytes), "len says 100, 3 bytes follow")
        var unknown = RecordBuilder(type: 17)
        unknown.u32(0); unknown.u16(9); unknown.u16(0); unknown.u32(7); unknown.u32(0)
        XCTAssertThrowsError(try EventDecoder.decode(unknown.bytes), "no stream 9")
        var w = RecordBuilder(type: 18)
        w.u16(30); w.u16(100); w.u32(0)
        XCTAssertEqual(try EventDecoder.decode(w.bytes).kind, .ttyWindow(rows: 30, cols: 100))
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
        var exec = execRecord(filename: [0x61], argv: [0x61, 0], total: 100, flags: 0)
        exec[52] = 100  // argv_len says 100, only 2 bytes follow
        XCTAssertThrowsError(try EventDecoder.decode(exec)) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: 2, size: 1114))
        }
    }

    func testIPv6Text() {
        func text(_ b: [UInt8]) -> String { IPv6.format(b) }
        XCTAssertEqual(text([UInt8](repeating: 0, count: 16)), "::")
        XCTAssertEqual(text([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 7]), "::ffff:10.0.0.7")
        XCTAssertEqual(text([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2]), "fe80::1:0:0:2")
        XCTAssertEqual(text([0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]), "1:0:2:3:4:5:6:7")
    }

    /// The byte-level path helpers that run for every exec.
    func testWorkingDirectoryTTYAndBaseName() {
        XCTAssertEqual(EventDecoder.cwd(leafFirst: "b/a/"), "/a/b")
        XCTAssertEqual(EventDecoder.cwd(leafFirst: "home/"), "/home")
        XCTAssertEqual(EventDecoder.cwd(leafFirst: ""), "/")
        XCTAssertEqual(EventDecoder.cwd(leafFirst: "//"), "/")
        XCTAssertEqual(EventDecoder.cwd(leafFirst: "dïr ü/x y/"), "/x y/dïr ü")
        XCTAssertEqual(EventDecoder.ttyName("pts12"), "pts/12")
        XCTAssertEqual(EventDecoder.ttyName("pts"), "pts")
        XCTAssertEqual(EventDecoder.ttyName("ptsx"), "ptsx")
        XCTAssertEqual(EventDecoder.ttyName("pts٣"), "pts٣")  // a digit, but not an ASCII one
        XCTAssertEqual(EventDecoder.ttyName("tty1"), "tty1")
        XCTAssertEqual(baseName("/usr/lib/openssh/sftp-server"), "sftp-server")
        XCTAssertEqual(baseName("rsync"), "rsync")
        XCTAssertEqual(baseName("/usr/bin/"), "bin")
        XCTAssertEqual(baseName("/"), "")
        XCTAssertEqual(baseName(""), "")
    }

    func testEveryRecordedFixtureDecodes() throws {
        for name in Fixture.names {
            let log = try Fixture.load(name)
            XCTAssertGreaterThan(log.records.count, 5, name)
            XCTAssertNoThrow(try log.events(), name)
        }
    }
}
