import CLibBPF
import CSSHAuditABI
import Foundation
import SSHAuditCore

public enum TracerError: Error, CustomStringConvertible {
    case notRoot
    case noBTF
    case tracefs(String)
    case open(Int32)
    case load(Int32, String)
    case attach(String, Int32)
    case ringBuffer(Int32)
    case mapUpdate(Int32)
    case pinned(String, Int32)
    case config(String, Int32)

    public var description: String {
        switch self {
        case .notRoot: return "sshaudit record must run as root (it loads BPF programs)"
        case .noBTF: return "the kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot load"
        case let .tracefs(why): return "tracefs is not available at /sys/kernel/tracing: \(why)"
        case let .open(err): return "cannot open the BPF object: \(errnoText(err))"
        case let .load(err, log): return "the kernel refused the BPF programs: \(errnoText(err))" + (log.isEmpty ? "" : "\n" + log)
        case let .attach(name, err): return "cannot attach \(name): \(errnoText(err))"
        case let .ringBuffer(err): return "cannot set up the ring buffer: \(errnoText(err))"
        case let .mapUpdate(err): return "cannot update the tracked-process map: \(errnoText(err))"
        case let .pinned(path, err): return "cannot use the kernel state pinned at \(path): \(errnoText(err))"
        case let .config(what, err): return "cannot tell the kernel programs \(what): \(errnoText(err))"
        }
    }
}

func errnoText(_ err: Int32) -> String {
    let code = err < 0 ? -err : err
    return String(cString: strerror(code)) + " (errno \(code))"
}

extension ProcessRole {
    /// The flags the kernel programs keep for a followed process of this role (SA_PROC_* in
    /// bpf/events.h): listeners' and monitors' log writes are the only ones they read, and a monitor
    /// that serves its session itself (a root login on OpenSSH <= 9.7) is not read.
    func kernelFlags(servesSession: Bool) -> UInt32 {
        switch self {
        case .listener: return SA_PROC_LISTENER | SA_PROC_ACCEPTED
        case .monitor: return SA_PROC_MONITOR | (servesSession ? SA_PROC_SESSION : 0)
        case .monitorChild, .preauth, .helper, .userChild, .user, .unknown: return 0
        }
    }
}

/// A file as the kernel programs name it (struct sa_file_id in bpf/events.h).
public struct KernelFileID: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    public init(_ file: FileIdentity) {
        self.init(device: file.kernelDevice, inode: file.inode)
    }

    /// The key of the kernel's maps of files.
    var kernelKey: sa_file_id { sa_file_id(dev: device, ino: inode) }

    /// The file open as descriptor `fd` of `process` (a pid, or "self"), whose stat identity is
    /// `file`: its superblock's device comes from the mount it is reached through (MountTable), as
    /// the kernel reads it; without /proc's word on that, stat's device, re-encoded.
    public static func of(descriptor fd: String, process: String, file: FileIdentity) -> KernelFileID {
        let proc = "/proc/" + process
        if let fdinfo = try? String(contentsOfFile: "\(proc)/fdinfo/\(fd)", encoding: .utf8),
           let mount = MountTable.mountID(fdinfo: fdinfo),
           let mountinfo = try? String(contentsOfFile: proc + "/mountinfo", encoding: .utf8),
           let device = MountTable.device(ofMount: mount, mountinfo: mountinfo) {
            return KernelFileID(device: device, inode: file.inode)
        }
        return KernelFileID(file)
    }

    /// The file at `path` (following symbolic links), or nil with errno set.
    public static func of(path: String) -> KernelFileID? {
        let oPath: Int32 = 0o10000000  // O_PATH (not exported to Swift): names the file, needs no read access
        let fd = open(path, oPath | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let file = FileStatus.of(path: "/proc/self/fd/\(fd)") else { return nil }
        return of(descriptor: String(fd), process: "self", file: file.identity)
    }
}

/// Collects libbpf's warnings (verifier log included) so a load failure can say why.
private nonisolated(unsafe) var libbpfLog = ""

/// Loads the kernel programs (embedded at build time), attaches them and delivers each ring-buffer
/// record to a handler, on the calling thread.
///
/// The programs, their links and the maps the recorder reads can be pinned in the BPF filesystem
/// (`pinDirectory`): then they outlive the recorder. If it is killed, the kernel goes on tracing into
/// the ring buffer, and the next run (`init(resuming:)`) continues from the records it had not yet
/// released (see RingReader). A clean stop removes the pins, which detaches the programs.
public final class BPFTracer {
    private let object: OpaquePointer?
    private var links: [OpaquePointer] = []
    /// Pinned links reopened by a resumed tracer: they keep the programs attached while it runs.
    private var linkFDs: [Int32] = []
    private var mapFDs: [Int32] = []
    /// The session hooks (see watchSessionHooks), by hook name: the program of each, and its link
    /// while attached. Empty in pins of a build without them.
    private var hookPrograms: [String: Int32] = [:]
    private var hookLinks: [String: Int32] = [:]
    /// The log-write hook (see logWriteProgram): its program, and its link once attached. Empty in
    /// pins of a build that attached it always (among `links`).
    private var logPrograms: [String: Int32] = [:]
    private var logLinks: [String: Int32] = [:]
    private var ring: RingReader?
    private let eventsFD: Int32
    private let trackedFD: Int32
    private let lossesFD: Int32
    private let configFD: Int32
    private var ttyConfigFD: Int32 = -1
    /// File operations the kernel counts instead of reporting each (bpf/files.bpf.h); -1 in pins of
    /// a build without it.
    private var fileSeenFD: Int32 = -1
    /// The io_uring instances the kernel counts requests of (bpf/uring.bpf.h); -1 in pins of a build
    /// without it.
    private var uringRingsFD: Int32 = -1
    /// The 32-bit system calls the kernel counts per process (bpf/compat.bpf.h); -1 in pins of a
    /// build without it.
    private var compatCallsFD: Int32 = -1
    private let sshdBinariesFD: Int32
    private let logFilesFD: Int32
    private let stderrListenersFD: Int32
    private var handler: ((UnsafeRawBufferPointer) -> Void)?
    /// Where the kernel state is pinned, if it is.
    public private(set) var pinDirectory: String?
    /// The ring buffer map's id: which kernel state a checkpoint belongs to (ids are not reused
    /// before a reboot).
    public let ringMapID: UInt32
    private let ringSize: UInt64

