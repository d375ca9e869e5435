/* Records the kernel programs write to the ring buffer.
 *
 * This header is the one definition of the records, their type codes and flags, the roles kept per
 * process and the loss counters. The kernel programs are compiled with it; Swift reads it through the
 * CSSHAuditABI module (Sources/CSSHAuditABI), so the decoder (EventDecoder.swift), the loader
 * (BPFTracer.swift) and the tests' record builder take every offset and code from here. Every record
 * starts with the same header; all fields are little-endian and naturally aligned. The
 * _Static_asserts pin the sizes: compiled for the host (CSSHAuditABI/abi.c) and for BPF alike.
 */
#ifndef SSHAUDIT_EVENTS_H
#define SSHAUDIT_EVENTS_H

#define SA_COMM_LEN 16
#define SA_FILENAME_MAX 512   /* bytes of the exec'd path kept, NUL included */
#define SA_ARGV_MAX 8192      /* bytes of argv kept (NUL-separated strings); more is marked truncated */

enum sa_event_type {
    SA_EV_FORK = 1,    /* a tracked process forked a new process (threads are ignored) */
    SA_EV_EXEC = 2,    /* a tracked process exec'd (or a trusted sshd was exec'd: a new listener) */
    SA_EV_EXIT = 3,    /* the last thread of a tracked process exited */
    SA_EV_ACCEPT = 4,  /* accept/accept4 returned a connected TCP socket (or a per-connection sshd
                        * started with one on fd 0: SA_EXEC_CONNECTION) */
    SA_EV_CRED = 5,    /* setuid/setreuid/setresuid succeeded: the uids after the call */
    SA_EV_CHROOT = 6,  /* chroot succeeded (sshd's pre-authentication child does this) */
    SA_EV_SETSID = 7,  /* setsid succeeded (sshd's session child does this before the shell) */
    SA_EV_LOG = 8,     /* a log line written by an sshd listener or monitor (see sa_log) */
    SA_EV_CONN_CLOSE = 9,   /* an accepted connection is gone (its socket destroyed): its byte counters */
    SA_EV_FILE_OPEN = 10,   /* a transfer server (sftp-server, scp, rsync) opened a regular file */
    SA_EV_FILE_CLOSE = 11,  /* … and closed it */
    SA_EV_SOCKET = 12,      /* an sshd session process connected or bound a socket (forwarding) */
    /* Network activity of a session's processes (bpf/net.bpf.h). Their accepts are SA_EV_ACCEPT. */
    SA_EV_NET = 15,         /* connect (also failed), bind or listen returned: see sa_net */
    /* Terminal recording (record --tty), bpf/tty.bpf.h: */
    SA_EV_TTY = 17,         /* bytes a session's sshd read from its pty master or its command's
                             * stdout/stderr pipe (what it sends the client), or wrote to them (input) */
    SA_EV_TTY_WINSIZE = 18, /* the session's sshd set the pty's window size (TIOCSWINSZ) */
    /* Written by user space, never by the kernel: repeats of a file operation that the kernel
     * counted in `file_seen` instead of reporting each (bpf/files.bpf.h); see sa_file_repeat. */
    SA_EV_FILE_REPEAT = 19,
};

/* Roles the kernel keeps per tracked process, to decide whose log writes may be read.
 *
 * A listener is only ever the real login service: a process named sshd, started outside any tracked
 * tree, running as root (real and effective uid 0) from an executable owned by root that neither its
 * group nor others may write; with `record --sshd`, also one of the (device, inode) pairs in the
 * sshd_binaries map. Anything else named sshd is not followed at all: no sessions, no attempts. */
#define SA_PROC_LISTENER 1u  /* a trusted sshd started outside any tracked tree (see above) */
#define SA_PROC_MONITOR 2u   /* a child of a listener that accepted: the per-connection privileged monitor;
                              * or a trusted sshd started for one connection (SA_EXEC_CONNECTION) */
