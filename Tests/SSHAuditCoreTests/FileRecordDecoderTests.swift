import CSSHAuditABI
import XCTest
@testable import SSHAuditCore

/// struct sa_file_act (bpf/events.h): SA_EV_FILE_ACT (a change) and SA_EV_TRANSFER_OPEN (a transfer server's open).
final class FileRecordDecoderTests: XCTestCase {
    func fileRecord(type: UInt32 = UInt32(SA_EV_FILE_ACT), op: UInt32, flags: UInt32 = 0, fd: Int32 = -1,
                    openFlags: UInt32 = 0, _ pieces: [String]) -> [UInt8] {
        fileRecord(type: type, op: op, flags: flags, fd: fd, openFlags: openFlags, bytes: pieces.map { Array($0.utf8) })
    }

    func fileRecord(type: UInt32 = UInt32(SA_EV_FILE_ACT), op: UInt32, flags: UInt32 = 0, fd: Int32 = -1,
                    openFlags: UInt32 = 0, bytes pieces: [[UInt8]]) -> [UInt8] {
        var act = sa_file_act()
        act.h = KernelRecord.header(type, uid: 1001, comm: "bash")
        act.op = op
        act.flags = flags
        act.fd = fd
        act.open_flags = openFlags
        let padded = pieces + [[UInt8]](repeating: [], count: 4 - pieces.count)
        let lengths = padded.map { UInt16($0.count) }
        (act.dir_len, act.name_len, act.dir2_len, act.name2_len) = (lengths[0], lengths[1], lengths[2], lengths[3])
        return KernelRecord.bytes(act, size: Int(sa_file_act_data_offset), tail: padded.flatMap { $0 })
    }

    func change(_ bytes: [UInt8]) throws -> FileChange? {
        if case let .fileChange(c) = try EventDecoder.decode(bytes).kind { return c }
        return nil
    }

    /// Names are bytes: two that differ only in bytes that are not UTF-8 are two paths, each exact
    /// (RecordedText), in the kernel's walk and in the caller's name alike.
    func testNamesThatAreNotUTF8StayApartAndExact() throws {
        let a = try change(fileRecord(op: 4, bytes: [Array("tmp/".utf8), [0x78, 0xff], Array("tmp/".utf8), [0x78, 0xfe]]))
        XCTAssertEqual(a, FileChange(op: .rename, path: "/tmp/x\u{FFFD}ff", newPath: "/tmp/x\u{FFFD}fe"))
        let walked = try change(fileRecord(op: 1, bytes: [[0x6b, 0xc3, 0x2f, 0xe9, 0x2f, 0x74, 0x6d, 0x70, 0x2f]]))
        XCTAssertEqual(walked?.path, "/tmp/\u{FFFD}e9/k\u{FFFD}c3")
        XCTAssertEqual(walked.map { RecordedText.bytes(of: $0.path) }, [0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xe9, 0x2f, 0x6b, 0xc3])
    }

    /// ".." stops at the process's root, as in the kernel: a jailed process's "../../../etc/cron.d/x"
    /// from /srv/jail/b is /srv/jail/etc/cron.d/x, never /etc/cron.d/x (open_flags: where the root was
    /// on each walk, 1 + the bytes below it; 0: not said).
    func testDotDotStopsAtTheProcesssRoot() throws {
        let jailed = try change(fileRecord(op: 4, openFlags: 3 | 3 << 16,
                                           ["b/jail/srv/", "../../../etc/cron.d/x", "b/jail/srv/", "../y"]))
        XCTAssertEqual(jailed, FileChange(op: .rename, path: "/srv/jail/etc/cron.d/x", newPath: "/srv/jail/y"))
        // The root is the working directory itself: 1 + 0 bytes below it.
        XCTAssertEqual(try change(fileRecord(op: 5, openFlags: 1, ["jail/srv/", "../../etc/passwd"]))?.path, "/srv/jail/etc/passwd")
        // A working directory outside the root (or a record that does not say): ".." climbs freely.
        XCTAssertEqual(try change(fileRecord(op: 5, ["b/jail/srv/", "../../../etc/passwd"]))?.path, "/etc/passwd")
        // A file on a detached mount: its path from that mount's root, marked.
        XCTAssertEqual(try change(fileRecord(op: 2, flags: UInt32(SA_FILE_DETACHED), ["passwd/"]))?.path, "(detached mount)/passwd")
        XCTAssertEqual(try change(fileRecord(op: 4, flags: UInt32(SA_FILE_DETACHED2), ["tmp/", "a", "/", "passwd"]))?.newPath,
                       "(detached mount)/passwd")
    }

