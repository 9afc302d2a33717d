#ifndef REFTY_LEVER_HTTP_H
#define REFTY_LEVER_HTTP_H

/*
 * The HTTP layer: the only module that knows libcurl. One client talks to one configured
 * origin over a kept-alive connection, retries transient failures, paces itself with an
 * optional shared rate limiter and refuses anything but GET in dry-run mode. It owns the
 * rules about URLs that everyone else calls: which hosts are loopback (the only ones plain
 * http may reach), how a base URL is normalised, how URLs are escaped and redacted for logs,
 * and when a request is retried. It never parses bodies and never judges a status for the
 * caller. It logs its own failures once (an unusable base URL, a request that got no answer)
 * and nothing about answers, whatever their status.
 *
 * The helpers that need no connection (status names, escaping, query building) live in
 * http-text.c. A client is not thread-safe (it owns one curl handle); use one client per thread. All
 * per-request state lives in the request and response structs, and the rate limiter may be
 * shared by any number of clients and threads.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xalloc.h"

struct http_client;
struct ratelimit;

/** Calls curl_global_init; once, from main, before any thread starts. */
/** libcurl's version, e.g. "libcurl/7.88.1 OpenSSL/3.0.15 zlib/1.2.13": for --version. */
const char *http_library_version(void);
bool http_global_init(void);
void http_global_cleanup(void);

enum http_auth {
	HTTP_AUTH_NONE,
	HTTP_AUTH_BASIC,  /* basic_user as user name, empty password */
	HTTP_AUTH_BEARER, /* token given per request: struct http_request.bearer */
};

/* The defaults of the options below, which the configuration's keys also start from. */
#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define HTTP_DEFAULT_TIMEOUT_MS 120000L
#define HTTP_DEFAULT_MAX_ATTEMPTS 6
#define HTTP_DEFAULT_MAX_RETRY_TIME 120.0

struct http_options {
	/** https://host[:port][/path]; http:// only for loopback hosts. Required. */
	const char *base_url;
	long connect_timeout_ms; /* 0: HTTP_DEFAULT_CONNECT_TIMEOUT_MS */
	long timeout_ms;         /* whole transfer; 0: HTTP_DEFAULT_TIMEOUT_MS */
	size_t max_response_size; /* 0: 16 MiB; a larger body is an error */
	int max_attempts;        /* 0: HTTP_DEFAULT_MAX_ATTEMPTS (1 means no retries) */
	double max_retry_time;   /* seconds spent on retries at most; 0: HTTP_DEFAULT_MAX_RETRY_TIME */
	/**
	 * The configuration group the timeouts come from ("lever"), or NULL: a request that
	 * timed out then names the keys that set its limits, for an operator to raise them.
	 */
	const char *settings_group;
	double backoff_base;     /* seconds before the first retry (full jitter); 0: 0.5 */
	double backoff_cap;      /* longest wait between attempts, Retry-After included; 0: 30 */
	struct ratelimit *limiter; /* optional, borrowed, may be shared */
	bool dry_run;            /* refuse every method but GET */
	enum http_auth auth;
	const char *basic_user;  /* HTTP_AUTH_BASIC; copied */
};

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method; /* NULL: GET */
	/**
	 * Path and query relative to the base URL ("/opportunities?limit=100"), or an absolute
	 * URL. Credentials are only ever sent to the base URL's origin: requests to another
	 * origin (an OAuth server) carry no Authorization header of ours.
	 */
	const char *path;
	const struct http_header *headers; /* extra headers, e.g. Content-Type, Idempotency-Key */
	size_t n_headers;
	const char *bearer;  /* HTTP_AUTH_BEARER: the access token for this request */
	const char *body;    /* NULL: none */
	size_t body_len;
	/**
	 * Retry this POST/PATCH on any transient failure, as if it were idempotent. Set it when
	 * the server deduplicates (an Idempotency-Key header does the same). Otherwise such
	 * requests are retried only when they certainly were not processed: connection failures
	 * and 429.
	 */
	bool idempotent;
};

/** Why http_request() returned false. */
enum http_error {
	HTTP_ERR_NONE,
	HTTP_ERR_TRANSPORT, /* connection, timeout, TLS ... after retries */
	HTTP_ERR_DRY_RUN,   /* refused: not a GET in dry-run mode */
	HTTP_ERR_TOO_LARGE, /* body above max_response_size */
	HTTP_ERR_REFUSED,   /* bad URL, plain http to a remote host, redirect to another origin */
	HTTP_ERR_INTERRUPTED, /* a stop was requested (signals.h); logged at debug level only */
};

struct http_response_header {
	char *name;
	char *value;
};

struct http_response {
	long status;
	struct strbuf body;  /* always NUL-terminated once http_request() returned true */
	long retry_after;    /* seconds from the final response's Retry-After, or -1 */
	struct http_response_header *headers; /* of the final response */
	size_t n_headers;
	int attempts;        /* requests sent, retries and followed redirects included */
	enum http_error error;
	char *error_text;    /* when false was returned: what was logged, for the caller to keep */
};

void http_response_init(struct http_response *resp);
void http_response_finish(struct http_response *resp);

/** Creates a client. Returns NULL (logged, naming the URL) for an unusable base URL. */
struct http_client *http_client_create(const struct http_options *opts);
void http_client_destroy(struct http_client *client);

