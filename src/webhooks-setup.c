#define LOG_MODULE "webhooks"
#include "webhooks-setup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "config.h"
#include "files.h"
#include "http.h"
#include "lever.h"
#include "log.h"
#include "webhook-store.h"
#include "xalloc.h"

const char *const webhooks_events[WEBHOOKS_N_EVENTS] = {
	"candidateStageChange",
	"applicationCreated",
	"candidateArchiveChange",
	"candidateDeleted",
};

static void step_finish(struct webhooks_step *s)
{
	free(s->event);
	free(s->url);
	free(s->old_id);
	free(s->new_id);
	free(s->why);
}

void webhooks_report_finish(struct webhooks_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		step_finish(&r->steps[i]);
	}
	free(r->steps);
	free(r->token_path);
	memset(r, 0, sizeof(*r));
}

static struct webhooks_step *add_step(struct webhooks_report *r, enum webhooks_step_kind kind,
	const char *event, const char *url, const char *old_id, const char *why)
{
	r->steps = xrealloc(r->steps, (r->n + 1) * sizeof(*r->steps));
	struct webhooks_step *s = &r->steps[r->n++];
	*s = (struct webhooks_step){
		.kind = kind,
		.event = xstrdup(event),
		.url = xstrdup(url),
		.old_id = old_id ? xstrdup(old_id) : NULL,
		.why = why ? xstrdup(why) : NULL,
	};
	return s;
}

const char *webhooks_url_problem(const char *url)
{
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			return "it holds a space or a control character";
		}
	}
	if (strncmp(url, "https://", 8) == 0 && url[8]) {
		return NULL;
	}
	if (strncmp(url, "http://", 7) == 0) {
		return http_url_is_loopback(url)
			? NULL
			: "plain http is only for this machine (127.0.0.1, localhost); Lever delivers "
			  "to https:// URLs";
	}
	return "expected an https:// URL (Lever delivers only over HTTPS)";
}

/*
 * The token file register and delete maintain, or NULL (logged) when the configured source is
 * one refty-lever cannot write. Its directory must exist: a missing one may be a state volume
 * that failed to mount, so it is not created here.
 */
static char *writable_token_path(const struct app *app, enum exit_code *rc)
{
	*rc = EXIT_USAGE;
	const struct config *cfg = app->cfg;
	const struct config_secret *src = &cfg->webhooks.tokens;
	char *path = NULL;
	if (src->source == SECRET_NONE) {
		path = app_webhook_token_path(app);
	} else if (src->source == SECRET_FILE) {
		path = xstrdup(src->ref);
	} else {
		log_error("cannot store the webhook signature tokens: %s (%s, line %d) is %s, which "
			  "refty-lever cannot write; use webhooks.signature_tokens_file instead, or "
			  "remove it to keep them in '%s.webhook-tokens'; nothing was changed",
			src->key, src->file ? src->file : cfg->path, src->line,
			src->source == SECRET_ENV ? "an environment variable"
			: src->source == SECRET_COMMAND ? "a command"
							: "written in the configuration",
			cfg->state);
		return NULL;
	}
	char *dir = file_dir_of(path);
	struct stat st;
	const char *why = NULL;
	if (stat(dir, &st) != 0) {
		why = errno == ENOENT ? "does not exist" : strerror(errno);
	} else if (!S_ISDIR(st.st_mode)) {
		why = "is not a directory";
	}
	if (why) {
		log_error("cannot store the webhook signature tokens in '%s': directory '%s' %s; "
			  "create it (the state directory: 'refty-lever sync --seed' makes it), or mount "
			  "it if it should be there; nothing was changed",
			path, dir, why);
		free(path);
		path = NULL;
		*rc = EXIT_LOCAL;
	}
	free(dir);
	return path;
}

/* One of Lever's webhooks, copied from a listing, with whether its token is stored. */
struct hook {
	char *id;
	char *event;
	char *url;
	bool stored;
};

struct hooks {
	struct hook *v;
	size_t n;
	struct webhook_store *store;
};

static bool on_hook(void *ud, const struct lever_webhook *w)
{
	struct hooks *h = ud;
	long at = webhook_store_find(h->store, w->id, w->signature_token);
	// A token written by hand that Lever's listing shows to be this webhook's is named after
	// it from now on, so that delete can take it away with the webhook.
	if (at >= 0 && !h->store->tokens[at].id) {
		struct webhook_token *t = &h->store->tokens[at];
		t->id = xstrdup(w->id);
		t->event = xstrdup(w->event);
		t->url = xstrdup(w->url);
	}
	h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
	h->v[h->n++] = (struct hook){
		.id = xstrdup(w->id),
		.event = xstrdup(w->event),
		.url = xstrdup(w->url),
		.stored = at >= 0,
	};
	return true;
}

