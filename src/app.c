#define LOG_MODULE "app"
#include "app.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lever.h"
#include "lock.h"
#include "log.h"
#include "ratelimit.h"
#include "refty.h"
#include "rules.h"
#include "snapshot.h"
#include "timeutil.h"
#include "tokens.h"
#include "webhook-store.h"
#include "xalloc.h"

#define CACHE_MAX_AGE_MS (3600 * 1000LL)
/* How long a command waits for another process's refresh; one takes a round trip. */
#define TOKEN_LOCK_TIMEOUT_MS (30 * 1000)

static void catalog_free(struct catalog *cat)
{
	if (cat) {
		catalog_finish(cat);
		free(cat);
	}
}

void app_init(struct app *app, const struct config *cfg, bool dry_run)
{
	memset(app, 0, sizeof(*app));
	app->cfg = cfg;
	app->dry_run = dry_run;
}

void app_finish(struct app *app)
{
	app_rules_fetch_end(app);
	catalog_free(app->catalog);
	rule_set_destroy(app->rules);
	refty_client_destroy(app->refty);
	lever_client_destroy(app->lever);
	ratelimit_destroy(app->limiter);
	snapshot_close(app->snap);
	state_lock_release(app->lock);
	token_lock_release(app->token_lock);
	free(app->token_path);
	if (app->refty_key) {
		memset(app->refty_key, 0, strlen(app->refty_key));
		free(app->refty_key);
	}
	memset(app, 0, sizeof(*app));
}

void app_reconfigure(struct app *app, const struct config *cfg)
{
	app_rules_fetch_end(app);
	catalog_free(app->catalog);
	app->catalog = NULL;
	rule_set_destroy(app->rules);
	refty_client_destroy(app->refty);
	lever_client_destroy(app->lever);
	ratelimit_destroy(app->limiter);
	app->rules = NULL;
	app->refty = NULL;
	app->lever = NULL;
	app->limiter = NULL;
	if (app->refty_key) {
		memset(app->refty_key, 0, strlen(app->refty_key));
		free(app->refty_key);
		app->refty_key = NULL;
	}
	app->cfg = cfg;
}

enum exit_code app_open_state(struct app *app, enum app_state_mode mode)
{
	if (app->snap) {
		return EXIT_OK;
	}
	if (mode == APP_STATE_WRITE && !app->dry_run) {
		bool other = false;
		if (!app->lock) {
			// The lock sits beside the database, so its directory must exist first.
			if (!snapshot_make_dirs(app->cfg->state)) {
				return EXIT_LOCAL;
			}
			app->lock = state_lock_acquire(app->cfg->state, &other);
			if (!app->lock) {
				return other ? EXIT_LOCKED : EXIT_LOCAL;
			}
		}
		app->snap = snapshot_open(app->cfg->state, SNAPSHOT_READ_WRITE);
	} else {
		app->snap = snapshot_open(app->cfg->state, SNAPSHOT_READ_ONLY);
	}
	return app->snap ? EXIT_OK : EXIT_LOCAL;
}

/* True unless path is known to be missing: an unreadable one is left to the reader to report. */
static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0 || errno != ENOENT;
}

const char *app_token_path(struct app *app)
{
	if (!app->token_path) {
		app->token_path = token_file_path(app->cfg->state);
	}
	return app->token_path;
}

/* A read-write connection to the state database: the app's own if it has one, else a new one
 * (*own, for the caller to close). NULL (logged) on failure. */
static struct snapshot *writable_state(struct app *app, struct snapshot **own)
{
	*own = NULL;
	if (app->snap && !snapshot_is_read_only(app->snap)) {
		return app->snap;
	}
	*own = snapshot_open(app->cfg->state, SNAPSHOT_READ_WRITE);
	return *own;
}

/*
 * Older versions kept the tokens in the state database, where storing a rotated pair had to
 * wait behind a sync's batch transaction. The first command that may write moves them to the
 * token file and deletes the row, so that the secret is kept in one place; once the file
 * exists the row is never read again. A row that cannot be deleted is left behind with a
 * warning (the move itself is done): 'auth logout' removes it.
 */