    /// Where the kernel state of the recorder writing to `database` is pinned. One per database, so
    /// recorders writing to different files never share a ring buffer. (The BPF filesystem refuses
    /// names with a dot: the path is hashed.)
    public static func pinDirectory(forDatabase database: String) -> String {
        "/sys/fs/bpf/sshaudit/db-" + fnv1a(database)
    }

    /// A fingerprint of the embedded kernel programs: a checkpoint is only valid with the programs
    /// (and record layouts) that wrote its ring buffer.
    public static let programsFingerprint = fnv1a(embeddedBPFObjectBase64)

    /// FNV-1a, 64 bits, in hex: a short stable name, not a security measure.
    static func fnv1a(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    /// What the kernel says of a map: its id, sizes and entries.
    private static func mapInfo(_ fd: Int32) -> bpf_map_info? {
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info : nil
    }

    /// The ring buffer map's id and size.
    private static func ringInfo(_ fd: Int32) -> (id: UInt32, size: UInt64)? {
        mapInfo(fd).map { ($0.id, UInt64($0.max_entries)) }
    }

    /// Whether a map's keys and values are the sizes of K and V.
    private static func hasShape<K, V>(_ fd: Int32, key: K.Type, value: V.Type) -> Bool {
        guard let info = mapInfo(fd) else { return false }
        return Int(info.key_size) == MemoryLayout<K>.size && Int(info.value_size) == MemoryLayout<V>.size
    }

    /// Removes pinned kernel state: once no process holds it either, the programs detach.
    public static func removePins(_ directory: String) {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for name in names { unlink(directory + "/" + name) }
        }
        rmdir(directory)
    }

