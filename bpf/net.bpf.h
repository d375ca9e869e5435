/* Network activity of a session's processes: connect, bind and listen as they returned (accepts are
 * the SA_EV_ACCEPT records on_accept_exit writes for every tracked process).
 *
 * Included by sshaudit.bpf.c after the shared helpers. Hooked at syscall exit only: each hooked
 * syscall tracepoint costs every process on the machine its dispatch, so connect and bind have one
 * program each (which also serves forwarding, on_socket_call) and listen, rare, one more. sendto and
 * sendmsg to an address without connect (unconnected UDP) are not hooked: they are frequent on
 * every machine, and the activity asked for is connect, bind/listen and accept.
 *
 * A process outside every session pays the `tracked` lookup and nothing else. */

#define SA_EINPROGRESS 115
#define SA_EALREADY 114
#define SA_EISCONN 106
#define SA_ENOENT 2

/* Fields read here only (CO-RE matches them by name; the ___net suffix is ignored). */
struct sock___net { u16 sk_protocol; } __CORE;
struct sockaddr_un___net { u16 sun_family; char sun_path[108]; } __CORE;
struct unix_address___net { int len; struct sockaddr_un___net name[1]; } __CORE;
struct unix_sock___net { struct unix_address___net *addr; struct sock *peer; } __CORE;

/* A session's process: session_process (sshaudit.bpf.c). */

/* A sun_path into ev->path: a path up to its NUL, or an abstract name (a NUL byte, then the name up to
 * the next NUL). path_len counts the leading NUL of an abstract name. */
static __always_inline void read_sun_path(struct sa_net *ev, const char *src, bool user)
{
    char first = 0;
    long n;
    if (user)
        bpf_probe_read_user(&first, 1, src);
    else
        bpf_probe_read_kernel(&first, 1, src);
    if (first) {
        n = user ? bpf_probe_read_user_str(ev->path, SA_NET_PATH_MAX, src)
                 : bpf_probe_read_kernel_str(ev->path, SA_NET_PATH_MAX, src);
        ev->path_len = n > 0 ? n - 1 : 0;
    } else {
        n = user ? bpf_probe_read_user_str(ev->path + 1, SA_NET_PATH_MAX - 1, src + 1)
                 : bpf_probe_read_kernel_str(ev->path + 1, SA_NET_PATH_MAX - 1, src + 1);
        ev->path_len = n > 0 ? n : 0;
    }
}

/* A unix socket's name as the kernel keeps it (what its bind gave). */
static __always_inline void read_unix_name(struct sa_net *ev, struct sock *sk)
{
    struct unix_address___net *ua = BPF_CORE_READ((struct unix_sock___net *)sk, addr);
    if (!ua || BPF_CORE_READ(ua, len) <= 2)  /* unnamed */
        return;
    u64 off = bpf_core_field_offset(struct unix_address___net, name) + 2;  /* past sun_family */
    read_sun_path(ev, (char *)ua + off, false);
}

/* The caller's sockaddr (only for a connect the kernel refused: its socket keeps no peer). */
static __always_inline bool read_user_addr(struct sa_net *ev, const void *uaddr, u32 addrlen)
{
    u16 family = 0;
    if (addrlen < 2 || bpf_probe_read_user(&family, 2, uaddr) != 0 || family != ev->family)
        return false;
    u16 port = 0;
    if (family == AF_INET) {
        bpf_probe_read_user(&port, 2, (char *)uaddr + 2);
        bpf_probe_read_user(ev->addr, 4, (char *)uaddr + 4);
    } else if (family == AF_INET6) {
        bpf_probe_read_user(&port, 2, (char *)uaddr + 2);
        bpf_probe_read_user(ev->addr, 16, (char *)uaddr + 8);
    } else {
        read_sun_path(ev, (const char *)uaddr + 2, true);
    }
    ev->port = __builtin_bswap16(port);
    ev->flags |= SA_NET_FROM_USER;
    return true;
}

/* Reports op on socket fd of the current session process. `peer`: the connected end (connect),
 * else the local one. uaddr/addrlen: the caller's argument, read only when the call failed. */
