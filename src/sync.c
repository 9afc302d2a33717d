#define LOG_MODULE "sync"
#include "sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "diff.h"
#include "jsonw.h"
#include "lever.h"
#include "log.h"
#include "partition.h"
#include "plan.h"
#include "refty.h"
#include "rules.h"
#include "snapshot.h"
#include "xalloc.h"

/* Opportunities per transaction while polling. A crash loses at most one
 * batch of snapshot updates, and their intents with them, so nothing is ever
 * half-recorded; the next run sees those opportunities as changed again. */
#define BATCH 500

struct counts {
	int64_t seen, changed, planned, enrolled, sent, updated, waiting, skipped, failed, pending,
		abandoned, deleted, unreadable, untrusted;
};

/* The actions of one opportunity, performed in order by one worker. */
struct group {
	char *opportunity_id;
	int64_t *ids;
	size_t n, cap;
};

static void group_add(struct group *g, int64_t id)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4;
		g->ids = xrealloc(g->ids, g->cap * sizeof(*g->ids));
	}
	g->ids[g->n++] = id;
}

static void group_finish(struct group *g)
{
	free(g->opportunity_id);
	free(g->ids);
	memset(g, 0, sizeof(*g));
}

/* A blocking FIFO of groups between the planner and the Refty workers. */
struct workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct group *items;
	size_t head, n, cap;
	bool closed;
};

