/* File activity of a session's processes: what they create, write, truncate, rename, unlink, chmod,
 * chown, mkdir, rmdir, link and symlink, shell builtins included (no exec needed to be seen).
 *
 * Who: every process `tracked` follows that is neither a listener nor a monitor (sshd's own log, pid,
 * utmp and lastlog writes happen there). User space keeps the session's user processes and sshd's
 * user-privileged child (which serves internal-sftp itself) and drops the pre-authentication child.
 *
 * Cost: the hooks are syscall exits, where success is known. openat, by far the most frequent of
 * these calls, shares the transfer hook (on_openat_exit in sshaudit.bpf.c): one hash lookup for both.
 * Each costs the rest of the machine its tracepoint's dispatch and one lookup, so all of them,
 * openat's and close's included, are session hooks (BPFTracer.sessionHookPrograms), attached only
 * while a session is open.
 *
 * Paths: a file the kernel has open (open's result, a descriptor's call) is named by walking its
 * dentry chain, so symlinks and ".." are already resolved. A call by name names a directory the
 * kernel resolved (the dirfd's file, or the working directory, or the root for an absolute name)
 * plus the name as the caller passed it; user space resolves "." and ".." in that name lexically.
 */
#ifndef SSHAUDIT_FILES_BPF_H
#define SSHAUDIT_FILES_BPF_H

#define SA_FILE_MASK 4095
#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define O_TRUNC 01000
#define __O_TMPFILE 020000000
#define RENAME_EXCHANGE 2

/* The fields read here that kernel_types.h does not declare (CO-RE drops the ___sa suffix). */
struct file___sa { unsigned int f_mode; struct path f_path; } __attribute__((preserve_access_index));
struct pt_regs___sa { unsigned long di; unsigned long si; unsigned long dx; unsigned long r10; unsigned long r8; }
    __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_file_act);
} file_scratch SEC(".maps");

/* Repeats counted instead of reported (events.h: sa_file_seen_key). Pinned with the ring: a restarted
 * recorder reads what was counted while none ran. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SA_FILE_SEEN_MAX);
    /* Not preallocated: a removed entry's memory is freed after the programs that may still hold it
     * are done (RCU), never reused at once for another key that would then get their increment. */
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct sa_file_seen_key);
    __type(value, struct sa_file_seen);
} file_seen SEC(".maps");

/* The value a first report puts in `file_seen`, its names read here first (too large for the BPF
 * stack beside the key and the walks). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct sa_file_seen);
} seen_scratch SEC(".maps");

/* Whose file activity is reported (see the top of this file): a session's process
 * (session_member, sshaudit.bpf.c). */

static __always_inline u64 seen_mix(u64 h, u64 v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 31);
}

/* Up to four 8-byte words of a kernel object at `base`, at the 8-aligned offsets `off` (repeat one
 * for fewer): one helper call when they lie within SA_SPAN_WORDS words of each other (as a file's
 * f_mode, f_inode and f_path, a dentry's d_parent and d_name, and a mount's mnt_parent,
 * mnt_mountpoint and mnt.mnt_root do in every kernel so far), else one call each. A helper call costs
 * more than the copy. The offsets are CO-RE constants, so the verifier keeps one of the two ways. */
#define SA_SPAN_WORDS 12
static __always_inline void read_words(u64 base, u64 off0, u64 off1, u64 off2, u64 off3, u64 *w0, u64 *w1, u64 *w2, u64 *w3)
{
    u64 lo = off0, hi = off0;
    lo = off1 < lo ? off1 : lo;
    lo = off2 < lo ? off2 : lo;
    lo = off3 < lo ? off3 : lo;
    hi = off1 > hi ? off1 : hi;
    hi = off2 > hi ? off2 : hi;
    hi = off3 > hi ? off3 : hi;
    if (hi - lo < SA_SPAN_WORDS * 8 && !((off0 | off1 | off2 | off3) & 7)) {
        u64 w[SA_SPAN_WORDS] = {};
        bpf_probe_read_kernel(w, hi - lo + 8, (void *)(base + lo));
        *w0 = w[(off0 - lo) / 8];
        *w1 = w[(off1 - lo) / 8];
        *w2 = w[(off2 - lo) / 8];
        *w3 = w[(off3 - lo) / 8];
    } else {
        bpf_probe_read_kernel(w0, 8, (void *)(base + off0));
        bpf_probe_read_kernel(w1, 8, (void *)(base + off1));
        bpf_probe_read_kernel(w2, 8, (void *)(base + off2));
        bpf_probe_read_kernel(w3, 8, (void *)(base + off3));
    }
}

/* A dentry's parent, name hash (with the length) and name. */
#define DENTRY_UP(base_, up_, hash_len_, name_)                                                     \
    read_words(base_, bpf_core_field_offset(struct dentry, d_parent),                               \
               bpf_core_field_offset(struct dentry, d_name.hash_len),                               \
               bpf_core_field_offset(struct dentry, d_name.name),                                   \
               bpf_core_field_offset(struct dentry, d_name.name), up_, hash_len_, name_, name_)
/* A mount's parent, where it is mounted, and its own root. */
#define MOUNT_UP(base_, up_, mountpoint_, root_)                                                    \
    read_words(base_, bpf_core_field_offset(struct mount, mnt_parent),                              \
               bpf_core_field_offset(struct mount, mnt_mountpoint),                                 \
               bpf_core_field_offset(struct mount, mnt.mnt_root),                                   \
               bpf_core_field_offset(struct mount, mnt.mnt_root), up_, mountpoint_, root_, root_)

/* The keyed hash of a directory: each dentry (its address and name hash) and each mount from
 * (dentry, mount) up to the global root, as sa_file_walk goes. 0: deeper than that walk goes (then
 * the operation is reported every time). A global function, like sa_file_walk. */