static __always_inline void report_net(struct task_struct *task, u32 op, u32 fd, long ret, const void *uaddr, u32 addrlen)
{
    struct file *file = file_of(task, fd);
    if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
        return;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    struct sock *sk = BPF_CORE_READ(sock, sk);
    if (!sk)
        return;
    u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return;  /* netlink, packet, …: not endpoints anyone connects to */
    struct sa_net ev = {};
    ev.op = op;
    ev.result = ret;
    ev.family = family;
    ev.sock_type = BPF_CORE_READ(sock, type);
    if (family != AF_UNIX)
        ev.protocol = BPF_CORE_READ((struct sock___net *)sk, sk_protocol);
    if (ret != 0 && ret != -SA_EINPROGRESS) {
        /* No socket file there: nothing was reached. glibc tries nscd's socket this way in every
         * program that looks up a user or host. */
        if (family == AF_UNIX && ret == -SA_ENOENT)
            return;
        if (!read_user_addr(&ev, uaddr, addrlen))
            return;
    } else if (family == AF_UNIX) {
        struct sock *from = sk;
        if (op == SA_NET_CONNECT)
            from = BPF_CORE_READ((struct unix_sock___net *)sk, peer);
        if (from)
            read_unix_name(&ev, from);
    } else if (op == SA_NET_CONNECT) {
        ev.port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
        if (family == AF_INET) {
            u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
            __builtin_memcpy(ev.addr, &a, 4);
        } else {
            BPF_CORE_READ_INTO(&ev.addr, sk, __sk_common.skc_v6_daddr);
        }
        /* connect(AF_UNSPEC) dissolves a datagram socket's association: no peer, nothing to report. */
        if (ev.port == 0)
            return;
    } else {
        ev.port = BPF_CORE_READ(sk, __sk_common.skc_num);
        if (family == AF_INET) {
            u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
            __builtin_memcpy(ev.addr, &a, 4);
        } else {
            BPF_CORE_READ_INTO(&ev.addr, sk, __sk_common.skc_v6_rcv_saddr);
        }
    }
    fill_header(&ev.h, SA_EV_NET, task);
    emit(&ev, sizeof(ev));
}

/* The syscall's arguments at exit, from the registers saved at entry (no sys_enter hook needed). */
static __always_inline struct pt_regs___x86 *entry_regs(void)
{
    return (struct pt_regs___x86 *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

SEC("tracepoint/syscalls/sys_exit_connect")
int on_connect_exit(struct syscall_exit_ctx *ctx)
{
    struct task_struct *task = session_process();
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = entry_regs();
    if (!regs)
        return 0;
    u32 fd = BPF_CORE_READ(regs, di);
    const void *uaddr = (const void *)BPF_CORE_READ(regs, si);
    u32 addrlen = BPF_CORE_READ(regs, dx);
    on_socket_call(SA_SOCK_CONNECT, fd, uaddr, addrlen);
    /* Polling a non-blocking connect again says nothing new. */
    if (ctx->ret == -SA_EALREADY || ctx->ret == -SA_EISCONN)
        return 0;
    report_net(task, SA_NET_CONNECT, fd, ctx->ret, uaddr, addrlen);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int on_bind_exit(struct syscall_exit_ctx *ctx)
{
    struct task_struct *task = session_process();
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = entry_regs();
    if (!regs)
        return 0;
    u32 fd = BPF_CORE_READ(regs, di);
    on_socket_call(SA_SOCK_BIND, fd, (const void *)BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx));
    if (ctx->ret == 0)
        report_net(task, SA_NET_BIND, fd, 0, NULL, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int on_listen_exit(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret != 0)
        return 0;
    struct task_struct *task = session_process();
    if (!task)
        return 0;
    struct pt_regs___x86 *regs = entry_regs();
    if (!regs)
        return 0;
    report_net(task, SA_NET_LISTEN, BPF_CORE_READ(regs, di), 0, NULL, 0);
    return 0;
}
