/* PostgreSQL's client library, from the system (Debian: libpq-dev). */
#include <libpq-fe.h>
