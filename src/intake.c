#define LOG_MODULE "sync"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "journal.h"
#include "log.h"
#include "refty.h"
#include "rules.h"
#include "signals.h"
#include "timeutil.h"
#include "xalloc.h"

/* Opportunities per transaction while polling. A crash loses at most one
 * batch of snapshot updates, and their intents with them, so nothing is ever
 * half-recorded; the next run sees those opportunities as changed again.
 * Each commit writes every page it touched to the log once more, and the ids are
 * random, so a batch of records touches nearly a page of their index each: a batch
 * that holds no intents the Refty workers wait for is larger, and closed at its first
 * record past BATCH_MS of age so that a crash costs little listing again. */
#define BATCH 500
#define BATCH_QUIET 5000
#define BATCH_MS 1000

/* ------------------------------------------------------------------------ */
/* Planning: one opportunity at a time, as Lever hands them over.           */

bool intake_batch_begin(struct engine *e)
{
	if (e->app->dry_run || e->in_batch > 0) {
		return true;
	}
	if (!snapshot_begin(e->app->snap)) {
		return false;
	}
	e->in_batch = 1;
	e->batch_began_ms = timeutil_monotonic_ms();
	return true;
}

void intake_fresh_clear(struct engine *e)
{
	for (size_t i = 0; i < e->n_fresh; i++) {
		group_finish(&e->fresh[i]);
	}
	e->n_fresh = 0;
}

bool intake_batch_commit(struct engine *e)
{
	if (e->app->dry_run || e->in_batch == 0) {
		return true;
	}
	e->in_batch = 0;
	if (!snapshot_commit(e->app->snap)) {
		intake_fresh_clear(e);
		return false;
	}
	// Committed intents may be performed at once while paging goes on.
	for (size_t i = 0; e->overlap && i < e->n_fresh; i++) {
		workq_push(&e->queue, &e->fresh[i]);
	}
	intake_fresh_clear(e);
	return true;
}

void intake_batch_rollback(struct engine *e)
{
	if (!e->app->dry_run && e->in_batch) {
		snapshot_rollback(e->app->snap);
		e->in_batch = 0;
	}
	intake_fresh_clear(e);
}

/* Notes an intent to perform once its batch is committed. */
static void fresh_add(struct engine *e, const char *opportunity_id, int64_t id)
{
	if (!e->overlap) {
		return;
	}
	struct group *g = e->n_fresh ? &e->fresh[e->n_fresh - 1] : NULL;
	if (!g || strcmp(g->opportunity_id, opportunity_id) != 0) {
		if (e->n_fresh == e->cap_fresh) {
			e->cap_fresh = e->cap_fresh ? e->cap_fresh * 2 : 64;
			e->fresh = xrealloc(e->fresh, e->cap_fresh * sizeof(*e->fresh));
		}
		g = &e->fresh[e->n_fresh++];
		memset(g, 0, sizeof(*g));
		g->opportunity_id = xstrdup(opportunity_id);
	}
	group_add(g, id);
}

/*
 * Journals a (kind, state and key set) unless its key is there already. In a dry run nothing
 * is written, and *inserted says whether the journal lacks it. Called with db held.
 */
static bool note(struct engine *e, struct action *a, bool *inserted)
{
	*inserted = false;
	if (e->app->dry_run) {
		int64_t id = snapshot_action_id_by_key(e->app->snap, a->key);
		*inserted = id == 0;
		return id >= 0;
	}
	return intake_batch_begin(e) && snapshot_action_add(e->app->snap, a, inserted);
}