/**
 * Sends req, retrying transient failures (connection errors, timeouts, 408, 429, 500, 502,
 * 503, 504) with exponential backoff and full jitter, honouring Retry-After, within the
 * attempt and time budgets. Each attempt first takes a token from the rate limiter.
 * Redirects are followed only within the same origin.
 *
 * Returns true with the final status and body (any status, including 4xx/5xx after the
 * retries ran out); returns false when no HTTP answer could be had: resp->error says why and
 * the failure has already been logged (do not log it again; add context if you have some).
 *
 * Stop requests (signals.h): once one is made, no attempt starts (nor any retry), and waits
 * for the rate limiter or between retries end early: HTTP_ERR_INTERRUPTED. A transfer on the
 * wire finishes, bounded by its timeouts, unless a second stop comes and the request may be
 * sent again (repeatable, below): then it is abandoned (HTTP_ERR_INTERRUPTED too). A request
 * that may not be sent twice (an OAuth token exchange, whose answer cannot be had again)
 * always runs to its end.
 * resp is reset first, so one response can be reused across calls.
 */
bool http_request(struct http_client *client, const struct http_request *req,
	struct http_response *resp);

/*
 * The retry decision, apart from the transfer so that it can be tested alone (curl's
 * retrycheck() is the model).
 */

/** How one attempt ended, as far as retrying is concerned. */
enum http_outcome {
	HTTP_OUTCOME_ANSWERED,  /* an HTTP answer came back: see its status */
	HTTP_OUTCOME_UNSENT,    /* transient, and the server never saw it: no resolve, no connect */
	HTTP_OUTCOME_TRANSIENT, /* transient, but the server may have acted: timeout, reset ... */
	HTTP_OUTCOME_FATAL,     /* a failure another attempt would not cure: TLS, bad URL ... */
};

struct http_attempt {
	enum http_outcome outcome;
	long status;      /* HTTP_OUTCOME_ANSWERED: the status */
	long retry_after; /* HTTP_OUTCOME_ANSWERED: seconds from Retry-After, or -1 */
	bool repeatable;  /* the request may be sent twice: idempotent method, idempotent flag,
	                   * or an Idempotency-Key header */
	int tries;        /* attempts made, this one included */
	double elapsed;   /* seconds since the first attempt began */
};

/** The budgets of http_options, defaults applied. */
struct http_retry_policy {
	int max_attempts;
	double max_retry_time;
	double backoff_base;
	double backoff_cap;
};

/**
 * Whether to try again after attempt a, and after how long (*wait, seconds; 0 when not).
 * Retried: UNSENT always; TRANSIENT and the statuses 408, 500, 502, 503, 504 when the request
 * is repeatable; 429 always. The wait is backoff_base doubled per attempt, capped at
 * backoff_cap, times jitter (full jitter: uniform in [0, 1)); a Retry-After replaces it, capped
 * at backoff_cap too. No retry once max_attempts are made or when the wait would end beyond
 * max_retry_time. Pure: no clock, no randomness of its own, no logging.
 */
bool http_retry_check(const struct http_retry_policy *p, const struct http_attempt *a,
	double jitter, double *wait);

/** The value of a header of the final response (case-insensitive name), or NULL. */
const char *http_response_header(const struct http_response *resp, const char *name);

/** The status with its reason phrase, e.g. "404 Not Found". Static storage. */
const char *http_status_text(long status);

/*
 * URL and form encoding.
 */

/**
 * A copy of url without its trailing slashes, the one form in which base URLs are kept, so
 * that "base + /path" never doubles a slash. Caller frees.
 */
char *http_url_normalize(const char *url);

/** Percent-encodes s (everything but RFC 3986 unreserved characters). Caller frees. */
char *http_url_escape(const char *s);
/** Decodes %XX escapes and, when plus_is_space, '+'. Returns NULL for a malformed escape. */
char *http_url_unescape(const char *s, size_t len, bool plus_is_space);
/** Appends "?key=value" or "&key=value" to a URL, value escaped. */
void http_query_add(struct strbuf *url, const char *key, const char *value);
void http_query_add_int64(struct strbuf *url, const char *key, int64_t value);
/** Appends "key=value" to an application/x-www-form-urlencoded body, '&'-separated. */
void http_form_add(struct strbuf *form, const char *key, const char *value);

/**
 * Writes a copy of url fit for logs into a new string: the values of query parameters that may
 * carry secrets (code, state, tokens, secrets, passwords) are replaced by "[redacted]".
 */
char *http_url_for_log(const char *url);

/** True for loopback host names: localhost, 127.0.0.0/8, ::1 (with or without brackets). */
bool http_host_is_loopback(const char *host);

/**
 * True when url parses and its host is a loopback one (http_host_is_loopback): the one test
 * of "plain http only to this machine", for the client and for the configuration alike.
 */
bool http_url_is_loopback(const char *url);

/**
 * Splits a server's listen address "ADDR:PORT" ("127.0.0.1:8722", "[::1]:8722",
 * "0.0.0.0:0") into a new *addr and *port (0..65535). False (nothing allocated) when it is
 * not that; an IPv6 address needs its brackets.
 */
bool http_parse_listen(const char *text, char **addr, int *port);

#endif
