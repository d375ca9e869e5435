/* Terminal recording (record --tty output|all): what a session's sshd read from the session's pty
 * master, or from its command's stdout and stderr pipes when it has no pty, is exactly what it sends
 * the client (encrypted) on the connection; what it writes there is the client's input.
 *
 * Who: the process that serves the session's channels, which reads the pty master and the pipes:
 * sshd's post-authentication child (a monitor's child that has not exec'd: SA_PROC_TTY, set at fork),
 * or, for a root login on OpenSSH <= 9.7, the monitor itself once it became the session's process
 * (SA_PROC_SESSION). Its other descriptors (the TCP socket, the monitor's socketpair, forwarded
 * sockets, the agent socket) are never read.
 *
 * Which descriptors: a pty master is a character device 5:2 (/dev/ptmx, /dev/pts/ptmx); pipes only
 * when they are the ones its command was started with: at the first exec of its child (the shell),
 * the inodes of the child's fds 0, 1 and 2 are noted in tty_pipes, and only those pipes are read
 * (stdout and stderr told apart by inode). A session whose command is a transfer server (sftp-server,
 * scp, rsync, SA_PROC_TRANSFER) has its pipes excluded: those bytes are file transfers.
 *
 * Cost: these programs are attached only when recording is asked for. A process not in `tracked`
 * returns after one lookup; the read hook takes its arguments from the registers saved at entry, so
 * read() costs one tracepoint, not two.
 */

#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define TTY_PTMX_RDEV ((5u << 20) | 2u)  /* dev_t of /dev/ptmx as the kernel encodes it */
#define TTY_TIOCSWINSZ 0x5414

struct inode___tty { unsigned int i_rdev; } __attribute__((preserve_access_index));
struct pt_regs___tty { unsigned long di; unsigned long si; unsigned long dx; } __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_tty_config);
} tty_config SEC(".maps");

/* The pipes a session process started its command with (key: its tgid). Entries go at its exit. */
struct tty_pipes_val {
    u32 child;     /* the command's tgid: only its later execs change `transfer` */
    u32 transfer;  /* its command is a transfer server: nothing of these pipes is recorded */
    u64 in, out, err;
};
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, u32);
    __type(value, struct tty_pipes_val);
} tty_pipes SEC(".maps");

/* Bytes sent per session process (key: its tgid; entries go at its exit): past tty_config.max_bytes
 * nothing more enters the ring buffer, so a session flooding its terminal uses at most the cap of the
 * ring that every session's events share. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, u32);
    __type(value, u64);
} tty_budget SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_tty);
} tty_scratch SEC(".maps");

static __always_inline bool tty_serves_session(u32 flags)
{
    return (flags & SA_PROC_SESSION) || ((flags & SA_PROC_TTY) && !(flags & SA_PROC_EXECED));
}

/* At fork: a monitor's child may become the session's process. */
static __always_inline u32 tty_child_flags(u32 parent_flags)
{
    return (parent_flags & SA_PROC_MONITOR) ? SA_PROC_TTY : 0;
}

static __always_inline u64 tty_pipe_ino(struct task_struct *task, u32 fd)
{
    struct file *file = file_of(task, fd);
    if (!file)
        return 0;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFIFO)
        return 0;
    return BPF_CORE_READ(inode, i_ino);
}

/* At each exec of a tracked process: if its parent serves a session, its first command's pipes are
 * the session's streams; a later exec of that command into a transfer server excludes them. */
static __always_inline void tty_note_exec(struct task_struct *task, u32 tgid, u32 role)
{
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    u32 ptgid = BPF_CORE_READ(parent, tgid);
    struct sa_tracked_proc *pp = tracked_entry(parent, ptgid);
    if (!pp || !tty_serves_session(pp->flags))
        return;
    struct tty_pipes_val *old = bpf_map_lookup_elem(&tty_pipes, &ptgid);
    if (old) {
        if (old->child == tgid && (role & SA_PROC_TRANSFER))
            old->transfer = 1;
        return;
    }
    struct tty_pipes_val v = {};
    v.child = tgid;
    v.transfer = (role & SA_PROC_TRANSFER) ? 1 : 0;
    v.in = tty_pipe_ino(task, 0);
    v.out = tty_pipe_ino(task, 1);
    v.err = tty_pipe_ino(task, 2);
    if (!v.in && !v.out && !v.err)
        return;  /* a pty session: the master is recognised by its device */
    if (bpf_map_update_elem(&tty_pipes, &ptgid, &v, BPF_NOEXIST) != 0)
        count_loss(SA_LOSS_TTY);
}