static bool move_tokens_from_state(struct app *app)
{
	const char *path = app_token_path(app);
	if (path_exists(path) || !path_exists(app->cfg->state)) {
		return true;
	}
	struct token_lock *lock = token_lock_acquire(path, TOKEN_LOCK_TIMEOUT_MS);
	if (!lock) {
		return false;
	}
	bool ok = true;
	// Another process may have moved them while we waited.
	if (!path_exists(path)) {
		struct snapshot *own;
		struct snapshot *snap = writable_state(app, &own);
		struct lever_tokens t = {0};
		int found = snap ? snapshot_tokens_load(snap, &t) : -1;
		ok = found >= 0;
		if (found == 1) {
			log_add_secret(t.access_token);
			log_add_secret(t.refresh_token);
			ok = token_file_save(path, &t);
			if (ok && snapshot_tokens_delete(snap)) {
				log_info("moved the Lever OAuth tokens from '%s' to '%s'", app->cfg->state,
					path);
			} else if (ok) {
				log_warn("moved the Lever OAuth tokens to '%s', but their old copy is left in "
					 "'%s' (no longer read); 'refty-lever auth logout' removes it",
					path, app->cfg->state);
			}
			lever_tokens_finish(&t);
		}
		snapshot_close(own);
	}
	token_lock_release(lock);
	return ok;
}

int app_tokens_load(struct app *app, struct lever_tokens *out)
{
	int found = token_file_load(app_token_path(app), out);
	if (found != 0 || !app->dry_run || !path_exists(app->cfg->state)) {
		return found;
	}
	// A dry run moves nothing, so it reads the tokens where an older version left them.
	if (app_open_state(app, APP_STATE_READ) != EXIT_OK) {
		return -1;
	}
	found = snapshot_tokens_load(app->snap, out);
	if (found == 1) {
		log_add_secret(out->access_token);
		log_add_secret(out->refresh_token);
	}
	return found;
}

enum exit_code app_tokens_delete(struct app *app)
{
	const char *path = app_token_path(app);
	bool in_state = path_exists(app->cfg->state);
	if (!path_exists(path) && !in_state) {
		return EXIT_OK;
	}
	// Under the token lock, so that a refresh under way cannot store its pair again after.
	struct token_lock *lock = token_lock_acquire(path, TOKEN_LOCK_TIMEOUT_MS);
	if (!lock) {
		return EXIT_LOCAL;
	}
	bool ok = token_file_delete(path);
	if (ok && in_state) {
		struct snapshot *own;
		struct snapshot *snap = writable_state(app, &own);
		struct lever_tokens t = {0};
		int found = snap ? snapshot_tokens_load(snap, &t) : -1;
		lever_tokens_finish(&t);
		// Deleting takes the database's write lock: only when there is something to delete.
		ok = found == 0 || (found == 1 && snapshot_tokens_delete(snap));
		snapshot_close(own);
	}
	token_lock_release(lock);
	return ok ? EXIT_OK : EXIT_LOCAL;
}

static bool store_load(void *ud, struct lever_tokens *out)
{
	return app_tokens_load(ud, out) >= 0;
}

static bool store_save(void *ud, const struct lever_tokens *tokens)
{
	struct app *app = ud;
	return token_file_save(app_token_path(app), tokens);
}

static bool store_lock(void *ud)
{
	struct app *app = ud;
	app->token_lock = token_lock_acquire(app_token_path(app), TOKEN_LOCK_TIMEOUT_MS);
	return app->token_lock != NULL;
}

static void store_unlock(void *ud)
{
	struct app *app = ud;
	token_lock_release(app->token_lock);
	app->token_lock = NULL;
}

enum exit_code app_lever_exit(int status)
{
	switch ((enum lever_status)status) {
	case LEVER_OK:
		return EXIT_OK;
	case LEVER_ERR_LOCAL:
		return EXIT_LOCAL;
	case LEVER_ERR_DRY_RUN:
		return EXIT_USAGE;
	default:
		return EXIT_REMOTE;
	}
}

