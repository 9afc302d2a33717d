#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "tap.h"
#include "xalloc.h"

static void test_escaping(void)
{
	char *s = http_url_escape("a b&c=d/\xc3\xa9~-._?#+");
	is_str(s, "a%20b%26c%3Dd%2F%C3%A9~-._%3F%23%2B", "escape keeps only unreserved characters");
	char *back = http_url_unescape(s, strlen(s), false);
	is_str(back, "a b&c=d/\xc3\xa9~-._?#+", "unescape reverses escape");
	free(back);
	free(s);

	s = http_url_unescape("a+b%2b", 6, true);
	is_str(s, "a b+", "plus as space in form encoding");
	free(s);
	s = http_url_unescape("a+b", 3, false);
	is_str(s, "a+b", "plus kept in URL encoding");
	free(s);
	ok(http_url_unescape("%zz", 3, false) == NULL, "bad hex refused");
	ok(http_url_unescape("ab%4", 4, false) == NULL, "truncated escape refused");
	ok(http_url_unescape("ab%", 3, false) == NULL, "lone percent refused");
	s = http_url_unescape("%41%42xyz", 6, false);
	is_str(s, "AB", "length bounds the input");
	free(s);
}

static void test_query(void)
{
	struct strbuf url;
	strbuf_init(&url);
	strbuf_puts(&url, "/opportunities");
	http_query_add_int64(&url, "limit", 100);
	http_query_add(&url, "offset", "0.1767830455000.8c2e/+=&x");
	http_query_add_int64(&url, "updated_at_start", INT64_C(1767830401234));
	is_str(url.data,
		"/opportunities?limit=100&offset=0.1767830455000.8c2e%2F%2B%3D%26x"
		"&updated_at_start=1767830401234",
		"query builder escapes values and joins with & after the first ?");
	strbuf_finish(&url);

	struct strbuf form;
	strbuf_init(&form);
	http_form_add(&form, "grant_type", "refresh_token");
	http_form_add(&form, "refresh_token", "v1.a b");
	is_str(form.data, "grant_type=refresh_token&refresh_token=v1.a%20b", "form body");
	strbuf_finish(&form);
}

/* A URL in, the URL a function should make of it out. */
struct url_case {
	const char *in;
	const char *out;
};

static void check_url_cases(char *(*fn)(const char *), const struct url_case *cases, size_t n,
	const char *what)
{
	for (size_t i = 0; i < n; i++) {
		char *s = fn(cases[i].in);
		is_str(s, cases[i].out, what);
		free(s);
	}
}

static void test_url_for_log(void)
{
	static const struct url_case cases[] = {
		{"https://h/v1/stages", "https://h/v1/stages"},
		{"https://h/v1/opportunities?limit=100&offset=abc",
			"https://h/v1/opportunities?limit=100&offset=abc"},
		{"http://127.0.0.1:1/callback?code=SECRET&state=S2&x=1",
			"http://127.0.0.1:1/callback?code=[redacted]&state=[redacted]&x=1"},
		{"https://h/t?refresh_token=R&client_secret=C&access_token=A&CODE=X",
			"https://h/t?refresh_token=[redacted]&client_secret=[redacted]"
			"&access_token=[redacted]&CODE=[redacted]"},
		{"https://h/t?code&codex=1#frag", "https://h/t?code&codex=1"},
	};
	check_url_cases(http_url_for_log, cases, sizeof(cases) / sizeof(cases[0]), "URL fit for logs");
}

static void test_loopback(void)
{
	ok(http_host_is_loopback("localhost"), "localhost");
	ok(http_host_is_loopback("LocalHost"), "localhost, any case");
	ok(http_host_is_loopback("127.0.0.1"), "127.0.0.1");
	ok(http_host_is_loopback("127.200.3.4"), "all of 127/8");
	ok(http_host_is_loopback("[::1]"), "[::1]");
	ok(http_host_is_loopback("::1"), "::1");
	ok(!http_host_is_loopback("128.0.0.1"), "128.0.0.1 is not loopback");
	ok(!http_host_is_loopback("10.0.0.1"), "private is not loopback");
	ok(!http_host_is_loopback("localhost.example.com"), "a name containing localhost");
	ok(!http_host_is_loopback("[::2]"), "::2");
	ok(!http_host_is_loopback(""), "empty");
}

static void test_url_normalize(void)
{
	static const struct url_case cases[] = {
		{"https://api.lever.co/v1", "https://api.lever.co/v1"},
		{"https://api.lever.co/v1/", "https://api.lever.co/v1"},
		{"https://auth.lever.co///", "https://auth.lever.co"},
		{"", ""},
	};
	check_url_cases(http_url_normalize, cases, sizeof(cases) / sizeof(cases[0]),
		"trailing slashes stripped");
}

