/* serve's receiver: routes, verdicts, and the set of opportunities deliveries ask about. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "receiver.h"
#include "tap.h"
#include "xalloc.h"

#define NOW 1767225600000LL
#define KEY "sig-token-one"

static int64_t fixed_now(void)
{
	return NOW;
}

static bool healthy_flag = true;
static bool healthy(void *ud)
{
	return healthy_flag;
}

/* A delivery signed as Lever signs it. */
static char *delivery(const char *event, const char *token, int64_t at, const char *opp)
{
	char *message = xasprintf("%s%" PRId64, token, at);
	char mac[HMAC_SHA256_HEX_LEN + 1];
	hmac_sha256_hex(KEY, strlen(KEY), message, strlen(message), mac);
	free(message);
	return opp ? xasprintf("{\"triggeredAt\":%" PRId64 ",\"event\":\"%s\",\"token\":\"%s\","
			       "\"signature\":\"%s\",\"data\":{\"opportunityId\":\"%s\"}}",
			     at, event, token, mac, opp)
		   : xasprintf("{\"triggeredAt\":%" PRId64 ",\"event\":\"%s\",\"token\":\"%s\","
			       "\"signature\":\"%s\",\"data\":{}}",
			     at, event, token, mac);
}

static int handle(struct receiver *r, const char *method, const char *path, const char *body)
{
	struct httpd_request req = {method, path, body ? body : "", body ? strlen(body) : 0};
	struct httpd_response resp = {.status = 500};
	receiver_handle(r, &req, &resp);
	free(resp.body);
	return resp.status;
}

int main(void)
{
	log_init(LOG_ERROR, LOG_FORMAT_TEXT);
	const char *tokens[] = {KEY};
	struct receiver_options o = {.path = "/lever/webhook", .tokens = tokens, .n_tokens = 1,
		.max_age_ms = 300000, .healthy = healthy, .now_ms = fixed_now};
	struct receiver *r = receiver_create(&o);

	char *a1 = delivery("candidateStageChange", "tok-a1", NOW - 1000, "opp-a");
	char *a2 = delivery("candidateArchiveChange", "tok-a2", NOW - 500, "opp-a");
	char *b = delivery("applicationCreated", "tok-b", NOW, "opp-b");
	char *ping = delivery("candidateHired", "tok-ping", NOW, NULL);
	char *old = delivery("candidateStageChange", "tok-old", NOW - 300001, "opp-c");
	is_int(handle(r, "POST", "/lever/webhook", a1), 200, "a valid delivery: 200");
	is_int(handle(r, "POST", "/lever/webhook", a2), 200, "another for the same opportunity");
	is_int(handle(r, "POST", "/lever/webhook", b), 200, "one for another opportunity");
	is_int(handle(r, "POST", "/lever/webhook", a1), 401, "the first one again: a replay, 401");
	is_int(handle(r, "POST", "/lever/webhook", ping), 200, "Lever's test ping: 200");
	is_int(handle(r, "POST", "/lever/webhook", old), 401, "too old: 401");
	is_int(handle(r, "POST", "/lever/webhook", "{\"token\":1}"), 400, "malformed: 400");
	is_int(handle(r, "GET", "/lever/webhook", NULL), 405, "another method on the path: 405");
	is_int(handle(r, "POST", "/other", a1), 404, "another path: 404");
	is_int(handle(r, "GET", "/healthz", NULL), 200, "healthy: 200");
	healthy_flag = false;
	is_int(handle(r, "GET", "/healthz", NULL), 503, "a poll overdue: 503");

	char **ids;
	size_t n;
	receiver_take(r, 0, &ids, &n);
	is_int(n, 2, "two opportunities asked about, each once");
	ok(n == 2 && strcmp(ids[0], "opp-a") == 0 && strcmp(ids[1], "opp-b") == 0,
		"in the order first asked");
	receiver_ids_free(ids, n);
	receiver_take(r, 50, &ids, &n);
	is_int(n, 0, "taken once: nothing is left, and the wait ends");
	receiver_ids_free(ids, n);
	struct receiver_stats st;
	receiver_stats(r, &st);
	ok(st.accepted == 3 && st.coalesced == 1 && st.ignored == 1 && st.refused == 3,
		"counted: accepted, coalesced, ignored, refused");

	// The same over real HTTP, through the server serve runs.
	http_global_init();
	struct httpd *h = httpd_start("127.0.0.1", 0, 64 * 1024, receiver_handle, r);
	ok(h != NULL, "served on loopback");
	char *url = xasprintf("http://127.0.0.1:%d", h ? httpd_port(h) : 0);
	struct http_client *c = http_client_create(&(struct http_options){.base_url = url,
		.max_attempts = 1});
	char *c1 = delivery("candidateDeleted", "tok-c1", NOW, "opp-c");
	struct http_header json = {"Content-Type", "application/json"};
	struct http_request req = {.method = "POST", .path = "/lever/webhook", .headers = &json,
		.n_headers = 1, .body = c1, .body_len = strlen(c1)};
	struct http_response resp;
	http_response_init(&resp);
	ok(http_request(c, &req, &resp) && resp.status == 200, "a delivery over HTTP: 200");
	http_response_finish(&resp);
	receiver_take(r, 1000, &ids, &n);
	ok(n == 1 && strcmp(ids[0], "opp-c") == 0, "... asks for its opportunity");
	receiver_ids_free(ids, n);
	http_client_destroy(c);
	httpd_stop(h);
	http_global_cleanup();
	free(url);
	free(c1);

	free(a1);
	free(a2);
	free(b);
	free(ping);
	free(old);
	receiver_destroy(r);
	log_finish();
	return tap_done();
}