    /// The kernel has one flag for a cut name and one for a cut walk, for both names of a record: the
    /// "…" goes on the name that filled its room (511 bytes) and on a walk that gave something, never
    /// on the other name (a long target must not make `~/.bash_profile` read `~/.bash_profile…`).
    func testTruncationMarksGoOnTheNameThatWasCut() throws {
        let long = String(repeating: "./", count: 255) + "e"  // 511 bytes: its room, NUL included, full
        let nameCut = UInt32(SA_FILE_NAME_TRUNCATED), walkCut = UInt32(SA_FILE_TRUNCATED)
        let link = try change(fileRecord(op: 11, flags: nameCut, ["u/home/", ".bash_profile", "", long]))
        XCTAssertEqual(link?.path, "/home/u/.bash_profile")
        XCTAssertEqual(link?.newPath, long + "…")
        let moved = try change(fileRecord(op: 4, flags: nameCut, ["", "/tmp/" + String(repeating: "./", count: 252) + "xy",
                                                                   "", "/home/u/.bashrc"]))
        XCTAssertEqual(moved?.path, "/tmp/xy…")
        XCTAssertEqual(moved?.newPath, "/home/u/.bashrc")
        // A deep working directory, then an absolute name (its walk, the root's, gives nothing).
        let deep = String(repeating: "d/", count: 32)
        let fromDeep = try change(fileRecord(op: 4, flags: walkCut, [deep, "evil", "", "/etc/cron.d/job"]))
        XCTAssertEqual(fromDeep?.path, "…/" + String(repeating: "d/", count: 32) + "evil")
        XCTAssertEqual(fromDeep?.newPath, "/etc/cron.d/job")
        // Both walks gave something: both are marked, as the kernel cannot say which one was cut.
        XCTAssertEqual(try change(fileRecord(op: 4, flags: walkCut, [deep, "a", "tmp/", "b"]))?.newPath, "…/tmp/b")
    }

