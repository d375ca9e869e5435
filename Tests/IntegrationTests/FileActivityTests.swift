import Foundation
import XCTest

/// What a session changed in the file system, from a real sshd: shell builtins (no exec), the usual
/// commands, every legacy syscall a user could call directly, and nothing from outside sessions.
final class FileActivityTests: RecordedSSHDTestCase {
    /// The session's rows as (op, path, new path) → row.
    func rows(session: Int, _ extra: [String] = []) throws -> [[String: Any]] {
        try recorder.query("files", ["--session", String(session)] + extra)
    }

    func describe(_ rows: [[String: Any]]) -> [String] {
        rows.map { "\($0.string("op") ?? "?") \($0.string("path") ?? "?")\($0.string("new_path").map { " → " + $0 } ?? "") ×\($0.int("count") ?? 0)" }
    }

    func find(_ rows: [[String: Any]], _ op: String, _ path: String, new: String? = nil) -> [String: Any]? {
        rows.first { $0.string("op") == op && $0.string("path") == path && $0.string("new_path") == new }
    }

    /// The last session of this test's own sshd (every recorder also sees the sshds of tests running beside it).
    func sessionID() throws -> Int {
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        return try XCTUnwrap(sessions.last?.int("id"), "a session was recorded")
    }

    func testBuiltinsCommandsAndNothingOutsideSessions() throws {
        server = try SSHDServer(name: "files-shell", port: 22550)
        recorder = try Recorder(name: "files-shell")
        let token = UUID().uuidString.prefix(8).lowercased()
        let dir = "/tmp/files-\(token)"
        // The test user's home is shared with other tests: leave ~/.ssh as it was.
        let sshDir = String(cString: try XCTUnwrap(getpwnam("sa_alice")).pointee.pw_dir) + "/.ssh"
        let keysBefore = try? String(contentsOfFile: sshDir + "/authorized_keys", encoding: .utf8)
        let dirExisted = FileManager.default.fileExists(atPath: sshDir)
        defer {
            if let keysBefore {
                try? keysBefore.write(toFile: sshDir + "/authorized_keys", atomically: false, encoding: .utf8)
            } else {
                unlink(sshDir + "/authorized_keys")
            }
            if !dirExisted { rmdir(sshDir) }
        }
        // Outside any session: root writes, renames, chmods and removes a file while recording.
        let outside = "/tmp/files-outside-\(token)"
        try "x".write(toFile: outside, atomically: false, encoding: .utf8)
        rename(outside, outside + ".moved")
        chmod(outside + ".moved", 0o600)
        unlink(outside + ".moved")

        let script = """
            mkdir -p ~/.ssh
            echo '# files-\(token)' >> ~/.ssh/authorized_keys
            mkdir \(dir) && cd \(dir) || exit 9
            for i in 1 2 3 4 5; do echo x >> loop.txt; done
            mv loop.txt moved.txt
            mkdir sub && chmod 600 ./sub/../moved.txt && rmdir sub
            ln -s moved.txt soft && ln moved.txt hard && ln -s ../../etc/shadow shadowlink && rm shadowlink
            echo evil > $'evil\\e[2J\\nname' && rm $'evil\\e[2J\\nname'
            echo a > $'bin\\xff' && echo b > $'bin\\xfe' && /bin/echo $'arg\\xff' > /dev/null && rm $'bin\\xff' $'bin\\xfe'
            rm soft hard moved.txt
            cd / && rmdir \(dir)
            """
        let r = try server.ssh("sa_alice", [script])  // run by the login shell, bash
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)

        let id = try sessionID()
        let all = try rows(session: id)
        let seen = describe(all)
        let home = String(cString: try XCTUnwrap(getpwnam("sa_alice")).pointee.pw_dir)
        // The builtin append: no exec, seen all the same, as the kernel resolved ~.
        let keys = all.first { ["write", "create"].contains($0.string("op")) && $0.string("path") == home + "/.ssh/authorized_keys" }
        XCTAssertNotNil(keys, "echo >> ~/.ssh/authorized_keys: \(seen)")
        XCTAssertEqual(keys?.int("uid"), Int(try XCTUnwrap(uid(of: "sa_alice"))))
        // One row per (process, path, op): the loop's first append creates, the next four write.
        XCTAssertEqual(find(all, "create", dir + "/loop.txt")?.int("count"), 1, "\(seen)")
        XCTAssertEqual(find(all, "write", dir + "/loop.txt")?.int("count"), 4, "\(seen)")
        XCTAssertNotNil(find(all, "rename", dir + "/loop.txt", new: dir + "/moved.txt"), "mv: \(seen)")
        XCTAssertNotNil(find(all, "chmod", dir + "/moved.txt"), "chmod with ./sub/../ in the name: \(seen)")
        for (op, path) in [("mkdir", dir), ("mkdir", dir + "/sub"), ("rmdir", dir + "/sub"), ("unlink", dir + "/soft"),
                           ("unlink", dir + "/hard"), ("unlink", dir + "/moved.txt"), ("rmdir", dir)] {
            XCTAssertNotNil(find(all, op, path), "\(op) \(path): \(seen)")
        }
        XCTAssertNotNil(find(all, "symlink", dir + "/soft", new: "moved.txt"), "ln -s: \(seen)")
        XCTAssertNotNil(find(all, "link", dir + "/moved.txt", new: dir + "/hard"), "ln: \(seen)")
        // Rows carry their command: mv's rename belongs to the mv command.
        let commands = try recorder.query("commands", ["--session", String(id)])
        let mv = commands.first { ($0.string("filename") ?? "").hasSuffix("/mv") }
        XCTAssertEqual(find(all, "rename", dir + "/loop.txt", new: dir + "/moved.txt")?.int("command_id"), mv?.int("id"))

