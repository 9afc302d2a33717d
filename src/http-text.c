#include "http.h"

/*
 * The text of HTTP that needs no connection: status names, percent-encoding, query strings and
 * forms, URLs made fit for a log, base URLs normalised, a server's listen address. Pure;
 * declared in http.h, which alone (with http.c) stands between the tool and libcurl.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "number.h"

const char *http_status_text(long status)
{
	static const struct {
		long status;
		const char *text;
	} table[] = {
		{200, "200 OK"},
		{201, "201 Created"},
		{202, "202 Accepted"},
		{204, "204 No Content"},
		{301, "301 Moved Permanently"},
		{302, "302 Found"},
		{303, "303 See Other"},
		{304, "304 Not Modified"},
		{307, "307 Temporary Redirect"},
		{308, "308 Permanent Redirect"},
		{400, "400 Bad Request"},
		{401, "401 Unauthorized"},
		{403, "403 Forbidden"},
		{404, "404 Not Found"},
		{405, "405 Method Not Allowed"},
		{408, "408 Request Timeout"},
		{409, "409 Conflict"},
		{410, "410 Gone"},
		{413, "413 Content Too Large"},
		{415, "415 Unsupported Media Type"},
		{422, "422 Unprocessable Content"},
		{429, "429 Too Many Requests"},
		{500, "500 Internal Server Error"},
		{501, "501 Not Implemented"},
		{502, "502 Bad Gateway"},
		{503, "503 Service Unavailable"},
		{504, "504 Gateway Timeout"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].status == status) {
			return table[i].text;
		}
	}
	return "unexpected status";
}

/*
 * URL encoding
 */

static bool is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void escape_into(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_unreserved(*p)) {
			strbuf_append(sb, (const char *)p, 1);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			strbuf_append(sb, esc, 3);
		}
	}
}

char *http_url_escape(const char *s)
{
	struct strbuf sb;
	strbuf_init(&sb);
	escape_into(&sb, s);
	return strbuf_steal(&sb);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

char *http_url_unescape(const char *s, size_t len, bool plus_is_space)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			out[n++] = ' ';
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return out;
}

void http_query_add(struct strbuf *url, const char *key, const char *value)
{
	bool has_query = url->data && strchr(url->data, '?');
	strbuf_puts(url, has_query ? "&" : "?");
	escape_into(url, key);
	strbuf_puts(url, "=");
	escape_into(url, value);
}

void http_query_add_int64(struct strbuf *url, const char *key, int64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)value);
	http_query_add(url, key, buf);
}

void http_form_add(struct strbuf *form, const char *key, const char *value)
{
	if (form->len) {
		strbuf_puts(form, "&");
	}
	escape_into(form, key);
	strbuf_puts(form, "=");
	escape_into(form, value);
}

static bool is_secret_param(const char *name, size_t len)
{
	static const char *const names[] = {
		"code", "state", "token", "access_token", "refresh_token", "id_token",
		"client_secret", "password", "secret", "api_key", "key",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0) {
			return true;
		}
	}
	return false;
}

char *http_url_for_log(const char *url)
{
	const char *query = strchr(url, '?');
	if (!query) {
		return xstrdup(url);
	}
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_append(&sb, url, (size_t)(query - url) + 1);
	const char *p = query + 1;
	while (*p && *p != '#') {
		size_t plen = strcspn(p, "&#");
		size_t nlen = strcspn(p, "=&#");
		if (nlen < plen && is_secret_param(p, nlen)) {
			strbuf_append(&sb, p, nlen + 1);
			strbuf_puts(&sb, "[redacted]");
		} else {
			strbuf_append(&sb, p, plen);
		}
		p += plen;
		if (*p == '&') {
			strbuf_puts(&sb, "&");
			p++;
		}
	}
	return strbuf_steal(&sb);
}

char *http_url_normalize(const char *url)
{
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/') {
		len--;
	}
	return xstrndup(url, len);
}

bool http_parse_listen(const char *text, char **addr, int *port)
{
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text) {
		return false;
	}
	const char *host = text;
	size_t len = (size_t)(colon - text);
	if (text[0] == '[') { // [::1]:8722
		if (len < 3 || text[len - 1] != ']') {
			return false;
		}
		host++;
		len -= 2;
	} else if (memchr(text, ':', len)) {
		return false; // an IPv6 address without brackets: where its port starts is unclear
	}
	int64_t p = 0;
	if (number_parse(colon + 1, 0, 65535, &p) != NUMBER_OK) {
		return false;
	}
	*addr = xstrndup(host, len);
	*port = (int)p;
	return true;
}
