import CLibBPF
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
        }
    }
}

func errnoText(_ err: Int32) -> String {
    let code = err < 0 ? -err : err
    return String(cString: strerror(code)) + " (errno \(code))"
}

/// What the kernel side knows of a process it follows (SA_PROC_* in bpf/events.h): listeners' and
/// monitors' log writes are the only ones it reads.
public enum TrackedRole: UInt32 {
    case other = 0
    case listener = 1
    case monitor = 2
}

/// Collects libbpf's warnings (verifier log included) so a load failure can say why.
private nonisolated(unsafe) var libbpfLog = ""

/// Loads the kernel programs (embedded at build time), attaches them and delivers each ring-buffer
/// record to a handler, on the calling thread.
public final class BPFTracer {
    private let object: OpaquePointer
    private var links: [OpaquePointer] = []
    private var ring: OpaquePointer?
    private let trackedFD: Int32
    private let lossesFD: Int32
    private var handlerBox: Unmanaged<HandlerBox>?

    final class HandlerBox {
        let handler: (UnsafeRawBufferPointer) -> Void
        init(_ handler: @escaping (UnsafeRawBufferPointer) -> Void) { self.handler = handler }
    }

    public init() throws {
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
        libbpfLog = ""
        let err = bpf_object__load(obj)
        if err != 0 {
            let log = libbpfLog
            bpf_object__close(obj)
            throw TracerError.load(err, String(log.suffix(4000)))
        }
        trackedFD = bpf_object__find_map_fd_by_name(obj, "tracked")
        lossesFD = bpf_object__find_map_fd_by_name(obj, "losses")

        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            guard let link = bpf_program__attach(p), libbpf_get_error(UnsafeRawPointer(link)) == 0 else {
                let name = String(cString: bpf_program__section_name(p))
                let e = errno
                close()
                throw TracerError.attach(name, e)
            }
            links.append(link)
            prog = bpf_object__next_program(obj, p)
        }
    }

    deinit {
        close()
        bpf_object__close(object)
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

    /// Follows a process that was running before the programs were attached (the /proc scan).
    /// Its start time is unknown at kernel precision, so the entry matches any start time until the
    /// process exits and the entry goes.
    public func track(pid: UInt32, role: TrackedRole = .other) throws {
        var key = pid
        // struct tracked_proc: u64 start_ns (0 = any), u32 flags, u32 padding.
        var value: (UInt64, UInt32, UInt32) = (0, role.rawValue, 0)
        if bpf_map_update_elem(trackedFD, &key, &value, UInt64(BPF_NOEXIST)) != 0, errno != EEXIST {
            throw TracerError.mapUpdate(errno)
        }
    }

    /// Kernel-side losses so far: records dropped because the ring buffer was full, and processes
    /// not followed because the tracked map was full.
    public func losses() -> (ringFull: UInt64, mapFull: UInt64) {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return (0, 0) }
        func sum(_ index: UInt32) -> UInt64 {
            var key = index
            var values = [UInt64](repeating: 0, count: cpus)
            guard bpf_map_lookup_elem(lossesFD, &key, &values) == 0 else { return 0 }
            return values.reduce(0, &+)
        }
        return (sum(0), sum(1))
    }

    /// Sets the function that receives every raw record; records are only valid during the call.
    public func setHandler(_ handler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        let box = Unmanaged.passRetained(HandlerBox(handler))
        handlerBox = box
        let fd = bpf_object__find_map_fd_by_name(object, "events")
        let rb = ring_buffer__new(fd, { ctx, data, size in
            let box = Unmanaged<HandlerBox>.fromOpaque(ctx!).takeUnretainedValue()
            box.handler(UnsafeRawBufferPointer(start: data, count: Int(size)))
            return 0
        }, box.toOpaque(), nil)
        guard let rb, libbpf_get_error(UnsafeRawPointer(rb)) == 0 else { throw TracerError.ringBuffer(errno) }
        ring = rb
    }

    /// Waits up to `timeoutMs` for records and delivers them; returns how many were handled.
    @discardableResult
    public func poll(timeoutMs: Int32) -> Int32 {
        guard let ring else { return 0 }
        return ring_buffer__poll(ring, timeoutMs)
    }

    /// Delivers whatever is in the ring buffer now, without waiting.
    @discardableResult
    public func drain() -> Int32 {
        guard let ring else { return 0 }
        return ring_buffer__consume(ring)
    }

    public func close() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        if let ring { ring_buffer__free(ring) }
        ring = nil
        handlerBox?.release()
        handlerBox = nil
    }
}
