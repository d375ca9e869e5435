/* Ordered loads and stores on the positions of a BPF ring buffer shared with the kernel: the
 * producer position and record headers are read with acquire semantics, the consumer position is
 * published with release semantics (as the kernel's own reader does). Swift has no portable way to
 * do this on memory it did not allocate. */
#ifndef SA_RING_H
#define SA_RING_H

#include <stdint.h>

static inline uint64_t sa_ring_load_u64(const void *p)
{
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}

static inline uint32_t sa_ring_load_u32(const void *p)
{
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static inline void sa_ring_store_u64(void *p, uint64_t value)
{
    __atomic_store_n((uint64_t *)p, value, __ATOMIC_RELEASE);
}

#endif
