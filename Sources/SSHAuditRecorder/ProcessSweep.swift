import Foundation
import SSHAuditBPF
import SSHAuditCore
import SSHAuditStore

/// Finds, for the live recorder, the processes the correlator follows that are gone although their
/// exit never came (the kernel's ring buffer dropped it, or its full map did not follow a child whose
/// fork it reported), so that none is held forever (`Correlator.sweep`).
///
/// A round first asks /proc which followed processes are gone, then waits until every record the
/// kernel had written by then has been handled: a gone process's exit, if the kernel wrote it, has
/// then been seen, and whatever is still followed had its exit lost. Rounds start every 5 s, less
/// often when a round is slow (it costs at most about 5% of a core).
final class ProcessSweep {
    private let correlator: Correlator
    /// The correlator's counts when this run took over (a resumed run's state carries the killed run's).
    private let baseline: (overflows: UInt64, unobservedExits: UInt64)
    private var nextRound = Date().addingTimeInterval(5)
    /// A round's gone processes, when it looked, and the kernel's write position then.
    private var round: (gone: Set<ProcessKey>, atNs: Int64, position: UInt64)?
    /// /proc of another pid namespace would show none of the kernel's pids: no sweeping there.
    private let usable = Liveness.sharesKernelPids

    init(correlator: Correlator) {
        self.correlator = correlator
        baseline = (correlator.overflows, correlator.unobservedExits)
        if !usable { warn("/proc shows another pid namespace: processes whose exit the kernel loses stay followed") }
    }

    /// Call between ring-buffer reads.
    func tick(tracer: BPFTracer) {
        guard usable else { return }
        if let round {
            guard tracer.readPosition >= round.position else { return }
            self.round = nil
            if !round.gone.isEmpty { correlator.sweep(atNs: round.atNs) { !round.gone.contains($0) } }
            return
        }
        guard Date() >= nextRound else { return }
        let started = Date()
        let gone = Set(correlator.followedProcesses.filter { !Liveness.isAlive($0) })
        round = (gone, Clock.wallNs(), tracer.writePosition)
        nextRound = Date().addingTimeInterval(max(5, 20 * Date().timeIntervalSince(started)))
    }

    /// This run's counts of what the correlator's bounds and sweeps lost.
    func count(into counters: inout AuditStore.RunCounters) {
        counters.overflows = correlator.overflows &- baseline.overflows
        counters.unobservedExits = correlator.unobservedExits &- baseline.unobservedExits
    }
}

/// Whether a process still runs, from /proc/PID/stat: the pid exists with the same start time (the
/// kernel's start_boottime, which /proc gives in clock ticks) and is no zombie (whose exit the kernel
/// has reported already). A zombie whose other threads still run is alive: its exit comes with the
/// last thread.
enum Liveness {
    private static let nsPerTick = 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))

    static func isAlive(_ key: ProcessKey) -> Bool {
        // "pid (comm) state ppid … num_threads (18th after the comm) … starttime (20th)"; comm may
        // hold spaces and parentheses, so fields count from its last ")".
        guard let stat = read("/proc/\(key.tgid)/stat") else { return errno != ENOENT && errno != ESRCH }
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return true }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19, let state = fields[0].first, let threads = number(fields[17]),
              let ticks = number(fields[19]) else { return true }  // unreadable: never taken for gone
        if (state == UInt8(ascii: "Z") || state == UInt8(ascii: "X")) && threads <= 1 { return false }
        guard key.startNs != 0 else { return true }
        let expected = key.startNs / nsPerTick
        return ticks + 1 >= expected && ticks <= expected + 1  // another process that got the pid: gone
    }

    /// The recorder sees the kernel's pids in /proc (one pid namespace level).
    static var sharesKernelPids: Bool {
        guard let status = read("/proc/self/status", upTo: 8192) else { return false }
        let text = String(decoding: status, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }) else { return true }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).count == 2
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        UInt64(String(decoding: bytes, as: UTF8.self))
    }

    /// The start of a /proc file; nil with errno set when it cannot be read (ENOENT, ESRCH: gone).
    private static func read(_ path: String, upTo size: Int = 1024) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: size)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n == 0 { errno = ESRCH }
        return n > 0 ? Array(buffer[0..<n]) : nil
    }
}