    func testPathsFromTheKernelsDirectoryAndTheCallersName() throws {
        // A descriptor's file: the kernel's walk alone.
        XCTAssertEqual(try change(fileRecord(op: 1, ["keys_authorized/.ssh/alice/home/"])),
                       FileChange(op: .create, path: "/home/alice/.ssh/keys_authorized"))
        // By name: the working directory plus the name, "." and ".." resolved.
        XCTAssertEqual(try change(fileRecord(op: 4, ["tmp/", "./a/../loop.txt", "tmp/", "moved.txt"])),
                       FileChange(op: .rename, path: "/tmp/loop.txt", newPath: "/tmp/moved.txt"))
        // An absolute name's ".." stops at the process's root (here a chroot at /srv/jail).
        XCTAssertEqual(try change(fileRecord(op: 5, ["jail/srv/", "/../../etc/passwd"])),
                       FileChange(op: .unlink, path: "/srv/jail/etc/passwd"))
        // A relative one may climb above its directory.
        XCTAssertEqual(try change(fileRecord(op: 8, ["b/a/", "../../etc/shadow"])), FileChange(op: .chmod, path: "/etc/shadow"))
        // symlink: the target exactly as given.
        XCTAssertEqual(try change(fileRecord(op: 11, ["tmp/", "soft", "", "../etc/passwd"])),
                       FileChange(op: .symlink, path: "/tmp/soft", newPath: "../etc/passwd"))
        // An attribute's name as given, never resolved as a path; a descriptor's file with no name.
        XCTAssertEqual(try change(fileRecord(op: 12, ["tmp/", "f", "", "security.capability"])),
                       FileChange(op: .setxattr, path: "/tmp/f", newPath: "security.capability"))
        XCTAssertEqual(try change(fileRecord(op: 13, ["f/tmp/", "", "", "user.a/../b"])),
                       FileChange(op: .removexattr, path: "/tmp/f", newPath: "user.a/../b"))
        XCTAssertEqual(try change(fileRecord(op: 14, ["tmp/", "f"])), FileChange(op: .utime, path: "/tmp/f"))
        // chattr: the inode's flags after the call, then what the caller passed, named; an unknown bit
        // is "other"; an unreadable value says so; text that is not the program's, as it came;
        // file_setattr by name: no flags.
        XCTAssertEqual(try change(fileRecord(op: 15, ["f/tmp/", "", "", "flags 0x00080010 state 0x08"])),
                       FileChange(op: .setflags, path: "/tmp/f", newPath: "immutable (passed flags 0x00080010: immutable, extents)"))
        XCTAssertEqual(try change(fileRecord(op: 15, ["f/tmp/", "", "", "xflags 0x00000018 state 0x0c"]))?.newPath,
                       "append-only, immutable (passed xflags 0x00000018: immutable, append-only)")
        XCTAssertEqual(try change(fileRecord(op: 15, ["f/tmp/", "", "", "flags 0x80000000 state 0x00"]))?.newPath,
                       "none (passed flags 0x80000000: other)")
        XCTAssertEqual(try change(fileRecord(op: 15, ["f/tmp/", "", "", "flags ? state 0x08"]))?.newPath,
                       "immutable (passed flags unreadable)")
        XCTAssertEqual(try change(fileRecord(op: 15, ["f/tmp/", "", "", "flags 0xzz state 0x08\u{1b}"]))?.newPath,
                       "flags 0xzz state 0x08\u{1b}")
        XCTAssertEqual(try change(fileRecord(op: 15, ["tmp/", "f"])), FileChange(op: .setflags, path: "/tmp/f"))
        // Mounts: the mount point by its path, the source as given; none given is no new path.
        XCTAssertEqual(try change(fileRecord(op: 16, ["/", "root/.ssh", "", "/tmp/keys"])),
                       FileChange(op: .mount, path: "/root/.ssh", newPath: "/tmp/keys"))
        XCTAssertEqual(try change(fileRecord(op: 16, ["mnt/", "", "", ""])), FileChange(op: .mount, path: "/mnt"))
        XCTAssertEqual(try change(fileRecord(op: 17, ["/", "mnt"])), FileChange(op: .umount, path: "/mnt"))
        XCTAssertEqual(try change(fileRecord(op: 18, ["/", "mnt", "", "/dev/sda1"])), FileChange(op: .remount, path: "/mnt", newPath: "/dev/sda1"))
        // An exchange: two renames, one each way.
        let swapped = try XCTUnwrap(change(fileRecord(op: 4, flags: UInt32(SA_FILE_EXCHANGE), ["tmp/", "a", "tmp/", "b"])))
        XCTAssertEqual(swapped.recorded, [FileChange(op: .rename, path: "/tmp/a", newPath: "/tmp/b"),
                                          FileChange(op: .rename, path: "/tmp/b", newPath: "/tmp/a")])
        // Beyond the bounds: "…" where the part is missing.
        XCTAssertEqual(try change(fileRecord(op: 2, flags: 1, ["c/b/"]))?.path, "…/b/c")
        let full = String(repeating: "a", count: 511)  // a name that filled its room
        XCTAssertEqual(try change(fileRecord(op: 5, flags: 2, ["tmp/", full]))?.path, "/tmp/" + full + "…")
    }

    func testTransferOpenAndBadRecords() throws {
        let open = try EventDecoder.decode(fileRecord(type: UInt32(SA_EV_TRANSFER_OPEN), op: 0, fd: 5, openFlags: 0o1101, ["x.bin/tmp/"]))
        XCTAssertEqual(open.kind, .fileOpened(fd: 5, flags: 0o1101, path: "/tmp/x.bin"))
        XCTAssertThrowsError(try EventDecoder.decode(fileRecord(op: 99, ["tmp/"])), "an unknown operation")
        var short = fileRecord(op: 1, ["tmp/"])
        short.removeLast(2)
        XCTAssertThrowsError(try EventDecoder.decode(short), "lengths beyond the record")
        XCTAssertThrowsError(try EventDecoder.decode(Array(fileRecord(op: 1, []).prefix(Int(sa_file_act_data_offset) - 2))))
    }
}
