#ifndef REFTY_LEVER_WATCH_H
#define REFTY_LEVER_WATCH_H

/*
 * The long-running loop of `sync --watch` and `serve`: one process that holds the state's
 * lock, its Lever client and that client's rate limiter from one cycle to the next, and runs
 * the incremental sync every interval (the next cycle starts an interval after the previous
 * one started, or at once when it overran). Between polls it takes hints, the opportunities
 * a webhook asked about, and runs a targeted sync of those: the same diff, plan and journal,
 * so a hint can never do anything twice, and the poll underneath catches whatever no hint
 * announced. Every cycle is one run, recorded and summarised like a one-shot run; all of
 * them run on the caller's thread, so there is one writer of the state.
 *
 * Signals: SIGHUP reloads the configuration between cycles (a configuration that does not
 * load, names another state or has rules that do not resolve is logged and the running one
 * kept); SIGTERM and SIGINT end the cycle in progress as they end a one-shot run, and the
 * loop then returns 0.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exitcode.h"

struct config;

/* Where hints come from (serve's receiver), all called from the loop's thread. */
struct watch_hints {
	/* Waits up to timeout_ms for opportunity ids; *n is 0 when none came. */
	void (*take)(void *ud, int timeout_ms, char ***ids, size_t *n);
	void (*free)(char **ids, size_t n);
	/* A reloaded configuration is about to be used: false refuses it (logged). */
	bool (*reconfigure)(void *ud, const struct config *cfg);
	void *ud;
};

struct watch_options {
	const char *config_path; /* read again on SIGHUP */
	unsigned conf_flags;     /* conf_load_with's flags */
	int64_t interval_ms;     /* between poll starts, > 0 */
	bool json;               /* JSON Lines on stdout */
	long max_actions;        /* < 0: the configuration's */
	const struct watch_hints *hints; /* NULL: polls only */
};

struct watch;

/** Takes over cfg (it is freed with the watch, or at a reload). */
struct watch *watch_create(struct config *cfg, const struct watch_options *o);
void watch_destroy(struct watch *w);

/**
 * Runs cycles until a stop is requested: 0 then. It returns early, with the status of the
 * cycle, when the first cycle cannot run at all (the configuration, the state, the lock) or
 * when another process has taken the state's lock.
 */
enum exit_code watch_run(struct watch *w);

/** Whether the last healthy poll started within twice the interval. Any thread. */
bool watch_healthy(struct watch *w);

#endif