/* Records one planned action (with the enrolment values it gives Refty). */
static bool record(struct engine *e, const struct opportunity *o, const struct resolved_rule *rule,
	const struct plan_action *pa, bool *inserted, int64_t *id_out)
{
	struct action a = {
		.key = pa->key,
		.kind = pa->kind,
		.state = pa->kind == ACTION_SKIP ? ACTION_SKIPPED : ACTION_PENDING,
		.opportunity_id = pa->opportunity_id,
		.rule = pa->rule_name,
		.sequence_id = pa->sequence_id,
		.refty_stage_id = pa->refty_stage_id,
		.refty_stage_name = pa->refty_stage_name,
		.lever_stage_id = pa->lever_stage_id,
		.entry_at_ms = pa->entry_at_ms,
		.origin = xstrdup(e->origin),
		.reason = pa->reason,
		.run_id = e->run.id,
	};
	// What refty-lever gives (or is giving) Refty: the create's body, and the enrolment
	// that later diffs compare with and an update's PATCH sends.
	bool gives = pa->kind == ACTION_CREATE_CANDIDATE || pa->kind == ACTION_UPDATE_CONTACT;
	struct contact now = {0};
	if (gives) {
		contact_of(o, &now);
	}
	char *payload = NULL;
	if (pa->kind == ACTION_CREATE_CANDIDATE) {
		struct refty_candidate_input in = {
			.opportunity_id = o->id,
			.sequence_id = pa->sequence_id,
			.language = rule ? rule->language : NULL,
			.contact = &now,
			.posting_id = o->posting_id,
			.posting_title = rules_posting_title(e->app->rules, o->posting_id),
			.profile_url = o->profile_url,
		};
		payload = refty_candidate_body(&in);
		a.payload = payload;
	}
	bool ok = note(e, &a, inserted);
	*id_out = a.id;
	free(payload);
	free(a.origin);
	if (ok && *inserted && !e->app->dry_run && gives) {
		struct enrolment en = {
			.opportunity_id = o->id,
			.sequence_id = pa->sequence_id,
			.contact = now,
		};
		ok = snapshot_enrolment_put(e->app->snap, &en);
	}
	contact_finish(&now);
	return ok;
}

static bool plan_one(struct engine *e, const struct opportunity *o);

/* Records each time of o that the poll does not believe, once per opportunity and time. */
static bool flag_untrusted(struct engine *e, const struct opportunity *o, const struct diff *d)
{
	for (size_t i = 0; i < d->n_untrusted; i++) {
		const struct diff_untrusted *u = &d->untrusted[i];
		char when[48];
		timeutil_format(u->at_ms, when, sizeof(when));
		const char *where = u->at_ms < e->trust.not_before_ms ? "before 2000"
								   : "more than a day after this poll began";
		char *reason = u->stage_id
			? xasprintf("%s entry into '%s' at %s is %s: not believed, so it sends nothing and "
				    "does not move what has been handled",
				  u->field, app_stage_name(e->app, u->stage_id), when, where)
			: xasprintf("%s %s is %s: not believed", u->field, when, where);
		struct action a = {
			.key = journal_key_untrusted(o->id, u->field, u->stage_id, u->at_ms),
			.kind = ACTION_UNTRUSTED,
			.state = ACTION_SKIPPED,
			.opportunity_id = o->id,
			.lever_stage_id = u->stage_id,
			.entry_at_ms = u->at_ms,
			.origin = xstrdup(e->origin),
			.reason = reason,
			.run_id = e->run.id,
		};
		bool inserted = false;
		bool ok = note(e, &a, &inserted);
		free(a.origin);
		if (ok && inserted) {
			e->n.untrusted++;
			if (!e->untrusted_example) {
				e->untrusted_example = xstrdup(o->id);
			}
			struct line l = {
				.opportunity_id = o->id,
				.candidate = o->name,
				.action = "time not believed",
				.key = a.key,
				.outcome = "untrusted",
				.detail = reason,
			};
			output_line(e, &l);
		}
		free(a.key);
		free(reason);
		if (!ok) {
			return false;
		}
	}
	return true;
}

/*
 * Quarantines a record Lever sent that cannot be read: one journal entry per
 * opportunity, failed while it stays unreadable (every later run fetches it
 * again by id), done once it reads cleanly. Called with db held.
 */
