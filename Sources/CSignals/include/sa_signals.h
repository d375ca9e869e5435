/* The recorder's stop and reopen requests (SIGINT, SIGTERM; SIGHUP), noted by a handler that is in
 * place from the moment it is installed. (A handler installed later, from another thread, as a
 * dispatch source's is, leaves a window in which the signal's disposition is "ignore": a stop
 * requested then was dropped, and the recorder went on.) The handler only sets a flag and writes one
 * byte to a pipe, both safe in a signal handler. */
#ifndef SA_SIGNALS_H
#define SA_SIGNALS_H

/* Installs the handler for SIGINT, SIGTERM and SIGHUP (once; later calls return the same). Returns
 * the read end of the pipe that gets a byte per signal (blocking reads), or -1 (errno set). */
int sa_signals_install(void);

/* Whether SIGINT or SIGTERM came since the install. */
int sa_signals_stop_requested(void);

/* Whether SIGHUP came since the last call (the request is taken). */
int sa_signals_take_reopen(void);

#endif