#define SA_PROC_TRANSFER 4u  /* exec'd sftp-server, scp or rsync (inherited at fork: rsync forks its receiver): its file opens are reported */
#define SA_PROC_EXECED 8u    /* exec'd since it was followed (a fork that has not runs its parent's code) */
#define SA_PROC_ACCEPTED 16u /* a listener that accepted a connection: from then on its children are
                              * monitors; before, a child is the listener going on (sshd without -D
                              * forks into the background) */
#define SA_PROC_LOG_STDERR 32u  /* sshd -e: its standard error (fd 2) is a log channel */
#define SA_PROC_SESSION 64u  /* a monitor that became the session's process (a root login on OpenSSH
                              * <= 9.7: a child it forked without exec called setsid, i.e. the shell):
                              * it now carries session data, so its writes are no longer read */

/* The value of the `tracked` map (key: the tgid). User space enters the processes running when
 * recording starts (BPFTracer.track). */
struct sa_tracked_proc {
    unsigned long long start_ns;  /* start_boottime: a recycled pid with another start time is not
                                   * tracked; 0 (entered by the start-up scan): any start time */
    unsigned int flags;           /* SA_PROC_* */
    unsigned int execs;           /* execs since it was tracked: file activity after an exec is
                                   * another command's (the `file_seen` key) */
};
_Static_assert(sizeof(struct sa_tracked_proc) == 16, "tracked proc size");

/* Loss counters: indices of the per-CPU `losses` array (user space sums the CPUs). The maps user
 * space fills report their failures to it directly. */
#define SA_LOSS_RING 0   /* a record dropped: the ring buffer was full */
#define SA_LOSS_MAP 1    /* a table full: a process not followed (`tracked`), or a connection whose
                          * byte counters are not reported (`connections`) */
#define SA_LOSS_TTY 7    /* terminal bytes not recorded (ring full, cut, unreadable) */
#define SA_LOSS_COUNT 8

/* Terminal recording (bpf/tty.bpf.h). */
#define SA_PROC_TTY 1024u    /* a monitor's child that has not exec'd (the post-authentication child
                              * serves the session's channels): its pty master and command pipes
                              * are recorded with record --tty */
#define SA_TTY_DATA_MAX 4096  /* bytes of one tty record; a longer read is split into several */
#define SA_TTY_READ_MAX (16 * SA_TTY_DATA_MAX)  /* bytes of one read() recorded; more is a loss */
#define SA_TTY_OUTPUT 1u      /* read from the pty master: what the client's terminal shows */
#define SA_TTY_STDOUT 2u      /* read from the command's stdout pipe (session without a pty) */
#define SA_TTY_STDERR 3u      /* … its stderr pipe */
#define SA_TTY_INPUT 4u       /* written to the pty master or the command's stdin (record --tty all) */
#define SA_TTY_FLAG_CUT 1u    /* the read was longer than SA_TTY_READ_MAX or unreadable: bytes missing */
#define SA_TTY_FLAG_CAPPED 2u /* the session process reached tty_config.max_bytes: nothing more is sent */
#define SA_TTY_MODE_OUTPUT 1u
#define SA_TTY_MODE_ALL 2u
#define SA_LOG_MAX 512        /* bytes of one log line kept */

/* exec flags */
#define SA_EXEC_ARGV_TRUNCATED 1u
#define SA_EXEC_FILENAME_TRUNCATED 2u
#define SA_EXEC_NEW_ROOT 4u  /* not a descendant of a tracked process: a trusted sshd started */
#define SA_EXEC_CWD_TRUNCATED 8u  /* deeper or longer than the bounds below: leading part missing */
#define SA_EXEC_CONNECTION 16u  /* with SA_EXEC_NEW_ROOT: a trusted sshd started with a connected TCP
                                 * socket on its standard input (sshd -i under inetd or a socket
                                 * manager): that connection's monitor. An accept record with fd 0,
                                 * its endpoints read from that socket, follows the exec record. */

#define SA_EXEC_SESSION_HOOKS_OFF 32u  /* a session's program started while the session hooks were not
                                       * attached (SA_CONFIG_SESSION_HOOKS clear): its 32-bit calls,
                                       * file and network activity until they are go unseen */

