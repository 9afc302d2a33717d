#define LOG_MODULE "httpd"

#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "xalloc.h"

/* A request's idle time after which its connection is dropped, so a stalled peer holds nothing. */
#define CONNECTION_TIMEOUT_S 30
/* Connections at once: deliveries come a few a second; more is someone else's traffic. */
#define MAX_CONNECTIONS 64

struct httpd {
	struct MHD_Daemon *daemon;
	size_t max_body;
	httpd_handler handler;
	void *ud;
	int port;
};

/* What one request has sent so far. */
struct upload {
	struct strbuf body;
	bool too_large;
};

static enum MHD_Result answer(struct MHD_Connection *conn, int status, const char *type,
	char *body)
{
	size_t len = body ? strlen(body) : 0;
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
		body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type ? type : "text/plain");
	enum MHD_Result ok = MHD_queue_response(conn, (unsigned int)status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *data, size_t *data_size,
	void **state)
{
	struct httpd *h = cls;
	struct upload *up = *state;
	if (!up) {
		// The first call only announces the request; its body follows.
		up = xcalloc(1, sizeof(*up));
		strbuf_init(&up->body);
		*state = up;
		return MHD_YES;
	}
	if (*data_size > 0) {
		if (!up->too_large && up->body.len + *data_size <= h->max_body) {
			strbuf_append(&up->body, data, *data_size);
		} else {
			up->too_large = true; // read on and drop, to answer once it is all in
		}
		*data_size = 0;
		return MHD_YES;
	}
	if (up->too_large) {
		return answer(conn, 413, NULL, xstrdup("request body too large\n"));
	}
	struct httpd_request req = {
		.method = method,
		.path = url,
		.body = up->body.data ? up->body.data : "",
		.body_len = up->body.len,
	};
	struct httpd_response resp = {.status = 500};
	h->handler(h->ud, &req, &resp);
	return answer(conn, resp.status, resp.content_type, resp.body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
	enum MHD_RequestTerminationCode why)
{
	struct upload *up = *state;
	if (up) {
		strbuf_finish(&up->body);
		free(up);
		*state = NULL;
	}
}

static void on_error(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_error(void *cls, const char *fmt, va_list ap)
{
	char *text = xvasprintf(fmt, ap);
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n') {
		text[--n] = '\0';
	}
	log_debug("%s", text);
	free(text);
}

struct httpd *httpd_start(const char *addr, int port, size_t max_body, httpd_handler handler,
	void *ud)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (port < 0 || port > 65535) {
		log_error("cannot listen on port %d: not a port (0..65535)", port);
		return NULL;
	}
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		log_error("cannot listen on '%s': not an IPv4 or IPv6 address", addr);
		return NULL;
	}
	struct httpd *h = xcalloc(1, sizeof(*h));
	h->max_body = max_body;
	h->handler = handler;
	h->ud = ud;
	h->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
		MHD_OPTION_EXTERNAL_LOGGER, on_error, h,
		MHD_OPTION_END);
	if (!h->daemon) {
		log_error("cannot listen on %s port %d: %s (is another process using it?)", addr, port,
			errno ? strerror(errno) : "the HTTP server did not start");
		free(h);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	return h;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_stop(struct httpd *h)
{
	if (!h) {
		return;
	}
	MHD_stop_daemon(h->daemon);
	free(h);
}
