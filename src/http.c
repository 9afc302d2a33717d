#define LOG_MODULE "http"

#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "ratelimit.h"
#include "signals.h"
#include "timeutil.h"

#define DEFAULT_CONNECT_TIMEOUT_MS HTTP_DEFAULT_CONNECT_TIMEOUT_MS
#define DEFAULT_TIMEOUT_MS HTTP_DEFAULT_TIMEOUT_MS
#define DEFAULT_MAX_RESPONSE (16u * 1024 * 1024)
#define DEFAULT_MAX_ATTEMPTS HTTP_DEFAULT_MAX_ATTEMPTS
#define DEFAULT_MAX_RETRY_TIME HTTP_DEFAULT_MAX_RETRY_TIME
#define DEFAULT_BACKOFF_BASE 0.5
#define DEFAULT_BACKOFF_CAP 30.0
#define MAX_REDIRECTS 5

struct http_client {
	CURL *curl;
	char *base_url; /* without a trailing slash */
	char *origin;   /* scheme://host:port, lowercase */
	char *basic_header; /* "Authorization: Basic ..." or NULL */
	enum http_auth auth;
	long connect_timeout_ms;
	long timeout_ms;
	char *settings_group; /* NULL or the configuration group of the limits, for messages */
	size_t max_response_size;
	struct http_retry_policy retry;
	struct ratelimit *limiter;
	bool dry_run;
	uint64_t rng;
	char errbuf[CURL_ERROR_SIZE];
};

/* What the curl callbacks write into during one attempt. */
struct transfer {
	struct http_response *resp;
	size_t max;
	bool too_large;
	bool abortable; /* a second stop signal may abandon it: it can be sent again */
};

const char *http_library_version(void)
{
	return curl_version();
}

bool http_global_init(void)
{
	CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK) {
		log_error("cannot initialise libcurl: %s", curl_easy_strerror(cc));
		return false;
	}
	return true;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

void http_response_init(struct http_response *resp)
{
	resp->status = 0;
	strbuf_init(&resp->body);
	resp->retry_after = -1;
	resp->headers = NULL;
	resp->n_headers = 0;
	resp->attempts = 0;
	resp->error = HTTP_ERR_NONE;
	resp->error_text = NULL;
}

static void clear_headers(struct http_response *resp)
{
	for (size_t i = 0; i < resp->n_headers; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	resp->headers = NULL;
	resp->n_headers = 0;
}

void http_response_finish(struct http_response *resp)
{
	strbuf_finish(&resp->body);
	clear_headers(resp);
	free(resp->error_text);
	http_response_init(resp);
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0) {
			return resp->headers[i].value;
		}
	}
	return NULL;
}

/* The URL up to its query, for error messages: offset tokens and the like only add noise. */
static char *url_without_query(const char *url)
{
	return xstrndup(url, strcspn(url, "?#"));
}

bool http_host_is_loopback(const char *host)
{
	char buf[64];
	size_t len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf)) {
		return false;
	}
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (strcasecmp(buf, "localhost") == 0) {
		return true;
	}
	struct in_addr a4;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		return (ntohl(a4.s_addr) >> 24) == 127;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, buf, &a6) == 1) {
		static const unsigned char loop6[16] = {[15] = 1};
		return memcmp(&a6, loop6, sizeof(loop6)) == 0;
	}
	return false;
}

bool http_url_is_loopback(const char *url)
{
	CURLU *u = curl_url();
	if (!u) {
		return false;
	}
	char *host = NULL;
	bool loopback = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
		&& curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
		&& http_host_is_loopback(host);
	curl_free(host);
	curl_url_cleanup(u);
	return loopback;
}

/*
 * Splits url into its origin ("https://host:443") after checking that it is one we may talk
 * to: http or https, no user name or password inside, and plain http only on loopback.
 * Returns NULL with *why set to a static explanation otherwise.
 */
