/* zlib from the system (Debian: zlib1g-dev), to compress terminal recordings. */
#include <zlib.h>
