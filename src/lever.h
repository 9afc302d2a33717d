#ifndef REFTY_LEVER_LEVER_H
#define REFTY_LEVER_LEVER_H

/*
 * The Lever Data API client: authentication (API key or OAuth with refresh-token rotation),
 * paging with opaque offset tokens, and validated parsing into plain structs (each kind of
 * record and the page parser are lever-records.c's, private to the client). Lists stream:
 * each record is handed to a callback while only one page is held in memory. It owns Lever's
 * defaults (URLs, page size). It never knows libcurl (http.h does) nor where tokens are
 * stored (the caller's token store does); each failure is logged once, here or by the HTTP
 * layer, and callers add context only.
 *
 * One client may be used from several threads at once (it keeps one HTTP connection per
 * concurrent caller and serialises token refreshes), so a backfill can run several listings
 * in parallel through it under one rate limit.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opportunity.h"

struct json_error;
struct ratelimit;

/** Lever's API and OAuth server, used when the configuration names none. */
#define LEVER_DEFAULT_URL "https://api.lever.co/v1"
#define LEVER_DEFAULT_AUTH_URL "https://auth.lever.co"

/** Records per page the client asks for: Lever's largest limit, and the default. */
#define LEVER_PAGE_SIZE 100

/** Outcome of a Lever operation; the caller maps it to an exit status. */
enum lever_status {
	LEVER_OK,
	LEVER_ERR_AUTH,      /* 401/403 (after one refresh), no stored tokens, refused grant */
	LEVER_ERR_REMOTE,    /* unreachable, 5xx/429 after retries, other 4xx */
	LEVER_ERR_DATA,      /* a malformed answer */
	LEVER_ERR_DRY_RUN,   /* would have to change something (a POST, a token refresh) */
	LEVER_ERR_CANCELLED, /* a callback returned false */
	LEVER_ERR_LOCAL,     /* the token store failed */
	LEVER_ERR_NOT_FOUND, /* lever_get_opportunity: Lever has no such opportunity (404) */
	LEVER_ERR_INTERRUPTED, /* a stop was requested (signals.h); not logged */
};

/** "ok", "authentication error", ... for summaries. */
const char *lever_status_text(enum lever_status status);

enum lever_auth {
	LEVER_AUTH_API_KEY,
	LEVER_AUTH_OAUTH,
};

/**
 * An OAuth token pair and what is known about it. Strings are owned by the struct; any may be
 * NULL. The one struct for tokens wherever they are read or stored.
 */
struct lever_tokens {
	char *access_token;
	char *refresh_token;
	int64_t expires_at; /* ms since the epoch */
	char *account;      /* Lever account id, when known */
	char *scope;
	int64_t updated_at; /* ms since the epoch the store last wrote the pair; 0 if unknown */
};

/** Wipes the tokens (they are secrets) and frees the strings; leaves t zeroed. */
void lever_tokens_finish(struct lever_tokens *t);

/**
 * Persistent storage for the tokens, provided by the caller. Every callback logs its own
 * failures; the client adds a line only to say what it then could not do. Calls are
 * serialised within the process by the client, but may come from any thread that uses it.
 */
struct lever_token_store {
	/**
	 * Fills out (zeroed on entry) with newly allocated strings, which the client frees.
	 * Returns true with out->refresh_token and out->access_token NULL when nothing is stored;
	 * false on a storage error.
	 */
	bool (*load)(void *ud, struct lever_tokens *out);
	/**
	 * Stores tokens durably, replacing the previous pair. The client uses a refreshed access
	 * token only after this returned true, because Lever invalidates the old refresh token
	 * as soon as it hands out a new one. Returns false on failure.
	 */
	bool (*save)(void *ud, const struct lever_tokens *tokens);
	/**
	 * Optional, both or neither: exclusive use of the stored pair among every process that
	 * shares it. The client holds it around a refresh (load, which may find that another
	 * process rotated the pair already; the refresh at Lever only if not; save) and around
	 * saving a login, so that each refresh token is presented to Lever once. lock may wait,
	 * but for a bounded time; it returns false on failure.
	 */
	bool (*lock)(void *ud);
	void (*unlock)(void *ud);
	void *ud;
};

