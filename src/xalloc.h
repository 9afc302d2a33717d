#ifndef REFTY_LEVER_XALLOC_H
#define REFTY_LEVER_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Allocators that abort on out-of-memory, so callers never check for NULL. */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/** Returns a copy of s, or NULL when s is NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/** printf into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A growable byte buffer; data is always NUL-terminated.
 * libconfig exports a strbuf_append of its own; renaming our symbol keeps the
 * dynamic linker from binding libconfig's internal calls to ours. */
#define strbuf_append refty_lever_strbuf_append

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

void strbuf_init(struct strbuf *sb);
void strbuf_finish(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Hands the buffer to the caller (who frees it) and leaves sb empty. */
char *strbuf_steal(struct strbuf *sb);

#endif
