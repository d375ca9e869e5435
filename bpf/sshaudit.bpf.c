// SPDX-License-Identifier: GPL-2.0
/* Kernel side of sshaudit: follow the real sshd's listeners (trusted_sshd) and every descendant, and
 * report the few things that place a process in an SSH session (fork, exec, exit, accept, uid
 * changes, chroot, setsid), and sshd's own log lines on its log channels (capture_log).
 *
 * Filtering happens here: a process that is not in `tracked` returns at once, so the rest of the
 * machine pays one hash lookup on the hooked syscalls and nothing else.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "kernel_types.h"
#include "events.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_CLOSE_WAIT 8
#define TCP_CLOSE 7
#define MAX_TRACKED 65536

/* The listener binary's comm. OpenSSH 9.8+ re-execs sshd-session / sshd-auth for each connection,
 * but those only ever run under a listener, which is followed with all its descendants. The name
 * alone proves nothing (anyone can call a program sshd): see trusted_sshd(). */
#define SSHD_COMM "sshd"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_TRACKED);
    __type(key, u32);  /* tgid */
    __type(value, struct sa_tracked_proc);
} tracked SEC(".maps");

/* Accepted connections, to report their byte counters when they close. A plain hash, not an LRU:
 * an eviction would silently drop a live connection's counters (someone opening many connections
 * could push out another's). Full, an accept is counted as a loss instead. Entries cannot leak: one
 * that closed before it was added is reported and removed at once (on_accept_exit). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, u64);   /* struct sock address */
    __type(value, u8);
} connections SEC(".maps");

/* The local ports of the sockets ever entered in `connections` (sshd's listening ports), one bit each:
 * the socket-destruction hook runs for every TCP socket on the machine, and one bit read first spares
 * nearly all of them the hash lookup. Bits are never cleared; the map stays a filter, not the truth. */
struct sa_port_bits { u64 bits[65536 / 64]; };
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_port_bits);
} connection_ports SEC(".maps");

/* record --sshd: the executables a listener may run (struct sa_file_id), if config says so. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct sa_file_id);
    __type(value, u8);
} sshd_binaries SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_config);
} config SEC(".maps");

/* The regular files sshd opened for -E (struct sa_file_id), registered by user space. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, struct sa_file_id);
    __type(value, u8);
} log_files SEC(".maps");

/* Listeners started with -e (tgid → start_ns, 0 = any), registered by user space. A map of its own
 * rather than a flag in `tracked`: the kernel changes a listener's entry (SA_PROC_ACCEPTED) while user
 * space would rewrite it whole. Monitors get SA_PROC_LOG_STDERR at fork; the entry goes at exit. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, u32);
    __type(value, u64);
} stderr_listeners SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024 * 1024);  /* bursts of thousands of execs (about 1.2 KiB each) while user space catches up */
} events SEC(".maps");

/* Loss counters, per CPU (SA_LOSS_* in events.h). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SA_LOSS_COUNT);
    __type(key, u32);
    __type(value, u64);
} losses SEC(".maps");

/* Scratch space for the one large record, too big for the 512-byte BPF stack. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_exec);
} exec_scratch SEC(".maps");

static __always_inline void count_loss(u32 which)
{
    u64 *n = bpf_map_lookup_elem(&losses, &which);
    if (n)
        __sync_fetch_and_add(n, 1);
}

static __always_inline u64 process_start(struct task_struct *task)
{
    return BPF_CORE_READ(task, group_leader, start_boottime);
}

/* The calling process if it is one of a session's: followed (map `tracked`), neither listener nor
 * monitor, and the process its entry was made for (not a recycled pid). Its entry in *entry. Every
 * hook on a session's own calls (files, network, transfers, forwarding) starts here, so it reads
 * the task through its BTF pointer: plain loads, no helper call per field. */
static __always_inline struct task_struct *session_member(struct sa_tracked_proc **entry)
{
    struct task_struct *task = bpf_get_current_task_btf();
    u32 tgid = task->tgid;
    struct sa_tracked_proc *p = bpf_map_lookup_elem(&tracked, &tgid);
    if (!p || (p->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR)))
        return NULL;
    if (p->start_ns != 0 && p->start_ns != task->group_leader->start_boottime)
        return NULL;
    *entry = p;
    return task;
}

static __always_inline struct task_struct *session_process(void)
{
    struct sa_tracked_proc *p;
    return session_member(&p);
}

static __always_inline struct sa_tracked_proc *tracked_entry(struct task_struct *task, u32 tgid)
{
    struct sa_tracked_proc *p = bpf_map_lookup_elem(&tracked, &tgid);
    /* start_ns 0: entered by the start-up scan, which cannot read the start time at kernel precision. */
    if (p && (p->start_ns == 0 || p->start_ns == process_start(task)))
        return p;
    return NULL;
}

