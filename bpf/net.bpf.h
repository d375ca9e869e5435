/* Network activity of a session's processes: connect, bind and listen as they returned, datagrams sent
 * to an address given with the call (sendto, sendmsg), and accepts on unix sockets (an IP socket's
 * accept is the SA_EV_ACCEPT record on_accept_exit writes for every tracked process).
 *
 * Included by sshaudit.bpf.c after the shared helpers and files.bpf.h. connect and bind are hooked at
 * their exit and have one program each (which also serves forwarding, on_socket_call), listen, rare,
 * one more. sendto shares its entry hook with the log capture (on_sendto); sendmsg has one of its own.
 * Each hooked syscall tracepoint costs every process on the machine its dispatch, so these programs
 * are session hooks (BPFTracer.sessionHookPrograms), attached only while a session is open; a
 * process outside every session then pays the `tracked` lookup and nothing else.
 *
 * Aggregated in the kernel like file activity (events.h: sa_net_seen): a loop connecting to, or
 * sending to, one endpoint is one record and a count, so that it cannot flood the ring buffer. */

#define SA_EINPROGRESS 115
#define SA_EALREADY 114
#define SA_EISCONN 106
#define SA_ENOENT 2

/* Fields read here only (CO-RE matches them by name; the ___net suffix is ignored). */
struct sockaddr_un___net { u16 sun_family; char sun_path[108]; } __CORE;
struct unix_address___net { int len; struct sockaddr_un___net name[1]; } __CORE;
struct unix_sock___net { struct unix_address___net *addr; struct sock *peer; } __CORE;

/* A session's process: session_process (sshaudit.bpf.c). */

/* A sun_path of `max` bytes (the address's length past sun_family: the kernel reads no further) into
 * ev->path: a path up to its first NUL, or an abstract name (a NUL byte, then exactly the rest, which
 * may hold NUL bytes too). path_len counts the leading NUL of an abstract name; the bytes after the
 * name are zero (they are part of the kernel's key, net_emit). False if the memory was unreadable.
 * The length comes from the string read's own count, not a loop over the bytes: the verifier walks
 * every exit of such a loop, which made each program using this a quarter second to load. */
static __always_inline bool read_sun_path(struct sa_net *ev, const char *src, long max, bool user)
{
    __builtin_memset(ev->path, 0, sizeof(ev->path));
    if (max <= 0)
        return true;  /* unnamed */
    u32 n = max > SA_NET_PATH_MAX ? SA_NET_PATH_MAX : (u32)max;
    /* A path: the bytes up to its NUL and that NUL (its count), nothing written beyond. */
    long got = user ? bpf_probe_read_user_str(ev->path, n, src) : bpf_probe_read_kernel_str(ev->path, n, src);
    if (got < 0)
        goto unreadable;
    if (got > 1 && (u32)got < n) {
        ev->path_len = (u32)got - 1;
        return true;
    }
    /* An abstract name (got 1: its leading NUL), or a path that fills all n bytes, with or without
     * a NUL in the last one (the string read stops one short): the n bytes as they are. */
    if ((user ? bpf_probe_read_user(ev->path, n, src) : bpf_probe_read_kernel(ev->path, n, src)) != 0)
        goto unreadable;
    u32 len = n, last = n - 1;
    if (ev->path[0] != 0 && last < SA_NET_PATH_MAX && ev->path[last] == 0)
        len = last;
    ev->path_len = len;
    return true;
unreadable:
    __builtin_memset(ev->path, 0, sizeof(ev->path));
    return false;
}

/* A unix socket's name as the kernel keeps it (what its bind gave): exactly len bytes. */
static __always_inline void read_unix_name(struct sa_net *ev, struct sock *sk)
{
    struct unix_address___net *ua = BPF_CORE_READ((struct unix_sock___net *)sk, addr);
    int len = ua ? BPF_CORE_READ(ua, len) : 0;
    if (len <= 2)  /* unnamed */
        return;
    u64 off = bpf_core_field_offset(struct unix_address___net, name) + 2;  /* past sun_family */
    if (!read_sun_path(ev, (char *)ua + off, len - 2, false))
        ev->flags |= SA_NET_UNREADABLE;
}

/* The caller's sockaddr: a connect the kernel refused (its socket keeps no peer), or a send's
 * destination. A send may name another family than the socket's where the kernel takes it so: an
 * IPv4 socket takes AF_UNSPEC as AF_INET, a dual-stack IPv6 socket an AF_INET address (recorded as
 * the IPv4-mapped IPv6 address). Memory the probe cannot read (a page not yet faulted in) leaves the
 * endpoint out, flagged SA_NET_UNREADABLE: the call is recorded, not where it went. */
