/* Compiles bpf/events.h for the host: its _Static_asserts hold here as they do for the BPF target. */
#include "sshaudit_abi.h"
