#ifndef REFTY_LEVER_REFTY_H
#define REFTY_LEVER_REFTY_H

/*
 * The Refty client: the only module that knows Refty's API (paths, bodies, error codes), so
 * that a different Refty API replaces this file alone. It never touches the journal or the
 * snapshot and never decides what to retry later: it says what happened, in refty_result.
 *
 * Who logs: the client. Every failure is logged once before a function returns false (here,
 * or by the HTTP layer for a request that got no answer), and res->message repeats that line
 * for the journal and for summaries. Callers never log res->message again; they add a line
 * only with context of their own (which record, what they do next).
 */

#include <stdbool.h>
#include <stddef.h>

#include "xalloc.h"

struct catalog;
struct contact;
struct json_error;
struct json_object;
struct ratelimit;

struct refty_options {
	const char *url;     /* e.g. https://api.refty.co/v1 */
	const char *api_key; /* sent as a Bearer token; registered for redaction */
	const char *key_source; /* where the key was set, for a refusal's message; may be NULL */
	bool dry_run;        /* GET only */
	/* Limits, as in struct http_options; 0 keeps the HTTP layer's defaults. */
	long connect_timeout_ms;
	long timeout_ms;
	int max_attempts;
	double max_retry_time;
	const char *settings_group; /* the configuration group they come from, for messages */
};

/** How an operation ended, in the terms the journal needs. */
enum refty_status {
	REFTY_OK,
	REFTY_ERR_AUTH,      /* 401/403: stop the run (exit 3); nothing lost */
	REFTY_ERR_TRANSIENT, /* unreachable, 409 in progress, 429, 5xx after retries: retry later */
	REFTY_ERR_PERMANENT, /* 400, 404, 422: record as failed with the code */
	REFTY_ERR_DRY_RUN,   /* refused: would change something */
	REFTY_ERR_INTERRUPTED, /* not sent, or cut short: a stop was requested (signals.h) */
};

struct refty_result {
	enum refty_status status;
	long http_status; /* 0 when no answer */
	char *code;       /* Refty's error code, e.g. "missing_email"; may be NULL */
	char *message;    /* the line already logged, for the journal: never NULL after a call */
	bool replayed;    /* Idempotent-Replayed: true */
};

void refty_result_init(struct refty_result *r);
void refty_result_finish(struct refty_result *r);

struct refty_client;

struct refty_client *refty_client_create(const struct refty_options *opts);
void refty_client_destroy(struct refty_client *c);

/** Fills cat's sequences (and their stages) from GET /sequences, all pages. */
bool refty_list_sequences(struct refty_client *c, struct catalog *cat, struct refty_result *res);

/** The languages Refty writes in; *langs is a new array of new strings. */
bool refty_list_languages(struct refty_client *c, char ***langs, size_t *n_langs,
	struct refty_result *res);

/** What a candidate is created with. Strings may be NULL where noted. */
struct refty_candidate_input {
	const char *opportunity_id; /* external_id is lever:<opportunity id> */
	const char *sequence_id;
	const char *language;
	const struct contact *contact; /* a NULL name is sent as "" */
	const char *posting_id;
	const char *posting_title;
	const char *profile_url; /* NULL: none */
};

/**
 * The JSON body of POST /candidates for in. The journal stores it with the
 * intent, so that every retry under one idempotency key sends the very same
 * body. Caller frees.
 */
char *refty_candidate_body(const struct refty_candidate_input *in);

/**
 * The same create body with another language, or NULL (logged) when body is
 * not one refty_candidate_body made. For a failed create re-queued after the
 * rule was fixed: Refty keeps only successful answers under a key, so a new
 * body under the same key is accepted. Caller frees.
 */
char *refty_candidate_body_relanguage(const char *body, const char *language);

/** POST /candidates with key; *candidate_id (new string) on success. */
bool refty_create_candidate(struct refty_client *c, const char *key, const char *body,
	char **candidate_id, struct refty_result *res);

/** PATCH /candidates/{id} with the contact details (NULL email/phone send null). */
bool refty_update_candidate(struct refty_client *c, const char *candidate_id,
	const struct contact *contact, struct refty_result *res);

/** POST /candidates/{id}/steps with key; *step_id (new string) on success. */
bool refty_send_step(struct refty_client *c, const char *candidate_id, const char *key,
	const char *stage_id, const char *language, char **step_id, struct refty_result *res);

/*
 * Reading Refty's answers, the part of the client that sees what Refty sent and nothing
 * else: the client calls these on every answer, and tests and fuzzing reach them without a
 * server. Each takes a document from json_parse() (still the caller's to free) and fills
 * err on failure; nothing is logged.
 */

/**
 * Adds one page of GET /sequences to cat. *next_cursor (borrowed from root) is the next
 * page's cursor, or NULL or "" on the last one. On failure cat may hold part of the page.
 */
bool refty_parse_sequences(struct json_object *root, struct catalog *cat,
	const char **next_cursor, struct json_error *err);

/** The answer to GET /languages; *langs is a new array of new strings, NULL on failure. */
bool refty_parse_languages(struct json_object *root, char ***langs, size_t *n_langs,
	struct json_error *err);

/** data.id of the answer to a create or a step; *id is a new string, NULL on failure. */
bool refty_parse_id(struct json_object *root, char **id, struct json_error *err);

/**
 * The journal's line for an error answer of status http_status with body[0..len):
 * "<what>: Refty answered <status> <code>: <message> (field <field>)", from Refty's
 * {"error": {...}} when the body has one, the status alone for anything else (a proxy's
 * HTML page, say). Remote text is sanitised. *code is Refty's error code (new string) or
 * NULL. Caller frees the line.
 */
char *refty_error_text(const char *what, long http_status, const char *body, size_t len,
	char **code);

#endif