struct lever_options {
	const char *url;            /* NULL: LEVER_DEFAULT_URL */
	enum lever_auth auth;
	const char *api_key;        /* LEVER_AUTH_API_KEY */
	const char *key_source;     /* where the API key was set, for a refusal's message */
	/* LEVER_AUTH_OAUTH */
	const char *client_id;
	const char *client_secret;
	const char *auth_url;       /* NULL: LEVER_DEFAULT_AUTH_URL */
	struct lever_token_store token_store;
	bool confidential;          /* list confidential records too (confidentiality=all) */
	bool webhooks;              /* OAuth login: ask to manage webhooks too (webhooks register) */
	double requests_per_second; /* <= 0: unlimited; ignored when limiter is set */
	int burst;
	bool dry_run;               /* GET only; a token refresh is refused too */
	struct ratelimit *limiter;  /* shared and borrowed; NULL: the client makes its own */
	/* Tuning, mostly for tests; 0 keeps the HTTP layer's defaults. */
	long connect_timeout_ms;
	long timeout_ms;
	int max_attempts;
	double max_retry_time;
	double backoff_base;
	double backoff_cap;
	const char *settings_group; /* the limits' configuration group, for messages;
	                              * borrowed for the client's life */
	int page_size;              /* 1 to LEVER_PAGE_SIZE; otherwise LEVER_PAGE_SIZE */
	int max_pages;              /* per chain of pages; 0: 100000 (10 million records) */
};

struct lever_client;

/**
 * Creates a client. Strings are copied; the secrets are registered with log_add_secret().
 * Returns NULL (logged) for unusable options: a bad URL, missing credentials.
 */
struct lever_client *lever_client_create(const struct lever_options *opts);
void lever_client_destroy(struct lever_client *c);

/** Counters since creation, for summaries and tests. */
struct lever_stats {
	uint64_t requests;  /* HTTP requests sent, retries included */
	uint64_t pages;     /* list pages parsed */
	uint64_t restarts;  /* listings restarted after a rejected offset token */
	uint64_t refreshes; /* access tokens refreshed */
};

void lever_client_stats(struct lever_client *c, struct lever_stats *out);

enum lever_archived_filter {
	LEVER_ARCHIVED_ANY,
	LEVER_ARCHIVED_ONLY,
	LEVER_ARCHIVED_NONE, /* active opportunities only */
};

/** Filters for GET /opportunities. Times are ms since the epoch, inclusive; 0 = unset. */
struct lever_opportunity_query {
	int64_t updated_at_start;
	int64_t updated_at_end;
	int64_t created_at_start;
	int64_t created_at_end;
	const char *const *posting_ids;
	size_t n_posting_ids;
	enum lever_archived_filter archived;
};

/*
 * Listings. Each record is passed to cb exactly once per call, borrowed for the duration of
 * the call only; cb returns false to stop, which yields LEVER_ERR_CANCELLED. A page is
 * delivered only once all of it has been validated. If Lever rejects an offset token the
 * listing starts again from the first page and records already delivered are not delivered
 * again. Nothing is assumed about the order of a listing. A listing that cannot end or
 * cannot be what was asked for stops with LEVER_ERR_DATA: an offset token that repeats (a
 * cycle), a page that says more follow but brings nothing new, a record outside the query's
 * filter (created_at_*, archived, posting_id; deleted_at_* for deleted ones), or a chain
 * longer than max_pages. Failures are logged (once) before returning.
 *
 * Once a stop is requested (signals.h) no further page is asked for: the listing ends with
 * LEVER_ERR_INTERRUPTED after the pages it had, each delivered whole or not at all.
 */

/** A record Lever sent that cannot be read: a wrong type, a NUL character, invalid UTF-8. */
struct lever_unreadable {
	const char *id;     /* the record's id as Lever sent it (printable, at most 200 bytes) */
	const char *reason; /* the field and what is wrong with it */
};

/** Where opportunities go. Callbacks may come from any thread that lists. */
struct lever_opportunity_sink {
	bool (*record)(void *ud, const struct opportunity *o);
	/**
	 * Optional. A record that cannot be read but carries a readable id is handed here (and
	 * not logged) instead of failing the whole listing; false stops the listing as record's
	 * false does. NULL: such a record fails the listing with LEVER_ERR_DATA.
	 */
	bool (*unreadable)(void *ud, const struct lever_unreadable *u);
	void *ud;
};

/** GET /opportunities?expand=applications with the query's filters (q may be NULL). */
enum lever_status lever_list_opportunities(struct lever_client *c,
	const struct lever_opportunity_query *q, const struct lever_opportunity_sink *sink);

/**
 * GET /opportunities/:id?expand=applications: the one opportunity goes to sink->record, or,
 * when it cannot be read, to sink->unreadable (if set). LEVER_ERR_NOT_FOUND (not logged) when
 * Lever answers 404; other failures are logged.
 */
enum lever_status lever_get_opportunity(struct lever_client *c, const char *id,
	const struct lever_opportunity_sink *sink);

/** GET /opportunities/deleted, deleted_at_start/_end in ms (0 = unset). */
enum lever_status lever_list_deleted(struct lever_client *c, int64_t deleted_at_start,
	int64_t deleted_at_end, bool (*cb)(void *ud, const struct deleted_opportunity *d),
	void *ud);

struct lever_stage {
	const char *id;
	const char *text;
};

/** GET /stages, in Lever's order. */
enum lever_status lever_list_stages(struct lever_client *c,
	bool (*cb)(void *ud, const struct lever_stage *s), void *ud);

