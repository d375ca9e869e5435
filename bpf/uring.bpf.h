/* io_uring: what a session's processes submit through a ring (bpf/events.h, SA_EV_URING).
 * (open_by_handle_at, another way around the file hooks by name, is one of files.bpf.h's opens.)
 *
 * Requests on a ring never pass the syscall tracepoints the file and network records come from, so
 * they are counted here, per ring and opcode, and reported once, at the exit of the process that owns
 * the ring: a flood of requests costs a map lookup and an add each, never a record. Only rings a
 * session's process created are in `uring_rings`: a process outside any session pays one lookup in
 * `tracked` when it creates a ring, and per request one load of `sa_uring_followed` (and, only while a
 * session's ring is followed, one lookup in `uring_rings`). The three programs are session hooks
 * (BPFTracer.sessionHookPrograms): attached only while a session is open, so that with none open a
 * request pays not even the tracepoint's dispatch.
 *
 * The submit tracepoint is io_uring_submit_req on recent kernels and io_uring_submit_sqe on 6.1: both
 * are defined, the loader loads the one the running kernel has (BPFTracer.swift), and none when the
 * kernel has no io_uring.
 */

struct io_ring_ctx;
struct bpf_map;
struct io_kiocb { struct io_ring_ctx *ctx; u8 opcode; } __CORE;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SA_URING_MAX);
    __type(key, u64);  /* struct io_ring_ctx address */
    __type(value, struct sa_uring_ring);
} uring_rings SEC(".maps");

/* How many rings `uring_rings` holds. While none (no session has created a ring since the programs
 * were loaded, or the rings left were dropped), a request anywhere on the machine costs one load
 * from this global, not a hash lookup. It lives as long as the programs do, pinned with them. */
u64 sa_uring_followed = 0;

/* The record is larger than what the BPF stack leaves the exit handler. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_uring);
} uring_scratch SEC(".maps");

/* The ring's name in records: its address, hidden behind the per-load secret. */
static __always_inline u64 uring_id(u64 ctx)
{
    u32 zero = 0;
    struct sa_config *c = bpf_map_lookup_elem(&config, &zero);
    return ctx ^ (c ? c->seen_secret : 0);
}

/* The ring's counts as a record of its owner (`task`, or the owner the entry names when that is
 * another process). */
static __always_inline void uring_report(struct task_struct *task, u64 ctx, struct sa_uring_ring *ring, u32 flags)
{
    u32 zero = 0;
    struct sa_uring *rec = bpf_map_lookup_elem(&uring_scratch, &zero);
    if (!rec)
        return;
    fill_header(&rec->h, SA_EV_URING, task);
    if (ring->owner != 0 && ring->owner != rec->h.tgid) {
        rec->h.tgid = ring->owner;
        rec->h.start_ns = ring->owner_start;
    }
    rec->ring = uring_id(ctx);
    rec->setup_flags = ring->setup_flags;
    rec->flags = flags;
    __builtin_memcpy(rec->counts, ring->counts, sizeof(rec->counts));
    emit(rec, sizeof(*rec));
}

static bool uring_has_counts(struct sa_uring_ring *ring)
{
    for (int i = 0; i < SA_URING_OPS; i++)
        if (ring->counts[i] != 0)
            return true;
    return false;
}

static long uring_drop_orphan(struct bpf_map *map, u64 *key, struct sa_uring_ring *ring, void *unused)
{
    if (ring->owner == 0 && bpf_map_delete_elem(map, key) == 0)
        __sync_fetch_and_sub(&sa_uring_followed, 1);
    return 0;
}