static __always_inline void tty_forget(u32 tgid)
{
    bpf_map_delete_elem(&tty_pipes, &tgid);
    bpf_map_delete_elem(&tty_budget, &tgid);
}

static __always_inline struct sa_tty_config *tty_settings(void)
{
    u32 zero = 0;
    return bpf_map_lookup_elem(&tty_config, &zero);
}

static __always_inline u32 tty_mode(void)
{
    struct sa_tty_config *c = tty_settings();
    return c ? c->mode : 0;
}

/* How many of n bytes the session process may still send (0 once capped); `capped` when this call
 * reaches the cap. */
static __always_inline u64 tty_take_budget(u32 tgid, u64 n, bool *capped)
{
    struct sa_tty_config *c = tty_settings();
    if (!c)
        return 0;
    u64 *used = bpf_map_lookup_elem(&tty_budget, &tgid);
    if (!used) {
        u64 zero = 0;
        bpf_map_update_elem(&tty_budget, &tgid, &zero, BPF_NOEXIST);
        used = bpf_map_lookup_elem(&tty_budget, &tgid);
        if (!used) {
            count_loss(SA_LOSS_TTY);  /* the map is full: not recorded, and counted */
            return 0;
        }
    }
    u64 before = __sync_fetch_and_add(used, n);
    if (before > c->max_bytes)
        return 0;
    if (before == c->max_bytes) {
        *capped = true;  /* the first call past a cap reached exactly: say so, with no bytes */
        return 0;
    }
    if (before + n > c->max_bytes) {
        *capped = true;
        return c->max_bytes - before;
    }
    return n;
}

/* The session process calling now, or NULL. */
static __always_inline struct task_struct *tty_current(void)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct sa_tracked_proc *p = bpf_map_lookup_elem(&tracked, &tgid);
    if (!p || !tty_serves_session(p->flags))
        return NULL;
    struct task_struct *task = bpf_get_current_task_btf();
    if (p->start_ns != 0 && p->start_ns != process_start(task))
        return NULL;
    return task;
}

/* Which stream `fd` of the session process carries, 0 if none to record. */
static __always_inline u32 tty_stream(struct task_struct *task, u32 tgid, u32 fd, bool is_write)
{
    struct file *file = file_of(task, fd);
    if (!file)
        return 0;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    u32 mode = BPF_CORE_READ(inode, i_mode) & S_IFMT;
    if (mode == S_IFCHR) {
        if (BPF_CORE_READ((struct inode___tty *)inode, i_rdev) != TTY_PTMX_RDEV)
            return 0;
        return is_write ? SA_TTY_INPUT : SA_TTY_OUTPUT;
    }
    if (mode != S_IFIFO)
        return 0;
    struct tty_pipes_val *pipes = bpf_map_lookup_elem(&tty_pipes, &tgid);
    if (!pipes || pipes->transfer)
        return 0;
    u64 ino = BPF_CORE_READ(inode, i_ino);
    if (is_write)
        return ino == pipes->in ? SA_TTY_INPUT : 0;
    if (ino == pipes->out)
        return SA_TTY_STDOUT;
    if (ino == pipes->err)
        return SA_TTY_STDERR;
    return 0;
}

