#define LOG_MODULE "sync"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "rules.h"
#include "timeutil.h"
#include "xalloc.h"

/* The listing half of a run. Returns EXIT_OK or the status to exit with. */
/* Backfill checkpoints: the creation-time windows already listed, kept in
 * meta so that an interrupted backfill resumes where it stopped. They are
 * only valid for the same --since and --rule. */
#define CHECKPOINT_KEY "backfill_windows"
#define SCOPE_KEY "backfill_scope"

/* The scope names the batch of postings being listed (listing.h): a resumed backfill skips
 * the batches listed whole and resumes inside the one it was in. */
static char *backfill_scope(const struct sync_options *o, size_t batch, size_t batches)
{
	return xasprintf("%" PRId64 "|%s|%zu/%zu", o->since_ms, o->only_rule ? o->only_rule : "*",
		batch, batches);
}

/* The batch an interrupted backfill of the same scope was in (0: none). */
static size_t resumed_batch(struct engine *e, size_t batches)
{
	bool err = false;
	pthread_mutex_lock(&e->db);
	char *scope = snapshot_meta_get(e->app->snap, SCOPE_KEY, &err);
	pthread_mutex_unlock(&e->db);
	char *want = backfill_scope(e->opts, 0, batches);
	size_t at = 0;
	const char *have_end = scope ? strrchr(scope, '|') : NULL;
	const char *want_end = strrchr(want, '|');
	size_t len = (size_t)(want_end - want);
	if (have_end && (size_t)(have_end - scope) == len && strncmp(scope, want, len) == 0) {
		size_t i = 0, n = 0;
		if (sscanf(have_end + 1, "%zu/%zu", &i, &n) == 2 && n == batches && i < batches) {
			at = i;
		}
	}
	free(scope);
	free(want);
	return at;
}

static void load_checkpoints(struct engine *e)
{
	bool err = false;
	e->n_done = 0;
	char *scope = snapshot_meta_get(e->app->snap, SCOPE_KEY, &err);
	char *want = backfill_scope(e->opts, e->batch, e->batches);
	char *list = scope && strcmp(scope, want) == 0 ? snapshot_meta_get(e->app->snap, CHECKPOINT_KEY, &err)
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

static bool save_checkpoints(struct engine *e, size_t batch)
{
	struct strbuf out;
	strbuf_init(&out);
	for (size_t i = 0; i < e->n_done; i++) {
		strbuf_printf(&out, "%s%" PRId64 "-%" PRId64, i ? "," : "", e->done[i].start,
			e->done[i].end);
	}
	char *scope = backfill_scope(e->opts, batch, e->batches);
	bool ok = snapshot_meta_set(e->app->snap, SCOPE_KEY, scope) &&
		  snapshot_meta_set(e->app->snap, CHECKPOINT_KEY, out.data ? out.data : "");
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
	if (ok && !e->app->dry_run) {
		if (e->n_done == e->cap_done) {
			e->cap_done = e->cap_done ? e->cap_done * 2 : 16;
			e->done = xrealloc(e->done, e->cap_done * sizeof(*e->done));
		}
		e->done[e->n_done++] = *w;
		ok = intake_batch_begin(e) && save_checkpoints(e, e->batch) && intake_batch_commit(e);
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
		lever_client_stats(e->app->lever, &ls);
		double elapsed = (double)(timeutil_now_ms() - e->poll_start) / 1000.0;
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

/* One batch of postings, in parallel creation-time windows. */
static enum exit_code backfill_batch(struct engine *e, struct lever_opportunity_query *q)
{
	load_checkpoints(e);
	struct partition_options po = {
		.lever = e->app->lever,
		.base = q,
		// An empty state is seeded whole, whatever --since says.
		.start = e->opts->since_ms > 0 && !e->full_seed ? e->opts->since_ms : 0,
		// A minute of margin: later creations are the next sync's business.
		.end = e->poll_start + 60 * 1000,
		.workers = e->app->cfg->lever.max_in_flight,
		.done = e->done,
		.n_done = e->n_done,
		.cb = intake_on_opportunity,
		.unreadable = intake_on_unreadable,
		.window_done = on_window_done,
		.behind = perform_behind,
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
	log_debug("backfill paged %" PRIu64 " windows (%" PRIu64 " splits, %" PRIu64 " while paging)",
		ps.windows, ps.splits, ps.resplits);
	if (e->failed_local) {
		return EXIT_LOCAL;
	}
	if (ls != LEVER_OK) {
		// A stop keeps the checkpoints of the windows listed whole, for the next run.
		return engine_lever_exit(e, ls);
	}
	// Finished: the checkpoints served their purpose; the next batch starts with none.
	if (!e->app->dry_run) {
		pthread_mutex_lock(&e->db);
		bool ok = intake_batch_begin(e);
		if (ok && e->batch + 1 < e->batches) {
			e->n_done = 0;
			ok = save_checkpoints(e, e->batch + 1);
		} else if (ok) {
			ok = snapshot_meta_delete(e->app->snap, CHECKPOINT_KEY) &&
			     snapshot_meta_delete(e->app->snap, SCOPE_KEY);
		}
		pthread_mutex_unlock(&e->db);
		if (!ok) {
			return EXIT_LOCAL;
		}
	}
	return EXIT_OK;
}

enum exit_code backfill_poll(struct engine *e, struct lever_opportunity_query *q,
	const struct posting_filter *pf)
{
	e->batches = posting_filter_batches(pf);
	enum exit_code rc = EXIT_OK;
	for (e->batch = resumed_batch(e, e->batches); rc == EXIT_OK && e->batch < e->batches;
		e->batch++) {
		posting_filter_apply(pf, e->batch, q);
		rc = backfill_batch(e, q);
	}
	q->posting_ids = NULL;
	q->n_posting_ids = 0;
	return rc;
}

struct changed_listing {
	struct engine *e;
	const struct posting_filter *pf;
};

static bool on_changed(void *ud, const struct opportunity *o)
{
	struct changed_listing *c = ud;
	return posting_filter_has(c->pf, o->posting_id) || intake_on_opportunity(c->e, o);
}

static bool on_changed_unreadable(void *ud, const struct lever_unreadable *u)
{
	return intake_on_unreadable(((struct changed_listing *)ud)->e, u);
}

enum exit_code backfill_poll_changed(struct engine *e, const struct lever_opportunity_query *q,
	const struct posting_filter *pf, int64_t cursor)
{
	struct lever_opportunity_query w = *q;
	int64_t start = cursor - (int64_t)e->app->cfg->overlap * 1000;
	w.updated_at_start = start > 0 ? start : 1;
	// The creation times the windows covered: a backfill listing every job sees no others.
	w.created_at_start = e->opts->since_ms > 0 ? e->opts->since_ms : 0;
	w.created_at_end = e->poll_start + 60 * 1000;
	w.posting_ids = NULL;
	w.n_posting_ids = 0;
	struct changed_listing c = {e, pf};
	struct lever_opportunity_sink sink = {on_changed, on_changed_unreadable, &c};
	enum lever_status ls = lever_list_opportunities(e->app->lever, &w, &sink);
	if (e->failed_local) {
		return EXIT_LOCAL;
	}
	return engine_lever_exit(e, ls);
}
