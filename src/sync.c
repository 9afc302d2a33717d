#define LOG_MODULE "sync"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lock.h"
#include "log.h"
#include "refty.h"
#include "rules.h"
#include "signals.h"
#include "timeutil.h"
#include "xalloc.h"

void engine_note_error(struct engine *e, const char *why)
{
	if (e->error || !why) {
		return;
	}
	e->error = log_summary_text(why); // one line of a summary: the log has the rest
}

/* Keeps the first error logged so far as the run's, when nothing more precise is known (the
 * Lever client, the state and the lock log their own failures). */
static void note_logged_error(struct engine *e)
{
	char *logged = log_take_first_error();
	engine_note_error(e, logged);
	free(logged);
}

enum exit_code engine_lever_exit(struct engine *e, enum lever_status ls)
{
	if (ls == LEVER_ERR_INTERRUPTED) {
		e->interrupted = true;
		return EXIT_PARTIAL;
	}
	return app_lever_exit(ls);
}

bool engine_rules_ready(struct engine *e)
{
	if (e->names_pending) {
		e->names_rc = app_rules_await(e->app);
		e->names_pending = false;
		e->ctx.rules = e->app->rules;
	}
	return e->names_rc == EXIT_OK;
}

/* A targeted sync: each opportunity asked about, as the poll would have seen it now. One that
 * Lever no longer has is left to the poll, whose listing of deleted opportunities says when. */
static enum exit_code poll_only(struct engine *e)
{
	struct lever_opportunity_sink sink = {intake_on_opportunity, intake_on_unreadable, e};
	for (size_t i = 0; i < e->opts->n_only_ids; i++) {
		if (signals_requested(SIGNALS_STOP)) {
			return engine_lever_exit(e, LEVER_ERR_INTERRUPTED);
		}
		const char *id = e->opts->only_ids[i];
		enum lever_status ls = lever_get_opportunity(e->app->lever, id, &sink);
		if (e->failed_local) {
			return EXIT_LOCAL;
		}
		if (ls == LEVER_ERR_NOT_FOUND) {
			log_debug("opportunity %s is not in Lever (deleted?): the next poll sees it", id);
		} else if (ls != LEVER_OK) {
			return engine_lever_exit(e, ls);
		}
	}
	return EXIT_OK;
}

/*
 * Which jobs this run lists, from the rules (listing.h), and what its seeding listed. A seeding
 * and a backfill ask for the covered postings only, unless a rule covers "*"; an incremental
 * sync lists every job that changed, since that is how it learns of a candidate leaving a
 * covered job, and what it pages is the change since the last run, not the account.
 */
static enum exit_code listing_scope(struct engine *e, int64_t cursor, struct posting_filter *pf)
{
	const struct resolved_rule *only =
		e->opts->only_rule && !e->full_seed ? rules_find(e->app->rules, e->opts->only_rule)
						    : NULL;
	// Tests compare a filtered run with the listing as it was before filtering.
	const char *full = getenv("REFTY_LEVER_TEST_FULL_LISTING");
	// Rules still being resolved list every job (open_run): they need no posting id.
	posting_filter_init(pf, e->names_pending ? NULL : e->app->rules, only, full && *full);
	if (!e->opts->backfill && cursor > 0) {
		pf->all = true;
	}
	bool err = false;
	pthread_mutex_lock(&e->db); // a backfill's workers may be running
	char *seed = snapshot_meta_get(e->app->snap, "seed_listing", &err);
	seed_listing_parse(seed, &e->seed);
	free(seed);
	bool seeding = e->ctx.seeding || e->full_seed;
	if (!err && seeding && !e->opts->dry_run) {
		// In the first batch of the seeding, so that it is there once seeded_at is.
		char *text = posting_filter_seed_text(pf, e->opts->backfill);
		err = !intake_batch_begin(e) || !snapshot_meta_set(e->app->snap, "seed_listing", text);
		free(text);
	}
	pthread_mutex_unlock(&e->db);
	return err ? EXIT_LOCAL : EXIT_OK;
}