static __always_inline bool is_tracked(struct task_struct *task, u32 tgid)
{
    return tracked_entry(task, tgid) != NULL;
}

static __always_inline void track(u32 tgid, u64 start_ns, u32 flags)
{
    struct sa_tracked_proc p = { .start_ns = start_ns, .flags = flags };
    if (bpf_map_update_elem(&tracked, &tgid, &p, BPF_ANY) != 0)
        count_loss(SA_LOSS_MAP);
}

static __always_inline void fill_header(struct sa_header *h, u32 type, struct task_struct *task)
{
    h->type = type;
    h->tgid = BPF_CORE_READ(task, tgid);
    h->ppid = BPF_CORE_READ(task, real_parent, tgid);
    h->uid = BPF_CORE_READ(task, cred, uid.val);
    h->ts_ns = bpf_ktime_get_boot_ns();
    h->start_ns = process_start(task);
    BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
}

/* By default the ring buffer wakes its reader for a record written when the reader had caught up:
 * with a fast reader, nearly every record. Each wakeup is IRQ work, a self-IPI (a trap to the
 * hypervisor in a VM) on the traced process's CPU. Records are written without a wakeup instead and
 * the reader collects them on a short timer; a reader blocked on the ring buffer's descriptor is
 * still woken each time the unread backlog grows past a multiple of WAKEUP_BYTES. */
#define WAKEUP_BYTES (1024 * 1024)

static __always_inline u64 wakeup_flags(u64 size)
{
    u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    return waiting / WAKEUP_BYTES != (waiting + size) / WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void emit(void *rec, u64 size)
{
    if (bpf_ringbuf_output(&events, rec, size, wakeup_flags(size)) != 0)
        count_loss(SA_LOSS_RING);
}

/* Whether the session hooks (the 32-bit call hook, compat.bpf.h, and the file and network activity
 * programs, files.bpf.h and net.bpf.h) are detached: user space sets the flag while they are attached. */
static __always_inline bool session_hooks_off(void)
{
    u32 zero = 0;
    struct sa_config *cfg = bpf_map_lookup_elem(&config, &zero);
    return cfg && !(cfg->flags & SA_CONFIG_SESSION_HOOKS);
}

static __always_inline struct file *file_of(struct task_struct *task, u32 fd)
{
    /* task: bpf_get_current_task_btf's, so plain loads down to the table (a helper call each costs
     * more than the load); the slot itself is at a variable index, which only a helper may read. */
    struct fdtable *fdt = task->files->fdt;
    if (fd >= fdt->max_fds)
        return NULL;
    struct file **fds = fdt->fd;
    struct file *file = NULL;
    bpf_probe_read_kernel(&file, sizeof(file), &fds[fd & 0xfffff]);
    return file;
}

static __always_inline struct sa_file_id file_id(struct inode *inode)
{
    struct sa_file_id id = {
        .dev = BPF_CORE_READ(inode, i_sb, s_dev),
        .ino = BPF_CORE_READ(inode, i_ino),
    };
    return id;
}

/* The real login service, not merely something named sshd: root (real and effective uid 0) running
 * an executable owned by root that neither group nor others may write, so that no one but root chose
 * its code; with record --sshd, one of those executables. bprm->file is the binary being run (for a
 * script, its interpreter), the same file /proc/PID/exe shows the start-up scan, which applies the
 * same rule (ProcScan.swift). */
static __always_inline bool trusted_sshd(struct task_struct *task, struct linux_binprm *bprm)
{
    if (BPF_CORE_READ(task, cred, uid.val) != 0 || BPF_CORE_READ(task, cred, euid.val) != 0)
        return false;
    struct inode *inode = BPF_CORE_READ(bprm, file, f_inode);
    if (!inode || BPF_CORE_READ(inode, i_uid.val) != 0)
        return false;
    u16 mode = BPF_CORE_READ(inode, i_mode);
    if ((mode & S_IFMT) != S_IFREG || (mode & 0022))
        return false;
    u32 zero = 0;
    struct sa_config *cfg = bpf_map_lookup_elem(&config, &zero);
    if (cfg && (cfg->flags & SA_CONFIG_PIN_BINARIES)) {
        struct sa_file_id id = file_id(inode);
        if (!bpf_map_lookup_elem(&sshd_binaries, &id))
            return false;
    }
    return true;
}

/* Whether fd 2 of this listener or monitor is sshd's log (sshd -e). User space enters listeners and
 * per-connection sshds (sshd -i -e) in stderr_listeners; monitors forked by a listener get the flag. */
static __always_inline bool logs_to_stderr(struct sa_tracked_proc *p, struct task_struct *task, u32 tgid)
{
    if (p->flags & SA_PROC_LOG_STDERR)
        return true;
    if (!(p->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR)))
        return false;
    u64 *start = bpf_map_lookup_elem(&stderr_listeners, &tgid);
    return start && (*start == 0 || *start == process_start(task));
}

