import Foundation

/// Whether a file of the audit trail, or the directory holding it, is safe from other users: an
/// audit trail others could change (or replace, through its directory) proves nothing.
public enum PathSafety {
    /// Why `path` is not safe, or nil (also when it does not exist). It must belong to the user
    /// running sshaudit, and neither its group nor others may write it. A directory may do so only
    /// if it is sticky (/tmp): there nobody else can rename or remove our file. With `private`, a
    /// file may not be readable by anyone else either.
    public static func problem(_ path: String, private: Bool = false) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return problem(of: st, private: `private`)
    }

    /// The same for a file already open (its fstat).
    public static func problem(of st: stat, private: Bool = false) -> String? {
        if st.st_uid != geteuid() { return "owned by uid \(st.st_uid), not by uid \(geteuid())" }
        let mode = st.st_mode & 0o7777
        let text = String(mode, radix: 8)
        let sticky = st.st_mode & S_IFMT == S_IFDIR && mode & 0o1000 != 0
        if mode & 0o002 != 0, !sticky { return "writable by others (mode \(text))" }
        if mode & 0o020 != 0, !sticky { return "writable by its group (mode \(text))" }
        if `private`, st.st_mode & S_IFMT != S_IFDIR, mode & 0o077 != 0 {
            return "others may read it (mode \(text), must be 600)"
        }
        return nil
    }
}