static bool quarantine(struct engine *e, const struct lever_unreadable *u)
{
	for (size_t i = 0; i < e->n_unreadable; i++) {
		if (strcmp(e->unreadable[i], u->id) == 0) {
			return true;
		}
	}
	e->unreadable = xrealloc(e->unreadable, (e->n_unreadable + 1) * sizeof(*e->unreadable));
	e->unreadable[e->n_unreadable++] = xstrdup(u->id);
	e->n.seen++;
	e->n.unreadable++;
	char *reason = xasprintf("Lever sent a record that cannot be read (%s); it is fetched again "
				 "on every run until it reads cleanly",
		u->reason);
	struct action a = {
		.key = journal_key_unreadable(u->id),
		.kind = ACTION_UNREADABLE,
		.state = ACTION_FAILED,
		.opportunity_id = xstrdup(u->id),
		.origin = xstrdup(e->origin),
		.reason = reason,
		.last_error = xstrdup(u->reason),
		.run_id = e->run.id,
	};
	bool inserted = false;
	bool ok = note(e, &a, &inserted);
	free(a.opportunity_id);
	free(a.origin);
	free(a.last_error);
	if (ok && !inserted && !e->app->dry_run) {
		// Read cleanly once, unreadable again: the same entry is reopened.
		ok = snapshot_action_update(e->app->snap, a.id, ACTION_FAILED, u->reason, NULL, false);
	}
	char *id = log_sanitize(u->id);
	struct log_fields lf = LOG_FIELDS_NONE;
	lf.opportunity = id;
	lf.key = a.key;
	lf.error = u->reason;
	log_ev(LOG_WARN, "opportunity_unreadable", &lf,
		"opportunity '%s' from Lever cannot be read (%s): skipped and kept in the journal; "
		"it is fetched again on every run",
		id, u->reason);
	struct line l = {
		.opportunity_id = id,
		.action = "quarantined",
		.key = a.key,
		.outcome = "unreadable",
		.detail = u->reason,
	};
	output_line(e, &l);
	free(id);
	free(a.key);
	free(reason);
	if (!ok) {
		e->failed_local = true;
	}
	return ok;
}

bool intake_on_unreadable(void *ud, const struct lever_unreadable *u)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->db);
	bool ok = !e->failed_local && engine_rules_ready(e) && quarantine(e, u);
	pthread_mutex_unlock(&e->db);
	return ok;
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lever's listing callback; listings may run in several threads at once. */
bool intake_on_opportunity(void *ud, const struct opportunity *o)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->db);
	bool ok = !e->failed_local && engine_rules_ready(e) && plan_one(e, o);
	pthread_mutex_unlock(&e->db);
	return ok;
}

/* Outside what this backfill was asked to enrol (--since, --rule). */
static bool out_of_scope(const struct engine *e, const struct opportunity *o,
	const struct resolved_rule *rule)
{
	if (e->opts->since_ms > 0 && o->created_at < e->opts->since_ms) {
		return true;
	}
	return e->opts->only_rule && (!rule || strcmp(rule->name, e->opts->only_rule) != 0);
}

/* The plan context for o: the run's, or that of the run a refetched record was met by, or
 * seeding for what a first backfill only records. */
static struct plan_context context_for(const struct engine *e, const struct opportunity *o,
	const struct resolved_rule *rule)
{
	struct plan_context ctx = e->ctx;
	if (e->refetch_origin && strcmp(e->refetch_origin, "seed") == 0) {
		ctx.seeding = true;
		ctx.backfill = false;
	} else if (e->refetch_origin && strcmp(e->refetch_origin, "backfill") == 0) {
		ctx.seeding = false;
		ctx.backfill = true;
		ctx.trigger_current = false;
		ctx.only_rule = NULL;
	}
	if (e->full_seed && out_of_scope(e, o, rule)) {
		// Seeded like any other, so that a later sync does not take it for
		// a new candidate; the backfill itself leaves it alone.
		ctx.seeding = true;
		ctx.backfill = false;
	}
	return ctx;
}

/* Journals the plan's actions (each once), counts and prints the new ones. */
static bool record_plan(struct engine *e, const struct opportunity *o,
	const struct resolved_rule *rule, const struct plan *plan, const char *from_stage)
{
	bool ok = true;
	for (size_t i = 0; ok && i < plan->n; i++) {
		const struct plan_action *pa = &plan->actions[i];
		bool inserted = false;
		int64_t id = 0;
		ok = record(e, o, rule, pa, &inserted, &id);
		if (!ok || !inserted) {
			continue;
		}
		if (pa->kind == ACTION_SKIP) {
			e->n.skipped++;
		} else {
			e->n.planned++;
			fresh_add(e, o->id, id);
		}
		char *what = output_describe_plan(pa, rule);
		struct line l = {
			.opportunity_id = o->id,
			.candidate = o->name,
			.from_stage = from_stage,
			.to_stage = app_stage_name(e->app, o->stage_id),
			.rule = pa->rule_name,
			.action = what,
			.key = pa->key,
			.outcome = pa->kind == ACTION_SKIP ? "skipped" : "planned",
			.detail = pa->reason,
		};
		// A real run prints what it did, not what it planned; -v says on standard error
		// what was planned and why.
		if (e->app->dry_run || pa->kind == ACTION_SKIP) {
			output_line(e, &l);
		}
		output_decision(e, &l);
		free(what);
	}
	return ok;
}