static __always_inline bool comm_is(const char *comm, const char *want, int n)
{
    for (int i = 0; i < n; i++)
        if (comm[i] != want[i])
            return false;
    return true;
}

/* Working directory, leaf first ("b/a/" for /a/b), relative to the process's root, crossing mounts. */
static __always_inline u32 read_cwd(struct task_struct *task, char *buf, u32 *flags)
{
    struct fs_struct *fs = BPF_CORE_READ(task, fs);
    struct dentry *dentry = BPF_CORE_READ(fs, pwd.dentry);
    struct vfsmount *vfsmnt = BPF_CORE_READ(fs, pwd.mnt);
    struct dentry *root_dentry = BPF_CORE_READ(fs, root.dentry);
    struct vfsmount *root_mnt = BPF_CORE_READ(fs, root.mnt);
    u64 mnt_offset = bpf_core_field_offset(struct mount, mnt);
    struct mount *mnt = (struct mount *)((char *)vfsmnt - mnt_offset);
    u32 off = 0;
    int i;
    for (i = 0; i < SA_CWD_DEPTH; i++) {
        if (dentry == root_dentry && vfsmnt == root_mnt)
            break;
        if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
            struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
            if (parent == mnt)
                break;  /* the global root */
            dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
            mnt = parent;
            vfsmnt = (struct vfsmount *)((char *)parent + mnt_offset);
            continue;
        }
        struct dentry *up = BPF_CORE_READ(dentry, d_parent);
        if (up == dentry)
            break;
        if (off > SA_CWD_MAX - 128) {
            *flags |= SA_EXEC_CWD_TRUNCATED;
            break;
        }
        long n = bpf_probe_read_kernel_str(buf + (off & (SA_CWD_MAX - 1)), 128, BPF_CORE_READ(dentry, d_name.name));
        if (n <= 1)
            break;
        off += n - 1;
        buf[off & (SA_CWD_MAX - 1)] = '/';
        off += 1;
        dentry = up;
    }
    if (i == SA_CWD_DEPTH)
        *flags |= SA_EXEC_CWD_TRUNCATED;
    return off;
}

/* read_cwd for on_exec, which runs in the exec'ing task: a global function, so that the verifier
 * checks its loop once rather than in each of on_exec's paths (a third of a second of start-up).
 * The working directory's length, and in the upper half the flags it set. */
__attribute__((noinline)) u64 sa_exec_cwd(struct sa_exec *ev)
{
    if (!ev)
        return 0;
    u32 flags = 0;
    u32 len = read_cwd(bpf_get_current_task_btf(), ev->cwd, &flags);
    return len | (u64)flags << 32;
}

/* For tp_btf programs, whose task pointers the verifier trusts: direct loads, no helper calls (this
 * runs for every exec on the machine). */
static __always_inline bool comm_is_sshd(struct task_struct *task)
{
    const char want[] = SSHD_COMM;
#pragma unroll
    for (int i = 0; i < sizeof(want); i++)  /* includes the NUL: an exact match */
        if (task->comm[i] != want[i])
            return false;
    return true;
}

/* Named sshd or sshd-…: direct loads too (task: a BTF pointer). */
static __always_inline bool comm_is_sshd_prefix(struct task_struct *task)
{
    return task->comm[0] == 's' && task->comm[1] == 's' && task->comm[2] == 'h' && task->comm[3] == 'd';
}

#include "tty.bpf.h"  /* terminal recording: after the shared helpers it uses */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    /* tp_btf arguments are trusted pointers: the early exits of the hooks that run for every
     * process on the machine read them directly rather than through helper calls. */
    u32 ptgid = parent->tgid;
    struct sa_tracked_proc *tp = tracked_entry(parent, ptgid);
    if (!tp)
        return 0;
    /* A new thread shares the process: only new processes matter. */
    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
        return 0;
    /* A listener's child is a connection's monitor (before its first accept: the listener itself,
     * going into the background); roles are not inherited further. */
    u32 child_flags = 0;
    if (tp->flags & SA_PROC_LISTENER) {
        child_flags = (tp->flags & SA_PROC_ACCEPTED) ? SA_PROC_MONITOR : SA_PROC_LISTENER;
        if (logs_to_stderr(tp, parent, ptgid))
            child_flags |= SA_PROC_LOG_STDERR;
    }
    /* rsync forks its receiver, which writes the upload: a transfer server's child serves it too. */
    child_flags |= tp->flags & SA_PROC_TRANSFER;
    child_flags |= tty_child_flags(tp->flags);
    struct sa_fork ev = {};
    fill_header(&ev.h, SA_EV_FORK, parent);
    ev.child_tgid = BPF_CORE_READ(child, tgid);
    ev.child_start_ns = BPF_CORE_READ(child, start_boottime);
    /* On time, the hooks are attached at the connection's first fork (below), long before its
     * monitor forks the user child after authentication. */
    if ((tp->flags & SA_PROC_MONITOR) && session_hooks_off())
        ev.flags = SA_FORK_SESSION_HOOKS_OFF;
    track(ev.child_tgid, ev.child_start_ns, child_flags);
    /* A new connection's monitor while the session hooks are detached: user space is woken now,
     * not at its next poll, so that they are attached before the session's programs run. */
    if ((child_flags & SA_PROC_MONITOR) && session_hooks_off()) {
        if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP) != 0)
            count_loss(SA_LOSS_RING);
        return 0;
    }
    emit(&ev, sizeof(ev));
    return 0;
}

