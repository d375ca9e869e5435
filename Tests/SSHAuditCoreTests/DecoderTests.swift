import CSSHAuditABI
import XCTest
@testable import SSHAuditCore

final class DecoderTests: XCTestCase {
    typealias K = KernelRecord

    func testHeaderAndFork() throws {
        var fork = sa_fork()
        fork.h = K.header(SA_EV_FORK.rawValue, tgid: 4242, ppid: 17, uid: 1001, ts: 123_456_789, start: 99, comm: "sshd-session")
        fork.child_tgid = 4243
        fork.child_start_ns = 777
        let e = try EventDecoder.decode(K.bytes(fork))
        XCTAssertEqual(e, Event(process: ProcessKey(tgid: 4242, startNs: 99), ppid: 17, uid: 1001,
                                timestampNs: 123_456_789, comm: "sshd-session",
                                kind: .fork(child: ProcessKey(tgid: 4243, startNs: 777))))
    }

    /// exec: lengths and flags, cwd length, tty, cwd (leaf first), filename, then the argv bytes sent.
    func execRecord(filename: [UInt8], filenameLen: Int? = nil, argv: [UInt8], total: Int, flags: UInt32,
                    tty: String = "", cwdLeafFirst: String = "") -> [UInt8] {
        var exec = sa_exec()
        exec.h = K.header(SA_EV_EXEC.rawValue, comm: "bash")
        exec.filename_len = UInt32(filenameLen ?? filename.count)
        exec.argv_len = UInt32(argv.count)
        exec.argv_total = UInt32(total)
        exec.flags = flags
        exec.cwd_len = UInt32(cwdLeafFirst.utf8.count)
        K.put(tty, into: &exec.tty)
        K.put(cwdLeafFirst, into: &exec.cwd)
        K.put(filename, into: &exec.filename)
        return K.bytes(exec, size: Int(sa_exec_argv_offset), tail: argv)
    }

    func testExecSplitsArgvAndKeepsTheCutLastArgument() throws {
        let bytes = execRecord(filename: Array("/bin/bash".utf8), argv: Array("bash\0-c\0echo hi; exit 3\0tail-cut".utf8),
                               total: 9000, flags: SA_EXEC_ARGV_TRUNCATED, tty: "pts3", cwdLeafFirst: "b/a/")
        XCTAssertEqual(try EventDecoder.decode(bytes).kind, .exec(ExecInfo(
            filename: "/bin/bash", argv: ["bash", "-c", "echo hi; exit 3", "tail-cut"], argvTruncated: true,
            newRoot: false, tty: "pts/3", cwd: "/a/b")))
    }

