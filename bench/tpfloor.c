/* Loader for bench/tpfloor.sh: attaches every program of a BPF object (empty programs, one per
 * tracepoint the recorder uses) and holds them until SIGINT or SIGTERM.
 *
 *   tpfloor OBJECT    prints "attached N" once every program is attached
 */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tpfloor OBJECT\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj) != 0) {
        fprintf(stderr, "tpfloor: cannot load %s\n", argv[1]);
        return 1;
    }
    int n = 0;
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, obj) {
        if (!bpf_program__attach(prog)) {
            fprintf(stderr, "tpfloor: cannot attach %s\n", bpf_program__section_name(prog));
            return 1;
        }
        n++;
    }
    printf("attached %d\n", n);
    fflush(stdout);
    while (!stop)
        pause();
    return 0;
}