static void workq_init(struct workq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

static void workq_finish(struct workq *q)
{
	for (size_t i = 0; i < q->n; i++) {
		group_finish(&q->items[(q->head + i) % q->cap]);
	}
	free(q->items);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

/* Takes ownership of g's contents. */
static void workq_push(struct workq *q, struct group *g)
{
	pthread_mutex_lock(&q->lock);
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct group *items = xcalloc(cap, sizeof(*items));
		for (size_t i = 0; i < q->n; i++) {
			items[i] = q->items[(q->head + i) % q->cap];
		}
		free(q->items);
		q->items = items;
		q->cap = cap;
		q->head = 0;
	}
	q->items[(q->head + q->n) % q->cap] = *g;
	q->n++;
	memset(g, 0, sizeof(*g));
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* Waits for a group; false once the queue is closed and empty. */
static bool workq_pop(struct workq *q, struct group *out)
{
	pthread_mutex_lock(&q->lock);
	while (q->n == 0 && !q->closed) {
		pthread_cond_wait(&q->cond, &q->lock);
	}
	bool got = q->n > 0;
	if (got) {
		*out = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->n--;
	}
	pthread_mutex_unlock(&q->lock);
	return got;
}

static void workq_close(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct worker;

struct engine {
	struct app app;
	const struct sync_options *opts;
	const char *command; /* "sync" or "backfill" */
	struct plan_context ctx;
	struct diff_trust trust; /* the times this poll believes */
	const char *origin;      /* journal origin: "sync", "seed" or "backfill" */
	struct run_record run;
	struct counts n;
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
	bool failed_local;
	/* Performing. db guards the snapshot, the counters and stdout once
	 * workers run; stop tells them to finish (authorisation refused, or a
	 * local error, recorded in perform_rc). */
	pthread_mutex_t db;
	struct workq queue;
	struct worker *workers;
	int n_workers;
	bool overlap;        /* workers run while Lever is paged */
	bool full_seed;      /* a backfill on an empty state: it seeds every opportunity */
	struct group *fresh; /* opportunities with new intents in the open batch */
	size_t n_fresh, cap_fresh;
	bool stop;
	enum exit_code perform_rc;
	/* Backfill: windows listed (checkpoints), and the progress line. */
	struct partition_interval *done;
	size_t n_done, cap_done;
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

static void emit(const struct engine *e, const struct line *l)
{
	if (e->opts->json) {
		struct strbuf out;
		struct jsonw w;
		jsonw_line_begin(&w, &out);
		jsonw_kv_string(&w, "type", "action");
		jsonw_kv_string(&w, "opportunity_id", l->opportunity_id);
		jsonw_kv_string(&w, "candidate", l->candidate);
		jsonw_kv_string(&w, "from_stage", l->from_stage);
		jsonw_kv_string(&w, "to_stage", l->to_stage);
		jsonw_kv_string(&w, "at_stage", l->at_stage);
		jsonw_kv_string(&w, "rule", l->rule);
		jsonw_kv_string(&w, "action", l->action);
		jsonw_kv_string(&w, "key", l->key);
		jsonw_kv_string(&w, "outcome", l->outcome);
		jsonw_kv_string(&w, "detail", l->detail);
		jsonw_line_end(&w, stdout);
		return;
	}
	char *name = log_sanitize(l->candidate && *l->candidate ? l->candidate : "(no name)");
	char *detail = l->detail ? log_sanitize(l->detail) : NULL;
	printf("%-8s %s '%s'", l->outcome, l->opportunity_id, name);
	if (l->to_stage) {
		printf(" %s -> %s", l->from_stage ? l->from_stage : "(new)", l->to_stage);
	} else if (l->at_stage) {
		printf(" at %s", l->at_stage);
	}
	printf(" rule '%s': %s", l->rule ? l->rule : "-", l->action);
	if (detail) {
		printf(" (%s)", detail);
	}
	putchar('\n');
	free(name);
	free(detail);
}

static char *describe_plan(const struct plan_action *a, const struct resolved_rule *rule)
{
	switch (a->kind) {
	case PLAN_CREATE_CANDIDATE:
		return xasprintf("enrol in '%s'", rule ? rule->sequence_name : a->sequence_id);
	case PLAN_UPDATE_CONTACT:
		return xstrdup("update contact details");
	case PLAN_SEND_STEP:
		return xasprintf("send '%s'", a->refty_stage_name ? a->refty_stage_name : a->refty_stage_id);
	case PLAN_SKIP:
		return xasprintf("skip: %s", a->reason ? a->reason : "");
	}
	return xstrdup("?");
}

static const char *sequence_name(const struct app *app, const char *id)
{
	for (size_t i = 0; app->catalog && id && i < app->catalog->n_sequences; i++) {
		if (strcmp(app->catalog->sequences[i].id, id) == 0) {
			return app->catalog->sequences[i].name;
		}
	}
	return id;
}

static char *describe_action(const struct app *app, const struct action *a)
{
	switch (a->kind) {
	case ACTION_CREATE_CANDIDATE:
		return xasprintf("enrol in '%s'", sequence_name(app, a->sequence_id));
	case ACTION_UPDATE_CONTACT:
		return xstrdup("update contact details");
	case ACTION_SEND_STEP:
		return xasprintf("send '%s'", a->refty_stage_name ? a->refty_stage_name : a->refty_stage_id);
	case ACTION_SKIP:
		return xasprintf("skip: %s", a->reason ? a->reason : "");
	case ACTION_UNREADABLE:
		return xstrdup("quarantined");
	case ACTION_UNTRUSTED:
		return xstrdup("time not believed");
	}
	return xstrdup("?");
}

/* ------------------------------------------------------------------------ */
/* Planning: one opportunity at a time, as Lever hands them over.           */

static enum action_kind action_kind_of(enum plan_kind k)
{
	switch (k) {
	case PLAN_CREATE_CANDIDATE:
		return ACTION_CREATE_CANDIDATE;
	case PLAN_UPDATE_CONTACT:
		return ACTION_UPDATE_CONTACT;
	case PLAN_SEND_STEP:
		return ACTION_SEND_STEP;
	case PLAN_SKIP:
		break;
	}
	return ACTION_SKIP;
}

static bool batch_begin(struct engine *e)
{
	if (e->app.dry_run || e->in_batch > 0) {
		return true;
	}
	if (!snapshot_begin(e->app.snap)) {
		return false;
	}
	e->in_batch = 1;
	return true;
}

static void fresh_clear(struct engine *e)
{
	for (size_t i = 0; i < e->n_fresh; i++) {
		group_finish(&e->fresh[i]);
	}
	e->n_fresh = 0;
}

static bool batch_commit(struct engine *e)
{
	if (e->app.dry_run || e->in_batch == 0) {
		return true;
	}
	e->in_batch = 0;
	if (!snapshot_commit(e->app.snap)) {
		fresh_clear(e);
		return false;
	}
	// Committed intents may be performed at once while paging goes on.
	for (size_t i = 0; e->overlap && i < e->n_fresh; i++) {
		workq_push(&e->queue, &e->fresh[i]);
	}
	fresh_clear(e);
	return true;
}

static void batch_rollback(struct engine *e)
{
	if (!e->app.dry_run && e->in_batch) {
		snapshot_rollback(e->app.snap);
		e->in_batch = 0;
	}
	fresh_clear(e);
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

/* Records one planned action (with the enrolment values it gives Refty). */
static bool record(struct engine *e, const struct opportunity *o, const struct resolved_rule *rule,
	const struct plan_action *pa, bool *inserted, int64_t *id_out)
{
	struct action a = {
		.key = pa->key,
		.kind = action_kind_of(pa->kind),
		.state = pa->kind == PLAN_SKIP ? ACTION_SKIPPED : ACTION_PENDING,
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
	char *payload = NULL;
	if (pa->kind == PLAN_CREATE_CANDIDATE) {
		struct refty_candidate_input in = {
			.opportunity_id = o->id,
			.sequence_id = pa->sequence_id,
			.language = rule ? rule->language : NULL,
			.name = o->name,
			.email = opportunity_email(o),
			.phone = opportunity_phone(o),
			.posting_id = o->posting_id,
			.posting_title = rules_posting_title(e->app.rules, o->posting_id),
			.profile_url = o->profile_url,
		};
		payload = refty_candidate_body(&in);
		a.payload = payload;
	}
	*inserted = false;
	if (e->app.dry_run) {
		// Nothing is written; an intent already in the journal is still not new.
		int64_t id = snapshot_action_id_by_key(e->app.snap, pa->key);
		*inserted = id == 0;
		*id_out = 0;
		free(payload);
		free(a.origin);
		return id >= 0;
	}
	bool ok = snapshot_action_add(e->app.snap, &a, inserted);
	*id_out = a.id;
	free(payload);
	free(a.origin);
	if (ok && *inserted &&
		(pa->kind == PLAN_CREATE_CANDIDATE || pa->kind == PLAN_UPDATE_CONTACT)) {
		// What refty-lever gives (or is giving) Refty: later diffs compare
		// with it, and the PATCH of an update sends it.
		struct enrolment en = {
			.opportunity_id = xstrdup(o->id),
			.sequence_id = xstrdup(pa->sequence_id),
			.name = xstrdup(o->name),
			.email = xstrdup(opportunity_email(o)),
			.phone = xstrdup(opportunity_phone(o)),
		};
		ok = snapshot_enrolment_put(e->app.snap, &en);
		enrolment_finish(&en);
	}
	return ok;
}

static bool plan_one(struct engine *e, const struct opportunity *o);

/*
 * Journals a quarantine entry a (kind, state and key set). In a dry run nothing is
 * written, and *inserted says whether the journal lacks it. Called with db held.
 */
static bool note(struct engine *e, struct action *a, bool *inserted)
{
	if (e->app.dry_run) {
		int64_t id = snapshot_action_id_by_key(e->app.snap, a->key);
		*inserted = id == 0;
		return id >= 0;
	}
	return batch_begin(e) && snapshot_action_add(e->app.snap, a, inserted);
}

/* Records each time of o that the poll does not believe, once per opportunity and time. */
static bool flag_untrusted(struct engine *e, const struct opportunity *o, const struct diff *d)
{
	for (size_t i = 0; i < d->n_untrusted; i++) {
		const struct diff_untrusted *u = &d->untrusted[i];
		char when[48];
		plan_format_time(u->at_ms, when, sizeof(when));
		const char *where = u->at_ms < e->trust.not_before_ms ? "before 2000"
								   : "more than a day after this poll began";
		char *reason = u->stage_id
			? xasprintf("%s entry into '%s' at %s is %s: not believed, so it sends nothing and "
				    "does not move what has been handled",
				  u->field, app_stage_name(&e->app, u->stage_id), when, where)
			: xasprintf("%s %s is %s: not believed", u->field, when, where);
		struct action a = {
			.key = xasprintf("lever:%s:untrusted:%s:%s:%" PRId64, o->id, u->field,
				u->stage_id ? u->stage_id : "-", u->at_ms),
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
			emit(e, &l);
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
		.key = xasprintf("lever:%s:unreadable", u->id),
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
	if (ok && !inserted && !e->app.dry_run) {
		// Read cleanly once, unreadable again: the same entry is reopened.
		ok = snapshot_action_update(e->app.snap, a.id, ACTION_FAILED, u->reason, NULL, false);
	}
	char *id = log_sanitize(u->id);
	log_warn("opportunity '%s' from Lever cannot be read (%s): skipped and kept in the journal; "
		 "it is fetched again on every run",
		id, u->reason);
	struct line l = {
		.opportunity_id = id,
		.action = "quarantined",
		.key = a.key,
		.outcome = "unreadable",
		.detail = u->reason,
	};
	emit(e, &l);
	free(id);
	free(a.key);
	free(reason);
	if (!ok) {
		e->failed_local = true;
	}
	return ok;
}

static bool on_unreadable(void *ud, const struct lever_unreadable *u)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->db);
	bool ok = !e->failed_local && quarantine(e, u);
	pthread_mutex_unlock(&e->db);
	return ok;
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lever's listing callback; listings may run in several threads at once. */
static bool on_opportunity(void *ud, const struct opportunity *o)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->db);
	bool ok = !e->failed_local && plan_one(e, o);
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

static bool plan_one(struct engine *e, const struct opportunity *o)
{
	e->n.seen++;
	if (!batch_begin(e)) {
		e->failed_local = true;
		return false;
	}
	struct opportunity_state prev;
	int found = snapshot_opp_get(e->app.snap, o->id, &prev);
	if (found < 0) {
		e->failed_local = true;
		return false;
	}
	struct diff d;
	diff_init(&d);
	diff_compute(found ? &prev : NULL, o, &e->trust, &d);
	if (d.is_new || d.posting_changed || d.contact_changed || d.stage_changed || d.archived_now ||
		d.anonymized_now || d.n_entries > 0) {
		e->n.changed++;
	}
	const struct resolved_rule *rule = rules_match(e->app.rules, o->posting_id);
	struct enrolment en;
	int enrolled = 0;
	if (rule) {
		enrolled = snapshot_enrolment_get(e->app.snap, o->id, rule->sequence_id, &en);
		if (enrolled < 0) {
			e->failed_local = true;
			diff_finish(&d);
			if (found) {
				opportunity_state_finish(&prev);
			}
			return false;
		}
	}
	struct plan_enrolment pe = {0};
	if (enrolled == 1) {
		pe = (struct plan_enrolment){en.sequence_id, en.name, en.email, en.phone};
	}
	struct plan plan;
	plan_init(&plan);
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
	plan_opportunity(&ctx, rule, o, &d, enrolled == 1 ? &pe : NULL, &plan);

	bool ok = flag_untrusted(e, o, &d);
	for (size_t i = 0; ok && i < plan.n; i++) {
		const struct plan_action *pa = &plan.actions[i];
		bool inserted = false;
		int64_t id = 0;
		ok = record(e, o, rule, pa, &inserted, &id);
		if (!ok || !inserted) {
			continue;
		}
		if (pa->kind == PLAN_SKIP) {
			e->n.skipped++;
		} else {
			e->n.planned++;
			fresh_add(e, o->id, id);
		}
		char *what = describe_plan(pa, rule);
		struct line l = {
			.opportunity_id = o->id,
			.candidate = o->name,
			.from_stage = found ? app_stage_name(&e->app, prev.stage_id) : NULL,
			.to_stage = app_stage_name(&e->app, o->stage_id),
			.rule = pa->rule_name,
			.action = what,
			.key = pa->key,
			.outcome = pa->kind == PLAN_SKIP ? "skipped" : "planned",
			.detail = pa->reason,
		};
		if (e->app.dry_run || pa->kind == PLAN_SKIP || log_enabled(LOG_DEBUG)) {
			emit(e, &l);
		}
		free(what);
	}
	if (ok && !e->app.dry_run) {
		struct opportunity_state next;
		diff_next_state(o, &d, &next);
		ok = snapshot_opp_put(e->app.snap, &next, e->run.id);
		opportunity_state_finish(&next);
	} else if (ok && e->n_watch &&
		   bsearch(&o->id, e->watch, e->n_watch, sizeof(*e->watch), compare_ids)) {
		if (e->n_seen == e->cap_seen) {
			e->cap_seen = e->cap_seen ? e->cap_seen * 2 : 16;
			e->seen = xrealloc(e->seen, e->cap_seen * sizeof(*e->seen));
		}
		diff_next_state(o, &d, &e->seen[e->n_seen++]);
	}
	plan_finish(&plan);
	diff_finish(&d);
	if (found) {
		opportunity_state_finish(&prev);
	}
	if (enrolled == 1) {
		enrolment_finish(&en);
	}
	if (!ok) {
		e->failed_local = true;
		return false;
	}
	if (!e->app.dry_run && ++e->in_batch > BATCH && !batch_commit(e)) {
		e->failed_local = true;
		return false;
	}
	return true;
}

static bool on_deleted(void *ud, const struct deleted_opportunity *d)
{
	struct engine *e = ud;
	if (e->app.dry_run) {
		return true;
	}
	pthread_mutex_lock(&e->db);
	bool ok = batch_begin(e) && snapshot_opp_delete(e->app.snap, d->id);
	if (ok) {
		e->n.deleted++;
	} else {
		e->failed_local = true;
	}
	pthread_mutex_unlock(&e->db);
	return ok;
}

static int64_t parse_ms(const char *s)
{
	if (!s) {
		return 0;
	}
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	return end && *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* The listing half of a run. Returns EXIT_OK or the status to exit with. */
/* Backfill checkpoints: the creation-time windows already listed, kept in
 * meta so that an interrupted backfill resumes where it stopped. They are
 * only valid for the same --since and --rule. */
#define CHECKPOINT_KEY "backfill_windows"
#define SCOPE_KEY "backfill_scope"

static char *backfill_scope(const struct sync_options *o)
{
	return xasprintf("%" PRId64 "|%s", o->since_ms, o->only_rule ? o->only_rule : "*");
}

static void load_checkpoints(struct engine *e)
{
	bool err = false;
	char *scope = snapshot_meta_get(e->app.snap, SCOPE_KEY, &err);
	char *want = backfill_scope(e->opts);
	char *list = scope && strcmp(scope, want) == 0 ? snapshot_meta_get(e->app.snap, CHECKPOINT_KEY, &err)
						       : NULL;
	for (char *p = list; p && *p;) {
		char *end = NULL;
		long long a = strtoll(p, &end, 10);
		if (*end != '-') {
			break;
		}
		long long b = strtoll(end + 1, &end, 10);
		if (e->n_done == e->cap_done) {
			e->cap_done = e->cap_done ? e->cap_done * 2 : 16;
			e->done = xrealloc(e->done, e->cap_done * sizeof(*e->done));
		}
		e->done[e->n_done++] = (struct partition_interval){a, b};
		p = *end == ',' ? end + 1 : end;
	}
	if (e->n_done) {
		log_info("resuming the interrupted backfill: %zu creation-time windows already done",
			e->n_done);
	}
	free(list);
	free(scope);
	free(want);
}

static bool save_checkpoints(struct engine *e)
{
	struct strbuf out;
	strbuf_init(&out);
	for (size_t i = 0; i < e->n_done; i++) {
		strbuf_printf(&out, "%s%" PRId64 "-%" PRId64, i ? "," : "", e->done[i].start,
			e->done[i].end);
	}
	char *scope = backfill_scope(e->opts);
	bool ok = snapshot_meta_set(e->app.snap, SCOPE_KEY, scope) &&
		  snapshot_meta_set(e->app.snap, CHECKPOINT_KEY, out.data ? out.data : "");
	free(scope);
	strbuf_finish(&out);
	return ok;
}

/* A window is done: its records are planned in the open batch, so commit
 * them together with the checkpoint that says so. */
static bool on_window_done(void *ud, const struct partition_interval *w)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->db);
	e->windows_done++;
	bool ok = !e->failed_local;
	if (ok && !e->app.dry_run) {
		if (e->n_done == e->cap_done) {
			e->cap_done = e->cap_done ? e->cap_done * 2 : 16;
			e->done = xrealloc(e->done, e->cap_done * sizeof(*e->done));
		}
		e->done[e->n_done++] = *w;
		ok = batch_begin(e) && save_checkpoints(e) && batch_commit(e);
		if (!ok) {
			e->failed_local = true;
		}
	}
	pthread_mutex_unlock(&e->db);
	return ok;
}

static void *progress_main(void *arg)
{
	struct engine *e = arg;
	struct timespec tick = {1, 0};
	pthread_mutex_lock(&e->db);
	while (!e->progress_stop) {
		pthread_mutex_unlock(&e->db);
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&e->db);
		if (e->progress_stop) {
			break;
		}
		struct lever_stats ls;
		lever_client_stats(e->app.lever, &ls);
		double elapsed = (double)(now_ms() - e->poll_start) / 1000.0;
		fprintf(stderr, "\r%s: %" PRId64 " candidates, %" PRIu64 " pages, %.0f/s, %d:%02d elapsed, "
				"windows %" PRIu64 " of %" PRIu64 " done, %" PRId64 " enrolled   ",
			e->command, e->n.seen, ls.pages, elapsed > 0 ? (double)e->n.seen / elapsed : 0.0,
			(int)elapsed / 60, (int)elapsed % 60, e->windows_done,
			(uint64_t)atomic_load(&e->windows_known), e->n.enrolled);
		fflush(stderr);
	}
	pthread_mutex_unlock(&e->db);
	return NULL;
}

static enum exit_code backfill_poll(struct engine *e, struct lever_opportunity_query *q)
{
	load_checkpoints(e);
	struct partition_options po = {
		.lever = e->app.lever,
		.base = q,
		// An empty state is seeded whole, whatever --since says.
		.start = e->opts->since_ms > 0 && !e->full_seed ? e->opts->since_ms : 0,
		// A minute of margin: later creations are the next sync's business.
		.end = e->poll_start + 60 * 1000,
		.workers = e->app.cfg->lever.max_in_flight,
		.done = e->done,
		.n_done = e->n_done,
		.cb = on_opportunity,
		.unreadable = on_unreadable,
		.window_done = on_window_done,
		.ud = e,
		.windows_known = &e->windows_known,
	};
	bool progress = isatty(STDERR_FILENO) && log_enabled(LOG_INFO);
	pthread_t ticker;
	if (progress && pthread_create(&ticker, NULL, progress_main, e) != 0) {
		progress = false;
	}
	struct partition_stats ps;
	enum lever_status ls = partition_list(&po, &ps);
	if (progress) {
		pthread_mutex_lock(&e->db);
		e->progress_stop = true;
		pthread_mutex_unlock(&e->db);
		pthread_join(ticker, NULL);
		fputc('\n', stderr);
	}
	log_debug("backfill paged %" PRIu64 " windows (%" PRIu64 " splits)", ps.windows, ps.splits);
	if (e->failed_local) {
		return EXIT_LOCAL;
	}
	if (ls != LEVER_OK) {
		return app_lever_exit(ls);
	}
	// Finished: the checkpoints served their purpose.
	if (!e->app.dry_run) {
		pthread_mutex_lock(&e->db);
		bool ok = batch_begin(e) && snapshot_meta_delete(e->app.snap, CHECKPOINT_KEY) &&
			  snapshot_meta_delete(e->app.snap, SCOPE_KEY);
		pthread_mutex_unlock(&e->db);
		if (!ok) {
			return EXIT_LOCAL;
		}
	}
	return EXIT_OK;
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
	char *key = xasprintf("lever:%s:unreadable", id);
	int64_t row = snapshot_action_id_by_key(e->app.snap, key);
	free(key);
	bool ok = row >= 0;
	if (row > 0 && !e->app.dry_run) {
		ok = batch_begin(e) && snapshot_action_update(e->app.snap, row, ACTION_DONE, NULL, NULL,
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
static enum exit_code refetch_quarantined(struct engine *e)
{
	struct quarantined q = {0};
	if (!snapshot_actions_of_kind(e->app.snap, ACTION_UNREADABLE, ACTION_FAILED,
		    collect_quarantined, &q)) {
		return EXIT_LOCAL;
	}
	enum exit_code rc = EXIT_OK;
	struct lever_opportunity_sink sink = {on_refetched, on_unreadable, e};
	for (size_t i = 0; i < q.n && rc == EXIT_OK; i++) {
		e->refetch_origin = q.origins[i];
		enum lever_status ls = lever_get_opportunity(e->app.lever, q.ids[i], &sink);
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
			rc = app_lever_exit(ls);
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

static enum exit_code poll(struct engine *e, int64_t cursor)
{
	struct lever_opportunity_query q = {0};
	const char **postings = NULL;
	enum exit_code rc = refetch_quarantined(e);
	if (rc != EXIT_OK) {
		return rc;
	}
	if (e->opts->backfill) {
		q.archived = LEVER_ARCHIVED_NONE;
		const struct resolved_rule *only =
			e->opts->only_rule ? rules_find(e->app.rules, e->opts->only_rule) : NULL;
		if (only && !only->wildcard && only->n_postings > 0 && !e->full_seed) {
			postings = xcalloc(only->n_postings, sizeof(*postings));
			for (size_t i = 0; i < only->n_postings; i++) {
				postings[i] = only->posting_ids[i];
			}
			q.posting_ids = postings;
			q.n_posting_ids = only->n_postings;
		}
		rc = backfill_poll(e, &q);
		free(postings);
		return rc;
	}
	if (cursor > 0) {
		int64_t start = cursor - (int64_t)e->app.cfg->overlap * 1000;
		q.updated_at_start = start > 0 ? start : 1;
	}
	struct lever_opportunity_sink sink = {on_opportunity, on_unreadable, e};
	int ls = lever_list_opportunities(e->app.lever, &q, &sink);
	if (ls == LEVER_OK && cursor > 0) {
		int64_t start = cursor - (int64_t)e->app.cfg->overlap * 1000;
		ls = lever_list_deleted(e->app.lever, start > 0 ? start : 1, 0, on_deleted, e);
	}
	if (e->failed_local) {
		return EXIT_LOCAL;
	}
	if (ls != LEVER_OK) {
		return app_lever_exit(ls);
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Performing: the journal's pending actions, oldest first.                 */

/* Journal rows gathered for a later pass: their ids, opportunities and kinds. */
struct pending_row {
	char *opportunity_id;
	int rank; /* creates, then contact updates, then steps */
	int64_t id;
};

struct pending_rows {
	struct pending_row *v;
	size_t n, cap;
};

static bool collect_pending(void *ud, const struct action *a)
{
	struct pending_rows *rows = ud;
	if (rows->n == rows->cap) {
		rows->cap = rows->cap ? rows->cap * 2 : 64;
		rows->v = xrealloc(rows->v, rows->cap * sizeof(*rows->v));
	}
	// A step relies on what earlier kinds give Refty (the candidate, its
	// email), whatever order the intents were recorded in.
	int rank = a->kind == ACTION_CREATE_CANDIDATE ? 0 : a->kind == ACTION_UPDATE_CONTACT ? 1 : 2;
	rows->v[rows->n++] = (struct pending_row){xstrdup(a->opportunity_id), rank, a->id};
	return true;
}

static int compare_rows(const void *pa, const void *pb)
{
	const struct pending_row *a = pa, *b = pb;
	int c = strcmp(a->opportunity_id, b->opportunity_id);
	if (c == 0) {
		c = a->rank - b->rank;
	}
	return c ? c : (a->id > b->id) - (a->id < b->id);
}

static void pending_rows_finish(struct pending_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		free(rows->v[i].opportunity_id);
	}
	free(rows->v);
	memset(rows, 0, sizeof(*rows));
}


static void emit_action(const struct engine *e, const struct action *a, const char *outcome,
	const char *detail)
{
	struct opportunity_state st;
	int found = snapshot_opp_get(e->app.snap, a->opportunity_id, &st);
	char *what = describe_action(&e->app, a);
	struct line l = {
		.opportunity_id = a->opportunity_id,
		.candidate = found == 1 ? st.name : NULL,
		.at_stage = a->lever_stage_id ? app_stage_name(&e->app, a->lever_stage_id) : NULL,
		.rule = a->rule,
		.action = what,
		.key = a->key,
		.outcome = outcome,
		.detail = detail,
	};
	emit(e, &l);
	free(what);
	if (found == 1) {
		opportunity_state_finish(&st);
	}
}

static bool collect_watch(void *ud, const struct action *a)
{
	struct engine *e = ud;
	e->watch = xrealloc(e->watch, (e->n_watch + 1) * sizeof(*e->watch));
	e->watch[e->n_watch++] = xstrdup(a->opportunity_id);
	return true;
}

/* The opportunity as this run knows it: 1 found, 0 not, -1 error. */
static int current_state(struct engine *e, const char *id, struct opportunity_state *out)
{
	for (size_t i = 0; i < e->n_seen; i++) {
		const struct opportunity_state *s = &e->seen[i];
		if (strcmp(s->id, id) == 0) {
			*out = *s;
			out->id = xstrdup(s->id);
			out->posting_id = xstrdup(s->posting_id);
			out->stage_id = xstrdup(s->stage_id);
			out->name = xstrdup(s->name);
			out->email = xstrdup(s->email);
			out->phone = xstrdup(s->phone);
			return 1;
		}
	}
	return snapshot_opp_get(e->app.snap, id, out);
}

/* Re-checks steps parked for want of an email: the candidate left the stage
 * (sent nothing, ever), or the email arrived (send now). */
static bool recheck_waiting(struct engine *e)
{
	struct pending_rows rows = {0};
	bool ok = snapshot_actions_in_state(e->app.snap, ACTION_WAITING_EMAIL, collect_pending, &rows);
	for (size_t i = 0; ok && i < rows.n; i++) {
		struct action a;
		if (snapshot_action_get(e->app.snap, rows.v[i].id, &a) != 1) {
			ok = false;
			break;
		}
		struct opportunity_state st;
		int found = current_state(e, a.opportunity_id, &st);
		if (found < 0) {
			action_finish(&a);
			ok = false;
			break;
		}
		bool in_stage = found && st.stage_id && a.lever_stage_id &&
				strcmp(st.stage_id, a.lever_stage_id) == 0 && !st.archived &&
				!st.anonymized;
		if (!in_stage) {
			if (!e->app.dry_run) {
				ok = snapshot_action_update(e->app.snap, a.id, ACTION_ABANDONED,
					"left the stage before an email was known", NULL, false);
			}
			e->n.abandoned++;
			emit_action(e, &a, "abandoned", "left the stage before an email was known");
		} else if (st.email) {
			if (!e->app.dry_run) {
				ok = snapshot_action_update(e->app.snap, a.id, ACTION_PENDING, NULL, NULL,
					false);
			} else {
				emit_action(e, &a, "planned", "the email is now known");
				e->n.planned++;
			}
		}
		if (found) {
			opportunity_state_finish(&st);
		}
		action_finish(&a);
	}
	pending_rows_finish(&rows);
	return ok;
}

enum outcome {
	OUT_DONE,
	OUT_PENDING,
	OUT_FAILED,
	OUT_WAITING,
	OUT_ABANDONED,
	OUT_STOP, /* authorisation refused: stop the run */
	OUT_LOCAL,
};

static enum outcome from_result(const struct refty_result *res)
{
	switch (res->status) {
	case REFTY_OK:
		return OUT_DONE;
	case REFTY_ERR_AUTH:
		return OUT_STOP;
	case REFTY_ERR_PERMANENT:
		return OUT_FAILED;
	case REFTY_ERR_TRANSIENT:
	case REFTY_ERR_DRY_RUN:
		break;
	}
	return OUT_PENDING;
}

/* A step or update needs the candidate in Refty first. Called with db held. */
static enum outcome missing_candidate(struct engine *e, const struct action *a, char **why)
{
	char *key = xasprintf("lever:%s:%s:candidate", a->opportunity_id, a->sequence_id);
	int64_t id = snapshot_action_id_by_key(e->app.snap, key);
	free(key);
	if (id < 0) {
		return OUT_LOCAL;
	}
	struct action create;
	if (id > 0 && snapshot_action_get(e->app.snap, id, &create) == 1) {
		enum action_state st = create.state;
		action_finish(&create);
		if (st == ACTION_FAILED) {
			*why = xasprintf("the candidate could not be created in Refty (action %" PRId64
					 " failed; see 'refty-lever retry')",
				id);
			return OUT_FAILED;
		}
		*why = xasprintf("waiting for action %" PRId64 " to create the candidate", id);
		return OUT_PENDING;
	}
	*why = xstrdup("no candidate in Refty and no action to create one");
	return OUT_FAILED;
}

/* One worker's view: its own Refty client (an HTTP handle is not shared
 * between threads) and the engine, whose database it uses under e->db. */
struct worker {
	struct engine *e;
	struct refty_client *refty;
	pthread_t thread;
};

/* Decides under the database lock what a step needs before it is sent: the
 * candidate's email, given to Refty first when it arrived after enrolment. */
static enum outcome prepare_step(struct engine *e, const struct action *a, struct enrolment *en,
	bool *patch, char **detail)
{
	*patch = false;
	if (en->email) {
		return OUT_DONE;
	}
	struct opportunity_state st;
	int found = snapshot_opp_get(e->app.snap, a->opportunity_id, &st);
	if (found < 0) {
		return OUT_LOCAL;
	}
	enum outcome out = OUT_DONE;
	if (found && st.email) {
		// Refty sends to the email it holds: record what we give it, then give it.
		free(en->name);
		free(en->email);
		free(en->phone);
		en->name = xstrdup(st.name);
		en->email = xstrdup(st.email);
		en->phone = xstrdup(st.phone);
		*patch = true;
		if (!snapshot_enrolment_put(e->app.snap, en)) {
			out = OUT_LOCAL;
		}
	} else {
		bool in_stage = found && st.stage_id && a->lever_stage_id &&
				strcmp(st.stage_id, a->lever_stage_id) == 0;
		out = in_stage ? OUT_WAITING : OUT_ABANDONED;
		*detail = xstrdup(in_stage ? "no email in Lever yet"
					   : "no email, and the candidate already left the stage");
	}
	if (found) {
		opportunity_state_finish(&st);
	}
	return out;
}

/* Performs one action: what the journal and snapshot say is read under the
 * database lock, the Refty requests are made without it, and the outcome is
 * written under it again. */
static enum outcome perform_one(struct worker *w, const struct action *a, char **detail,
	char **refty_id)
{
	struct engine *e = w->e;
	struct refty_result res;
	refty_result_init(&res);
	struct enrolment en = {0};
	enum outcome out = OUT_DONE;
	bool patch = false;
	const char *language = NULL;

	if (a->kind == ACTION_UNREADABLE || a->kind == ACTION_UNTRUSTED) {
		// Quarantine is never Refty work (retry leaves it alone); refuse, don't guess.
		*detail = xstrdup("a quarantine entry is not performed");
		return OUT_FAILED;
	}
	char *refreshed = NULL;
	pthread_mutex_lock(&e->db);
	if (a->kind == ACTION_CREATE_CANDIDATE && a->requeued && a->payload && a->rule) {
		// Failed, so Refty kept nothing under the key: send the language the
		// rule has now (the usual fix), and journal that body for any retry.
		const struct resolved_rule *rule = rules_find(e->app.rules, a->rule);
		refreshed = rule && rule->language
				    ? refty_candidate_body_relanguage(a->payload, rule->language)
				    : NULL;
		if (refreshed && !snapshot_action_set_payload(e->app.snap, a->id, refreshed)) {
			out = OUT_LOCAL;
		}
	}
	if (a->kind != ACTION_CREATE_CANDIDATE && a->kind != ACTION_SKIP) {
		int have = snapshot_enrolment_get(e->app.snap, a->opportunity_id, a->sequence_id, &en);
		if (have < 0) {
			out = OUT_LOCAL;
		} else if (have == 0 || !en.refty_id) {
			out = missing_candidate(e, a, detail);
			if (out == OUT_DONE) {
				out = OUT_FAILED;
			}
		} else if (a->kind == ACTION_SEND_STEP) {
			out = prepare_step(e, a, &en, &patch, detail);
			const struct resolved_rule *rule =
				a->rule ? rules_find(e->app.rules, a->rule) : NULL;
			language = rule ? rule->language : NULL;
		}
	}
	pthread_mutex_unlock(&e->db);
	if (out != OUT_DONE) {
		enrolment_finish(&en);
		free(refreshed);
		return out;
	}

	switch (a->kind) {
	case ACTION_CREATE_CANDIDATE:
		if (!a->payload) {
			*detail = xstrdup("journal entry has no request body");
			out = OUT_FAILED;
			break;
		}
		refty_create_candidate(w->refty, a->key, refreshed ? refreshed : a->payload, refty_id,
			&res);
		out = from_result(&res);
		break;
	case ACTION_UPDATE_CONTACT:
		refty_update_candidate(w->refty, en.refty_id, en.name, en.email, en.phone, &res);
		out = from_result(&res);
		break;
	case ACTION_SEND_STEP:
		if (patch && !refty_update_candidate(w->refty, en.refty_id, en.name, en.email, en.phone,
				     &res)) {
			out = from_result(&res);
			break;
		}
		refty_send_step(w->refty, en.refty_id, a->key, a->refty_stage_id, language, refty_id,
			&res);
		out = from_result(&res);
		break;
	case ACTION_SKIP:
	case ACTION_UNREADABLE:
	case ACTION_UNTRUSTED:
		break;
	}

	pthread_mutex_lock(&e->db);
	if (out == OUT_DONE && a->kind == ACTION_CREATE_CANDIDATE) {
		struct enrolment got;
		int have = snapshot_enrolment_get(e->app.snap, a->opportunity_id, a->sequence_id, &got);
		if (have < 0) {
			out = OUT_LOCAL;
		} else {
			if (have == 0) {
				got.opportunity_id = xstrdup(a->opportunity_id);
				got.sequence_id = xstrdup(a->sequence_id);
			}
			free(got.refty_id);
			got.refty_id = xstrdup(*refty_id);
			if (!snapshot_enrolment_put(e->app.snap, &got)) {
				out = OUT_LOCAL;
			}
			enrolment_finish(&got);
		}
	}
	if (out == OUT_DONE) {
		e->n.enrolled += a->kind == ACTION_CREATE_CANDIDATE;
		e->n.updated += a->kind == ACTION_UPDATE_CONTACT;
		e->n.sent += a->kind == ACTION_SEND_STEP;
	}
	pthread_mutex_unlock(&e->db);

	if (!*detail && out != OUT_DONE && res.message) {
		*detail = xstrdup(res.message);
	} else if (out == OUT_DONE && res.replayed) {
		*detail = xstrdup("already done: Refty replayed the original answer");
	}
	refty_result_finish(&res);
	enrolment_finish(&en);
	free(refreshed);
	return out;
}

static const struct {
	enum action_state state;
	const char *label;
} outcomes[] = {
	[OUT_DONE] = {ACTION_DONE, "done"},
	[OUT_PENDING] = {ACTION_PENDING, "pending"},
	[OUT_FAILED] = {ACTION_FAILED, "failed"},
	[OUT_WAITING] = {ACTION_WAITING_EMAIL, "waiting"},
	[OUT_ABANDONED] = {ACTION_ABANDONED, "abandoned"},
	[OUT_STOP] = {ACTION_PENDING, "pending"},
	[OUT_LOCAL] = {ACTION_PENDING, "pending"},
};

/* Performs the actions of one opportunity in order; a failure stops the
 * rest of them, since later ones depend on earlier ones. */
static void perform_group(struct worker *w, const struct group *g)
{
	struct engine *e = w->e;
	bool blocked = false;
	for (size_t i = 0; i < g->n; i++) {
		pthread_mutex_lock(&e->db);
		bool stop = e->stop;
		struct action a;
		int got = stop ? 0 : snapshot_action_get(e->app.snap, g->ids[i], &a);
		if (got < 0) {
			e->perform_rc = EXIT_LOCAL;
			e->stop = true;
		}
		if (got == 1 && (a.state != ACTION_PENDING || blocked)) {
			// Done by someone else meanwhile, or waiting behind a failure.
			e->n.pending += blocked && a.state == ACTION_PENDING;
			action_finish(&a);
			got = 0;
		}
		pthread_mutex_unlock(&e->db);
		if (stop || got < 0) {
			break;
		}
		if (got == 0) {
			continue;
		}
		char *detail = NULL, *refty_id = NULL;
		enum outcome out = perform_one(w, &a, &detail, &refty_id);

		pthread_mutex_lock(&e->db);
		bool ok = out == OUT_LOCAL ||
			  snapshot_action_update(e->app.snap, a.id, outcomes[out].state,
				  out == OUT_DONE ? NULL : detail, refty_id, true);
		emit_action(e, &a, outcomes[out].label, detail);
		switch (out) {
		case OUT_PENDING:
		case OUT_STOP:
		case OUT_LOCAL:
			e->n.pending++;
			break;
		case OUT_FAILED:
			e->n.failed++;
			break;
		case OUT_WAITING:
			e->n.waiting++;
			break;
		case OUT_ABANDONED:
			e->n.abandoned++;
			break;
		case OUT_DONE:
			break;
		}
		if (!ok || out == OUT_LOCAL) {
			e->perform_rc = EXIT_LOCAL;
			e->stop = true;
		} else if (out == OUT_STOP) {
			if (e->perform_rc == EXIT_OK) {
				e->perform_rc = EXIT_REMOTE;
			}
			e->stop = true;
		}
		pthread_mutex_unlock(&e->db);
		blocked = blocked || out != OUT_DONE;
		free(detail);
		free(refty_id);
		action_finish(&a);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct group g;
	while (workq_pop(&w->e->queue, &g)) {
		perform_group(w, &g);
		group_finish(&g);
	}
	return NULL;
}

/* Groups the journal's pending actions by opportunity (creates, updates, then
 * steps within each) and queues them for the workers. */
static bool queue_pending(struct engine *e)
{
	struct pending_rows rows = {0};
	pthread_mutex_lock(&e->db);
	bool ok = snapshot_actions_in_state(e->app.snap, ACTION_PENDING, collect_pending, &rows);
	pthread_mutex_unlock(&e->db);
	if (ok && rows.n > 0) {
		qsort(rows.v, rows.n, sizeof(*rows.v), compare_rows);
	}
	struct group g = {0};
	for (size_t i = 0; ok && i < rows.n; i++) {
		if (g.opportunity_id && strcmp(g.opportunity_id, rows.v[i].opportunity_id) != 0) {
			workq_push(&e->queue, &g);
			memset(&g, 0, sizeof(g));
		}
		if (!g.opportunity_id) {
			g.opportunity_id = xstrdup(rows.v[i].opportunity_id);
		}
		group_add(&g, rows.v[i].id);
	}
	if (g.opportunity_id) {
		workq_push(&e->queue, &g);
	}
	pending_rows_finish(&rows);
	return ok;
}

/* Starts the Refty workers; they take groups from the queue until it closes. */
static enum exit_code workers_start(struct engine *e)
{
	int n = e->app.cfg->refty.max_in_flight > 0 ? e->app.cfg->refty.max_in_flight : 1;
	e->workers = xcalloc((size_t)n, sizeof(*e->workers));
	for (int i = 0; i < n; i++) {
		struct worker *w = &e->workers[i];
		w->e = e;
		enum exit_code rc = app_new_refty(&e->app, &w->refty);
		if (rc != EXIT_OK) {
			return rc;
		}
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			log_error("cannot start a Refty worker thread");
			refty_client_destroy(w->refty);
			w->refty = NULL;
			return EXIT_LOCAL;
		}
		e->n_workers++;
	}
	return EXIT_OK;
}

static void workers_join(struct engine *e)
{
	workq_close(&e->queue);
	for (int i = 0; i < e->n_workers; i++) {
		pthread_join(e->workers[i].thread, NULL);
		refty_client_destroy(e->workers[i].refty);
	}
	free(e->workers);
	e->workers = NULL;
	e->n_workers = 0;
}

/* Performs the journal's pending actions with refty.max_in_flight workers.
 * With overlap the workers already run (started before paging). */
static enum exit_code perform(struct engine *e)
{
	if (e->app.dry_run) {
		return recheck_waiting(e) ? EXIT_OK : EXIT_LOCAL;
	}
	enum exit_code rc = EXIT_OK;
	if (!e->overlap) {
		if (!recheck_waiting(e)) {
			return EXIT_LOCAL;
		}
		rc = workers_start(e);
		if (rc == EXIT_OK && !queue_pending(e)) {
			rc = EXIT_LOCAL;
		}
	}
	workers_join(e);
	if (rc == EXIT_OK) {
		rc = e->perform_rc;
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The run.                                                                  */

static void summary(const struct engine *e, enum exit_code rc)
{
	if (e->opts->json) {
		struct strbuf out;
		struct jsonw w;
		jsonw_line_begin(&w, &out);
		jsonw_kv_string(&w, "type", "summary");
		jsonw_kv_string(&w, "command", e->command);
		jsonw_kv_bool(&w, "dry_run", e->app.dry_run);
		jsonw_kv_bool(&w, "seeding", e->ctx.seeding);
		jsonw_kv_int(&w, "seen", e->n.seen);
		jsonw_kv_int(&w, "changed", e->n.changed);
		jsonw_kv_int(&w, "planned", e->n.planned);
		jsonw_kv_int(&w, "enrolled", e->n.enrolled);
		jsonw_kv_int(&w, "sent", e->n.sent);
		jsonw_kv_int(&w, "updated", e->n.updated);
		jsonw_kv_int(&w, "waiting_email", e->n.waiting);
		jsonw_kv_int(&w, "skipped", e->n.skipped);
		jsonw_kv_int(&w, "failed", e->n.failed);
		jsonw_kv_int(&w, "pending", e->n.pending);
		jsonw_kv_int(&w, "abandoned", e->n.abandoned);
		jsonw_kv_int(&w, "deleted", e->n.deleted);
		jsonw_kv_int(&w, "unreadable", e->n.unreadable);
		jsonw_kv_int(&w, "untrusted", e->n.untrusted);
		jsonw_kv_int(&w, "exit_status", rc);
		jsonw_line_end(&w, stdout);
		return;
	}
	// Under -q a run that did nothing says nothing, so cron mails only news.
	bool eventless = e->n.planned == 0 && e->n.failed == 0 && e->n.pending == 0 &&
			 e->n.waiting == 0 && e->n.abandoned == 0 && e->n.skipped == 0 &&
			 e->n.unreadable == 0 && e->n.untrusted == 0;
	if (!log_enabled(LOG_INFO) && rc == EXIT_OK && eventless) {
		return;
	}
	printf("%s%s: seen %" PRId64 ", changed %" PRId64 ", enrolled %" PRId64 ", sent %" PRId64
	       ", waiting for email %" PRId64 ", skipped %" PRId64 ", failed %" PRId64,
		e->command, e->app.dry_run ? " (dry run)" : "", e->n.seen, e->n.changed,
		e->app.dry_run ? 0 : e->n.enrolled, e->app.dry_run ? 0 : e->n.sent, e->n.waiting,
		e->n.skipped, e->n.failed);
	if (e->app.dry_run) {
		printf(", planned %" PRId64, e->n.planned);
	}
	if (e->n.pending) {
		printf(", pending retry %" PRId64, e->n.pending);
	}
	if (e->n.unreadable) {
		printf(", unreadable %" PRId64, e->n.unreadable);
	}
	if (e->n.untrusted) {
		printf(", untrusted times %" PRId64, e->n.untrusted);
	}
	putchar('\n');
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
	const char *path = e->app.cfg->state;
	if (e->opts->backfill) {
		return EXIT_OK;
	}
	if (e->opts->seed && seeded > 0) {
		char t[40];
		log_error("state '%s' is already seeded (since %s): nothing done. Plain 'refty-lever "
			  "sync' continues from it; to start over, move the database away first",
			path, plan_format_time(seeded, t, sizeof(t)));
		return EXIT_USAGE;
	}
	if (!e->opts->seed && seeded == 0) {
		log_not_seeded(path, "has not been seeded (or its seeding did not finish)");
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

enum exit_code sync_run(const struct config *cfg, const struct sync_options *opts)
{
	struct engine e = {
		.opts = opts,
		.command = opts->backfill ? "backfill" : "sync",
		.max_actions = opts->max_actions >= 0 ? opts->max_actions : cfg->max_actions,
	};
	app_init(&e.app, cfg, opts->dry_run);
	pthread_mutex_init(&e.db, NULL);
	workq_init(&e.queue);
	enum exit_code rc = check_state_present(cfg, opts);
	if (rc == EXIT_OK) {
		rc = app_open_state(&e.app, APP_STATE_WRITE);
	}
	// Under the lock, and before the clients and the name cache touch anything.
	int64_t seeded = rc == EXIT_OK ? snapshot_seeded_at(e.app.snap) : 0;
	if (seeded < 0) {
		rc = EXIT_LOCAL;
	}
	if (rc == EXIT_OK) {
		rc = check_seeded(&e, seeded);
	}
	if (rc == EXIT_OK) {
		rc = app_open_lever(&e.app);
	}
	if (rc == EXIT_OK) {
		rc = app_open_refty(&e.app);
	}
	if (rc == EXIT_OK) {
		rc = app_load_rules(&e.app, APP_NAMES_AUTO);
	}
	if (rc == EXIT_OK && opts->only_rule && !rules_find(e.app.rules, opts->only_rule)) {
		log_error("no rule named '%s' in '%s'", opts->only_rule, cfg->path);
		rc = EXIT_USAGE;
	}
	if (rc != EXIT_OK) {
		goto out;
	}

	bool err = false;
	char *cursor_text = snapshot_meta_get(e.app.snap, "cursor", &err);
	int64_t cursor = parse_ms(cursor_text);
	free(cursor_text);
	char *seeded_text = snapshot_meta_get(e.app.snap, "seeded_at", &err);
	int64_t seeded_at = parse_ms(seeded_text);
	free(seeded_text);
	if (err) {
		rc = EXIT_LOCAL;
		goto out;
	}

	e.poll_start = now_ms();
	e.trust = diff_trust_for_poll(e.poll_start);
	e.full_seed = opts->backfill && seeded == 0;
	e.ctx = (struct plan_context){
		.seeding = seeded == 0 && !opts->backfill,
		.backfill = opts->backfill,
		.trigger_current = opts->trigger_current,
		.include_confidential = cfg->lever.confidential,
		.rules = e.app.rules,
		.only_rule = opts->only_rule,
		.watched_since_ms = seeded_at,
	};
	e.origin = opts->backfill ? "backfill" : e.ctx.seeding ? "seed" : "sync";
	e.run = (struct run_record){
		.command = xstrdup(e.command),
		.started_at = e.poll_start,
		.poll_started_ms = e.poll_start,
		.exit_code = -1,
		.dry_run = opts->dry_run,
	};
	if (!opts->dry_run && !snapshot_run_start(e.app.snap, &e.run)) {
		rc = EXIT_LOCAL;
		goto out;
	}
	if (e.ctx.seeding && opts->dry_run) {
		log_info("first run (dry run): would record the current state of every opportunity "
			 "seen, and send nothing; nothing is recorded now. Run 'refty-lever sync --seed' "
			 "to seed, then 'refty-lever backfill' to enrol existing candidates");
	} else if (e.ctx.seeding) {
		log_info("first run: recording the current state of every opportunity; nothing will "
			 "be sent. Run 'refty-lever backfill' to enrol existing candidates");
	}

	// A backfill without a valve performs while it pages, so that creating
	// candidates in Refty adds no serial wait of its own; with a valve the
	// plan's size must be known before anything is performed.
	e.overlap = opts->backfill && !opts->dry_run && e.max_actions == 0;
	if (opts->dry_run) {
		if (!snapshot_actions_in_state(e.app.snap, ACTION_WAITING_EMAIL, collect_watch, &e)) {
			rc = EXIT_LOCAL;
		} else if (e.n_watch) {
			qsort(e.watch, e.n_watch, sizeof(*e.watch), compare_ids);
		}
	}
	if (e.overlap) {
		rc = recheck_waiting(&e) ? workers_start(&e) : EXIT_LOCAL;
		if (rc == EXIT_OK && !queue_pending(&e)) {
			rc = EXIT_LOCAL;
		}
	}
	if (rc == EXIT_OK) {
		rc = poll(&e, opts->backfill ? 0 : cursor);
	}
	pthread_mutex_lock(&e.db);
	if (rc == EXIT_OK && !opts->dry_run) {
		// The cursor moves only once everything the poll saw is committed.
		char ms[32];
		snprintf(ms, sizeof(ms), "%" PRId64, e.poll_start);
		// seeded_at marks a completed seeding, so it is written here only, with the
		// cursor: a seeding run killed between batches leaves the state unseeded.
		bool ok = batch_begin(&e);
		if (ok && (seeded == 0 || !opts->backfill)) {
			ok = snapshot_meta_set(e.app.snap, "cursor", ms);
		}
		if (ok && seeded == 0) {
			ok = snapshot_meta_set(e.app.snap, "seeded_at", ms);
		}
		ok = ok && batch_commit(&e);
		if (!ok) {
			rc = EXIT_LOCAL;
		}
	}
	if (rc != EXIT_OK) {
		batch_rollback(&e);
	}
	pthread_mutex_unlock(&e.db);

	if (e.overlap) {
		enum exit_code prc = perform(&e);
		if (rc == EXIT_OK) {
			rc = prc;
		}
	} else if (rc == EXIT_OK) {
		int64_t pending = 0;
		if (!snapshot_actions_in_state(e.app.snap, ACTION_PENDING, count_pending, &pending)) {
			rc = EXIT_LOCAL;
		}
		// In a dry run nothing was recorded, so the plan adds to the backlog.
		int64_t total = opts->dry_run ? pending + e.n.planned : pending;
		if (rc == EXIT_OK && e.max_actions > 0 && total > e.max_actions) {
			log_error("%" PRId64 " actions planned, more than max_actions (%ld): nothing "
				  "done. Check the plan with 'refty-lever %s --dry-run', then run with "
				  "--max-actions %" PRId64 " (or 0) to go ahead",
				total, e.max_actions, e.command, total);
			rc = EXIT_VALVE;
		} else if (rc == EXIT_OK) {
			rc = perform(&e);
		}
	}
	if (rc == EXIT_OK && (e.n.failed > 0 || e.n.pending > 0 || e.n.unreadable > 0)) {
		rc = EXIT_PARTIAL;
	}
	if (e.n.untrusted > 0) {
		char *id = log_sanitize(e.untrusted_example);
		log_warn("%" PRId64 " time%s from Lever cannot be true (more than a day ahead, or before "
			 "2000) and %s not acted on; 'refty-lever explain %s' shows the first",
			e.n.untrusted, e.n.untrusted == 1 ? "" : "s", e.n.untrusted == 1 ? "was" : "were",
			id);
		free(id);
	}
	summary(&e, rc);

	if (!opts->dry_run && e.run.id) {
		e.run.finished_at = now_ms();
		e.run.exit_code = rc;
		e.run.seen = e.n.seen;
		e.run.changed = e.n.changed;
		e.run.enrolled = e.n.enrolled;
		e.run.sent = e.n.sent;
		e.run.waiting = e.n.waiting;
		e.run.skipped = e.n.skipped;
		e.run.failed = e.n.failed;
		if (!snapshot_run_finish(e.app.snap, &e.run) && rc == EXIT_OK) {
			rc = EXIT_LOCAL;
		}
	}
out:
	workers_join(&e);
	fresh_clear(&e);
	free(e.fresh);
	workq_finish(&e.queue);
	free(e.done);
	for (size_t i = 0; i < e.n_watch; i++) {
		free(e.watch[i]);
	}
	free(e.watch);
	for (size_t i = 0; i < e.n_seen; i++) {
		opportunity_state_finish(&e.seen[i]);
	}
	free(e.seen);
	for (size_t i = 0; i < e.n_unreadable; i++) {
		free(e.unreadable[i]);
	}
	free(e.unreadable);
	free(e.untrusted_example);
	pthread_mutex_destroy(&e.db);
	run_record_finish(&e.run);
	app_finish(&e.app);
	return rc;
}