__attribute__((noinline)) u64 sa_file_where(u64 dentry_addr, u64 vfsmnt_addr, u64 secret)
{
    u64 dentry = dentry_addr, vfsmnt = vfsmnt_addr;
    if (!dentry || !vfsmnt)
        return 0;
    u64 mnt_offset = bpf_core_field_offset(struct mount, mnt);
    u64 mnt = vfsmnt - mnt_offset, parent = 0, mountpoint = 0, root = 0;
    MOUNT_UP(mnt, &parent, &mountpoint, &root);  /* read once a mount */
    u64 h = seen_mix(secret, vfsmnt_addr);
    for (int i = 0; i < SA_FILE_DEPTH; i++) {
        if (dentry == root) {
            if (parent == mnt)
                return h | 1;
            dentry = mountpoint;
            mnt = parent;
            vfsmnt = parent + mnt_offset;
            MOUNT_UP(mnt, &parent, &mountpoint, &root);
            h = seen_mix(h, vfsmnt);
            continue;
        }
        u64 up = 0, hash_len = 0, name = 0;
        DENTRY_UP(dentry, &up, &hash_len, &name);
        h = seen_mix(h, dentry);
        h = seen_mix(h, hash_len);
        if (up == dentry)
            return h | 1;
        dentry = up;
    }
    return 0;
}

static __always_inline u64 seen_secret(void)
{
    u32 zero = 0;
    struct sa_config *cfg = bpf_map_lookup_elem(&config, &zero);
    return cfg ? cfg->seen_secret : 0;
}

/* A key for (process, op), all else zero: `where` and `names` are filled by the caller. */
static __always_inline void seen_key(struct sa_file_seen_key *k, struct task_struct *task, struct sa_tracked_proc *p, u32 op)
{
    __builtin_memset(k, 0, sizeof(*k));
    k->start_ns = p->start_ns ? p->start_ns : task->group_leader->start_boottime;  /* task: session_member's */
    k->tgid = task->tgid;
    k->execs = p->execs;
    k->op = op;
}

/* This CPU's value scratch, zeroed: the caller reads the names into it. */
static __always_inline struct sa_file_seen *seen_value(void)
{
    u32 zero = 0;
    struct sa_file_seen *v = bpf_map_lookup_elem(&seen_scratch, &zero);
    if (v)
        __builtin_memset(v, 0, sizeof(*v));
    return v;
}

#define SA_SEEN_WORDS (sizeof(struct sa_file_seen_names) / 8)

/* The names' hash for the key, seeded with the secret. */
static __always_inline u64 seen_names_hash(struct sa_file_seen_names *n, u64 secret)
{
    u64 *w = (u64 *)n, h = secret;
    for (int i = 0; i < SA_SEEN_WORDS; i++)
        h = seen_mix(h, w[i]);
    return h;
}

/* A repeat of a reported operation: counted, not reported (SA_SEEN_COUNTED). SA_SEEN_NONE: no key
 * yet; SA_SEEN_OTHER: the key holds other names (then the call is reported, never counted). */
#define SA_SEEN_NONE 0
#define SA_SEEN_COUNTED 1
#define SA_SEEN_OTHER 2
static __always_inline int seen_repeat(struct sa_file_seen_key *k, struct sa_file_seen_names *names)
{
    struct sa_file_seen *v = bpf_map_lookup_elem(&file_seen, k);
    if (!v)
        return SA_SEEN_NONE;
    u64 *a = (u64 *)&v->names, *b = (u64 *)names;
    for (int i = 0; i < SA_SEEN_WORDS; i++)
        if (a[i] != b[i])
            return SA_SEEN_OTHER;
    __sync_fetch_and_add(&v->count, 1);
    u64 tick = bpf_jiffies64();
    if (v->last_tick != tick) {
        v->last_tick = tick;
        v->last_ns = bpf_ktime_get_boot_ns();
    }
    return SA_SEEN_COUNTED;
}

/* A name into the key's names (at most SA_FILE_SEEN_NAME - 2 bytes: a longer one could be cut); false if it
 * does not fit or cannot be read. */
static __always_inline bool seen_user_name(char *dst, const char *user)
{
    long n = bpf_probe_read_user_str(dst, SA_FILE_SEEN_NAME, user);
    return n > 0 && n < SA_FILE_SEEN_NAME;
}

/* A dentry's name, whose length its hash_len holds (the upper half): one copy of that many bytes
 * into the zeroed dst, where a string read copies byte by byte (bench/repeat_cost: about 45 ns for
 * a 37-byte name here, against 10–13 for an 8-byte copy). Names of no more than SA_FILE_SEEN_NAME - 2 bytes, as above. */
static __always_inline bool seen_dentry_name(char *dst, const unsigned char *name, u64 hash_len)
{
    u32 len = hash_len >> 32;
    if (len == 0 || len > SA_FILE_SEEN_NAME - 2)
        return false;
    return bpf_probe_read_kernel(dst, len & (SA_FILE_SEEN_NAME - 1), name) == 0;
}

static __always_inline struct pt_regs___sa *file_regs(struct task_struct *task)
{
    return (struct pt_regs___sa *)bpf_task_pt_regs(task);
}

static __always_inline struct sa_file_act *file_record(struct task_struct *task, u32 op)
{
    u32 zero = 0;
    struct sa_file_act *ev = bpf_map_lookup_elem(&file_scratch, &zero);
    if (!ev)
        return NULL;
    fill_header(&ev->h, SA_EV_FILE_ACT, task);
    ev->op = op;
    ev->flags = 0;
    ev->fd = -1;
    ev->open_flags = 0;
    ev->dir_len = 0;
    ev->name_len = 0;
    ev->dir2_len = 0;
    ev->name2_len = 0;
    return ev;
}

/* (dentry, mount) up to the global root, leaf first, each component followed by '/', written at
 * data[off…]; returns the new offset. Crosses mounts; the process's root is no stop, so a chrooted
 * process's files are named as they are outside its chroot. A global function: the verifier checks
 * its loop once, not once per call site (a rename walks twice, each in one of three ways).
 *
 * `which`: SA_WALK_HELD (a file the kernel holds), SA_WALK_DIR or SA_WALK_DIR2 (the directory of a
 * call's first or second name). For the latter two it notes where on the walk the process's root
 * was (open_flags, SA_FILE_ROOT_AT): a relative name's ".." stops there in the kernel, and so it
 * must in the path user space makes. A walk that ends at the top of a mount tree other than the
 * process's namespace's (a mount detached by open_tree, fsmount or umount -l, still used through a
 * descriptor or the working directory) sets SA_FILE_DETACHED (SA_FILE_DETACHED2 for the second
 * name's): its path is not one anyone else could open. */