static enum exit_code poll(struct engine *e, int64_t cursor)
{
	struct lever_opportunity_query q = {0};
	struct posting_filter pf;
	// First: a record fetched again, or by a hint, is planned knowing what the seeding listed.
	enum exit_code rc = listing_scope(e, cursor, &pf);
	if (rc == EXIT_OK && e->opts->n_only_ids > 0) {
		posting_filter_finish(&pf);
		return poll_only(e);
	}
	if (rc == EXIT_OK) {
		rc = intake_refetch_quarantined(e);
	}
	if (rc == EXIT_OK && e->opts->backfill) {
		q.archived = LEVER_ARCHIVED_NONE;
		rc = backfill_poll(e, &q, &pf);
		if (rc == EXIT_OK && !pf.all && !e->full_seed && !e->opts->only_rule && cursor > 0) {
			rc = backfill_poll_changed(e, &q, &pf, cursor);
		}
	}
	if (rc != EXIT_OK || e->opts->backfill) {
		posting_filter_finish(&pf);
		return rc;
	}
	if (cursor > 0) {
		int64_t start = cursor - (int64_t)e->app->cfg->overlap * 1000;
		q.updated_at_start = start > 0 ? start : 1;
	}
	int ls = LEVER_OK;
	for (size_t i = 0; ls == LEVER_OK && i < posting_filter_batches(&pf); i++) {
		posting_filter_apply(&pf, i, &q);
		ls = listing_opportunities(e, &q);
	}
	posting_filter_finish(&pf);
	if (ls == LEVER_OK && cursor > 0) {
		int64_t start = cursor - (int64_t)e->app->cfg->overlap * 1000;
		ls = lever_list_deleted(e->app->lever, start > 0 ? start : 1, 0, intake_on_deleted, e);
	}
	if (e->failed_local) {
		return EXIT_LOCAL;
	}
	return engine_lever_exit(e, ls);
}

static bool count_pending(void *ud, const struct action *a)
{
	(*(int64_t *)ud)++;
	return true;
}

static void log_not_seeded(const char *path, const char *why)
{
	log_error("state '%s' %s: nothing done. On a first run (or to finish an interrupted "
		  "seeding), run 'refty-lever sync --seed', which records every opportunity's current "
		  "state and sends nothing, or 'refty-lever backfill', which also enrols existing "
		  "candidates. If the state should exist (a volume not mounted, a lost or truncated "
		  "file), mount it or restore it from a backup instead: seeding would skip every stage "
		  "entry due since the last run",
		path, why);
}

/* Plain sync on a missing or 0-byte state stops before anything (the lock,
 * its directory, the database) is created. */
static enum exit_code check_state_present(const struct config *cfg, const struct sync_options *opts)
{
	if (opts->backfill || opts->seed) {
		return EXIT_OK;
	}
	enum snapshot_presence p = snapshot_presence(cfg->state);
	if (p == SNAPSHOT_PRESENT) {
		return EXIT_OK;
	}
	log_not_seeded(cfg->state, p == SNAPSHOT_MISSING ? "does not exist" : "is empty (0 bytes)");
	return EXIT_LOCAL;
}