    /// Reopens the kernel state a killed recorder left pinned at `directory`.
    public init(resuming directory: String) throws {
        guard geteuid() == 0 else { throw TracerError.notRoot }
        object = nil
        func open(_ name: String) throws -> Int32 {
            let fd = bpf_obj_get(directory + "/" + name)
            guard fd >= 0 else { throw TracerError.pinned(directory + "/" + name, errno) }
            return fd
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var fds: [Int32] = []
        do {
            for name in names.sorted() where name.hasPrefix("link_") { linkFDs.append(try open(name)) }
            guard !linkFDs.isEmpty else { throw TracerError.pinned(directory, ENOENT) }
            eventsFD = try open("events"); fds.append(eventsFD)
            trackedFD = try open("tracked"); fds.append(trackedFD)
            lossesFD = try open("losses"); fds.append(lossesFD)
            configFD = try open("config"); fds.append(configFD)
            sshdBinariesFD = try open("sshd_binaries"); fds.append(sshdBinariesFD)
            logFilesFD = try open("log_files"); fds.append(logFilesFD)
            stderrListenersFD = try open("stderr_listeners"); fds.append(stderrListenersFD)
            // Absent in pins of a build without terminal recording: then it was off.
            let tty = bpf_obj_get(directory + "/tty_config")
            ttyConfigFD = tty
            if tty >= 0 { fds.append(tty) }
            // A build whose keys have another shape counted into it: its counts cannot be read by key.
            fileSeenFD = bpf_obj_get(directory + "/file_seen")
            if fileSeenFD >= 0, !Self.hasShape(fileSeenFD, key: sa_file_seen_key.self, value: sa_file_seen.self) {
                Glibc.close(fileSeenFD)
                fileSeenFD = -1
            }
            if fileSeenFD >= 0 { fds.append(fileSeenFD) }
            uringRingsFD = bpf_obj_get(directory + "/uring_rings")
            if uringRingsFD >= 0 { fds.append(uringRingsFD) }
            compatCallsFD = bpf_obj_get(directory + "/compat_calls")
            if compatCallsFD >= 0 { fds.append(compatCallsFD) }
            // The session hooks and the log-write hook, and the links of those the killed run had attached.
            for name in names {
                if name.hasPrefix("hookprog_") {
                    let fd = try open(name)
                    fds.append(fd)
                    hookPrograms[String(name.dropFirst("hookprog_".count))] = fd
                } else if name.hasPrefix("hooklink_") {
                    hookLinks[String(name.dropFirst("hooklink_".count))] = try open(name)
                } else if name.hasPrefix("logprog_") {
                    let fd = try open(name)
                    fds.append(fd)
                    logPrograms[String(name.dropFirst("logprog_".count))] = fd
                } else if name.hasPrefix("loglink_") {
                    logLinks[String(name.dropFirst("loglink_".count))] = try open(name)
                }
            }
        } catch {
            for fd in linkFDs + fds + hookLinks.values + logLinks.values { Glibc.close(fd) }
            linkFDs = []
            throw error
        }
        guard let ring = Self.ringInfo(eventsFD) else {
            let e = errno
            for fd in linkFDs + fds + hookLinks.values + logLinks.values { Glibc.close(fd) }
            throw TracerError.pinned(directory, e)
        }
        mapFDs = fds
        (ringMapID, ringSize) = ring
        pinDirectory = directory
        // A kill between an attach (or detach) and its flag left them out of step: the flag says
        // what the links are (a link whose pin failed died with the killed run).
        setConfigFlag(SA_CONFIG_SESSION_HOOKS, on: watchesSessionHooks)
    }

    /// Loads and attaches the programs; with `pinDirectory`, pins them (a directory left by an
    /// earlier run is replaced; a failure to pin is reported in `pinFailure`). With `sshdBinaries`
    /// (record --sshd), a listener must run one of those files; it is set before anything is attached.
    /// `ttyMode` (record --tty: 0 off, else SA_TTY_MODE_*): the terminal recording programs are
    /// attached only when it is not off, the input one only for SA_TTY_MODE_ALL.
    /// `ttyMaxBytes`: what the kernel sends per session process at most (record --tty-max).
    public init(pinDirectory directory: String? = nil, sshdBinaries: Set<KernelFileID>? = nil, ttyMode: UInt32 = 0,
                ttyMaxBytes: UInt64 = 16 << 20) throws {
        guard geteuid() == 0 else { throw TracerError.notRoot }
        guard FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") else { throw TracerError.noBTF }
        try Self.ensureTracefs()
        libbpf_set_print { level, format, args in
            guard level != LIBBPF_DEBUG, let format else { return 0 }
            var buffer = [CChar](repeating: 0, count: 4096)
            let n = vsnprintf(&buffer, buffer.count, format, args!)
            if n > 0 { libbpfLog += String(cString: buffer) }
            return 0
        }

        guard let bytes = Data(base64Encoded: embeddedBPFObjectBase64) else { throw TracerError.open(EINVAL) }
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        let obj: OpaquePointer? = "sshaudit".withCString { name in
            opts.object_name = name
            return bytes.withUnsafeBytes { buf in
                bpf_object__open_mem(buf.baseAddress, buf.count, &opts)
            }
        }
        guard let obj, libbpf_get_error(UnsafeRawPointer(obj)) == 0 else { throw TracerError.open(errno) }
        object = obj
        Self.skipMissingTracepoints(obj)
        libbpfLog = ""
        let err = bpf_object__load(obj)
        if err != 0 {
            let log = libbpfLog
            bpf_object__close(obj)
            throw TracerError.load(err, String(log.suffix(4000)))
        }
        eventsFD = bpf_object__find_map_fd_by_name(obj, "events")
        trackedFD = bpf_object__find_map_fd_by_name(obj, "tracked")
        lossesFD = bpf_object__find_map_fd_by_name(obj, "losses")
        configFD = bpf_object__find_map_fd_by_name(obj, "config")
        sshdBinariesFD = bpf_object__find_map_fd_by_name(obj, "sshd_binaries")
        logFilesFD = bpf_object__find_map_fd_by_name(obj, "log_files")
        stderrListenersFD = bpf_object__find_map_fd_by_name(obj, "stderr_listeners")
        ttyConfigFD = bpf_object__find_map_fd_by_name(obj, "tty_config")
        fileSeenFD = bpf_object__find_map_fd_by_name(obj, "file_seen")
        uringRingsFD = bpf_object__find_map_fd_by_name(obj, "uring_rings")
        compatCallsFD = bpf_object__find_map_fd_by_name(obj, "compat_calls")
        // The seed of the file activity keys' hash (bpf/events.h, sa_file_seen_key): unknown to anyone
        // whose file names go into it.
        var zeroKey: UInt32 = 0
        var settings0 = sa_config()
        settings0.seen_secret = UInt64.random(in: 1...UInt64.max)
        guard bpf_map_update_elem(configFD, &zeroKey, &settings0, UInt64(BPF_ANY)) == 0 else {
            let e = errno
            bpf_object__close(obj)
            throw TracerError.config("the file activity keys' seed", e)
        }
        guard let ring = Self.ringInfo(eventsFD) else {
            let e = errno
            bpf_object__close(obj)
            throw TracerError.ringBuffer(e)
        }
        (ringMapID, ringSize) = ring
        if let sshdBinaries {
            do {
                try pinBinaries(sshdBinaries)
            } catch {
                bpf_object__close(obj)
                throw error
            }
        }

        var zero: UInt32 = 0
        var settings = sa_tty_config(mode: ttyMode, _pad: 0, max_bytes: ttyMaxBytes)
        guard bpf_map_update_elem(ttyConfigFD, &zero, &settings, UInt64(BPF_ANY)) == 0 else {
            let e = errno
            bpf_object__close(obj)
            throw TracerError.config("what to record of terminals", e)
        }
        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            let name = String(cString: bpf_program__name(p))
            let section = String(cString: bpf_program__section_name(p))
            // A shared program's calls on this kernel (nil: not one). With none, it would be attached
            // nowhere, silently.
            let calls = Self.callsPresent(of: name)
            if bpf_program__autoload(p), calls?.isEmpty == true {
                close(detach: true)
                throw TracerError.attach(section + " (none of its calls)", ENOENT)
            }
            if bpf_program__autoload(p), Self.sessionHookPrograms.contains(name) {
                // Attached only while sessions are open (watchSessionHooks).
                for hook in Self.hooks(section: section, calls: calls) {
                    // One program per hook: a second one on the same tracepoint would never be attached.
                    guard hookPrograms.updateValue(bpf_program__fd(p), forKey: hook) == nil else {
                        close(detach: true)
                        throw TracerError.attach("session hook " + hook + " (two programs)", EEXIST)
                    }
                }
                prog = bpf_object__next_program(obj, p)
                continue
            }
            if bpf_program__autoload(p), name == Self.logWriteProgram {
                // Attached once a followed sshd logs to a file or its standard error (watchLogWrites).
                for hook in Self.hooks(section: section, calls: calls) { logPrograms[hook] = bpf_program__fd(p) }
                prog = bpf_object__next_program(obj, p)
                continue
            }
            // Terminal recording: read() is among the most frequent calls; unhooked unless asked.
            if !bpf_program__autoload(p)
                || name.hasPrefix("tty_") && (ttyMode == 0 || (name.hasPrefix("tty_input") && ttyMode != SA_TTY_MODE_ALL)) {
                prog = bpf_object__next_program(obj, p)
                continue
            }
            let targets: [String?] = calls?.map { "sys_exit_" + $0 } ?? [nil]
            for target in targets {
                let link = target.map { bpf_program__attach_tracepoint(p, "syscalls", $0) } ?? bpf_program__attach(p)
                guard let link, libbpf_get_error(UnsafeRawPointer(link)) == 0 else {
                    let what = target.map { "tracepoint/syscalls/" + $0 } ?? section
                    let e = errno
                    close(detach: true)
                    throw TracerError.attach(what, e)
                }
                links.append(link)
            }
            prog = bpf_object__next_program(obj, p)
        }
        // Each session hook's target checked now, so that one this kernel lacks is a start-up error,
        // as the others are, rather than every session marked `drops` later. A BTF tracepoint is
        // attached and detached (about a millisecond). A syscall tracepoint's id is read instead: its
        // detach waits for an RCU grace period under the kernel's event mutex, some 70 ms each, which
        // made two of a recorder's seven seconds of start-up; the always-attached programs already
        // prove this kernel attaches programs to them.
        for (hook, program) in (hookPrograms.merging(logPrograms) { a, _ in a }).sorted(by: { $0.key < $1.key }) {
            var missing: Int32 = 0
            if hook.hasPrefix("raw_") {
                let fd = Self.attach(hook: hook, program: program)
                if fd >= 0 { Glibc.close(fd) } else { missing = errno }
            } else if Self.tracepointID(hook: hook) == nil {
                missing = ENOENT
            }
            guard missing == 0 else {
                close(detach: true)
                throw TracerError.attach("session hook " + hook, missing)
            }
        }
        if let directory {
            do {
                try pin(at: directory)
            } catch {
                pinFailure = error as? TracerError
            }
        }
    }

