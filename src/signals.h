#ifndef REFTY_LEVER_SIGNALS_H
#define REFTY_LEVER_SIGNALS_H

/*
 * Stop requests: what SIGTERM, SIGINT and SIGHUP mean to a one-shot run (sync, backfill), and
 * SIGHUP's reload request to a long-running one (sync --watch, serve). The
 * first asks the run to stop taking new work and to finish what is in flight; a second one
 * asks it to stop at once. This module only keeps that state and lets waits notice it; it
 * knows nothing of runs: what "new work" is, and what gets committed, is its callers' business.
 * It also sets aside the signals that turn a failed write into death (SIGPIPE, SIGXFSZ), so
 * that the writer sees the error and reports it.
 *
 * Design. The handler does only async-signal-safe things: it bumps an atomic counter, keeps
 * the first signal's number, and on the first and on the second signal writes one byte to a
 * pipe of its own (one pipe per level) that nobody ever reads. A pipe so written stays
 * readable for good, so a wait that must end on a stop poll()s the pipe of its level with its
 * timeout, and every waiting thread wakes at once, whichever thread the kernel delivered the
 * signal to (a handler interrupts one thread only). SA_RESTART keeps the other system calls
 * (stdio, SQLite) from failing with EINTR. A dedicated sigwait() thread would need the
 * signals blocked in every thread, and a blocked mask is inherited across exec by the
 * programs we start (api_key_command), which SIGTERM could then no longer stop.
 *
 * Nothing here is needed for correctness when the handlers are not installed (unit tests,
 * commands that are not one-shot runs): no stop is ever requested, and the waits just wait.
 */

#include <stdbool.h>

/** How far a stop has gone: the first signal asks to stop, the second to stop at once. */
enum signals_level {
	SIGNALS_STOP = 1,
	SIGNALS_ABORT = 2,
};

/**
 * Ignores SIGPIPE and SIGXFSZ, so that a write to a closed pipe or beyond RLIMIT_FSIZE fails
 * with EPIPE or EFBIG (and is reported by whoever wrote) instead of killing the process. Once,
 * from main, before any thread starts.
 */
void signals_ignore_write_faults(void);

/**
 * Installs the stop handlers for SIGTERM, SIGINT and SIGHUP (see above). Once, from main,
 * before any thread starts. False (logged) when they cannot be installed; the process then
 * dies of those signals as it would without them.
 */
bool signals_install_stop(void);

/**
 * Whether a stop of at least level was requested. The first caller to see a signal that was
 * not yet reported logs it, once per level, so that the operator learns promptly what the
 * process does about it (whichever thread happens to look first).
 */
bool signals_requested(enum signals_level level);

/** "SIGTERM", "SIGINT" or "SIGHUP": the first stop signal received; NULL before any. */
const char *signals_name(void);

/**
 * Sleeps for seconds, or until a stop of level is requested if that comes first. True when
 * it slept the whole time, false when a stop cut it short (or had been requested already).
 */
bool signals_sleep(double seconds, enum signals_level level);

/**
 * From now on SIGHUP asks for a reload of the configuration instead of a stop: for the
 * long-running commands (sync --watch, serve), whose stop is SIGTERM or SIGINT.
 */
void signals_hup_reloads(void);

/** Whether a reload was asked for since the last call (each request is taken once). */
bool signals_take_reload(void);

/**
 * Sleeps for up to seconds, waking early when a stop or a reload is requested (or was
 * before). Callers look at what woke them.
 */
void signals_wait(double seconds);

#endif
