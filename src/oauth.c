#define LOG_MODULE "oauth"

#include "oauth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#define MAX_REQUEST 8192
/* How long one browser connection may take to send its request line. */
#define CONNECTION_TIMEOUT_MS 5000
#define ACCOUNT_CLAIM "https://oauth.lever.co/accountId"

void oauth_callback_finish(struct oauth_callback *cb)
{
	free(cb->code);
	free(cb->state);
	free(cb->error);
	free(cb->error_description);
	memset(cb, 0, sizeof(*cb));
}

char *oauth_authorize_url(const struct oauth_authorize_params *p)
{
	struct strbuf url;
	strbuf_init(&url);
	char *base = http_url_normalize(p->auth_url);
	strbuf_puts(&url, base);
	free(base);
	strbuf_puts(&url, "/authorize");
	http_query_add(&url, "client_id", p->client_id);
	http_query_add(&url, "redirect_uri", p->redirect_uri);
	http_query_add(&url, "response_type", "code");
	http_query_add(&url, "state", p->state);
	http_query_add(&url, "audience", p->audience);
	http_query_add(&url, "scope", p->scope);
	return strbuf_steal(&url);
}

char *oauth_redirect_uri(int port)
{
	return xasprintf("http://127.0.0.1:%d/callback", port);
}

char *oauth_random_state(void)
{
	unsigned char bytes[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("cannot open '/dev/urandom': %s", strerror(errno));
		return NULL;
	}
	size_t got = 0;
	while (got < sizeof(bytes)) {
		ssize_t n = read(fd, bytes + got, sizeof(bytes) - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_error("cannot read '/dev/urandom': %s", n < 0 ? strerror(errno) : "end of file");
			close(fd);
			return NULL;
		}
		got += (size_t)n;
	}
	close(fd);
	char *out = xmalloc(sizeof(bytes) * 2 + 1);
	for (size_t i = 0; i < sizeof(bytes); i++) {
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	}
	return out;
}

static bool set_param(char **slot, const char *value, size_t len)
{
	if (*slot) {
		return true; // the first occurrence wins
	}
	*slot = http_url_unescape(value, len, true);
	return *slot != NULL;
}

bool oauth_parse_query(const char *query, struct oauth_callback *out)
{
	const char *p = query;
	if (*p == '?') {
		p++;
	}
	while (*p && *p != '#') {
		size_t plen = strcspn(p, "&#");
		size_t nlen = strcspn(p, "=&#");
		const char *value = nlen < plen ? p + nlen + 1 : p + plen;
		size_t vlen = nlen < plen ? plen - nlen - 1 : 0;
		bool ok = true;
		if (nlen == 4 && strncmp(p, "code", 4) == 0) {
			ok = set_param(&out->code, value, vlen);
		} else if (nlen == 5 && strncmp(p, "state", 5) == 0) {
			ok = set_param(&out->state, value, vlen);
		} else if (nlen == 5 && strncmp(p, "error", 5) == 0) {
			ok = set_param(&out->error, value, vlen);
		} else if (nlen == 17 && strncmp(p, "error_description", 17) == 0) {
			ok = set_param(&out->error_description, value, vlen);
		}
		if (!ok) {
			return false;
		}
		p += plen;
		if (*p == '&') {
			p++;
		}
	}
	return true;
}

bool oauth_parse_callback(const char *input, struct oauth_callback *out)
{
	memset(out, 0, sizeof(*out));
	while (*input == ' ' || *input == '\t' || *input == '\n' || *input == '\r') {
		input++;
	}
	size_t len = strlen(input);
	while (len > 0 && strchr(" \t\r\n", input[len - 1])) {
		len--;
	}
	char *text = xstrndup(input, len);
	bool ok = false;
	if (len == 0) {
		log_error("cannot use the pasted authorization: it is empty");
		goto out;
	}
	const char *query = strchr(text, '?');
	if (strstr(text, "://") || query || strchr(text, '=')) {
		if (!oauth_parse_query(query ? query : text, out)) {
			log_error("cannot use the pasted redirect URL: malformed escape sequence");
			goto out;
		}
		ok = true;
		goto out;
	}
	for (const char *p = text; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr("&#?/\"'<>", *p)) {
			log_error("cannot use the pasted authorization: neither a redirect URL nor a code");
			goto out;
		}
	}
	out->code = xstrdup(text);
	out->bare_code = true;
	ok = true;