enum exit_code app_open_lever(struct app *app)
{
	if (app->lever) {
		return EXIT_OK;
	}
	const struct config *cfg = app->cfg;
	struct lever_options o = {
		.url = cfg->lever.url,
		.confidential = cfg->lever.confidential,
		.dry_run = app->dry_run,
		.max_pages = cfg->lever.max_pages,
		.connect_timeout_ms = cfg->lever.http.connect_timeout_ms,
		.timeout_ms = cfg->lever.http.timeout_ms,
		.max_attempts = cfg->lever.http.max_attempts,
		.max_retry_time = (double)cfg->lever.http.max_retry_time_ms / 1000,
		.settings_group = "lever",
	};
	if (!app->limiter) {
		app->limiter = ratelimit_create(cfg->lever.requests_per_second, cfg->lever.burst);
	}
	o.limiter = app->limiter;
	char *secret = NULL;
	if (cfg->lever.oauth.enabled) {
		if (app->dry_run) {
			// Opened here, before the client's threads may need it (app_tokens_load).
			if (!path_exists(app_token_path(app)) && path_exists(cfg->state)
				&& app_open_state(app, APP_STATE_READ) != EXIT_OK) {
				return EXIT_LOCAL;
			}
		} else if (!snapshot_make_dirs(cfg->state) || !move_tokens_from_state(app)) {
			// The token file and its lock sit beside the database.
			return EXIT_LOCAL;
		}
		secret = conf_secret_read(cfg, &cfg->lever.oauth.client_secret);
		if (!secret) {
			return EXIT_USAGE;
		}
		o.auth = LEVER_AUTH_OAUTH;
		o.client_id = cfg->lever.oauth.client_id;
		o.client_secret = secret;
		o.auth_url = cfg->lever.oauth.auth_url;
		o.token_store = (struct lever_token_store){
			.load = store_load,
			.save = store_save,
			.lock = store_lock,
			.unlock = store_unlock,
			.ud = app,
		};
	} else {
		secret = conf_secret_read(cfg, &cfg->lever.key);
		if (!secret) {
			return EXIT_USAGE;
		}
		o.auth = LEVER_AUTH_API_KEY;
		o.api_key = secret;
	}
	char *source = conf_secret_describe(&cfg->lever.key);
	o.key_source = source;
	app->lever = lever_client_create(&o);
	free(source);
	memset(secret, 0, strlen(secret));
	free(secret);
	return app->lever ? EXIT_OK : EXIT_USAGE;
}

enum exit_code app_new_refty(struct app *app, struct refty_client **out)
{
	*out = NULL;
	if (!app->refty_key) {
		app->refty_key = conf_secret_read(app->cfg, &app->cfg->refty.key);
		if (!app->refty_key) {
			return EXIT_USAGE;
		}
	}
	char *source = conf_secret_describe(&app->cfg->refty.key);
	struct refty_options o = {
		.url = app->cfg->refty.url,
		.api_key = app->refty_key,
		.key_source = source,
		.dry_run = app->dry_run,
		.connect_timeout_ms = app->cfg->refty.http.connect_timeout_ms,
		.timeout_ms = app->cfg->refty.http.timeout_ms,
		.max_attempts = app->cfg->refty.http.max_attempts,
		.max_retry_time = (double)app->cfg->refty.http.max_retry_time_ms / 1000,
		.settings_group = "refty",
	};
	*out = refty_client_create(&o);
	free(source);
	return *out ? EXIT_OK : EXIT_USAGE;
}

enum exit_code app_open_refty(struct app *app)
{
	if (app->refty) {
		return EXIT_OK;
	}
	return app_new_refty(app, &app->refty);
}

/* Builders that turn listings and cache rows into catalog entries. */
struct names {
	struct cached_name *items;
	size_t n, cap;
};

