#define LOG_MODULE "lever"

#include "lever.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "json.h"
#include "jsonw.h"
#include "lever-records.h"
#include "log.h"
#include "oauth.h"
#include "ratelimit.h"
#include "signals.h"
#include "timeutil.h"
#include "xalloc.h"

/* A chain of LEVER_PAGE_SIZE-record pages this long holds 10 million opportunities. */
#define DEFAULT_MAX_PAGES 100000
/* Refresh an access token this long before it expires, so it cannot lapse mid-request. */
#define REFRESH_MARGIN_MS (60 * 1000)
/* 401s to one request after which we stop taking up or refreshing tokens. */
#define MAX_REFUSALS 3
/* Listings restarted after rejected offset tokens before we give up. */
#define MAX_RESTARTS 3
/* How much of an error body goes into a message. */
#define MAX_ERROR_TEXT 300

struct lever_client {
	pthread_mutex_t lock; /* guards everything below that changes after creation */
	struct http_options http_opts;
	char *url;
	struct http_client **idle; /* connections not in use by any thread */
	size_t n_idle;
	size_t cap_idle;
	struct ratelimit *own_limiter;
	enum lever_auth auth;
	char *api_key;
	char *key_source;
	char *client_id;
	char *client_secret;
	char *auth_url;
	char *token_url;
	struct lever_token_store store;
	struct lever_tokens tokens;
	bool tokens_loaded;
	uint64_t token_generation; /* bumped whenever tokens change */
	/* Set when getting a token failed in a way retrying cannot fix (no tokens, refused or
	 * unsaved refresh, dry run), so that other threads fail at once instead of repeating it. */
	enum lever_status token_failure;
	bool confidential;
	bool dry_run;
	int page_size;
	int max_pages; /* per chain of pages */
	struct lever_stats stats;
};

const char *lever_status_text(enum lever_status status)
{
	switch (status) {
	case LEVER_OK:
		return "ok";
	case LEVER_ERR_AUTH:
		return "authentication error";
	case LEVER_ERR_REMOTE:
		return "remote error";
	case LEVER_ERR_DATA:
		return "malformed data";
	case LEVER_ERR_DRY_RUN:
		return "refused in dry run";
	case LEVER_ERR_NOT_FOUND:
		return "not found";
	case LEVER_ERR_CANCELLED:
		return "cancelled";
	case LEVER_ERR_LOCAL:
		return "local error";
	case LEVER_ERR_INTERRUPTED:
		return "interrupted";
	}
	return "unknown error";
}

static void wipe_free(char *secret)
{
	if (secret) {
		memset(secret, 0, strlen(secret));
		free(secret);
	}
}

void lever_tokens_finish(struct lever_tokens *t)
{
	// Tokens are secrets: leave no copy behind in freed memory.
	wipe_free(t->access_token);
	wipe_free(t->refresh_token);
	free(t->account);
	free(t->scope);
	memset(t, 0, sizeof(*t));
}

struct lever_client *lever_client_create(const struct lever_options *opts)
{
	const char *url = opts->url && opts->url[0] ? opts->url : LEVER_DEFAULT_URL;
	if (opts->auth == LEVER_AUTH_API_KEY && (!opts->api_key || !opts->api_key[0])) {
		log_error("cannot create Lever client for '%s': no API key", url);
		return NULL;
	}
	if (opts->auth == LEVER_AUTH_OAUTH) {
		if (!opts->client_id || !opts->client_id[0] || !opts->client_secret
			|| !opts->client_secret[0]) {
			log_error("cannot create Lever client for '%s': OAuth needs a client id and "
				  "a client secret",
				url);
			return NULL;
		}
		if (!opts->token_store.load || !opts->token_store.save
			|| !opts->token_store.lock != !opts->token_store.unlock) {
			log_error("cannot create Lever client for '%s': OAuth needs a token store", url);
			return NULL;
		}
	}

	struct lever_client *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->url = http_url_normalize(url);
	c->auth = opts->auth;
	c->confidential = opts->confidential;
	c->dry_run = opts->dry_run;
	c->max_pages = opts->max_pages > 0 ? opts->max_pages : DEFAULT_MAX_PAGES;
	c->page_size = opts->page_size > 0 && opts->page_size <= LEVER_PAGE_SIZE ? opts->page_size
										  : LEVER_PAGE_SIZE;
	if (opts->auth == LEVER_AUTH_API_KEY) {
		c->api_key = xstrdup(opts->api_key);
		c->key_source = xstrdup(opts->key_source);
		log_add_secret(c->api_key);
	} else {
		c->client_id = xstrdup(opts->client_id);
		c->client_secret = xstrdup(opts->client_secret);
		log_add_secret(c->client_secret);
		c->auth_url = http_url_normalize(
			opts->auth_url && opts->auth_url[0] ? opts->auth_url : LEVER_DEFAULT_AUTH_URL);
		c->token_url = xasprintf("%s/oauth/token", c->auth_url);
		c->store = opts->token_store;
	}
	struct ratelimit *limiter = opts->limiter;
	if (!limiter && opts->requests_per_second > 0) {
		c->own_limiter = ratelimit_create(opts->requests_per_second, opts->burst);
		limiter = c->own_limiter;
	}
	c->http_opts = (struct http_options){
		.base_url = c->url,
		.connect_timeout_ms = opts->connect_timeout_ms,
		.timeout_ms = opts->timeout_ms,
		.max_attempts = opts->max_attempts,
		.max_retry_time = opts->max_retry_time,
		.backoff_base = opts->backoff_base,
		.backoff_cap = opts->backoff_cap,
		.settings_group = opts->settings_group,
		.limiter = limiter,
		.dry_run = opts->dry_run,
		.auth = opts->auth == LEVER_AUTH_API_KEY ? HTTP_AUTH_BASIC : HTTP_AUTH_BEARER,
		.basic_user = c->api_key,
	};
	// One connection now, so that a bad URL fails here rather than at the first request.
	struct http_client *http = http_client_create(&c->http_opts);
	if (!http) {
		lever_client_destroy(c);
		return NULL;
	}
	c->idle = xmalloc(sizeof(*c->idle));
	c->idle[0] = http;
	c->n_idle = 1;
	c->cap_idle = 1;
	return c;
}