static char *checked_origin(const char *url, const char **why)
{
	char *origin = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	CURLU *u = curl_url();
	if (!u) {
		*why = "out of memory";
		return NULL;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		*why = "not a valid URL";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
		|| curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
		|| curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		*why = "not a valid URL";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		*why = "credentials inside the URL are not supported";
		goto out;
	}
	for (char *p = scheme; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
	}
	for (char *p = host; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
	}
	if (strcmp(scheme, "https") != 0) {
		if (strcmp(scheme, "http") != 0) {
			*why = "only https URLs are supported";
			goto out;
		}
		if (!http_host_is_loopback(host)) {
			*why = "plain http is only allowed to a loopback address; use https";
			goto out;
		}
	}
	origin = xasprintf("%s://%s:%s", scheme, host, port);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_url_cleanup(u);
	return origin;
}

static char *base64_encode(const char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len) {
			v |= (unsigned)in[i + 1] << 8;
		}
		if (i + 2 < len) {
			v |= in[i + 2];
		}
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static bool has_line_break(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

struct http_client *http_client_create(const struct http_options *opts)
{
	if (!opts->base_url || !opts->base_url[0]) {
		log_error("cannot create HTTP client: no base URL");
		return NULL;
	}
	const char *why = NULL;
	char *origin = checked_origin(opts->base_url, &why);
	if (!origin) {
		log_error("cannot use URL '%s': %s", opts->base_url, why);
		return NULL;
	}
	if (opts->auth == HTTP_AUTH_BASIC && (!opts->basic_user || has_line_break(opts->basic_user))) {
		log_error("cannot use URL '%s': invalid credentials for basic authentication",
			opts->base_url);
		free(origin);
		return NULL;
	}
	CURL *curl = curl_easy_init();
	if (!curl) {
		log_error("cannot create HTTP client for '%s': curl_easy_init failed", opts->base_url);
		free(origin);
		return NULL;
	}

	struct http_client *c = xcalloc(1, sizeof(*c));
	c->curl = curl;
	c->origin = origin;
	c->base_url = http_url_normalize(opts->base_url);
	c->auth = opts->auth;
	if (opts->auth == HTTP_AUTH_BASIC) {
		char *userpass = xasprintf("%s:", opts->basic_user);
		char *b64 = base64_encode(userpass, strlen(userpass));
		log_add_secret(b64);
		c->basic_header = xasprintf("Authorization: Basic %s", b64);
		free(b64);
		free(userpass);
	}
	c->connect_timeout_ms =
		opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->settings_group = opts->settings_group ? xstrdup(opts->settings_group) : NULL;
	c->max_response_size =
		opts->max_response_size > 0 ? opts->max_response_size : DEFAULT_MAX_RESPONSE;
	c->retry.max_attempts = opts->max_attempts > 0 ? opts->max_attempts : DEFAULT_MAX_ATTEMPTS;
	c->retry.max_retry_time =
		opts->max_retry_time > 0 ? opts->max_retry_time : DEFAULT_MAX_RETRY_TIME;
	c->retry.backoff_base = opts->backoff_base > 0 ? opts->backoff_base : DEFAULT_BACKOFF_BASE;
	c->retry.backoff_cap = opts->backoff_cap > 0 ? opts->backoff_cap : DEFAULT_BACKOFF_CAP;
	c->limiter = opts->limiter;
	c->dry_run = opts->dry_run;

	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)c;
	c->rng |= 1;

	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "refty-lever/" REFTY_LEVER_VERSION);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_size);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	return c;
}

void http_client_destroy(struct http_client *c)
{
	if (!c) {
		return;
	}
	curl_easy_cleanup(c->curl);
	free(c->base_url);
	free(c->origin);
	free(c->basic_header);
	free(c->settings_group);
	free(c);
}

/* Empties the body but keeps its memory: a listing reuses one response for every page. */
static void truncate_body(struct http_response *resp)
{
	resp->body.len = 0;
	if (resp->body.data) {
		resp->body.data[0] = '\0';
	}
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * nmemb;
	if (t->resp->body.len + len > t->max) {
		t->too_large = true;
		return 0;
	}
	strbuf_append(&t->resp->body, data, len);
	return len;
}