static void names_add(struct names *v, const char *id, const char *name, const char *parent,
	const char *extra, int position)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 32;
		v->items = xrealloc(v->items, v->cap * sizeof(*v->items));
	}
	v->items[v->n++] = (struct cached_name){
		.id = xstrdup(id),
		.name = xstrdup(name ? name : ""),
		.parent = xstrdup(parent),
		.extra = xstrdup(extra),
		.position = position,
	};
}

static void names_finish(struct names *v)
{
	for (size_t i = 0; i < v->n; i++) {
		cached_name_finish(&v->items[i]);
	}
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static bool on_stage(void *ud, const struct lever_stage *s)
{
	struct names *v = ud;
	names_add(v, s->id, s->text, NULL, NULL, (int)v->n);
	return true;
}

static bool on_posting(void *ud, const struct lever_posting *p)
{
	names_add(ud, p->id, p->text, NULL, p->state, 0);
	return true;
}

/* One of Lever's name listings, fetched in a thread of its own. */
struct lever_names {
	struct lever_client *lever;
	bool postings; /* else stages */
	struct names names;
	enum lever_status status;
};

static void *lever_names_main(void *arg)
{
	struct lever_names *n = arg;
	n->status = n->postings ? lever_list_postings(n->lever, on_posting, &n->names)
				: lever_list_stages(n->lever, on_stage, &n->names);
	return NULL;
}

/* The names as fetched, kept for the cache. */
struct fetched_names {
	struct names stages, postings, seqs, seq_stages;
};

static void fetched_names_finish(struct fetched_names *f)
{
	names_finish(&f->stages);
	names_finish(&f->postings);
	names_finish(&f->seqs);
	names_finish(&f->seq_stages);
}

/*
 * Fetches the remote names into cat, and into f for the cache. The three listings (Lever's
 * stages and postings, Refty's sequences) go out together: each is a round trip that the
 * others need not wait for, and the run plans nothing before all three are in.
 */
static enum exit_code fetch_remote(struct app *app, struct catalog *cat, struct fetched_names *f)
{
	enum exit_code rc = app_open_lever(app);
	if (rc == EXIT_OK) {
		rc = app_open_refty(app);
	}
	if (rc != EXIT_OK) {
		return rc;
	}
	struct lever_names lists[2] = {
		{.lever = app->lever, .postings = false},
		{.lever = app->lever, .postings = true},
	};
	pthread_t threads[2];
	bool started[2] = {false, false};
	for (size_t i = 0; i < 2; i++) {
		started[i] = pthread_create(&threads[i], NULL, lever_names_main, &lists[i]) == 0;
	}
	struct refty_result res;
	refty_result_init(&res);
	struct catalog remote;
	catalog_init(&remote);
	bool ok = refty_list_sequences(app->refty, &remote, &res);
	for (size_t i = 0; i < 2; i++) {
		if (started[i]) {
			pthread_join(threads[i], NULL);
		} else {
			lever_names_main(&lists[i]); // no thread to spare: in turn, as before
		}
	}
	refty_result_finish(&res);
	f->stages = lists[0].names;
	f->postings = lists[1].names;
	int ls = lists[0].status != LEVER_OK ? lists[0].status : lists[1].status;
	if (ls != LEVER_OK || !ok) {
		// Lever's failure decides, as when it was asked first; Refty's client logged its own.
		catalog_finish(&remote);
		return ls != LEVER_OK ? app_lever_exit(ls) : EXIT_REMOTE;
	}
	for (size_t i = 0; i < f->stages.n; i++) {
		catalog_add_lever_stage(cat, f->stages.items[i].id, f->stages.items[i].name);
	}
	for (size_t i = 0; i < f->postings.n; i++) {
		catalog_add_posting(cat, f->postings.items[i].id, f->postings.items[i].name);
	}
	for (size_t i = 0; i < remote.n_sequences; i++) {
		const struct refty_sequence *s = &remote.sequences[i];
		struct refty_sequence *copy = catalog_add_sequence(cat, s->id, s->name);
		names_add(&f->seqs, s->id, s->name, NULL, NULL, (int)i);
		for (size_t j = 0; j < s->n_stages; j++) {
			const struct refty_stage *st = &s->stages[j];
			refty_sequence_add_stage(copy, st->id, st->name, st->type, st->position);
			names_add(&f->seq_stages, st->id, st->name, s->id, st->type, st->position);
		}
	}
	catalog_finish(&remote);
	log_debug("fetched %zu Lever stages, %zu postings, %zu Refty sequences", f->stages.n,
		f->postings.n, f->seqs.n);
	return EXIT_OK;
}

/* Writes fetched names to the cache, in the caller's transaction. */
static bool store_names(struct app *app, const struct fetched_names *f)
{
	return snapshot_names_replace(app->snap, "lever_stage", f->stages.items, f->stages.n) &&
	       snapshot_names_replace(app->snap, "posting", f->postings.items, f->postings.n) &&
	       snapshot_names_replace(app->snap, "sequence", f->seqs.items, f->seqs.n) &&
	       snapshot_names_replace(app->snap, "refty_stage", f->seq_stages.items,
		       f->seq_stages.n);
}

/* Fetches the remote names into cat and, when writable, into the cache. */
static enum exit_code fetch_catalog(struct app *app, struct catalog *cat)
{
	struct fetched_names f = {0};
	enum exit_code rc = fetch_remote(app, cat, &f);
	if (rc == EXIT_OK && !snapshot_is_read_only(app->snap)) {
		if (!snapshot_begin(app->snap) || !store_names(app, &f) ||
			!snapshot_commit(app->snap)) {
			snapshot_rollback(app->snap);
			rc = EXIT_LOCAL;
		}
	}
	fetched_names_finish(&f);
	return rc;
}

struct cache_fill {
	struct catalog *cat;
	const char *kind;
};

static bool on_cached(void *ud, const struct cached_name *c)
{
	struct cache_fill *f = ud;
	if (strcmp(f->kind, "lever_stage") == 0) {
		catalog_add_lever_stage(f->cat, c->id, c->name);
	} else if (strcmp(f->kind, "posting") == 0) {
		catalog_add_posting(f->cat, c->id, c->name);
	} else if (strcmp(f->kind, "sequence") == 0) {
		catalog_add_sequence(f->cat, c->id, c->name);
	} else {
		for (size_t i = 0; i < f->cat->n_sequences; i++) {
			if (c->parent && strcmp(f->cat->sequences[i].id, c->parent) == 0) {
				refty_sequence_add_stage(&f->cat->sequences[i], c->id, c->name, c->extra,
					c->position);
			}
		}
	}
	return true;
}

/* Loads the catalog from the cache; false when it is missing or stale. */
static const char *const kinds[] = {"lever_stage", "posting", "sequence", "refty_stage"};

/* Whether every kind of name is cached (and, unless any_age, younger than CACHE_MAX_AGE_MS):
 * 1 yes, 0 no, -1 the state could not be read (logged). */
static int cache_usable(struct app *app, bool any_age)
{
	int64_t now = timeutil_now_ms();
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int64_t at = snapshot_names_fetched_at(app->snap, kinds[i]);
		if (at < 0) {
			return -1;
		}
		if (at == 0 || (!any_age && now - at > CACHE_MAX_AGE_MS)) {
			return 0;
		}
	}
	return 1;
}

