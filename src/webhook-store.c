#define LOG_MODULE "webhooks"
#include "webhook-store.h"

#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "log.h"

/* Far more than any number of webhooks an account has; a bigger file is not a token file. */
#define MAX_FILE_SIZE (1024 * 1024)

static const char header[] =
	"# Lever webhook signature tokens, written by 'refty-lever webhooks register' and read by\n"
	"# 'refty-lever serve': one token a line, each after a comment naming its webhook\n"
	"# (id, event, url). Keep this file private (mode 0600).\n";

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

void webhook_store_init(struct webhook_store *s)
{
	s->tokens = NULL;
	s->n = 0;
}

static void token_finish(struct webhook_token *t)
{
	free(t->id);
	free(t->event);
	free(t->url);
	wipe_free(t->token);
}

void webhook_store_finish(struct webhook_store *s)
{
	for (size_t i = 0; i < s->n; i++) {
		token_finish(&s->tokens[i]);
	}
	free(s->tokens);
	webhook_store_init(s);
}

void webhook_store_add(struct webhook_store *s, const char *id, const char *event,
	const char *url, const char *token)
{
	s->tokens = xrealloc(s->tokens, (s->n + 1) * sizeof(*s->tokens));
	s->tokens[s->n++] = (struct webhook_token){
		.id = id ? xstrdup(id) : NULL,
		.event = event ? xstrdup(event) : NULL,
		.url = url ? xstrdup(url) : NULL,
		.token = xstrdup(token),
	};
}

long webhook_store_find(const struct webhook_store *s, const char *id, const char *signature_token)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct webhook_token *t = &s->tokens[i];
		if ((id && t->id && strcmp(id, t->id) == 0)
			|| (signature_token && strcmp(signature_token, t->token) == 0)) {
			return (long)i;
		}
	}
	return -1;
}

void webhook_store_remove(struct webhook_store *s, size_t i)
{
	token_finish(&s->tokens[i]);
	memmove(&s->tokens[i], &s->tokens[i + 1], (s->n - i - 1) * sizeof(*s->tokens));
	s->n--;
}

/* The next whitespace-separated word of *p, NUL-terminated in place; NULL when none. */
static char *word(char **p)
{
	char *s = *p + strspn(*p, " \t");
	if (!*s) {
		return NULL;
	}
	char *end = s + strcspn(s, " \t");
	if (*end) {
		*end++ = '\0';
	}
	*p = end;
	return s;
}

void webhook_store_parse(struct webhook_store *s, const char *text)
{
	char *copy = xstrdup(text);
	// What the last "# webhook ID EVENT URL" comment named, for the token after it.
	char *id = NULL, *event = NULL, *url = NULL;
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		while (len > 0 && strchr(" \t\r", line[len - 1])) {
			line[--len] = '\0';
		}
		line += strspn(line, " \t");
		if (!*line) {
			continue;
		}
		if (line[0] == '#') {
			char *rest = line + 1;
			char *tag = word(&rest);
			if (tag && strcmp(tag, "webhook") == 0) {
				id = word(&rest);
				event = id ? word(&rest) : NULL;
				url = event ? word(&rest) : NULL;
				if (!url) {
					id = event = NULL;
				}
			}
			continue;
		}
		webhook_store_add(s, id, event, url, line);
		id = event = url = NULL;
	}
	memset(copy, 0, strlen(text));
	free(copy);
}

void webhook_store_format(const struct webhook_store *s, struct strbuf *out)
{
	// Sized once, so the buffer holding the tokens is never reallocated (which would leave a
	// copy of them in freed memory).
	size_t cap = sizeof(header) + 1;
	for (size_t i = 0; i < s->n; i++) {
		const struct webhook_token *t = &s->tokens[i];
		cap += 32 + strlen(t->token) + (t->id ? strlen(t->id) : 0)
		       + (t->event ? strlen(t->event) : 0) + (t->url ? strlen(t->url) : 0);
	}
	out->data = xmalloc(cap);
	out->cap = cap;
	out->len = 0;
	out->data[0] = '\0';
	strbuf_puts(out, header);
	for (size_t i = 0; i < s->n; i++) {
		const struct webhook_token *t = &s->tokens[i];
		if (t->id && t->event && t->url) {
			strbuf_printf(out, "# webhook %s %s %s\n", t->id, t->event, t->url);
		}
		strbuf_puts(out, t->token);
		strbuf_puts(out, "\n");
	}
}

bool webhook_store_load(struct webhook_store *s, const char *path)
{
	webhook_store_finish(s);
	char *text = NULL;
	size_t len = 0;
	int got = file_read_whole(path, MAX_FILE_SIZE, &text, &len);
	if (got < 0) {
		return false;
	}
	if (got > 0) {
		webhook_store_parse(s, text);
		memset(text, 0, len);
		free(text);
	}
	for (size_t i = 0; i < s->n; i++) {
		log_add_secret(s->tokens[i].token);
	}
	return true;
}

bool webhook_store_save(const struct webhook_store *s, const char *path)
{
	struct strbuf text;
	webhook_store_format(s, &text);
	bool ok = file_replace_private(path, text.data, text.len);
	memset(text.data, 0, text.cap);
	strbuf_finish(&text);
	return ok;
}