/* curl calls this about once a second, or more often, for as long as a transfer lasts: it is
 * where a transfer notices a second stop signal (a first one lets it finish). */
static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	curl_off_t ulnow)
{
	const struct transfer *t = ud;
	return t->abortable && signals_requested(SIGNALS_ABORT) ? 1 : 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct transfer *t = ud;
	struct http_response *resp = t->resp;
	size_t len = size * nmemb;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		// A new status line: an interim 1xx response's headers must not stick.
		clear_headers(resp);
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon || resp->n_headers >= 256) {
		return len;
	}
	const char *value = colon + 1;
	const char *end = data + len;
	while (value < end && (*value == ' ' || *value == '\t')) {
		value++;
	}
	while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) {
		end--;
	}
	resp->headers = xrealloc(resp->headers, (resp->n_headers + 1) * sizeof(*resp->headers));
	resp->headers[resp->n_headers].name = xstrndup(data, (size_t)(colon - data));
	resp->headers[resp->n_headers].value = xstrndup(value, (size_t)(end - value));
	resp->n_headers++;
	return len;
}

/* Uniform in [0, 1): xorshift64*, plenty for jitter and private to the client. */
static double random_unit(struct http_client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	uint64_t r = c->rng * UINT64_C(2685821657736338717);
	return (double)(r >> 11) / 9007199254740992.0;
}

static bool is_transient_curl_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Failures after which the server cannot have acted on the request. */
static bool is_unsent_curl_error(CURLcode cc)
{
	return cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_COULDNT_RESOLVE_HOST
		|| cc == CURLE_COULDNT_CONNECT;
}

static bool is_transient_status(long status)
{
	return status == 408 || status == 429 || status == 500 || status == 502 || status == 503
		|| status == 504;
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static enum http_outcome classify(CURLcode cc)
{
	if (cc == CURLE_OK) {
		return HTTP_OUTCOME_ANSWERED;
	}
	if (is_unsent_curl_error(cc)) {
		return HTTP_OUTCOME_UNSENT;
	}
	return is_transient_curl_error(cc) ? HTTP_OUTCOME_TRANSIENT : HTTP_OUTCOME_FATAL;
}

bool http_retry_check(const struct http_retry_policy *p, const struct http_attempt *a,
	double jitter, double *wait)
{
	*wait = 0;
	bool retryable = false;
	switch (a->outcome) {
	case HTTP_OUTCOME_ANSWERED:
		if (!is_transient_status(a->status)) {
			return false;
		}
		// A 429 was refused before any work was done.
		retryable = a->repeatable || a->status == 429;
		break;
	case HTTP_OUTCOME_UNSENT:
		retryable = true;
		break;
	case HTTP_OUTCOME_TRANSIENT:
		retryable = a->repeatable;
		break;
	case HTTP_OUTCOME_FATAL:
		retryable = false;
		break;
	}
	double w = p->backoff_base * pow(2, a->tries - 1);
	if (w > p->backoff_cap) {
		w = p->backoff_cap;
	}
	w *= jitter;
	if (a->outcome == HTTP_OUTCOME_ANSWERED && a->retry_after >= 0) {
		w = a->retry_after < p->backoff_cap ? (double)a->retry_after : p->backoff_cap;
	}
	if (!retryable || a->tries >= p->max_attempts || a->elapsed + w > p->max_retry_time) {
		return false;
	}
	*wait = w;
	return true;
}

static bool has_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0) {
			return true;
		}
	}
	return false;
}

static bool method_is_idempotent(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0
		|| strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0
		|| strcmp(method, "OPTIONS") == 0;
}

