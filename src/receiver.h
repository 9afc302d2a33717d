#ifndef REFTY_LEVER_RECEIVER_H
#define REFTY_LEVER_RECEIVER_H

/*
 * What serve's HTTP server answers: Lever's webhook deliveries on one path (only POST, each
 * judged by webhook.c), GET /healthz, and 404 or 405 for anything else; and the opportunities
 * valid deliveries asked about, kept as a set until the sync loop takes them, so that a burst
 * of deliveries for one opportunity is one look. A delivery is only ever a hint: the sync
 * loop fetches the opportunity and puts it through the same diff, plan and journal as a
 * poll, so a duplicate, late or forged-but-valid delivery can do nothing twice. It never
 * talks to Lever or the state itself; it logs each refused delivery once, at debug level
 * (refusals are the sender's business, and a flood must not flood the log).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "httpd.h"

struct receiver_options {
	const char *path;            /* "/lever/webhook" */
	const char *const *tokens;   /* signature tokens, one per webhook; copied */
	size_t n_tokens;
	int64_t max_age_ms;          /* deliveries older than this are refused */
	/* GET /healthz: 200 when it returns true, else 503. NULL: always 200. */
	bool (*healthy)(void *ud);
	void *ud;
	int64_t (*now_ms)(void);     /* NULL: the real clock (tests pass their own) */
};

struct receiver;

struct receiver *receiver_create(const struct receiver_options *opts);
void receiver_destroy(struct receiver *r);

/** Replaces the signature tokens and max_age (a reload), for the deliveries from now on. */
void receiver_set_tokens(struct receiver *r, const char *const *tokens, size_t n,
	int64_t max_age_ms);

/** The httpd handler; ud is the receiver. */
void receiver_handle(void *ud, const struct httpd_request *req, struct httpd_response *resp);

/**
 * Takes every opportunity id asked about since the last take (each once, in the order first
 * asked), waiting up to timeout_ms for one to arrive. *ids is a new array of new strings
 * (free with receiver_ids_free); *n is 0 when the wait ended with none.
 */
void receiver_take(struct receiver *r, int timeout_ms, char ***ids, size_t *n);
void receiver_ids_free(char **ids, size_t n);

/** Counts since creation, for the log and for tests. */
struct receiver_stats {
	uint64_t accepted, ignored, refused, coalesced;
};
void receiver_stats(struct receiver *r, struct receiver_stats *out);

#endif