/* The connection a socket manager (inetd, xinetd, systemd's Accept=yes sockets,
 * systemd-socket-activate) hands a program it starts: a connected TCP socket on fd 0. The manager
 * accepted it, so no tracked process does: sshd -i serves it from its standard input. */
static __always_inline struct sock *stdin_connection(struct task_struct *task)
{
    struct file *file = file_of(task, 0);
    if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
        return NULL;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
        return NULL;
    struct sock *sk = BPF_CORE_READ(sock, sk);
    if (!sk)
        return NULL;
    u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
    if ((family != AF_INET && family != AF_INET6) || (state != TCP_ESTABLISHED && state != TCP_CLOSE_WAIT))
        return NULL;
    return sk;
}

static __always_inline void report_connection(struct task_struct *task, struct sa_tracked_proc *tp, int fd, struct sock *sk);

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    u32 tgid = task->tgid;
    u32 flags = 0;
    struct sock *conn = NULL;
    struct sa_tracked_proc *tp = tracked_entry(task, tgid);
    if (!tp) {
        if (!comm_is_sshd(task) || !trusted_sshd(task, bprm))
            return 0;
        /* The real sshd started outside any tracked tree: a new listener (or sshd -t, -V: harmless),
         * or, with a connection on its standard input, that connection's monitor (sshd -i). */
        conn = stdin_connection(task);
        track(tgid, process_start(task), conn ? SA_PROC_MONITOR : SA_PROC_LISTENER);
        flags |= SA_EXEC_NEW_ROOT | (conn ? SA_EXEC_CONNECTION : 0);
    } else {
        /* Transfer servers: their file opens become file_transfers rows. */
        char comm[16] = {};
        BPF_CORE_READ_STR_INTO(&comm, task, comm);
        u32 role = tp->flags | SA_PROC_EXECED;
        if (comm_is(comm, "sftp-server", 12) || comm_is(comm, "scp", 4) || comm_is(comm, "rsync", 6))
            role |= SA_PROC_TRANSFER;
        else
            role &= ~SA_PROC_TRANSFER;
        tp->flags = role;
        tp->execs += 1;  /* what the process does from here is another command's (files.bpf.h) */
        tty_note_exec(task, tgid, role);
        /* A session's program whose 32-bit calls, file and network activity no one sees: said. Not
         * sshd's own (OpenSSH 10 execs sshd-auth for each connection, before anyone logged in). */
        if (!(role & (SA_PROC_LISTENER | SA_PROC_MONITOR)) && session_hooks_off()
            && !(comm_is_sshd_prefix(task) && trusted_sshd(task, bprm)))
            flags |= SA_EXEC_SESSION_HOOKS_OFF;
    }
    u32 zero = 0;
    struct sa_exec *ev = bpf_map_lookup_elem(&exec_scratch, &zero);
    if (!ev)
        return 0;
    fill_header(&ev->h, SA_EV_EXEC, task);

    long n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), BPF_CORE_READ(bprm, filename));
    ev->filename_len = n > 0 ? n - 1 : 0;
    if (n == sizeof(ev->filename))
        flags |= SA_EXEC_FILENAME_TRUNCATED;

    /* argv as the new program sees it: the kernel has just copied it onto the new stack, so the
     * pages are present (reading the execve() argument pointers at sys_enter can fault). */
    unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
    unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
    u64 total = arg_end > arg_start ? arg_end - arg_start : 0;
    u64 len = total;
    if (len > SA_ARGV_MAX) {
        len = SA_ARGV_MAX;
        flags |= SA_EXEC_ARGV_TRUNCATED;
    }
    if (len > 0 && bpf_probe_read_user(ev->argv, len, (void *)arg_start) != 0)
        len = 0;
    ev->argv_len = len;
    ev->argv_total = total > 0xffffffffULL ? 0xffffffffU : total;
    ev->tty[0] = 0;
    struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
    if (tty)
        BPF_CORE_READ_STR_INTO(&ev->tty, tty, name);
    u64 cwd = sa_exec_cwd(ev);
    ev->cwd_len = (u32)cwd;
    ev->flags = flags | (u32)(cwd >> 32);

    u64 size = __builtin_offsetof(struct sa_exec, argv) + len;
    if (size > sizeof(*ev))
        size = sizeof(*ev);
    /* A connection's monitor (sshd -i) while the session hooks are detached: user space is woken
     * now, as for a listener's fork (on_fork). */
    if (conn && session_hooks_off()) {
        if (bpf_ringbuf_output(&events, ev, size, BPF_RB_FORCE_WAKEUP) != 0)
            count_loss(SA_LOSS_RING);
    } else {
        emit(ev, size);
    }
    if (conn) {
        /* After the exec record: the correlator has the monitor's session to give it to. */
        struct sa_tracked_proc *mp = tracked_entry(task, tgid);
        if (mp)
            report_connection(task, mp, 0, conn);
    }
    return 0;
}