/* What the snapshot keeps of o; a dry run keeps it in memory for the opportunities it watches. */
/* stored: the row as the snapshot holds it (NULL: none), so that an unchanged one is not
 * written again. */
static bool store_state(struct engine *e, const struct opportunity *o, const struct diff *d,
	const struct opportunity_state *stored)
{
	if (!e->app->dry_run) {
		struct opportunity_state next;
		diff_next_state(o, d, &next);
		bool ok = snapshot_opp_update(e->app->snap, stored, &next, e->run.id, NULL);
		opportunity_state_finish(&next);
		return ok;
	}
	if (e->n_watch && bsearch(&o->id, e->watch, e->n_watch, sizeof(*e->watch), compare_ids)) {
		if (e->n_seen == e->cap_seen) {
			e->cap_seen = e->cap_seen ? e->cap_seen * 2 : 16;
			e->seen = xrealloc(e->seen, e->cap_seen * sizeof(*e->seen));
		}
		diff_next_state(o, d, &e->seen[e->n_seen++]);
	}
	return true;
}

/*
 * An opportunity the snapshot lacks because its seeding asked for the covered jobs only, and it
 * was on another one then (or archived, for a seeding backfill, which lists active ones only).
 * A sync lists every change since, so it has not changed from then until the window being
 * listed now: a seeding that listed every job would have recorded what it was then, and that
 * is told from its own history (diff_state_at), so that it is planned as it would have been
 * (not new, its old stage entries handled, its job then another if the seeding asked for this
 * one). Not a candidate created since.
 */
static bool unlisted_by_seed(const struct engine *e, const struct opportunity *o,
	struct opportunity_state *out)
{
	int64_t seeded = e->ctx.watched_since_ms;
	if (!e->seed.filtered || seeded <= 0 || o->created_at == OPP_TIME_NONE ||
		o->created_at >= seeded || (e->seed.active_only && o->archived)) {
		return false;
	}
	struct diff_trust then = diff_trust_for_poll(seeded);
	diff_state_at(o, seeded, &then, seed_listing_has(&e->seed, o->posting_id), out);
	return true;
}

/* Counts a record into the open batch; whether the batch should be committed now. */
static bool batch_due(struct engine *e)
{
	size_t n = ++e->in_batch;
	if (n > BATCH_QUIET || (n > BATCH && e->overlap && e->n_fresh > 0)) {
		return true;
	}
	return timeutil_monotonic_ms() - e->batch_began_ms >= BATCH_MS;
}

static bool plan_one(struct engine *e, const struct opportunity *o)
{
	e->n.seen++;
	if (!intake_batch_begin(e)) {
		e->failed_local = true;
		return false;
	}
	struct opportunity_state prev;
	int found = snapshot_opp_get(e->app->snap, o->id, &prev);
	if (found < 0) {
		e->failed_local = true;
		return false;
	}
	bool stored = found == 1;
	if (found == 0 && unlisted_by_seed(e, o, &prev)) {
		found = 1;
	}
	struct diff d;
	diff_init(&d);
	diff_compute(found ? &prev : NULL, o, &e->trust, &d);
	if (d.is_new || d.posting_changed || d.contact_changed || d.stage_changed || d.archived_now ||
		d.anonymized_now || d.n_entries > 0) {
		e->n.changed++;
	}
	const struct resolved_rule *rule = rules_match(e->app->rules, o->posting_id);
	struct enrolment en = {0};
	int enrolled = rule ? snapshot_enrolment_get(e->app->snap, o->id, rule->sequence_id, &en) : 0;
	bool ok = enrolled >= 0;
	struct plan plan;
	plan_init(&plan);
	if (ok) {
		struct plan_context ctx = context_for(e, o, rule);
		plan_opportunity(&ctx, rule, o, &d, enrolled == 1 ? &en : NULL, &plan);
		ok = flag_untrusted(e, o, &d) &&
		     record_plan(e, o, rule, &plan,
			     found ? app_stage_name(e->app, prev.stage_id) : NULL) &&
		     store_state(e, o, &d, stored ? &prev : NULL);
	}
	plan_finish(&plan);
	diff_finish(&d);
	if (found) {
		opportunity_state_finish(&prev);
	}
	if (enrolled == 1) {
		enrolment_finish(&en);
	}
	if (!ok || (!e->app->dry_run && batch_due(e) && !intake_batch_commit(e))) {
		e->failed_local = true;
		return false;
	}
	return true;
}