out:
	free(text);
	if (!ok) {
		oauth_callback_finish(out);
	}
	return ok;
}

bool oauth_callback_check(const struct oauth_callback *cb, const char *expected_state)
{
	if (cb->error) {
		char *error = log_sanitize(cb->error);
		char *desc = cb->error_description ? log_sanitize(cb->error_description) : NULL;
		log_error("Lever authorization failed: %s%s%s", error, desc ? ": " : "",
			desc ? desc : "");
		free(error);
		free(desc);
		return false;
	}
	if (!cb->code || !cb->code[0]) {
		log_error("Lever authorization failed: the redirect carries no code");
		return false;
	}
	if (cb->bare_code) {
		return true;
	}
	if (!cb->state || !expected_state || strcmp(cb->state, expected_state) != 0) {
		log_error("Lever authorization failed: the redirect's state does not match this "
			  "login; start the login again");
		return false;
	}
	return true;
}

/*
 * The loopback receiver
 */

struct oauth_receiver {
	int fd;
	int port;
};

struct oauth_receiver *oauth_receiver_create(int port)
{
	if (port < 0 || port > 65535) {
		log_error("cannot listen on port %d: not a valid port", port);
		return NULL;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		log_error("cannot create a socket: %s", strerror(errno));
		return NULL;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0) {
		log_error("cannot listen on '127.0.0.1:%d': %s", port, strerror(errno));
		close(fd);
		return NULL;
	}
	socklen_t alen = sizeof(addr);
	if (getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
		log_error("cannot listen on '127.0.0.1:%d': %s", port, strerror(errno));
		close(fd);
		return NULL;
	}
	struct oauth_receiver *r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->port = ntohs(addr.sin_port);
	return r;
}

void oauth_receiver_destroy(struct oauth_receiver *r)
{
	if (!r) {
		return;
	}
	close(r->fd);
	free(r);
}

int oauth_receiver_port(const struct oauth_receiver *r)
{
	return r->port;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return; // the browser went away; nothing to tell it
		}
		data += n;
		len -= (size_t)n;
	}
}

static void send_page(int fd, const char *status, const char *title, const char *text)
{
	char *body = xasprintf("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s"
			       "</title></head>\n<body><h1>%s</h1><p>%s</p></body></html>\n",
		title, title, text);
	char *head = xasprintf("HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\n"
			       "Content-Length: %zu\r\nCache-Control: no-store\r\n"
			       "Connection: close\r\n\r\n",
		status, strlen(body));
	send_all(fd, head, strlen(head));
	send_all(fd, body, strlen(body));
	free(head);
	free(body);
}

/* Reads up to the end of the request head. Returns false on timeout, error or overlong input. */
static bool read_request(int fd, int64_t deadline, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (;;) {
		int64_t left = deadline - timeutil_monotonic_ms();
		if (left <= 0) {
			return false;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR) {
			continue;
		}
		if (rc <= 0) {
			return false;
		}
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) {
			return true;
		}
		if (len >= size - 1) {
			return false;
		}
	}
}

/*
 * Handles one connection. Returns 1 when it was the callback (out filled), 0 for anything else
 * (answered and ignored).
 */
