#ifndef REFTY_LEVER_WEBHOOK_STORE_H
#define REFTY_LEVER_WEBHOOK_STORE_H

/*
 * The signature token file 'webhooks register' writes and serve reads (app_webhook_tokens):
 * one token a line, blank lines and '#' comments ignored, so serve needs to know nothing more.
 * Register puts a comment before each token that names its webhook,
 *
 *	# webhook ID EVENT URL
 *	TOKEN
 *
 * which is how list and delete tell which webhook a token belongs to. A token without that
 * comment (a file written by hand) is kept as it is, belonging to no webhook id.
 *
 * Parsing and formatting are pure; load and save do the I/O (files.h: read whole, replaced
 * atomically with mode 0600) and log their own failures.
 */

#include <stdbool.h>
#include <stddef.h>

#include "xalloc.h"

struct webhook_token {
	char *id;    /* the webhook's id at Lever; NULL when the file does not say */
	char *event; /* NULL when the file does not say */
	char *url;   /* NULL when the file does not say */
	char *token; /* the signature token: a secret */
};

struct webhook_store {
	struct webhook_token *tokens;
	size_t n;
};

void webhook_store_init(struct webhook_store *s);
/** Wipes the tokens and frees everything; s is left empty. */
void webhook_store_finish(struct webhook_store *s);

/** Adds a token (strings copied; id, event and url may be NULL). */
void webhook_store_add(struct webhook_store *s, const char *id, const char *event,
	const char *url, const char *token);

/**
 * The index of the token that belongs to the webhook with this id, or whose value is
 * signature_token (either may be NULL); -1 when none does.
 */
long webhook_store_find(const struct webhook_store *s, const char *id, const char *signature_token);

/** Removes the token at index i. */
void webhook_store_remove(struct webhook_store *s, size_t i);

/** Appends the tokens in text (the file's content) to s. Pure: it registers no secret. */
void webhook_store_parse(struct webhook_store *s, const char *text);

/** The file's content for s, header comment included. Caller wipes and frees out. */
void webhook_store_format(const struct webhook_store *s, struct strbuf *out);

/**
 * Reads path into s (emptied first); a missing file is an empty store. Each token is
 * registered with log_add_secret(). Returns false on a read error (logged).
 */
bool webhook_store_load(struct webhook_store *s, const char *path);

/** Replaces path with s, atomically, mode 0600. Returns false on failure (logged). */
bool webhook_store_save(const struct webhook_store *s, const char *path);

#endif