#define SA_WALK_HELD 0
#define SA_WALK_DIR 1
#define SA_WALK_DIR2 2
__attribute__((noinline)) u64 sa_file_walk(struct sa_file_act *ev, u64 dentry_addr, u64 vfsmnt_addr, u64 off, u64 which)
{
    if (!ev)
        return off;
    struct dentry *dentry = (struct dentry *)dentry_addr;
    struct vfsmount *vfsmnt = (struct vfsmount *)vfsmnt_addr;
    u64 mnt_offset = bpf_core_field_offset(struct mount, mnt);
    struct mount *mnt = (struct mount *)((char *)vfsmnt - mnt_offset);
    struct task_struct *task = bpf_get_current_task_btf();
    u64 root_dentry = (u64)task->fs->root.dentry, root_mnt = (u64)task->fs->root.mnt, root_at = 0;
    u64 start = off;
    int i;
    for (i = 0; i < SA_FILE_DEPTH; i++) {
        if (which != SA_WALK_HELD && !root_at && (u64)dentry == root_dentry && (u64)vfsmnt == root_mnt)
            root_at = off - start + 1;  /* 0: not passed */
        if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
            struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
            if (parent == mnt) {
                if ((u64)mnt != (u64)task->nsproxy->mnt_ns->root)
                    ev->flags |= which == SA_WALK_DIR2 ? SA_FILE_DETACHED2 : SA_FILE_DETACHED;
                break;
            }
            dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
            mnt = parent;
            vfsmnt = (struct vfsmount *)((char *)parent + mnt_offset);
            continue;
        }
        struct dentry *up = BPF_CORE_READ(dentry, d_parent);
        if (up == dentry)
            break;
        if (off - start > SA_FILE_DIR_MAX - 256) {
            ev->flags |= SA_FILE_TRUNCATED;
            break;
        }
        long n = bpf_probe_read_kernel_str(ev->data + (off & SA_FILE_MASK), 256, BPF_CORE_READ(dentry, d_name.name));
        if (n <= 1)
            break;
        off += n - 1;
        ev->data[off & SA_FILE_MASK] = '/';
        off += 1;
        dentry = up;
    }
    if (i == SA_FILE_DEPTH)
        ev->flags |= SA_FILE_TRUNCATED;
    if (which == SA_WALK_DIR)
        ev->open_flags |= root_at & 0xffff;
    else if (which == SA_WALK_DIR2)
        ev->open_flags |= (root_at & 0xffff) << 16;
    return off;
}

static __always_inline u64 file_walk(struct sa_file_act *ev, struct dentry *dentry, struct vfsmount *vfsmnt, u64 off)
{
    return sa_file_walk(ev, (u64)dentry, (u64)vfsmnt, off, SA_WALK_HELD);
}

static __always_inline u64 file_walk_file(struct sa_file_act *ev, struct file *file, u64 off)
{
    struct file___sa *f = (struct file___sa *)file;
    return file_walk(ev, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), off);
}

/* The name from user memory at data[off…]; returns the new offset. */
static __always_inline u64 file_name(struct sa_file_act *ev, const char *user, u64 off)
{
    long n = bpf_probe_read_user_str(ev->data + (off & SA_FILE_MASK), SA_FILE_NAME_MAX, user);
    if (n <= 1)
        return off;
    if (n == SA_FILE_NAME_MAX)
        ev->flags |= SA_FILE_NAME_TRUNCATED;
    return off + n - 1;
}

/* A pointer as a plain value (the global functions take values, not the verifier's typed
 * pointers): one helper call. */
static __always_inline u64 plain(const void *p)
{
    u64 v = 0;
    const void *q = p;
    bpf_probe_read_kernel(&v, sizeof(v), &q);
    return v;
}

/* sa_file_where for a directory reached through the task's BTF pointer (the root or the working
 * directory): plain loads up to its mount's root instead of a helper call per field; what is above
 * (the mount and its parents) is hashed by sa_file_where, unless it is the root of the root mount.
 * Each level: its name hash (which the kernel salts with the parent) and inode number. */
static __always_inline u64 seen_where_direct(struct task_struct *task, struct dentry *dentry, struct vfsmount *vfsmnt, u64 h)
{
    if (!dentry || !vfsmnt)
        return 0;
    struct dentry *root = vfsmnt->mnt_root;
    /* The root of the process's mount namespace: the top (its parent is itself). Read before the
     * loop: the verifier resolves each load from task_struct's BTF anew in every state it visits. */
    struct mount *top = task->nsproxy->mnt_ns->root;
    for (int i = 0; i < SA_FILE_DEPTH; i++) {
        if (dentry == root) {
            if ((void *)&top->mnt == (void *)vfsmnt)
                return h | 1;
            /* The process's root mounted on its namespace's first mount's root (after an initramfs,
             * on most machines): what sa_file_where gives for it, in two helper calls, not nine. */
            u64 mount = plain(vfsmnt), mnt_offset = bpf_core_field_offset(struct mount, mnt), parent = 0, mountpoint = 0, root = 0;
            MOUNT_UP(mount - mnt_offset, &parent, &mountpoint, &root);
            if (parent == (u64)top && mountpoint == (u64)top->mnt.mnt_root && top->mnt_parent == top)
                return seen_mix(seen_mix(h, mount), parent + mnt_offset) | 1;
            return sa_file_where(plain(dentry), mount, h);
        }
        struct dentry *up = dentry->d_parent;
        h = seen_mix(h, dentry->d_name.hash_len);
        h = seen_mix(h, dentry->d_inode->i_ino);
        if (up == dentry)
            return h | 1;
        dentry = up;
    }
    return 0;
}

/* The directory a name is resolved from, read once (the key and the report name the same one):
 * the root for a name that starts with '/', else the dirfd's file or the working directory; and
 * with `secret`, its hash for the key (0: not counted). Either typed pointers (root, working
 * directory: plain loads) or plain values (a dirfd's file); made plain only for a report. */
struct file_dir {
    struct dentry *fs_dentry;
    struct vfsmount *fs_mnt;
    u64 dentry;
    u64 mnt;
    u64 where;
    bool relative;
};

/* A relative name's key also holds the process's root (its inode and device), where its ".." stops:
 * one process that chroots elsewhere between two calls names another file by the same directory and
 * name. (Plain loads: the pointers themselves cannot be hashed.) */
static __always_inline u64 where_rooted(struct task_struct *task, struct file_dir *d, u64 where)
{
    if (!where || !d->relative)
        return where;
    struct path *root = &task->fs->root;
    struct inode *inode = root->dentry->d_inode;
    return seen_mix(seen_mix(where, inode->i_ino), inode->i_sb->s_dev) | 1;
}

