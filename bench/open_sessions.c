/* Writes an sshaudit event log (the format of `sshaudit record --events`) in which N SSH sessions
 * are open at the same time, for measuring the recorder's memory with many sessions held.
 *
 *   open_sessions N FILE [HOURS]
 *
 * Each session is the process tree sshd 9.x produces (docs/ARCHITECTURE.md §3), with the kernel's own record
 * layouts (bpf/events.h): the listener accepts and forks the monitor; the monitor logs the accepted
 * key and forks the post-auth child, which sets the user's uids and forks the shell; the shell calls
 * setsid, execs bash on a pty and starts one long command. All N sessions open first; then each
 * command and session ends, so the log also replays a whole lifecycle; HOURS (0 unless given) pass
 * between the last open and the first end, so that every session lasts at least that long. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bpf/events.h"

static FILE *out;
static unsigned long long now_ns = 1000000000ULL;

static void emit(const void *rec, uint32_t size)
{
    fwrite(&size, 4, 1, out);  /* little-endian on the machines this runs on */
    fwrite(rec, size, 1, out);
}

static void header(struct sa_header *h, unsigned type, unsigned tgid, unsigned ppid, unsigned uid,
                   unsigned long long start, const char *comm)
{
    memset(h, 0, sizeof(*h));
    h->type = type;
    h->tgid = tgid;
    h->ppid = ppid;
    h->uid = uid;
    h->ts_ns = (now_ns += 1000);
    h->start_ns = start;
    strncpy(h->comm, comm, SA_COMM_LEN - 1);
}

static void fork_ev(unsigned parent, unsigned long long parent_start, unsigned ppid, unsigned uid,
                    const char *comm, unsigned child, unsigned long long child_start)
{
    struct sa_fork f;
    memset(&f, 0, sizeof(f));
    header(&f.h, SA_EV_FORK, parent, ppid, uid, parent_start, comm);
    f.child_tgid = child;
    f.child_start_ns = child_start;
    emit(&f, sizeof(f));
}

static void exec_ev(unsigned pid, unsigned long long start, unsigned ppid, unsigned uid, const char *comm,
                    const char *filename, const char *const *argv, const char *tty, const char *cwd)
{
    static struct sa_exec e;
    memset(&e, 0, sizeof(e));
    header(&e.h, SA_EV_EXEC, pid, ppid, uid, start, comm);
    e.filename_len = strlen(filename);
    memcpy(e.filename, filename, e.filename_len);
    unsigned n = 0;
    for (int i = 0; argv[i]; i++) {
        size_t len = strlen(argv[i]) + 1;
        memcpy(e.argv + n, argv[i], len);
        n += len;
    }
    e.argv_len = e.argv_total = n;
    strncpy(e.tty, tty, sizeof(e.tty) - 1);
    e.cwd_len = strlen(cwd);
    memcpy(e.cwd, cwd, e.cwd_len);
    emit(&e, __builtin_offsetof(struct sa_exec, argv) + n);
}