static __always_inline bool read_user_addr(struct sa_net *ev, const void *uaddr, u32 addrlen, bool send)
{
    u16 family = 0;
    if (addrlen < 2 || addrlen > 4096)
        return false;
    if (bpf_probe_read_user(&family, 2, uaddr) != 0) {
        if (!send)
            return false;
        ev->flags |= SA_NET_FROM_USER | SA_NET_UNREADABLE;
        return true;
    }
    bool mapped = false;
    if (send && ev->family == AF_INET && family == 0 /* AF_UNSPEC */)
        family = AF_INET;
    if (send && ev->family == AF_INET6 && family == AF_INET)
        mapped = true;
    else if (family != ev->family)
        return false;
    u16 port = 0;
    long err = 0;
    if (family == AF_INET) {
        err |= bpf_probe_read_user(&port, 2, (char *)uaddr + 2);
        err |= bpf_probe_read_user(ev->addr + (mapped ? 12 : 0), 4, (char *)uaddr + 4);
        if (mapped) {
            ev->addr[10] = 0xff;
            ev->addr[11] = 0xff;
        }
    } else if (family == AF_INET6) {
        err |= bpf_probe_read_user(&port, 2, (char *)uaddr + 2);
        err |= bpf_probe_read_user(ev->addr, 16, (char *)uaddr + 8);
    } else if (!read_sun_path(ev, (const char *)uaddr + 2, (long)addrlen - 2, true)) {
        err = -1;
    }
    ev->flags |= SA_NET_FROM_USER;
    if (err != 0) {
        __builtin_memset(ev->addr, 0, sizeof(ev->addr));
        ev->flags |= SA_NET_UNREADABLE;
        return true;
    }
    ev->port = __builtin_bswap16(port);
    return true;
}

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_net_seen);
} net_scratch SEC(".maps");

/* A zeroed record in this CPU's scratch (too large for the BPF stack with its key). */
static __always_inline struct sa_net_seen *net_record(u32 op)
{
    u32 zero = 0;
    struct sa_net_seen *rec = bpf_map_lookup_elem(&net_scratch, &zero);
    if (!rec)
        return NULL;
    __builtin_memset(rec, 0, sizeof(*rec));
    rec->n.op = op;
    return rec;
}

/* Reports rec->n, or counts it as a repeat of the same call on the same endpoint by the same process
 * (and program) when one was reported: as file_emit_seen (files.bpf.h) does for file activity. */
static __always_inline void net_emit(struct sa_net_seen *rec, struct task_struct *task, struct sa_tracked_proc *p)
{
    struct sa_net *ev = &rec->n;
    struct sa_file_seen_key *k = &rec->key;
    seen_key(k, task, p, SA_NET_SEEN_OP + ev->op);
    struct sa_file_seen *v = seen_value();
    if (!v) {
        fill_header(&ev->h, SA_EV_NET, task);
        emit(ev, sizeof(*ev));
        return;
    }
    u64 secret = seen_secret();
    k->where = (u64)ev->path_len * 2 + 1;
    if (ev->path_len > SA_FILE_SEEN_NAME) {
        /* A longer name: its first bytes in the names, and all of them in a hash seeded with this
         * load's secret (so that no one can make two names collide on purpose). */
        u64 h = seen_mix(secret, ev->path_len);
        for (u32 i = 0; i < SA_NET_PATH_MAX; i++)
            h = seen_mix(h, (u8)ev->path[i]);
        k->where = h | 1;
    }
    struct sa_net_seen_id *id = (struct sa_net_seen_id *)v->names.name;
    id->result = ev->result;
    id->flags = ev->flags;
    id->family = ev->family;
    id->sock_type = ev->sock_type;
    id->protocol = ev->protocol;
    id->port = ev->port;
    __builtin_memcpy(id->addr, ev->addr, sizeof(id->addr));
    __builtin_memcpy(v->names.name2, ev->path, SA_FILE_SEEN_NAME);  /* zero beyond path_len (read_sun_path) */
    k->names = seen_names_hash(&v->names, secret);
    /* A repeat (the usual case in a loop) costs one lookup: no header, no locked insert attempt. */
    int seen = seen_repeat(k, &v->names);
    if (seen == SA_SEEN_COUNTED)
        return;
    fill_header(&ev->h, SA_EV_NET, task);
    if (seen == SA_SEEN_OTHER) {
        emit(ev, sizeof(*ev));
        return;
    }
    long err = bpf_map_update_elem(&file_seen, k, v, BPF_NOEXIST);
    if (err == -17 /* EEXIST */ && seen_repeat(k, &v->names) == SA_SEEN_COUNTED)
        return;
    if (err != 0) {
        emit(ev, sizeof(*ev));
        return;
    }
    ev->flags |= SA_NET_SEEN;
    if (bpf_ringbuf_output(&events, rec, sizeof(*rec), wakeup_flags(sizeof(*rec))) != 0) {
        count_loss(SA_LOSS_RING);
        bpf_map_delete_elem(&file_seen, k);
    }
}

