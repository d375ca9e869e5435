/* Syscall cost probe for the sshaudit benchmarks: what one syscall costs a process that no tracer
 * follows. Attaching any syscall tracepoint program sends every syscall of every task through the
 * kernel's slow entry path, and the write() hook runs (and returns early) for each write() on the
 * machine; this measures both.
 *
 *   sysloop [COUNT]   -> "sysloop getppid_ns=N write_ns=N" (mean ns per call over COUNT calls each)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 2000000;
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0 || count < 1) {
        perror("sysloop");
        return 1;
    }
    char byte = 'x';
    double t0 = now_ns();
    for (long i = 0; i < count; i++)
        syscall(SYS_getppid);
    double t1 = now_ns();
    for (long i = 0; i < count; i++)
        if (write(fd, &byte, 1) != 1)
            return 1;
    double t2 = now_ns();
    printf("sysloop getppid_ns=%.1f write_ns=%.1f\n", (t1 - t0) / count, (t2 - t1) / count);
    return 0;
}