static __always_inline void uring_exit(struct task_struct *task, u32 tgid, struct sa_tracked_proc *tp);  /* uring.bpf.h */
static __always_inline void compat_exit(struct task_struct *task, u32 tgid, struct sa_tracked_proc *tp);  /* compat.bpf.h */

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
    /* Fires per thread: only the last thread's exit ends the process. */
    if (task->signal->live.counter != 0)
        return 0;
    u32 tgid = task->tgid;
    struct sa_tracked_proc *tp = tracked_entry(task, tgid);
    if (!tp)
        return 0;
    /* Two threads exiting at once can both see `live` at 0 (each decremented it before this
     * tracepoint; io_uring's workers are threads of the process): only the one whose delete of the
     * entry succeeds ends the process, so its rings and 32-bit calls are reported once. */
    struct sa_tracked_proc proc = *tp;
    if (bpf_map_delete_elem(&tracked, &tgid) != 0)
        return 0;
    if (proc.flags & (SA_PROC_LISTENER | SA_PROC_MONITOR))
        bpf_map_delete_elem(&stderr_listeners, &tgid);
    struct sa_exit ev = {};
    fill_header(&ev.h, SA_EV_EXIT, task);
    ev.exit_code = BPF_CORE_READ(task, exit_code);
    uring_exit(task, tgid, &proc);  /* before the exit record: the rings' counts are the process's */
    compat_exit(task, tgid, &proc);  /* … and so are its 32-bit calls */
    tty_forget(tgid);
    emit(&ev, sizeof(ev));
    return 0;
}

static __always_inline struct task_struct *tracked_current(void)
{
    struct task_struct *task = bpf_get_current_task_btf();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    return is_tracked(task, tgid) ? task : NULL;
}

static __always_inline void emit_conn_close(struct sock *sk)
{
    struct sa_conn_close ev = {};
    ev.h.type = SA_EV_CONN_CLOSE;
    ev.h.ts_ns = bpf_ktime_get_boot_ns();
    ev.sock_id = (u64)sk;
    struct tcp_sock *tp = (struct tcp_sock *)sk;
    ev.bytes_received = BPF_CORE_READ(tp, bytes_received);
    ev.bytes_acked = BPF_CORE_READ(tp, bytes_acked);
    emit(&ev, sizeof(ev));
}

/* A client's connection, accepted by a tracked process (fd: what accept returned) or handed to a
 * per-connection sshd on fd 0: both endpoints as the kernel keeps them, and the socket entered in
 * `connections` so that its byte counters are reported when it closes. */
