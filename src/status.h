#ifndef REFTY_LEVER_STATUS_H
#define REFTY_LEVER_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

/* What 'status' reports about a state database, read in one call into one struct: the state
 * file, the seeding, the sync's cursor, the journal's counts and quarantine, the oldest pending
 * action and the recent runs. Reads only; never writes, never prints, never opens the database
 * (the caller does) and never decides an exit status. */

#define STATUS_QUARANTINE_NAMED 5 /* quarantined records named by id */
#define STATUS_RUNS_MAX 10        /* the most recent runs a report can hold */
#define STATUS_FAILED_NAMED 20    /* failed actions listed with their ids and reasons */

/* Records in quarantine: how many, and the ids of the first few (sanitised). */
struct status_quarantine {
	int64_t n;
	char *ids[STATUS_QUARANTINE_NAMED];
};

struct status_report {
	enum snapshot_presence presence; /* what is at the state path */
	int64_t seeded_at;               /* ms; 0 when not seeded */
	int64_t size;                    /* opportunities in the snapshot */
	int64_t cursor_ms;               /* the sync's poll cursor; 0 when none */
	/* Actions by state (enum action_state); quarantined records are not counted as actions. */
	int64_t counts[ACTION_STATE_COUNT];
	struct status_quarantine unreadable; /* Lever records that cannot be read */
	struct status_quarantine untrusted;  /* times not believed */
	bool have_last;                      /* last: the last healthy sync */
	struct run_record last;
	bool have_oldest; /* oldest: the oldest pending action */
	struct action oldest;
	struct action failed[STATUS_FAILED_NAMED]; /* the oldest failed actions (not quarantine) */
	size_t n_failed;
	struct run_record runs[STATUS_RUNS_MAX]; /* newest first */
	size_t n_runs;
	bool runs_failed; /* the runs could not all be read (logged); those read are kept */
	int64_t now;      /* when the report was read (ms) */
};

/**
 * Fills out from snap, the database opened from state_path, with up to n_runs recent runs
 * (at most STATUS_RUNS_MAX). False on an error (logged), with nothing left to finish; a
 * failure to read the runs is only flagged in runs_failed. On success the caller finishes out.
 */
bool status_read(struct snapshot *snap, const char *state_path, size_t n_runs,
	struct status_report *out);
void status_report_finish(struct status_report *r);

/**
 * True when max_age_ms > 0 and no healthy sync (snapshot_last_healthy) started within
 * max_age_ms of the report's time.
 */
bool status_stale(const struct status_report *r, int64_t max_age_ms);

/** An age for people, in its largest whole unit: "40 s", "4 min", "3 h", "2 d". */
char *status_format_age(int64_t ms, char *buf, size_t size);

#endif