/* Seeding is explicit: plain sync needs a seeded state, sync --seed an unseeded one. */
static enum exit_code check_seeded(const struct engine *e, int64_t seeded)
{
	const char *path = e->app->cfg->state;
	if (e->opts->backfill) {
		return EXIT_OK;
	}
	if (e->opts->seed && seeded > 0) {
		char t[40];
		log_error("state '%s' is already seeded (since %s): nothing done. Plain 'refty-lever "
			  "sync' continues from it; to start over, move the database away first",
			path, timeutil_format(seeded, t, sizeof(t)));
		return EXIT_USAGE;
	}
	if (!e->opts->seed && seeded == 0) {
		log_not_seeded(path, "has not been seeded (or its seeding did not finish)");
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

/*
 * A state belongs to the Lever account it was made for: another account's opportunities would
 * all look new, and their keys would mean other candidates. The Lever URL is what tells them
 * apart here; a state from before it was recorded adopts the configured one.
 */
static enum exit_code check_account(struct engine *e)
{
	const char *url = e->app->cfg->lever.url;
	bool err = false;
	char *had = snapshot_meta_get(e->app->snap, "lever_url", &err);
	enum exit_code rc = err ? EXIT_LOCAL : EXIT_OK;
	if (had && strcmp(had, url) != 0) {
		log_error("state '%s' belongs to the Lever account at '%s', not '%s' (lever.url in "
			  "'%s'): nothing done. Set lever.url back, or give this account a state of its "
			  "own (state = \"...\")",
			e->app->cfg->state, had, url, e->app->cfg->path);
		rc = EXIT_USAGE;
	} else if (!had && !err && !e->opts->dry_run) {
		rc = snapshot_begin(e->app->snap) && snapshot_meta_set(e->app->snap, "lever_url", url) &&
				snapshot_commit(e->app->snap)
			? EXIT_OK
			: EXIT_LOCAL;
	}
	free(had);
	return rc;
}

/*
 * Records the run, once the state is known to be the right one, so that what fails from here
 * on (reaching Lever or Refty for the names, the poll, the actions) is a run with a record and
 * a summary; what fails before (the state, the lock) is only logged. A dry run records
 * nothing but begins here too.
 */
static enum exit_code record_run(struct engine *e)
{
	e->run = (struct run_record){
		.command = xstrdup(e->command),
		.started_at = timeutil_now_ms(),
		.exit_code = -1,
		.dry_run = e->opts->dry_run,
	};
	if (!e->opts->dry_run && !snapshot_run_start(e->app->snap, &e->run)) {
		return EXIT_LOCAL;
	}
	e->begun = true;
	log_set_run(e->run.id);
	log_ev(LOG_DEBUG, "run_start", NULL, "%s%s started", e->command,
		e->opts->dry_run ? " (dry run)" : "");
	return EXIT_OK;
}

/*
 * The rules, or the fetch of their names begun: a listing of every job (an incremental sync,
 * or a seeding for a '*' rule) needs no name to start, so its first pages go out with the
 * names' requests rather than a round trip after them. A backfill's Refty work starts with
 * its listing and a targeted or single-rule run needs posting ids: they wait for the names.
 */
static enum exit_code load_rules(struct engine *e, int64_t seeded)
{
	const struct sync_options *o = e->opts;
	bool every_job = seeded > 0 || rules_config_cover_all(e->app->cfg);
	if (o->backfill || o->only_rule || o->n_only_ids > 0 || !every_job) {
		return app_load_rules(e->app, APP_NAMES_AUTO);
	}
	bool started = false;
	enum exit_code rc = app_rules_fetch_start(e->app, &started);
	if (rc == EXIT_OK && !started) {
		rc = app_load_rules(e->app, APP_NAMES_AUTO);
	}
	e->names_pending = started;
	return rc;
}

/* Opens what a run needs: the state (checked for seeding under the lock), the clients, the
 * rules. *seeded receives when the state was seeded (0: never). */
static enum exit_code open_run(struct engine *e, int64_t *seeded)
{
	const struct config *cfg = e->app->cfg;
	const struct sync_options *opts = e->opts;
	*seeded = 0;
	enum exit_code rc = check_state_present(cfg, opts);
	if (rc == EXIT_OK) {
		rc = app_open_state(e->app, APP_STATE_WRITE);
	}
	// Under the lock, and before the clients and the name cache touch anything.
	if (rc == EXIT_OK) {
		*seeded = snapshot_seeded_at(e->app->snap);
		rc = *seeded < 0 ? EXIT_LOCAL : check_seeded(e, *seeded);
	}
	if (rc == EXIT_OK) {
		rc = check_account(e);
	}
	if (rc == EXIT_OK) {
		rc = record_run(e);
	}
	if (rc == EXIT_OK) {
		rc = app_open_lever(e->app);
	}
	if (rc == EXIT_OK) {
		rc = app_open_refty(e->app);
	}
	if (rc == EXIT_OK && !(e->app->rules && opts->n_only_ids > 0)) {
		rc = load_rules(e, *seeded);
	}
	if (rc == EXIT_OK && opts->only_rule && !rules_find(e->app->rules, opts->only_rule)) {
		log_error("no rule named '%s' in '%s'", opts->only_rule, cfg->path);
		rc = EXIT_USAGE;
	}
	return rc;
}

/* Sets up the poll (its start, what it trusts, the plan context) and records the run. */
static enum exit_code start_run(struct engine *e, int64_t seeded, int64_t *cursor)
{
	const struct sync_options *opts = e->opts;
	*cursor = snapshot_cursor(e->app->snap);
	int64_t seeded_at = snapshot_meta_ms(e->app->snap, "seeded_at");
	if (*cursor < 0 || seeded_at < 0) {
		return EXIT_LOCAL;
	}
	e->poll_start = timeutil_now_ms();
	e->trust = diff_trust_for_poll(e->poll_start);
	e->full_seed = opts->backfill && seeded == 0;
	e->ctx = (struct plan_context){
		.seeding = seeded == 0 && !opts->backfill,
		.backfill = opts->backfill,
		.trigger_current = opts->trigger_current,
		.include_confidential = e->app->cfg->lever.confidential,
		.rules = e->names_pending ? NULL : e->app->rules, // engine_rules_ready sets them
		.only_rule = opts->only_rule,
		.watched_since_ms = seeded_at,
	};
	e->origin = opts->backfill ? "backfill" : e->ctx.seeding ? "seed" : "sync";
	e->run.poll_started_ms = e->poll_start;
	if (e->ctx.seeding && opts->dry_run) {
		log_info("first run (dry run): would record the current state of every opportunity "
			 "seen, and send nothing; nothing is recorded now. Run 'refty-lever sync --seed' "
			 "to seed, then 'refty-lever backfill' to enrol existing candidates");
	} else if (e->ctx.seeding) {
		log_info("first run: recording the current state of every opportunity; nothing will "
			 "be sent. Run 'refty-lever backfill' to enrol existing candidates");
	}
	return EXIT_OK;
}

/* A poll listed while the names were fetched: their failure decides the run (a listing it
 * stopped says only that it was stopped), and nothing the poll saw is kept. A stop request
 * that cut the names short stopped the run: it did not fail. */
static enum exit_code await_rules(struct engine *e, enum exit_code rc)
{
	pthread_mutex_lock(&e->db);
	if (!engine_rules_ready(e)) {
		rc = e->names_rc == EXIT_REMOTE && signals_requested(SIGNALS_STOP)
			     ? engine_lever_exit(e, LEVER_ERR_INTERRUPTED)
			     : e->names_rc;
	}
	pthread_mutex_unlock(&e->db);
	return rc;
}

/* Commits the end of the poll: the cursor moves (and seeded_at is set) only once everything
 * the poll saw is committed; a failed poll rolls its open batch back. A poll stopped for a
 * stop request commits its open batch (whole records of whole pages, as any batch) and
 * leaves the cursor: the next run lists again what this one did not finish, as after a
 * failure, and finds no change in what it kept. */
static enum exit_code finish_poll(struct engine *e, enum exit_code rc, int64_t seeded)
{
	pthread_mutex_lock(&e->db);
	if (rc != EXIT_OK && e->interrupted && !e->failed_local && !intake_batch_commit(e)) {
		rc = EXIT_LOCAL;
	}
	if (rc == EXIT_OK && !e->opts->dry_run && !state_lock_check(e->app->lock)) {
		rc = EXIT_LOCKED;
	}
	if (rc == EXIT_OK && !e->opts->dry_run) {
		char ms[32];
		snprintf(ms, sizeof(ms), "%" PRId64, e->poll_start);
		// seeded_at marks a completed seeding, so it is written here only, with the
		// cursor: a seeding run killed between batches leaves the state unseeded. A
		// targeted sync looked at a few opportunities, not at the window: no cursor.
		bool ok = intake_batch_begin(e);
		if (ok && (seeded == 0 || !e->opts->backfill) && e->opts->n_only_ids == 0) {
			ok = snapshot_meta_set(e->app->snap, "cursor", ms);
		}
		if (ok && seeded == 0) {
			ok = snapshot_meta_set(e->app->snap, "seeded_at", ms);
		}
		ok = ok && app_rules_fetch_store(e->app) && intake_batch_commit(e);
		if (!ok) {
			rc = EXIT_LOCAL;
		}
	}
	if (rc != EXIT_OK) {
		intake_batch_rollback(e);
	}
	pthread_mutex_unlock(&e->db);
	return rc;
}

/* Performs what the journal holds, unless the safety valve refuses the plan's size. */
static enum exit_code act(struct engine *e)
{
	int64_t pending = 0;
	if (!snapshot_actions_in_state(e->app->snap, ACTION_PENDING, count_pending, &pending)) {
		return EXIT_LOCAL;
	}
	// In a dry run nothing was recorded, so the plan adds to the backlog.
	int64_t total = e->opts->dry_run ? pending + e->n.planned : pending;
	if (e->max_actions > 0 && total > e->max_actions && e->opts->dry_run) {
		// The dry run is how the operator checks such a plan: it reports, it does not trip.
		log_warn("%" PRId64 " actions planned, more than max_actions (%ld): a real run would "
			 "stop here (exit 6) and do nothing; after checking this plan, run 'refty-lever "
			 "%s --max-actions %" PRId64 "' (or 0) to go ahead",
			total, e->max_actions, e->command, total);
	} else if (e->max_actions > 0 && total > e->max_actions) {
		log_error("%" PRId64 " actions planned, more than max_actions (%ld): nothing "
			  "done. Check the plan with 'refty-lever %s --dry-run', then run with "
			  "--max-actions %" PRId64 " (or 0) to go ahead",
			total, e->max_actions, e->command, total);
		char *why = xasprintf("%" PRId64 " actions planned, more than max_actions (%ld)",
			total, e->max_actions);
		engine_note_error(e, why);
		free(why);
		return EXIT_VALVE;
	}
	return perform_run(e);
}

/*
 * After a stop request, whether it left work for the next run: a listing not finished, or
 * actions still pending in the journal (the truth, whatever this run counted). Those actions
 * are then counted as pending. A stop that came when nothing was left interrupted nothing.
 */
static enum exit_code check_interrupted(struct engine *e, enum exit_code rc)
{
	// A run that failed for another reason is reported as that failure.
	if (!signals_requested(SIGNALS_STOP) || (rc != EXIT_OK && rc != EXIT_PARTIAL)) {
		return rc;
	}
	int64_t left = 0;
	if (!e->opts->dry_run &&
		!snapshot_actions_in_state(e->app->snap, ACTION_PENDING, count_pending, &left)) {
		return EXIT_LOCAL;
	}
	bool cut = e->interrupted;
	if (!cut && left == 0) {
		return rc;
	}
	e->interrupted = true;
	if (left > e->n.pending) {
		e->n.pending = left;
	}
	char *pending = left ? xasprintf(", %" PRId64 " action%s still pending", left,
				       left == 1 ? " is" : "s are")
			     : NULL;
	log_warn("%s stopped by %s before its work was done: everything done so far is "
		 "recorded%s%s; the next run goes on from here",
		e->command, signals_name(), cut ? ", the listing stopped at a page boundary" : "",
		pending ? pending : "");
	free(pending);
	return rc == EXIT_OK ? EXIT_PARTIAL : rc;
}

/* Reports the run: the exit status it earned, the warnings, the summary and its record. */
static enum exit_code report_run(struct engine *e, enum exit_code rc)
{
	rc = check_interrupted(e, rc);
	if (rc == EXIT_OK && (e->n.failed > 0 || e->n.pending > 0 || e->n.unreadable > 0)) {
		rc = EXIT_PARTIAL;
	}
	if (e->n.untrusted > 0) {
		char *id = log_sanitize(e->untrusted_example);
		struct log_fields lf = LOG_FIELDS_NONE;
		lf.opportunity = id;
		log_ev(LOG_WARN, "time_untrusted", &lf,
			"%" PRId64 " time%s from Lever cannot be true (more than a day ahead, or before "
			"2000) and %s not acted on; 'refty-lever explain %s' shows the first",
			e->n.untrusted, e->n.untrusted == 1 ? "" : "s",
			e->n.untrusted == 1 ? "was" : "were", id);
		free(id);
	}
	// Storage and the lock outrank a remote failure met on the way: they decided the status.
	const char *local = rc == EXIT_LOCKED ? "the lock file was removed or replaced during the run"
			    : rc == EXIT_LOCAL && e->app->snap ? snapshot_last_error(e->app->snap)
							      : NULL;
	if (local) {
		free(e->error);
		e->error = NULL;
		engine_note_error(e, local);
	}
	if (rc >= EXIT_USAGE) {
		note_logged_error(e);
	}
	// The journal is committed by now; a failure to print the summary only changes the exit
	// status (main says why, once, for every command).
	if (!output_summary(e, rc)) {
		rc = EXIT_LOCAL;
	}
	if (!e->opts->dry_run && e->run.id) {
		e->run.finished_at = timeutil_now_ms();
		e->run.exit_code = rc;
		e->run.seen = e->n.seen;
		e->run.changed = e->n.changed;
		e->run.enrolled = e->n.enrolled;
		e->run.sent = e->n.sent;
		e->run.waiting = e->n.waiting;
		e->run.skipped = e->n.skipped;
		e->run.failed = e->n.failed;
		// What waits behind a permanent failure waits for a person, as the failure does:
		// it does not make the run unhealthy.
		e->run.pending = e->n.pending - e->n.behind_failed;
		// Why a run failed stays with its record (what its summary said), where the
		// database still takes the write.
		if (rc >= EXIT_USAGE && e->error && !e->run.message) {
			e->run.message = xstrdup(e->error);
		}
		e->run.interrupted_by = e->interrupted ? xstrdup(signals_name()) : NULL;
		if (!snapshot_run_finish(e->app->snap, &e->run) && rc == EXIT_OK) {
			rc = EXIT_LOCAL;
		}
	}
	return rc;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i]);
	}
	free(v);
}

