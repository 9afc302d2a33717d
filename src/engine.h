#ifndef REFTY_LEVER_ENGINE_H
#define REFTY_LEVER_ENGINE_H

/*
 * The sync engine's shared state, private to its four parts (not a public interface):
 *
 *   sync.c      one run: opens what it needs, polls, applies the safety valve, performs,
 *               records the run; the cursor and the seeded marker
 *   intake.c    what comes in from Lever: each opportunity diffed, planned and journalled
 *               in batches with its snapshot change; quarantine of what cannot be read or
 *               believed
 *   perform.c   the Refty worker pool: the journal's pending actions, performed in order per
 *               opportunity, and their outcomes
 *   backfill.c  backfill's creation-time partitions, checkpoints and progress line
 *   paging.c    a sync's listing: parallel windows for a seeding or a long incremental poll
 *   output.c    the lines (or JSON objects) printed on standard output
 *
 * Threads and locks: the listing threads (intake's callbacks, from the Lever client or the
 * partitions), the Refty workers and the progress ticker all take `db` before they touch the
 * snapshot, the journal or the counters; output.c serialises standard output with a lock of
 * its own, taken after `db` when both are held. The work queue has its own lock. Nothing
 * here is for use outside the engine.
 *
 * Stop requests (signals.h): the Lever client ends a listing at a page boundary and the HTTP
 * layer starts no request once one is made; the engine then commits what it holds (the
 * cursor and the checkpoints stay where the listing was complete), starts no further
 * action, and reports the run as interrupted when work is left for the next run.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "diff.h"
#include "exitcode.h"
#include "lever.h"
#include "listing.h"
#include "partition.h"
#include "plan.h"
#include "snapshot.h"
#include "sync.h"

struct resolved_rule;

struct counts {
	int64_t seen, changed, planned, enrolled, sent, updated, waiting, skipped, failed, pending,
		abandoned, deleted, unreadable, untrusted;
	int64_t behind_failed; /* of pending: waiting behind an action that failed for good */
};

/* The actions of one opportunity, performed in order by one worker. */
struct group {
	char *opportunity_id;
	int64_t *ids;
	size_t n, cap;
};

/* A blocking FIFO of groups between the planner and the Refty workers. */
struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct group *items;
	size_t head, n, cap;
	bool closed;
};

struct worker;

struct engine {
	struct app *app; /* what the run works with: its own, or a watcher's across cycles */
	const struct sync_options *opts;
	const char *command; /* "sync" or "backfill" */
	struct plan_context ctx;
	struct diff_trust trust; /* the times this poll believes */
	const char *origin;      /* journal origin: "sync", "seed" or "backfill" */
	struct run_record run;
	bool begun; /* the run is recorded (a dry run: would be): it ends with a summary */
	struct counts n;
	int64_t began_ms; /* when sync_run started, for the summary's duration */
	int64_t poll_start;
	/* Quarantine: ids found unreadable in this run (each counted once, though a
	 * split window may hand one over twice), the first record with a time not
	 * believed (for the run's one warning), and the origin of the quarantine
	 * entry of a record being fetched again: it is planned as the run that
	 * met it would have (a seeding records it, a backfill enrols it without
	 * firing its history). */
	char **unreadable;
	size_t n_unreadable;
	char *untrusted_example;
	const char *refetch_origin;
	long max_actions;
	size_t in_batch;
	int64_t batch_began_ms; /* monotonic */
	bool failed_local;
	bool interrupted; /* a listing ended early for a stop request: the rest is the next run's */
	/* Performing. db guards the snapshot, the counters and stdout once
	 * workers run; stop tells them to finish (authorisation refused, or a
	 * local error, recorded in perform_rc). */
	pthread_mutex_t db;
	struct workq queue;
	struct worker *workers;
	int n_workers;
	bool overlap;        /* workers run while Lever is paged */
	/* The names are fetched beside the listing (open_run): records wait for the rules. */
	bool names_pending;
	enum exit_code names_rc;
	bool full_seed;      /* a backfill on an empty state: it seeds every opportunity */
	struct group *fresh; /* opportunities with new intents in the open batch */
	size_t n_fresh, cap_fresh;
	bool stop;
	enum exit_code perform_rc;
	/* What decided a failed or partial run's exit status, first come (short, sanitised), for
	 * its summary and its record; under db once workers run. */
	char *error;
	/* Backfill: windows listed (checkpoints), and the progress line. */
	/* What the seeding of this state listed: opportunities it never saw are told apart from
	 * new ones by intake (listing.c). */
	struct seed_listing seed;
	struct partition_interval *done;
	size_t n_done, cap_done;
	size_t batch, batches; /* the batch of postings being listed, of how many (listing.h) */
	uint64_t windows_done;
	_Atomic uint64_t windows_known;
	bool progress_stop;
	/* Dry run: the snapshot is not updated, so what the poll saw of the
	 * opportunities with parked steps (watch, sorted ids) is kept in seen. */
	char **watch;
	size_t n_watch;
	struct opportunity_state *seen;
	size_t n_seen, cap_seen;
};

