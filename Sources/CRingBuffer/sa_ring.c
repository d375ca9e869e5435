/* Everything is inline in include/sa_ring.h; a C target needs one source file. */
#include "sa_ring.h"
