// SPDX-License-Identifier: GPL-2.0
/* Kernel side of sshaudit: follow sshd listeners and every descendant, and report the few things
 * that place a process in an SSH session (fork, exec, exit, accept, uid changes, chroot, setsid).
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
#define AF_INET 2
#define AF_INET6 10
#define MAX_TRACKED 65536

/* The listener binary's comm. OpenSSH 9.8+ re-execs sshd-session / sshd-auth for each connection,
 * but those only ever run under a listener, which is followed with all its descendants. */
#define SSHD_COMM "sshd"

struct tracked_proc {
    u64 start_ns;  /* start_boottime: a recycled pid with another start time is not tracked */
    u32 flags;     /* SA_PROC_* */
    u32 _pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_TRACKED);
    __type(key, u32);  /* tgid */
    __type(value, struct tracked_proc);
} tracked SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* Loss counters, per CPU: [0] ring buffer full, [1] tracked map full. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
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

static __always_inline struct tracked_proc *tracked_entry(struct task_struct *task, u32 tgid)
{
    struct tracked_proc *p = bpf_map_lookup_elem(&tracked, &tgid);
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
    struct tracked_proc p = { .start_ns = start_ns, .flags = flags };
    if (bpf_map_update_elem(&tracked, &tgid, &p, BPF_ANY) != 0)
        count_loss(1);
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

static __always_inline void emit(void *rec, u64 size)
{
    if (bpf_ringbuf_output(&events, rec, size, 0) != 0)
        count_loss(0);
}

static __always_inline bool comm_is_sshd(struct task_struct *task)
{
    char comm[16] = {};
    BPF_CORE_READ_STR_INTO(&comm, task, comm);
    const char want[] = SSHD_COMM;
#pragma unroll
    for (int i = 0; i < sizeof(want); i++)  /* includes the NUL: an exact match */
        if (comm[i] != want[i])
            return false;
    return true;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
    u32 ptgid = BPF_CORE_READ(parent, tgid);
    struct tracked_proc *tp = tracked_entry(parent, ptgid);
    if (!tp)
        return 0;
    /* A listener's child is a connection's monitor; roles are not inherited further. */
    u32 child_flags = (tp->flags & SA_PROC_LISTENER) ? SA_PROC_MONITOR : 0;
    /* A new thread shares the process: only new processes matter. */
    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
        return 0;
    struct sa_fork ev = {};
    fill_header(&ev.h, SA_EV_FORK, parent);
    ev.child_tgid = BPF_CORE_READ(child, tgid);
    ev.child_start_ns = BPF_CORE_READ(child, start_boottime);
    track(ev.child_tgid, ev.child_start_ns, child_flags);
    emit(&ev, sizeof(ev));
    return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    u32 tgid = BPF_CORE_READ(task, tgid);
    u32 flags = 0;
    if (!is_tracked(task, tgid)) {
        if (!comm_is_sshd(task))
            return 0;
        /* An sshd binary started outside any tracked tree: a new listener (or sshd -t, -V: harmless). */
        track(tgid, process_start(task), SA_PROC_LISTENER);
        flags |= SA_EXEC_NEW_ROOT;
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
    ev->flags = flags;

    u64 size = __builtin_offsetof(struct sa_exec, argv) + len;
    if (size > sizeof(*ev))
        size = sizeof(*ev);
    emit(ev, size);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
    /* Fires per thread: only the last thread's exit ends the process. */
    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0;
    u32 tgid = BPF_CORE_READ(task, tgid);
    if (!is_tracked(task, tgid))
        return 0;
    struct sa_exit ev = {};
    fill_header(&ev.h, SA_EV_EXIT, task);
    ev.exit_code = BPF_CORE_READ(task, exit_code);
    bpf_map_delete_elem(&tracked, &tgid);
    emit(&ev, sizeof(ev));
    return 0;
}

static __always_inline struct task_struct *tracked_current(void)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    return is_tracked(task, tgid) ? task : NULL;
}

static __always_inline int on_accept_exit(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret < 0)
        return 0;
    struct task_struct *task = tracked_current();
    if (!task)
        return 0;
    /* Addresses come from the socket itself, not from the caller's buffer (which may be NULL). */
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *file = NULL;
    bpf_probe_read_kernel(&file, sizeof(file), &fds[ctx->ret & 0xfffff]);
    if (!file)
        return 0;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    struct sock *sk = BPF_CORE_READ(sock, sk);
    if (!sk)
        return 0;
    struct sa_accept ev = {};
    fill_header(&ev.h, SA_EV_ACCEPT, task);
    ev.fd = ctx->ret;
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
        return 0;  /* a unix socket: not a client connection */
    }
    emit(&ev, sizeof(ev));
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept(struct syscall_exit_ctx *ctx) { return on_accept_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_accept4(struct syscall_exit_ctx *ctx) { return on_accept_exit(ctx); }

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

SEC("tracepoint/syscalls/sys_exit_setsid")
int on_setsid(struct syscall_exit_ctx *ctx) { return emit_header_only(ctx, SA_EV_SETSID, ctx->ret >= 0); }

/* sshd's log lines carry what the process tree cannot: method, key fingerprint, the user name as
 * typed, failed attempts. Only listeners' and monitors' writes are looked at, and only those that are
 * log output by construction (see events.h); user space keeps what it recognises and stores no line. */
static __always_inline int capture_log(u32 fd, const char *buf, u64 count, bool is_write)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct tracked_proc *p = bpf_map_lookup_elem(&tracked, &tgid);
    if (!p || !(p->flags & (SA_PROC_LISTENER | SA_PROC_MONITOR)) || count == 0)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    if (p->start_ns != 0 && p->start_ns != process_start(task))
        return 0;

    u32 source = 0;
    if (is_write) {
        struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
        struct file **fds = BPF_CORE_READ(fdt, fd);
        struct file *file = NULL;
        bpf_probe_read_kernel(&file, sizeof(file), &fds[fd & 0xfffff]);
        if (!file)
            return 0;
        if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) == S_IFREG)
            source = SA_LOG_FILE;
    }
    if (source == 0) {
        char first = 0;
        bpf_probe_read_user(&first, 1, buf);
        if (first != '<')
            return 0;
        source = SA_LOG_SYSLOG;
    }

    struct sa_log *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
    if (!ev) {
        count_loss(0);
        return 0;
    }
    fill_header(&ev->h, SA_EV_LOG, task);
    u64 len = count > SA_LOG_MAX ? SA_LOG_MAX : count;
    if (bpf_probe_read_user(ev->data, len, buf) != 0)
        len = 0;
    ev->len = len;
    ev->source = source;
    bpf_ringbuf_submit(ev, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int on_write(struct syscall_enter_ctx *ctx)
{
    return capture_log(ctx->args[0], (const char *)ctx->args[1], ctx->args[2], true);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int on_sendto(struct syscall_enter_ctx *ctx)
{
    return capture_log(ctx->args[0], (const char *)ctx->args[1], ctx->args[2], false);
}