static __always_inline struct file_dir file_dir_of(struct task_struct *task, int dirfd, char first, u64 secret)
{
    struct file_dir d = {};
    d.relative = first != '/';
    if (first == '/' || dirfd == AT_FDCWD) {
        /* task: session_member's BTF pointer, read with plain loads. */
        struct fs_struct *fs = task->fs;
        d.fs_dentry = first == '/' ? fs->root.dentry : fs->pwd.dentry;
        d.fs_mnt = first == '/' ? fs->root.mnt : fs->pwd.mnt;
        if (secret)
            d.where = where_rooted(task, &d, seen_where_direct(task, d.fs_dentry, d.fs_mnt, secret));
    } else {
        struct file___sa *dir = (struct file___sa *)file_of(task, dirfd);
        if (dir) {
            d.dentry = (u64)BPF_CORE_READ(dir, f_path.dentry);
            d.mnt = (u64)BPF_CORE_READ(dir, f_path.mnt);
            if (secret)
                d.where = where_rooted(task, &d, sa_file_where(d.dentry, d.mnt, secret));
        }
    }
    return d;
}

/* A directory's hash again, from the pointers file_dir_of read. */
static __always_inline u64 dir_where(struct task_struct *task, struct file_dir dir, u64 secret)
{
    if (dir.fs_dentry)
        return where_rooted(task, &dir, seen_where_direct(task, dir.fs_dentry, dir.fs_mnt, secret));
    return dir.dentry ? where_rooted(task, &dir, sa_file_where(dir.dentry, dir.mnt, secret)) : 0;
}

/* The first byte of a name: from the key when it holds the name, else from user memory. */
static __always_inline char first_byte(const char *kept, const char *user)
{
    char first = 0;
    if (kept)
        return kept[0];
    bpf_probe_read_user(&first, 1, user);
    return first;
}

/* A name as a call took it: the directory the kernel resolved, then the name (from the key when it
 * holds it: read from user memory once, so that a thread changing it meanwhile cannot make the
 * report and the key name two files). */
static __always_inline u64 file_at(struct sa_file_act *ev, struct file_dir dir, const char *name, const char *kept,
                                   u64 off, unsigned short *dir_len, unsigned short *name_len, u64 which)
{
    u64 start = off;
    if (dir.fs_dentry)
        off = sa_file_walk(ev, plain(dir.fs_dentry), plain(dir.fs_mnt), off, which);
    else if (dir.dentry)
        off = sa_file_walk(ev, dir.dentry, dir.mnt, off, which);
    *dir_len = off - start;
    u64 name_start = off;
    if (kept) {
        long n = bpf_probe_read_kernel_str(ev->data + (off & SA_FILE_MASK), SA_FILE_SEEN_NAME, kept);
        if (n > 1)
            off += n - 1;
    } else {
        off = file_name(ev, name, off);
    }
    *name_len = off - name_start;
    return off;
}

static __always_inline void file_emit(struct sa_file_act *ev, u64 off)
{
    u64 size = __builtin_offsetof(struct sa_file_act, data) + off;
    if (size > sizeof(*ev))
        size = sizeof(*ev);
    emit(ev, size);
}

/* Reports an operation whose repeats `k` will count, the key after the data. The key goes into
 * `file_seen` first, with `v` (count 0, the names) as its value: a report that says its repeats are
 * counted always has its key there (a full map: reported without the key, like any other). A report
 * lost in the ring takes its key out again, so no key swallows repeats nobody will read. Another
 * thread that put the same key in meanwhile made this one a repeat. */
static __always_inline void file_emit_seen(struct sa_file_act *ev, u64 off, struct sa_file_seen_key *k, struct sa_file_seen *v)
{
    if (!k || !v) {
        file_emit(ev, off);
        return;
    }
    long err = bpf_map_update_elem(&file_seen, k, v, BPF_NOEXIST);
    if (err == -17 /* EEXIST */ && seen_repeat(k, &v->names) == SA_SEEN_COUNTED)
        return;
    if (err != 0) {
        file_emit(ev, off);
        return;
    }
    ev->flags |= SA_FILE_SEEN;
    bpf_probe_read_kernel(ev->data + (off & SA_FILE_MASK), sizeof(*k), k);
    u64 size = __builtin_offsetof(struct sa_file_act, data) + (off & SA_FILE_MASK) + sizeof(*k);
    if (size > sizeof(*ev) || bpf_ringbuf_output(&events, ev, size, wakeup_flags(size)) != 0) {
        count_loss(SA_LOSS_RING);
        bpf_map_delete_elem(&file_seen, k);
    }
}

/* A file the kernel holds: what it was opened for, its inode, and where it is (its mount and dentry;
 * one helper call, read_words); with held_dentry, that dentry's parent, name hash and name (one
 * more). */
struct held_file { u64 mnt, dentry, inode, up, hash_len, name; u32 f_mode; };

static __always_inline struct held_file held_file_of(struct file *file)
{
    struct held_file a = {};
    u64 mode_off = bpf_core_field_offset(struct file___sa, f_mode), mode_word = 0;
    read_words((u64)file, mode_off & ~7ULL, bpf_core_field_offset(struct file, f_inode),
               bpf_core_field_offset(struct file___sa, f_path.mnt), bpf_core_field_offset(struct file___sa, f_path.dentry),
               &mode_word, &a.inode, &a.mnt, &a.dentry);
    a.f_mode = mode_word >> ((mode_off & 7) * 8);  /* little-endian: the word's low bytes come first */
    return a;
}

static __always_inline void held_dentry(struct held_file *a)
{
    DENTRY_UP(a->dentry, &a->up, &a->hash_len, &a->name);
}

/* A regular file, or a block device (a disk written under the file system: `dd of=/dev/sda1`,
 * `debugfs -w`). */
static __always_inline bool held_regular_or_disk(struct held_file *a)
{
    struct inode *inode = (struct inode *)a->inode;  /* not inside BPF_CORE_READ: held_file is ours */
    u32 format = BPF_CORE_READ(inode, i_mode) & S_IFMT;
    return format == S_IFREG || format == S_IFBLK;
}