static bool fail(struct http_response *resp, enum http_error error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs the failure once and keeps the text for the caller. */
static bool fail(struct http_response *resp, enum http_error error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("%s", text);
	free(resp->error_text);
	resp->error_text = text;
	resp->error = error;
	return false;
}

static struct curl_slist *append_header(struct curl_slist *list, const char *line, bool *ok)
{
	struct curl_slist *next = curl_slist_append(list, line);
	if (!next) {
		*ok = false;
		return list;
	}
	return next;
}

/* One request on the wire. Returns curl's verdict; resp holds whatever came back. */
static CURLcode perform(struct http_client *c, const struct http_request *req, const char *method,
	const char *url, const char *body, size_t body_len, bool send_auth, bool abortable,
	struct http_response *resp, bool *too_large)
{
	CURL *curl = c->curl;
	truncate_body(resp);
	clear_headers(resp);
	resp->status = 0;
	resp->retry_after = -1;
	c->errbuf[0] = '\0';

	bool ok = true;
	struct curl_slist *headers = NULL;
	char *auth_line = NULL;
	if (send_auth && c->auth == HTTP_AUTH_BASIC) {
		headers = append_header(headers, c->basic_header, &ok);
	} else if (send_auth && c->auth == HTTP_AUTH_BEARER && req->bearer) {
		auth_line = xasprintf("Authorization: Bearer %s", req->bearer);
		headers = append_header(headers, auth_line, &ok);
	}
	if (!has_header(req, "Accept")) {
		headers = append_header(headers, "Accept: application/json", &ok);
	}
	// No "Expect: 100-continue" round trip for our small bodies.
	headers = append_header(headers, "Expect:", &ok);
	for (size_t i = 0; i < req->n_headers; i++) {
		char *line = xasprintf("%s: %s", req->headers[i].name, req->headers[i].value);
		headers = append_header(headers, line, &ok);
		free(line);
	}
	if (auth_line) {
		memset(auth_line, 0, strlen(auth_line));
		free(auth_line);
	}
	if (!ok) {
		curl_slist_free_all(headers);
		snprintf(c->errbuf, sizeof(c->errbuf), "out of memory");
		return CURLE_OUT_OF_MEMORY;
	}

	struct transfer t = {.resp = resp, .max = c->max_response_size, .abortable = abortable};
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
	// libcurl sends a request again by itself when a reused connection dies before the first
	// byte of an answer, although the server may have acted on it. It does so only on reused
	// connections, so one that must not be sent twice (a create, a token exchange) gets a
	// fresh one.
	curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, abortable ? 0L : 1L);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(curl, CURLOPT_NOBODY, 0L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST,
			strcmp(method, "POST") == 0 ? NULL : method);
	}

	CURLcode cc = curl_easy_perform(curl);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	*too_large = t.too_large;
	if (cc == CURLE_FILESIZE_EXCEEDED) {
		*too_large = true;
	}
	if (cc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
		if (http_response_header(resp, "Retry-After")) {
			curl_off_t ra = 0;
			if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra >= 0) {
				resp->retry_after = ra > 86400 ? 86400 : (long)ra;
			}
		}
	}
	if (!resp->body.data) {
		strbuf_append(&resp->body, "", 0);
	}
	return cc;
}

static bool same_origin(const char *url, const char *origin)
{
	const char *why;
	char *o = checked_origin(url, &why);
	bool same = o && strcmp(o, origin) == 0;
	free(o);
	return same;
}

/* Resets what a previous call left in resp; the body keeps its memory. */
static void response_reset(struct http_response *resp)
{
	truncate_body(resp);
	clear_headers(resp);
	free(resp->error_text);
	resp->error_text = NULL;
	resp->error = HTTP_ERR_NONE;
	resp->status = 0;
	resp->retry_after = -1;
	resp->attempts = 0;
}

/* Refuses what must never be sent: anything but GET in a dry run, line breaks in headers. */
static bool request_allowed(const struct http_client *c, const struct http_request *req,
	const char *method, const char *short_url, struct http_response *resp)
{
	if (c->dry_run && strcmp(method, "GET") != 0) {
		return fail(resp, HTTP_ERR_DRY_RUN, "dry run: refusing %s '%s'", method, short_url);
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		if (has_line_break(req->headers[i].name) || has_line_break(req->headers[i].value)) {
			return fail(resp, HTTP_ERR_REFUSED, "cannot %s '%s': line break in header '%s'",
				method, short_url, req->headers[i].name);
		}
	}
	if (has_line_break(req->bearer)) {
		return fail(resp, HTTP_ERR_REFUSED, "cannot %s '%s': line break in the access token",
			method, short_url);
	}
	return true;
}