#define SA_CWD_MAX 512        /* bytes of the working directory kept */
#define SA_CWD_DEPTH 32       /* path components walked */

struct sa_header {
    unsigned int type;
    unsigned int tgid;
    unsigned int ppid;          /* real parent's tgid */
    unsigned int uid;           /* real uid of the process when the event happened */
    unsigned long long ts_ns;   /* CLOCK_BOOTTIME */
    unsigned long long start_ns;/* process start, boot-relative (task->start_boottime): with tgid the identity */
    char comm[SA_COMM_LEN];
};
_Static_assert(sizeof(struct sa_header) == 48, "header size");

struct sa_fork {
    struct sa_header h;
    unsigned int child_tgid;
    unsigned int flags;         /* SA_FORK_* */
    unsigned long long child_start_ns;
};
#define SA_FORK_SESSION_HOOKS_OFF 1u  /* a monitor's fork while the session hooks were not attached: a
                                       * user child forked so may serve a session (internal-sftp
                                       * needs no exec) with nobody seeing its files */
_Static_assert(sizeof(struct sa_fork) == 64, "fork size");

struct sa_exec {
    struct sa_header h;
    unsigned int filename_len;  /* bytes in filename, without NUL */
    unsigned int argv_len;      /* bytes in argv kept */
    unsigned int argv_total;    /* bytes of argv in the process (arg_end - arg_start) */
    unsigned int flags;         /* SA_EXEC_* */
    unsigned int cwd_len;       /* bytes in cwd */
    unsigned int _pad;
    char tty[16];               /* controlling terminal, e.g. "pts/0"; empty if none */
    /* Working directory as path components from the leaf up, each followed by '/':
     * "tmp/" is /tmp, "b/a/" is /a/b, "" is the root. */
    char cwd[SA_CWD_MAX];
    char filename[SA_FILENAME_MAX];
    char argv[SA_ARGV_MAX];     /* only argv_len bytes are sent */
};
_Static_assert(__builtin_offsetof(struct sa_exec, tty) == 72, "exec tty offset");
_Static_assert(__builtin_offsetof(struct sa_exec, cwd) == 88, "exec cwd offset");
_Static_assert(__builtin_offsetof(struct sa_exec, filename) == 88 + SA_CWD_MAX, "exec filename offset");
_Static_assert(__builtin_offsetof(struct sa_exec, argv) == 88 + SA_CWD_MAX + SA_FILENAME_MAX, "exec argv offset");

struct sa_exit {
    struct sa_header h;
    unsigned int exit_code;     /* wait status: (code << 8) | signal */
    unsigned int _pad;
};
_Static_assert(sizeof(struct sa_exit) == 56, "exit size");

struct sa_accept {
    struct sa_header h;
    int fd;
    unsigned short family;      /* AF_INET or AF_INET6 */
    unsigned short local_port;  /* host order */
    unsigned short remote_port; /* host order */
    unsigned short _pad1;
    unsigned int _pad2;
    unsigned char local_addr[16];  /* IPv4 in the first 4 bytes */
    unsigned char remote_addr[16];
    unsigned long long sock_id;    /* the socket's kernel address: matches sa_conn_close */
};
_Static_assert(sizeof(struct sa_accept) == 104, "accept size");

/* Sent from the TCP stack (any context): only type and ts_ns of the header are meaningful. */
struct sa_conn_close {
    struct sa_header h;
    unsigned long long sock_id;
    unsigned long long bytes_received;  /* payload bytes from the client (tcp_sock.bytes_received) */
    unsigned long long bytes_acked;     /* payload bytes to the client, acknowledged by it */
};
_Static_assert(sizeof(struct sa_conn_close) == 72, "conn close size");

#define SA_PATH_MAX 256
struct sa_file_open {
    struct sa_header h;
    int fd;
    unsigned int flags;         /* open(2) flags */
    unsigned int path_len;
    unsigned int _pad;
    char path[SA_PATH_MAX];     /* as passed to openat (relative to cwd if not absolute) */
};
_Static_assert(__builtin_offsetof(struct sa_file_open, path) == 64, "file open path offset");