/* The key of an operation on a file the kernel holds (open, a descriptor's call): its directory and
 * its name as the dcache has them (the name into v). 0 (seen_file: false): not counted (too deep, a
 * long name). */
static __always_inline u64 seen_file_where(struct held_file *a, u64 secret)
{
    u64 where = sa_file_where(a->up, a->mnt, secret);
    return where ? seen_mix(where, a->hash_len) | 1 : 0;
}

static __always_inline bool seen_file(struct sa_file_seen_key *k, struct sa_file_seen *v, struct held_file *a)
{
    if (!v)
        return false;
    held_dentry(a);
    if (!seen_dentry_name(v->names.name, (const unsigned char *)a->name, a->hash_len))
        return false;
    u64 secret = seen_secret();
    k->where = seen_file_where(a, secret);
    k->names = seen_names_hash(&v->names, secret);
    return k->where != 0;
}

/* The key once more after the report's walk: NULL when a directory on the way, or the file's name,
 * changed in between (then the report, which names what its walk saw, goes without a key). */
static __always_inline struct sa_file_seen_key *seen_still(struct sa_file_seen_key *k, struct held_file *a)
{
    struct held_file now = *a;
    held_dentry(&now);
    return seen_file_where(&now, seen_secret()) == k->where ? k : NULL;
}

/* An operation on a file the kernel holds (an open, a descriptor's call): counted when its key
 * holds it, else reported. attr: the second name, kept as given and part of the key: the user's name
 * of the attribute a descriptor's call set or removed (fsetxattr, fremovexattr), or (attr_kernel)
 * text the program made (chattr's flags); else NULL. */
static __always_inline void file_held_op(struct task_struct *task, struct sa_tracked_proc *p, struct held_file *a, u32 op,
                                         const char *attr, bool attr_kernel)
{
    struct sa_file_seen_key k;
    seen_key(&k, task, p, op);
    struct sa_file_seen *v = seen_value();
    bool named = !attr;
    if (attr && v)
        named = attr_kernel ? bpf_probe_read_kernel_str(v->names.name2, SA_FILE_SEEN_NAME, attr) > 1
                            : seen_user_name(v->names.name2, attr);
    bool counted = named && seen_file(&k, v, a);
    if (counted && v) {
        int seen = seen_repeat(&k, &v->names);
        if (seen == SA_SEEN_COUNTED)
            return;
        counted = seen == SA_SEEN_NONE;
    }
    struct sa_file_act *ev = file_record(task, op);
    if (!ev)
        return;
    u64 off = file_walk(ev, (struct dentry *)a->dentry, (struct vfsmount *)a->mnt, 0);
    ev->dir_len = off;
    if (attr) {
        /* The second name as the key has it (one read of the user's memory), else read now. */
        u64 start = off;
        long n = 0;
        if ((counted || attr_kernel) && v)
            n = bpf_probe_read_kernel_str(ev->data + (off & SA_FILE_MASK), SA_FILE_SEEN_NAME, v->names.name2);
        else if (attr_kernel)
            n = bpf_probe_read_kernel_str(ev->data + (off & SA_FILE_MASK), SA_FILE_SEEN_NAME, attr);
        else
            off = file_name(ev, attr, off);
        if (n > 1)
            off += n - 1;
        ev->name2_len = off - start;
    }
    if (counted)
        file_emit_seen(ev, off, seen_still(&k, a), v);
    else
        file_emit(ev, off);
}

/* A file a session's process opened (fd), with the flags it asked for: a write, a creation or a
 * truncation of a regular file or a block device is reported; a read is not. A file made without a
 * name (O_TMPFILE, named "#INODE" by the kernel until a link names it) is a creation too, though the
 * kernel does not mark it FMODE_CREATED: the flag asked for only says to look, the file's own flags
 * decide (the kernel keeps __O_TMPFILE in f_flags), so what a caller's memory says cannot forge one. */
static __always_inline void file_opened(struct task_struct *task, struct sa_tracked_proc *p, int fd, u64 open_flags)
{
    struct file *file = file_of(task, fd);
    if (!file)
        return;
    struct held_file a = held_file_of(file);
    u32 op;
    if (a.f_mode & FMODE_CREATED)
        op = SA_FOP_CREATE;
    else if ((open_flags & __O_TMPFILE) && (BPF_CORE_READ(file, f_flags) & __O_TMPFILE))
        op = SA_FOP_CREATE;
    else if (open_flags & O_TRUNC)
        op = SA_FOP_TRUNCATE;
    else if (a.f_mode & FMODE_WRITE)
        op = SA_FOP_WRITE;
    else
        return;
    if (held_regular_or_disk(&a))
        file_held_op(task, p, &a, op, NULL, false);
}

/* A file a transfer server (sftp-server, scp, rsync, or sshd's own child serving internal-sftp)
 * opened for its client: named as the kernel resolved it, so that a later rename of it matches. */
static __always_inline void file_transfer_opened(struct task_struct *task, int fd, u32 open_flags)
{
    struct file *file = file_of(task, fd);
    if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFREG)
        return;
    struct sa_file_act *ev = file_record(task, 0);
    if (!ev)
        return;
    ev->h.type = SA_EV_TRANSFER_OPEN;
    ev->fd = fd;
    ev->open_flags = open_flags;
    u64 off = file_walk_file(ev, file, 0);
    ev->dir_len = off;
    file_emit(ev, off);
}

/* A call on a descriptor that succeeded, with an attribute's name (attr) or none. */
static __always_inline int file_fd_op(struct task_struct *task, struct sa_tracked_proc *p, int fd, u32 op, const char *attr)
{
    struct file *file = file_of(task, fd);
    if (file) {
        struct held_file a = held_file_of(file);
        file_held_op(task, p, &a, op, attr, false);
    }
    return 0;
}

/* ftruncate, fchmod, fchown. */
static __always_inline int file_fd_call(struct syscall_exit_ctx *ctx, u32 op)
{
    if (ctx->ret != 0)
        return 0;
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    struct pt_regs___sa *regs = task ? file_regs(task) : NULL;
    if (!regs)
        return 0;
    return file_fd_op(task, p, (u32)regs->di, op, NULL);
}

/* A call by name that succeeded, with a second name: a path (rename, link), or one kept as given
 * (literal2: a symlink's target, an attribute's name). */
