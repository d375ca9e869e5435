/* The 32-bit system call interface: calls through int $0x80 (which a 64-bit program may use too),
 * sysenter, or a 32-bit program. The tracepoints of each call (syscalls:sys_exit_openat …) ignore
 * them, so without this a session's process could create, rename or connect unseen by the file and
 * network hooks. raw_syscalls:sys_enter sees every call: for a call that is not a 32-bit one (every
 * call on almost every machine) it costs one load of the task's status; a session's process that
 * makes such calls has them counted by i386 number, reported once at its exit (on_exit) as
 * SA_EV_COMPAT. Counted, not itemised: which file or address is not recorded.
 *
 * Included by sshaudit.bpf.c after the shared helpers. */

#define TS_COMPAT 0x0002  /* x86: thread_info.status during a 32-bit call */
/* x86: an x32 call's number carries this bit (a kernel built with CONFIG_X86_X32_ABI, x32 enabled):
 * the per-call tracepoints skip those calls too. Counted as 32-bit calls, in the last count ("other"). */
#define X32_SYSCALL_BIT 0x40000000

struct thread_info___compat { u32 status; } __CORE;
struct task_struct___compat { struct thread_info___compat thread_info; } __CORE;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SA_COMPAT_MAX);
    __type(key, u32);  /* tgid */
    __type(value, struct sa_compat);
} compat_calls SEC(".maps");

/* A fresh entry's value (never written). */
struct sa_compat sa_compat_zero = {};

/* The report of a process the map had no room for (too large for the BPF stack). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_compat);
} compat_scratch SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(on_compat_enter, struct pt_regs *regs, long id)
{
    struct task_struct___compat *now = (struct task_struct___compat *)bpf_get_current_task_btf();
    if (!(now->thread_info.status & TS_COMPAT) && !(id & X32_SYSCALL_BIT))
        return 0;
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    u32 tgid = task->tgid;
    u64 start = task->group_leader->start_boottime;
    u32 i = (u64)id < SA_COMPAT_OPS - 1 ? (u32)id : SA_COMPAT_OPS - 1;
    struct sa_compat *c = bpf_map_lookup_elem(&compat_calls, &tgid);
    if (c && c->h.start_ns != 0 && c->h.start_ns != start) {
        /* Another process's under a recycled pid, never reported: not this one's. */
        bpf_map_delete_elem(&compat_calls, &tgid);
        c = NULL;
    }
    if (!c) {
        /* Another thread may create it meanwhile: either's entry will do. */
        bpf_map_update_elem(&compat_calls, &tgid, &sa_compat_zero, BPF_NOEXIST);
        c = bpf_map_lookup_elem(&compat_calls, &tgid);
        u32 before = __sync_fetch_and_or(&p->flags, SA_PROC_COMPAT);
        if (!c) {
            /* No room: not counted, but never unseen. Reported at its first call, counted there. */
            if (before & SA_PROC_COMPAT)
                return 0;
            count_loss(SA_LOSS_MAP);
            u32 zero = 0;
            struct sa_compat *rec = bpf_map_lookup_elem(&compat_scratch, &zero);
            if (!rec)
                return 0;
            bpf_probe_read_kernel(rec->counts, sizeof(rec->counts), sa_compat_zero.counts);  /* zeroed */
            fill_header(&rec->h, SA_EV_COMPAT, task);
            rec->flags = SA_COMPAT_NOT_COUNTED;
            rec->counts[i & (SA_COMPAT_OPS - 1)] = 1;
            emit(rec, sizeof(*rec));
            return 0;
        }
        c->h.tgid = tgid;
        c->h.start_ns = start;
    }
    if (c->counts[i & (SA_COMPAT_OPS - 1)] != 0xffffffffu)
        __sync_fetch_and_add(&c->counts[i & (SA_COMPAT_OPS - 1)], 1);
    return 0;
}

/* The process exits (from on_exit): its 32-bit calls are reported. */
static __always_inline void compat_exit(struct task_struct *task, u32 tgid, struct sa_tracked_proc *tp)
{
    if (!(tp->flags & SA_PROC_COMPAT))
        return;
    struct sa_compat *c = bpf_map_lookup_elem(&compat_calls, &tgid);
    if (!c || c->h.start_ns != process_start(task))
        return;
    fill_header(&c->h, SA_EV_COMPAT, task);
    c->flags = 0;
    emit(c, sizeof(*c));
    bpf_map_delete_elem(&compat_calls, &tgid);
}