struct lever_posting {
	const char *id;
	const char *text;  /* the job title */
	const char *state; /* published, internal, closed, ...; may be NULL */
};

/** GET /postings, every state. */
enum lever_status lever_list_postings(struct lever_client *c,
	bool (*cb)(void *ud, const struct lever_posting *p), void *ud);

/*
 * Webhooks: what 'webhooks register' sets up. The signature tokens are secrets: every one the
 * client sees is registered with log_add_secret(), and no body is ever logged.
 */

/** A webhook as Lever describes it; the strings are borrowed for the callback or the call. */
struct lever_webhook {
	const char *id;
	const char *event;           /* candidateStageChange, ... */
	const char *url;             /* where Lever delivers it */
	const char *signature_token; /* configuration.signatureToken; NULL when not sent */
};

/** GET /webhooks, every page. */
enum lever_status lever_list_webhooks(struct lever_client *c,
	bool (*cb)(void *ud, const struct lever_webhook *w), void *ud);

/**
 * POST /webhooks {"event", "url"}; cb receives the created webhook (its signature token, which
 * only this answer is documented to carry, must be there). Sent once: a request that may have
 * reached Lever without an answer is not repeated (it would create a second webhook), and
 * LEVER_ERR_REMOTE is then logged with what to do. Refused in a dry run (LEVER_ERR_DRY_RUN).
 */
enum lever_status lever_create_webhook(struct lever_client *c, const char *event, const char *url,
	void (*cb)(void *ud, const struct lever_webhook *w), void *ud);

/** DELETE /webhooks/:id. LEVER_ERR_NOT_FOUND (not logged) when Lever has no such webhook. */
enum lever_status lever_delete_webhook(struct lever_client *c, const char *id);

/*
 * OAuth login (see oauth.h for the receiver and the pieces in between).
 */

/**
 * The scopes we ask for: read access to opportunities, stages and postings, offline; with
 * confidential, confidential:access:admin; with webhooks, webhooks:write:admin (which
 * implies reading them), for 'webhooks register', asked only of those who configure
 * webhooks. New string.
 */
char *lever_oauth_scope(bool confidential, bool webhooks);

/** The authorize URL for opts (auth_url, client_id, url as audience). Caller frees. */
char *lever_oauth_authorize_url(const struct lever_options *opts, const char *redirect_uri,
	const char *state);

/**
 * Exchanges an authorization code for tokens and saves them in the token store (which the
 * client uses from then on). Logged on failure.
 */
enum lever_status lever_oauth_exchange(struct lever_client *c, const char *code,
	const char *redirect_uri);

/*
 * Parsing, exposed for tests and for callers holding a Lever document of their own.
 */

/**
 * Parses one page of GET /opportunities (a list body) and calls cb for each opportunity once
 * the whole page is valid. *next receives the offset token of the next page (caller frees) or
 * NULL on the last page. Returns LEVER_OK, LEVER_ERR_CANCELLED, or LEVER_ERR_DATA with err
 * describing the problem by its JSON path; nothing is logged.
 */
enum lever_status lever_parse_opportunities(const char *body, size_t len,
	bool (*cb)(void *ud, const struct opportunity *o), void *ud, char **next,
	struct json_error *err);

/** The listings lever_parse_list_page reads, each as its lever_list_* function does. */
enum lever_listing {
	LEVER_LISTING_OPPORTUNITIES,
	LEVER_LISTING_DELETED,
	LEVER_LISTING_STAGES,
	LEVER_LISTING_POSTINGS,
	LEVER_LISTING_WEBHOOKS,
};

/** What lever_parse_list_page found on a page. */
struct lever_page_summary {
	size_t records;    /* records read cleanly */
	size_t unreadable; /* records quarantined (only with quarantine) */
	char *next;        /* the next page's offset token, NULL on the last page; caller frees */
};

/**
 * Parses one page of a listing exactly as the client does before it delivers anything, with
 * unreadable records quarantined when quarantine is true (as for a sink that has an
 * unreadable callback). It delivers nothing: it is for tests and fuzzing, which must reach
 * the parser the client runs on every page. Returns false with err filled for a page the
 * client calls malformed; nothing is logged.
 */
bool lever_parse_list_page(enum lever_listing listing, const char *body, size_t len,
	bool quarantine, struct lever_page_summary *out, struct json_error *err);

/**
 * Reads an answer to GET /opportunities/:id as lever_get_opportunity does: true with the
 * record in o when it is opportunity id. Otherwise false with err filled and *malformed set
 * when the body is not JSON at all (rather than an unreadable or different record). o is
 * zeroed first and always needs opportunity_finish; nothing is logged.
 */
bool lever_parse_opportunity_answer(const char *body, size_t len, const char *id,
	struct opportunity *o, bool *malformed, struct json_error *err);

#endif