struct sa_file_close {
    struct sa_header h;
    int fd;
    unsigned int _pad;
    unsigned long long position;  /* file offset at close: bytes read (or written) sequentially */
    unsigned long long size;      /* file size at close */
};
_Static_assert(sizeof(struct sa_file_close) == 72, "file close size");

#define SA_SOCK_CONNECT 1u
#define SA_SOCK_BIND 2u
struct sa_socket {
    struct sa_header h;
    unsigned int op;            /* SA_SOCK_CONNECT or SA_SOCK_BIND */
    unsigned short family;      /* AF_INET, AF_INET6, AF_UNIX */
    unsigned short port;        /* host order */
    unsigned char addr[16];
    char unix_path[108];
    unsigned int _pad;
};
_Static_assert(sizeof(struct sa_socket) == 184, "socket size");

/* Network activity (bpf/net.bpf.h): a session's process (tracked, neither listener nor monitor)
 * called connect, bind or listen and the call returned. A connect that succeeded or is in progress
 * (EINPROGRESS) and every bind and listen carry the endpoint as the kernel's socket holds it (the
 * peer for connect, the local end for bind and listen); a connect the kernel refused carries the
 * address the caller passed (SA_NET_FROM_USER), since its socket holds none. */
#define SA_NET_CONNECT 1u
#define SA_NET_BIND 2u
#define SA_NET_LISTEN 3u
#define SA_NET_SEND 4u          /* sendto/sendmsg with an address (a datagram socket not connected): the
                                 * address as the caller gave it, seen at the call's entry (result 0) */
#define SA_NET_ACCEPT 5u        /* accept on a unix socket: path is the listening socket's name (an IP
                                 * socket's accept is SA_EV_ACCEPT) */
#define SA_NET_FROM_USER 1u     /* the endpoint is the caller's argument, not the socket's */
#define SA_NET_SEEN 2u          /* repeats are counted in `file_seen` under the key that follows (sa_net_seen) */
#define SA_NET_UNREADABLE 4u    /* the caller's address could not be read (a page not yet faulted in):
                                 * the endpoint is left out */
#define SA_NET_PATH_MAX 108     /* sun_path */
struct sa_net {
    struct sa_header h;
    unsigned int op;            /* SA_NET_* */
    int result;                 /* the call's return: 0 or -errno */
    unsigned short family;      /* AF_INET, AF_INET6, AF_UNIX */
    unsigned short sock_type;   /* SOCK_STREAM, SOCK_DGRAM, … (socket->type) */
    unsigned short protocol;    /* sk_protocol: IPPROTO_TCP, IPPROTO_UDP, … (0 for unix) */
    unsigned short port;        /* host order */
    unsigned char addr[16];     /* IPv4 in the first 4 bytes */
    unsigned int path_len;      /* bytes of path (an abstract name starts with a NUL byte) */
    unsigned int flags;         /* SA_NET_FROM_USER */
    char path[SA_NET_PATH_MAX];
    unsigned int _pad;
};
_Static_assert(__builtin_offsetof(struct sa_net, addr) == 64, "net addr offset");
_Static_assert(__builtin_offsetof(struct sa_net, path) == 88, "net path offset");
_Static_assert(sizeof(struct sa_net) == 200, "net size");

struct sa_cred {
    struct sa_header h;
    unsigned int ruid;
    unsigned int euid;
    unsigned int suid;
    unsigned int syscall;       /* 105 setuid, 113 setreuid, 117 setresuid (x86_64 numbers) */
};
_Static_assert(sizeof(struct sa_cred) == 64, "cred size");

