/* Holds a disabled perf event on every syscall tracepoint while the integration tests run (the
 * Makefile's `test` starts it after SessionHooksTests, which attach and detach the session hooks as
 * on a server, and ends it last). It skips and disables no test: every test runs, on real BPF.
 *
 * Why: when the last perf event of a syscall tracepoint goes, the kernel unregisters the tracepoint
 * and waits for RCU grace periods under its event mutex, about 40 ms a tracepoint here. A recorder's
 * stop with the session hooks attached detaches some 60 of them: 2 s of every integration test,
 * serialised across the tests that run side by side. With this one held, the detach finds the
 * tracepoint still in use and only takes the program off it.
 *
 * What it changes: nothing the tests look at. The recorder's programs attach and detach exactly as
 * without it; these events are opened disabled and never enabled, so they record nothing, and the
 * kernel runs a program on a syscall tracepoint whether or not another event holds it. A stop on a
 * server, with no such holder, takes its 2 s (docs/ARCHITECTURE.md, "Session hooks").
 *
 * It exits when the shell that started it does (a test run interrupted leaves nothing behind);
 * its own exit releases the tracepoints, one grace period each, in the background. */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const roots[] = {"/sys/kernel/tracing/events/syscalls", "/sys/kernel/debug/tracing/events/syscalls"};

int main(void)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 0;  /* the parent is gone already */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {  /* one descriptor a tracepoint: some 700 */
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    /* A machine that has not mounted tracefs yet (the recorder would mount it too). */
    if (access(roots[0], F_OK) != 0 && access(roots[1], F_OK) != 0)
        mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
    int held = 0;
    for (unsigned r = 0; r < sizeof roots / sizeof roots[0] && held == 0; r++) {
        DIR *dir = opendir(roots[r]);
        if (!dir)
            continue;
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strncmp(entry->d_name, "sys_enter_", 10) != 0 && strncmp(entry->d_name, "sys_exit_", 9) != 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s/id", roots[r], entry->d_name);
            FILE *f = fopen(path, "r");
            unsigned long long id;
            int ok = f && fscanf(f, "%llu", &id) == 1;
            if (f)
                fclose(f);
            if (!ok)
                continue;
            struct perf_event_attr attr;
            memset(&attr, 0, sizeof attr);
            attr.type = PERF_TYPE_TRACEPOINT;
            attr.size = sizeof attr;
            attr.config = id;
            attr.disabled = 1;
            if (syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC) >= 0)
                held++;
        }
        closedir(dir);
    }
    /* Not holding any only makes the tests slower: said, not fatal. */
    fprintf(stderr, "tracepoint-hold: holding %d syscall tracepoints\n", held);
    for (;;)
        pause();
}
