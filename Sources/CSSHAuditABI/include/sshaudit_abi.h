/* The kernel programs' record layout, type codes, flags, roles and loss counters, for Swift: the
 * same header the programs are compiled with (bpf/events.h), so the decoder has no offsets of its
 * own. Plain C types only: it compiles for the host as for the BPF target. */
#ifndef SSHAUDIT_ABI_H
#define SSHAUDIT_ABI_H
#include "../../../bpf/events.h"

/* The fields Swift does not import: it drops a C array of more than 4096 elements. */
static const unsigned int sa_exec_argv_offset = __builtin_offsetof(struct sa_exec, argv);
static const unsigned int sa_file_act_data_offset = __builtin_offsetof(struct sa_file_act, data);
#endif