/* A stop was requested (signals.h): the request is not sent again, or was abandoned. Not a
 * failure to report: whoever asked for the stop knows why. */
static bool interrupted(struct http_response *resp, const char *method, const char *short_url,
	bool abandoned)
{
	free(resp->error_text);
	resp->error_text = xasprintf("%s '%s' %s: stop requested", method, short_url,
		abandoned ? "abandoned" : "not sent");
	resp->error = HTTP_ERR_INTERRUPTED;
	log_debug("%s", resp->error_text);
	return false;
}

static const char *curl_text(const struct http_client *c, CURLcode cc)
{
	return c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
}

/*
 * For a request that timed out, the keys that set its limits and their values, so that an
 * operator whose service is merely slow knows what to raise; "" otherwise. Caller frees.
 */
static char *timeout_hint(const struct http_client *c, CURLcode cc, int tries)
{
	if (cc != CURLE_OPERATION_TIMEDOUT || !c->settings_group) {
		return xstrdup("");
	}
	char connect[32], whole[32], retry[32];
	timeutil_format_duration(c->connect_timeout_ms, connect, sizeof(connect));
	timeutil_format_duration(c->timeout_ms, whole, sizeof(whole));
	timeutil_format_duration((int64_t)(c->retry.max_retry_time * 1000), retry, sizeof(retry));
	const char *g = c->settings_group;
	return xasprintf("; %s.connect_timeout is %s and %s.timeout %s, with %d attempt%s (%s.max_"
			 "attempts %d, %s.max_retry_time %s): raise them if the service is slow "
			 "rather than down",
		g, connect, g, whole, tries, tries == 1 ? "" : "s", g, c->retry.max_attempts, g,
		retry);
}

static void trace_attempt(const struct http_client *c, const char *method, const char *url,
	CURLcode cc, const struct http_response *resp, double elapsed_ms)
{
	if (!log_enabled(LOG_TRACE)) {
		return;
	}
	char *log_url = http_url_for_log(url);
	if (cc == CURLE_OK) {
		log_trace("%s %s: %s, %zu bytes in %.0f ms", method, log_url,
			http_status_text(resp->status), resp->body.len, elapsed_ms);
	} else {
		log_trace("%s %s: %s", method, log_url, curl_text(c, cc));
	}
	free(log_url);
}

/* What a request is at the current attempt: redirects change the URL, a 303 the method. */
struct target {
	const char *method;
	char *url;
	const char *body;
	size_t body_len;
	int redirects;
};

enum redirect {
	REDIRECT_FOLLOW, /* t now points at the new location */
	REDIRECT_ANSWER, /* no Location: the caller sees the status */
	REDIRECT_REFUSED, /* failed (logged) */
};

static enum redirect follow_redirect(struct http_client *c, struct target *t, const char *origin,
	const char *short_url, struct http_response *resp)
{
	char *location = NULL;
	curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &location);
	if (!location) {
		return REDIRECT_ANSWER;
	}
	if (!same_origin(location, origin)) {
		char *short_location = url_without_query(location);
		fail(resp, HTTP_ERR_REFUSED,
			"cannot %s '%s': refusing to follow a redirect to another origin '%s'", t->method,
			short_url, short_location);
		free(short_location);
		return REDIRECT_REFUSED;
	}
	if (++t->redirects > MAX_REDIRECTS) {
		fail(resp, HTTP_ERR_REFUSED, "cannot %s '%s': too many redirects", t->method, short_url);
		return REDIRECT_REFUSED;
	}
	free(t->url);
	t->url = xstrdup(location);
	if (resp->status == 303 && strcmp(t->method, "HEAD") != 0) {
		t->method = "GET";
		t->body = NULL;
		t->body_len = 0;
	}
	log_debug("following %ld redirect to '%s'", resp->status, t->url);
	return REDIRECT_FOLLOW;
}