static __always_inline int file_named_call(struct task_struct *task, struct sa_tracked_proc *p, u32 op, int dirfd,
                                           const char *name, int dirfd2, const char *name2, bool literal2, u32 flags)
{
    /* The key: both names (read once, here, into v), both directories. An exchange is reported every
     * time: it is two renames, one each way, which no one key's count can stand for. */
    struct sa_file_seen_key k;
    seen_key(&k, task, p, op);
    struct sa_file_seen *v = seen_value();
    bool counted = !flags && v && seen_user_name(v->names.name, name) && (!name2 || seen_user_name(v->names.name2, name2));
    u64 secret = counted ? seen_secret() : 0;
    char first = first_byte(counted && v ? v->names.name : NULL, name);
    struct file_dir dir = file_dir_of(task, dirfd, first, secret), dir2 = {};
    k.where = dir.where;
    counted = counted && dir.where != 0;
    if (name2 && !literal2) {
        /* Both names from one directory (both absolute, or both relative to one dirfd, as mv's
         * are): read once. */
        char first2 = first_byte(counted && v ? v->names.name2 : NULL, name2);
        bool same = first == '/' ? first2 == '/' : first2 != '/' && dirfd2 == dirfd;
        dir2 = same ? dir : file_dir_of(task, dirfd2, first2, counted ? secret : 0);
        counted = counted && dir2.where != 0;
        k.where = seen_mix(k.where, dir2.where);
    }
    if (counted && v) {
        k.names = seen_names_hash(&v->names, secret);
        int seen = seen_repeat(&k, &v->names);
        if (seen == SA_SEEN_COUNTED)
            return 0;
        counted = seen == SA_SEEN_NONE;
    }
    struct sa_file_act *ev = file_record(task, op);
    if (!ev)
        return 0;
    ev->flags = flags;
    u64 off = file_at(ev, dir, name, counted && v ? v->names.name : NULL, 0, &ev->dir_len, &ev->name_len, SA_WALK_DIR);
    if (literal2) {
        u64 start = off;
        if (counted && v) {
            long n = bpf_probe_read_kernel_str(ev->data + (off & SA_FILE_MASK), SA_FILE_SEEN_NAME, v->names.name2);
            if (n > 1)
                off += n - 1;
        } else {
            off = file_name(ev, name2, off);
        }
        ev->name2_len = off - start;
    } else if (name2) {
        off = file_at(ev, dir2, name2, counted && v ? v->names.name2 : NULL, off, &ev->dir2_len, &ev->name2_len, SA_WALK_DIR2);
    }
    /* The key once more after the report's walks (from the same directories): unchanged, or the
     * report, which names what its walks saw, goes without a key. */
    if (counted) {
        u64 where = dir_where(task, dir, secret);
        if (name2 && !literal2)
            where = seen_mix(where, dir_where(task, dir2, secret));
        file_emit_seen(ev, off, where == k.where ? &k : NULL, v);
    } else {
        file_emit(ev, off);
    }
    return 0;
}

/* The program bodies: arguments come from the registers saved at syscall entry (x86_64: rdi, rsi,
 * rdx, r10, r8), so no sys_enter hook is needed. */
#define FILE_CALL_PROLOGUE                                            \
    if (ctx->ret < 0)                                                 \
        return 0;                                                     \
    struct sa_tracked_proc *p;                                        \
    struct task_struct *task = session_member(&p);                    \
    struct pt_regs___sa *regs = task ? file_regs(task) : NULL;        \
    if (!regs)                                                        \
        return 0;                                                     \
    u64 a0 = regs->di, a1 = regs->si, a2 = regs->dx, a3 = regs->r10;  \
    (void)a0; (void)a1; (void)a2; (void)a3;

/* The x86_64 numbers of the calls by name (the registers above are x86_64's too). */
#define SA_NR_TRUNCATE 76
#define SA_NR_RENAME 82
#define SA_NR_MKDIR 83
#define SA_NR_RMDIR 84
#define SA_NR_LINK 86
#define SA_NR_UNLINK 87
#define SA_NR_SYMLINK 88
#define SA_NR_CHMOD 90
#define SA_NR_CHOWN 92
#define SA_NR_LCHOWN 94
#define SA_NR_MKNOD 133
#define SA_NR_MKDIRAT 258
#define SA_NR_MKNODAT 259
#define SA_NR_FCHOWNAT 260
#define SA_NR_UNLINKAT 263
#define SA_NR_RENAMEAT 264
#define SA_NR_LINKAT 265
#define SA_NR_SYMLINKAT 266
#define SA_NR_FCHMODAT 268
#define SA_NR_RENAMEAT2 316
#define SA_NR_FCHMODAT2 452
#define SA_NR_UTIME 132
#define SA_NR_SETXATTR 188
#define SA_NR_LSETXATTR 189
#define SA_NR_FSETXATTR 190
#define SA_NR_REMOVEXATTR 197
#define SA_NR_LREMOVEXATTR 198
#define SA_NR_FREMOVEXATTR 199
#define SA_NR_UTIMES 235
#define SA_NR_FUTIMESAT 261
#define SA_NR_UTIMENSAT 280
#define SA_NR_SETXATTRAT 463
#define SA_NR_REMOVEXATTRAT 466
#define SA_NR_FILE_SETATTR 469
#define SA_NR_PIVOT_ROOT 155
#define SA_NR_MOUNT 165
#define SA_NR_UMOUNT2 166
#define SA_NR_MOVE_MOUNT 429
#define SA_NR_MOUNT_SETATTR 442
#define SA_NR_FSPICK 433
#define MS_REMOUNT 32

/* Every call by name, in one program: user space attaches it to each of these calls' exit tracepoint
 * (BPFTracer.namedFileCalls; the section names only the first) and it tells them apart by the
 * syscall number. One program is verified once: as 21 programs, each with the walks and the key
 * inlined, they took the verifier about 6 s of the recorder's start. */