/* sync.c */
/** Keeps why as the run's error unless one is kept already (call with db held once workers
 * run). */
void engine_note_error(struct engine *e, const char *why);
/**
 * The exit status for what a listing returned; a stop request (LEVER_ERR_INTERRUPTED) marks
 * the run interrupted and gives EXIT_PARTIAL.
 */
enum exit_code engine_lever_exit(struct engine *e, enum lever_status ls);
/**
 * Whether the rules are in (call with db held): where their names are fetched beside the
 * listing, waits for them, and false when they could not be had (names_rc says why; the
 * listing stops).
 */
bool engine_rules_ready(struct engine *e);

/* ------------------------------------------------------------------------ */
/* Output: one line (or JSON object) per planned or taken action.           */

struct line {
	const char *opportunity_id;
	const char *candidate;
	const char *from_stage;
	const char *to_stage;
	const char *at_stage; /* performed actions: the stage an action is for */
	const char *rule;
	const char *action;
	const char *key;
	const char *outcome; /* planned, done, failed, pending, waiting_email, skipped, ... */
	const char *detail;
};

/* perform.c: the queue between intake and the Refty workers, and the workers. */
void group_add(struct group *g, int64_t id);
void group_finish(struct group *g);
void workq_init(struct workq *q);
void workq_finish(struct workq *q);
/** Takes ownership of g's contents. */
void workq_push(struct workq *q, struct group *g);
void workq_close(struct workq *q);
/**
 * Whether more Refty work waits than listing faster could add to (partition_options.behind,
 * ud an engine): the workers would not finish sooner.
 */
bool perform_behind(void *ud);
/** Re-checks steps parked for want of an email (called with db held, or before workers run). */
bool perform_recheck_waiting(struct engine *e);
/** Starts refty.max_in_flight workers that take groups from the queue until it closes. */
enum exit_code perform_start(struct engine *e);
/** Queues the journal's pending actions, grouped by opportunity. */
bool perform_queue_pending(struct engine *e);
/** Performs the pending actions (starting workers unless they already run), then joins them. */
enum exit_code perform_run(struct engine *e);
/** Closes the queue and waits for the workers; safe when none were started. */
void perform_join(struct engine *e);

/* intake.c: Lever's records into the snapshot and the journal. Callbacks take db. */
bool intake_batch_begin(struct engine *e);
bool intake_batch_commit(struct engine *e);
void intake_batch_rollback(struct engine *e);
void intake_fresh_clear(struct engine *e);
bool intake_on_opportunity(void *ud, const struct opportunity *o);
bool intake_on_unreadable(void *ud, const struct lever_unreadable *u);
bool intake_on_deleted(void *ud, const struct deleted_opportunity *d);
/** Fetches every quarantined record again by id (before the listing). */
enum exit_code intake_refetch_quarantined(struct engine *e);
/** Dry run: notes which opportunities have parked steps, to follow them through the poll. */
bool intake_load_watch(struct engine *e);

/* backfill.c */
/** Lists q for each batch of pf, in parallel creation-time windows with checkpoints. */
enum exit_code backfill_poll(struct engine *e, struct lever_opportunity_query *q,
	const struct posting_filter *pf);
/**
 * After a backfill that asked for the covered postings only: the active opportunities that
 * changed on any job since the last sync (cursor), recorded as a backfill listing every job
 * would have, so that the snapshot holds what it would hold then. Those on pf's postings are
 * left to the listing of those.
 */
enum exit_code backfill_poll_changed(struct engine *e, const struct lever_opportunity_query *q,
	const struct posting_filter *pf, int64_t cursor);

/* paging.c */
/**
 * Lists q's opportunities into intake: a seeding in parallel creation-time windows, an
 * incremental poll (q->updated_at_start set) in update-time windows split once it proves
 * long, anything else as one chain.
 */
enum lever_status listing_opportunities(struct engine *e, const struct lever_opportunity_query *q);

/* output.c */
/** Prints l (unless -q) and logs it as its outcome's event (action_done, ...). */
void output_line(const struct engine *e, const struct line *l);
/** Logs a planned action that a real run does not print (-v: action_planned, with why). */
void output_decision(const struct engine *e, const struct line *l);
void output_action(const struct engine *e, const struct action *a, const char *outcome,
	const char *detail);
/** "enrol in '...'", "send '...'", ...: what a planned action does, in words. Caller frees. */
char *output_describe_plan(const struct plan_action *a, const struct resolved_rule *rule);
/**
 * Prints the run's summary, the last line on standard output ("sync: done (exit 0): seen
 * ..."), and logs it as the run's one run_summary event; false when writing standard output
 * has failed so far (the caller does not report why: main does, for every command, when it
 * flushes at exit).
 */
bool output_summary(const struct engine *e, enum exit_code rc);

#endif