/* sshd's own log output, never session data. Only listeners and monitors (not those that became a
 * session's process, SA_PROC_SESSION) are read, and only on sshd's log channels:
 * - SA_LOG_FILE: write() to the regular file sshd opened for -E, whose inode user space registered in
 *   the log_files map (resolved from the listener's argv inside its root). Other regular files
 *   (utmp, wtmp, lastlog, /proc/self/loginuid …) are never read;
 * - SA_LOG_STDERR: write() to fd 2 when sshd runs with -e (SA_PROC_LOG_STDERR, or the listener in
 *   the stderr_listeners map);
 * - SA_LOG_SYSLOG: write()/sendto() on an AF_UNIX SOCK_DGRAM socket (syslog's /dev/log) whose first
 *   byte is '<'.
 * Ptys, pipes, TCP sockets and the monitor's SOCK_STREAM socketpair to its children never pass. */
#define SA_LOG_FILE 1u
#define SA_LOG_SYSLOG 2u
#define SA_LOG_STDERR 3u
struct sa_log {
    struct sa_header h;
    unsigned int len;           /* bytes in data */
    unsigned int source;        /* SA_LOG_* */
    char data[SA_LOG_MAX];
};
_Static_assert(__builtin_offsetof(struct sa_log, data) == 56, "log data offset");

/* File activity of a session's processes (bpf/files.bpf.h), and the files transfer servers open
 * (replacing SA_EV_FILE_OPEN, which named a file by the string the caller passed). */
#define SA_EV_FILE_ACT 13
#define SA_EV_TRANSFER_OPEN 14  /* struct sa_file_act: the file (dir only), fd and open_flags */
#define SA_FOP_CREATE 1     /* open created the file (FMODE_CREATED, or O_TMPFILE: a file with no name yet,
                             * DIR/#INODE), or mknod made a node */
#define SA_FOP_WRITE 2      /* an existing regular file opened for writing */
#define SA_FOP_TRUNCATE 3   /* opened with O_TRUNC, truncate, ftruncate */
#define SA_FOP_RENAME 4     /* path, new path */
#define SA_FOP_UNLINK 5
#define SA_FOP_RMDIR 6
#define SA_FOP_MKDIR 7
#define SA_FOP_CHMOD 8
#define SA_FOP_CHOWN 9
#define SA_FOP_LINK 10      /* path: the existing file, new path: the new name */
#define SA_FOP_SYMLINK 11   /* path: the link, second name: its target as given (never resolved) */
#define SA_FOP_SETXATTR 12  /* an extended attribute set (ACLs, capabilities …); second name: the attribute's */
#define SA_FOP_REMOVEXATTR 13  /* an extended attribute removed; second name: the attribute's */
#define SA_FOP_UTIME 14     /* the file's times set (utime, utimes, futimesat, utimensat) */
#define SA_FOP_SETFLAGS 15  /* the inode's flags set (chattr: FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR; file_setattr by name,
                             * with no second name); second name: "flags 0x%08x state 0x%02x" or "xflags …": the
                             * value the caller passed (or "?"), the inode's flags after the call */
#define SA_FOP_MOUNT 16     /* a mount attached at path (mount, move_mount, pivot_root's new root); second name: mount's
                             * source, move_mount's from-path, as given */
#define SA_FOP_UMOUNT 17    /* the mount at path detached (umount2) */
#define SA_FOP_REMOUNT 18   /* the mount at path, or its file system, changed (mount with MS_REMOUNT: second name its
                             * source as given; mount_setattr; fspick, which opens it for reconfiguring) */
#define SA_FILE_TRUNCATED 1u       /* a directory was deeper or longer than the bounds below: its leading part is missing */
#define SA_FILE_NAME_TRUNCATED 2u  /* a name from user memory was longer than SA_FILE_NAME_MAX: its end is missing */
#define SA_FILE_SEEN 4u            /* repeats are counted in `file_seen` under the key that follows the data */
#define SA_FILE_EXCHANGE 8u        /* a rename that swapped its two names (renameat2 RENAME_EXCHANGE): never counted */
#define SA_FILE_DETACHED 16u       /* the path's walk ended at a mount not attached to the process's namespace */
#define SA_FILE_DETACHED2 32u      /* likewise the second name's directory */
#define SA_FILE_DIR_MAX 1024  /* bytes of one directory walk kept (components, leaf first) */
#define SA_FILE_NAME_MAX 512  /* bytes of one name from user memory kept, NUL included */
#define SA_FILE_DEPTH 32      /* path components walked */
#define SA_FILE_DATA 4608     /* scratch room: 4096 for the masked offsets plus one name */
/* A path is a directory the kernel resolved (leaf first, each component followed by '/', up to the
 * global root: a chrooted process's paths are named as outside its chroot) and a name from the
 * caller (empty when the kernel resolved the file itself: opens and calls on a descriptor). For a
 * name that starts with '/', the directory is the process's root. data holds dir, name, dir2, name2
 * back to back; only those bytes are sent. */