static __always_inline void report_connection(struct task_struct *task, struct sa_tracked_proc *tp, int fd, struct sock *sk)
{
    struct sa_accept ev = {};
    fill_header(&ev.h, SA_EV_ACCEPT, task);
    ev.fd = fd;
    ev.family = BPF_CORE_READ(sk, __sk_common.skc_family);
    ev.local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
    ev.remote_port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (ev.family == AF_INET) {
        u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        __builtin_memcpy(ev.local_addr, &l, 4);
        __builtin_memcpy(ev.remote_addr, &r, 4);
    } else if (ev.family == AF_INET6) {
        BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_v6_rcv_saddr);
        BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_v6_daddr);
    } else {
        return;  /* a unix socket: not a client connection */
    }
    ev.sock_id = (u64)sk;
    if (tp->flags & SA_PROC_LISTENER)
        __sync_fetch_and_or(&tp->flags, SA_PROC_ACCEPTED);
    emit(&ev, sizeof(ev));
    /* A session's own programs accept too (their network activity): only sshd's connections await
     * their byte counters, so a user's server cannot fill the map and cost a login its counters. */
    if (!(tp->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR)))
        return;
    /* Only a TCP socket is ever destroyed where on_tcp_destroy sees it: an sshd made to accept MPTCP
     * (mptcpize) gets an MPTCP socket, whose entry would stay for good (and whose counters are not
     * tcp_sock's). Its session has no byte counts. */
    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return;
    u32 zero = 0;
    struct sa_port_bits *ports = bpf_map_lookup_elem(&connection_ports, &zero);
    if (!ports)
        return;
    __sync_fetch_and_or(&ports->bits[ev.local_port / 64], 1ULL << (ev.local_port % 64));  /* before the entry */
    u8 one = 1;
    if (bpf_map_update_elem(&connections, &ev.sock_id, &one, BPF_ANY) != 0) {
        count_loss(SA_LOSS_MAP);
        return;
    }
    /* A connection that closed before it was in the map (a client that reset at once) is reported
     * now. Whoever removes the entry reports the close, so it is reported exactly once. */
    if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE && bpf_map_delete_elem(&connections, &ev.sock_id) == 0)
        emit_conn_close(sk);
}

static __always_inline void report_unix_accept(struct sa_tracked_proc *p, int fd);  /* net.bpf.h */

static __always_inline int on_accept_exit(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret < 0)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct sa_tracked_proc *tp = tracked_entry(task, tgid);
    if (!tp)
        return 0;
    /* Addresses come from the socket itself, not from the caller's buffer (which may be NULL). */
    struct file *file = file_of(task, ctx->ret);
    if (!file)
        return 0;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    struct sock *sk = BPF_CORE_READ(sock, sk);
    if (!sk)
        return 0;
    if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_UNIX) {
        /* A session's program serving a unix socket: its network activity (sshd's own, for agent or
         * -R forwarding, are kept by no row: user space releases them). */
        if (!(tp->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR)))
            report_unix_accept(tp, ctx->ret);
        return 0;
    }
    report_connection(task, tp, ctx->ret, sk);
    return 0;
}

/* The TCP stack's own counters, when an accepted connection is gone: bytes that really crossed it,
 * payloads never read. This runs in any context (often softirq), so no process is involved. The socket's
 * destruction, not its state changes: it happens once per socket, before the counters are freed, where
 * a connection changes state five to ten times (a loopback connect and close: two runs, not six). */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_tcp_destroy, struct sock *sk)
{
    u32 zero = 0;
    struct sa_port_bits *ports = bpf_map_lookup_elem(&connection_ports, &zero);
    /* The local port as the socket was bound (skc_num is 0 by now: cleared when it left the bind hash),
     * read directly through the kernel's own cast: a probe read would cost more than the lookup saved. */
    struct tcp_sock *tcp = bpf_skc_to_tcp_sock(sk);
    if (!ports || !tcp)
        return 0;
    u16 port = __builtin_bswap16(tcp->inet_conn.icsk_inet.inet_sport);
    if (!(ports->bits[port / 64] & (1ULL << (port % 64))))
        return 0;
    u64 id = (u64)sk;
    /* The lookup before the delete: it takes no lock (a listener's own socket, say, misses). */
    if (!bpf_map_lookup_elem(&connections, &id) || bpf_map_delete_elem(&connections, &id) != 0)
        return 0;
    emit_conn_close(sk);
    return 0;
}

/* accept4 too: one program (BPFTracer.acceptCalls), verified once. */
SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept(struct syscall_exit_ctx *ctx) { return on_accept_exit(ctx); }

/* uid changes are judged at exit: sshd deliberately tries calls that must fail after dropping
 * privileges, and only a successful call changes who the process is. */
