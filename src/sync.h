#ifndef REFTY_LEVER_SYNC_H
#define REFTY_LEVER_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "exitcode.h"

struct app;
struct config;

/* The orchestrator of sync and backfill: poll Lever, diff against the
 * snapshot, record intents in the journal together with the snapshot change
 * that caused them, then perform the journal's pending actions in Refty. */

struct sync_options {
	bool dry_run;
	bool json;          /* JSON Lines on stdout instead of text */
	long max_actions;   /* < 0: the configuration's max_actions; 0: no limit */
	bool backfill;
	bool seed;             /* sync --seed: start a new state, firing nothing */
	const char *only_rule; /* backfill --rule */
	int64_t since_ms;      /* backfill --since; 0: all */
	bool trigger_current;  /* backfill --trigger-current */
	/* A targeted sync (a webhook's hint): only these opportunities, fetched one by one, and
	 * neither the cursor nor the quarantine is touched; the run is recorded as "webhook". */
	char *const *only_ids;
	size_t n_only_ids;
};

/** Runs one sync or backfill; returns the exit status of design (0..6). */
enum exit_code sync_run(const struct config *cfg, const struct sync_options *opts);

/**
 * Runs one sync with what app holds (the state and its lock, the clients and their rate
 * limiter), opening what it lacks and leaving all of it open for the next run: the cycles of
 * a long-running process. The rules are resolved again each run (from the name cache while it
 * is young), except in a targeted one.
 */
enum exit_code sync_run_app(struct app *app, const struct sync_options *opts);

#endif