/* A call by name's open_flags: the low half for dir, the high half for dir2; 0 if the walk did not
 * pass the process's root, else 1 + the bytes of the walk below it (a relative name's ".." stops
 * there). */
#define SA_FILE_ROOT_AT(open_flags, second) ((int)(((open_flags) >> ((second) ? 16 : 0)) & 0xffff) - 1)
struct sa_file_act {
    struct sa_header h;
    unsigned int op;              /* SA_FOP_* (0 for SA_EV_TRANSFER_OPEN) */
    unsigned int flags;           /* SA_FILE_* */
    int fd;                       /* SA_EV_TRANSFER_OPEN: the descriptor open returned; else -1 */
    unsigned int open_flags;      /* SA_EV_TRANSFER_OPEN: open(2) flags. SA_EV_FILE_ACT of a call by name: where
                                   * the process's root is on the walks (SA_FILE_ROOT_AT) */
    unsigned short dir_len;
    unsigned short name_len;
    unsigned short dir2_len;
    unsigned short name2_len;
    char data[SA_FILE_DATA];
};
_Static_assert(__builtin_offsetof(struct sa_file_act, data) == 72, "file act data offset");

/* In-kernel aggregation of file activity. The first time a process does an operation on a path it is
 * reported (sa_file_act, flag SA_FILE_SEEN, this key after the data); each repeat only adds to the
 * key's count in the `file_seen` map, which user space reads (before the process's exit or exec is
 * handled, and on a timer) and passes on as SA_EV_FILE_REPEAT records. What a repeat counts under
 * is exact: the process (tgid, start, execs), the operation, the names as the caller passed them, and `where`, a hash
 * seeded with a secret of each dentry's name hash and inode from the resolved directory (or the
 * opened file) up to the root, and of each mount crossed: renaming or moving a directory on the way,
 * or another mount, gives another key and so a new report. (A symlink inside the caller's name is
 * resolved by neither the key nor the report: both name the path as given.) The key is computed
 * again after the report's walk; if it changed meanwhile the report goes without it. Names longer
 * than SA_FILE_SEEN_NAME - 2 bytes, paths deeper than SA_FILE_DEPTH and a full map are reported
 * every time.
 *
 * The names are in the value, the key holds their hash (seeded with the same secret): a lookup
 * hashes 40 bytes, not 160 (a third of the time). A repeat counts only when the value's names are
 * the call's, byte for byte; a call whose key holds other names (a hash collision, which no one can
 * make on purpose without the secret) is reported every time, never counted under another's row.
 * last_ns is read from the clock at most once a scheduler tick per key (the clock costs a repeat
 * more than the rest of its count): it is the time of a repeat in the same tick as the last, at most
 * one tick (10 ms at HZ=100) before it. */
#define SA_FILE_SEEN_NAME 64
#define SA_FILE_SEEN_MAX 16384
struct sa_file_seen_key {
    unsigned long long start_ns;
    unsigned int tgid;
    unsigned int execs;
    unsigned int op;
    unsigned int _pad;
    unsigned long long where;
    unsigned long long names;       /* the hash of sa_file_seen_names */
};
_Static_assert(sizeof(struct sa_file_seen_key) == 40, "file seen key size");
struct sa_file_seen_names {
    char name[SA_FILE_SEEN_NAME];   /* NUL padded */
    char name2[SA_FILE_SEEN_NAME];  /* rename, link: the second name; symlink: its target */
};
struct sa_file_seen {
    unsigned long long count;       /* repeats since the report */
    unsigned long long last_ns;     /* CLOCK_BOOTTIME of the last (to a tick, above) */
    unsigned long long last_tick;   /* jiffies when last_ns was read */
    struct sa_file_seen_names names;
};
/* SA_EV_FILE_REPEAT: h.tgid, h.start_ns and h.ts_ns (= last_ns) are set (the rest of the header is
 * zero); count: the repeats so far of the operation `key` names, as user space read them from
 * `file_seen`. */