bool intake_on_deleted(void *ud, const struct deleted_opportunity *d)
{
	struct engine *e = ud;
	if (e->app->dry_run) {
		return true;
	}
	pthread_mutex_lock(&e->db);
	bool ok = intake_batch_begin(e) && snapshot_opp_delete(e->app->snap, d->id);
	if (ok) {
		e->n.deleted++;
	} else {
		e->failed_local = true;
	}
	pthread_mutex_unlock(&e->db);
	return ok;
}

/* Quarantined records, to fetch again: their ids, and the kind of run that met them. */
struct quarantined {
	char **ids;
	char **origins;
	size_t n;
};

static bool collect_quarantined(void *ud, const struct action *a)
{
	struct quarantined *q = ud;
	q->ids = xrealloc(q->ids, (q->n + 1) * sizeof(*q->ids));
	q->origins = xrealloc(q->origins, (q->n + 1) * sizeof(*q->origins));
	q->ids[q->n] = xstrdup(a->opportunity_id);
	q->origins[q->n] = xstrdup(a->origin ? a->origin : "sync");
	q->n++;
	return true;
}

/* Closes a quarantine entry: the record reads cleanly now, or is gone. Called with db held. */
static bool release(struct engine *e, const char *id, const char *why)
{
	char *key = journal_key_unreadable(id);
	int64_t row = snapshot_action_id_by_key(e->app->snap, key);
	free(key);
	bool ok = row >= 0;
	if (row > 0 && !e->app->dry_run) {
		ok = intake_batch_begin(e) && snapshot_action_update(e->app->snap, row, ACTION_DONE, NULL, NULL,
					       false);
	}
	char *clean = log_sanitize(id);
	log_info("opportunity '%s' %s: out of quarantine", clean, why);
	free(clean);
	return ok;
}

static bool on_refetched(void *ud, const struct opportunity *o)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->db);
	bool ok = !e->failed_local && plan_one(e, o) && release(e, o->id, "reads cleanly again");
	if (!ok) {
		e->failed_local = true;
	}
	pthread_mutex_unlock(&e->db);
	return ok;
}

/*
 * Fetches every quarantined record again by id: one that reads cleanly now is
 * handled as any other (and leaves quarantine), one still unreadable stays.
 * An incremental listing would not bring it back unless it changed.
 */
enum exit_code intake_refetch_quarantined(struct engine *e)
{
	struct quarantined q = {0};
	if (!snapshot_actions_of_kind(e->app->snap, ACTION_UNREADABLE, ACTION_FAILED,
		    collect_quarantined, &q)) {
		return EXIT_LOCAL;
	}
	enum exit_code rc = EXIT_OK;
	struct lever_opportunity_sink sink = {on_refetched, intake_on_unreadable, e};
	for (size_t i = 0; i < q.n && rc == EXIT_OK; i++) {
		if (signals_requested(SIGNALS_STOP)) {
			rc = engine_lever_exit(e, LEVER_ERR_INTERRUPTED);
			break;
		}
		e->refetch_origin = q.origins[i];
		enum lever_status ls = lever_get_opportunity(e->app->lever, q.ids[i], &sink);
		e->refetch_origin = NULL;
		if (e->failed_local) {
			rc = EXIT_LOCAL;
		} else if (ls == LEVER_ERR_NOT_FOUND) {
			pthread_mutex_lock(&e->db);
			if (!release(e, q.ids[i], "is no longer in Lever")) {
				rc = EXIT_LOCAL;
			}
			pthread_mutex_unlock(&e->db);
		} else if (ls != LEVER_OK) {
			rc = engine_lever_exit(e, ls);
		}
	}
	for (size_t i = 0; i < q.n; i++) {
		free(q.ids[i]);
		free(q.origins[i]);
	}
	free(q.ids);
	free(q.origins);
	return rc;
}

static bool collect_watch(void *ud, const struct action *a)
{
	struct engine *e = ud;
	e->watch = xrealloc(e->watch, (e->n_watch + 1) * sizeof(*e->watch));
	e->watch[e->n_watch++] = xstrdup(a->opportunity_id);
	return true;
}
bool intake_load_watch(struct engine *e)
{
	if (!snapshot_actions_in_state(e->app->snap, ACTION_WAITING_EMAIL, collect_watch, e)) {
		return false;
	}
	if (e->n_watch) {
		qsort(e->watch, e->n_watch, sizeof(*e->watch), compare_ids);
	}
	return true;
}