static void test_url_loopback(void)
{
	static const struct {
		const char *url;
		bool loopback;
		const char *what;
	} cases[] = {
		{"http://127.0.0.1:8080/v1", true, "127.0.0.1 with a port and a path"},
		{"http://[::1]:8080/v1", true, "[::1] with a port"},
		{"http://localhost/v1", true, "localhost"},
		{"http://LOCALHOST:1", true, "localhost, any case"},
		{"http://localhost.example.com/v1", false, "a remote name that starts with localhost"},
		{"http://127.0.0.1.example.com/v1", false, "a remote name that starts with 127."},
		{"http://example.com/v1", false, "a remote host"},
		{"not a url", false, "not a URL"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok(http_url_is_loopback(cases[i].url) == cases[i].loopback, cases[i].what);
	}
}

static void test_client_urls(void)
{
	static const struct {
		const char *url;
		bool accepted;
	} cases[] = {
		{"https://api.lever.co/v1", true},
		{"https://api.lever.co:8443/v1/", true},
		{"http://127.0.0.1:8080/v1", true},
		{"http://localhost/v1", true},
		{"http://[::1]:9/v1", true},
		{"http://api.lever.co/v1", false},
		{"http://10.1.2.3/v1", false},
		{"ftp://api.lever.co/v1", false},
		{"https://user:pass@api.lever.co/v1", false},
		{"not a url", false},
		{"", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_options opts = {.base_url = cases[i].url};
		struct http_client *c = http_client_create(&opts);
		ok((c != NULL) == cases[i].accepted, cases[i].url);
		http_client_destroy(c);
	}
	struct http_options basic = {
		.base_url = "https://api.lever.co/v1",
		.auth = HTTP_AUTH_BASIC,
		.basic_user = "key\r\nX-Injected: 1",
	};
	ok(http_client_create(&basic) == NULL, "line break in a basic user refused");
	http_client_destroy(NULL);
}

static void test_refusals(void)
{
	// Port 1 on loopback: nothing listens, so a request that got out would fail differently.
	struct http_options opts = {
		.base_url = "http://127.0.0.1:1/v1",
		.dry_run = true,
		.max_attempts = 1,
	};
	struct http_client *c = http_client_create(&opts);
	struct http_response resp;
	http_response_init(&resp);

	static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE", "HEAD"};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		struct http_request req = {.method = methods[i], .path = "/opportunities/x/notes"};
		ok(!http_request(c, &req, &resp), methods[i]);
		is_int(resp.error, HTTP_ERR_DRY_RUN, "refused as a dry run");
		is_int(resp.attempts, 0, "nothing sent");
	}
	struct http_request post = {.method = "POST", .path = "/opportunities/x/notes"};
	ok(!http_request(c, &post, &resp), "POST in dry run");
	is_str(resp.error_text, "dry run: refusing POST 'http://127.0.0.1:1/v1/opportunities/x/notes'",
		"dry-run message");

	struct http_request get = {.path = "/stages"};
	ok(!http_request(c, &get, &resp), "GET in dry run goes out");
	is_int(resp.error, HTTP_ERR_TRANSPORT, "and fails on the wire");
	is_int(resp.attempts, 1, "one attempt");

	struct http_header bad[] = {{"X-Test", "a\r\nInjected: yes"}};
	struct http_request injected = {.path = "/stages", .headers = bad, .n_headers = 1};
	ok(!http_request(c, &injected, &resp), "header with a line break");
	is_int(resp.error, HTTP_ERR_REFUSED, "refused before sending");

	struct http_request remote = {.path = "http://auth.example.com/oauth/token"};
	ok(!http_request(c, &remote, &resp), "absolute plain-http URL to a remote host");
	is_int(resp.error, HTTP_ERR_REFUSED, "refused");

	http_response_finish(&resp);
	http_client_destroy(c);
}

static void test_retry_check(void)
{
	const struct http_retry_policy p = {
		.max_attempts = 4, .max_retry_time = 60, .backoff_base = 1, .backoff_cap = 10,
	};
	static const struct {
		struct http_attempt a;
		double jitter;
		bool retry;
		double wait;
		const char *what;
	} cases[] = {
		{{HTTP_OUTCOME_ANSWERED, 200, -1, true, 1, 0}, 0.5, false, 0, "a 200 is final"},
		{{HTTP_OUTCOME_ANSWERED, 404, -1, true, 1, 0}, 0.5, false, 0, "a 404 is final"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 1, 0}, 0.5, true, 0.5,
			"a 503 of a GET: base wait times the jitter"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 3, 0}, 0.5, true, 2,
			"the wait doubles with every attempt"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 3, 0}, 1, true, 4, "full jitter reaches the whole"},
		{{HTTP_OUTCOME_ANSWERED, 500, -1, true, 3, 0}, 0.99, true, 3.96, "500 too"},
		{{HTTP_OUTCOME_ANSWERED, 502, -1, true, 1, 0}, 1, true, 1, "502 too"},
		{{HTTP_OUTCOME_ANSWERED, 504, -1, true, 1, 0}, 1, true, 1, "504 too"},
		{{HTTP_OUTCOME_ANSWERED, 408, -1, true, 1, 0}, 1, true, 1, "408 too"},
		{{HTTP_OUTCOME_ANSWERED, 501, -1, true, 1, 0}, 1, false, 0, "501 is no transient status"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, false, 1, 0}, 0.5, false, 0,
			"a 503 of a POST without a key: it may have been processed"},
		{{HTTP_OUTCOME_ANSWERED, 429, -1, false, 1, 0}, 0.5, true, 0.5,
			"a 429 even of a POST: it was refused before any work"},
		{{HTTP_OUTCOME_ANSWERED, 429, 7, false, 1, 0}, 0.5, true, 7, "Retry-After replaces the backoff"},
		{{HTTP_OUTCOME_ANSWERED, 429, 0, true, 2, 0}, 0.5, true, 0, "Retry-After: 0 means now"},
		{{HTTP_OUTCOME_ANSWERED, 503, 3600, true, 1, 0}, 0.5, true, 10,
			"Retry-After is capped at backoff_cap"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 8, 0}, 1, false, 0, "no attempt beyond max_attempts"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 3, 0}, 1, true, 4, "attempt 3 of 4 is retried"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 4, 0}, 1, false, 0, "attempt 4 of 4 is the last"},
		{{HTTP_OUTCOME_ANSWERED, 503, -1, true, 10, 0}, 1, false, 0, "far beyond max_attempts"},
		{{HTTP_OUTCOME_ANSWERED, 503, 30, true, 1, 55}, 1, false, 0,
			"no wait that ends beyond max_retry_time"},
		{{HTTP_OUTCOME_ANSWERED, 503, 5, true, 1, 55}, 1, true, 5,
			"a wait that ends right at max_retry_time"},
		{{HTTP_OUTCOME_UNSENT, 0, -1, false, 1, 0}, 0.25, true, 0.25,
			"a failed connect, even of a POST: the server never saw it"},
		{{HTTP_OUTCOME_TRANSIENT, 0, -1, true, 2, 0}, 0.5, true, 1, "a timeout of a GET"},
		{{HTTP_OUTCOME_TRANSIENT, 0, -1, false, 1, 0}, 0.5, false, 0,
			"a timeout of a POST: it may have been processed"},
		{{HTTP_OUTCOME_TRANSIENT, 0, 5, true, 1, 0}, 0.5, true, 0.5,
			"no Retry-After without an answer"},
		{{HTTP_OUTCOME_FATAL, 0, -1, true, 1, 0}, 0.5, false, 0, "a TLS failure is final"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double wait = -1;
		bool retry = http_retry_check(&p, &cases[i].a, cases[i].jitter, &wait);
		bool same = retry == cases[i].retry && fabs(wait - cases[i].wait) < 1e-9;
		if (!ok(same, cases[i].what)) {
			printf("#   got:  %s after %g s\n#   want: %s after %g s\n", retry ? "retry" : "stop",
				wait, cases[i].retry ? "retry" : "stop", cases[i].wait);
		}
	}
	const struct http_retry_policy capped = {
		.max_attempts = 20, .max_retry_time = 1000, .backoff_base = 1, .backoff_cap = 10,
	};
	struct http_attempt late = {HTTP_OUTCOME_ANSWERED, 503, -1, true, 12, 0};
	double wait;
	ok(http_retry_check(&capped, &late, 1, &wait) && wait == 10, "the backoff is capped");
}

static void test_status_text(void)
{
	is_str(http_status_text(429), "429 Too Many Requests", "429");
	is_str(http_status_text(503), "503 Service Unavailable", "503");
	is_str(http_status_text(299), "unexpected status", "unknown status");
}

int main(void)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	http_global_init();
	test_escaping();
	test_query();
	test_url_for_log();
	test_loopback();
	test_url_loopback();
	test_url_normalize();
	test_retry_check();
	test_client_urls();
	test_refusals();
	test_status_text();
	http_global_cleanup();
	log_finish();
	return tap_done();
}