static bool load_cached(struct app *app, struct catalog *cat, bool any_age, bool *error)
{
	int usable = cache_usable(app, any_age);
	*error = usable < 0;
	if (usable <= 0) {
		return false;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct cache_fill f = {cat, kinds[i]};
		if (!snapshot_names_list(app->snap, kinds[i], on_cached, &f)) {
			*error = true;
			return false;
		}
	}
	return true;
}

void app_log_rule_errors(const struct config *cfg, const struct rules_errors *errs)
{
	struct strbuf out;
	strbuf_init(&out);
	rules_errors_format(errs, cfg->path, &out);
	char *save = NULL;
	for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		log_error("%s", line);
	}
	strbuf_finish(&out);
	for (size_t i = 0; i < errs->n; i++) {
		conf_problem_add(cfg->path, errs->items[i].line, errs->items[i].key,
			errs->items[i].message);
	}
}

/* The rules resolved against cat become app's (a long-running process resolves them again
 * each cycle). */
static void install_rules(struct app *app, struct rule_set *set, struct catalog *cat)
{
	catalog_free(app->catalog);
	rule_set_destroy(app->rules);
	app->rules = set;
	app->catalog = cat;
}

enum exit_code app_load_rules(struct app *app, enum app_names source)
{
	enum exit_code rc = app_open_state(app, APP_STATE_READ);
	if (rc != EXIT_OK) {
		return rc;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		struct catalog *cat = xcalloc(1, sizeof(*cat));
		catalog_init(cat);
		bool error = false;
		bool cached = source != APP_NAMES_REFRESH && attempt == 0 &&
			      load_cached(app, cat, source == APP_NAMES_CACHED, &error);
		if (error) {
			catalog_finish(cat);
			free(cat);
			return EXIT_LOCAL;
		}
		if (!cached && source == APP_NAMES_CACHED) {
			log_debug("no names cached in '%s' yet: run 'refty-lever sync' once",
				app->cfg->state);
			catalog_finish(cat);
			free(cat);
			return EXIT_LOCAL;
		}
		if (!cached) {
			rc = fetch_catalog(app, cat);
			if (rc != EXIT_OK) {
				catalog_finish(cat);
				free(cat);
				return rc;
			}
		}
		struct rules_errors errs;
		rules_errors_init(&errs);
		struct rule_set *set = rules_resolve(app->cfg, cat, &errs);
		if (set) {
			rules_errors_finish(&errs);
			install_rules(app, set, cat);
			return EXIT_OK;
		}
		// With a cached catalog, a name that does not resolve may be new in
		// Lever or Refty: fetch once more before calling it an error.
		if (!cached || source == APP_NAMES_CACHED) {
			app_log_rule_errors(app->cfg, &errs);
			rules_errors_finish(&errs);
			catalog_finish(cat);
			free(cat);
			return EXIT_USAGE;
		}
		rules_errors_finish(&errs);
		catalog_finish(cat);
		free(cat);
	}
	return EXIT_USAGE;
}