static void engine_finish(struct engine *e)
{
	perform_join(e);
	app_rules_fetch_end(e->app);
	intake_fresh_clear(e);
	free(e->fresh);
	workq_finish(&e->queue);
	free(e->done);
	free_strings(e->watch, e->n_watch);
	for (size_t i = 0; i < e->n_seen; i++) {
		opportunity_state_finish(&e->seen[i]);
	}
	free(e->seen);
	free_strings(e->unreadable, e->n_unreadable);
	free(e->untrusted_example);
	free(e->error);
	seed_listing_finish(&e->seed);
	log_set_run(0);
	pthread_mutex_destroy(&e->db);
	run_record_finish(&e->run);
}

enum exit_code sync_run(const struct config *cfg, const struct sync_options *opts)
{
	struct app app;
	app_init(&app, cfg, opts->dry_run);
	enum exit_code rc = sync_run_app(&app, opts);
	app_finish(&app);
	return rc;
}

enum exit_code sync_run_app(struct app *app, const struct sync_options *opts)
{
	const struct config *cfg = app->cfg;
	struct engine e = {
		.app = app,
		.opts = opts,
		.command = opts->backfill ? "backfill" : opts->n_only_ids ? "webhook" : "sync",
		.max_actions = opts->max_actions >= 0 ? opts->max_actions : cfg->max_actions,
	};
	e.began_ms = timeutil_now_ms();
	free(log_take_first_error()); // this run's errors only
	pthread_mutex_init(&e.db, NULL);
	workq_init(&e.queue);
	int64_t seeded = 0, cursor = 0;
	enum exit_code rc = open_run(&e, &seeded);
	if (rc == EXIT_OK) {
		rc = start_run(&e, seeded, &cursor);
	}
	if (rc == EXIT_REMOTE && signals_requested(SIGNALS_STOP)) {
		// The names were being fetched: nothing was started, all of it is left to do.
		log_warn("%s stopped by %s before it began: nothing done", e.command, signals_name());
		rc = EXIT_PARTIAL;
	}
	if (rc != EXIT_OK) {
		if (e.begun) {
			rc = report_run(&e, rc);
		}
		engine_finish(&e);
		return rc;
	}
	// A backfill without a valve performs while it pages, so that creating
	// candidates in Refty adds no serial wait of its own; with a valve the
	// plan's size must be known before anything is performed.
	e.overlap = opts->backfill && !opts->dry_run && e.max_actions == 0;
	if (opts->dry_run && !intake_load_watch(&e)) {
		rc = EXIT_LOCAL;
	}
	if (e.overlap) {
		rc = perform_recheck_waiting(&e) ? perform_start(&e) : EXIT_LOCAL;
		if (rc == EXIT_OK && !perform_queue_pending(&e)) {
			rc = EXIT_LOCAL;
		}
	}
	if (rc == EXIT_OK) {
		rc = poll(&e, cursor);
	}
	rc = await_rules(&e, rc);
	rc = finish_poll(&e, rc, seeded);
	if (e.overlap) {
		enum exit_code prc = perform_run(&e);
		rc = rc == EXIT_OK ? prc : rc;
	} else if (rc == EXIT_OK) {
		rc = act(&e);
	}
	rc = report_run(&e, rc);
	engine_finish(&e);
	return rc;
}