SEC("tracepoint/syscalls/sys_exit_mkdir")
int on_file_named(struct syscall_exit_ctx *ctx)
{
    FILE_CALL_PROLOGUE
    u32 op;
    int dirfd = AT_FDCWD, dirfd2 = AT_FDCWD;
    const char *name, *name2 = NULL;
    bool literal2 = false;
    u32 flags = 0;
    switch (ctx->syscall_nr) {
    case SA_NR_MKDIR: op = SA_FOP_MKDIR; name = (void *)a0; break;
    case SA_NR_MKDIRAT: op = SA_FOP_MKDIR; dirfd = a0; name = (void *)a1; break;
    case SA_NR_RMDIR: op = SA_FOP_RMDIR; name = (void *)a0; break;
    case SA_NR_UNLINK: op = SA_FOP_UNLINK; name = (void *)a0; break;
    case SA_NR_UNLINKAT: op = (a2 & AT_REMOVEDIR) ? SA_FOP_RMDIR : SA_FOP_UNLINK; dirfd = a0; name = (void *)a1; break;
    case SA_NR_RENAME: op = SA_FOP_RENAME; name = (void *)a0; name2 = (void *)a1; break;
    case SA_NR_RENAMEAT: op = SA_FOP_RENAME; dirfd = a0; name = (void *)a1; dirfd2 = a2; name2 = (void *)a3; break;
    case SA_NR_RENAMEAT2:  /* renameat2(olddirfd, old, newdirfd, new, flags): flags in r8 */
        op = SA_FOP_RENAME; dirfd = a0; name = (void *)a1; dirfd2 = a2; name2 = (void *)a3;
        flags = (regs->r8 & RENAME_EXCHANGE) ? SA_FILE_EXCHANGE : 0;
        break;
    case SA_NR_LINK: op = SA_FOP_LINK; name = (void *)a0; name2 = (void *)a1; break;
    case SA_NR_LINKAT: op = SA_FOP_LINK; dirfd = a0; name = (void *)a1; dirfd2 = a2; name2 = (void *)a3; break;
    /* symlink(target, linkpath): the link is the path; the target is kept as given. */
    case SA_NR_SYMLINK: op = SA_FOP_SYMLINK; name = (void *)a1; name2 = (void *)a0; literal2 = true; break;
    case SA_NR_SYMLINKAT: op = SA_FOP_SYMLINK; dirfd = a1; name = (void *)a2; name2 = (void *)a0; literal2 = true; break;
    case SA_NR_CHMOD: op = SA_FOP_CHMOD; name = (void *)a0; break;
    case SA_NR_FCHMODAT:
    case SA_NR_FCHMODAT2: op = SA_FOP_CHMOD; dirfd = a0; name = (void *)a1; break;
    case SA_NR_CHOWN:
    case SA_NR_LCHOWN: op = SA_FOP_CHOWN; name = (void *)a0; break;
    case SA_NR_FCHOWNAT: op = SA_FOP_CHOWN; dirfd = a0; name = (void *)a1; break;
    /* mknod(at) makes a regular file, a FIFO or a device node: a creation. */
    case SA_NR_MKNOD: op = SA_FOP_CREATE; name = (void *)a0; break;
    case SA_NR_MKNODAT: op = SA_FOP_CREATE; dirfd = a0; name = (void *)a1; break;
    case SA_NR_TRUNCATE: op = SA_FOP_TRUNCATE; name = (void *)a0; break;
    /* Extended attributes: the attribute's name is kept as given, like a symlink's target. A call
     * on a descriptor is one on the file the kernel holds, as fchmod's. */
    case SA_NR_SETXATTR:
    case SA_NR_LSETXATTR: op = SA_FOP_SETXATTR; name = (void *)a0; name2 = (void *)a1; literal2 = true; break;
    case SA_NR_FSETXATTR: return file_fd_op(task, p, a0, SA_FOP_SETXATTR, (void *)a1);
    case SA_NR_SETXATTRAT: op = SA_FOP_SETXATTR; dirfd = a0; name = (void *)a1; name2 = (void *)a3; literal2 = true; break;
    case SA_NR_REMOVEXATTR:
    case SA_NR_LREMOVEXATTR: op = SA_FOP_REMOVEXATTR; name = (void *)a0; name2 = (void *)a1; literal2 = true; break;
    case SA_NR_FREMOVEXATTR: return file_fd_op(task, p, a0, SA_FOP_REMOVEXATTR, (void *)a1);
    case SA_NR_REMOVEXATTRAT: op = SA_FOP_REMOVEXATTR; dirfd = a0; name = (void *)a1; name2 = (void *)a3; literal2 = true; break;
    /* file_setattr(dfd, name, &attr, size, at_flags) (6.17) sets what chattr's ioctls set, by name:
     * recorded by its path; the flags it set are not read. */
    case SA_NR_FILE_SETATTR: op = SA_FOP_SETFLAGS; dirfd = a0; name = (void *)a1; break;
    /* Mounts change what every path under them names (a bind mount over ~/.ssh, /etc/passwd): the
     * mount point by its path; the source as given (a device, a directory, "none"). mount(source,
     * target, fstype, flags, …), a remount with MS_REMOUNT; move_mount(from_dfd, from_path, to_dfd,
     * to_path, …), the new API's attach (its source usually a descriptor from fsmount or open_tree,
     * from_path ""); pivot_root(new_root, put_old): the new root. Changes of a mount or its file
     * system: mount_setattr(dfd, path, …) (read-only, nosuid …), fspick(dfd, path, …), which opens
     * the file system at path for fsconfig to reconfigure. */
    case SA_NR_MOUNT:
        op = (a3 & MS_REMOUNT) ? SA_FOP_REMOUNT : SA_FOP_MOUNT; name = (void *)a1; name2 = (void *)a0; literal2 = true;
        break;
    case SA_NR_MOVE_MOUNT: op = SA_FOP_MOUNT; dirfd = a2; name = (void *)a3; name2 = (void *)a1; literal2 = true; break;
    case SA_NR_PIVOT_ROOT: op = SA_FOP_MOUNT; name = (void *)a0; break;
    case SA_NR_MOUNT_SETATTR:
    case SA_NR_FSPICK: op = SA_FOP_REMOUNT; dirfd = a0; name = (void *)a1; break;
    case SA_NR_UMOUNT2: op = SA_FOP_UMOUNT; name = (void *)a0; break;
    /* Times: with no name (futimens is utimensat(fd, NULL, …)), the descriptor's file's. */
    case SA_NR_UTIME:
    case SA_NR_UTIMES: op = SA_FOP_UTIME; name = (void *)a0; break;
    case SA_NR_FUTIMESAT:
    case SA_NR_UTIMENSAT:
        if (!a1)
            return file_fd_op(task, p, a0, SA_FOP_UTIME, NULL);
        op = SA_FOP_UTIME; dirfd = a0; name = (void *)a1; break;
    default: return 0;
    }
    return file_named_call(task, p, op, dirfd, name, dirfd2, name2, literal2, flags);
}

