#define LOG_MODULE "receiver"

#include "receiver.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "timeutil.h"
#include "webhook.h"
#include "xalloc.h"

struct receiver {
	char *path;
	char **tokens;
	size_t n_tokens;
	int64_t max_age_ms;
	bool (*healthy)(void *ud);
	void *ud;
	int64_t (*now_ms)(void);
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t arrived;
	struct webhook_replay *replay;
	char **pending; /* asked about, not yet taken; no id twice */
	size_t n_pending, cap_pending;
	struct receiver_stats stats;
};

static void forget_tokens(struct receiver *r)
{
	for (size_t i = 0; i < r->n_tokens; i++) {
		memset(r->tokens[i], 0, strlen(r->tokens[i]));
		free(r->tokens[i]);
	}
	free(r->tokens);
	r->tokens = NULL;
	r->n_tokens = 0;
}

static void keep_tokens(struct receiver *r, const char *const *tokens, size_t n)
{
	r->tokens = xcalloc(n ? n : 1, sizeof(*r->tokens));
	for (size_t i = 0; i < n; i++) {
		r->tokens[i] = xstrdup(tokens[i]);
		log_add_secret(r->tokens[i]);
	}
	r->n_tokens = n;
}

struct receiver *receiver_create(const struct receiver_options *o)
{
	struct receiver *r = xcalloc(1, sizeof(*r));
	r->path = xstrdup(o->path);
	keep_tokens(r, o->tokens, o->n_tokens);
	r->max_age_ms = o->max_age_ms;
	r->healthy = o->healthy;
	r->ud = o->ud;
	r->now_ms = o->now_ms ? o->now_ms : timeutil_now_ms;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->arrived, NULL);
	r->replay = webhook_replay_create();
	return r;
}

void receiver_set_tokens(struct receiver *r, const char *const *tokens, size_t n,
	int64_t max_age_ms)
{
	pthread_mutex_lock(&r->lock);
	forget_tokens(r);
	keep_tokens(r, tokens, n);
	r->max_age_ms = max_age_ms;
	pthread_mutex_unlock(&r->lock);
}

void receiver_destroy(struct receiver *r)
{
	if (!r) {
		return;
	}
	forget_tokens(r);
	receiver_ids_free(r->pending, r->n_pending);
	webhook_replay_destroy(r->replay);
	pthread_cond_destroy(&r->arrived);
	pthread_mutex_destroy(&r->lock);
	free(r->path);
	free(r);
}

/* Under the lock: adds id unless it is pending already. */
static void ask(struct receiver *r, const char *id)
{
	for (size_t i = 0; i < r->n_pending; i++) {
		if (strcmp(r->pending[i], id) == 0) {
			r->stats.coalesced++;
			return;
		}
	}
	if (r->n_pending == r->cap_pending) {
		r->cap_pending = r->cap_pending ? r->cap_pending * 2 : 16;
		r->pending = xrealloc(r->pending, r->cap_pending * sizeof(*r->pending));
	}
	r->pending[r->n_pending++] = xstrdup(id);
	pthread_cond_signal(&r->arrived);
}

static void reply(struct httpd_response *resp, int status, const char *text)
{
	resp->status = status;
	resp->body = xasprintf("%s\n", text);
}

static void delivery(struct receiver *r, const struct httpd_request *req,
	struct httpd_response *resp)
{
	struct webhook_delivery d;
	struct json_error err;
	err.text[0] = '\0';
	pthread_mutex_lock(&r->lock);
	const char *const *tokens = (const char *const *)r->tokens;
	enum webhook_verdict v = webhook_judge(req->body, req->body_len, tokens, r->n_tokens,
		r->replay, r->now_ms(), r->max_age_ms, &d, &err);
	const char *id = v == WEBHOOK_OK ? webhook_opportunity(&d) : NULL;
	if (id) {
		ask(r, id);
		r->stats.accepted++;
	} else if (v == WEBHOOK_OK) {
		r->stats.ignored++; // a test ping, or an event that asks nothing
	} else {
		r->stats.refused++;
	}
	pthread_mutex_unlock(&r->lock);
	static const char *const why[] = {
		[WEBHOOK_OK] = "ok",
		[WEBHOOK_MALFORMED] = "malformed delivery",
		[WEBHOOK_BAD_SIGNATURE] = "signature does not match any configured token",
		[WEBHOOK_STALE] = "triggeredAt is too old or too far ahead",
		[WEBHOOK_REPLAYED] = "delivery already received",
	};
	if (v != WEBHOOK_OK) {
		char *detail = log_sanitize(err.text);
		log_debug("webhook refused: %s%s%s", why[v], detail[0] ? ": " : "", detail);
		free(detail);
	} else {
		webhook_delivery_finish(&d);
	}
	reply(resp, webhook_http_status(v), why[v]);
}

void receiver_handle(void *ud, const struct httpd_request *req, struct httpd_response *resp)
{
	struct receiver *r = ud;
	if (strcmp(req->path, "/healthz") == 0 && strcmp(req->method, "GET") == 0) {
		bool ok = !r->healthy || r->healthy(r->ud);
		reply(resp, ok ? 200 : 503, ok ? "ok" : "the last poll did not succeed in time");
	} else if (strcmp(req->path, r->path) != 0) {
		reply(resp, 404, "not found");
	} else if (strcmp(req->method, "POST") != 0) {
		reply(resp, 405, "only POST is accepted here");
	} else {
		delivery(r, req, resp);
	}
}

void receiver_take(struct receiver *r, int timeout_ms, char ***ids, size_t *n)
{
	// pthread_cond_timedwait takes a real-time deadline.
	int64_t deadline = timeutil_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct timespec until = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
	pthread_mutex_lock(&r->lock);
	while (r->n_pending == 0 && timeout_ms > 0) {
		if (pthread_cond_timedwait(&r->arrived, &r->lock, &until) == ETIMEDOUT) {
			break;
		}
	}
	*ids = r->pending;
	*n = r->n_pending;
	r->pending = NULL;
	r->n_pending = r->cap_pending = 0;
	pthread_mutex_unlock(&r->lock);
}

void receiver_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ids[i]);
	}
	free(ids);
}

void receiver_stats(struct receiver *r, struct receiver_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}
