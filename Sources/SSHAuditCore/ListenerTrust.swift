import Foundation

/// A file by device and inode, as stat(2) gives them (st_dev in user space's encoding).
public struct FileIdentity: Hashable, Codable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// The device as the kernel names it (a superblock's s_dev: major << 20 | minor), which is what
    /// the kernel programs read from an inode. stat's st_dev packs major and minor differently.
    public var kernelDevice: UInt64 {
        let major = (device >> 8) & 0xfff | (device >> 32) & ~UInt64(0xfff)
        let minor = device & 0xff | (device >> 12) & ~UInt64(0xff)
        return major << 20 | minor
    }
}

/// What stat(2) says about a file (an executable, a log file).
public struct FileStatus: Equatable, Sendable {
    public var identity: FileIdentity
    public var ownerUID: UInt32
    /// st_mode: type and permission bits.
    public var mode: UInt32

    public init(identity: FileIdentity, ownerUID: UInt32, mode: UInt32) {
        self.identity = identity
        self.ownerUID = ownerUID
        self.mode = mode
    }

    /// stat(2) of `path`, following symbolic links (/proc/PID/exe reaches the running binary).
    public static func of(path: String) -> FileStatus? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileStatus(identity: FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)),
                              ownerUID: st.st_uid, mode: UInt32(st.st_mode))
    }

    /// Why only root can have chosen this file's code, or nil: a regular file owned by root that
    /// neither its group nor others may write.
    public var whyNotRootControlled: String? {
        if mode & 0o170000 != 0o100000 { return "not a regular file" }
        if ownerUID != 0 { return "not owned by root" }
        if mode & 0o022 != 0 { return "writable by its group or others" }
        return nil
    }
}

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