/* The socket behind fd, if it is an IP or unix one (netlink, packet, …: not endpoints anyone connects
 * to); the record's family, type and protocol filled in. */
static __always_inline struct sock *net_socket(struct task_struct *task, u32 fd, struct sa_net *ev, struct socket **out)
{
    struct file *file = file_of(task, fd);
    if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
        return NULL;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    struct sock *sk = BPF_CORE_READ(sock, sk);
    if (!sk)
        return NULL;
    u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return NULL;
    ev->family = family;
    ev->sock_type = BPF_CORE_READ(sock, type);
    if (family != AF_UNIX)
        ev->protocol = BPF_CORE_READ(sk, sk_protocol);
    *out = sock;
    return sk;
}

/* Reports op on socket fd of the current session process (its `tracked` entry p). `peer`: the
 * connected end (connect), else the local one. uaddr/addrlen: the caller's argument, read only when
 * the call failed. */
static __always_inline void report_net(struct task_struct *task, struct sa_tracked_proc *p, u32 op, u32 fd, long ret,
                                       const void *uaddr, u32 addrlen)
{
    struct sa_net_seen *rec = net_record(op);
    if (!rec)
        return;
    struct sa_net *ev = &rec->n;
    struct socket *sock;
    struct sock *sk = net_socket(task, fd, ev, &sock);
    if (!sk)
        return;
    u16 family = ev->family;
    ev->result = ret;
    if (ret != 0 && ret != -SA_EINPROGRESS) {
        /* No socket file there: nothing was reached. glibc tries nscd's socket this way in every
         * program that looks up a user or host. */
        if (family == AF_UNIX && ret == -SA_ENOENT)
            return;
        if (!read_user_addr(ev, uaddr, addrlen, false))
            return;
    } else if (family == AF_UNIX) {
        struct sock *from = sk;
        if (op == SA_NET_CONNECT)
            from = BPF_CORE_READ((struct unix_sock___net *)sk, peer);
        if (from)
            read_unix_name(ev, from);
    } else if (op == SA_NET_CONNECT) {
        ev->port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
        if (family == AF_INET) {
            u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
            __builtin_memcpy(ev->addr, &a, 4);
        } else {
            BPF_CORE_READ_INTO(&ev->addr, sk, __sk_common.skc_v6_daddr);
        }
        /* connect(AF_UNSPEC) dissolves a datagram socket's association: the kernel leaves no peer
         * (address and port zero; a connect to the any address is made one to loopback), nothing to
         * report. A peer at port 0 is reported: an ICMP echo socket's (its port is the echo id), or a
         * datagram socket's. From the socket, not the caller's memory, which another thread can change. */
        u64 a0 = 0, a1 = 0;
        __builtin_memcpy(&a0, ev->addr, 8);
        __builtin_memcpy(&a1, ev->addr + 8, 8);
        if (ev->port == 0 && !a0 && !a1)
            return;
    } else {
        ev->port = BPF_CORE_READ(sk, __sk_common.skc_num);
        if (family == AF_INET) {
            u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
            __builtin_memcpy(ev->addr, &a, 4);
        } else {
            BPF_CORE_READ_INTO(&ev->addr, sk, __sk_common.skc_v6_rcv_saddr);
        }
    }
    net_emit(rec, task, p);
}

/* A datagram sent to an address given with the call (sendto's, or a sendmsg/sendmmsg message's
 * msg_name), by a session's process, at the call's entry: the address as the caller gave it (the call
 * may still fail). A stream socket ignores the address (its peer is its connect's), except with
 * MSG_FASTOPEN, which connects (TCP Fast Open): a connect, as given. A send without an address goes to
 * the connect's peer, reported there. A global function: verified once for its several callers. */
