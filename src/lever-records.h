#ifndef REFTY_LEVER_LEVER_RECORDS_H
#define REFTY_LEVER_LEVER_RECORDS_H

/*
 * What Lever's list pages hold, private to the Lever client: each kind of record (opportunity,
 * deleted opportunity, stage, posting, webhook) with how it is parsed and validated, identified, checked
 * against the query that listed it and handed to its callback; and the page parser, which
 * quarantines a record it cannot read where the caller asks it to. Pure: it never does I/O and
 * never logs (lever.c, which pages, reports what goes wrong).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "lever.h"

/* How to parse, free, identify and deliver one element of a list's "data". */
struct record_kind {
	const char *name; /* for messages: "opportunity" */
	size_t size;
	bool (*parse)(const struct json_node *node, void *rec, struct json_error *err);
	void (*finish)(void *rec);
	const char *(*id)(const void *rec);
	bool (*deliver)(void *cb, void *ud, const void *rec);
	/*
	 * Optional: why rec cannot belong to the listing asked for with query (a
	 * filter it fails), written to why; false when it fits.
	 */
	bool (*outside)(const void *rec, const void *query, char *why, size_t size);
	/* Records copy what they keep, so the parsed document can go before delivery. */
	bool owns_data;
	/*
	 * With owns_data: every member of an element that parse() reads, so that the others
	 * are checked but never built. NULL: the page is parsed whole.
	 */
	const struct json_keep *members;
};

/* The callback structs each kind's deliver() is given. */
struct opportunity_cb {
	bool (*fn)(void *ud, const struct opportunity *o);
};
struct deleted_cb {
	bool (*fn)(void *ud, const struct deleted_opportunity *d);
};
struct stage_cb {
	bool (*fn)(void *ud, const struct lever_stage *s);
};
struct posting_cb {
	bool (*fn)(void *ud, const struct lever_posting *p);
};
struct webhook_cb {
	bool (*fn)(void *ud, const struct lever_webhook *w);
};

/* The window of a deleted listing, in ms (0: unset). */
struct deleted_query {
	int64_t start, end;
};

/* A record that could not be read, and why; it is quarantined, not delivered. */
struct unreadable {
	char *id;
	char *reason;
};

/* One parsed page: its records, validated, and where the next page starts. */
struct page {
	struct json_object *root; /* NULL once records own their data */
	char *records;
	size_t n;
	struct unreadable *bad; /* only when the caller quarantines */
	size_t n_bad;
	char *next;
};

extern const struct record_kind lever_opportunity_kind;
extern const struct record_kind lever_deleted_kind;
extern const struct record_kind lever_stage_kind;
extern const struct record_kind lever_posting_kind;
extern const struct record_kind lever_webhook_kind;

/**
 * One webhook (an element of GET /webhooks' "data", or the "data" of the answer to POST
 * /webhooks); its strings are borrowed from node.
 */
bool lever_parse_webhook(const struct json_node *node, struct lever_webhook *w,
	struct json_error *err);

/** One opportunity (an element of "data", or the "data" of GET /opportunities/:id). */
bool lever_parse_opportunity(const struct json_node *node, struct opportunity *o,
	struct json_error *err);

/**
 * Parses a list page. With quarantine, an element that cannot be read but has a readable id
 * goes to page->bad with the reason instead of failing the page; an element without one
 * still fails it (there is nothing to name it by, or to fetch it again with).
 */
bool lever_page_parse(const char *body, size_t len, const struct record_kind *kind,
	bool quarantine, struct page *page, struct json_error *err);
void lever_page_finish(struct page *p, const struct record_kind *kind);

#endif
