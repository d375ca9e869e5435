#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>  /* waiting on the ring buffer (BPFTracer.poll) */
#include <sys/syscall.h>
#include <errno.h>
#include <unistd.h>

/* Attaches the loaded tracepoint program `prog_fd` to the tracepoint whose tracefs id is `id` and
 * returns the link's descriptor (negative: failed, errno says why). What libbpf does for a program
 * of an object, done from a descriptor alone: a resumed recorder has only the pinned program.
 * The perf event is per CPU 0, but a tracepoint runs its programs on every CPU; the link holds the
 * event, so its descriptor is closed here. */
static inline int sa_attach_tracepoint(int prog_fd, unsigned long long id)
{
    struct perf_event_attr attr = {0};
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof(attr);
    attr.config = id;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    int event = (int)syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
    if (event < 0)
        return -1;
    int link = bpf_link_create(prog_fd, event, BPF_PERF_EVENT, NULL);
    int saved = errno;
    close(event);
    errno = saved;
    return link;
}
