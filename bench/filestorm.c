/* File-operation storm for the sshaudit benchmarks: create/append, rename and unlink in a loop over
 * a few names, as fast as possible or paced.
 *
 *   filestorm DIR [-n OPS] [-r RATE] [-d SECONDS] [-T IN:OUT -B BLOCK]
 *
 * One iteration is three recorded operations: open(O_WRONLY|O_CREAT|O_APPEND) + write + close (a
 * create or a write), rename to NAME.r, unlink NAME.r; names cycle over 64 files, so a recorder
 * aggregates everything into a few rows. -r paces the iterations on an absolute schedule (RATE is in
 * operations per second); with -d, OPS = RATE * SECONDS.
 *
 * -T takes turns with another filestorm: before each block of BLOCK operations it waits for a byte on
 * the FIFO IN, after it writes one to OUT (the other's IN). Two storms in turns meet the same phases of
 * the machine's speed, which drifts within seconds by more than a recorder's cost; "seconds" is then
 * the CPU time of its own blocks (the thread's clock: the other storm, woken by the byte, may still
 * run a moment after this one starts its block, which a wall clock would count here).
 *
 * Prints one line: "filestorm ops=N failed=F seconds=S rate=R late_max_ms=L cpu_s=C" (C: the CPU time
 * the process was charged, user and system, which excludes the time its CPU ran another guest).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: filestorm DIR [-n OPS] [-r RATE] [-d SECONDS]\n");
        return 2;
    }
    const char *dir = argv[1];
    long ops = 30000;
    double rate = 0, secs = 0;
    long block = 0;
    int turn_in = -1, turn_out = -1;
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "n:r:d:T:B:")) != -1) {
        if (opt == 'n') ops = atol(optarg);
        else if (opt == 'r') rate = atof(optarg);
        else if (opt == 'd') secs = atof(optarg);
        else if (opt == 'B') block = atol(optarg) / 3;
        else if (opt == 'T') {
            char *out = strchr(optarg, ':');
            if (!out) return 2;
            *out++ = 0;
            /* Read and write: opening a FIFO so never waits for the other end. */
            turn_in = open(optarg, O_RDWR);
            turn_out = open(out, O_RDWR);
            if (turn_in < 0 || turn_out < 0) { perror("filestorm: -T"); return 2; }
        }
        else return 2;
    }
    if (rate > 0 && secs > 0) ops = (long)(rate * secs);
    if ((turn_in >= 0) != (block > 0) || (block > 0 && rate > 0)) {
        fprintf(stderr, "filestorm: -T and -B go together, without -r\n");
        return 2;
    }
    long iterations = ops / 3;
    double blocks_s = 0, block_start = 0;  /* with -T: the CPU time of this storm's blocks */
    char path[4096], moved[4100];
    long failed = 0;
    double late_max = 0;
    struct timespec start_ts;
    clock_gettime(CLOCK_MONOTONIC, &start_ts);
    double start = now_s();
    for (long i = 0; i < iterations; i++) {
        if (block > 0 && i % block == 0) {
            char token = 't';
            if (i > 0) {
                blocks_s += cpu_now_s() - block_start;
                if (write(turn_out, &token, 1) != 1) return 2;
            }
            if (read(turn_in, &token, 1) != 1) return 2;
            block_start = cpu_now_s();
        }
        if (rate > 0) {
            double due = i * 3 / rate;
            double t = start_ts.tv_sec + start_ts.tv_nsec / 1e9 + due;
            struct timespec at = { (time_t)t, (long)((t - (time_t)t) * 1e9) };
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
            double late = now_s() - start - due;
            if (late > late_max) late_max = late;
        }
        snprintf(path, sizeof path, "%s/f%ld", dir, i % 64);
        snprintf(moved, sizeof moved, "%s.r", path);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0) { failed++; continue; }
        if (write(fd, "x", 1) != 1) failed++;
        close(fd);
        if (rename(path, moved) != 0) failed++;
        if (unlink(moved) != 0) failed++;
    }
    double seconds = now_s() - start;
    if (block > 0) {
        char token = 't';
        seconds = blocks_s + cpu_now_s() - block_start;
        if (write(turn_out, &token, 1) != 1) return 2;  /* the other's last turn */
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("filestorm ops=%ld failed=%ld seconds=%.3f rate=%.0f late_max_ms=%.1f cpu_s=%.4f\n", iterations * 3, failed,
           seconds, iterations * 3 / seconds, late_max * 1000, cpu);
    return failed ? 1 : 0;
}
