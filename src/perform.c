#define LOG_MODULE "sync"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "journal.h"
#include "lock.h"
#include "log.h"
#include "refty.h"
#include "rules.h"
#include "signals.h"
#include "xalloc.h"

void group_add(struct group *g, int64_t id)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4;
		g->ids = xrealloc(g->ids, g->cap * sizeof(*g->ids));
	}
	g->ids[g->n++] = id;
}

void group_finish(struct group *g)
{
	free(g->opportunity_id);
	free(g->ids);
	memset(g, 0, sizeof(*g));
}

void workq_init(struct workq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

void workq_finish(struct workq *q)
{
	for (size_t i = 0; i < q->n; i++) {
		group_finish(&q->items[(q->head + i) % q->cap]);
	}
	free(q->items);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
}

/* Takes ownership of g's contents. */
void workq_push(struct workq *q, struct group *g)
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

void workq_close(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* Groups waiting beyond which the Lever listing is not the bottleneck: two pages of records
 * (at most a group each) come back per round trip of a chain; more queued than that is work
 * the Refty workers have for longer than another window's first pages would take. */
#define BEHIND_PAGES 2

bool perform_behind(void *ud)
{
	struct engine *e = ud;
	if (!e->overlap) {
		return false; // performed after the listing: nothing to wait for while paging
	}
	// The open batch's intents count: queued at its commit, they are the workers' already.
	pthread_mutex_lock(&e->db);
	pthread_mutex_lock(&e->queue.lock);
	bool behind = e->queue.n + e->n_fresh >= BEHIND_PAGES * LEVER_PAGE_SIZE;
	pthread_mutex_unlock(&e->queue.lock);
	pthread_mutex_unlock(&e->db);
	return behind;
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

/* The opportunity as this run knows it: 1 found, 0 not, -1 error. */
static int current_state(struct engine *e, const char *id, struct opportunity_state *out)
{
	for (size_t i = 0; i < e->n_seen; i++) {
		const struct opportunity_state *s = &e->seen[i];
		if (strcmp(s->id, id) == 0) {
			opportunity_state_copy(out, s);
			return 1;
		}
	}
	return snapshot_opp_get(e->app->snap, id, out);
}

/* Re-checks steps parked for want of an email: the candidate left the stage
 * (sent nothing, ever), or the email arrived (send now). */
bool perform_recheck_waiting(struct engine *e)
{
	struct pending_rows rows = {0};
	bool ok = snapshot_actions_in_state(e->app->snap, ACTION_WAITING_EMAIL, collect_pending, &rows);
	for (size_t i = 0; ok && i < rows.n; i++) {
		struct action a;
		if (snapshot_action_get(e->app->snap, rows.v[i].id, &a) != 1) {
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
		bool in_stage = found && opportunity_state_waits_in(&st, a.lever_stage_id);
		if (!in_stage) {
			if (!e->app->dry_run) {
				ok = snapshot_action_update(e->app->snap, a.id, ACTION_ABANDONED,
					"left the stage before an email was known", NULL, false);
			}
			e->n.abandoned++;
			output_action(e, &a, "abandoned", "left the stage before an email was known");
		} else if (st.contact.email) {
			if (!e->app->dry_run) {
				ok = snapshot_action_update(e->app->snap, a.id, ACTION_PENDING, NULL, NULL,
					false);
			} else {
				output_action(e, &a, "planned", "the email is now known");
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
	OUT_UNAVAILABLE, /* Refty unreachable or failing after retries: pending, and the run exits 3 */
	OUT_LOCAL,
	OUT_LOCK_LOST, /* another run may own the state now: stop, write nothing */
};
#define OUT_COUNT (OUT_LOCK_LOST + 1)

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
		// An answer of "in progress" (409) is Refty working; no answer, 429 or 5xx after
		// the HTTP layer's retries is Refty down, which monitoring must see.
		if (res->http_status == 0 || res->http_status == 429 || res->http_status >= 500) {
			return OUT_UNAVAILABLE;
		}
		break;
	case REFTY_ERR_DRY_RUN:
	case REFTY_ERR_INTERRUPTED: // this run's stop, not Refty's failure: pending for the next
		break;
	}
	return OUT_PENDING;
}

/* A step or update needs the candidate in Refty first. Called with db held. */
static enum outcome missing_candidate(struct engine *e, const struct action *a, char **why)
{
	char *key = journal_key_candidate(a->opportunity_id, a->sequence_id);
	int64_t id = snapshot_action_id_by_key(e->app->snap, key);
	free(key);
	if (id < 0) {
		return OUT_LOCAL;
	}
	struct action create;
	if (id > 0 && snapshot_action_get(e->app->snap, id, &create) == 1) {
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
	if (en->contact.email) {
		return OUT_DONE;
	}
	struct opportunity_state st;
	int found = snapshot_opp_get(e->app->snap, a->opportunity_id, &st);
	if (found < 0) {
		return OUT_LOCAL;
	}
	enum outcome out = OUT_DONE;
	if (found && st.contact.email) {
		// Refty sends to the email it holds: record what we give it, then give it.
		contact_finish(&en->contact);
		contact_copy(&en->contact, &st.contact);
		*patch = true;
		if (!snapshot_enrolment_put(e->app->snap, en)) {
			out = OUT_LOCAL;
		}
	} else {
		bool in_stage = found && opportunity_state_waits_in(&st, a->lever_stage_id);
		out = in_stage ? OUT_WAITING : OUT_ABANDONED;
		*detail = xstrdup(in_stage ? "no email in Lever yet"
					   : "no email, and the candidate already left the stage");
	}
	if (found) {
		opportunity_state_finish(&st);
	}
	return out;
}

/* What performing a needs, read under the database lock before any request. */
struct prepared {
	struct enrolment en;  /* the candidate in Refty, for updates and steps */
	bool patch;           /* a step: give Refty the email that arrived first */
	const char *language; /* a step: the rule's language now */
	char *refreshed;      /* a re-queued create: its body with the rule's language now */
};

static enum outcome prepare(struct engine *e, const struct action *a, struct prepared *p,
	char **detail)
{
	enum outcome out = OUT_DONE;
	pthread_mutex_lock(&e->db);
	if (a->kind == ACTION_CREATE_CANDIDATE && a->requeued && a->payload && a->rule) {
		// Failed, so Refty kept nothing under the key: send the language the
		// rule has now (the usual fix), and journal that body for any retry.
		const struct resolved_rule *rule = rules_find(e->app->rules, a->rule);
		p->refreshed = rule && rule->language
				       ? refty_candidate_body_relanguage(a->payload, rule->language)
				       : NULL;
		if (p->refreshed && !snapshot_action_set_payload(e->app->snap, a->id, p->refreshed)) {
			out = OUT_LOCAL;
		}
	}
	if (a->kind != ACTION_CREATE_CANDIDATE && a->kind != ACTION_SKIP) {
		int have =
			snapshot_enrolment_get(e->app->snap, a->opportunity_id, a->sequence_id, &p->en);
		if (have < 0) {
			out = OUT_LOCAL;
		} else if (have == 0 || !p->en.refty_id) {
			out = missing_candidate(e, a, detail);
			if (out == OUT_DONE) {
				out = OUT_FAILED;
			}
		} else if (a->kind == ACTION_SEND_STEP) {
			out = prepare_step(e, a, &p->en, &p->patch, detail);
			const struct resolved_rule *rule =
				a->rule ? rules_find(e->app->rules, a->rule) : NULL;
			p->language = rule ? rule->language : NULL;
		}
	}
	pthread_mutex_unlock(&e->db);
	return out;
}

/* The Refty requests of a, without any lock. */
static enum outcome request(struct worker *w, const struct action *a, const struct prepared *p,
	char **refty_id, struct refty_result *res, char **detail)
{
	const struct enrolment *en = &p->en;
	switch (a->kind) {
	case ACTION_CREATE_CANDIDATE:
		if (!a->payload) {
			*detail = xstrdup("journal entry has no request body");
			return OUT_FAILED;
		}
		refty_create_candidate(w->refty, a->key, p->refreshed ? p->refreshed : a->payload,
			refty_id, res);
		return from_result(res);
	case ACTION_UPDATE_CONTACT:
		refty_update_candidate(w->refty, en->refty_id, &en->contact, res);
		return from_result(res);
	case ACTION_SEND_STEP:
		if (p->patch && !refty_update_candidate(w->refty, en->refty_id, &en->contact, res)) {
			return from_result(res);
		}
		refty_send_step(w->refty, en->refty_id, a->key, a->refty_stage_id, p->language,
			refty_id, res);
		return from_result(res);
	case ACTION_SKIP:
	case ACTION_UNREADABLE:
	case ACTION_UNTRUSTED:
		break;
	}
	return OUT_DONE;
}

/* Records what a done action gave Refty (a created candidate's id) and counts it. */
static enum outcome settle(struct engine *e, const struct action *a, enum outcome out,
	const char *refty_id)
{
	pthread_mutex_lock(&e->db);
	if (out == OUT_DONE && a->kind == ACTION_CREATE_CANDIDATE) {
		struct enrolment got;
		int have = snapshot_enrolment_get(e->app->snap, a->opportunity_id, a->sequence_id, &got);
		if (have < 0) {
			out = OUT_LOCAL;
		} else {
			if (have == 0) {
				got.opportunity_id = xstrdup(a->opportunity_id);
				got.sequence_id = xstrdup(a->sequence_id);
			}
			free(got.refty_id);
			got.refty_id = xstrdup(refty_id);
			if (!snapshot_enrolment_put(e->app->snap, &got)) {
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
	return out;
}

/* Performs one action: what the journal and snapshot say is read under the
 * database lock, the Refty requests are made without it, and the outcome is
 * written under it again. */
static enum outcome perform_one(struct worker *w, const struct action *a, char **detail,
	char **refty_id)
{
	if (a->kind == ACTION_UNREADABLE || a->kind == ACTION_UNTRUSTED) {
		// Quarantine is never Refty work (retry leaves it alone); refuse, don't guess.
		*detail = xstrdup("a quarantine entry is not performed");
		return OUT_FAILED;
	}
	struct prepared p = {0};
	struct refty_result res;
	refty_result_init(&res);
	enum outcome out = prepare(w->e, a, &p, detail);
	if (out == OUT_DONE && !state_lock_check(w->e->app->lock)) {
		out = OUT_LOCK_LOST;
	}
	if (out == OUT_DONE) {
		out = request(w, a, &p, refty_id, &res, detail);
		out = settle(w->e, a, out, *refty_id);
		if (!*detail && out != OUT_DONE && res.message) {
			*detail = xstrdup(res.message);
		} else if (out == OUT_DONE && res.replayed) {
			*detail = xstrdup("already done: Refty replayed the original answer");
		}
	}
	refty_result_finish(&res);
	enrolment_finish(&p.en);
	free(p.refreshed);
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
	[OUT_UNAVAILABLE] = {ACTION_PENDING, "pending"},
	[OUT_LOCAL] = {ACTION_PENDING, "pending"},
	[OUT_LOCK_LOST] = {ACTION_PENDING, "pending"},
};
_Static_assert(sizeof(outcomes) / sizeof(outcomes[0]) == OUT_COUNT, "a label for every outcome");

/* Performs the actions of one opportunity in order; a failure stops the
 * rest of them, since later ones depend on earlier ones. After a stop request
 * no action starts: what is left stays pending in the journal. */
static void perform_group(struct worker *w, const struct group *g)
{
	struct engine *e = w->e;
	bool blocked = false, failed = false;
	for (size_t i = 0; i < g->n; i++) {
		pthread_mutex_lock(&e->db);
		bool stop = e->stop || signals_requested(SIGNALS_STOP);
		struct action a;
		int got = stop ? 0 : snapshot_action_get(e->app->snap, g->ids[i], &a);
		if (got < 0) {
			e->perform_rc = EXIT_LOCAL;
			e->stop = true;
		}
		if (got == 1 && (a.state != ACTION_PENDING || blocked)) {
			// Done by someone else meanwhile, or waiting behind a failure.
			e->n.pending += blocked && a.state == ACTION_PENDING;
			e->n.behind_failed += blocked && failed && a.state == ACTION_PENDING;
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
		bool ok = out == OUT_LOCAL || out == OUT_LOCK_LOST ||
			  snapshot_action_update(e->app->snap, a.id, outcomes[out].state,
				  out == OUT_DONE ? NULL : detail, refty_id, true);
		output_action(e, &a, outcomes[out].label, detail);
		switch (out) {
		case OUT_PENDING:
		case OUT_STOP:
		case OUT_UNAVAILABLE:
		case OUT_LOCAL:
		case OUT_LOCK_LOST:
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
		if (out == OUT_LOCK_LOST) {
			e->perform_rc = EXIT_LOCKED;
			e->stop = true;
		} else if (!ok || out == OUT_LOCAL) {
			e->perform_rc = EXIT_LOCAL;
			e->stop = true;
		} else if (out == OUT_STOP || out == OUT_UNAVAILABLE) {
			if (e->perform_rc == EXIT_OK) {
				e->perform_rc = EXIT_REMOTE;
			}
			engine_note_error(e, detail);
			e->stop = e->stop || out == OUT_STOP;
		}
		pthread_mutex_unlock(&e->db);
		blocked = blocked || out != OUT_DONE;
		failed = failed || out == OUT_FAILED;
		free(detail);
		free(refty_id);
		action_finish(&a);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct group g;
	// After a stop request the queue is left as it is: its actions stay pending.
	while (!signals_requested(SIGNALS_STOP) && workq_pop(&w->e->queue, &g)) {
		perform_group(w, &g);
		group_finish(&g);
	}
	return NULL;
}

/* Groups the journal's pending actions by opportunity (creates, updates, then
 * steps within each) and queues them for the workers. */
bool perform_queue_pending(struct engine *e)
{
	struct pending_rows rows = {0};
	pthread_mutex_lock(&e->db);
	bool ok = snapshot_actions_in_state(e->app->snap, ACTION_PENDING, collect_pending, &rows);
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
enum exit_code perform_start(struct engine *e)
{
	int n = e->app->cfg->refty.max_in_flight > 0 ? e->app->cfg->refty.max_in_flight : 1;
	e->workers = xcalloc((size_t)n, sizeof(*e->workers));
	for (int i = 0; i < n; i++) {
		struct worker *w = &e->workers[i];
		w->e = e;
		enum exit_code rc = app_new_refty(e->app, &w->refty);
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

void perform_join(struct engine *e)
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

static bool show_pending(void *ud, const struct action *a)
{
	output_action(ud, a, "pending", "planned by an earlier run: a real run performs it");
	return true;
}

/* Performs the journal's pending actions with refty.max_in_flight workers (a dry run shows
 * them). With overlap the workers already run (started before paging). */
enum exit_code perform_run(struct engine *e)
{
	if (e->app->dry_run) {
		pthread_mutex_lock(&e->db);
		bool ok = snapshot_actions_in_state(e->app->snap, ACTION_PENDING, show_pending, e);
		pthread_mutex_unlock(&e->db);
		return ok && perform_recheck_waiting(e) ? EXIT_OK : EXIT_LOCAL;
	}
	enum exit_code rc = EXIT_OK;
	if (!e->overlap) {
		if (!perform_recheck_waiting(e)) {
			return EXIT_LOCAL;
		}
		rc = perform_start(e);
		if (rc == EXIT_OK && !perform_queue_pending(e)) {
			rc = EXIT_LOCAL;
		}
	}
	perform_join(e);
	if (rc == EXIT_OK) {
		rc = e->perform_rc;
	}
	return rc;
}
