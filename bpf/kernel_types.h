/* The few kernel structures the programs read, declared by hand instead of a generated vmlinux.h.
 *
 * preserve_access_index makes every field access a CO-RE relocation: libbpf matches these fields by
 * name against the running kernel's BTF (/sys/kernel/btf/vmlinux) at load time, so the offsets
 * below do not matter and one object runs on any kernel with BTF. Only fields we read are listed.
 */
#ifndef SSHAUDIT_KERNEL_TYPES_H
#define SSHAUDIT_KERNEL_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0

#define __CORE __attribute__((preserve_access_index))

typedef struct { int counter; } __CORE atomic_t;
typedef struct { u32 val; } __CORE kuid_t;

struct cred { kuid_t uid; kuid_t euid; kuid_t suid; } __CORE;
struct tty_struct { char name[64]; } __CORE;
struct signal_struct { atomic_t live; struct tty_struct *tty; } __CORE;
struct mm_struct { unsigned long arg_start; unsigned long arg_end; } __CORE;
struct linux_binprm { struct file *file; const char *filename; } __CORE;

struct in6_addr { u8 in6_u[16]; } __CORE;
struct sock_common {
    u32 skc_daddr;
    u32 skc_rcv_saddr;
    u16 skc_dport;     /* network order */
    u16 skc_num;       /* host order */
    u16 skc_family;
    volatile u8 skc_state;
    struct in6_addr skc_v6_daddr;
    struct in6_addr skc_v6_rcv_saddr;
} __CORE;
struct sock { struct sock_common __sk_common; u16 sk_protocol; } __CORE;  /* sk_protocol: u16 since Linux 5.6 */
struct inet_sock { u16 inet_sport; } __CORE;  /* network order; unlike skc_num, kept until the socket is freed */
struct inet_connection_sock { struct inet_sock icsk_inet; } __CORE;
struct socket { short type; struct sock *sk; } __CORE;
struct super_block { u32 s_dev; } __CORE;  /* dev_t: (major << 20) | minor */
struct inode { unsigned short i_mode; kuid_t i_uid; unsigned int i_flags; unsigned long i_ino; struct super_block *i_sb; s64 i_size; } __CORE;
struct file { void *private_data; struct inode *f_inode; s64 f_pos; unsigned int f_flags; } __CORE;

struct qstr { u64 hash_len; const unsigned char *name; } __CORE;
struct dentry { struct dentry *d_parent; struct qstr d_name; struct inode *d_inode; } __CORE;
struct vfsmount { struct dentry *mnt_root; } __CORE;
struct mount { struct mount *mnt_parent; struct dentry *mnt_mountpoint; struct vfsmount mnt; } __CORE;
struct path { struct vfsmount *mnt; struct dentry *dentry; } __CORE;
struct fs_struct { struct path root; struct path pwd; } __CORE;
struct tcp_sock { struct inet_connection_sock inet_conn; u64 bytes_received; u64 bytes_acked; } __CORE;
struct fdtable { unsigned int max_fds; struct file **fd; } __CORE;
struct files_struct { struct fdtable *fdt; } __CORE;

struct mnt_namespace { struct mount *root; } __CORE;
struct nsproxy { struct mnt_namespace *mnt_ns; } __CORE;

struct task_struct {
    int pid;
    int tgid;
    int exit_code;
    u64 start_boottime;
    struct task_struct *real_parent;
    struct task_struct *group_leader;
    struct signal_struct *signal;
    struct mm_struct *mm;
    struct cred *cred;
    struct files_struct *files;
    struct fs_struct *fs;
    struct nsproxy *nsproxy;
    char comm[16];
} __CORE;

/* Context of the syscalls:sys_enter_* and sys_exit_* tracepoints (see their format files). */
struct syscall_enter_ctx {
    u64 common;
    int syscall_nr;
    unsigned long args[6];
};
struct syscall_exit_ctx {
    u64 common;
    int syscall_nr;
    long ret;
};

#endif