static void exit_ev(unsigned pid, unsigned long long start, unsigned ppid, unsigned uid, const char *comm, unsigned code)
{
    struct sa_exit x;
    memset(&x, 0, sizeof(x));
    header(&x.h, SA_EV_EXIT, pid, ppid, uid, start, comm);
    x.exit_code = code << 8;
    emit(&x, sizeof(x));
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: open_sessions N FILE [HOURS]\n");
        return 2;
    }
    long n = atol(argv[1]);
    long hours = argc == 4 ? atol(argv[3]) : 0;
    if (hours < 0 || hours > 24 * 365) {
        fprintf(stderr, "open_sessions: bad HOURS %s\n", argv[3]);
        return 1;
    }
    if (n < 1 || n > 200000 || !(out = fopen(argv[2], "w"))) {
        fprintf(stderr, "open_sessions: bad N or cannot write %s\n", argv[2]);
        return 1;
    }
    const unsigned listener = 100, uid = 1000;
    const unsigned long long listener_start = 500;
    fprintf(out, "{\"boot_to_wall_ns\":1795900000000000000,\"format\":\"sshaudit-events\",\"listeners\":{\"100\":\"/usr/sbin/sshd\"},"
                 "\"sessions\":[],\"users\":{\"1000\":\"sa_bench\"},\"version\":1}\n");
    /* pids: session i uses base + 0..4 */
    for (long i = 0; i < n; i++) {
        unsigned base = 1000 + (unsigned)i * 5;
        unsigned monitor = base, child = base + 1, shell = base + 2, cmd = base + 3;
        unsigned long long t = 1000000 + (unsigned long long)i * 10;

        struct sa_accept a;
        memset(&a, 0, sizeof(a));
        header(&a.h, SA_EV_ACCEPT, listener, 1, 0, listener_start, "sshd");
        a.fd = 5;
        a.family = 2;
        a.local_port = 22;
        a.remote_port = 20000 + (unsigned short)(i % 40000);
        unsigned char local[4] = {10, 0, 0, 1}, remote[4] = {10, (unsigned char)(i >> 16), (unsigned char)(i >> 8), (unsigned char)i};
        memcpy(a.local_addr, local, 4);
        memcpy(a.remote_addr, remote, 4);
        a.sock_id = 0xffff888000000000ULL + (unsigned long long)i * 64;
        emit(&a, sizeof(a));
        fork_ev(listener, listener_start, 1, 0, "sshd", monitor, t);

        struct sa_log l;
        memset(&l, 0, sizeof(l));
        header(&l.h, SA_EV_LOG, monitor, listener, 0, t, "sshd");
        l.source = SA_LOG_FILE;
        l.len = snprintf(l.data, sizeof(l.data),
                         "Accepted publickey for sa_bench from 10.%u.%u.%u port %u ssh2: ED25519 SHA256:%08lxbenchmarkkeyfingerprintAbCdEfGhIjKlM\n",
                         (unsigned)(i >> 16) & 255, (unsigned)(i >> 8) & 255, (unsigned)i & 255, a.remote_port, i);
        emit(&l, __builtin_offsetof(struct sa_log, data) + l.len);

        fork_ev(monitor, t, listener, 0, "sshd", child, t + 1);
        struct sa_cred c;
        memset(&c, 0, sizeof(c));
        header(&c.h, SA_EV_CRED, child, monitor, uid, t + 1, "sshd");
        c.ruid = c.euid = c.suid = uid;
        c.syscall = 117;
        emit(&c, sizeof(c));
        fork_ev(child, t + 1, monitor, uid, "sshd", shell, t + 2);
        struct sa_header s;
        header(&s, SA_EV_SETSID, shell, child, uid, t + 2, "sshd");
        emit(&s, sizeof(s));
        const char *bash[] = {"-bash", NULL};
        char tty[16];
        snprintf(tty, sizeof(tty), "pts/%ld", i);
        exec_ev(shell, t + 2, child, uid, "bash", "/bin/bash", bash, tty, "sa_bench/home/");
        fork_ev(shell, t + 2, child, uid, "bash", cmd, t + 3);
        const char *sleep_argv[] = {"sleep", "3600", NULL};
        exec_ev(cmd, t + 3, shell, uid, "sleep", "/usr/bin/sleep", sleep_argv, tty, "sa_bench/home/");
    }
    now_ns += (unsigned long long)hours * 3600 * 1000000000ULL;
    /* Then every session ends: command, shell, child, monitor. */
    for (long i = 0; i < n; i++) {
        unsigned base = 1000 + (unsigned)i * 5;
        unsigned long long t = 1000000 + (unsigned long long)i * 10;
        exit_ev(base + 3, t + 3, base + 2, uid, "sleep", 0);
        exit_ev(base + 2, t + 2, base + 1, uid, "bash", 0);
        exit_ev(base + 1, t + 1, base, uid, "sshd", 0);
        exit_ev(base, t, listener, 0, "sshd", 0);
    }
    return fclose(out) == 0 ? 0 : 1;
}