    func testExecWithEmptyArgumentsAndNewRoot() throws {
        let argv = Array("sshd\0\0-D\0".utf8)
        let bytes = execRecord(filename: Array("/usr/sbin/sshd".utf8.prefix(10)), argv: argv, total: argv.count,
                               flags: SA_EXEC_NEW_ROOT)
        XCTAssertEqual(try EventDecoder.decode(bytes).kind,
                       .exec(ExecInfo(filename: "/usr/sbin/", argv: ["sshd", "", "-D"], newRoot: true, cwd: "/")))
        // sshd -i: a new root with a connection on its standard input; SA_EXEC_CONNECTION alone means nothing.
        let inetd = execRecord(filename: Array("/usr/sbin/sshd".utf8), argv: Array("sshd\0-i\0".utf8), total: 8,
                               flags: SA_EXEC_NEW_ROOT | SA_EXEC_CONNECTION)
        XCTAssertEqual(try EventDecoder.decode(inetd).kind,
                       .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["sshd", "-i"], newRoot: true, connection: true, cwd: "/")))
        let stray = execRecord(filename: Array("/usr/sbin/sshd".utf8), argv: Array("sshd\0".utf8), total: 5, flags: SA_EXEC_CONNECTION)
        XCTAssertEqual(try EventDecoder.decode(stray).kind, .exec(ExecInfo(filename: "/usr/sbin/sshd", argv: ["sshd"], cwd: "/")))
        // A working directory too deep to walk whole is unknown, not wrong.
        let deep = execRecord(filename: [0x78], argv: [0x78, 0], total: 2, flags: SA_EXEC_CWD_TRUNCATED, tty: "tty1",
                              cwdLeafFirst: "z/y/")
        XCTAssertEqual(try EventDecoder.decode(deep).kind, .exec(ExecInfo(filename: "x", argv: ["x"], tty: "tty1", cwd: nil)))
    }

    func testConnectionFileAndSocketRecords() throws {
        var close = sa_conn_close()
        close.h = K.header(SA_EV_CONN_CLOSE.rawValue)
        close.sock_id = 0xffff_8880_1234_5678
        close.bytes_received = 5_253_526
        close.bytes_acked = 8962
        XCTAssertEqual(try EventDecoder.decode(K.bytes(close)).kind,
                       .connectionClosed(socket: 0xffff_8880_1234_5678, bytesIn: 5_253_526, bytesOut: 8962))

        var open = sa_file_open()
        open.h = K.header(SA_EV_FILE_OPEN.rawValue, comm: "sftp-server")
        open.fd = 5
        open.flags = 0o1101
        open.path_len = 15
        K.put("/tmp/up-sftp.bin", into: &open.path)
        XCTAssertEqual(try EventDecoder.decode(K.bytes(open)).kind, .fileOpened(fd: 5, flags: 0o1101, path: "/tmp/up-sftp.bi"))

        var fileClose = sa_file_close()
        fileClose.h = K.header(SA_EV_FILE_CLOSE.rawValue)
        fileClose.fd = 5
        fileClose.position = 5_242_880
        fileClose.size = 5_242_880
        XCTAssertEqual(try EventDecoder.decode(K.bytes(fileClose)).kind, .fileClosed(fd: 5, position: 5_242_880, size: 5_242_880))

        var connect = sa_socket()
        connect.h = K.header(SA_EV_SOCKET.rawValue)
        connect.op = SA_SOCK_CONNECT
        connect.family = 2
        connect.port = 8080
        K.put([10, 0, 0, 9], into: &connect.addr)
        XCTAssertEqual(try EventDecoder.decode(K.bytes(connect)).kind,
                       .socket(SocketCall(operation: .connect, endpoint: Endpoint(address: "10.0.0.9", port: 8080), unixPath: nil)))
        var bind = sa_socket()
        bind.h = K.header(SA_EV_SOCKET.rawValue)
        bind.op = SA_SOCK_BIND
        bind.family = 1
        K.put("/tmp/ssh-x/agent.1", into: &bind.unix_path)
        XCTAssertEqual(try EventDecoder.decode(K.bytes(bind)).kind,
                       .socket(SocketCall(operation: .bind, endpoint: nil, unixPath: "/tmp/ssh-x/agent.1")))
    }

    func testExitAcceptCredAndBareEvents() throws {
        var exit = sa_exit()
        exit.h = K.header(SA_EV_EXIT.rawValue)
        exit.exit_code = 0x300
        XCTAssertEqual(try EventDecoder.decode(K.bytes(exit)).kind, .exit(status: 0x300))

        var v4 = sa_accept()
        v4.h = K.header(SA_EV_ACCEPT.rawValue)
        v4.fd = 5
        v4.family = 2
        v4.local_port = 22
        v4.remote_port = 40_000
        K.put([127, 0, 0, 1], into: &v4.local_addr)
        K.put([127, 0, 0, 2], into: &v4.remote_addr)
        v4.sock_id = 77
        XCTAssertEqual(try EventDecoder.decode(K.bytes(v4)).kind,
                       .accept(local: Endpoint(address: "127.0.0.1", port: 22), remote: Endpoint(address: "127.0.0.2", port: 40_000), socket: 77))

        var v6 = sa_accept()
        v6.h = K.header(SA_EV_ACCEPT.rawValue)
        v6.fd = 5
        v6.family = 10
        v6.local_port = 2222
        v6.remote_port = 50_001
        K.put([UInt8](repeating: 0, count: 15) + [1], into: &v6.local_addr)
        K.put([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 10) + [0x12, 0x34], into: &v6.remote_addr)
        v6.sock_id = 78
        XCTAssertEqual(try EventDecoder.decode(K.bytes(v6)).kind,
                       .accept(local: Endpoint(address: "::1", port: 2222), remote: Endpoint(address: "2001:db8::1234", port: 50_001), socket: 78))

        var cred = sa_cred()
        cred.h = K.header(SA_EV_CRED.rawValue)
        cred.ruid = 1001
        cred.euid = 1002
        cred.suid = 1003
        cred.syscall = 117
        XCTAssertEqual(try EventDecoder.decode(K.bytes(cred)).kind, .cred(ruid: 1001, euid: 1002, suid: 1003))

        XCTAssertEqual(try EventDecoder.decode(K.bytes(K.header(SA_EV_CHROOT.rawValue))).kind, .chroot)
        XCTAssertEqual(try EventDecoder.decode(K.bytes(K.header(SA_EV_SETSID.rawValue))).kind, .setsid)
    }

    func logRecord(source: UInt32, _ text: String, len: Int? = nil) -> [UInt8] {
        var log = sa_log()
        log.h = K.header(SA_EV_LOG.rawValue)
        log.len = UInt32(len ?? text.utf8.count)
        log.source = source
        K.put(text, into: &log.data)
        return K.bytes(log)
    }

    func testLogLine() throws {
        XCTAssertEqual(try EventDecoder.decode(logRecord(source: SA_LOG_FILE, "Failed password for bob from 127.0.0.1 port 5 ssh2\r\n")).kind,
                       .log(source: .file, text: "Failed password for bob from 127.0.0.1 port 5 ssh2\r\n"))
        XCTAssertEqual(try EventDecoder.decode(logRecord(source: SA_LOG_STDERR, "ok")).kind, .log(source: .stderr, text: "ok"))
        XCTAssertEqual(try EventDecoder.decode(logRecord(source: SA_LOG_SYSLOG, "<38>x")).kind, .log(source: .syslog, text: "<38>x"))
        XCTAssertThrowsError(try EventDecoder.decode(logRecord(source: 9, "", len: 0)), "no log source 9")
    }

    func ttyRecord(stream: UInt32, flags: UInt32 = 0, _ data: [UInt8], len: Int? = nil) -> [UInt8] {
        var tty = sa_tty()
        tty.h = K.header(SA_EV_TTY.rawValue)
        tty.len = UInt32(len ?? data.count)
        tty.stream = UInt16(stream)
        tty.flags = UInt16(flags)
        tty.fd = 7
        return K.bytes(tty, size: MemoryLayout<sa_tty>.offset(of: \sa_tty.data)!, tail: data)
    }

    /// Terminal recording: struct sa_tty and sa_tty_winsize.
    func testTTYRecords() throws {
        let data: [UInt8] = [0x1b, 0x5b, 0x32, 0x4a, 0x00, 0xff, 0x34, 0x32]  // binary, NUL and all
        XCTAssertEqual(try EventDecoder.decode(ttyRecord(stream: SA_TTY_STDERR, flags: SA_TTY_FLAG_CUT, data)).kind,
                       .tty(stream: .stderr, bytes: data, cut: true, capped: false))
        XCTAssertEqual(try EventDecoder.decode(ttyRecord(stream: SA_TTY_OUTPUT, flags: SA_TTY_FLAG_CAPPED, [])).kind,
                       .tty(stream: .output, bytes: [], cut: false, capped: true))
        XCTAssertEqual(try EventDecoder.decode(ttyRecord(stream: SA_TTY_INPUT, [0x61])).kind,
                       .tty(stream: .input, bytes: [0x61], cut: false, capped: false))
        XCTAssertThrowsError(try EventDecoder.decode(ttyRecord(stream: SA_TTY_OUTPUT, [1, 2, 3], len: 100)), "len says 100, 3 bytes follow")
        XCTAssertThrowsError(try EventDecoder.decode(ttyRecord(stream: 9, [])), "no stream 9")
        var w = sa_tty_winsize()
        w.h = K.header(SA_EV_TTY_WINSIZE.rawValue)
        w.rows = 30
        w.cols = 100
        XCTAssertEqual(try EventDecoder.decode(K.bytes(w)).kind, .ttyWindow(rows: 30, cols: 100))
    }

    func testRejectsShortAndUnknownRecords() {
        XCTAssertThrowsError(try EventDecoder.decode([UInt8](repeating: 0, count: 20))) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: 0, size: 20))
        }
        XCTAssertThrowsError(try EventDecoder.decode(K.bytes(K.header(99)))) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .unknownType(99))
        }
        var fork = sa_fork()
        fork.h = K.header(SA_EV_FORK.rawValue)
        let childStart = MemoryLayout<sa_fork>.offset(of: \sa_fork.child_start_ns)!
        XCTAssertThrowsError(try EventDecoder.decode(K.bytes(fork, size: childStart))) {  // child start missing
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: SA_EV_FORK.rawValue, size: childStart))
        }
        var exec = execRecord(filename: [0x61], argv: [0x61, 0], total: 100, flags: 0)
        exec[MemoryLayout<sa_exec>.offset(of: \sa_exec.argv_len)!] = 100  // argv_len says 100, only 2 bytes follow
        XCTAssertThrowsError(try EventDecoder.decode(exec)) {
            XCTAssertEqual($0 as? EventDecoder.DecodeError, .truncated(type: SA_EV_EXEC.rawValue, size: Int(sa_exec_argv_offset) + 2))
        }
    }

    /// Each code of bpf/events.h the decoder maps has its own Swift case, and every Swift case has a
    /// code: a code added on one side only fails here.
    func testEveryKernelCodeHasItsOneSwiftCase() {
        let codes = (0...64).map(UInt32.init)
        let fileOps = codes.compactMap(EventDecoder.fileOperation)
        XCTAssertEqual(fileOps.count, FileOperation.allCases.count)
        XCTAssertEqual(Set(fileOps), Set(FileOperation.allCases))
        let streams = codes.compactMap(EventDecoder.ttyStream)
        XCTAssertEqual(streams, [.output, .stdout, .stderr, .input])
        XCTAssertEqual(codes.compactMap(EventDecoder.logSource), [.file, .syslog, .stderr])
        XCTAssertEqual(codes.compactMap(EventDecoder.networkOperation), [.connect, .bind, .listen, .send, .accept])
        XCTAssertEqual(TTYMode.allCases.map(\.kernelValue), [0, SA_TTY_MODE_OUTPUT, SA_TTY_MODE_ALL])
        // Every record type the kernel programs send decodes (given a record long enough for any type).
        let types = [SA_EV_FORK, SA_EV_EXEC, SA_EV_EXIT, SA_EV_ACCEPT, SA_EV_CRED, SA_EV_CHROOT, SA_EV_SETSID, SA_EV_LOG,
                     SA_EV_CONN_CLOSE, SA_EV_FILE_OPEN, SA_EV_FILE_CLOSE, SA_EV_SOCKET, SA_EV_NET, SA_EV_TTY,
                     SA_EV_TTY_WINSIZE].map(\.rawValue) + [UInt32(SA_EV_FILE_ACT), UInt32(SA_EV_TRANSFER_OPEN)]
        for type in types {
            var bytes = K.bytes(K.header(type), tail: [UInt8](repeating: 0, count: Int(sa_exec_argv_offset)))
            let at = MemoryLayout<sa_header>.size
            bytes[at] = 1  // the first field after the header: an operation code of 1
            bytes[At.logSource] = type == SA_EV_LOG.rawValue ? UInt8(SA_LOG_FILE) : bytes[At.logSource]
            bytes[At.ttyStream] = type == SA_EV_TTY.rawValue ? UInt8(SA_TTY_OUTPUT) : bytes[At.ttyStream]
            bytes[At.ttyLen] = type == SA_EV_TTY.rawValue ? 0 : bytes[At.ttyLen]
            bytes[At.netFamily] = type == SA_EV_NET.rawValue ? UInt8(EventDecoder.afInet) : bytes[At.netFamily]
            XCTAssertNoThrow(try EventDecoder.decode(bytes), "type \(type)")
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
