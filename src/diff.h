#ifndef REFTY_LEVER_DIFF_H
#define REFTY_LEVER_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opportunity.h"

/* What changed in one opportunity since the snapshot last saw it. Pure logic:
 * no I/O. */

/** One entry of the opportunity into a stage that the snapshot has not handled. */
struct diff_entry {
	char *stage_id;
	int64_t at_ms;
};

/** A time Lever sent that cannot be true, so it was not acted on. */
struct diff_untrusted {
	const char *field; /* "stageChanges", "lastAdvancedAt", "createdAt" or "updatedAt" */
	char *stage_id;    /* the stage entered, for stage entries; else NULL */
	int64_t at_ms;
};

/**
 * The range of times a poll believes, inclusive. A time outside it (in the future beyond
 * any clock skew, or before Lever existed) is a broken record, not an event.
 */
struct diff_trust {
	int64_t not_before_ms;
	int64_t not_after_ms;
};

/** 2000-01-01T00:00:00Z. */
#define DIFF_TRUST_NOT_BEFORE_MS INT64_C(946684800000)
/** How far after the start of a poll a time may lie and still be believed. */
#define DIFF_TRUST_AHEAD_MS INT64_C(86400000)

/** The trusted range of a poll that started at poll_start_ms. */
struct diff_trust diff_trust_for_poll(int64_t poll_start_ms);

struct diff {
	bool is_new;          /* the snapshot has never seen it */
	bool posting_changed; /* seen before, and its job differs (either may be NULL) */
	char *old_posting_id; /* copies; NULL: no application */
	char *new_posting_id;
	bool archived_now;    /* archived, and was not when last seen (or is new) */
	bool anonymized_now;  /* likewise */
	bool confidential;    /* confidential now */
	bool contact_changed; /* seen before, and name, first email or first phone differ */
	bool stage_changed;   /* seen before, and its current stage differs */
	/* New stage entries, oldest first: every stageChanges element later than
	 * what the snapshot handled, re-entries and entries between polls included. */
	struct diff_entry *entries;
	size_t n_entries;
	/* What the snapshot should store as seen_until_ms afterwards: the newest
	 * trusted entry time considered, never less than before (OPP_TIME_NONE if none). */
	int64_t new_seen_until_ms;
	/* The latest trusted entry into cur's current stage, as backfill's
	 * --trigger-current sees it: the newest stageChanges element for that
	 * stage, else last_advanced_at, else created_at; OPP_TIME_NONE if none. */
	int64_t current_entry_ms;
	/* cur's updatedAt when trusted, else OPP_TIME_NONE. */
	int64_t updated_at;
	/* Times outside the trusted range: ignored, they neither fire nor move
	 * new_seen_until_ms. */
	struct diff_untrusted *untrusted;
	size_t n_untrusted;
};

void diff_init(struct diff *d);
/** Frees what d holds and leaves it as diff_init does. */
void diff_finish(struct diff *d);

/**
 * Compares prev (what the snapshot remembers; NULL when it never saw the
 * opportunity) with cur (what Lever returned) into out, which must be
 * initialised; its previous contents are freed. trust bounds the times
 * believed (NULL: all of them).
 *
 * Stage entries come from cur's stageChanges. When Lever sent none, the
 * current stage at last_advanced_at (created_at if null) stands for the latest
 * entry, and counts as new only if it is later than what the snapshot handled
 * and the stage differs from the one the snapshot holds. A last_advanced_at
 * newer than every stageChanges element is not an entry by itself. A time
 * outside trust is listed in out->untrusted and otherwise ignored.
 */
void diff_compute(const struct opportunity_state *prev, const struct opportunity *cur,
	const struct diff_trust *trust, struct diff *out);

/**
 * Fills out (overwritten, not freed) with the snapshot row that records cur,
 * having handled d. Strings are copies; the caller finishes out.
 */
void diff_next_state(const struct opportunity *cur, const struct diff *d,
	struct opportunity_state *out);

/**
 * Fills out (overwritten, not freed) with the row a snapshot would hold had its last look at
 * cur been at at_ms, with cur unchanged since until a change after at_ms: told from cur
 * alone, for an opportunity a listing filtered by job did not return. The stage then is the
 * newest stageChanges element not after at_ms, seen_until_ms the newest trusted one (trust:
 * the times that look believed; NULL: all); without stageChanges, the current stage at
 * last_advanced_at (created_at if null) when that is not after at_ms, else neither is known
 * (NULL, OPP_TIME_NONE). The job then is cur's when its application (applied_at, else
 * created_at) is not after at_ms and elsewhere is false, else NULL (another job, or none).
 * Contact, flags and updated_at are cur's (they decide no action).
 */
void diff_state_at(const struct opportunity *cur, int64_t at_ms, const struct diff_trust *trust,
	bool elsewhere, struct opportunity_state *out);

#endif