static __always_inline int on_cred_exit(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret != 0)
        return 0;
    struct task_struct *task = tracked_current();
    if (!task)
        return 0;
    struct sa_cred ev = {};
    fill_header(&ev.h, SA_EV_CRED, task);
    ev.ruid = BPF_CORE_READ(task, cred, uid.val);
    ev.euid = BPF_CORE_READ(task, cred, euid.val);
    ev.suid = BPF_CORE_READ(task, cred, suid.val);
    ev.syscall = ctx->syscall_nr;
    emit(&ev, sizeof(ev));
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_setuid")
int on_setuid(struct syscall_exit_ctx *ctx) { return on_cred_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_setreuid")
int on_setreuid(struct syscall_exit_ctx *ctx) { return on_cred_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_setresuid")
int on_setresuid(struct syscall_exit_ctx *ctx) { return on_cred_exit(ctx); }

static __always_inline int emit_header_only(struct syscall_exit_ctx *ctx, u32 type, bool success)
{
    if (!success)
        return 0;
    struct task_struct *task = tracked_current();
    if (!task)
        return 0;
    struct sa_header ev = {};
    fill_header(&ev, type, task);
    emit(&ev, sizeof(ev));
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_chroot")
int on_chroot(struct syscall_exit_ctx *ctx) { return emit_header_only(ctx, SA_EV_CHROOT, ctx->ret == 0); }

/* A child that has not exec'd (it runs sshd's code) starting a session of its own is the shell of
 * a session its parent serves: if the parent is a monitor, the monitor has become the session's
 * process (a root login on OpenSSH <= 9.7) and from now on writes the client's data. sshd forks a
 * session's processes only after authentication, so the monitor has logged its Accepted line by then,
 * and there is no later attempt in that connection. A child that execs first (PAM's helpers,
 * sshd-auth) never counts; the pre-authentication child and the post-auth child never call setsid. */
static __always_inline void note_session_server(struct task_struct *parent)
{
    u32 ptgid = BPF_CORE_READ(parent, tgid);
    struct sa_tracked_proc *pp = tracked_entry(parent, ptgid);
    if (pp && (pp->flags & SA_PROC_MONITOR))
        __sync_fetch_and_or(&pp->flags, SA_PROC_SESSION);
}

SEC("tracepoint/syscalls/sys_exit_setsid")
int on_setsid(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret < 0)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct sa_tracked_proc *tp = tracked_entry(task, tgid);
    if (!tp)
        return 0;
    if (!(tp->flags & SA_PROC_EXECED))
        note_session_server(BPF_CORE_READ(task, real_parent));
    struct sa_header ev = {};
    fill_header(&ev, SA_EV_SETSID, task);
    emit(&ev, sizeof(ev));
    return 0;
}

static __always_inline bool is_syslog_socket(struct file *file)
{
    struct socket *sock = BPF_CORE_READ(file, private_data);
    if (!sock || BPF_CORE_READ(sock, type) != SOCK_DGRAM)
        return false;
    return BPF_CORE_READ(sock, sk, __sk_common.skc_family) == AF_UNIX;
}

/* sshd's log lines carry what the process tree cannot: method, key fingerprint, the user name as
 * typed, failed attempts. Only listeners' and monitors' writes are looked at, and only on sshd's log
 * channels (see events.h); user space keeps what it recognises and stores no line. */
static __always_inline int capture_log(u32 fd, const char *buf, u64 count, bool is_write)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct sa_tracked_proc *p = bpf_map_lookup_elem(&tracked, &tgid);
    if (!p || !(p->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR)) || (p->flags & SA_PROC_SESSION) || count == 0)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    if (p->start_ns != 0 && p->start_ns != process_start(task))
        return 0;

    struct file *file = file_of(task, fd);
    if (!file)
        return 0;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    u32 mode = BPF_CORE_READ(inode, i_mode) & S_IFMT;
    u32 source;
    if (is_write && fd == 2 && logs_to_stderr(p, task, tgid)) {
        source = SA_LOG_STDERR;
    } else if (is_write && mode == S_IFREG) {
        struct sa_file_id id = file_id(inode);
        if (!bpf_map_lookup_elem(&log_files, &id))
            return 0;
        source = SA_LOG_FILE;
    } else if (mode == S_IFSOCK && is_syslog_socket(file)) {
        char first = 0;
        bpf_probe_read_user(&first, 1, buf);
        if (first != '<')
            return 0;
        source = SA_LOG_SYSLOG;
    } else {
        return 0;
    }

    u64 wakeup = wakeup_flags(sizeof(struct sa_log));  /* before the reservation counts as waiting data */
    struct sa_log *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
    if (!ev) {
        count_loss(SA_LOSS_RING);
        return 0;
    }
    fill_header(&ev->h, SA_EV_LOG, task);
    u64 len = count > SA_LOG_MAX ? SA_LOG_MAX : count;
    if (bpf_probe_read_user(ev->data, len, buf) != 0)
        len = 0;
    ev->len = len;
    ev->source = source;
    bpf_ringbuf_submit(ev, wakeup);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int on_write(struct syscall_enter_ctx *ctx)
{
    return capture_log(ctx->args[0], (const char *)ctx->args[1], ctx->args[2], true);
}

int sa_report_send(u32 fd, u64 uaddr, u32 addrlen, u32 msg_flags);  /* net.bpf.h */

SEC("tracepoint/syscalls/sys_enter_sendto")
int on_sendto(struct syscall_enter_ctx *ctx)
{
    /* Every sendto() on the machine runs this, and both uses below are a followed process's: one
     * lookup first, where each would miss again on its own (a datagram sent to an address: twice). */
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!bpf_map_lookup_elem(&tracked, &tgid))
        return 0;
    if (ctx->args[4])  /* an address given: a session's datagram (net.bpf.h) */
        sa_report_send(ctx->args[0], ctx->args[4], ctx->args[5], ctx->args[3]);
    return capture_log(ctx->args[0], (const char *)ctx->args[1], ctx->args[2], false);
}

