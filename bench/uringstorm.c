/* io_uring request storm for bench/uring.sh: `uringstorm -n N [-b BATCH]` creates one ring and
 * submits N no-op requests, BATCH per io_uring_enter (default 1: the per-request cost at its
 * highest), waiting for each batch's completions; prints "seconds=S requests=N failed=F". */
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
    int c;
    while ((c = getopt(argc, argv, "n:b:")) != -1) {
        if (c == 'n') n = atol(optarg);
        else if (c == 'b') batch = atol(optarg);
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
    for (long left = n; left > 0; left -= batch) {
        unsigned k, m = left < batch ? left : batch, tail = *sq_tail;
        for (k = 0; k < m; k++, tail++) {
            unsigned i = tail & *sq_mask;
            memset(&sqes[i], 0, sizeof sqes[i]);
            sqes[i].opcode = IORING_OP_NOP;
            sq_array[i] = i;
        }
        __atomic_store_n(sq_tail, tail, __ATOMIC_RELEASE);
        if (syscall(__NR_io_uring_enter, ring, m, m, IORING_ENTER_GETEVENTS, NULL, 0) < 0) { perror("io_uring_enter"); return 1; }
        for (k = 0; k < m; k++) {
            unsigned head = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);
            if (cqes[head & *cq_mask].res < 0) failed++;
            __atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("seconds=%.6f requests=%ld failed=%ld\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, n, failed);
    return 0;
}
