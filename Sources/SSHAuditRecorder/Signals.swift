import CSignals
import Foundation

/// SIGINT/SIGTERM ask the recorder to flush and stop, SIGHUP to reopen the database and the events
/// log (log rotation); the flags are read between ring-buffer polls. `onStop` runs at the first stop
/// request, on a thread of its own (the recording thread may be waiting on the disk).
///
/// The handler is C's (CSignals), installed by `install()` at the recorder's start, before anything
/// is attached: from then on no request is lost. (A dispatch signal source, used before, set the
/// signals to "ignore" at once and registered its own handler later from another thread: under load
/// a SIGINT in between was dropped and the recorder went on recording.)
final class StopSignal: @unchecked Sendable {
    /// Installs the handler; false if it could not be (then the signals keep their default action:
    /// a SIGINT or SIGTERM ends the recorder as a kill would, and a resume continues its work).
    @discardableResult
    static func install() -> Bool { sa_signals_install() >= 0 }

    init(onStop: @escaping () -> Void) {
        let wakeups = sa_signals_install()
        guard wakeups >= 0 else { return }
        let thread = Thread {
            var byte: UInt8 = 0
            // A request made before this thread started is in the flag (and in the pipe).
            while sa_signals_stop_requested() == 0 {
                if read(wakeups, &byte, 1) < 0, errno != EINTR { return }
            }
            onStop()
        }
        thread.name = "sshaudit-stop"
        thread.start()
    }

    func takeReopen() -> Bool { sa_signals_take_reopen() != 0 }

    var requested: Bool { sa_signals_stop_requested() != 0 }
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
