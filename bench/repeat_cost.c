/* What a kernel-counted repeat's pieces cost, per piece, independent of the machine's other load (as
 * root):
 *
 *   clang -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu -c bench/repeat_cost.bpf.c -o repeat_cost.bpf.o
 *   gcc -O2 -o repeat_cost bench/repeat_cost.c -lbpf && ./repeat_cost repeat_cost.bpf.o
 *
 * Loads bench/repeat_cost.bpf.c, fills both maps with 8 keys the programs look up and 2,000 others,
 * and runs each program 20,000 times through BPF_PROG_TEST_RUN, three rounds. Prints the kernel's
 * mean time per run divided by the 64 pieces a run does: "PROGRAM NS per piece". */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct bpf_object *obj = bpf_object__open_file(argc > 1 ? argv[1] : "repeat_cost.bpf.o", NULL);
    if (!obj || bpf_object__load(obj)) {
        fprintf(stderr, "repeat_cost: cannot load the BPF object (run as root)\n");
        return 1;
    }
    int map160 = bpf_object__find_map_fd_by_name(obj, "seen160"), map40 = bpf_object__find_map_fd_by_name(obj, "seen40");
    unsigned long long key160[20], key40[5], value16[2] = {0}, value152[19] = {0};
    value152[3 + 2] = 9;  /* the names the program compares: word 2 is 9 */
    for (int i = 0; i < 2008; i++) {
        memset(key160, 0, sizeof(key160));
        memset(key40, 0, sizeof(key40));
        if (i < 8) {
            key160[3] = key40[3] = 5;
            key160[0] = key40[0] = i;
        } else {
            key160[5] = key40[2] = i;
        }
        bpf_map_update_elem(map160, key160, value16, 0);
        bpf_map_update_elem(map40, key40, value152, 0);
    }
    static char path[] = "/tmp/sshaudit-files-bench-22561/f12.r";  /* 37 bytes, as the storm's names */
    unsigned int zero = 0;
    unsigned long long path_addr = (unsigned long long)path;
    bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "user_path"), &zero, &path_addr, 0);
    char packet[64] = {0};
    struct bpf_program *prog;
    for (int round = 1; round <= 3; round++) {
        bpf_object__for_each_program(prog, obj) {
            LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = packet, .data_size_in = sizeof(packet), .repeat = 20000);
            if (bpf_prog_test_run_opts(bpf_program__fd(prog), &run) != 0) {
                fprintf(stderr, "repeat_cost: %s did not run\n", bpf_program__name(prog));
                return 1;
            }
            printf("round %d  %-22s %6.1f ns per piece\n", round, bpf_program__name(prog), run.duration / 64.0);
        }
    }
    return 0;
}
