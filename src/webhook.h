#ifndef REFTY_LEVER_WEBHOOK_H
#define REFTY_LEVER_WEBHOOK_H

/*
 * Lever's webhook deliveries, judged: the envelope read, its signature checked against the
 * configured signature tokens (hex(HMAC-SHA256(token, token field + triggeredAt)), compared in
 * constant time), its age, and replays; and what a valid delivery asks of the sync: a fresh
 * look at one opportunity, or nothing. A delivery is only ever a hint, so nothing here
 * decides what is sent. Pure but for the HMAC (hmac.h): no I/O, no logging, no clock (the
 * caller passes the time); the receiver answers and logs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_error;

/** The largest body a delivery may have; a larger one is refused unread (413). */
#define WEBHOOK_MAX_BODY (64 * 1024)
/** How far in the future a delivery's triggeredAt may be (clocks drift). */
#define WEBHOOK_MAX_SKEW_MS (60 * 1000)

enum webhook_verdict {
	WEBHOOK_OK,            /* 200 */
	WEBHOOK_MALFORMED,     /* 400: not JSON, or no token, triggeredAt or signature */
	WEBHOOK_BAD_SIGNATURE, /* 401: signed by none of the configured tokens */
	WEBHOOK_STALE,         /* 401: triggeredAt older than max_age, or too far ahead */
	WEBHOOK_REPLAYED,      /* 401: its token was already seen within max_age */
};

struct webhook_delivery {
	char *event;          /* NULL when absent */
	char *token;          /* the delivery's random token (not a signature token) */
	char *signature;
	int64_t triggered_at; /* ms */
	char *opportunity_id; /* data.opportunityId (or its legacy alias candidateId); may be NULL */
};

void webhook_delivery_finish(struct webhook_delivery *d);

/**
 * Reads a delivery's envelope. False with err filled when it is not a JSON object carrying
 * the string token, the integer triggeredAt and the string signature. data may be missing or
 * empty ({}: Lever's test ping).
 */
bool webhook_parse(const char *body, size_t len, struct webhook_delivery *out,
	struct json_error *err);

/** Whether one of the n signature tokens signed d. */
bool webhook_signed_by(const struct webhook_delivery *d, const char *const *tokens, size_t n);

/** The tokens of the deliveries accepted within max_age, to refuse them a second time. */
struct webhook_replay;
struct webhook_replay *webhook_replay_create(void);
void webhook_replay_destroy(struct webhook_replay *r);
/** Remembers token until now_ms + max_age_ms; false when it is remembered already. */
bool webhook_replay_add(struct webhook_replay *r, const char *token, int64_t now_ms,
	int64_t max_age_ms);

/**
 * Judges a body as the receiver must: parsed, signed by one of the tokens, fresh (triggeredAt
 * within max_age_ms before now_ms and at most WEBHOOK_MAX_SKEW_MS after it), and not a replay
 * (its token is remembered only once all else holds). On WEBHOOK_OK, out holds the delivery
 * (finish it); otherwise out is left empty. err, when not NULL, says why a body is malformed.
 */
enum webhook_verdict webhook_judge(const char *body, size_t len, const char *const *tokens,
	size_t n_tokens, struct webhook_replay *replay, int64_t now_ms, int64_t max_age_ms,
	struct webhook_delivery *out, struct json_error *err);

/** The HTTP status a verdict is answered with. */
int webhook_http_status(enum webhook_verdict v);

/**
 * The opportunity a valid delivery asks to look at again: for candidateStageChange,
 * applicationCreated, candidateArchiveChange and candidateDeleted with an opportunity id;
 * NULL for anything else (Lever's test ping, events refty-lever does not act on). Borrowed.
 */
const char *webhook_opportunity(const struct webhook_delivery *d);

#endif
