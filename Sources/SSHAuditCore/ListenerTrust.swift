import Foundation

/// Which processes named sshd are the real login service. A name proves nothing (anyone can call a
/// program sshd and let it accept connections), so a listener counts only if it runs as root (real
/// and effective uid 0) from an executable only root controls (`FileStatus.whyNotRootControlled`);
/// with `binaries` (record --sshd), also only from one of those files. The kernel programs apply the
/// same rule when sshd is exec'd (trusted_sshd in bpf/sshaudit.bpf.c); this is the start-up scan's side.
public struct ListenerTrust: Equatable, Sendable {
    /// The only executables allowed, or nil for any that passes the ownership rule.
    public var binaries: Set<FileIdentity>?

    public init(binaries: Set<FileIdentity>? = nil) {
        self.binaries = binaries
    }

    public func admits(_ p: ProcEntry) -> Bool {
        guard p.uid == 0, p.euid == 0, let exe = p.executable, exe.whyNotRootControlled == nil else { return false }
        return binaries?.contains(exe.identity) ?? true
    }
}