    /// Why the state could not be pinned (then it lives only as long as this process).
    public private(set) var pinFailure: TracerError?

    /// The maps a resumed recorder reads or fills.
    static let pinnedMaps = ["events", "tracked", "losses", "config", "sshd_binaries", "log_files", "stderr_listeners", "tty_config", "file_seen", "uring_rings", "compat_calls"]

    /// Pins the links and the maps the recorder reads. A failure leaves nothing pinned.
    private func pin(at directory: String) throws {
        guard let object else { return }
        Self.removePins(directory)
        try Self.ensureBPFFS()
        mkdir("/sys/fs/bpf/sshaudit", 0o700)
        guard mkdir(directory, 0o700) == 0 else { throw TracerError.pinned(directory, errno) }
        do {
            for (i, link) in links.enumerated() {
                guard bpf_link__pin(link, directory + "/link_" + String(format: "%02d", i)) == 0 else {
                    throw TracerError.pinned(directory, errno)
                }
            }
            for (hook, fd) in hookPrograms {
                guard bpf_obj_pin(fd, directory + "/hookprog_" + hook) == 0 else { throw TracerError.pinned(directory, errno) }
            }
            for (hook, fd) in logPrograms {
                guard bpf_obj_pin(fd, directory + "/logprog_" + hook) == 0 else { throw TracerError.pinned(directory, errno) }
            }
            for name in Self.pinnedMaps {
                guard let map = bpf_object__find_map_by_name(object, name),
                      bpf_map__pin(map, directory + "/" + name) == 0 else { throw TracerError.pinned(directory, errno) }
            }
        } catch {
            for link in links { bpf_link__unpin(link) }
            Self.removePins(directory)
            throw error
        }
        pinDirectory = directory
    }

    deinit {
        close(detach: pinDirectory == nil)
        if let object { bpf_object__close(object) }
    }

