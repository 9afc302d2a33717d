#include "webhook.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "json.h"
#include "xalloc.h"

void webhook_delivery_finish(struct webhook_delivery *d)
{
	free(d->event);
	free(d->token);
	free(d->signature);
	free(d->opportunity_id);
	memset(d, 0, sizeof(*d));
}

bool webhook_parse(const char *body, size_t len, struct webhook_delivery *out,
	struct json_error *err)
{
	memset(out, 0, sizeof(*out));
	struct json_object *root = json_parse(body, len, err);
	if (!root) {
		return false;
	}
	struct json_node top, data;
	json_root(&top, root);
	const char *event = NULL, *token = NULL, *signature = NULL, *opp = NULL, *legacy = NULL;
	bool has_data = false;
	bool ok = json_expect_object(&top, err) && json_req_string(&top, "token", &token, err) &&
		  json_req_int64(&top, "triggeredAt", &out->triggered_at, err) &&
		  json_req_string(&top, "signature", &signature, err) &&
		  json_opt_string(&top, "event", &event, err) &&
		  json_opt_object(&top, "data", &data, &has_data, err);
	if (ok && has_data) {
		ok = json_opt_string(&data, "opportunityId", &opp, err) &&
		     json_opt_string(&data, "candidateId", &legacy, err);
	}
	if (ok) {
		out->event = xstrdup(event);
		out->token = xstrdup(token);
		out->signature = xstrdup(signature);
		out->opportunity_id = xstrdup(opp && opp[0] ? opp : legacy && legacy[0] ? legacy : NULL);
	}
	json_free(root);
	return ok;
}

bool webhook_signed_by(const struct webhook_delivery *d, const char *const *tokens, size_t n)
{
	if (strlen(d->signature) != HMAC_SHA256_HEX_LEN) {
		return false;
	}
	char want[HMAC_SHA256_HEX_LEN + 1];
	// Lowercase hex is what Lever sends; an uppercase signature is the same bytes.
	for (size_t i = 0; i < HMAC_SHA256_HEX_LEN; i++) {
		char c = d->signature[i];
		want[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
	}
	want[HMAC_SHA256_HEX_LEN] = '\0';
	char *message = xasprintf("%s%" PRId64, d->token, d->triggered_at);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		char mac[HMAC_SHA256_HEX_LEN + 1];
		// Every token is tried, so the time taken does not tell which one matched.
		if (hmac_sha256_hex(tokens[i], strlen(tokens[i]), message, strlen(message), mac) &&
			hmac_equal(mac, want, HMAC_SHA256_HEX_LEN)) {
			found = true;
		}
	}
	free(message);
	return found;
}

struct seen {
	char *token;
	int64_t until_ms;
};

struct webhook_replay {
	struct seen *v;
	size_t n, cap;
};

struct webhook_replay *webhook_replay_create(void)
{
	return xcalloc(1, sizeof(struct webhook_replay));
}

void webhook_replay_destroy(struct webhook_replay *r)
{
	if (!r) {
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].token);
	}
	free(r->v);
	free(r);
}

bool webhook_replay_add(struct webhook_replay *r, const char *token, int64_t now_ms,
	int64_t max_age_ms)
{
	// Deliveries come a few a second at most; what ages out goes at each look.
	size_t kept = 0;
	bool seen = false;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].until_ms < now_ms) {
			free(r->v[i].token);
			continue;
		}
		seen = seen || strcmp(r->v[i].token, token) == 0;
		r->v[kept++] = r->v[i];
	}
	r->n = kept;
	if (seen) {
		return false;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	r->v[r->n++] = (struct seen){xstrdup(token), now_ms + max_age_ms};
	return true;
}

enum webhook_verdict webhook_judge(const char *body, size_t len, const char *const *tokens,
	size_t n_tokens, struct webhook_replay *replay, int64_t now_ms, int64_t max_age_ms,
	struct webhook_delivery *out, struct json_error *err)
{
	struct json_error ignored;
	if (!webhook_parse(body, len, out, err ? err : &ignored)) {
		return WEBHOOK_MALFORMED;
	}
	enum webhook_verdict v = WEBHOOK_OK;
	if (!webhook_signed_by(out, tokens, n_tokens)) {
		v = WEBHOOK_BAD_SIGNATURE;
	} else if (out->triggered_at < now_ms - max_age_ms ||
		   out->triggered_at > now_ms + WEBHOOK_MAX_SKEW_MS) {
		v = WEBHOOK_STALE;
	} else if (!webhook_replay_add(replay, out->token, now_ms, max_age_ms)) {
		v = WEBHOOK_REPLAYED;
	}
	if (v != WEBHOOK_OK) {
		webhook_delivery_finish(out);
	}
	return v;
}

int webhook_http_status(enum webhook_verdict v)
{
	switch (v) {
	case WEBHOOK_OK:
		return 200;
	case WEBHOOK_MALFORMED:
		return 400;
	case WEBHOOK_BAD_SIGNATURE:
	case WEBHOOK_STALE:
	case WEBHOOK_REPLAYED:
		break;
	}
	return 401;
}

const char *webhook_opportunity(const struct webhook_delivery *d)
{
	static const char *const events[] = {"candidateStageChange", "applicationCreated",
		"candidateArchiveChange", "candidateDeleted"};
	for (size_t i = 0; d->event && i < sizeof(events) / sizeof(events[0]); i++) {
		if (strcmp(d->event, events[i]) == 0) {
			return d->opportunity_id;
		}
	}
	return NULL;
}