static void hooks_finish(struct hooks *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].id);
		free(h->v[i].event);
		free(h->v[i].url);
	}
	free(h->v);
}

static bool listed(const struct hooks *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++) {
		if (strcmp(h->v[i].id, id) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * Register's plan for url, per event: keep a webhook whose token is stored; else replace one
 * whose token is not; else create one. Further webhooks of the event at url whose tokens are
 * not stored are deleted: every delivery of theirs would be refused.
 */
static void plan_register(const struct hooks *h, const char *url, struct webhooks_report *r)
{
	for (size_t e = 0; e < WEBHOOKS_N_EVENTS; e++) {
		const char *event = webhooks_events[e];
		const struct hook *kept = NULL, *replaced = NULL;
		for (size_t i = 0; i < h->n && !kept; i++) {
			if (h->v[i].stored && strcmp(h->v[i].event, event) == 0
				&& strcmp(h->v[i].url, url) == 0) {
				kept = &h->v[i];
			}
		}
		if (kept) {
			add_step(r, WEBHOOKS_KEEP, event, url, kept->id, NULL);
		}
		for (size_t i = 0; i < h->n; i++) {
			const struct hook *k = &h->v[i];
			if (k->stored || strcmp(k->event, event) != 0 || strcmp(k->url, url) != 0) {
				continue;
			}
			if (!kept && !replaced) {
				replaced = k;
				add_step(r, WEBHOOKS_REPLACE, event, url, k->id,
					"its signature token was not stored");
			} else {
				add_step(r, WEBHOOKS_DELETE, event, url, k->id,
					"a second webhook of the event at the URL, whose signature token "
					"was not stored");
			}
		}
		if (!kept && !replaced) {
			add_step(r, WEBHOOKS_CREATE, event, url, NULL, NULL);
		}
	}
}

struct created {
	struct webhooks_step *step;
	struct webhook_store *store;
};

static void on_created(void *ud, const struct lever_webhook *w)
{
	struct created *c = ud;
	c->step->new_id = xstrdup(w->id);
	webhook_store_add(c->store, w->id, w->event, w->url, w->signature_token);
}

/* Deletes the webhook id, and any token stored for it; a webhook already gone is fine. */
static int delete_hook(struct app *app, struct webhook_store *store, const char *id)
{
	int ls = lever_delete_webhook(app->lever, id);
	if (ls != LEVER_OK && ls != LEVER_ERR_NOT_FOUND) {
		return ls;
	}
	long i;
	while ((i = webhook_store_find(store, id, NULL)) >= 0) {
		webhook_store_remove(store, (size_t)i);
	}
	return LEVER_OK;
}

static int run_step(struct app *app, struct webhook_store *store, struct webhooks_step *s)
{
	int ls = LEVER_OK;
	if (s->kind == WEBHOOKS_REPLACE || s->kind == WEBHOOKS_DELETE) {
		ls = delete_hook(app, store, s->old_id);
	}
	if (ls == LEVER_OK && (s->kind == WEBHOOKS_CREATE || s->kind == WEBHOOKS_REPLACE)) {
		struct created c = {s, store};
		ls = lever_create_webhook(app->lever, s->event, s->url, on_created, &c);
	}
	s->done = ls == LEVER_OK;
	return ls;
}

/* Runs the steps in order, stopping at the first failure; stores the tokens if any changed. */
static enum exit_code run_steps(struct app *app, struct webhook_store *store, bool dry_run,
	struct webhooks_report *r, bool store_changed)
{
	int ls = LEVER_OK;
	bool changed = store_changed;
	for (size_t i = 0; i < r->n && ls == LEVER_OK; i++) {
		struct webhooks_step *s = &r->steps[i];
		if (s->kind == WEBHOOKS_KEEP) {
			continue;
		}
		if (dry_run) {
			// What the store would become: a created token is not known yet, a deleted
			// one would go.
			long at = s->old_id ? webhook_store_find(store, s->old_id, NULL) : -1;
			if (at >= 0) {
				webhook_store_remove(store, (size_t)at);
			}
			if (s->kind != WEBHOOKS_DELETE) {
				r->stored++;
			}
			continue;
		}
		ls = run_step(app, store, s);
		changed = changed || s->done;
	}
	r->stored += store->n;
	enum exit_code rc = app_lever_exit(ls);
	if (!dry_run && changed) {
		if (webhook_store_save(store, r->token_path)) {
			r->written = true;
		} else {
			log_error("the webhooks changed in Lever are then not usable by serve; run "
				  "'refty-lever webhooks register' again once '%s' can be written",
				r->token_path);
			rc = EXIT_LOCAL;
		}
	}
	return rc;
}

/* The steps common to register and delete: where the tokens go, what is stored, Lever. */
static enum exit_code open_all(struct app *app, struct webhooks_report *r,
	struct webhook_store *store, struct hooks *h)
{
	memset(r, 0, sizeof(*r));
	webhook_store_init(store);
	memset(h, 0, sizeof(*h));
	h->store = store;
	enum exit_code rc;
	r->token_path = writable_token_path(app, &rc);
	if (!r->token_path) {
		return rc;
	}
	if (!webhook_store_load(store, r->token_path)) {
		return EXIT_LOCAL;
	}
	rc = app_open_lever(app);
	if (rc != EXIT_OK) {
		return rc;
	}
	return app_lever_exit(lever_list_webhooks(app->lever, on_hook, h));
}

/* Drops tokens stored for url (any url when NULL) whose webhook Lever no longer has. */
static bool drop_stale(struct webhook_store *store, const struct hooks *h, const char *url)
{
	bool dropped = false;
	for (size_t i = store->n; i-- > 0;) {
		const struct webhook_token *t = &store->tokens[i];
		if (t->id && t->url && (!url || strcmp(t->url, url) == 0) && !listed(h, t->id)) {
			log_info("dropping the stored signature token of webhook '%s' (%s): Lever no "
				 "longer has it",
				t->id, t->event ? t->event : "?");
			webhook_store_remove(store, i);
			dropped = true;
		}
	}
	return dropped;
}

enum exit_code webhooks_register(struct app *app, const char *url, bool dry_run,
	struct webhooks_report *out)
{
	const char *problem = webhooks_url_problem(url);
	if (problem) {
		char *clean = log_sanitize(url);
		log_error("cannot register webhooks at '%s': %s", clean, problem);
		free(clean);
		memset(out, 0, sizeof(*out));
		return EXIT_USAGE;
	}
	struct webhook_store store;
	struct hooks h;
	enum exit_code rc = open_all(app, out, &store, &h);
	if (rc == EXIT_OK) {
		bool dropped = !dry_run && drop_stale(&store, &h, url);
		plan_register(&h, url, out);
		rc = run_steps(app, &store, dry_run, out, dropped);
	}
	hooks_finish(&h);
	webhook_store_finish(&store);
	return rc;
}

enum exit_code webhooks_delete(struct app *app, const char *url, bool dry_run,
	struct webhooks_report *out)
{
	struct webhook_store store;
	struct hooks h;
	enum exit_code rc = open_all(app, out, &store, &h);
	if (rc == EXIT_OK) {
		for (size_t i = 0; i < h.n; i++) {
			const struct hook *k = &h.v[i];
			if (url ? strcmp(k->url, url) == 0 : k->stored) {
				add_step(out, WEBHOOKS_DELETE, k->event, k->url, k->id, NULL);
			}
		}
		bool dropped = !dry_run && url && drop_stale(&store, &h, url);
		rc = run_steps(app, &store, dry_run, out, dropped);
	}
	hooks_finish(&h);
	webhook_store_finish(&store);
	return rc;
}

enum exit_code webhooks_list(struct app *app, struct webhooks_row **rows, size_t *n)
{
	*rows = NULL;
	*n = 0;
	const struct config *cfg = app->cfg;
	struct webhook_store store;
	webhook_store_init(&store);
	enum exit_code rc = EXIT_OK;
	if (cfg->webhooks.tokens.source == SECRET_NONE) {
		char *path = app_webhook_token_path(app);
		rc = webhook_store_load(&store, path) ? EXIT_OK : EXIT_LOCAL;
		free(path);
	} else if (cfg->webhooks.tokens.source == SECRET_FILE) {
		rc = webhook_store_load(&store, cfg->webhooks.tokens.ref) ? EXIT_OK : EXIT_LOCAL;
	} else {
		char *text = conf_secret_read(cfg, &cfg->webhooks.tokens);
		if (!text) {
			rc = EXIT_USAGE; // logged, naming the source
		} else {
			webhook_store_parse(&store, text);
			memset(text, 0, strlen(text));
			free(text);
		}
	}
	struct hooks h = {.store = &store};
	if (rc == EXIT_OK) {
		rc = app_open_lever(app);
	}
	if (rc == EXIT_OK) {
		rc = app_lever_exit(lever_list_webhooks(app->lever, on_hook, &h));
	}
	if (rc == EXIT_OK) {
		*rows = xcalloc(h.n ? h.n : 1, sizeof(**rows));
		for (size_t i = 0; i < h.n; i++) {
			(*rows)[i] = (struct webhooks_row){h.v[i].id, h.v[i].event, h.v[i].url,
				h.v[i].stored};
			h.v[i] = (struct hook){0};
		}
		*n = h.n;
	}
	hooks_finish(&h);
	webhook_store_finish(&store);
	return rc;
}

void webhooks_rows_free(struct webhooks_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].id);
		free(rows[i].event);
		free(rows[i].url);
	}
	free(rows);
}
