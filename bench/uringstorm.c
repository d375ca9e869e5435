/* io_uring request storm for bench/uring.sh: `uringstorm -n N [-b BATCH] [-o]` creates one ring and
 * submits N no-op requests (with -o: openat of /dev/null for reading and close of what they opened,
 * batch by batch), BATCH per io_uring_enter (default 1: the syscall's cost dominates), waiting for
 * each batch's completions; prints "uringstorm seconds=S requests=N failed=F". */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = 100000, batch = 1;
    int c, open_close = 0, fds[64];
    while ((c = getopt(argc, argv, "n:b:o")) != -1) {
        if (c == 'n') n = atol(optarg);
        else if (c == 'b') batch = atol(optarg);
        else if (c == 'o') open_close = 1;
        else return 2;
    }
    if (batch < 1 || batch > 64) return 2;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = syscall(__NR_io_uring_setup, 64, &p);
    if (ring < 0) { perror("io_uring_setup"); return 1; }
    char *sq = mmap(0, p.sq_off.array + p.sq_entries * sizeof(unsigned), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
    char *cq = mmap(0, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) { perror("mmap"); return 1; }
    unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail), *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
    unsigned *cq_head = (unsigned *)(cq + p.cq_off.head), *cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    long failed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int closing = 0;
    unsigned opened = 0;
    for (long left = n; left > 0; left -= batch, closing = open_close && !closing) {
        unsigned k, m = left < batch ? left : batch, tail = *sq_tail;
        if (closing) m = opened;
        for (k = 0; k < m; k++, tail++) {
            unsigned i = tail & *sq_mask;
            memset(&sqes[i], 0, sizeof sqes[i]);
            sqes[i].opcode = IORING_OP_NOP;
            if (open_close && !closing) {
                sqes[i].opcode = IORING_OP_OPENAT;
                sqes[i].fd = AT_FDCWD;
                sqes[i].addr = (unsigned long)"/dev/null";
                sqes[i].open_flags = O_RDONLY;
            } else if (closing) {
                sqes[i].opcode = IORING_OP_CLOSE;
                sqes[i].fd = fds[k];
            }
            sqes[i].user_data = k;
            sq_array[i] = i;
        }
        opened = 0;
        __atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
        if (syscall(__NR_io_uring_enter, ring, m, m, IORING_ENTER_GETEVENTS, NULL, 0) < 0) { perror("io_uring_enter"); return 1; }
        for (k = 0; k < m; k++) {
            unsigned head = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);
            struct io_uring_cqe *cqe = &cqes[head & *cq_mask];
            if (cqe->res < 0) failed++;
            else if (open_close && !closing) fds[opened++] = cqe->res;
            __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("uringstorm seconds=%.6f requests=%ld failed=%ld\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, n, failed);
    return 0;
}