#define SA_MSG_FASTOPEN 0x20000000
__attribute__((noinline)) int sa_report_send(u32 fd, u64 uaddr, u32 addrlen, u32 msg_flags)
{
    if (!uaddr || addrlen < 2)
        return 0;
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    struct sa_net_seen *rec = net_record(SA_NET_SEND);
    if (!rec)
        return 0;
    struct socket *sock;
    if (!net_socket(task, fd, &rec->n, &sock))
        return 0;
    if (rec->n.family == AF_UNIX && rec->n.sock_type == 5 /* SOCK_SEQPACKET: the address is ignored */)
        return 0;
    if (rec->n.sock_type == 1 /* SOCK_STREAM */) {
        if (!(msg_flags & SA_MSG_FASTOPEN) || rec->n.family == AF_UNIX)
            return 0;
        rec->n.op = SA_NET_CONNECT;
    }
    if (!read_user_addr(&rec->n, (const void *)uaddr, addrlen, true))
        return 0;
    net_emit(rec, task, p);
    return 0;
}

/* The unix socket a session's process accepted a connection on (fd: accept's result), named by the
 * listening socket's name (the accepted one shares it). */
static __always_inline void report_unix_accept(struct sa_tracked_proc *p, int fd)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct sa_net_seen *rec = net_record(SA_NET_ACCEPT);
    if (!rec)
        return;
    struct socket *sock;
    struct sock *sk = net_socket(task, fd, &rec->n, &sock);
    if (!sk || rec->n.family != AF_UNIX)
        return;
    read_unix_name(&rec->n, sk);
    net_emit(rec, task, p);
}

/* The syscall's arguments at exit, from the registers saved at entry (no sys_enter hook needed). */
static __always_inline struct pt_regs___x86 *entry_regs(struct task_struct *task)
{
    return (struct pt_regs___x86 *)bpf_task_pt_regs(task);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_connect_exit(struct syscall_exit_ctx *ctx)
{
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = entry_regs(task);
    if (!regs)
        return 0;
    u32 fd = regs->di;
    const void *uaddr = (const void *)regs->si;
    u32 addrlen = regs->dx;
    on_socket_call(task, SA_SOCK_CONNECT, fd, uaddr, addrlen);
    /* Polling a non-blocking connect again says nothing new. */
    if (ctx->ret == -SA_EALREADY || ctx->ret == -SA_EISCONN)
        return 0;
    report_net(task, p, SA_NET_CONNECT, fd, ctx->ret, uaddr, addrlen);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int on_bind_exit(struct syscall_exit_ctx *ctx)
{
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = entry_regs(task);
    if (!regs)
        return 0;
    u32 fd = regs->di;
    on_socket_call(task, SA_SOCK_BIND, fd, (const void *)regs->si, regs->dx);
    if (ctx->ret == 0)
        report_net(task, p, SA_NET_BIND, fd, 0, NULL, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int on_listen_exit(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret != 0)
        return 0;
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = entry_regs(task);
    if (!regs)
        return 0;
    report_net(task, p, SA_NET_LISTEN, regs->di, 0, NULL, 0);
    return 0;
}

/* sendmsg's address is in its msghdr (user memory; x86_64: msg_name at 0, msg_namelen at 8). */
static __always_inline void report_msghdr(u32 fd, const char *msg, u32 msg_flags)
{
    u64 name = 0;
    u32 namelen = 0;
    if (!msg)
        return;
    if (bpf_probe_read_user(&name, sizeof(name), msg) != 0) {
        sa_report_send(fd, 1, 2, msg_flags);  /* unreadable: said so (read_user_addr) */
        return;
    }
    if (!name)
        return;
    bpf_probe_read_user(&namelen, sizeof(namelen), msg + 8);
    sa_report_send(fd, name, namelen, msg_flags);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int on_sendmsg(struct syscall_enter_ctx *ctx)
{
    if (!session_process())  /* everyone else: one lookup, no read of their memory */
        return 0;
    report_msghdr(ctx->args[0], (const char *)ctx->args[1], ctx->args[2]);
    return 0;
}

/* sendmmsg: each message (struct mmsghdr: a msghdr of 56 bytes, then msg_len) may name its own
 * address; the kernel takes at most UIO_MAXIOV of them. */
#define SA_UIO_MAXIOV 1024
#define SA_MMSGHDR_SIZE 64

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int on_sendmmsg(struct syscall_enter_ctx *ctx)
{
    const char *vec = (const char *)ctx->args[1];
    u32 vlen = ctx->args[2];
    if (!vec || !session_process())
        return 0;
    for (u32 i = 0; i < SA_UIO_MAXIOV && i < vlen; i++)
        report_msghdr(ctx->args[0], vec + (u64)i * SA_MMSGHDR_SIZE, ctx->args[3]);
    return 0;
}