SEC("tp_btf/io_uring_create")
int BPF_PROG(uring_create, int fd, void *ring_ctx, u32 sq_entries, u32 cq_entries, u32 flags)
{
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    u64 key = (u64)ring_ctx;
    /* An entry under this address is a ring freed since (its memory is the new ring's): what it
     * counted and did not report yet is reported now, for its owner. */
    struct sa_uring_ring *old = bpf_map_lookup_elem(&uring_rings, &key);
    if (old && old->owner != 0 && uring_has_counts(old))
        uring_report(task, key, old, 0);
    struct sa_uring_ring ring = { .owner_start = task->group_leader->start_boottime, .owner = task->tgid,
                                  .setup_flags = flags };
    long err = bpf_map_update_elem(&uring_rings, &key, &ring, BPF_ANY);
    if (err != 0) {
        /* Full: the rings whose owners exited (kept in case another process still submits on them)
         * make room. */
        bpf_for_each_map_elem(&uring_rings, uring_drop_orphan, NULL, 0);
        err = bpf_map_update_elem(&uring_rings, &key, &ring, BPF_ANY);
    }
    if (err == 0 && !old)
        __sync_fetch_and_add(&sa_uring_followed, 1);
    if (err != 0) {
        /* Not counted, but never unseen: the ring is reported now. */
        count_loss(SA_LOSS_MAP);
        uring_report(task, key, &ring, SA_URING_NOT_COUNTED);
        return 0;
    }
    __sync_fetch_and_or(&p->flags, SA_PROC_URING);
    return 0;
}

/* A request submitted by another process than the ring's owner (the ring inherited at fork, or its
 * descriptor passed on): if that process is a session's, it owns the ring from now on, so that the
 * counts are reported at its exit and not lost at the first owner's. */
static __always_inline void uring_adopt(struct sa_uring_ring *ring, u32 tgid)
{
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return;
    __sync_fetch_and_or(&p->flags, SA_PROC_URING);
    ring->owner_start = task->group_leader->start_boottime;
    ring->owner = tgid;
}

static __always_inline void uring_submitted(struct io_kiocb *req)
{
    if (sa_uring_followed == 0)
        return;
    u64 key = (u64)req->ctx;
    struct sa_uring_ring *ring = bpf_map_lookup_elem(&uring_rings, &key);
    if (!ring)
        return;
    u32 op = req->opcode;
    if (op >= SA_URING_OPS - 1)
        op = SA_URING_OPS - 1;
    if (ring->counts[op] != 0xffffffffu)
        __sync_fetch_and_add(&ring->counts[op], 1);
    /* The SQPOLL and worker threads are threads of the ring's creator: the same tgid. */
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (tgid != ring->owner)
        uring_adopt(ring, tgid);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit_req, struct io_kiocb *req)
{
    uring_submitted(req);
    return 0;
}

SEC("tp_btf/io_uring_submit_sqe")
int BPF_PROG(uring_submit_sqe, struct io_kiocb *req, bool force_nonblock)
{
    uring_submitted(req);
    return 0;
}

struct uring_exit_ctx {
    struct task_struct *task;
    u64 start;
    u32 tgid;
};

/* A ring may outlive its owner (inherited at fork, its descriptor passed on): it is reported, its
 * counts start again from zero, and it stays, without owner, for the next session process that
 * submits on it; such orphans are dropped when a new ring finds the map full. */
static long uring_flush_one(struct bpf_map *map, u64 *key, struct sa_uring_ring *ring, struct uring_exit_ctx *c)
{
    if (ring->owner != c->tgid || ring->owner_start != c->start)
        return 0;
    uring_report(c->task, *key, ring, 0);
    __builtin_memset(ring->counts, 0, sizeof(ring->counts));
    ring->owner = 0;
    ring->owner_start = 0;
    return 0;
}

/* The process exits (its last thread, from on_exit): each ring it owns is reported. */
static __always_inline void uring_exit(struct task_struct *task, u32 tgid, struct sa_tracked_proc *tp)
{
    if (!(tp->flags & SA_PROC_URING))
        return;
    struct uring_exit_ctx c = { .task = task, .start = process_start(task), .tgid = tgid };
    bpf_for_each_map_elem(&uring_rings, uring_flush_one, &c, 0);
}
