#define _GNU_SOURCE
#include "sa_signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested, reopen_requested;
static int pipe_read = -1, pipe_write = -1;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP)
        reopen_requested = 1;
    else
        stop_requested = 1;
    char byte = (char)sig;
    /* Non-blocking: a full pipe already holds a wake-up. */
    if (write(pipe_write, &byte, 1) < 0) { /* nothing to do in a handler */ }
    errno = saved;
}

int sa_signals_install(void)
{
    if (pipe_read >= 0)
        return pipe_read;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return -1;
    }
    pipe_write = fds[1];
    pipe_read = fds[0];
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (unsigned i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        if (sigaction(signals[i], &action, NULL) != 0)
            return -1;
    }
    /* Unblocked here: a mask inherited from the parent must not hold them back. */
    sigset_t set;
    sigemptyset(&set);
    for (unsigned i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        sigaddset(&set, signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return pipe_read;
}

int sa_signals_stop_requested(void)
{
    return stop_requested;
}

int sa_signals_take_reopen(void)
{
    return __atomic_exchange_n(&reopen_requested, 0, __ATOMIC_SEQ_CST);
}
