/* Exec storm for the sshaudit benchmarks: fork + execve + waitpid, as fast as possible or paced.
 *
 *   storm [-n COUNT] [-r RATE] [-d SECONDS] [-j JOBS] [-- PROGRAM ARGS...]
 *
 *   -n COUNT    total execs (default 20000); with -r and -d, COUNT = RATE * SECONDS
 *   -r RATE     target execs per second over all jobs (default: unpaced, as fast as possible)
 *   -d SECONDS  with -r: run for this long
 *   -j JOBS     parallel workers, each a forked child doing its share serially (default 1)
 *   PROGRAM     what to exec (default /bin/true)
 *
 * Prints one line: "storm execs=N failed=F seconds=S rate=R late_max_ms=L cpu_s=C p50_us=P".
 * Timing covers the execs only (not the ssh connection that may have started the storm). cpu_s is the
 * CPU time (user + system) of the storm and everything it waited for. p50_us is the median time of
 * one fork + exec + wait (with one job only): unlike the total, it hardly moves when other load on
 * the machine preempts a few execs. Pacing uses an absolute schedule per worker (clock_nanosleep
 * TIMER_ABSTIME): a worker that falls behind catches up without sleeping, and late_max_ms says how
 * far behind schedule the worst exec started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct worker_result {
    long done;
    long failed;
    double late_max;
};

static double *latencies;  /* per exec, seconds (one job only) */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_worker(long count, double rate, double start, char **argv, struct worker_result *out)
{
    double interval = rate > 0 ? 1.0 / rate : 0;
    for (long i = 0; i < count; i++) {
        if (rate > 0) {
            double due = start + i * interval;
            double late = now_s() - due;
            if (late < 0) {
                struct timespec ts = { .tv_sec = (time_t)due, .tv_nsec = (long)((due - (time_t)due) * 1e9) };
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
            } else if (late > out->late_max) {
                out->late_max = late;
            }
        }
        double t0 = latencies ? now_s() : 0;
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[0], argv);
            _exit(127);
        }
        if (pid < 0) {
            out->failed++;
            continue;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (latencies)
            latencies[i] = now_s() - t0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            out->done++;
        else
            out->failed++;
    }
}

int main(int argc, char **argv)
{
    long count = 20000, jobs = 1;
    double rate = 0, seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:d:j:")) != -1) {
        switch (opt) {
        case 'n': count = atol(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'j': jobs = atol(optarg); break;
        default:
            fprintf(stderr, "usage: storm [-n COUNT] [-r RATE] [-d SECONDS] [-j JOBS] [-- PROGRAM ARGS...]\n");
            return 2;
        }
    }
    if (rate > 0 && seconds > 0)
        count = (long)(rate * seconds + 0.5);
    if (jobs < 1 || count < 1) {
        fprintf(stderr, "storm: need COUNT >= 1 and JOBS >= 1\n");
        return 2;
    }
    static char *default_argv[] = { "/bin/true", NULL };
    char **prog = optind < argc ? &argv[optind] : default_argv;

    struct worker_result *results = mmap(NULL, sizeof(*results) * jobs, PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (results == MAP_FAILED) {
        perror("storm: mmap");
        return 1;
    }
    memset(results, 0, sizeof(*results) * jobs);

    /* A common schedule origin for all workers (paced: slightly ahead, so every worker starts on time). */
    double start = now_s() + (rate > 0 ? 0.01 : 0);
    if (jobs == 1) {
        latencies = calloc(count, sizeof(double));
        run_worker(count, rate, start, prog, &results[0]);
    } else {
        for (long j = 0; j < jobs; j++) {
            long share = count / jobs + (j < count % jobs ? 1 : 0);
            pid_t pid = fork();
            if (pid == 0) {
                /* Offset each worker's schedule so the jobs interleave evenly. */
                double wrate = rate > 0 ? rate / jobs : 0;
                double wstart = rate > 0 ? start + (double)j / rate : start;
                run_worker(share, wrate, wstart, prog, &results[j]);
                _exit(0);
            }
            if (pid < 0) {
                perror("storm: fork");
                return 1;
            }
        }
        while (wait(NULL) > 0 || errno == EINTR) {}
    }
    double elapsed = now_s() - start;
    if (elapsed <= 0)
        elapsed = 1e-9;
    long done = 0, failed = 0;
    double late_max = 0;
    for (long j = 0; j < jobs; j++) {
        done += results[j].done;
        failed += results[j].failed;
        if (results[j].late_max > late_max)
            late_max = results[j].late_max;
    }
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    double cpu = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6
               + children.ru_utime.tv_sec + children.ru_utime.tv_usec / 1e6 + children.ru_stime.tv_sec + children.ru_stime.tv_usec / 1e6;
    double p50 = 0;
    if (latencies) {
        qsort(latencies, count, sizeof(double), cmp_double);
        p50 = count % 2 ? latencies[count / 2] : (latencies[count / 2 - 1] + latencies[count / 2]) / 2;
    }
    printf("storm execs=%ld failed=%ld seconds=%.6f rate=%.1f late_max_ms=%.1f cpu_s=%.3f p50_us=%.1f\n",
           done, failed, elapsed, done / elapsed, late_max * 1000, cpu, p50 * 1e6);
    return failed ? 1 : 0;
}