struct sa_file_repeat {
    struct sa_header h;
    unsigned long long count;
    struct sa_file_seen_key key;
};
_Static_assert(sizeof(struct sa_file_repeat) == 96, "file repeat size");

/* Network activity is aggregated the same way (bpf/net.bpf.h): a session's process's first call of an
 * operation on an endpoint is reported with the key after it (flag SA_NET_SEEN), its repeats only
 * counted in `file_seen` and passed on as SA_EV_FILE_REPEAT records. The key: op SA_NET_SEEN_OP + the
 * SA_NET_* op; the names: name holds struct sa_net_seen_id, name2 the unix name's first bytes (zero padded);
 * where path_len * 2 + 1, or for a name longer than SA_FILE_SEEN_NAME bytes a hash of all of it seeded
 * with seen_secret. A full map: reported every time. */
#define SA_NET_SEEN_OP 64u
struct sa_net_seen_id {
    int result;
    unsigned int flags;           /* SA_NET_FROM_USER, SA_NET_UNREADABLE */
    unsigned short family;
    unsigned short sock_type;
    unsigned short protocol;
    unsigned short port;
    unsigned char addr[16];
};
_Static_assert(sizeof(struct sa_net_seen_id) <= SA_FILE_SEEN_NAME, "net seen id size");
struct sa_net_seen {
    struct sa_net n;
    struct sa_file_seen_key key;
};
_Static_assert(__builtin_offsetof(struct sa_net_seen, key) == sizeof(struct sa_net), "net seen key offset");

/* io_uring (bpf/uring.bpf.h): operations a session's process submits through an io_uring instance
 * bypass the syscall tracepoints, so they are counted per ring and opcode in the kernel instead. A
 * ring created by a session's process (io_uring:io_uring_create) is kept in `uring_rings` under its
 * context's address; every request submitted on it (io_uring:io_uring_submit_req, on 6.1
 * io_uring_submit_sqe; also by its SQPOLL thread) adds to the count of its opcode. A record when the
 * process that owns the ring exits: the creator, or the last other session process that submitted on
 * it (a ring inherited at fork or passed on); the counts then start again from zero, the ring kept
 * for whoever submits next. A ring the map has no room for is reported at once with
 * SA_URING_NOT_COUNTED. */
#define SA_EV_URING 20
#define SA_PROC_URING 2048u       /* owns a ring in `uring_rings`: its exit reports the ring's counts */
#define SA_URING_OPS 64           /* counts[op] for opcodes 0 … 62; counts[63]: every opcode from 63 up */
#define SA_URING_MAX 4096         /* rings followed at once */
#define SA_URING_NOT_COUNTED 1u   /* no room in `uring_rings`: the ring's requests are not counted */
#define SA_URING_AT_STOP 2u       /* made by the recorder at a clean stop: counted until then, the owner alive */
/* A value of `uring_rings` (key: the ring context's address), read by the recorder at a clean stop. */
struct sa_uring_ring {
    unsigned long long owner_start;   /* the owning process: its start time … */
    unsigned int owner;               /* … and tgid (0: none since its owner exited) */
    unsigned int setup_flags;
    unsigned int counts[SA_URING_OPS];
};
_Static_assert(sizeof(struct sa_uring_ring) == 272, "uring ring size");

