/* What a kernel-counted repeat's pieces cost (bench/repeat_cost.c loads and runs this): each program
 * does one piece N times in a loop, run through BPF_PROG_TEST_RUN, so the time per piece does not
 * depend on a storm, a session or the machine's other load. The repeat of bpf/files.bpf.h before
 * and after its 40-byte key: a 160-byte key's lookup and add then the clock; a 40-byte key's lookup,
 * the 128 name bytes compared, the add and the clock gated by the tick. Also the reads a call by name
 * and an open make before their repeat: a path from user memory, and a kernel string. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef unsigned long long u64;
#define N 64

struct key160 { u64 w[20]; };
struct key40 { u64 w[5]; };
struct value16 { u64 count, last_ns; };
struct value152 { u64 count, last_ns, last_tick; u64 names[16]; };

/* Shaped as bpf/files.bpf.h's file_seen. */
#define SEEN_MAP(name, key_type, value_type)    \
    struct {                                    \
        __uint(type, BPF_MAP_TYPE_HASH);        \
        __uint(max_entries, 16384);             \
        __uint(map_flags, BPF_F_NO_PREALLOC);   \
        __type(key, key_type);                  \
        __type(value, value_type);              \
    } name SEC(".maps")
SEEN_MAP(seen160, struct key160, struct value16);
SEEN_MAP(seen40, struct key40, struct value152);

u64 sink;

static __always_inline u64 mix(u64 h, u64 v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 31);
}

SEC("tc") int loop_only(void *ctx)
{
    for (int i = 0; i < N; i++) {
        sink += i;
        asm volatile("" ::: "memory");
    }
    return 0;
}

SEC("tc") int clock_boot(void *ctx)
{
    for (int i = 0; i < N; i++)
        sink += bpf_ktime_get_boot_ns();
    return 0;
}

SEC("tc") int jiffies(void *ctx)
{
    for (int i = 0; i < N; i++)
        sink += bpf_jiffies64();
    return 0;
}

SEC("tc") int probe_read_kernel(void *ctx)
{
    u64 x = 0;
    for (int i = 0; i < N; i++) {
        bpf_probe_read_kernel(&x, 8, &sink);
        sink += x;
    }
    return 0;
}

/* The repeat before: the 160-byte key (names in it) looked up, the count added, the clock read. */
SEC("tc") int repeat_key160(void *ctx)
{
    struct key160 k = {};
    k.w[3] = 5;
    for (int i = 0; i < N; i++) {
        k.w[0] = i & 7;
        struct value16 *v = bpf_map_lookup_elem(&seen160, &k);
        if (v) {
            __sync_fetch_and_add(&v->count, 1);
            v->last_ns = bpf_ktime_get_boot_ns();
        }
    }
    return 0;
}

/* The repeat now: the names hashed into the 40-byte key, looked up, compared with the value's, the
 * count added, the clock read only when the tick moved. */
SEC("tc") int repeat_key40(void *ctx)
{
    u64 names[16] = {};
    names[2] = 9;
    struct key40 k = {};
    k.w[3] = 5;
    for (int i = 0; i < N; i++) {
        u64 h = sink | 1;  /* the secret: unknown to the compiler */
        for (int j = 0; j < 16; j++)
            h = mix(h, names[j]);
        k.w[0] = i & 7;
        k.w[4] = h == 0;  /* the hash is computed; the seeded keys hold 0 here */
        struct value152 *v = bpf_map_lookup_elem(&seen40, &k);
        if (!v)
            continue;
        int same = 1;
        for (int j = 0; j < 16; j++)
            if (v->names[j] != names[j])
                same = 0;
        if (!same)
            continue;
        __sync_fetch_and_add(&v->count, 1);
        u64 tick = bpf_jiffies64();
        if (v->last_tick != tick) {
            v->last_tick = tick;
            v->last_ns = bpf_ktime_get_boot_ns();
        }
    }
    return 0;
}

/* The name reads of a call by name and of an open: a path from the caller's memory (this program
 * runs in the caller's context under BPF_PROG_TEST_RUN, so its address is one of repeat_cost.c's),
 * an 8-byte read from it, and a kernel string of the same length. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, unsigned int);
    __type(value, u64);
} user_path SEC(".maps");
char kernel_path[64] = "/tmp/sshaudit-files-bench-22561/f12.r";

static __always_inline const void *user_path_addr(void)
{
    unsigned int zero = 0;
    u64 *a = bpf_map_lookup_elem(&user_path, &zero);
    return a ? (const void *)*a : 0;
}

SEC("tc") int probe_read_user_str(void *ctx)
{
    const void *src = user_path_addr();
    char buf[64];
    for (int i = 0; i < N; i++)
        sink += bpf_probe_read_user_str(buf, sizeof(buf), src) + buf[3];
    return 0;
}

SEC("tc") int probe_read_user(void *ctx)
{
    const void *src = user_path_addr();
    u64 x = 0;
    for (int i = 0; i < N; i++) {
        bpf_probe_read_user(&x, 8, src);
        sink += x;
    }
    return 0;
}

SEC("tc") int probe_read_kernel_str(void *ctx)
{
    char buf[64];
    for (int i = 0; i < N; i++)
        sink += bpf_probe_read_kernel_str(buf, sizeof(buf), kernel_path) + buf[3];
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