bool http_request(struct http_client *c, const struct http_request *req,
	struct http_response *resp)
{
	response_reset(resp);
	struct target t = {
		.method = req->method ? req->method : "GET",
		.body = req->body,
		.body_len = req->body ? req->body_len : 0,
	};
	const char *path = req->path ? req->path : "";
	bool absolute = strncasecmp(path, "https://", 8) == 0 || strncasecmp(path, "http://", 7) == 0;
	t.url = absolute ? xstrdup(path)
			 : xasprintf("%s%s%s", c->base_url, path[0] == '/' ? "" : "/", path);
	char *short_url = url_without_query(t.url);
	char *origin = NULL;
	bool result = false;
	if (!request_allowed(c, req, t.method, short_url, resp)) {
		goto out;
	}
	const char *why = NULL;
	origin = checked_origin(t.url, &why);
	if (!origin) {
		fail(resp, HTTP_ERR_REFUSED, "cannot use URL '%s': %s", short_url, why);
		goto out;
	}
	bool send_auth = strcmp(origin, c->origin) == 0;
	struct http_attempt at = {
		.repeatable = method_is_idempotent(t.method) || req->idempotent
			|| has_header(req, "Idempotency-Key"),
	};

	double start = timeutil_monotonic_seconds();
	for (;;) {
		// No new attempt once a stop is requested: none is started, no retry either. The
		// rate limiter's wait ends early then too.
		if (signals_requested(SIGNALS_STOP)) {
			interrupted(resp, t.method, short_url, false);
			break;
		}
		ratelimit_acquire(c->limiter);
		if (signals_requested(SIGNALS_STOP)) {
			interrupted(resp, t.method, short_url, false);
			break;
		}
		bool too_large = false;
		double t0 = timeutil_monotonic_seconds();
		CURLcode cc = perform(c, req, t.method, t.url, t.body, t.body_len, send_auth,
			at.repeatable, resp, &too_large);
		at.tries++;
		resp->attempts++;
		trace_attempt(c, t.method, t.url, cc, resp,
			(timeutil_monotonic_seconds() - t0) * 1000);
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			interrupted(resp, t.method, short_url, true);
			break;
		}
		if (too_large) {
			fail(resp, HTTP_ERR_TOO_LARGE, "cannot %s '%s': response larger than %zu bytes",
				t.method, short_url, c->max_response_size);
			break;
		}
		if (cc == CURLE_OK && is_redirect(resp->status)) {
			enum redirect r = follow_redirect(c, &t, origin, short_url, resp);
			if (r == REDIRECT_FOLLOW) {
				at.tries--; // a followed redirect is no retry
				continue;
			}
			result = r == REDIRECT_ANSWER;
			break;
		}
		at.outcome = classify(cc);
		at.status = resp->status;
		at.retry_after = resp->retry_after;
		at.elapsed = timeutil_monotonic_seconds() - start;
		double wait;
		if (!http_retry_check(&c->retry, &at, random_unit(c), &wait)) {
			if (cc == CURLE_OK) {
				result = true; // the caller judges the final status
			} else {
				char *hint = timeout_hint(c, cc, at.tries);
				fail(resp, HTTP_ERR_TRANSPORT, "cannot %s '%s': %s%s%s", t.method, short_url,
					curl_text(c, cc), at.tries > 1 ? " (gave up after retrying)" : "",
					hint);
				free(hint);
			}
			break;
		}
		struct log_fields lf = LOG_FIELDS_NONE;
		char status[16];
		snprintf(status, sizeof(status), "%ld", resp->status);
		lf.status = cc == CURLE_OK ? status : NULL;
		lf.error = cc == CURLE_OK ? NULL : curl_text(c, cc);
		log_ev(LOG_DEBUG, "http_retry", &lf, "retrying %s '%s' in %.2f s (attempt %d of %d): %s",
			t.method, short_url, wait, at.tries + 1, c->retry.max_attempts,
			cc == CURLE_OK ? http_status_text(resp->status) : curl_text(c, cc));
		signals_sleep(wait, SIGNALS_STOP);
	}
out:
	free(origin);
	free(short_url);
	free(t.url);
	return result;
}