static int handle_connection(int fd, int64_t deadline, struct oauth_callback *out)
{
	char *buf = xmalloc(MAX_REQUEST);
	int result = 0;
	int64_t conn_deadline = timeutil_monotonic_ms() + CONNECTION_TIMEOUT_MS;
	if (conn_deadline > deadline) {
		conn_deadline = deadline;
	}
	if (!read_request(fd, conn_deadline, buf, MAX_REQUEST)) {
		goto out;
	}
	size_t line_len = strcspn(buf, "\r\n");
	buf[line_len] = '\0';
	char *sp1 = strchr(buf, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2) {
		send_page(fd, "400 Bad Request", "Bad request", "This is not an HTTP request.");
		goto out;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	const char *method = buf;
	char *target = sp1 + 1;
	size_t path_len = strcspn(target, "?#");
	if (path_len != strlen("/callback") || strncmp(target, "/callback", path_len) != 0) {
		send_page(fd, "404 Not Found", "Not found", "refty-lever only handles /callback.");
		goto out;
	}
	if (strcmp(method, "GET") != 0) {
		send_page(fd, "405 Method Not Allowed", "Method not allowed", "Use GET.");
		goto out;
	}
	struct oauth_callback cb = {0};
	if (target[path_len] != '?' || !oauth_parse_query(target + path_len, &cb)) {
		oauth_callback_finish(&cb);
		send_page(fd, "400 Bad Request", "Bad request",
			"The redirect carries no valid query string.");
		goto out;
	}
	if (cb.error || !cb.code) {
		send_page(fd, "200 OK", "Lever authorization failed",
			"refty-lever did not get access. See the terminal for details.");
	} else {
		send_page(fd, "200 OK", "refty-lever is authorized",
			"You can close this window and go back to the terminal.");
	}
	*out = cb;
	result = 1;
out:
	memset(buf, 0, MAX_REQUEST);
	free(buf);
	return result;
}

bool oauth_receiver_wait(struct oauth_receiver *r, int timeout_ms, struct oauth_callback *out)
{
	memset(out, 0, sizeof(*out));
	int64_t deadline = timeutil_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int64_t left = deadline - timeutil_monotonic_ms();
		if (left <= 0) {
			log_error("timed out waiting for the authorization redirect on "
				  "'http://127.0.0.1:%d/callback'",
				r->port);
			return false;
		}
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int rc = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (rc < 0 && errno == EINTR) {
			continue;
		}
		if (rc < 0) {
			log_error("cannot wait for the authorization redirect: %s", strerror(errno));
			return false;
		}
		if (rc == 0) {
			continue;
		}
		int fd = accept(r->fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) {
				continue;
			}
			log_error("cannot accept the authorization redirect: %s", strerror(errno));
			return false;
		}
		int done = handle_connection(fd, deadline, out);
		close(fd);
		if (done) {
			return true;
		}
	}
}

/*
 * The token endpoint
 */

static int base64url_value(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '-' || c == '+') {
		return 62;
	}
	if (c == '_' || c == '/') {
		return 63;
	}
	return -1;
}

