/* Records the kernel programs write to the ring buffer.
 *
 * This header is the one contract between bpf/sshaudit.bpf.c and the Swift decoder
 * (Sources/SSHAuditCore/EventDecoder.swift). Every record starts with the same header; all fields are
 * little-endian and naturally aligned. The _Static_asserts pin the offsets the decoder reads: change
 * both together.
 */
#ifndef SSHAUDIT_EVENTS_H
#define SSHAUDIT_EVENTS_H

#define SA_COMM_LEN 16
#define SA_FILENAME_MAX 512   /* bytes of the exec'd path kept, NUL included */
#define SA_ARGV_MAX 8192      /* bytes of argv kept (NUL-separated strings); more is marked truncated */

enum sa_event_type {
    SA_EV_FORK = 1,    /* a tracked process forked a new process (threads are ignored) */
    SA_EV_EXEC = 2,    /* a tracked process exec'd (or an sshd binary was exec'd: a new root) */
    SA_EV_EXIT = 3,    /* the last thread of a tracked process exited */
    SA_EV_ACCEPT = 4,  /* accept/accept4 returned a connected TCP socket */
    SA_EV_CRED = 5,    /* setuid/setreuid/setresuid succeeded: the uids after the call */
    SA_EV_CHROOT = 6,  /* chroot succeeded (sshd's pre-authentication child does this) */
    SA_EV_SETSID = 7,  /* setsid succeeded (sshd's session child does this before the shell) */
    SA_EV_LOG = 8,     /* a log line written by an sshd listener or monitor (see sa_log) */
};

/* Roles the kernel keeps per tracked process, to decide whose log writes may be read. */
#define SA_PROC_LISTENER 1u  /* an sshd binary started outside any tracked tree */
#define SA_PROC_MONITOR 2u   /* a child of a listener: the per-connection privileged monitor */

#define SA_LOG_MAX 512        /* bytes of one log line kept */

/* exec flags */
#define SA_EXEC_ARGV_TRUNCATED 1u
#define SA_EXEC_FILENAME_TRUNCATED 2u
#define SA_EXEC_NEW_ROOT 4u  /* not a descendant of a tracked process: an sshd binary started */

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
    unsigned int _pad;
    unsigned long long child_start_ns;
};
_Static_assert(sizeof(struct sa_fork) == 64, "fork size");

struct sa_exec {
    struct sa_header h;
    unsigned int filename_len;  /* bytes in filename, without NUL */
    unsigned int argv_len;      /* bytes in argv kept */
    unsigned int argv_total;    /* bytes of argv in the process (arg_end - arg_start) */
    unsigned int flags;         /* SA_EXEC_* */
    char filename[SA_FILENAME_MAX];
    char argv[SA_ARGV_MAX];     /* only argv_len bytes are sent */
};
_Static_assert(__builtin_offsetof(struct sa_exec, filename) == 64, "exec filename offset");
_Static_assert(__builtin_offsetof(struct sa_exec, argv) == 64 + SA_FILENAME_MAX, "exec argv offset");

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
};
_Static_assert(sizeof(struct sa_accept) == 96, "accept size");

struct sa_cred {
    struct sa_header h;
    unsigned int ruid;
    unsigned int euid;
    unsigned int suid;
    unsigned int syscall;       /* 105 setuid, 113 setreuid, 117 setresuid (x86_64 numbers) */
};
_Static_assert(sizeof(struct sa_cred) == 64, "cred size");

/* sshd's own log output, never session data: only from listeners and monitors, only write() to a
 * regular file (sshd -E) or write()/sendto() of a syslog datagram ("<PRI>..."). The monitor's
 * channel to its children is a socket whose messages start with a binary length, so it never passes. */
#define SA_LOG_FILE 1u
#define SA_LOG_SYSLOG 2u
struct sa_log {
    struct sa_header h;
    unsigned int len;           /* bytes in data */
    unsigned int source;        /* SA_LOG_FILE or SA_LOG_SYSLOG */
    char data[SA_LOG_MAX];
};
_Static_assert(__builtin_offsetof(struct sa_log, data) == 56, "log data offset");

#endif
