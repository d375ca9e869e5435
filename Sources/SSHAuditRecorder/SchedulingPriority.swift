import Foundation

/// The recorder's CPU priority, raised as auditd's `priority_boost` raises its own: the people we
/// record can saturate the machine (thousands of execs and file operations a second in a session),
/// and a recorder that gets no more CPU than their programs falls behind until the kernel's ring
/// buffer is full and records are lost. Each of its threads (nice is per thread on Linux; threads made
/// later inherit it from the one that makes them) is set to nice -boost, unless it already runs at
/// that or higher (systemd's Nice= in dist/sshaudit.service, which needs no capability of ours).
enum SchedulingPriority {
    /// nil when done, else why not (the recorder then runs at the priority it was given).
    static func boost(by amount: Int32) -> String? {
        guard amount > 0 else { return nil }
        let (target, which) = (-amount, __priority_which_t(PRIO_PROCESS.rawValue))
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tasks.compactMap({ id_t($0) }) {
            errno = 0
            let now = getpriority(which, tid)
            if errno == 0, now <= target { continue }
            if setpriority(which, tid, target) != 0 {
                return "cannot raise its priority (--priority-boost \(amount)): \(String(cString: strerror(errno)))"
            }
        }
        return nil
    }
}
