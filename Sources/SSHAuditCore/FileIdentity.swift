import Foundation

/// A file by device and inode, as stat(2) gives them (st_dev in user space's encoding).
public struct FileIdentity: Hashable, Codable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// Which file `path` names now (after log rotation, another one), following symbolic links.
    public static func of(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The device in the kernel's encoding (major << 20 | minor, as in a superblock's s_dev), which
    /// is what the kernel programs read from an inode; stat's st_dev packs major and minor otherwise.
    /// (On btrfs, st_dev is a subvolume's number and not the superblock's at all: see MountTable.)
    public var kernelDevice: UInt64 {
        let major = (device >> 8) & 0xfff | (device >> 32) & ~UInt64(0xfff)
        let minor = device & 0xff | (device >> 12) & ~UInt64(0xff)
        return MountTable.kernelDevice(major: major, minor: minor)
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

/// The superblock a file is on, as the mount table tells it: /proc/PID/mountinfo's major:minor is
/// the superblock's s_dev, the number the kernel programs read from an inode. stat's st_dev is the
/// same on most filesystems, but on btrfs it names the subvolume instead.
public enum MountTable {
    public static func kernelDevice(major: UInt64, minor: UInt64) -> UInt64 { major << 20 | minor }

    /// "mnt_id:\tN" of a /proc/PID/fdinfo/FD file.
    public static func mountID(fdinfo: String) -> Int? {
        for line in fdinfo.split(separator: "\n") where line.hasPrefix("mnt_id:") {
            return Int(line.dropFirst("mnt_id:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The kernel's device of mount `id` in a mountinfo text ("36 35 98:0 /mnt1 /mnt2 rw … - ext3 …").
    public static func device(ofMount id: Int, mountinfo: String) -> UInt64? {
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3)
            guard fields.count > 2, Int(fields[0]) == id else { continue }
            let numbers = fields[2].split(separator: ":")
            guard numbers.count == 2, let major = UInt64(numbers[0]), let minor = UInt64(numbers[1]) else { return nil }
            return kernelDevice(major: major, minor: minor)
        }
        return nil
    }
}
