/* The HTTP server: requests reach the handler whole, bodies over the limit are 413. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "httpd.h"
#include "log.h"
#include "tap.h"
#include "xalloc.h"

static void echo(void *ud, const struct httpd_request *req, struct httpd_response *resp)
{
	int *calls = ud;
	(*calls)++;
	resp->status = strcmp(req->path, "/missing") == 0 ? 404 : 200;
	resp->body = xasprintf("%s %s %zu %.3s", req->method, req->path, req->body_len, req->body);
}

static long call(struct http_client *c, const char *method, const char *path, const char *body,
	size_t len, char **got)
{
	struct http_request req = {.method = method, .path = path, .body = body, .body_len = len};
	struct http_response resp;
	http_response_init(&resp);
	long status = http_request(c, &req, &resp) ? resp.status : -1;
	*got = xstrdup(resp.body.data ? resp.body.data : "");
	http_response_finish(&resp);
	return status;
}

int main(void)
{
	log_init(LOG_ERROR, LOG_FORMAT_TEXT);
	http_global_init();
	int calls = 0;
	struct httpd *h = httpd_start("127.0.0.1", 0, 1024, echo, &calls);
	ok(h != NULL, "listens on an ephemeral loopback port");
	if (!h) {
		return tap_done();
	}
	ok(httpd_port(h) > 0, "its port is known");
	char *url = xasprintf("http://127.0.0.1:%d", httpd_port(h));
	struct http_client *c = http_client_create(&(struct http_options){.base_url = url,
		.max_attempts = 1});
	char *got;
	is_int(call(c, "GET", "/hello?x=1", NULL, 0, &got), 200, "GET answered");
	is_str(got, "GET /hello 0 ", "the handler sees the method and the path without its query");
	free(got);
	is_int(call(c, "POST", "/lever/webhook", "abcdef", 6, &got), 200, "POST answered");
	is_str(got, "POST /lever/webhook 6 abc", "the handler gets the whole body");
	free(got);
	is_int(call(c, "GET", "/missing", NULL, 0, &got), 404, "the handler's status is sent");
	free(got);
	char *big = xmalloc(4000);
	memset(big, 'x', 4000);
	int before = calls;
	is_int(call(c, "POST", "/lever/webhook", big, 4000, &got), 413, "a body over the limit: 413");
	is_int(calls, before, "... without reaching the handler");
	free(got);
	is_int(call(c, "POST", "/lever/webhook", big, 1024, &got), 200, "a body at the limit is fine");
	free(got);
	free(big);

	struct httpd *second = httpd_start("127.0.0.1", httpd_port(h), 1024, echo, &calls);
	ok(second == NULL, "a port in use is refused");
	ok(httpd_start("localhost.example", 0, 1024, echo, &calls) == NULL, "a name is not an address");
	httpd_stop(second);

	http_client_destroy(c);
	free(url);
	httpd_stop(h);
	http_global_cleanup();
	log_finish();
	return tap_done();
}