/* ftruncate, fchmod and fchown: one program too (BPFTracer.descriptorFileCalls), for the same reason:
 * each copy took the verifier about 0.2 s of the recorder's start. */
#define SA_NR_FTRUNCATE 77
#define SA_NR_FCHMOD 91
#define SA_NR_FCHOWN 93
SEC("tracepoint/syscalls/sys_exit_ftruncate")
int on_file_descriptor(struct syscall_exit_ctx *ctx)
{
    switch (ctx->syscall_nr) {
    case SA_NR_FTRUNCATE: return file_fd_call(ctx, SA_FOP_TRUNCATE);
    case SA_NR_FCHMOD: return file_fd_call(ctx, SA_FOP_CHMOD);
    case SA_NR_FCHOWN: return file_fd_call(ctx, SA_FOP_CHOWN);
    default: return 0;
    }
}

/* chattr: ioctl(fd, FS_IOC_SETFLAGS, &flags) or ioctl(fd, FS_IOC_FSSETXATTR, &fsxattr) that
 * succeeded sets the inode's flags (immutable, append-only …) of a file the process holds, which it
 * opened for reading, so no open reported it. The second name, as text: "flags 0xVALUE state 0xSS" or
 * "xflags 0xVALUE state 0xSS" (the latter FS_IOC_FSSETXATTR's, another numbering; the recorder names
 * them). VALUE is what the caller passed (its first 32 bits: the flags, or fsx_xflags), read at the
 * call's exit from its memory, which another of its threads may have rewritten by then ("?" if it
 * could not be read); SS is what the kernel holds then, the inode's own flags (S_SYNC, S_NOATIME,
 * S_APPEND, S_IMMUTABLE, S_DIRSYNC), which no caller can make say otherwise. Every other ioctl (a
 * terminal's, above all) stops at the command's compare. */
#define SA_FS_IOC_SETFLAGS 0x40086602u    /* _IOW('f', 2, long) */
#define SA_FS_IOC_FSSETXATTR 0x401c5820u  /* _IOW('X', 32, struct fsxattr) */
#define SA_INODE_FLAGS 0x4fu              /* S_SYNC | S_NOATIME | S_APPEND | S_IMMUTABLE | S_DIRSYNC */
#define SA_HEX(dst, v, digits)                                              \
    for (int i_ = 0; i_ < (digits); i_++) {                                 \
        u32 d_ = ((v) >> (4 * ((digits) - 1 - i_))) & 0xf;                  \
        (dst)[i_] = d_ < 10 ? '0' + d_ : 'a' + d_ - 10;                     \
    }

/* "0xVALUE state 0xSS" (or "? state 0xSS") at dst: 24 bytes at most. */
static __always_inline void setflags_text(char *dst, bool readable, u32 value, u32 state)
{
    if (readable) {
        __builtin_memcpy(dst, "0x", 2);
        SA_HEX(dst + 2, value, 8);
        __builtin_memcpy(dst + 10, " state 0x", 9);
        SA_HEX(dst + 19, state, 2);
    } else {
        __builtin_memcpy(dst, "? state 0x", 10);
        SA_HEX(dst + 10, state, 2);
    }
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int on_file_ioctl(struct syscall_exit_ctx *ctx)
{
    if (ctx->ret != 0)
        return 0;
    struct pt_regs___sa *regs = file_regs(bpf_get_current_task_btf());
    if (!regs)
        return 0;
    u32 cmd = regs->si;
    if (cmd != SA_FS_IOC_SETFLAGS && cmd != SA_FS_IOC_FSSETXATTR)
        return 0;
    struct sa_tracked_proc *p;
    struct task_struct *task = session_member(&p);
    if (!task)
        return 0;
    struct file *file = file_of(task, regs->di);
    if (!file)
        return 0;
    struct held_file a = held_file_of(file);
    struct inode *inode = (struct inode *)a.inode;  /* not inside BPF_CORE_READ: held_file is ours */
    u32 state = BPF_CORE_READ(inode, i_flags) & SA_INODE_FLAGS;
    u32 value = 0;
    bool readable = bpf_probe_read_user(&value, sizeof(value), (void *)regs->dx) == 0;
    char text[40] = {};
    if (cmd == SA_FS_IOC_SETFLAGS) {
        __builtin_memcpy(text, "flags ", 6);
        setflags_text(text + 6, readable, value, state);
    } else {
        __builtin_memcpy(text, "xflags ", 7);
        setflags_text(text + 7, readable, value, state);
    }
    file_held_op(task, p, &a, SA_FOP_SETFLAGS, text, true);
    return 0;
}

/* open(path, flags, mode), creat(path, mode), openat2(dfd, path, how, size) and
 * open_by_handle_at(mount_fd, handle, flags): the descriptor returned, in one program
 * (BPFTracer.openFileCalls). open_by_handle_at opens a file by a handle from name_to_handle_at,
 * bypassing the path (it needs CAP_DAC_READ_SEARCH): a write or truncation is file activity like any
 * open's, the file named by the descriptor returned. openat is handled by on_openat_exit
 * (sshaudit.bpf.c), which calls file_opened. */
#define SA_NR_OPEN 2
#define SA_NR_CREAT 85
#define SA_NR_OPEN_BY_HANDLE_AT 304
#define SA_NR_OPENAT2 437
SEC("tracepoint/syscalls/sys_exit_open")
int on_file_opened(struct syscall_exit_ctx *ctx)
{
    FILE_CALL_PROLOGUE
    u64 flags;
    switch (ctx->syscall_nr) {
    case SA_NR_OPEN: flags = a1; break;
    case SA_NR_CREAT: flags = O_TRUNC; break;
    case SA_NR_OPENAT2:
        /* struct open_how starts with its u64 flags; the caller's memory, which another thread may
         * have changed since the kernel read it: O_TMPFILE is always looked for in the file itself. */
        flags = 0;
        bpf_probe_read_user(&flags, sizeof(flags), (void *)a2);
        flags |= __O_TMPFILE;
        break;
    case SA_NR_OPEN_BY_HANDLE_AT: flags = a2; break;
    default: return 0;
    }
    file_opened(task, p, ctx->ret, flags);
    return 0;
}

#endif
