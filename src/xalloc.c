#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
	fputs("refty-lever: error: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p) {
		oom();
	}
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p) {
		oom();
	}
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p) {
		oom();
	}
	return p;
}

char *xstrdup(const char *s)
{
	if (!s) {
		return NULL;
	}
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		// Only an unencodable argument gets here: an empty text beats no text at all.
		return xstrdup("");
	}
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void strbuf_init(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void strbuf_finish(struct strbuf *sb)
{
	free(sb->data);
	strbuf_init(sb);
}

static void reserve(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap) {
		return;
	}
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1) {
		cap *= 2;
	}
	sb->data = xrealloc(sb->data, cap);
	sb->cap = cap;
}

void strbuf_append(struct strbuf *sb, const char *data, size_t len)
{
	reserve(sb, len);
	if (len) {
		memcpy(sb->data + sb->len, data, len);
	}
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	strbuf_puts(sb, p);
	free(p);
}

char *strbuf_steal(struct strbuf *sb)
{
	if (!sb->data) {
		return xstrdup("");
	}
	char *p = sb->data;
	strbuf_init(sb);
	return p;
}