#include "files.bpf.h"
#include "uring.bpf.h"  /* io_uring: after the file helpers it uses */
#include "compat.bpf.h"  /* the 32-bit system call interface */

/* File transfers: what sftp-server, scp and rsync open, and how far they read or wrote it; also sshd's
 * own children that never exec'd: the user-privileged child serves internal-sftp itself (user space
 * keeps only that one's, by its role). */
static __always_inline bool serves_transfers(struct sa_tracked_proc *p, struct task_struct *task)
{
    if (p->flags & SA_PROC_TRANSFER)
        return true;
    if (p->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR | SA_PROC_EXECED))
        return false;
    return comm_is_sshd_prefix(task);
}

static __always_inline struct task_struct *transfer_current(void)
{
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    return task && serves_transfers(p, task) ? task : NULL;
}

/* The registers saved at syscall entry (x86_64 kernel names; CO-RE ignores the ___x86 suffix). */
struct pt_regs___x86 { unsigned long di; unsigned long si; unsigned long dx; } __attribute__((preserve_access_index));

/* openat's arguments are read at exit from the registers saved at syscall entry rather than by a
 * sys_enter_openat hook: every hooked syscall costs every process on the machine the tracepoint's
 * dispatch on each call, and openat is among the most frequent calls. */
SEC("tracepoint/syscalls/sys_exit_openat")
int on_openat_exit(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret < 0)
        return 0;
    /* One lookup for both uses: a session's file activity (files.bpf.h) and transfer servers. */
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = (struct pt_regs___x86 *)bpf_task_pt_regs(task);
    if (!regs)
        return 0;
    /* openat(dfd, path, flags, mode): rdi, rsi, rdx. The dynamic loader's and libc's own opens
     * (libraries, passwd) are close-on-exec; the files a transfer server is asked for are not. */
    u32 open_flags = regs->dx;
    file_opened(task, p, ctx->ret, open_flags);
    if (!(open_flags & 02000000 /* O_CLOEXEC */) && serves_transfers(p, task))
        file_transfer_opened(task, ctx->ret, open_flags);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int on_close(struct syscall_enter_ctx *ctx)
{
    struct task_struct *task = transfer_current();
    if (!task)
        return 0;
    u32 fd = ctx->args[0];
    struct file *file = file_of(task, fd);
    if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFREG)
        return 0;
    struct sa_file_close ev = {};
    fill_header(&ev.h, SA_EV_FILE_CLOSE, task);
    ev.fd = fd;
    ev.position = BPF_CORE_READ(file, f_pos);
    ev.size = BPF_CORE_READ(file, f_inode, i_size);
    emit(&ev, sizeof(ev));
    return 0;
}

/* Forwarding: sshd's session processes (not listeners or monitors) connecting (-L, -D) or binding
 * (-R, agent socket). The users' own programs are not looked at. */
static __always_inline int on_socket_call(struct task_struct *task, u32 op, u32 fd, const void *uaddr, u32 addrlen)
{
    if (!comm_is_sshd_prefix(task))
        return 0;
    /* Stream sockets only: glibc's getaddrinfo connects UDP sockets just to sort addresses. */
    struct file *file = file_of(task, fd);
    struct socket *sock = file ? BPF_CORE_READ(file, private_data) : NULL;
    if (!sock || BPF_CORE_READ(sock, type) != 1 /* SOCK_STREAM */)
        return 0;
    struct sa_socket ev = {};
    fill_header(&ev.h, SA_EV_SOCKET, task);
    ev.op = op;
    bpf_probe_read_user(&ev.family, 2, uaddr);
    if (ev.family == AF_INET) {
        u16 port = 0;
        bpf_probe_read_user(&port, 2, (char *)uaddr + 2);
        ev.port = __builtin_bswap16(port);
        bpf_probe_read_user(ev.addr, 4, (char *)uaddr + 4);
    } else if (ev.family == AF_INET6) {
        u16 port = 0;
        bpf_probe_read_user(&port, 2, (char *)uaddr + 2);
        ev.port = __builtin_bswap16(port);
        bpf_probe_read_user(ev.addr, 16, (char *)uaddr + 8);
    } else if (ev.family == 1 /* AF_UNIX */) {
        bpf_probe_read_user_str(ev.unix_path, sizeof(ev.unix_path), (char *)uaddr + 2);
    } else {
        return 0;
    }
    emit(&ev, sizeof(ev));
    return 0;
}

/* connect and bind are hooked at their exit, in net.bpf.h: one program each serves forwarding (above)
 * and the network activity of a session's processes. */
#include "net.bpf.h"