    /// Mounts the BPF filesystem at /sys/fs/bpf if nothing has (pins live there).
    static func ensureBPFFS() throws {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        if mounts.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst().prefix(2) == ["/sys/fs/bpf", "bpf"] }) {
            return
        }
        if mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0 {
            throw TracerError.pinned("/sys/fs/bpf", errno)
        }
    }

    /// Programs attached to the exit tracepoints of several calls (their section names the first one),
    /// by program name: the calls of each. One program is verified once; as a copy per call, each copy
    /// took the verifier about 0.2 s of the recorder's start (and of every test's).
    static let sharedPrograms: [String: [String]] = [
        "on_file_named": namedFileCalls, "on_file_descriptor": descriptorFileCalls, "on_file_opened": openFileCalls,
        "on_accept": acceptCalls,
    ]

    /// The calls by name whose exits one program, on_file_named (bpf/files.bpf.h), serves: it tells
    /// them apart by the syscall number. Each must have its case there.
    static let namedFileCalls = [
        "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat",
        "symlink", "symlinkat", "chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "mknod", "mknodat",
        "truncate", "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "removexattr", "lremovexattr", "fremovexattr",
        "removexattrat", "utime", "utimes", "futimesat", "utimensat", "file_setattr",
        "mount", "umount", "move_mount", "mount_setattr", "pivot_root", "fspick",  // umount: umount2's tracepoint
    ]

    /// The calls on a descriptor that on_file_descriptor serves, by the syscall number as well.
    static let descriptorFileCalls = [
        "ftruncate", "fchmod", "fchown",
    ]

    /// The opens other than openat that on_file_opened serves, by the syscall number as well.
    static let openFileCalls = [
        "open", "creat", "openat2", "open_by_handle_at",
    ]

    /// on_accept serves both accepts alike.
    static let acceptCalls = [
        "accept", "accept4",
    ]

    /// The calls of a shared program that this kernel has (nil: not a shared program). fchmodat2 is
    /// 6.6's, setxattrat and removexattrat 6.13's, file_setattr 6.17's (move_mount and fspick 5.2's,
    /// mount_setattr 5.12's, openat2 5.6's); a call the kernel lacks cannot be made either.
    static func callsPresent(of program: String) -> [String]? {
        sharedPrograms[program].map { $0.filter { tracepointExists("syscalls/sys_exit_" + $0) } }
    }

    /// Where tracefs lists the kernel's tracepoints ("group/name/…"), today's place first.
    static let tracefsEvents = ["/sys/kernel/tracing/events/", "/sys/kernel/debug/tracing/events/"]

    /// Whether the kernel has the tracepoint `event` ("group/name").
    static func tracepointExists(_ event: String) -> Bool {
        tracefsEvents.contains { FileManager.default.fileExists(atPath: $0 + event) }
    }

    /// The io_uring programs (bpf/uring.bpf.h) whose tracepoint this kernel lacks are neither loaded
    /// nor attached: the submit tracepoint is io_uring_submit_req on recent kernels, io_uring_submit_sqe
    /// on 6.1, and a kernel without io_uring has none of them.
    static func skipMissingTracepoints(_ obj: OpaquePointer) {
        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            let section = String(cString: bpf_program__section_name(p))
            if section.hasPrefix("tp_btf/io_uring_") {
                let event = "io_uring/" + section.dropFirst("tp_btf/".count)
                if !tracepointExists(event) { bpf_program__set_autoload(p, false) }
            }
            prog = bpf_object__next_program(obj, p)
        }
    }

    /// Mounts tracefs if nothing has (syscall tracepoints are attached by their tracefs id).
    static func ensureTracefs() throws {
        if FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls") { return }
        if FileManager.default.fileExists(atPath: "/sys/kernel/debug/tracing/events/syscalls") { return }
        if mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil) != 0 {
            throw TracerError.tracefs(errnoText(errno))
        }
        guard FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls") else {
            throw TracerError.tracefs("the kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
        }
    }

    /// The repeats the kernel counted for a file activity key (the bytes of a struct
    /// sa_file_seen_key), nil when it holds none; with `remove`, the key goes too, in the same step
    /// (nothing the kernel adds in between is lost).
    public func fileRepeats(of key: [UInt8], remove: Bool) -> (count: UInt64, lastNs: UInt64)? {
        guard fileSeenFD >= 0, key.count == MemoryLayout<sa_file_seen_key>.size else { return nil }
        var value = sa_file_seen()
        let found = key.withUnsafeBytes {
            remove ? bpf_map_lookup_and_delete_elem(fileSeenFD, $0.baseAddress, &value) : bpf_map_lookup_elem(fileSeenFD, $0.baseAddress, &value)
        } == 0
        return found ? (value.count, value.last_ns) : nil
    }

    /// The kernel's count of repeats for `key` as a record (struct sa_file_repeat, SA_EV_FILE_REPEAT)
    /// to decode and log like the kernel's own; nil when it counted no more than `above`. `remove`:
    /// see fileRepeats.
    public func fileRepeatRecord(of key: [UInt8], remove: Bool, above: UInt64 = 0) -> [UInt8]? {
        guard let (count, lastNs) = fileRepeats(of: key, remove: remove), count > above else { return nil }
        var record = sa_file_repeat()
        withUnsafeMutableBytes(of: &record.key) { $0.copyBytes(from: key) }
        record.h.type = SA_EV_FILE_REPEAT.rawValue
        record.h.tgid = record.key.tgid
        record.h.start_ns = record.key.start_ns
        record.h.ts_ns = lastNs
        record.count = count
        return withUnsafeBytes(of: &record) { Array($0) }
    }

    /// What the kernel counted on the io_uring instances whose owner is still alive, as records (struct
    /// sa_uring, SA_EV_URING with SA_URING_AT_STOP) to decode and log like the kernel's own, stamped
    /// `nowNs` (CLOCK_BOOTTIME). For a clean stop, which ends the counting: otherwise these counts
    /// would be reported only at the owner's exit, which no recorder then reads.
    public func uringRecordsAtStop(nowNs: UInt64) -> [[UInt8]] {
        guard uringRingsFD >= 0 else { return [] }
        var zero: UInt32 = 0
        var config = sa_config()
        let secret = bpf_map_lookup_elem(configFD, &zero, &config) == 0 ? config.seen_secret : 0
        var records: [[UInt8]] = []
        for var key in Self.keys(of: uringRingsFD, as: UInt64.self, limit: 2 * Int(SA_URING_MAX)) {
            var ring = sa_uring_ring()
            guard bpf_map_lookup_elem(uringRingsFD, &key, &ring) == 0, ring.owner != 0 else { continue }
            var record = sa_uring()
            record.h.type = UInt32(SA_EV_URING)
            record.h.tgid = ring.owner
            record.h.start_ns = ring.owner_start
            record.h.ts_ns = nowNs
            record.ring = key ^ secret  // as the kernel names it (uring_id)
            record.setup_flags = ring.setup_flags
            record.flags = SA_URING_AT_STOP
            record.counts = ring.counts
            records.append(withUnsafeBytes(of: &record) { Array($0) })
        }
        return records
    }

    /// The programs attached only while sessions are open: what only a session's processes need. A
    /// tracepoint with a program costs every process on the machine its dispatch before the program
    /// can tell whose call it is (the 32-bit call hook runs on every system call, about 150 ns each
    /// here; the file and network ones on some of the most frequent calls; the io_uring submit hook on
    /// every request of every ring), so a server no one is logged in to does not pay for them. Each
    /// name must be a program of bpf/*.bpf.h (the io_uring ones only where the kernel has their
    /// tracepoint: a program not loaded is not a hook).
    public static let sessionHookPrograms: Set<String> = [
        "on_compat_enter",
        "on_file_named", "on_file_descriptor", "on_file_opened", "on_file_ioctl",
        "on_openat_exit", "on_close",  // a session's files and transfers: no one else's opens and closes
        "on_connect_exit", "on_bind_exit", "on_listen_exit", "on_sendmsg", "on_sendmmsg",
        "uring_create", "uring_submit_req", "uring_submit_sqe",
    ]

    /// The hooks of a session hook program: one per tracepoint it is attached to, named for it
    /// ("tp_sys_exit_rename": syscalls/sys_exit_rename; "raw_sys_enter": the BTF tracepoint its
    /// section names; a shared program's `calls`, callsPresent, each). The name is also its pins'
    /// suffix (hookprog_, hooklink_).
    static func hooks(section: String, calls: [String]?) -> [String] {
        if let calls { return calls.map { "tp_sys_exit_" + $0 } }
        if section.hasPrefix("tp_btf/") { return ["raw_" + section.dropFirst("tp_btf/".count)] }
        return ["tp_" + (section.split(separator: "/").last ?? "")]
    }

    /// Whether all session hooks are attached. The recorder asks after every read of the ring: a
    /// lookup per link, no sets of names built each time.
    public var watchesSessionHooks: Bool {
        !hookPrograms.isEmpty && hookLinks.count == hookPrograms.count && hookLinks.keys.allSatisfy { hookPrograms[$0] != nil }
    }

    /// Attaches or detaches the session hooks (sessionHookPrograms). The recorder attaches them while a
    /// session is open: from the fork of its per-connection sshd, before authentication. Each link is
    /// pinned while attached, so a killed recorder's kernel state keeps them. False if one could not be
    /// attached (those that could stay attached; a later call tries the others again), or, detaching,
    /// if the kernel still follows a connection or a session's process (they stay attached).
    /// The kernel knows whether they are attached (SA_CONFIG_SESSION_HOOKS): while not, a session's
    /// exec and a monitor's fork are flagged (SA_EXEC_SESSION_HOOKS_OFF, SA_FORK_SESSION_HOOKS_OFF)
    /// and a new connection's fork wakes the recorder at once.
    @discardableResult
    public func watchSessionHooks(_ on: Bool) -> Bool {
        if on {
            if watchesSessionHooks { return setConfigFlag(SA_CONFIG_SESSION_HOOKS, on: true) }
            for (hook, program) in hookPrograms.sorted(by: { $0.key < $1.key }) where hookLinks[hook] == nil {
                if case .success(let fd) = attachPinned(hook: hook, program: program, pin: "hooklink_", named: "session hook " + hook) {
                    hookLinks[hook] = fd
                }
            }
            guard watchesSessionHooks else { return false }
            return setConfigFlag(SA_CONFIG_SESSION_HOOKS, on: true)  // after the attach: never said before it is so
        }
        // Before the detach, likewise; then the kernel's own view, not the recorder's (which may lag
        // behind the ring): anything forked from here on is flagged, anything forked before is in
        // `tracked`. A connection or a session's process there keeps the hooks.
        // (With no link the flag is clear: it is set only with every link, and made to match at resume.)
        guard !hookLinks.isEmpty else { return true }
        guard setConfigFlag(SA_CONFIG_SESSION_HOOKS, on: false) else { return false }
        if followsSessionProcesses {
            setConfigFlag(SA_CONFIG_SESSION_HOOKS, on: watchesSessionHooks)
            return false
        }
        if let pinDirectory {
            for hook in hookLinks.keys { unlink(pinDirectory + "/hooklink_" + hook) }
        }
        Self.concurrently(hookLinks.values.map { fd in { _ = Glibc.close(fd) } })
        hookLinks.removeAll()
        return true
    }

    /// Runs each job (a detach) on a thread of its own and waits for them all. Detaching a program
    /// from a syscall tracepoint waits for an RCU grace period (tasks-trace) outside any lock, about
    /// 40 ms here: detaches made together share one, where one after the other each waits its own.
    /// The rest of a syscall tracepoint's unregistration waits for another under the kernel's event
    /// mutex, which serialises that part whatever the threads. A job no thread can be made for (no
    /// memory left, say) runs here, after the others have started: a stop never waits on a thread
    /// that was never made.
    static func concurrently(_ jobs: [() -> Void]) {
        guard jobs.count > 1 else { jobs.first?(); return }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 256 * 1024)  // a close or a link's destroy: little stack
        var threads: [pthread_t] = [], here: [() -> Void] = []
        for job in jobs {
            let box = Unmanaged.passRetained(Job(job))
            var thread = pthread_t()
            let made = pthread_create(&thread, &attributes, { argument in
                Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box.toOpaque())
            if made == 0 {
                threads.append(thread)
            } else {
                box.release()
                here.append(job)
            }
        }
        for job in here { job() }
        for thread in threads { pthread_join(thread, nil) }
    }

    private final class Job {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Whether the kernel follows any process other than a listener: a connection's sshd or a
    /// session's process. (Stale entries only keep the hooks attached: the safe side.)
    var followsSessionProcesses: Bool {
        var entry = sa_tracked_proc()
        return Self.keys(of: trackedFD, as: UInt32.self, limit: 2 * 65_536).contains { tgid in
            var key = tgid
            return bpf_map_lookup_elem(trackedFD, &key, &entry) == 0 && entry.flags & SA_PROC_LISTENER == 0
        }
    }

    /// Attaches `program` by its descriptor (a resumed recorder has no object): a link's descriptor,
    /// or -1.
    static func attach(hook: String, program: Int32) -> Int32 {
        if hook.hasPrefix("raw_") { return bpf_raw_tracepoint_open(nil, program) }  // its BTF names the tracepoint
        guard let id = tracepointID(hook: hook) else { return -1 }
        return sa_attach_tracepoint(program, id)
    }

    /// The tracefs id of a syscall tracepoint hook ("tp_sys_exit_rename"), or nil if the kernel lacks it.
    static func tracepointID(hook: String) -> UInt64? {
        let event = "syscalls/" + hook.dropFirst("tp_".count)
        for root in tracefsEvents {
            guard let text = try? String(contentsOfFile: root + event + "/id", encoding: .utf8),
                  let id = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            return id
        }
        return nil
    }

    /// False if the kernel's config could not be read or written.
    @discardableResult
    private func setConfigFlag(_ flag: UInt32, on: Bool) -> Bool {
        var zero: UInt32 = 0
        var config = sa_config()
        guard bpf_map_lookup_elem(configFD, &zero, &config) == 0 else { return false }
        config.flags = on ? config.flags | flag : config.flags & ~flag
        return bpf_map_update_elem(configFD, &zero, &config, UInt64(BPF_ANY)) == 0
    }

    /// Each key of the hash map `fd` once. The kernel starts an iteration again from the first key when
    /// the one it continues from was deleted meanwhile (the programs still run): keys already given are
    /// skipped, and the walk ends after `limit` steps, however often it restarts.
    static func keys<K: FixedWidthInteger>(of fd: Int32, as: K.Type, limit: Int) -> [K] {
        var seen = Set<K>(), keys: [K] = []
        var key = K.zero, previous = K.zero
        var first = true
        for _ in 0..<limit {
            let found = first ? bpf_map_get_next_key(fd, nil, &key) : bpf_map_get_next_key(fd, &previous, &key)
            guard found == 0 else { break }
            first = false
            previous = key
            if seen.insert(key).inserted { keys.append(key) }
        }
        return keys
    }

    /// The 32-bit system calls the kernel counted for processes still running, as records (struct
    /// sa_compat, SA_EV_COMPAT with SA_COMPAT_AT_STOP), stamped `nowNs`: for a clean stop, as
    /// uringRecordsAtStop.
    public func compatRecordsAtStop(nowNs: UInt64) -> [[UInt8]] {
        guard compatCallsFD >= 0 else { return [] }
        var records: [[UInt8]] = []
        for var key in Self.keys(of: compatCallsFD, as: UInt32.self, limit: 2 * Int(SA_COMPAT_MAX)) {
            var record = sa_compat()
            guard bpf_map_lookup_elem(compatCallsFD, &key, &record) == 0, record.h.start_ns != 0 else { continue }
            record.h.type = UInt32(SA_EV_COMPAT)
            record.h.tgid = key
            record.h.ts_ns = nowNs
            record.flags = SA_COMPAT_AT_STOP
            records.append(withUnsafeBytes(of: &record) { Array($0) })
        }
        return records
    }

    /// Follows a process that was running before the programs were attached (the /proc scan).
    /// Its start time is unknown at kernel precision, so the entry matches any start time until the
    /// process exits and the entry goes. `logsToStderr`: a monitor of an sshd started with -e.
    /// `servesSession`: a monitor that is its session's process.
    public func track(pid: UInt32, role: ProcessRole, servesSession: Bool = false, logsToStderr: Bool = false) throws {
        var key = pid
        let flags = role.kernelFlags(servesSession: servesSession) | (logsToStderr ? SA_PROC_LOG_STDERR : 0)
        var value = sa_tracked_proc(start_ns: 0, flags: flags, execs: 0)
        if bpf_map_update_elem(trackedFD, &key, &value, UInt64(BPF_NOEXIST)) != 0, errno != EEXIST {
            throw TracerError.mapUpdate(errno)
        }
    }

    // MARK: - What the kernel programs trust and read (bpf/events.h)

    /// record --sshd: only these executables may be listeners (config's SA_CONFIG_PIN_BINARIES).
    private func pinBinaries(_ files: Set<KernelFileID>) throws {
        for file in files {
            var key = file.kernelKey
            var one: UInt8 = 1
            guard bpf_map_update_elem(sshdBinariesFD, &key, &one, UInt64(BPF_ANY)) == 0 else {
                throw TracerError.config("which sshd binaries to trust", errno)
            }
        }
        var zero: UInt32 = 0
        var config = sa_config()
        guard bpf_map_lookup_elem(configFD, &zero, &config) == 0 else { throw TracerError.config("which sshd binaries to trust", errno) }
        config.flags |= SA_CONFIG_PIN_BINARIES
        guard bpf_map_update_elem(configFD, &zero, &config, UInt64(BPF_ANY)) == 0 else {
            throw TracerError.config("which sshd binaries to trust", errno)
        }
    }

    /// The executables the kernel programs trust as listeners, nil for any that only root controls.
    public func pinnedBinaries() -> Set<KernelFileID>? {
        var zero: UInt32 = 0
        var config = sa_config()
        guard bpf_map_lookup_elem(configFD, &zero, &config) == 0, config.flags & SA_CONFIG_PIN_BINARIES != 0 else { return nil }
        return Set(keys(of: sshdBinariesFD))
    }

    /// Every key of a map of struct sa_file_id.
    private func keys(of fd: Int32) -> [KernelFileID] {
        var result: [KernelFileID] = []
        var key = sa_file_id()
        var next = sa_file_id()
        var more = bpf_map_get_next_key(fd, nil, &next) == 0
        while more {
            result.append(KernelFileID(device: next.dev, inode: next.ino))
            key = next
            more = bpf_map_get_next_key(fd, &key, &next) == 0
        }
        return result
    }

    /// Reads sshd's writes to this file (the one it opened for -E) as its log.
    public func watchLogFile(_ file: KernelFileID) throws {
        try watchLogWrites()
        var key = file.kernelKey
        var one: UInt8 = 1
        guard bpf_map_update_elem(logFilesFD, &key, &one, UInt64(BPF_ANY)) == 0 else {
            throw TracerError.config("sshd's log file", errno)
        }
    }

    public func unwatchLogFile(_ file: KernelFileID) {
        var key = file.kernelKey
        bpf_map_delete_elem(logFilesFD, &key)
    }

    /// The program that reads sshd's log lines from write() (bpf/sshaudit.bpf.c): needed only for an
    /// sshd that logs to a file (-E) or to its standard error (-e). Every process on the machine pays
    /// the dispatch of a write() hook on each write() (about 200 ns here, bench/run.sh's `syscalls`
    /// diagnostic), and an sshd that logs through syslog, as packaged ones do, sends its lines with
    /// sendto(), which is hooked anyway. So it is attached before the first such channel is
    /// registered (watchLogFile, logToStderr), and then stays for the run: the registrations stay
    /// too, and a monitor forked by an sshd -e goes on writing to its standard error after its
    /// listener is gone.
    static let logWriteProgram = "on_write"

    /// Attaches the log-write hook, pinned like the session hooks, so that a killed recorder's kernel
    /// state keeps it; nothing if it is attached.
    func watchLogWrites() throws {
        for (hook, program) in logPrograms.sorted(by: { $0.key < $1.key }) where logLinks[hook] == nil {
            logLinks[hook] = try attachPinned(hook: hook, program: program, pin: "loglink_", named: "log hook " + hook).get()
        }
    }

    /// Attaches a program to its hook and pins the link as `pin` + hook: the link's descriptor, or
    /// what failed (the hook `named` so in the error). Pinned, or not kept: a link that would die with a killed recorder must not be
    /// counted as attached in the state it leaves.
    private func attachPinned(hook: String, program: Int32, pin: String, named: String) -> Result<Int32, TracerError> {
        let fd = Self.attach(hook: hook, program: program)
        guard fd >= 0 else { return .failure(.attach(named, errno)) }
        if let pinDirectory, bpf_obj_pin(fd, pinDirectory + "/" + pin + hook) != 0 {
            let e = errno
            Glibc.close(fd)
            return .failure(.pinned(pinDirectory + "/" + pin + hook, e))
        }
        return .success(fd)
    }

    /// The log files the kernel programs read (also those a killed recorder registered).
    public func watchedLogFiles() -> [KernelFileID] { keys(of: logFilesFD) }

    /// This listener (sshd -e) logs to its standard error: its fd 2, and that of the monitors it
    /// forks from now on, is read. `startNs` 0 matches any start time (a listener found by the scan).
    public func logToStderr(pid: UInt32, startNs: UInt64) throws {
        try watchLogWrites()
        var key = pid
        var value = startNs
        guard bpf_map_update_elem(stderrListenersFD, &key, &value, UInt64(BPF_ANY)) == 0 else {
            throw TracerError.config("that an sshd logs to its standard error", errno)
        }
    }

    /// Kernel-side losses so far: records dropped because the ring buffer was full, and a table of
    /// the kernel programs full (a process not followed, or a connection's byte counters lost).
    public func losses() -> (ringFull: UInt64, mapFull: UInt64) {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return (0, 0) }
        func sum(_ index: UInt32) -> UInt64 {
            var key = index
            var values = [UInt64](repeating: 0, count: cpus)
            guard bpf_map_lookup_elem(lossesFD, &key, &values) == 0 else { return 0 }
            return values.reduce(0, &+)
        }
        return (sum(UInt32(SA_LOSS_RING)), sum(UInt32(SA_LOSS_MAP)))
    }

    /// Terminal recording: what record --tty the kernel programs run with (0 off, 1 output, 2 all).
    public func ttyMode() -> UInt32 {
        guard ttyConfigFD >= 0 else { return 0 }
        var zero: UInt32 = 0
        var settings = sa_tty_config()
        guard bpf_map_lookup_elem(ttyConfigFD, &zero, &settings) == 0 else { return 0 }
        return settings.mode
    }

    /// The kernel's per-session cap, to set a resumed run's own (record --tty-max).
    public func setTTYMaxBytes(_ max: UInt64) {
        guard ttyConfigFD >= 0 else { return }
        var zero: UInt32 = 0
        var settings = sa_tty_config(mode: ttyMode(), _pad: 0, max_bytes: max)
        _ = bpf_map_update_elem(ttyConfigFD, &zero, &settings, UInt64(BPF_ANY))
    }

    /// Terminal bytes the kernel could not record (SA_LOSS_TTY): the ring buffer was full,
    /// a read was longer than the kernel's bound, or unreadable.
    public func ttyLosses() -> UInt64 {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return 0 }
        var key = UInt32(SA_LOSS_TTY)
        var values = [UInt64](repeating: 0, count: cpus)
        guard bpf_map_lookup_elem(lossesFD, &key, &values) == 0 else { return 0 }
        return values.reduce(0, &+)
    }

    /// Sets the function that receives every raw record; records are only valid during the call.
    /// Reading starts at the first record not yet released (for a resumed tracer: the first record
    /// the killed recorder had not stored).
    public func setHandler(_ handler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        self.handler = handler
        ring = try RingReader(mapFD: eventsFD, size: ringSize)
        if epollFD < 0 {
            epollFD = epoll_create1(Int32(O_CLOEXEC))
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            if epollFD >= 0, epoll_ctl(epollFD, EPOLL_CTL_ADD, eventsFD, &event) != 0 {
                Glibc.close(epollFD)
                epollFD = -1  // then the timer alone
            }
        }
    }

    /// Waits on the ring buffer's descriptor: the kernel wakes it for what must not wait for the
    /// timer (a new connection while the session hooks are detached) and each MiB of backlog.
    private var epollFD: Int32 = -1

    /// How long poll sleeps while read records are not yet released (see poll): the latency of a
    /// record written meanwhile.
    static let unreleasedWaitMs: Int32 = 5

    /// Delivers the records waiting, or waits up to `timeoutMs` first if there are none; returns how
    /// many were handled. (Mostly time-based: the kernel side does not wake the reader for each record.)
    @discardableResult
    public func poll(timeoutMs: Int32) -> Int {
        guard let ring, let handler else { return 0 }
        if !ring.hasRecords {
            if epollFD >= 0, ring.releasedPosition >= ring.readPosition {
                var event = epoll_event()
                _ = epoll_wait(epollFD, &event, 1, timeoutMs)
            } else {
                // Records read but not yet released (each is kept until a checkpoint after it is
                // stored) keep the ring readable to epoll, which then returns at once, and the kernel
                // wakes no one for a new record until the reader has released all before it: waiting
                // in epoll meanwhile made the recorder spin, a whole CPU while a session was busy.
                usleep(useconds_t(min(timeoutMs, Self.unreleasedWaitMs)) * 1000)
            }
        }
        return ring.read(handler)
    }

    /// Delivers whatever is in the ring buffer now, without waiting.
    @discardableResult
    public func drain() -> Int {
        guard let ring, let handler else { return 0 }
        return ring.read(handler)
    }

    /// The position after the last record delivered (a checkpoint's position).
    public var readPosition: UInt64 { ring?.readPosition ?? 0 }

    /// The position after the last record the kernel has written so far: once `readPosition` reaches
    /// it, every record written before now has been delivered.
    public var writePosition: UInt64 { ring?.writePosition ?? 0 }

    /// Starts reading at `position` instead (a resumed checkpoint's).
    public func skip(to position: UInt64) { ring?.skip(to: position) }

    /// The kernel may reuse the ring buffer up to `position`: everything before it is stored.
    public func release(upTo position: UInt64) { ring?.release(upTo: position) }

    /// Stops reading. `detach`: remove the pins too, so the programs detach (a clean stop); without,
    /// pinned programs go on tracing for the next run.
    ///
    /// Each syscall tracepoint's detach waits for two RCU grace periods, about 80 ms here: one that
    /// detaches made together share (they run at once, `concurrently`), one under the kernel's event
    /// mutex. With the session hooks attached this takes some 2 s, 5 s one after the other. Leaving
    /// the last reference to the pins, whose release the kernel defers, would end the process at
    /// once, but the detaches would then hold that mutex while the next recorder attaches: a session
    /// opened just after a restart had its hooks attached seconds late, and its first file
    /// operations went unseen.
    public func close(detach: Bool) {
        if detach, let pinDirectory { Self.removePins(pinDirectory) }
        // Without `detach` the pins keep them attached: each close is then quick.
        Self.concurrently(links.map { link in {
            if !detach { bpf_link__disconnect(link) }
            bpf_link__destroy(link)
        } } + (linkFDs + Array(hookLinks.values) + Array(logLinks.values)).map { fd in { _ = Glibc.close(fd) } })
        links.removeAll()
        for fd in mapFDs { Glibc.close(fd) }
        hookLinks.removeAll()
        logLinks.removeAll()
        linkFDs.removeAll()
        mapFDs.removeAll()
        if epollFD >= 0 { Glibc.close(epollFD) }
        epollFD = -1
        ring = nil
        handler = nil
        if detach { pinDirectory = nil }
    }
}