void lever_client_destroy(struct lever_client *c)
{
	if (!c) {
		return;
	}
	for (size_t i = 0; i < c->n_idle; i++) {
		http_client_destroy(c->idle[i]);
	}
	free(c->idle);
	ratelimit_destroy(c->own_limiter);
	free(c->url);
	wipe_free(c->api_key);
	free(c->key_source);
	free(c->client_id);
	wipe_free(c->client_secret);
	free(c->auth_url);
	free(c->token_url);
	lever_tokens_finish(&c->tokens);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void lever_client_stats(struct lever_client *c, struct lever_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

static struct http_client *take_http(struct lever_client *c)
{
	pthread_mutex_lock(&c->lock);
	struct http_client *http = c->n_idle ? c->idle[--c->n_idle] : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!http) {
		// The options were accepted once already, so this can only fail on resources.
		http = http_client_create(&c->http_opts);
	}
	return http;
}

static void give_http(struct lever_client *c, struct http_client *http)
{
	if (!http) {
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (c->n_idle == c->cap_idle) {
		c->cap_idle = c->cap_idle ? c->cap_idle * 2 : 4;
		c->idle = xrealloc(c->idle, c->cap_idle * sizeof(*c->idle));
	}
	c->idle[c->n_idle++] = http;
	pthread_mutex_unlock(&c->lock);
}

/*
 * OAuth tokens. Everything here runs with c->lock held.
 */

static bool tokens_usable(const struct lever_tokens *t)
{
	return t->access_token && t->expires_at - REFRESH_MARGIN_MS > timeutil_now_ms();
}

static enum lever_status load_tokens(struct lever_client *c)
{
	if (c->tokens_loaded) {
		return LEVER_OK;
	}
	struct lever_tokens t = {0};
	if (!c->store.load(c->store.ud, &t)) {
		lever_tokens_finish(&t);
		return LEVER_ERR_LOCAL;
	}
	log_add_secret(t.access_token);
	log_add_secret(t.refresh_token);
	lever_tokens_finish(&c->tokens);
	c->tokens = t;
	c->tokens_loaded = true;
	c->token_generation++;
	return LEVER_OK;
}

/*
 * Takes up the stored pair when another process rotated it since we loaded ours (a sync and
 * a 'lever stages', say): ours is then useless, and the stored one is used as it is if it is
 * fresh. *taken says whether it was.
 */
static enum lever_status take_stored(struct lever_client *c, bool *taken)
{
	*taken = false;
	char *used = xstrdup(c->tokens.refresh_token);
	c->tokens_loaded = false;
	enum lever_status status = load_tokens(c);
	if (status == LEVER_OK && c->tokens.refresh_token
		&& (!used || strcmp(used, c->tokens.refresh_token) != 0)
		&& tokens_usable(&c->tokens)) {
		log_debug("took up the Lever tokens another process refreshed");
		*taken = true;
	}
	wipe_free(used);
	return status;
}

static enum lever_status refresh_at_lever(struct lever_client *c, struct http_client *http)
{
	if (!c->tokens.refresh_token) {
		log_error("cannot refresh the Lever access token: no refresh token is stored; run "
			  "'refty-lever auth login'");
		return LEVER_ERR_AUTH;
	}
	struct oauth_token_params params = {
		.token_url = c->token_url,
		.client_id = c->client_id,
		.client_secret = c->client_secret,
		.refresh_token = c->tokens.refresh_token,
	};
	struct lever_tokens fresh;
	enum lever_status status = oauth_token_request(http, &params, &fresh);
	if (status != LEVER_OK) {
		return status;
	}
	if (!fresh.refresh_token) {
		fresh.refresh_token = xstrdup(c->tokens.refresh_token);
	}
	if (!fresh.account) {
		fresh.account = xstrdup(c->tokens.account);
	}
	if (!fresh.scope) {
		fresh.scope = xstrdup(c->tokens.scope);
	}
	if (!c->store.save(c->store.ud, &fresh)) {
		log_error("cannot use the refreshed Lever access token: it could not be stored; if "
			  "this persists, run 'refty-lever auth login' again");
		lever_tokens_finish(&fresh);
		return LEVER_ERR_LOCAL;
	}
	lever_tokens_finish(&c->tokens);
	c->tokens = fresh;
	c->token_generation++;
	c->stats.refreshes++;
	log_debug("refreshed the Lever access token");
	return LEVER_OK;
}

/*
 * Refreshes the access token. Under the store's lock, re-reading the pair and refreshing it
 * are one step for every process sharing the store, so a refresh token is presented once:
 * whoever comes second finds the rotated pair and takes it up.
 */
static enum lever_status refresh_tokens(struct lever_client *c, struct http_client *http)
{
	// A dry run writes nothing, so it takes no lock either: it may only take up a pair
	// another process stored.
	bool locked = !c->dry_run && c->store.lock;
	if (locked && !c->store.lock(c->store.ud)) {
		return LEVER_ERR_LOCAL;
	}
	bool taken = false;
	enum lever_status status = take_stored(c, &taken);
	if (status == LEVER_OK && !taken) {
		if (c->dry_run) {
			log_error("cannot refresh the Lever access token in a dry run: refreshing "
				  "rotates the stored tokens; run any command without --dry-run first, "
				  "then try again");
			status = LEVER_ERR_DRY_RUN;
		} else {
			status = refresh_at_lever(c, http);
		}
	}
	if (locked) {
		c->store.unlock(c->store.ud);
	}
	return status;
}

/*
 * Gets an access token fit for a request into *token (caller frees) and its generation.
 * force_after: when not 0, the token of that generation was just refused with a 401; refresh
 * unless another thread already did, or another process did (its pair is taken up). *refreshed
 * says whether this call refreshed at Lever.
 */
static enum lever_status access_token(struct lever_client *c, struct http_client *http,
	uint64_t force_after, char **token, uint64_t *generation, bool *refreshed)
{
	pthread_mutex_lock(&c->lock);
	if (c->token_failure != LEVER_OK) {
		enum lever_status failure = c->token_failure;
		pthread_mutex_unlock(&c->lock);
		return failure; // logged by the thread that met it
	}
	enum lever_status status = load_tokens(c);
	if (status == LEVER_OK && !c->tokens.access_token && !c->tokens.refresh_token) {
		log_error("not logged in to Lever: run 'refty-lever auth login'");
		status = LEVER_ERR_AUTH;
	}
	uint64_t refreshes = c->stats.refreshes;
	if (status == LEVER_OK
		&& (!tokens_usable(&c->tokens) || (force_after && force_after == c->token_generation))) {
		status = refresh_tokens(c, http);
	}
	*refreshed = c->stats.refreshes != refreshes;
	if (status != LEVER_OK && status != LEVER_ERR_REMOTE && status != LEVER_ERR_DATA) {
		c->token_failure = status;
	}
	if (status == LEVER_OK) {
		*token = xstrdup(c->tokens.access_token);
		*generation = c->token_generation;
	}
	pthread_mutex_unlock(&c->lock);
	return status;
}

char *lever_oauth_scope(bool confidential, bool webhooks)
{
	return xasprintf("offline_access opportunities:read:admin stages:read:admin "
			 "postings:read:admin%s%s",
		confidential ? " confidential:access:admin" : "", webhooks ? " webhooks:write:admin" : "");
}

char *lever_oauth_authorize_url(const struct lever_options *opts, const char *redirect_uri,
	const char *state)
{
	char *url = http_url_normalize(opts->url && opts->url[0] ? opts->url : LEVER_DEFAULT_URL);
	char *audience = xasprintf("%s/", url);
	struct oauth_authorize_params p = {
		.auth_url = opts->auth_url && opts->auth_url[0] ? opts->auth_url : LEVER_DEFAULT_AUTH_URL,
		.client_id = opts->client_id ? opts->client_id : "",
		.redirect_uri = redirect_uri,
		.state = state,
		.audience = audience,
	};
	char *scope = lever_oauth_scope(opts->confidential, opts->webhooks);
	p.scope = scope;
	char *result = oauth_authorize_url(&p);
	free(scope);
	free(audience);
	free(url);
	return result;
}

enum lever_status lever_oauth_exchange(struct lever_client *c, const char *code,
	const char *redirect_uri)
{
	if (c->auth != LEVER_AUTH_OAUTH) {
		log_error("cannot complete the Lever login: the client is not set up for OAuth");
		return LEVER_ERR_AUTH;
	}
	if (c->dry_run) {
		log_error("cannot complete the Lever login in a dry run");
		return LEVER_ERR_DRY_RUN;
	}
	struct http_client *http = take_http(c);
	if (!http) {
		return LEVER_ERR_LOCAL;
	}
	struct oauth_token_params params = {
		.token_url = c->token_url,
		.client_id = c->client_id,
		.client_secret = c->client_secret,
		.code = code,
		.redirect_uri = redirect_uri,
	};
	struct lever_tokens fresh;
	enum lever_status status = oauth_token_request(http, &params, &fresh);
	give_http(c, http);
	if (status != LEVER_OK) {
		return status;
	}
	if (!fresh.refresh_token) {
		log_warn("Lever sent no refresh token: the login lasts one hour; is the "
			 "'offline_access' scope granted to the app?");
	}
	pthread_mutex_lock(&c->lock);
	// Under the lock, so that a refresh in another process cannot store its older pair
	// over this one.
	bool locked = !c->store.lock || c->store.lock(c->store.ud);
	bool saved = locked && c->store.save(c->store.ud, &fresh);
	if (locked && c->store.unlock) {
		c->store.unlock(c->store.ud);
	}
	if (!saved) {
		pthread_mutex_unlock(&c->lock);
		lever_tokens_finish(&fresh);
		return LEVER_ERR_LOCAL;
	}
	lever_tokens_finish(&c->tokens);
	c->tokens = fresh;
	c->tokens_loaded = true;
	c->token_generation++;
	c->token_failure = LEVER_OK;
	pthread_mutex_unlock(&c->lock);
	return LEVER_OK;
}

/*
 * Requests
 */

/* Lever's error body {"code", "message"} as ": code: message", sanitised, or the raw start. */
static char *error_detail(const struct http_response *resp, char **message_out)
{
	struct json_error err;
	struct json_object *root = json_parse(resp->body.data, resp->body.len, &err);
	struct strbuf sb;
	strbuf_init(&sb);
	if (message_out) {
		*message_out = NULL;
	}
	if (root) {
		struct json_node node;
		json_root(&node, root);
		const char *code = NULL, *message = NULL;
		if (!json_opt_string(&node, "code", &code, &err)) {
			code = NULL;
		}
		if (!json_opt_string(&node, "message", &message, &err)) {
			message = NULL;
		}
		if (code) {
			strbuf_puts(&sb, ": ");
			strbuf_puts(&sb, code);
		}
		if (message) {
			strbuf_puts(&sb, ": ");
			strbuf_puts(&sb, message);
			if (message_out) {
				*message_out = xstrdup(message);
			}
		}
		json_free(root);
	} else if (resp->body.len > 0) {
		strbuf_puts(&sb, ": ");
		strbuf_append(&sb, resp->body.data,
			resp->body.len < MAX_ERROR_TEXT ? resp->body.len : MAX_ERROR_TEXT);
	}
	if (sb.len > MAX_ERROR_TEXT) {
		sb.data[MAX_ERROR_TEXT] = '\0';
		sb.len = MAX_ERROR_TEXT;
	}
	char *raw = strbuf_steal(&sb);
	char *clean = log_sanitize(raw);
	free(raw);
	return clean;
}

static char *path_only(const char *path)
{
	return xstrndup(path, strcspn(path, "?"));
}

/*
 * Sends method to path (with a JSON body, or none) with authentication, refreshing the OAuth
 * token once on a 401, which Lever answers before it acts. Returns LEVER_OK with any HTTP
 * status in resp (the caller judges it), or an error already logged. The HTTP layer retries
 * a POST only when it certainly did not reach Lever: a create is never sent twice.
 */
static enum lever_status send_request(struct lever_client *c, const char *method, const char *path,
	const char *json_body, struct http_response *resp)
{
	struct http_client *http = take_http(c);
	if (!http) {
		return LEVER_ERR_LOCAL;
	}
	enum lever_status status = LEVER_OK;
	char *token = NULL;
	uint64_t generation = 0;
	uint64_t refused = 0;      /* generation of the token Lever just refused */
	bool refreshed = false;    /* refreshed at Lever after a refusal */
	int refusals = 0;
	for (;;) {
		if (c->auth == LEVER_AUTH_OAUTH) {
			wipe_free(token);
			token = NULL;
			bool now = false;
			status = access_token(c, http, refused, &token, &generation, &now);
			refreshed = refreshed || (refused && now);
			if (status != LEVER_OK) {
				break;
			}
		}
		static const struct http_header json_type[] = {
			{"Content-Type", "application/json"},
		};
		struct http_request req = {
			.method = method,
			.path = path,
			.bearer = token,
			.headers = json_body ? json_type : NULL,
			.n_headers = json_body ? 1 : 0,
			.body = json_body,
			.body_len = json_body ? strlen(json_body) : 0,
		};
		bool ok = http_request(http, &req, resp);
		pthread_mutex_lock(&c->lock);
		c->stats.requests += (uint64_t)resp->attempts;
		pthread_mutex_unlock(&c->lock);
		if (!ok) {
			status = resp->error == HTTP_ERR_DRY_RUN       ? LEVER_ERR_DRY_RUN
				 : resp->error == HTTP_ERR_INTERRUPTED ? LEVER_ERR_INTERRUPTED
								       : LEVER_ERR_REMOTE;
			break;
		}
		// A 401 to a token that should still be valid: it may have been revoked and
		// reissued, or our clock is off. One refresh settles it. A pair another process
		// stored may have been revoked along with ours, so taking one up does not count
		// as that refresh (within bounds, should others keep rotating it).
		if (resp->status == 401 && c->auth == LEVER_AUTH_OAUTH && !refreshed
			&& ++refusals <= MAX_REFUSALS) {
			refused = generation;
			log_debug("Lever refused the access token for '%s'; refreshing it", path);
			continue;
		}
		break;
	}
	wipe_free(token);
	give_http(c, http);
	return status;
}

static enum lever_status get(struct lever_client *c, const char *path, struct http_response *resp)
{
	return send_request(c, "GET", path, NULL, resp);
}

/* Logs a non-2xx answer to method on path and maps it to a status. */
static enum lever_status method_error(struct lever_client *c, const char *what,
	const char *method, const char *path, const struct http_response *resp)
{
	char *detail = error_detail(resp, NULL);
	char *where = path_only(path);
	enum lever_status status = LEVER_ERR_REMOTE;
	const char *hint = "";
	char *key_hint = NULL;
	if (resp->status == 401) {
		status = LEVER_ERR_AUTH;
		hint = c->auth == LEVER_AUTH_API_KEY
			? "; check that the API key is correct and still active"
			: "; the authorization may have been revoked: run 'refty-lever auth login' again";
		if (c->auth == LEVER_AUTH_API_KEY && c->key_source) {
			key_hint = xasprintf("; check that the API key from %s is correct and still "
					     "active", c->key_source);
			hint = key_hint;
		}
	} else if (resp->status == 403) {
		status = LEVER_ERR_AUTH;
		if (strncmp(path, "/webhooks", 9) == 0) {
			hint = c->auth == LEVER_AUTH_API_KEY
				? "; managing webhooks needs an API key with access to the webhooks "
				  "endpoints"
				: "; managing webhooks needs the scope webhooks:write:admin: add a "
				  "webhooks group to the configuration and run 'refty-lever auth login' "
				  "again";
		} else if (c->auth == LEVER_AUTH_API_KEY) {
			hint = c->confidential
				? "; check the API key's permissions for this endpoint, and that it was "
				  "created with access to confidential data (lever.confidential = true)"
				: "; check the API key's permissions for this endpoint";
		} else {
			hint = c->confidential
				? "; check the scopes granted to the app, including "
				  "confidential:access:admin (lever.confidential = true)"
				: "; check the scopes granted to the app";
		}
	}
	log_error("cannot %s: %s '%s%s' answered %s%s%s", what, method, c->url, where,
		http_status_text(resp->status), detail, hint);
	free(key_hint);
	free(where);
	free(detail);
	return status;
}

/* Logs a non-2xx answer to a GET and maps it to a status. */
static enum lever_status status_error(struct lever_client *c, const char *what, const char *path,
	const struct http_response *resp)
{
	return method_error(c, what, "GET", path, resp);
}

/*
 * A set of the ids a listing has delivered, so that a restarted listing (or a record Lever moves
 * between pages while we page) is handed out once. Each id is kept as a 128-bit hash, not as its
 * text: 16 bytes a slot at most 70% full, so memory stays small on long listings, and the chance
 * of two of a listing's ids colliding (2^-128 per pair) is nil next to everything else.
 */
struct id_key {
	uint64_t a, b; /* {0, 0}: an empty slot */
};

struct id_set {
	struct id_key *slots;
	size_t n_slots; /* a power of two */
	size_t count;
};

static void id_set_init(struct id_set *s)
{
	s->n_slots = 256;
	s->slots = xcalloc(s->n_slots, sizeof(*s->slots));
	s->count = 0;
}

static void id_set_finish(struct id_set *s)
{
	free(s->slots);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static struct id_key key_of(const char *id)
{
	// Two FNV-1a passes with different offset bases, each finished by a strong mixer.
	uint64_t a = UINT64_C(14695981039346656037), b = UINT64_C(0x9e3779b97f4a7c15);
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		a = (a ^ *p) * UINT64_C(1099511628211);
		b = (b ^ *p) * UINT64_C(0x100000001b3);
		b ^= b >> 32;
	}
	struct id_key k = {mix64(a), mix64(b)};
	if (k.a == 0 && k.b == 0) {
		k.b = 1;
	}
	return k;
}

static size_t slot_of(const struct id_set *s, struct id_key k, bool *found)
{
	size_t mask = s->n_slots - 1;
	size_t i = (size_t)k.a & mask;
	while (s->slots[i].a || s->slots[i].b) {
		if (s->slots[i].a == k.a && s->slots[i].b == k.b) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

/* Adds id; returns false if it was already there. */
static bool id_set_add(struct id_set *s, const char *id)
{
	struct id_key k = key_of(id);
	bool found;
	size_t i = slot_of(s, k, &found);
	if (found) {
		return false;
	}
	s->slots[i] = k;
	s->count++;
	if (s->count * 10 > s->n_slots * 7) {
		size_t old_n = s->n_slots;
		struct id_key *old = s->slots;
		s->n_slots *= 2;
		s->slots = xcalloc(s->n_slots, sizeof(*s->slots));
		for (size_t j = 0; j < old_n; j++) {
			if (old[j].a || old[j].b) {
				s->slots[slot_of(s, old[j], &found)] = old[j];
			}
		}
		free(old);
	}
	return true;
}

static bool mentions_offset(const struct http_response *resp)
{
	char *message = NULL;
	char *detail = error_detail(resp, &message);
	free(detail);
	const char *text = message ? message : resp->body.data;
	bool found = false;
	for (const char *p = text; p && *p; p++) {
		if (strncasecmp(p, "offset", 6) == 0) {
			found = true;
			break;
		}
	}
	free(message);
	return found;
}

/* Where a listing's records go. */
struct sink {
	void *cb; /* the kind's callback struct */
	bool (*unreadable)(void *ud, const struct lever_unreadable *u); /* NULL: none kept */
	void *ud;
};

/* Drops the "data[N]." a page's parser put before the field's path. */
static const char *field_reason(const char *text)
{
	if (strncmp(text, "data[", 5) == 0) {
		const char *p = strstr(text, "].");
		if (p) {
			return p + 2;
		}
	}
	return text;
}

/*
 * Walks a paged listing: base is the path with its fixed query; offset tokens are appended.
 * query (the kind's filter struct, or NULL) lets each record be checked against what was
 * asked for.
 *
 * A chain with the same query and its own tokens is the one guarantee Lever gives, so a
 * chain that cannot be one is stopped as malformed rather than followed: a token seen before
 * (a cycle), a page that says more follow but brings nothing the chain has not delivered,
 * a record outside the query's filter, or more than max_pages pages.
 */
/* One listing in progress: what it is, and what its chain of pages has brought. */
struct walk {
	struct lever_client *c;
	const char *what;
	const struct record_kind *kind;
	const struct sink *sink;
	const void *query;
	// seen: what the listing delivered. chain: what the current chain of pages brought, the
	// same set until a rejected token makes the listing start a new chain.
	struct id_set seen, restarted, tokens;
	struct id_set *chain;
	int page_no;
	const char *where; /* the page's path without its query, for messages */
};

/* Notes id in the chain; true when the listing has not delivered it yet. */
static bool walk_add(struct walk *w, const char *id, size_t *fresh)
{
	bool new_in_chain = id_set_add(w->chain, id);
	*fresh += new_in_chain;
	return w->chain == &w->seen ? new_in_chain : id_set_add(&w->seen, id);
}

/* A rejected offset token: the next page starts a new chain from the first page. */
static void walk_restart(struct walk *w)
{
	if (w->chain == &w->restarted) {
		id_set_finish(&w->restarted);
	}
	id_set_init(&w->restarted);
	w->chain = &w->restarted;
	id_set_finish(&w->tokens);
	id_set_init(&w->tokens);
	w->page_no = 1;
}

/* Hands a parsed page's records over, after checking the page can belong to one chain. */
static enum lever_status walk_deliver(struct walk *w, const struct page *page)
{
	const struct record_kind *kind = w->kind;
	struct lever_client *c = w->c;
	size_t fresh = 0;
	for (size_t i = 0; i < page->n; i++) {
		const void *rec = page->records + i * kind->size;
		char why[256];
		if (w->query && kind->outside && kind->outside(rec, w->query, why, sizeof(why))) {
			char *id = log_sanitize(kind->id(rec));
			log_error("cannot %s: page %d of '%s%s' holds %s '%s' with %s; a listing that "
				  "ignores its own filter cannot be trusted, so nothing after it was "
				  "recorded",
				w->what, w->page_no, c->url, w->where, kind->name, id, why);
			free(id);
			return LEVER_ERR_DATA;
		}
		if (walk_add(w, kind->id(rec), &fresh) && !kind->deliver(w->sink->cb, w->sink->ud, rec)) {
			return LEVER_ERR_CANCELLED;
		}
	}
	for (size_t i = 0; i < page->n_bad; i++) {
		const struct unreadable *b = &page->bad[i];
		struct lever_unreadable u = {b->id, field_reason(b->reason)};
		if (walk_add(w, b->id, &fresh) && !w->sink->unreadable(w->sink->ud, &u)) {
			return LEVER_ERR_CANCELLED;
		}
	}
	if (page->next && fresh == 0) {
		log_error("cannot %s: page %d of '%s%s' brought no %s the listing had not already "
			  "delivered, yet says more follow, so the listing would never end; nothing "
			  "after it was recorded",
			w->what, w->page_no, c->url, w->where, kind->name);
		return LEVER_ERR_DATA;
	}
	if (page->next && !id_set_add(&w->tokens, page->next)) {
		log_error("cannot %s: page %d of '%s%s' leads back to an earlier page (its offset "
			  "token repeats), so the listing would never end; nothing after it was recorded",
			w->what, w->page_no, c->url, w->where);
		return LEVER_ERR_DATA;
	}
	return LEVER_OK;
}

/*
 * Gets and delivers one page at offset (NULL: the first). *next receives the next page's
 * token (NULL: the last page); *restart is set when Lever rejected the token.
 */
static enum lever_status walk_page(struct walk *w, const char *base, const char *offset,
	struct http_response *resp, char **next, bool *restart)
{
	struct lever_client *c = w->c;
	*next = NULL;
	*restart = false;
	struct strbuf path;
	strbuf_init(&path);
	strbuf_puts(&path, base);
	if (offset) {
		http_query_add(&path, "offset", offset);
	}
	char *where = path_only(path.data);
	w->where = where;
	enum lever_status status = LEVER_OK;
	struct json_error err;
	struct page page;
	if (w->page_no > c->max_pages) {
		log_error("cannot %s: '%s%s' is still not finished after %d pages (lever.max_pages), "
			  "so the listing looks endless; nothing after it was recorded. If the account "
			  "really is that large, raise lever.max_pages",
			w->what, c->url, where, c->max_pages);
		status = LEVER_ERR_DATA;
	} else if ((status = get(c, path.data, resp)) != LEVER_OK) {
		// logged
	} else if (resp->status == 400 && offset && mentions_offset(resp)) {
		*restart = true;
	} else if (resp->status < 200 || resp->status > 299) {
		status = status_error(c, w->what, path.data, resp);
	} else if (!lever_page_parse(resp->body.data, resp->body.len, w->kind, w->sink->unreadable != NULL,
			   &page, &err)) {
		log_error("cannot %s: malformed page %d from '%s%s': %s", w->what, w->page_no,
			c->url, where, err.text);
		status = LEVER_ERR_DATA;
	} else {
		if (w->kind->owns_data) {
			strbuf_finish(&resp->body);
		}
		pthread_mutex_lock(&c->lock);
		c->stats.pages++;
		pthread_mutex_unlock(&c->lock);
		status = walk_deliver(w, &page);
		if (status == LEVER_OK && page.next) {
			*next = xstrdup(page.next);
		}
		lever_page_finish(&page, w->kind);
	}
	w->where = NULL;
	free(where);
	strbuf_finish(&path);
	return status;
}

/*
 * Walks a paged listing: base is the path with its fixed query; offset tokens are appended.
 * query (the kind's filter struct, or NULL) lets each record be checked against what was
 * asked for.
 *
 * A chain with the same query and its own tokens is the one guarantee Lever gives, so a
 * chain that cannot be one is stopped as malformed rather than followed: a token seen before
 * (a cycle), a page that says more follow but brings nothing the chain has not delivered,
 * a record outside the query's filter, or more than max_pages pages.
 */
static enum lever_status list(struct lever_client *c, const char *what, const char *base,
	const struct record_kind *kind, const struct sink *sink, const void *query)
{
	struct walk w = {.c = c, .what = what, .kind = kind, .sink = sink, .query = query,
		.page_no = 1};
	id_set_init(&w.seen);
	id_set_init(&w.tokens);
	w.chain = &w.seen;
	struct http_response resp;
	http_response_init(&resp);
	char *offset = NULL;
	int restarts = 0;
	enum lever_status status;
	for (;;) {
		char *next = NULL;
		bool restart = false;
		// A page boundary: the place to stop, with every page so far delivered whole.
		if (signals_requested(SIGNALS_STOP)) {
			log_debug("stopped listing at page %d: %s interrupted", w.page_no, what);
			status = LEVER_ERR_INTERRUPTED;
			break;
		}
		status = walk_page(&w, base, offset, &resp, &next, &restart);
		free(offset);
		offset = next;
		if (status != LEVER_OK || (!restart && !next)) {
			break;
		}
		if (!restart) {
			w.page_no++;
			continue;
		}
		if (++restarts > MAX_RESTARTS) {
			log_error("cannot %s: Lever rejected the offset token %d times; giving up", what,
				restarts);
			status = LEVER_ERR_REMOTE;
			break;
		}
		log_warn("Lever rejected the offset token for page %d while trying to %s; starting "
			 "again from the first page",
			w.page_no, what);
		pthread_mutex_lock(&c->lock);
		c->stats.restarts++;
		pthread_mutex_unlock(&c->lock);
		walk_restart(&w);
	}
	if (status == LEVER_ERR_CANCELLED) {
		log_debug("stopped listing: %s cancelled", what);
	}
	free(offset);
	id_set_finish(&w.seen);
	id_set_finish(&w.tokens);
	if (w.chain == &w.restarted) {
		id_set_finish(&w.restarted);
	}
	http_response_finish(&resp);
	return status;
}

static void add_time(struct strbuf *path, const char *key, int64_t ms)
{
	if (ms != 0) {
		http_query_add_int64(path, key, ms);
	}
}

static void add_opportunity_filters(struct strbuf *path, const struct lever_opportunity_query *q)
{
	add_time(path, "updated_at_start", q->updated_at_start);
	add_time(path, "updated_at_end", q->updated_at_end);
	add_time(path, "created_at_start", q->created_at_start);
	add_time(path, "created_at_end", q->created_at_end);
	for (size_t i = 0; i < q->n_posting_ids; i++) {
		http_query_add(path, "posting_id", q->posting_ids[i]);
	}
	if (q->archived == LEVER_ARCHIVED_ONLY) {
		http_query_add(path, "archived", "true");
	} else if (q->archived == LEVER_ARCHIVED_NONE) {
		http_query_add(path, "archived", "false");
	}
}

enum lever_status lever_list_opportunities(struct lever_client *c,
	const struct lever_opportunity_query *q, const struct lever_opportunity_sink *sink)
{
	static const struct lever_opportunity_query none = {0};
	if (!q) {
		q = &none;
	}
	struct strbuf path;
	strbuf_init(&path);
	strbuf_puts(&path, "/opportunities");
	http_query_add_int64(&path, "limit", c->page_size);
	http_query_add(&path, "expand", "applications");
	if (c->confidential) {
		http_query_add(&path, "confidentiality", "all");
	}
	add_opportunity_filters(&path, q);
	struct opportunity_cb fn = {sink->record};
	struct sink out = {&fn, sink->unreadable, sink->ud};
	enum lever_status status = list(c, "list opportunities", path.data, &lever_opportunity_kind, &out, q);
	strbuf_finish(&path);
	return status;
}

enum lever_status lever_get_opportunity(struct lever_client *c, const char *id,
	const struct lever_opportunity_sink *sink)
{
	struct strbuf path;
	strbuf_init(&path);
	char *escaped = http_url_escape(id);
	strbuf_printf(&path, "/opportunities/%s", escaped);
	free(escaped);
	http_query_add(&path, "expand", "applications");
	struct http_response resp;
	http_response_init(&resp);
	enum lever_status status = get(c, path.data, &resp);
	char *clean = log_sanitize(id);
	if (status == LEVER_OK && resp.status == 404) {
		log_debug("opportunity '%s' is no longer in Lever", clean);
		status = LEVER_ERR_NOT_FOUND;
	} else if (status == LEVER_OK && (resp.status < 200 || resp.status > 299)) {
		char *what = xasprintf("get opportunity '%s'", clean);
		status = status_error(c, what, path.data, &resp);
		free(what);
	} else if (status == LEVER_OK) {
		struct json_error err;
		struct opportunity o;
		bool malformed;
		bool read = lever_parse_opportunity_answer(resp.body.data, resp.body.len, id, &o,
			&malformed, &err);
		if (malformed) {
			log_error("cannot get opportunity '%s': malformed answer from '%s': %s", clean,
				c->url, err.text);
			status = LEVER_ERR_DATA;
		} else if (!read && sink->unreadable) {
			struct lever_unreadable u = {id, err.text};
			status = sink->unreadable(sink->ud, &u) ? LEVER_OK : LEVER_ERR_CANCELLED;
		} else if (!read) {
			log_error("cannot get opportunity '%s': %s", clean, err.text);
			status = LEVER_ERR_DATA;
		} else if (!sink->record(sink->ud, &o)) {
			status = LEVER_ERR_CANCELLED;
		}
		opportunity_finish(&o);
	}
	free(clean);
	http_response_finish(&resp);
	strbuf_finish(&path);
	return status;
}

enum lever_status lever_list_deleted(struct lever_client *c, int64_t deleted_at_start,
	int64_t deleted_at_end, bool (*cb)(void *ud, const struct deleted_opportunity *d),
	void *ud)
{
	struct strbuf path;
	strbuf_init(&path);
	strbuf_puts(&path, "/opportunities/deleted");
	http_query_add_int64(&path, "limit", c->page_size);
	add_time(&path, "deleted_at_start", deleted_at_start);
	add_time(&path, "deleted_at_end", deleted_at_end);
	struct deleted_cb fn = {cb};
	struct sink out = {&fn, NULL, ud};
	struct deleted_query q = {deleted_at_start, deleted_at_end};
	enum lever_status status =
		list(c, "list deleted opportunities", path.data, &lever_deleted_kind, &out, &q);
	strbuf_finish(&path);
	return status;
}

enum lever_status lever_list_stages(struct lever_client *c,
	bool (*cb)(void *ud, const struct lever_stage *s), void *ud)
{
	struct strbuf path;
	strbuf_init(&path);
	strbuf_puts(&path, "/stages");
	http_query_add_int64(&path, "limit", c->page_size);
	struct stage_cb fn = {cb};
	struct sink out = {&fn, NULL, ud};
	enum lever_status status = list(c, "list stages", path.data, &lever_stage_kind, &out, NULL);
	strbuf_finish(&path);
	return status;
}

enum lever_status lever_list_postings(struct lever_client *c,
	bool (*cb)(void *ud, const struct lever_posting *p), void *ud)
{
	struct strbuf path;
	strbuf_init(&path);
	strbuf_puts(&path, "/postings");
	http_query_add_int64(&path, "limit", c->page_size);
	if (c->confidential) {
		http_query_add(&path, "confidentiality", "all");
	}
	struct posting_cb fn = {cb};
	struct sink out = {&fn, NULL, ud};
	enum lever_status status = list(c, "list postings", path.data, &lever_posting_kind, &out, NULL);
	strbuf_finish(&path);
	return status;
}

/* Registers each signature token as a secret before the caller sees it. */
struct webhook_relay {
	bool (*cb)(void *ud, const struct lever_webhook *w);
	void *ud;
};

static bool relay_webhook(void *ud, const struct lever_webhook *w)
{
	struct webhook_relay *r = ud;
	log_add_secret(w->signature_token);
	return r->cb(r->ud, w);
}

enum lever_status lever_list_webhooks(struct lever_client *c,
	bool (*cb)(void *ud, const struct lever_webhook *w), void *ud)
{
	struct webhook_relay relay = {cb, ud};
	struct webhook_cb fn = {relay_webhook};
	struct sink out = {&fn, NULL, &relay};
	return list(c, "list webhooks", "/webhooks", &lever_webhook_kind, &out, NULL);
}

enum lever_status lever_create_webhook(struct lever_client *c, const char *event, const char *url,
	void (*cb)(void *ud, const struct lever_webhook *w), void *ud)
{
	struct strbuf body;
	strbuf_init(&body);
	struct jsonw w;
	jsonw_init(&w, &body);
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "event", event);
	jsonw_kv_string(&w, "url", url);
	jsonw_object_end(&w);
	char *clean_event = log_sanitize(event);
	char *what = xasprintf("create the %s webhook", clean_event);
	free(clean_event);
	struct http_response resp;
	http_response_init(&resp);
	enum lever_status status = send_request(c, "POST", "/webhooks", body.data, &resp);
	if (status == LEVER_ERR_REMOTE) {
		log_error("cannot %s: Lever may have created it without answering; run 'refty-lever "
			  "webhooks register' again, which replaces a webhook whose signature token "
			  "was not stored",
			what);
	} else if (status == LEVER_OK && (resp.status < 200 || resp.status > 299)) {
		status = method_error(c, what, "POST", "/webhooks", &resp);
	} else if (status == LEVER_OK) {
		struct json_error err;
		struct json_object *root = json_parse(resp.body.data, resp.body.len, &err);
		struct json_node node, data;
		struct lever_webhook hook;
		bool ok = root != NULL;
		if (ok) {
			json_root(&node, root);
			ok = json_req_object(&node, "data", &data, &err)
			     && lever_parse_webhook(&data, &hook, &err);
		}
		if (ok && (!hook.signature_token || !hook.signature_token[0])) {
			ok = json_fail(&err, &data, "configuration.signatureToken is missing");
		}
		if (ok) {
			log_add_secret(hook.signature_token);
			cb(ud, &hook);
		} else {
			// Created, most likely, but unusable: the next register replaces it.
			log_error("cannot %s: malformed answer from '%s/webhooks': %s; run "
				  "'refty-lever webhooks register' again",
				what, c->url, err.text);
			status = LEVER_ERR_DATA;
		}
		json_free(root);
	}
	// The answer holds the signature token.
	if (resp.body.data) {
		memset(resp.body.data, 0, resp.body.len);
	}
	http_response_finish(&resp);
	free(what);
	strbuf_finish(&body);
	return status;
}

enum lever_status lever_delete_webhook(struct lever_client *c, const char *id)
{
	char *escaped = http_url_escape(id);
	char *path = xasprintf("/webhooks/%s", escaped);
	free(escaped);
	char *clean = log_sanitize(id);
	char *what = xasprintf("delete webhook '%s'", clean);
	struct http_response resp;
	http_response_init(&resp);
	enum lever_status status = send_request(c, "DELETE", path, NULL, &resp);
	if (status == LEVER_OK && resp.status == 404) {
		log_debug("webhook '%s' is no longer in Lever", clean);
		status = LEVER_ERR_NOT_FOUND;
	} else if (status == LEVER_OK && (resp.status < 200 || resp.status > 299)) {
		status = method_error(c, what, "DELETE", path, &resp);
	}
	http_response_finish(&resp);
	free(what);
	free(clean);
	free(path);
	return status;
}