static char *base64url_decode(const char *s, size_t len, size_t *out_len)
{
	char *out = xmalloc(len * 3 / 4 + 4);
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len && s[i] != '='; i++) {
		int v = base64url_value(s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* Lever's access tokens are JWTs naming the account; we only read that claim, for display. */
static char *account_from_jwt(const char *token)
{
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot2) {
		return NULL;
	}
	size_t len;
	char *payload = base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
	if (!payload) {
		return NULL;
	}
	char *account = NULL;
	struct json_error err;
	struct json_object *root = json_parse(payload, len, &err);
	if (root) {
		struct json_node node;
		json_root(&node, root);
		const char *value = NULL;
		if (json_opt_string(&node, ACCOUNT_CLAIM, &value, &err) && value) {
			account = xstrdup(value);
		}
	}
	json_free(root);
	free(payload);
	return account;
}

static void log_token_error(const struct http_response *resp, const char *action,
	const char *hint)
{
	struct json_error err;
	struct json_object *root = json_parse(resp->body.data, resp->body.len, &err);
	const char *error = NULL;
	const char *desc = NULL;
	if (root) {
		struct json_node node;
		json_root(&node, root);
		if (!json_opt_string(&node, "error", &error, &err)) {
			error = NULL;
		}
		if (!json_opt_string(&node, "error_description", &desc, &err)) {
			desc = NULL;
		}
	}
	if (error && strcmp(error, "invalid_client") == 0) {
		hint = "; check the OAuth client id and client secret";
	}
	char *s_error = error ? log_sanitize(error) : NULL;
	char *s_desc = desc ? log_sanitize(desc) : NULL;
	log_error("cannot %s: the authorization server answered %s%s%s%s%s%s", action,
		http_status_text(resp->status), s_error ? ": " : "", s_error ? s_error : "",
		s_desc ? ": " : "", s_desc ? s_desc : "", hint);
	free(s_error);
	free(s_desc);
	json_free(root);
}

bool oauth_parse_token_response(const char *body, size_t len, int64_t now,
	struct lever_tokens *out, struct json_error *err)
{
	memset(out, 0, sizeof(*out));
	struct json_object *root = json_parse(body, len, err);
	if (!root) {
		return false;
	}
	struct json_node node;
	json_root(&node, root);
	const char *access = NULL, *refresh_token = NULL, *scope = NULL;
	int64_t expires_in = 0;
	bool ok = json_req_string(&node, "access_token", &access, err) &&
		  json_opt_string(&node, "refresh_token", &refresh_token, err) &&
		  json_opt_string(&node, "scope", &scope, err) &&
		  json_opt_int64(&node, "expires_in", 3600, &expires_in, err);
	if (ok && !access[0]) {
		struct json_node at;
		json_get(&node, "access_token", &at, err);
		ok = json_fail(err, &at, "is empty");
	} else if (ok && expires_in < 0) {
		struct json_node ei;
		json_get(&node, "expires_in", &ei, err);
		ok = json_fail(err, &ei, "is negative");
	}
	if (ok) {
		out->access_token = xstrdup(access);
		out->refresh_token = refresh_token && refresh_token[0] ? xstrdup(refresh_token) : NULL;
		out->scope = xstrdup(scope);
		// Saturates: an absurd lifetime must not wrap round into an expired token.
		int64_t in_ms = INT64_MAX;
		if (!timeutil_ms_from_seconds(expires_in, &in_ms)) {
			in_ms = INT64_MAX;
		}
		out->expires_at = in_ms > INT64_MAX - now ? INT64_MAX : now + in_ms;
		out->account = account_from_jwt(access);
	}
	json_free(root);
	return ok;
}

enum lever_status oauth_token_request(struct http_client *http,
	const struct oauth_token_params *p, struct lever_tokens *out)
{
	memset(out, 0, sizeof(*out));
	bool refresh = p->refresh_token != NULL;
	const char *action = refresh ? "refresh the Lever access token"
				     : "exchange the authorization code for Lever tokens";
	struct strbuf form;
	strbuf_init(&form);
	if (refresh) {
		http_form_add(&form, "grant_type", "refresh_token");
		http_form_add(&form, "refresh_token", p->refresh_token);
	} else {
		http_form_add(&form, "grant_type", "authorization_code");
		http_form_add(&form, "code", p->code ? p->code : "");
		http_form_add(&form, "redirect_uri", p->redirect_uri ? p->redirect_uri : "");
	}
	http_form_add(&form, "client_id", p->client_id ? p->client_id : "");
	http_form_add(&form, "client_secret", p->client_secret ? p->client_secret : "");

	struct http_header headers[] = {
		{"Content-Type", "application/x-www-form-urlencoded"},
	};
	struct http_request req = {
		.method = "POST",
		.path = p->token_url,
		.headers = headers,
		.n_headers = 1,
		.body = form.data,
		.body_len = form.len,
	};
	struct http_response resp;
	http_response_init(&resp);
	enum lever_status status = LEVER_OK;
	if (!http_request(http, &req, &resp)) {
		status = resp.error == HTTP_ERR_DRY_RUN ? LEVER_ERR_DRY_RUN : LEVER_ERR_REMOTE;
		goto out;
	}
	if (resp.status == 400 || resp.status == 401 || resp.status == 403) {
		log_token_error(&resp, action,
			refresh ? "; the stored authorization is no longer valid: run "
				  "'refty-lever auth login' again"
				: "; start the login again");
		status = LEVER_ERR_AUTH;
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		log_token_error(&resp, action, "");
		status = LEVER_ERR_REMOTE;
		goto out;
	}
	struct json_error err;
	if (!oauth_parse_token_response(resp.body.data, resp.body.len, timeutil_now_ms(), out,
		    &err)) {
		log_error("cannot %s: malformed answer from the authorization server: %s", action,
			err.text);
		status = LEVER_ERR_DATA;
		goto out;
	}
	log_add_secret(out->access_token);
	log_add_secret(out->refresh_token);
out:
	// The form holds the client secret and a grant: do not leave them lying in freed memory.
	if (form.data) {
		memset(form.data, 0, form.len);
	}
	strbuf_finish(&form);
	http_response_finish(&resp);
	return status;
}
