import Foundation

/// SIGINT/SIGTERM ask the recorder to flush and stop, SIGHUP to reopen the database and the events
/// log (log rotation); the flags are read between ring-buffer polls. `onStop` runs at the first stop
/// request, on another thread (the recording thread may be waiting on the disk).
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var reopen = false
    private var sources: [DispatchSourceSignal] = []

    init(onStop: @escaping () -> Void) {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let first = sig != SIGHUP && !self.flag
                if sig == SIGHUP { self.reopen = true } else { self.flag = true }
                self.lock.unlock()
                if first { onStop() }
            }
            source.resume()
            sources.append(source)
        }
    }

    func takeReopen() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let value = reopen
        reopen = false
        return value
    }

    var requested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return flag
    }
}

/// Tells systemd (Type=notify) that recording has started, when run under it.
enum SystemdNotify {
    static func ready() {
        guard var path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: (abstract ? [0] : []) + bytes)
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 1 : 0))
        let message = Array("READY=1".utf8)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, 0, $0, len)
            }
        }
    }
}