        // Filters.
        let sensitive = try rows(session: id, ["--sensitive"])
        XCTAssertEqual(describe(sensitive).filter { $0.contains(dir) }, ["symlink \(dir)/shadowlink → ../../etc/shadow ×1"],
                       "a temporary directory is not sensitive, a link in it to /etc/shadow is")
        XCTAssertTrue(sensitive.contains { $0.string("path") == home + "/.ssh/authorized_keys" }, describe(sensitive).description)
        XCTAssertEqual(try rows(session: id, ["--op", "rename"]).count, 1)
        XCTAssertEqual(Set(try rows(session: id, ["--path", "*/moved.txt"]).compactMap { $0.string("op") }),
                       ["rename", "chmod", "link", "unlink"])
        // The list is configurable: a file of globs replaces the built-in one.
        let list = recorder.db + ".sensitive"
        try "# only this test's directory\n\(dir)/*\n".write(toFile: list, atomically: true, encoding: .utf8)
        let custom = try rows(session: id, ["--sensitive", "--sensitive-paths", list])
        XCTAssertFalse(custom.isEmpty)
        // (And the directories on the way to it: the mkdir and rmdir of the directory itself; /tmp is
        // this session's by no row.)
        XCTAssertTrue(custom.allSatisfy { ($0.string("path") ?? "").hasPrefix(dir + "/") || ($0.string("new_path") ?? "").hasPrefix(dir + "/")
                                          || $0.string("path") == dir },
                      describe(custom).description)
        XCTAssertTrue(custom.contains { $0.string("op") == "mkdir" && $0.string("path") == dir }, describe(custom).description)
        // show lists sensitive changes first, marked; report names them.
        let show = try runProcess(Paths.sshaudit, ["show", String(id), "--db", recorder.db])
        XCTAssertEqual(show.status, 0, show.stderr)
        // (The commands above it hold the script, wrapped whole: read the file activity section.)
        let fileSection = show.stdout.components(separatedBy: "\nFile activity (").last ?? ""
        let marked = fileSection.split(separator: "\n").first { $0.contains("authorized_keys") } ?? ""
        XCTAssertTrue(marked.contains(" ! "), "show marks the sensitive row: \(show.stdout)")
        // authorized_keys, the link to /etc/shadow, and ~/.ssh if this session made it (the directory
        // above authorized_keys).
        let sensitiveCount = dirExisted ? 2 : 3
        XCTAssertTrue(show.stdout.contains("\(sensitiveCount) sensitive"), "\(show.stdout)")
        XCTAssertTrue(fileSection.split(separator: "\n").contains { $0.contains("shadowlink") && $0.contains(" ! ") }, show.stdout)
        // A hostile name reaches the terminal escaped, and JSON exactly.
        XCTAssertFalse(show.stdout.contains("\u{1b}"), "no raw escape sequence from a file name")
        XCTAssertNotNil(find(all, "create", dir + "/evil\u{1b}[2J\nname"), "\(seen)")
        // Names that are not UTF-8: two files apart from each other, each exact (RecordedText: the byte
        // as U+FFFD and its hex), argv likewise, and shown as byte escapes.
        for name in ["bin\u{FFFD}ff", "bin\u{FFFD}fe"] {
            XCTAssertNotNil(find(all, "create", dir + "/" + name), "\(name): \(seen)")
            XCTAssertNotNil(find(all, "unlink", dir + "/" + name), "\(name): \(seen)")
        }
        let echo = commands.first { ($0["argv"] as? [String])?.first == "/bin/echo" }
        XCTAssertEqual(echo?["argv"] as? [String], ["/bin/echo", "arg\u{FFFD}ff"], "\(commands)")
        XCTAssertTrue(show.stdout.contains(#"bin\xff"#) && show.stdout.contains(#"bin\xfe"#), show.stdout)
        XCTAssertFalse(show.stdout.contains("\u{FFFD}"), "the escape, never the bare replacement character: \(show.stdout)")
        let report = try runProcess(Paths.sshaudit, ["report", "--db", recorder.db, "--format", "json", "--since", "1h"])
        let object = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
        // (This session's: the report covers every session of the last hour, and a root session of a
        // test running alongside, whose shell touches /root, has sensitive files too.)
        let reported = (object?["sensitive_files"] as? [[String: Any]] ?? []).filter { $0.int("session_id") == id }
            .compactMap { $0.string("path") }
        XCTAssertEqual(reported, (dirExisted ? [] : [home + "/.ssh"]) + [home + "/.ssh/authorized_keys", dir + "/shadowlink"], report.stderr)
        // JSON keys, exactly.
        XCTAssertEqual(Set(try XCTUnwrap(all.first).keys),
                       ["id", "session_id", "command_id", "pid", "uid", "op", "path", "new_path", "first_at", "last_at", "count"])

        // Nothing from outside sessions, in this session or any.
        let everything = try recorder.query("files")
        XCTAssertEqual(describe(everything).filter { $0.contains("files-outside-\(token)") }, [])
        let bad = try runProcess(Paths.sshaudit, ["query", "files", "--db", recorder.db, "--op", "write-ish"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("write-ish"), "a usage error naming the value: \(bad.stderr)")
    }

    /// Every call a user could make directly instead of the ones libc picks: each on its own name.
    func testLegacySyscalls() throws {
        server = try SSHDServer(name: "files-legacy", port: 22551)
        recorder = try Recorder(name: "files-legacy")
        let token = UUID().uuidString.prefix(8).lowercased()
        let dir = "/tmp/files-legacy-\(token)"
        let program = try compileLegacyCalls()
        let r = try server.ssh("sa_alice", [program, dir])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let all = try rows(session: try sessionID())
        let seen = describe(all)
        let expected: [(String, String, String?)] = [
            ("mkdir", dir, nil),                                  // mkdir
            ("mkdir", dir + "/mkdirat", nil),                     // mkdirat with a directory fd
            ("create", dir + "/open", nil),                       // open(O_CREAT)
            ("create", dir + "/creat", nil),                      // creat
            ("create", dir + "/openat2", nil),                    // openat2
            ("truncate", dir + "/open", nil),                     // open(O_TRUNC) of an existing file, truncate
            ("write", dir + "/creat", nil),                       // open(O_WRONLY) of an existing file
            ("truncate", dir + "/creat", nil),                    // ftruncate
            ("rename", dir + "/open", dir + "/renamed"),          // rename
            ("rename", dir + "/renamed", dir + "/renamedat"),     // renameat
            ("rename", dir + "/renamedat", dir + "/renamed2"),    // renameat2
            ("rename", dir + "/renamed2", dir + "/sub/across"),   // renameat, two directory fds
            ("rename", dir + "/sub/across", dir + "/renamed2"),   // renameat, a fd and an absolute name
            ("rename", dir + "/renamed2", dir + "/back"),         // rename, both relative
            ("link", dir + "/creat", dir + "/link"),              // link
            ("link", dir + "/creat", dir + "/linkat"),            // linkat
            ("symlink", dir + "/symlink", "creat"),               // symlink
            ("symlink", dir + "/symlinkat", "/etc/passwd"),       // symlinkat
            ("chmod", dir + "/creat", nil),                       // chmod, fchmod, fchmodat, fchmodat2
            ("chown", dir + "/creat", nil),                       // chown, fchown, lchown, fchownat
            ("chown", dir + "/symlink", nil),                     // lchown
            ("unlink", dir + "/link", nil),                       // unlink
            ("unlink", dir + "/linkat", nil),                     // unlinkat
            ("rmdir", dir + "/mkdirat", nil),                     // unlinkat(AT_REMOVEDIR)
            ("rmdir", dir + "/rmdir", nil),                       // rmdir
            ("create", dir + "/mknod", nil),                      // mknod (a FIFO)
            ("create", dir + "/mknodat", nil),                    // mknodat (a regular file)
        ]
        for (op, path, new) in expected {
            XCTAssertNotNil(find(all, op, path, new: new), "\(op) \(path) \(new ?? ""): \(seen)")
        }
        // chmod by name, by descriptor and by directory fd (fchmodat, fchmodat2): one row, four times.
        let chmods = r.stdout.contains("no fchmodat2") ? 3 : 4
        XCTAssertEqual(find(all, "chmod", dir + "/creat")?.int("count"), chmods, "\(seen)")
        XCTAssertEqual(find(all, "chown", dir + "/creat")?.int("count"), 3, "\(seen)")
        // Each name from its own directory, counted under its own key: one row each way, three times.
        XCTAssertEqual(find(all, "rename", dir + "/renamed2", new: dir + "/sub/across")?.int("count"), 3, "\(seen)")
        XCTAssertEqual(find(all, "rename", dir + "/sub/across", new: dir + "/renamed2")?.int("count"), 3, "\(seen)")
        // Attributes and times, by name and by descriptor: one row each, counting every call.
        let xattrCalls = r.stdout.contains("no setxattrat") ? 3 : 4
        XCTAssertEqual(find(all, "setxattr", dir + "/creat", new: "user.sa")?.int("count"), xattrCalls, "\(seen)")
        XCTAssertEqual(find(all, "removexattr", dir + "/creat", new: "user.sa")?.int("count"), xattrCalls, "\(seen)")
        XCTAssertEqual(find(all, "utime", dir + "/creat")?.int("count"), 5, "\(seen)")
        // An exchange moved each file to the other's name: a rename each way, every time.
        XCTAssertEqual(find(all, "rename", dir + "/back", new: dir + "/mknodat")?.int("count"), 2, "\(seen)")
        XCTAssertEqual(find(all, "rename", dir + "/mknodat", new: dir + "/back")?.int("count"), 2, "\(seen)")
        // open(O_TRUNC) and truncate by name of one file: one row, twice.
        XCTAssertEqual(find(all, "truncate", dir + "/open")?.int("count"), 2, "\(seen)")
        // The symlink to /etc/passwd is sensitive by its target.
        XCTAssertTrue(try rows(session: try sessionID(), ["--sensitive"]).contains { $0.string("path") == dir + "/symlinkat" })
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// chattr: a root session makes a file immutable, then appendable, and clears both (`chattr` runs
    /// FS_IOC_GETFLAGS then FS_IOC_SETFLAGS on a descriptor opened for reading, so no open reports
    /// it); a loop in one process sets two values in turn, 50 times each (a row each, counted in the
    /// kernel); FS_IOC_FSSETXATTR sets xflags, and file_setattr (6.17) by name. Each row names the
    /// flags the inode holds after the call, then what the caller passed.
    func testChattrFlagsAreRecorded() throws {
        server = try SSHDServer(name: "files-chattr", port: 22666, extraOptions: ["-o", "PermitRootLogin=prohibit-password"])
        try server.allowRootLogin()
        recorder = try Recorder(name: "files-chattr")
        let file = "/var/tmp/files-chattr-\(UUID().uuidString.prefix(8).lowercased())"
        defer { _ = try? runProcess("/usr/bin/chattr", ["-i", "-a", file]); unlink(file) }
        let script = """
            echo key > \(file)
            chattr +i \(file) && chattr -i \(file) && chattr +a \(file) && chattr -a \(file) || exit 7
            python3 -c 'import ctypes, errno, fcntl, os, struct
            fd = os.open("\(file)", os.O_RDONLY)
            flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, bytes(4)))[0]
            for i in range(50):
                fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags | 0x80))
                fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags))
            x = bytearray(fcntl.ioctl(fd, 0x801c581f, bytes(28)))
            struct.pack_into("I", x, 0, struct.unpack_from("I", x, 0)[0] | 0x80)
            fcntl.ioctl(fd, 0x401c5820, bytes(x))
            libc = ctypes.CDLL(None, use_errno=True)
            attr = ctypes.create_string_buffer(struct.pack("QIIII", 0, 0, 0, 0, 0))
            if libc.syscall(469, -100, b"\(file)", attr, 24, 0) != 0:
                if ctypes.get_errno() != errno.ENOSYS: raise OSError(ctypes.get_errno(), "file_setattr")
                print("no file_setattr")'
            """
        let r = try server.ssh("root", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let all = try rows(session: try sessionID()).filter { $0.string("op") == "setflags" && $0.string("path") == file }
        let seen = describe(all)
        XCTAssertFalse(all.isEmpty, "no flags recorded; the recorder said: \(recorder.stderr)")
        /// The inode's flags after the call: "immutable (passed …)" → "immutable".
        func state(_ row: [String: Any]) -> String? {
            guard let text = row.string("new_path"), let cut = text.range(of: " (passed ") else { return nil }
            return String(text[..<cut.lowerBound])
        }
        func total(_ rows: [[String: Any]]) -> Int { rows.reduce(0) { $0 + ($1.int("count") ?? 0) } }
        let ioctls = all.filter { $0.string("new_path")?.contains("(passed flags 0x") == true }
        XCTAssertEqual(total(ioctls.filter { state($0) == "immutable" }), 1, "chattr +i: \(seen)")
        XCTAssertEqual(total(ioctls.filter { state($0) == "append-only" }), 1, "chattr +a: \(seen)")
        // The loop's two values: a row each, every call counted.
        XCTAssertEqual(total(ioctls.filter { state($0) == "no-atime" }), 50, "\(seen)")
        XCTAssertEqual(total(ioctls.filter { state($0) == "none" }), 2 + 50, "chattr -i, chattr -a and the loop's: \(seen)")
        XCTAssertTrue(ioctls.contains { $0.string("new_path")?.contains("no-atime, extents") == true }, "what was passed, named: \(seen)")
        // FS_IOC_FSSETXATTR: xflags, its own numbering (0x80: no-dump, which the inode's own flags do not hold).
        XCTAssertTrue(all.contains { state($0) == "none" && $0.string("new_path")?.contains("(passed xflags 0x") == true
                                     && $0.string("new_path")?.contains("no-dump") == true }, "\(seen)")
        // file_setattr: by its path, no flags read.
        if !r.stdout.contains("no file_setattr") {
            XCTAssertEqual(total(all.filter { $0["new_path"] == nil || $0["new_path"] is NSNull }), 1, "file_setattr: \(seen)")
        }
        // Shown as the file's own: "path [immutable (passed …)]".
        let shown = try runProcess(Paths.sshaudit, ["show", String(try sessionID()), "--db", recorder.db])
        XCTAssertTrue(shown.stdout.contains(file + " [immutable (passed"), shown.stdout + shown.stderr)
    }

    /// Mounts change what every path under them names: a root session bind-mounts a directory over
    /// another, remounts it read-only and unmounts it (the mount and umount programs: mount(2),
    /// umount2(2)), then does the same through the new API from Python (open_tree, move_mount,
    /// mount_setattr, fspick, umount2). Each is a row at the mount point (mount, remount, umount);
    /// mount(2)'s source as given. Then
    /// it writes through a detached copy of a directory (open_tree's clone, never attached), marked
    /// as such, and chroots and renames "../../../f": ".." stops at the new root, so does the row. The
    /// same process creates "../../../x" from one directory before and after the chroot: the same call,
    /// name and working directory, two files, so two rows (counted as a repeat of the first, the second
    /// would be hidden and the first invented). And
    /// dd writes a loop device: a block device opened for writing is a write row.
    func testMountsDetachedTreesAndChrootsAreRecorded() throws {
        server = try SSHDServer(name: "files-mount", port: 22667, extraOptions: ["-o", "PermitRootLogin=prohibit-password"])
        try server.allowRootLogin()
        recorder = try Recorder(name: "files-mount")
        let dir = "/var/tmp/files-mount-\(UUID().uuidString.prefix(8).lowercased())"
        defer {
            while (try? runProcess("/bin/umount", [dir + "/over"]))?.status == 0 {}
            _ = try? runProcess("/bin/sh", ["-c", "losetup -j \(dir)/disk | cut -d: -f1 | xargs -r losetup -d"])
            _ = try? runProcess("/bin/rm", ["-rf", dir])
        }
        let script = """
            mkdir -p \(dir)/src \(dir)/over && echo secret > \(dir)/src/f
            truncate -s 1M \(dir)/disk && loop=$(losetup -f --show \(dir)/disk) && echo "loop=$loop" || exit 6
            printf x | dd of=$loop bs=1 count=1 conv=notrunc status=none; losetup -d $loop
            mount --bind \(dir)/src \(dir)/over || exit 7
            mount -o remount,bind,ro \(dir)/over || exit 8
            umount \(dir)/over || exit 9
            python3 -c 'import ctypes, os, struct
            libc = ctypes.CDLL(None, use_errno=True)
            def check(r, what):
                if r < 0: raise OSError(ctypes.get_errno(), what)
                return r
            tree = check(libc.syscall(428, -100, b"\(dir)/src", 1), "open_tree")
            check(libc.syscall(429, tree, b"", -100, b"\(dir)/over", 4), "move_mount")
            attr = ctypes.create_string_buffer(struct.pack("QQQQ", 1, 0, 0, 0))
            check(libc.syscall(442, -100, b"\(dir)/over", 0, attr, 32), "mount_setattr")
            os.close(check(libc.syscall(433, -100, b"\(dir)/over", 0), "fspick"))
            os.close(tree)  # the attached tree: else the mount is busy
            check(libc.umount2(b"\(dir)/over", 0), "umount2")
            detached = check(libc.syscall(428, -100, b"\(dir)/src", 1), "open_tree")
            w = os.open("f", os.O_WRONLY | os.O_APPEND, dir_fd=detached)
            os.write(w, b"x")
            os.close(w)
            os.close(detached)
            os.makedirs("\(dir)/src/a/b")
            os.chdir("\(dir)/src/a/b")
            os.close(os.open("../../../x", os.O_WRONLY | os.O_CREAT | os.O_APPEND))
            os.chroot("\(dir)/src")
            os.close(os.open("../../../x", os.O_WRONLY | os.O_CREAT | os.O_APPEND))
            os.chdir("/")
            os.rename("../../../f", "../../../g")'
            """
        let r = try server.ssh("root", [script])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let all = try rows(session: try sessionID()).filter { ["mount", "umount", "remount"].contains($0.string("op")) }
        let seen = describe(all)
        let over = dir + "/over"
        func total(_ op: String, new: String?? = .none) -> Int {
            all.filter { $0.string("op") == op && $0.string("path") == over && (new == .none || $0.string("new_path") == new!) }
                .reduce(0) { $0 + ($1.int("count") ?? 0) }
        }
        XCTAssertEqual(total("mount", new: dir + "/src"), 1, "mount --bind: the source as given: \(seen)")
        XCTAssertEqual(total("mount"), 2, "the bind mount and move_mount: \(seen)")
        XCTAssertEqual(total("mount", new: .some(nil)), 1, "move_mount: no source given: \(seen)")
        // mount -o remount (its source as mount passes it), mount_setattr and fspick.
        XCTAssertEqual(total("remount"), 3, "\(seen)")
        XCTAssertEqual(total("remount", new: .some(nil)), 2, "mount_setattr and fspick: \(seen)")
        XCTAssertEqual(total("umount"), 2, "umount and umount2: \(seen)")
        let show = try runProcess(Paths.sshaudit, ["show", String(try sessionID()), "--db", recorder.db])
        XCTAssertTrue(show.stdout.contains(over + " ← "), "a mount shown with its source: " + show.stdout + show.stderr)
        XCTAssertEqual(try rows(session: try sessionID(), ["--op", "umount"]).filter { $0.string("path") == over }.count, 2)
        let everything = describe(try rows(session: try sessionID()))
        // A disk written under the file system: a block device opened for writing is a write row.
        let loop = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("loop=") }?.dropFirst(5), r.stdout)
        XCTAssertTrue(everything.contains { $0.hasPrefix("write \(loop) ") }, "dd of=\(loop): \(everything)")
        XCTAssertTrue(everything.contains("write (detached mount)/f ×1"), "\(everything)")
        XCTAssertTrue(everything.contains("rename \(dir)/src/f → \(dir)/src/g ×1"), "\(everything)")
        XCTAssertTrue(everything.contains("create \(dir)/x ×1"), "before the chroot: \(everything)")
        XCTAssertTrue(everything.contains("create \(dir)/src/x ×1"), "after the chroot: \(everything)")
        // OCSF: File System Activity, Mount 12 and Unmount 13, valid against the schema.
        let exported = try runProcess(Paths.sshaudit, ["export", "--db", recorder.db, "--host", "test-host", "--format", "ocsf"])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        let events = try exported.stdout.split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let schema = try OCSFSchema.load()
        let mounts = events.filter { $0.int("class_uid") == 1001 && (($0["file"] as? [String: Any])?["path"] as? String) == over
            && ["mount", "umount", "remount"].contains(($0["unmapped"] as? [String: Any])?["op"] as? String) }
        for event in mounts { XCTAssertEqual(schema.problems(event), [], "\(event)") }
        XCTAssertEqual(Set(mounts.compactMap { $0.int("activity_id") }), [12, 13], "\(mounts)")
        XCTAssertTrue(mounts.contains { (($0["file_result"] as? [String: Any])?["path"] as? String) == dir + "/src" }, "the source: \(mounts)")
    }

    /// ChrootDirectory, the usual SFTP jail: sshd's user child chroots as root before it takes the
    /// user's uids, after the pre-authentication child chrooted to sshd's empty directory; a chroot
    /// alone must not make it the pre-authentication child (then nothing of the session was kept). The
    /// session is the user's, its upload and rename are recorded, named as the kernel resolves them
    /// (outside the jail).
    func testChrootDirectoryJailIsRecorded() throws {
        let token = UUID().uuidString.prefix(8).lowercased()
        let jail = "/run/sshaudit-jail-\(token)"  // root's, like every directory above it
        XCTAssertEqual(mkdir(jail, 0o755), 0)
        XCTAssertEqual(mkdir(jail + "/upload", 0o755), 0)
        let alice = try XCTUnwrap(getpwnam("sa_alice")).pointee
        XCTAssertEqual(chown(jail + "/upload", alice.pw_uid, alice.pw_gid), 0)
        let source = "/run/sshaudit-test/files-jail-\(token).bin"
        try Data(repeating: 0x4a, count: 12_345).write(to: URL(fileURLWithPath: source))
        defer { try? FileManager.default.removeItem(atPath: jail); unlink(source) }
        server = try SSHDServer(name: "files-jail", port: 22553, extraOptions: [
            "-o", "Subsystem=sftp internal-sftp", "-o", "ChrootDirectory=\(jail)", "-o", "ForceCommand=internal-sftp"])
        recorder = try Recorder(name: "files-jail")
        let sftp = try server.sftp(key: "id_alice_jail", "put \(source) /upload/x.part\nrename /upload/x.part /upload/x\n")
        XCTAssertEqual(sftp.status, 0, sftp.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: jail + "/upload/x")).count, 12_345, "the upload happened")
        XCTAssertEqual(try recorder.stop(), 0)

        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 1)
        let session = try XCTUnwrap(sessions.first)
        XCTAssertEqual(session.string("user"), "sa_alice")
        XCTAssertEqual(session.string("kind"), "sftp")
        XCTAssertEqual(session["drops"] as? Bool, false)
        let id = try XCTUnwrap(session.int("id"))
        let transfers = try recorder.query("transfers", ["--session", String(id)])
        XCTAssertEqual(transfers.map { "\($0.string("path") ?? "?") \($0.int("bytes_written") ?? -1)" }, ["\(jail)/upload/x 12345"])
        let seen = describe(try rows(session: id))
        XCTAssertTrue(seen.contains("rename \(jail)/upload/x.part → \(jail)/upload/x ×1"), "\(seen)")
    }

    /// A file written while it has no name, then given one: open(O_TMPFILE) in the target's directory,
    /// write, and linkat, so that the content appears under its final name without any open, create,
    /// write or rename of that name. Both ways any user may name it: linkat(fd, "", …, AT_EMPTY_PATH)
    /// (its own file, 6.10 on) and linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW; and the file made
    /// by openat2 as well as by open. Each is a link row whose new path is the final name, a sensitive
    /// one, after a create of the nameless file (named "#INODE" by the kernel).
    func testAFileWrittenNamelessThenLinkedIntoPlace() throws {
        server = try SSHDServer(name: "files-tmpfile", port: 22554)
        recorder = try Recorder(name: "files-tmpfile")
        let program = try compileTestProgram(Self.namelessSource, name: "files-tmpfile", program: "nameless")
        let home = String(cString: try XCTUnwrap(getpwnam("sa_alice")).pointee.pw_dir)
        let units = home + "/.config/systemd/user"
        let token = UUID().uuidString.prefix(8).lowercased()
        let viaEmpty = units + "/sa-\(token)-empty.service", viaProc = units + "/sa-\(token)-proc.service"
        let viaOpenat2 = units + "/sa-\(token)-openat2.service"
        defer { unlink(viaEmpty); unlink(viaProc); unlink(viaOpenat2) }
        let r = try server.ssh("sa_alice", ["mkdir -p \(units) && \(program) \(units) \(viaEmpty) empty && \(program) \(units) \(viaProc) proc"
                                            + " && \(program) \(units) \(viaOpenat2) openat2"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for path in [viaEmpty, viaProc, viaOpenat2] {
            XCTAssertEqual(try? String(contentsOfFile: path, encoding: .utf8), "[Service]\nExecStart=/bin/true\n", "the attack worked: \(path)")
        }
        XCTAssertEqual(try recorder.stop(), 0)

        let id = try sessionID()
        let all = try rows(session: id)
        let seen = describe(all)
        let links = all.filter { $0.string("op") == "link" }
        XCTAssertTrue(links.contains { $0.string("new_path") == viaEmpty && ($0.string("path") ?? "").hasPrefix(units + "/#") },
                      "AT_EMPTY_PATH: the nameless file linked to its final name: \(seen)")
        XCTAssertTrue(links.contains { $0.string("new_path") == viaProc && ($0.string("path") ?? "").hasPrefix("/proc/self/fd/") },
                      "/proc/self/fd linked to its final name: \(seen)")
        XCTAssertTrue(links.contains { $0.string("new_path") == viaOpenat2 && ($0.string("path") ?? "").hasPrefix(units + "/#") },
                      "openat2's nameless file linked to its final name: \(seen)")
        let nameless = all.filter { ($0.string("path") ?? "").hasPrefix(units + "/#") && $0.string("op") != "link" }
        XCTAssertEqual(nameless.map { $0.string("op") ?? "?" }, ["create", "create", "create"],
                       "each nameless file is a creation, by open and by openat2: \(seen)")
        let sensitive = try rows(session: id, ["--sensitive"])
        for path in [viaEmpty, viaProc, viaOpenat2] {
            XCTAssertTrue(sensitive.contains { $0.string("op") == "link" && $0.string("new_path") == path },
                          "a link to \(path) is sensitive: \(describe(sensitive))")
        }
    }

    /// nameless DIR FINAL empty|proc|openat2: open(DIR, O_TMPFILE|O_WRONLY) (openat2: by openat2),
    /// write a unit, link it as FINAL (proc: through /proc/self/fd, else by AT_EMPTY_PATH).
    static let namelessSource = #"""
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <linux/openat2.h>
        #include <stdio.h>
        #include <string.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            if (argc != 4) return 2;
            int fd;
            if (strcmp(argv[3], "openat2") == 0) {
                struct open_how how = { .flags = O_TMPFILE | O_WRONLY, .mode = 0600 };
                fd = syscall(SYS_openat2, AT_FDCWD, argv[1], &how, sizeof how);
            } else {
                fd = open(argv[1], O_TMPFILE | O_WRONLY, 0600);
            }
            if (fd < 0) { perror("open O_TMPFILE"); return 1; }
            const char *unit = "[Service]\nExecStart=/bin/true\n";
            if (write(fd, unit, strlen(unit)) != (ssize_t)strlen(unit)) { perror("write"); return 1; }
            int linked;
            if (strcmp(argv[3], "proc") != 0) {
                linked = linkat(fd, "", AT_FDCWD, argv[2], AT_EMPTY_PATH);
            } else {
                char self[64];
                snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
                linked = linkat(AT_FDCWD, self, AT_FDCWD, argv[2], AT_SYMLINK_FOLLOW);
            }
            if (linked != 0) { perror("linkat"); return 1; }
            return 0;
        }
        """#

    /// rsync (a temporary file renamed at the end) and internal-sftp (served inside sshd's user child,
    /// no exec): one transfer row each, under the final name, with the exact size, and nothing else.
    func testRsyncAndInternalSftpUploads() throws {
        server = try SSHDServer(name: "files-transfer", port: 22552, extraOptions: ["-o", "Subsystem=sftp internal-sftp"])
        recorder = try Recorder(name: "files-transfer")
        let token = UUID().uuidString.prefix(8).lowercased()
        let source = "/run/sshaudit-test/files-upload-\(token).bin"
        let size = 300_001
        try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: source))
        let viaRsync = "/tmp/files-rsync-\(token).bin", viaSftp = "/tmp/files-sftp-\(token).bin"
        defer { for f in [source, viaRsync, viaSftp] { try? FileManager.default.removeItem(atPath: f) } }
        let ssh = try ["-p", String(server.port)] + server.clientOptions(key: "id_alice_files")
        let rsync = try runProcess("/usr/bin/rsync", ["-e", "ssh " + ssh.joined(separator: " "), source, "sa_alice@127.0.0.1:\(viaRsync)"])
        XCTAssertEqual(rsync.status, 0, rsync.stderr)
        let sftp = try server.sftp(key: "id_alice_files", "put \(source) \(viaSftp)\n")
        XCTAssertEqual(sftp.status, 0, sftp.stderr)
        XCTAssertEqual(try runProcess("/usr/bin/cmp", [source, viaSftp]).status, 0, "the upload really happened")
        // An interactive login's own reads before the shell (/etc/motd) are no internal-sftp transfer.
        let login = try InteractiveSSH(server: server, user: "sa_alice")
        _ = try login.waitFor("\\$ ")
        login.type("exit")
        _ = try login.waitForExit()
        XCTAssertEqual(try recorder.stop(), 0)

        // (The recorder follows every sshd on the machine: only this test's rows.)
        let transfers = try recorder.query("transfers").filter { ($0.string("path") ?? "").contains(token) || $0.string("path") == "/etc/motd" }
        let seen = transfers.map { "\($0.string("protocol") ?? "?") \($0.string("mode") ?? "?") \($0.string("path") ?? "?") \($0.int("bytes_written") ?? -1)/\($0.int("bytes_read") ?? -1)" }
        XCTAssertEqual(seen.sorted(), ["rsync readwrite \(viaRsync) \(size)/0", "sftp write \(viaSftp) \(size)/0"],
                       "exactly the two uploads, final names, exact sizes (rsync writes its mkstemp file O_RDWR)")
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(Set(sessions.compactMap { $0.string("kind") }), ["rsync", "sftp", "interactive"])
        // File activity shows rsync's temporary file and its rename, and internal-sftp's write.
        let files = try recorder.query("files", ["--op", "rename"])
        XCTAssertTrue(files.contains { $0.string("new_path") == viaRsync }, describe(files).description)
        XCTAssertTrue(try recorder.query("files", ["--path", viaSftp]).contains { $0.string("op") == "create" })
    }

    func uid(of user: String) -> UInt32? {
        getpwnam(user).map { $0.pointee.pw_uid }
    }

    /// A program calling each syscall by number (libc would pick openat, renameat2 … for most).
    func compileLegacyCalls() throws -> String {
        let dir = "/run/sshaudit-test/files-legacy-prog"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = #"""
            #define _GNU_SOURCE
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/stat.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            #include <linux/openat2.h>
            static char buf[4096];
            static const char *at(const char *d, const char *n) { snprintf(buf, sizeof buf, "%s/%s", d, n); return strdup(buf); }
            #define CHECK(x) do { if ((long)(x) < 0) { perror(#x); return 1; } } while (0)
            int main(int argc, char **argv) {
                const char *d = argv[1];
                uid_t u = getuid(); gid_t g = getgid();
                CHECK(syscall(SYS_mkdir, d, 0755));
                int dfd = syscall(SYS_open, d, O_RDONLY | O_DIRECTORY); CHECK(dfd);
                CHECK(syscall(SYS_mkdirat, dfd, "mkdirat", 0755));
                int fd = syscall(SYS_open, at(d, "open"), O_CREAT | O_WRONLY, 0644); CHECK(fd); close(fd);
                fd = syscall(SYS_creat, at(d, "creat"), 0644); CHECK(fd); close(fd);
                struct open_how how = { .flags = O_CREAT | O_WRONLY, .mode = 0644 };
                fd = syscall(SYS_openat2, dfd, "openat2", &how, sizeof how); CHECK(fd); close(fd);
                fd = syscall(SYS_open, at(d, "open"), O_WRONLY | O_TRUNC); CHECK(fd); close(fd);
                CHECK(syscall(SYS_truncate, at(d, "open"), 0));
                fd = syscall(SYS_open, at(d, "creat"), O_WRONLY); CHECK(fd);
                CHECK(syscall(SYS_ftruncate, fd, 0));
                CHECK(syscall(SYS_fchmod, fd, 0600));
                CHECK(syscall(SYS_fchown, fd, u, g));
                close(fd);
                CHECK(syscall(SYS_rename, at(d, "open"), at(d, "renamed")));
                CHECK(syscall(SYS_renameat, dfd, "renamed", dfd, "renamedat"));
                CHECK(syscall(SYS_renameat2, dfd, "renamedat", dfd, "renamed2", 0));
                /* Two names from two directories (two descriptors; a descriptor and an absolute
                 * name), three times each way; then both relative to the working directory. */
                CHECK(syscall(SYS_mkdirat, dfd, "sub", 0755));
                int sub = syscall(SYS_open, at(d, "sub"), O_RDONLY | O_DIRECTORY); CHECK(sub);
                for (int i = 0; i < 3; i++) {
                    CHECK(syscall(SYS_renameat, dfd, "renamed2", sub, "across"));
                    CHECK(syscall(SYS_renameat, sub, "across", AT_FDCWD, at(d, "renamed2")));
                }
                CHECK(chdir(d));
                CHECK(syscall(SYS_rename, "renamed2", "back"));
                CHECK(syscall(SYS_link, at(d, "creat"), at(d, "link")));
                CHECK(syscall(SYS_linkat, dfd, "creat", dfd, "linkat", 0));
                CHECK(syscall(SYS_symlink, "creat", at(d, "symlink")));
                CHECK(syscall(SYS_symlinkat, "/etc/passwd", dfd, "symlinkat"));
                CHECK(syscall(SYS_chmod, at(d, "creat"), 0644));
                CHECK(syscall(SYS_fchmodat, dfd, "creat", 0640));
                /* fchmodat2 (452, Linux 6.6): where the kernel lacks it, there is nothing to see. */
                if (syscall(452, dfd, "creat", 0640, 0) < 0) {
                    if (errno != ENOSYS) { perror("fchmodat2"); return 1; }
                    printf("no fchmodat2\n");
                }
                CHECK(syscall(SYS_chown, at(d, "creat"), u, g));
                CHECK(syscall(SYS_fchownat, dfd, "creat", u, g, 0));
                CHECK(syscall(SYS_lchown, at(d, "symlink"), u, g));
                CHECK(syscall(SYS_unlink, at(d, "link")));
                CHECK(syscall(SYS_unlinkat, dfd, "linkat", 0));
                CHECK(syscall(SYS_unlinkat, dfd, "mkdirat", AT_REMOVEDIR));
                CHECK(syscall(SYS_mkdir, at(d, "rmdir"), 0755));
                CHECK(syscall(SYS_rmdir, at(d, "rmdir")));
                CHECK(syscall(SYS_mknod, at(d, "mknod"), S_IFIFO | 0600, 0));
                CHECK(syscall(SYS_mknodat, dfd, "mknodat", S_IFREG | 0600, 0));
                /* Extended attributes, by name, by descriptor, and (6.13) from a directory fd: set and
                 * removed each way, one row each. */
                int at_calls = 1;
                struct { unsigned long long value; unsigned size, flags; } xa = { (unsigned long)"v", 1, 0 };
                fd = syscall(SYS_open, at(d, "creat"), O_RDONLY); CHECK(fd);
                CHECK(syscall(SYS_setxattr, at(d, "creat"), "user.sa", "v", 1, 0));
                CHECK(syscall(SYS_removexattr, at(d, "creat"), "user.sa"));
                CHECK(syscall(SYS_lsetxattr, at(d, "creat"), "user.sa", "v", 1, 0));
                CHECK(syscall(SYS_lremovexattr, at(d, "creat"), "user.sa"));
                CHECK(syscall(SYS_fsetxattr, fd, "user.sa", "v", 1, 0));
                CHECK(syscall(SYS_fremovexattr, fd, "user.sa"));
                if (syscall(463, dfd, "creat", 0, "user.sa", &xa, sizeof xa) < 0) {
                    if (errno != ENOSYS) { perror("setxattrat"); return 1; }
                    at_calls = 0;
                    printf("no setxattrat\n");
                } else {
                    CHECK(syscall(466, dfd, "creat", 0, "user.sa"));
                }
                /* Times: utime, utimes, futimesat, utimensat by name and on a descriptor (futimens). */
                CHECK(syscall(SYS_utime, at(d, "creat"), NULL));
                CHECK(syscall(SYS_utimes, at(d, "creat"), NULL));
                CHECK(syscall(SYS_futimesat, dfd, "creat", NULL));
                CHECK(syscall(SYS_utimensat, dfd, "creat", NULL, 0));
                CHECK(syscall(SYS_utimensat, fd, NULL, NULL, 0));
                close(fd);
                (void)at_calls;
                /* Two files swap names (RENAME_EXCHANGE), and back. */
                for (int i = 0; i < 2; i++) CHECK(syscall(SYS_renameat2, dfd, "back", dfd, "mknodat", 1 << 1));
                return 0;
            }
            """#
        try source.write(toFile: dir + "/calls.c", atomically: true, encoding: .utf8)
        let cc = try runProcess("/usr/bin/cc", ["-O1", "-o", dir + "/calls", dir + "/calls.c"])
        guard cc.status == 0 else { throw TestFailure("cc: \(cc.stderr)") }
        chmod(dir, 0o755)
        chmod(dir + "/calls", 0o755)
        return dir + "/calls"
    }
}