/* A fetch of the names running beside a listing (app_rules_fetch_start). */
struct names_fetch {
	struct app *app;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;      /* the thread has set rc, and set and cat when it succeeded */
	bool installed; /* set and cat are app's now */
	enum exit_code rc;
	struct rule_set *set;
	struct catalog *cat;
	struct fetched_names names;
};

static void *names_fetch_main(void *arg)
{
	struct names_fetch *f = arg;
	const struct config *cfg = f->app->cfg;
	struct catalog *cat = xcalloc(1, sizeof(*cat));
	catalog_init(cat);
	struct rule_set *set = NULL;
	enum exit_code rc = fetch_remote(f->app, cat, &f->names);
	if (rc == EXIT_OK) {
		struct rules_errors errs;
		rules_errors_init(&errs);
		set = rules_resolve(cfg, cat, &errs);
		if (!set) {
			app_log_rule_errors(cfg, &errs);
			rc = EXIT_USAGE;
		}
		rules_errors_finish(&errs);
	}
	if (!set) {
		catalog_free(cat);
		cat = NULL;
	}
	pthread_mutex_lock(&f->lock);
	f->rc = rc;
	f->set = set;
	f->cat = cat;
	f->done = true;
	pthread_cond_broadcast(&f->done_cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

enum exit_code app_rules_fetch_start(struct app *app, bool *started)
{
	*started = false;
	enum exit_code rc = app_open_state(app, APP_STATE_READ);
	if (rc != EXIT_OK || app->fetch) {
		return rc;
	}
	int usable = cache_usable(app, false);
	if (usable != 0) {
		return usable < 0 ? EXIT_LOCAL : EXIT_OK;
	}
	struct names_fetch *f = xcalloc(1, sizeof(*f));
	f->app = app;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->done_cond, NULL);
	if (pthread_create(&f->thread, NULL, names_fetch_main, f) != 0) {
		pthread_cond_destroy(&f->done_cond);
		pthread_mutex_destroy(&f->lock);
		free(f);
		return EXIT_OK; // no thread to spare: the names are loaded in turn
	}
	app->fetch = f;
	*started = true;
	return EXIT_OK;
}

enum exit_code app_rules_await(struct app *app)
{
	struct names_fetch *f = app->fetch;
	if (!f) {
		return EXIT_OK;
	}
	pthread_mutex_lock(&f->lock);
	while (!f->done) {
		pthread_cond_wait(&f->done_cond, &f->lock);
	}
	if (f->rc == EXIT_OK && !f->installed) {
		install_rules(app, f->set, f->cat);
		f->installed = true;
	}
	enum exit_code rc = f->rc;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

bool app_rules_fetch_store(struct app *app)
{
	struct names_fetch *f = app->fetch;
	if (!f || app_rules_await(app) != EXIT_OK || snapshot_is_read_only(app->snap)) {
		return true;
	}
	return store_names(app, &f->names);
}

void app_rules_fetch_end(struct app *app)
{
	struct names_fetch *f = app->fetch;
	if (!f) {
		return;
	}
	pthread_join(f->thread, NULL);
	if (!f->installed) {
		rule_set_destroy(f->set);
		catalog_free(f->cat);
	}
	fetched_names_finish(&f->names);
	pthread_cond_destroy(&f->done_cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	app->fetch = NULL;
}

const char *app_stage_name(const struct app *app, const char *stage_id)
{
	if (!stage_id) {
		return "(none)";
	}
	if (app->catalog) {
		for (size_t i = 0; i < app->catalog->n_lever_stages; i++) {
			if (strcmp(app->catalog->lever_stages[i].id, stage_id) == 0) {
				return app->catalog->lever_stages[i].name;
			}
		}
	}
	return stage_id;
}

char *app_webhook_token_path(const struct app *app)
{
	return xasprintf("%s.webhook-tokens", app->cfg->state);
}

/* The tokens of text, read as the file 'webhooks register' writes (webhook-store.h). */
static void split_tokens(const char *text, char ***tokens, size_t *n)
{
	struct webhook_store store;
	webhook_store_init(&store);
	webhook_store_parse(&store, text);
	*tokens = store.n ? xcalloc(store.n, sizeof(**tokens)) : NULL;
	*n = store.n;
	for (size_t i = 0; i < store.n; i++) {
		(*tokens)[i] = xstrdup(store.tokens[i].token);
		log_add_secret((*tokens)[i]);
	}
	webhook_store_finish(&store);
}

enum exit_code app_webhook_tokens(struct app *app, char ***tokens, size_t *n)
{
	const struct config *cfg = app->cfg;
	*tokens = NULL;
	*n = 0;
	char *path = app_webhook_token_path(app);
	char *text = NULL;
	if (cfg->webhooks.tokens.source != SECRET_NONE) {
		text = conf_secret_read(cfg, &cfg->webhooks.tokens);
	} else if (path_exists(path)) {
		char key[] = "the signature tokens 'webhooks register' stored";
		struct config_secret stored = {.source = SECRET_FILE, .ref = path, .key = key};
		text = conf_secret_read(cfg, &stored);
	}
	if (text) {
		split_tokens(text, tokens, n);
		memset(text, 0, strlen(text));
		free(text);
	}
	if (*n == 0) {
		log_error("no webhook signature tokens %s: run 'refty-lever webhooks register --url "
			  "URL' (it stores them in '%s'), or set webhooks.signature_tokens_file in '%s'",
			cfg->webhooks.tokens.source != SECRET_NONE ? "in the configured source"
								   : "stored yet",
			path, cfg->path);
	}
	free(path);
	return *n ? EXIT_OK : EXIT_USAGE;
}

void app_webhook_tokens_free(char **tokens, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(tokens[i], 0, strlen(tokens[i]));
		free(tokens[i]);
	}
	free(tokens);
}
