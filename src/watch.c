#define LOG_MODULE "watch"
#include "watch.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "signals.h"
#include "snapshot.h"
#include "sync.h"
#include "timeutil.h"
#include "xalloc.h"

struct watch {
	struct config *cfg; /* owned */
	struct watch_options o;
	char *config_path;
	struct app app;
	int64_t loaded_ms;             /* when cfg was loaded, for the reload messages */
	_Atomic int64_t last_healthy_ms; /* start of the last healthy poll; 0: none known */
};

struct watch *watch_create(struct config *cfg, const struct watch_options *o)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	w->cfg = cfg;
	w->o = *o;
	w->config_path = xstrdup(o->config_path);
	w->o.config_path = w->config_path;
	w->loaded_ms = timeutil_now_ms();
	app_init(&w->app, cfg, false);
	return w;
}

void watch_destroy(struct watch *w)
{
	if (!w) {
		return;
	}
	app_finish(&w->app);
	conf_destroy(w->cfg);
	free(w->config_path);
	free(w);
}

bool watch_healthy(struct watch *w)
{
	int64_t last = atomic_load(&w->last_healthy_ms);
	return last > 0 && timeutil_now_ms() - last <= 2 * w->o.interval_ms;
}

/* The health check's truth is the runs table's, the rule `status --max-age` uses. */
static void note_health(struct watch *w)
{
	struct run_record r = {0};
	if (w->app.snap && snapshot_last_healthy(w->app.snap, "sync", &r) == 1) {
		atomic_store(&w->last_healthy_ms, r.started_at);
	}
	run_record_finish(&r);
}

static enum exit_code cycle(struct watch *w, char **ids, size_t n)
{
	struct sync_options so = {
		.json = w->o.json,
		.max_actions = w->o.max_actions,
		.only_ids = ids,
		.n_only_ids = n,
	};
	enum exit_code rc = sync_run_app(&w->app, &so);
	if (n == 0) {
		note_health(w);
	}
	return rc;
}

/*
 * Swaps in the configuration file as it is now, between cycles. What cannot change without a
 * restart (the state: the lock is held on it) or does not work (it does not load, its rules do
 * not resolve, the hints' source refuses it) leaves the running configuration in place.
 */
static void reload(struct watch *w)
{
	char since[40];
	timeutil_format(w->loaded_ms, since, sizeof(since));
	log_info("SIGHUP received: reloading '%s'", w->config_path);
	struct config *n = conf_load_with(w->config_path, w->o.conf_flags);
	if (!n) {
		log_error("reloading '%s' failed (see above): still running with the configuration "
			  "loaded at %s; fix the file and send SIGHUP again",
			w->config_path, since);
		return;
	}
	if (strcmp(n->state, w->cfg->state) != 0) {
		log_error("reloading '%s': the state changed from '%s' to '%s', which needs a "
			  "restart (its lock is held): still running with the configuration loaded at "
			  "%s",
			w->config_path, w->cfg->state, n->state, since);
		conf_destroy(n);
		return;
	}
	app_reconfigure(&w->app, n);
	enum exit_code rc = app_load_rules(&w->app, APP_NAMES_AUTO);
	bool ok = rc == EXIT_OK;
	if (ok && w->o.hints && w->o.hints->reconfigure) {
		ok = w->o.hints->reconfigure(w->o.hints->ud, n);
	}
	if (!ok) {
		log_error("reloading '%s' failed (see above): still running with the configuration "
			  "loaded at %s; fix it and send SIGHUP again",
			w->config_path, since);
		app_reconfigure(&w->app, w->cfg);
		conf_destroy(n);
		return;
	}
	conf_destroy(w->cfg);
	w->cfg = n;
	w->loaded_ms = timeutil_now_ms();
	log_info("configuration reloaded from '%s'", w->config_path);
}

/* Whether a cycle's failure ends the loop: another process holds the state, or, on the first
 * cycle, nothing could start (a configuration, state or account the operator must fix). */
static bool fatal(enum exit_code rc, bool first)
{
	if (rc == EXIT_LOCKED) {
		return true;
	}
	return first && (rc == EXIT_USAGE || rc == EXIT_LOCAL);
}

/* Waits for the next poll, running targeted syncs for the hints that come meanwhile. */
static enum exit_code wait_for_poll(struct watch *w, int64_t next_ms)
{
	for (;;) {
		int64_t left = next_ms - timeutil_monotonic_ms();
		if (left <= 0 || signals_requested(SIGNALS_STOP)) {
			return EXIT_OK;
		}
		if (signals_take_reload()) {
			reload(w);
			continue;
		}
		if (!w->o.hints) {
			signals_wait((double)left / 1000);
			continue;
		}
		// The receiver's wait does not see signals: it is kept short.
		char **ids = NULL;
		size_t n = 0;
		w->o.hints->take(w->o.hints->ud, left < 250 ? (int)left : 250, &ids, &n);
		if (n > 0) {
			enum exit_code rc = cycle(w, ids, n);
			w->o.hints->free(ids, n);
			if (fatal(rc, false)) {
				return rc;
			}
		}
	}
}

enum exit_code watch_run(struct watch *w)
{
	signals_hup_reloads();
	bool first = true;
	int64_t next = timeutil_monotonic_ms();
	while (!signals_requested(SIGNALS_STOP)) {
		int64_t start = timeutil_monotonic_ms();
		enum exit_code rc = cycle(w, NULL, 0);
		if (signals_requested(SIGNALS_STOP)) {
			break;
		}
		if (fatal(rc, first)) {
			return rc;
		}
		first = false;
		next = start + w->o.interval_ms;
		if (next < timeutil_monotonic_ms()) {
			log_warn("a poll took longer than the interval (%" PRId64 " ms): the next one "
				 "starts now",
				w->o.interval_ms);
		}
		rc = wait_for_poll(w, next);
		if (rc != EXIT_OK) {
			return rc;
		}
	}
	log_info("stopped by %s: the last cycle's work is recorded", signals_name());
	return EXIT_OK;
}