/* The 32-bit system call interface (bpf/compat.bpf.h): a 64-bit process may call it (int $0x80), and
 * a 32-bit program uses nothing else. The kernel's tracepoints of each call ignore such calls, so
 * the file and network hooks never see them; raw_syscalls:sys_enter does. A session's process that
 * makes them has its calls counted by i386 number in `compat_calls` and reported once, at its exit
 * (or by the recorder at a clean stop, SA_COMPAT_AT_STOP). A process the map has no room for is
 * reported at its first such call with SA_COMPAT_NOT_COUNTED. */
#define SA_EV_COMPAT 21
#define SA_PROC_COMPAT 4096u        /* made 32-bit calls: its exit reports them (`compat_calls`) */
#define SA_COMPAT_OPS 512           /* counts[nr] for i386 numbers 0 … 510; counts[511]: 511 and up */
#define SA_COMPAT_MAX 1024          /* processes counted at once */
#define SA_COMPAT_NOT_COUNTED 1u    /* no room in `compat_calls`: the process's calls are not counted */
#define SA_COMPAT_AT_STOP 2u        /* made by the recorder at a clean stop: counted until then */
struct sa_compat {
    struct sa_header h;             /* filled when reported; tgid and start_ns name the process */
    unsigned int flags;             /* SA_COMPAT_* */
    unsigned int _pad;
    unsigned int counts[SA_COMPAT_OPS];  /* calls by i386 number (saturating) */
};
_Static_assert(__builtin_offsetof(struct sa_compat, counts) == 56, "compat counts offset");
_Static_assert(sizeof(struct sa_compat) == 2104, "compat size");
struct sa_uring {
    struct sa_header h;
    unsigned long long ring;      /* the ring's identity in this recording (not the kernel address) */
    unsigned int setup_flags;     /* io_uring_setup flags (IORING_SETUP_SQPOLL = 2 …) */
    unsigned int flags;           /* SA_URING_* */
    unsigned int counts[SA_URING_OPS];  /* requests submitted, by opcode (saturating) */
};
_Static_assert(__builtin_offsetof(struct sa_uring, counts) == 64, "uring counts offset");
_Static_assert(sizeof(struct sa_uring) == 320, "uring size");

/* Terminal recording records (bpf/tty.bpf.h; constants above, SA_TTY_*). */
struct sa_tty {
    struct sa_header h;
    unsigned int len;           /* bytes in data */
    unsigned short stream;      /* SA_TTY_OUTPUT … SA_TTY_INPUT */
    unsigned short flags;       /* SA_TTY_FLAG_* */
    unsigned int fd;
    unsigned int _pad;
    char data[SA_TTY_DATA_MAX]; /* only len bytes are sent */
};
_Static_assert(__builtin_offsetof(struct sa_tty, data) == 64, "tty data offset");
struct sa_tty_winsize {
    struct sa_header h;
    unsigned short rows;
    unsigned short cols;
    unsigned int _pad;
};
_Static_assert(sizeof(struct sa_tty_winsize) == 56, "tty winsize size");
/* tty_config[0]: what record --tty asked for (SA_TTY_MODE_*; 0 = off). */
struct sa_tty_config {
    unsigned int mode;
    unsigned int _pad;
    unsigned long long max_bytes;  /* record --tty-max: bytes per session process the kernel sends */
};

/* Maps that user space fills (Sources/SSHAuditBPF/BPFTracer.swift writes the same layouts). */

/* A file as the kernel names it: the superblock's dev_t, encoded (major << 20) | minor (not stat's
 * st_dev encoding), and the inode number. Key of sshd_binaries and log_files. */
struct sa_file_id {
    unsigned long long dev;
    unsigned long long ino;
};
_Static_assert(sizeof(struct sa_file_id) == 16, "file id size");

/* config[0]: settings of this recording. */
#define SA_CONFIG_PIN_BINARIES 1u  /* record --sshd: a listener's executable must be in sshd_binaries */
#define SA_CONFIG_SESSION_HOOKS 2u  /* the session hooks are attached (BPFTracer.watchSessionHooks) */
struct sa_config {
    unsigned int flags;
    unsigned int _pad;
    unsigned long long seen_secret;  /* random, per load: the seed of sa_file_seen_key.where and .names */
};

#endif