/* n bytes at buf, in records of at most SA_TTY_DATA_MAX bytes, in order. */
static __always_inline void tty_emit(struct task_struct *task, u32 fd, u32 stream, u64 buf, u64 n)
{
    u32 zero = 0;
    struct sa_tty *ev = bpf_map_lookup_elem(&tty_scratch, &zero);
    if (!ev)
        return;
    fill_header(&ev->h, SA_EV_TTY, task);
    ev->stream = stream;
    ev->fd = fd;
    ev->flags = 0;
    ev->_pad = 0;
    bool capped = false;
    u64 want = n;
    n = tty_take_budget(ev->h.tgid, n, &capped);
    if (n == 0 && want > 0 && !capped)
        return;  /* capped before: the capped record went already */
    if (capped)
        ev->flags |= SA_TTY_FLAG_CAPPED;
    if (n > SA_TTY_READ_MAX) {
        n = SA_TTY_READ_MAX;
        ev->flags = SA_TTY_FLAG_CUT;
        count_loss(SA_LOSS_TTY);
    }
    for (int i = 0; i < SA_TTY_READ_MAX / SA_TTY_DATA_MAX; i++) {
        u64 off = (u64)i * SA_TTY_DATA_MAX;
        if (off >= n && !(i == 0 && capped))  /* a capped call with no room left still says so */
            break;
        u64 len = n - off;
        if (len > SA_TTY_DATA_MAX)
            len = SA_TTY_DATA_MAX;
        len &= (SA_TTY_DATA_MAX << 1) - 1;  /* for the verifier: bounded */
        if (len > SA_TTY_DATA_MAX)
            break;
        if (bpf_probe_read_user(ev->data, len, (void *)(buf + off)) != 0) {
            ev->flags |= SA_TTY_FLAG_CUT;
            count_loss(SA_LOSS_TTY);
            len = 0;
        }
        ev->len = len;
        u64 size = __builtin_offsetof(struct sa_tty, data) + len;
        if (bpf_ringbuf_output(&events, ev, size, wakeup_flags(size)) != 0) {
            count_loss(SA_LOSS_RING);
            count_loss(SA_LOSS_TTY);
        }
        if (len == 0)
            break;
    }
}

static __always_inline int tty_transfer(struct syscall_exit_ctx *ctx, bool is_write)
{
    if (ctx->ret <= 0)
        return 0;
    struct task_struct *task = tty_current();
    if (!task)
        return 0;
    u32 mode = tty_mode();
    if (mode == 0 || (is_write && mode != SA_TTY_MODE_ALL))
        return 0;
    struct pt_regs___tty *regs = (struct pt_regs___tty *)bpf_task_pt_regs(task);
    if (!regs)
        return 0;
    u32 fd = regs->di;
    u64 buf = regs->si;
    u32 tgid = task->tgid;
    u32 stream = tty_stream(task, tgid, fd, is_write);
    if (stream)
        tty_emit(task, fd, stream, buf, ctx->ret);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int tty_read_exit(struct syscall_exit_ctx *ctx) { return tty_transfer(ctx, false); }

/* Attached with record --tty all only. */
SEC("tracepoint/syscalls/sys_exit_write")
int tty_input_write_exit(struct syscall_exit_ctx *ctx) { return tty_transfer(ctx, true); }

/* sshd sets the pty's size at allocation and on each window-change request from the client. */
SEC("tracepoint/syscalls/sys_enter_ioctl")
int tty_ioctl(struct syscall_enter_ctx *ctx)
{
    if ((u32)ctx->args[1] != TTY_TIOCSWINSZ)
        return 0;
    struct task_struct *task = tty_current();
    if (!task || tty_mode() == 0)
        return 0;
    u16 ws[2] = {};  /* struct winsize: ws_row, ws_col */
    if (bpf_probe_read_user(ws, sizeof(ws), (void *)ctx->args[2]) != 0)
        return 0;
    struct sa_tty_winsize ev = {};
    fill_header(&ev.h, SA_EV_TTY_WINSIZE, task);
    ev.rows = ws[0];
    ev.cols = ws[1];
    if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flags(sizeof(ev))) != 0) {
        count_loss(SA_LOSS_RING);
        count_loss(SA_LOSS_TTY);
    }
    return 0;
}
