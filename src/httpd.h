#ifndef REFTY_LEVER_HTTPD_H
#define REFTY_LEVER_HTTPD_H

/*
 * A small HTTP server, for Lever's webhook deliveries and a health check: the only module
 * that knows libmicrohttpd. It listens on one address, reads each request's body up to a
 * limit (a larger one is answered 413 without reaching the handler) and hands the whole
 * request to one handler, on the server's own thread; the handler fills in the answer. It
 * knows nothing of webhooks, never parses a body and logs only what stops it from serving.
 * TLS is a reverse proxy's job: it speaks plain HTTP.
 */

#include <stdbool.h>
#include <stddef.h>

struct httpd_request {
	const char *method;
	const char *path; /* without the query */
	const char *body; /* NUL-terminated; "" when none */
	size_t body_len;
};

struct httpd_response {
	int status;               /* 500 unless the handler says otherwise */
	const char *content_type; /* NULL: text/plain */
	char *body;               /* owned: the server frees it; NULL: an empty body */
};

typedef void (*httpd_handler)(void *ud, const struct httpd_request *req,
	struct httpd_response *resp);

struct httpd;

/**
 * Listens on addr ("127.0.0.1", "::1", "0.0.0.0") and port (0: any free one) and serves in a
 * thread of its own until httpd_stop. Bodies longer than max_body are answered 413. NULL
 * (logged, naming the address) when it cannot listen.
 */
struct httpd *httpd_start(const char *addr, int port, size_t max_body, httpd_handler handler,
	void *ud);
/** The port it listens on. */
int httpd_port(const struct httpd *h);
/** Stops listening, lets the request being handled finish, and frees h. Accepts NULL. */
void httpd_stop(struct httpd *h);

#endif
