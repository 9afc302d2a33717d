#include "lever-records.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

static bool parse_string_array(const struct json_node *parent, const char *key, char ***out,
	size_t *n_out, struct json_error *err)
{
	struct json_node array;
	bool present;
	if (!json_opt_array(parent, key, &array, &present, err)) {
		return false;
	}
	size_t n = present ? json_array_len(&array) : 0;
	*out = n ? xcalloc(n, sizeof(**out)) : NULL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s;
		if (!json_array_string(&array, i, &s, err)) {
			return false;
		}
		(*out)[(*n_out)++] = xstrdup(s);
	}
	return true;
}

/* A string, or an object carrying it under "id" (what expand= turns ids into). */
static bool parse_id_ref(const struct json_node *parent, const char *key, bool required,
	char **out, struct json_error *err)
{
	struct json_node node;
	if (!json_get(parent, key, &node, err)) {
		return false;
	}
	const char *s;
	if (json_is_object(&node)) {
		if (!json_req_string(&node, "id", &s, err)) {
			return false;
		}
	} else if (required ? !json_req_string(parent, key, &s, err)
			    : !json_opt_string(parent, key, &s, err)) {
		return false;
	}
	if (required && !s[0]) {
		return json_fail(err, &node, "must not be empty");
	}
	*out = xstrdup(s);
	return true;
}

/* phones: objects with an optional type and a value; only the values are kept. */
static bool parse_phones(const struct json_node *node, struct opportunity *o,
	struct json_error *err)
{
	struct json_node phones;
	bool present;
	const char *s;
	if (!json_opt_array(node, "phones", &phones, &present, err)) {
		return false;
	}
	size_t n = present ? json_array_len(&phones) : 0;
	o->phones = n ? xcalloc(n, sizeof(*o->phones)) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_node phone;
		if (!json_array_object(&phones, i, &phone, err)
			|| !json_opt_string(&phone, "type", &s, err)
			|| !json_req_string(&phone, "value", &s, err)) {
			return false;
		}
		o->phones[o->n_phones++] = xstrdup(s);
	}
	return true;
}

/* stageChanges, when present: each entry's stage and time. */
static bool parse_changes(const struct json_node *node, struct opportunity *o,
	struct json_error *err)
{
	struct json_node changes;
	const char *s;
	if (!json_opt_array(node, "stageChanges", &changes, &o->has_changes, err)) {
		return false;
	}
	size_t n = o->has_changes ? json_array_len(&changes) : 0;
	o->changes = n ? xcalloc(n, sizeof(*o->changes)) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_node change;
		int64_t at;
		if (!json_array_object(&changes, i, &change, err)
			|| !json_req_string(&change, "toStageId", &s, err)
			|| !json_req_int64(&change, "updatedAt", &at, err)) {
			return false;
		}
		o->changes[o->n_changes].stage_id = xstrdup(s);
		o->changes[o->n_changes].at_ms = at;
		o->n_changes++;
	}
	return true;
}

/* Every member lever_parse_opportunity reads: a page is parsed for these only. */
static const struct json_keep phone_members[] = {{"type", NULL}, {"value", NULL}, {NULL, NULL}};
static const struct json_keep change_members[] = {
	{"toStageId", NULL}, {"updatedAt", NULL}, {NULL, NULL},
};
static const struct json_keep application_members[] = {
	{"posting", NULL}, {"createdAt", NULL}, {NULL, NULL}};
static const struct json_keep urls_members[] = {{"show", NULL}, {NULL, NULL}};
static const struct json_keep opportunity_members[] = {
	{"id", NULL}, {"name", NULL}, {"emails", NULL}, {"phones", phone_members},
	{"stage", NULL}, {"stageChanges", change_members},
	{"applications", application_members}, {"archived", NULL}, {"archivedAt", NULL},
	{"confidentiality", NULL}, {"isAnonymized", NULL}, {"createdAt", NULL},
	{"updatedAt", NULL}, {"lastAdvancedAt", NULL}, {"urls", urls_members}, {NULL, NULL},
};

bool lever_parse_opportunity(const struct json_node *node, struct opportunity *o,
	struct json_error *err)
{
	const char *s;
	bool present;
	o->applied_at = OPP_TIME_NONE;
	o->created_at = OPP_TIME_NONE;
	o->updated_at = OPP_TIME_NONE;
	o->last_advanced_at = OPP_TIME_NONE;
	if (!json_expect_object(node, err) || !json_req_string(node, "id", &s, err)) {
		return false;
	}
	if (!s[0]) {
		struct json_node id;
		json_get(node, "id", &id, err);
		return json_fail(err, &id, "must not be empty");
	}
	o->id = xstrdup(s);
	if (!json_opt_string(node, "name", &s, err)) {
		return false;
	}
	o->name = xstrdup(s ? s : "");
	if (!parse_string_array(node, "emails", &o->emails, &o->n_emails, err)) {
		return false;
	}

	if (!parse_phones(node, o, err)) {
		return false;
	}

	if (!parse_id_ref(node, "stage", true, &o->stage_id, err)) {
		return false;
	}

	if (!parse_changes(node, o, err)) {
		return false;
	}

	struct json_node apps;
	if (!json_opt_array(node, "applications", &apps, &present, err)) {
		return false;
	}
	if (present && json_array_len(&apps) > 0) {
		// Lever attaches at most one application; its posting is the opportunity's job.
		struct json_node app;
		if (!json_array_object(&apps, 0, &app, err)
			|| !parse_id_ref(&app, "posting", false, &o->posting_id, err)
			|| !json_opt_int64(&app, "createdAt", OPP_TIME_NONE, &o->applied_at, err)) {
			return false;
		}
	}

	struct json_node archived;
	if (!json_opt_object(node, "archived", &archived, &present, err)) {
		return false;
	}
	int64_t legacy_archived_at;
	if (!json_opt_int64(node, "archivedAt", OPP_TIME_NONE, &legacy_archived_at, err)) {
		return false;
	}
	o->archived = present || legacy_archived_at != OPP_TIME_NONE;

	if (!json_opt_string(node, "confidentiality", &s, err)) {
		return false;
	}
	o->confidential = s && strcmp(s, "confidential") == 0;
	if (!json_opt_bool(node, "isAnonymized", false, &o->anonymized, err)
		|| !json_req_int64(node, "createdAt", &o->created_at, err)
		|| !json_opt_int64(node, "updatedAt", OPP_TIME_NONE, &o->updated_at, err)
		|| !json_opt_int64(node, "lastAdvancedAt", OPP_TIME_NONE, &o->last_advanced_at,
			err)) {
		return false;
	}

	struct json_node urls;
	if (!json_opt_object(node, "urls", &urls, &present, err)) {
		return false;
	}
	if (present) {
		if (!json_opt_string(&urls, "show", &s, err)) {
			return false;
		}
		o->profile_url = xstrdup(s);
	}
	return true;
}

static bool parse_opportunity(const struct json_node *node, void *rec, struct json_error *err)
{
	return lever_parse_opportunity(node, rec, err);
}

static void finish_opportunity(void *rec)
{
	opportunity_finish(rec);
}

static const char *opportunity_id(const void *rec)
{
	return ((const struct opportunity *)rec)->id;
}


static bool deliver_opportunity(void *cb, void *ud, const void *rec)
{
	return ((struct opportunity_cb *)cb)->fn(ud, rec);
}

static bool outside_range(int64_t t, int64_t lo, int64_t hi)
{
	return (lo != 0 && t < lo) || (hi != 0 && t > hi);
}

static bool opportunity_outside(const void *rec, const void *query, char *why, size_t size)
{
	const struct opportunity *o = rec;
	const struct lever_opportunity_query *q = query;
	if (outside_range(o->created_at, q->created_at_start, q->created_at_end)) {
		snprintf(why, size, "createdAt %" PRId64 " outside created_at_start %" PRId64
				    " .. created_at_end %" PRId64,
			o->created_at, q->created_at_start, q->created_at_end);
		return true;
	}
	// updatedAt is not checked: Lever filters updated_at_* on every change, and
	// the field tracks only some of them (and is often null).
	if ((q->archived == LEVER_ARCHIVED_NONE && o->archived) ||
		(q->archived == LEVER_ARCHIVED_ONLY && !o->archived)) {
		snprintf(why, size, "%s although archived=%s was asked for",
			o->archived ? "archived" : "not archived",
			q->archived == LEVER_ARCHIVED_NONE ? "false" : "true");
		return true;
	}
	if (q->n_posting_ids > 0 && o->posting_id) {
		for (size_t i = 0; i < q->n_posting_ids; i++) {
			if (strcmp(q->posting_ids[i], o->posting_id) == 0) {
				return false;
			}
		}
		snprintf(why, size, "a posting that was not asked for");
		return true;
	}
	return false;
}

const struct record_kind lever_opportunity_kind = {
	.name = "opportunity",
	.size = sizeof(struct opportunity),
	.parse = parse_opportunity,
	.finish = finish_opportunity,
	.id = opportunity_id,
	.deliver = deliver_opportunity,
	.outside = opportunity_outside,
	.owns_data = true,
	.members = opportunity_members,
};

static const struct json_keep deleted_members[] = {{"id", NULL}, {"deletedAt", NULL}, {NULL, NULL}};

static bool parse_deleted(const struct json_node *node, void *rec, struct json_error *err)
{
	struct deleted_opportunity *d = rec;
	const char *id;
	d->deleted_at = OPP_TIME_NONE;
	if (!json_expect_object(node, err) || !json_req_string(node, "id", &id, err)
		|| !json_opt_int64(node, "deletedAt", OPP_TIME_NONE, &d->deleted_at, err)) {
		return false;
	}
	d->id = xstrdup(id);
	return true;
}

static void finish_deleted(void *rec)
{
	struct deleted_opportunity *d = rec;
	free(d->id);
	d->id = NULL;
}

static const char *deleted_id(const void *rec)
{
	return ((const struct deleted_opportunity *)rec)->id;
}


static bool deliver_deleted(void *cb, void *ud, const void *rec)
{
	return ((struct deleted_cb *)cb)->fn(ud, rec);
}


static bool deleted_outside(const void *rec, const void *query, char *why, size_t size)
{
	const struct deleted_opportunity *d = rec;
	const struct deleted_query *q = query;
	if (d->deleted_at != OPP_TIME_NONE && outside_range(d->deleted_at, q->start, q->end)) {
		snprintf(why, size, "deletedAt %" PRId64 " outside deleted_at_start %" PRId64
				    " .. deleted_at_end %" PRId64,
			d->deleted_at, q->start, q->end);
		return true;
	}
	return false;
}

const struct record_kind lever_deleted_kind = {
	.name = "deleted opportunity",
	.size = sizeof(struct deleted_opportunity),
	.parse = parse_deleted,
	.finish = finish_deleted,
	.id = deleted_id,
	.deliver = deliver_deleted,
	.outside = deleted_outside,
	.owns_data = true,
	.members = deleted_members,
};

/* Stages and postings borrow their strings from the page being parsed. */
static bool parse_stage(const struct json_node *node, void *rec, struct json_error *err)
{
	struct lever_stage *s = rec;
	return json_expect_object(node, err) && json_req_string(node, "id", &s->id, err)
		&& json_req_string(node, "text", &s->text, err);
}

static void finish_borrowed(void *rec)
{
}

static const char *stage_id(const void *rec)
{
	return ((const struct lever_stage *)rec)->id;
}


static bool deliver_stage(void *cb, void *ud, const void *rec)
{
	return ((struct stage_cb *)cb)->fn(ud, rec);
}

const struct record_kind lever_stage_kind = {
	.name = "stage",
	.size = sizeof(struct lever_stage),
	.parse = parse_stage,
	.finish = finish_borrowed,
	.id = stage_id,
	.deliver = deliver_stage,
};

static bool parse_posting(const struct json_node *node, void *rec, struct json_error *err)
{
	struct lever_posting *p = rec;
	return json_expect_object(node, err) && json_req_string(node, "id", &p->id, err)
		&& json_req_string(node, "text", &p->text, err)
		&& json_opt_string(node, "state", &p->state, err);
}

static const char *posting_id(const void *rec)
{
	return ((const struct lever_posting *)rec)->id;
}


static bool deliver_posting(void *cb, void *ud, const void *rec)
{
	return ((struct posting_cb *)cb)->fn(ud, rec);
}

const struct record_kind lever_posting_kind = {
	.name = "posting",
	.size = sizeof(struct lever_posting),
	.parse = parse_posting,
	.finish = finish_borrowed,
	.id = posting_id,
	.deliver = deliver_posting,
};


bool lever_parse_webhook(const struct json_node *node, struct lever_webhook *w,
	struct json_error *err)
{
	memset(w, 0, sizeof(*w));
	struct json_node conf;
	bool has_conf = false;
	if (!json_expect_object(node, err) || !json_req_string(node, "id", &w->id, err)
		|| !json_req_string(node, "event", &w->event, err)
		|| !json_req_string(node, "url", &w->url, err)
		|| !json_opt_object(node, "configuration", &conf, &has_conf, err)) {
		return false;
	}
	return !has_conf || json_opt_string(&conf, "signatureToken", &w->signature_token, err);
}

static bool parse_webhook_rec(const struct json_node *node, void *rec, struct json_error *err)
{
	return lever_parse_webhook(node, rec, err);
}

static const char *webhook_id(const void *rec)
{
	return ((const struct lever_webhook *)rec)->id;
}

static bool deliver_webhook(void *cb, void *ud, const void *rec)
{
	return ((struct webhook_cb *)cb)->fn(ud, rec);
}

const struct record_kind lever_webhook_kind = {
	.name = "webhook",
	.size = sizeof(struct lever_webhook),
	.parse = parse_webhook_rec,
	.finish = finish_borrowed,
	.id = webhook_id,
	.deliver = deliver_webhook,
};

void lever_page_finish(struct page *p, const struct record_kind *kind)
{
	for (size_t i = 0; i < p->n; i++) {
		kind->finish(p->records + i * kind->size);
	}
	free(p->records);
	for (size_t i = 0; i < p->n_bad; i++) {
		free(p->bad[i].id);
		free(p->bad[i].reason);
	}
	free(p->bad);
	free(p->next);
	json_free(p->root);
	memset(p, 0, sizeof(*p));
}

/* Ids longer than this are not Lever's: a record carrying one is not quarantined by it. */
#define MAX_ID_LEN 200

/* The element's id when it is a non-empty string, else NULL. Borrowed. */
static const char *element_id(const struct json_node *elem)
{
	struct json_error ignored;
	const char *id = NULL;
	if (!json_expect_object(elem, &ignored) || !json_opt_string(elem, "id", &id, &ignored)
		|| !id || !id[0]) {
		return NULL;
	}
	return id;
}

/* The element's id when it is fit to name it by and fetch it again with, else NULL. Borrowed. */
static const char *readable_id(const struct json_node *elem)
{
	const char *id = element_id(elem);
	if (!id || strlen(id) > MAX_ID_LEN) {
		return NULL;
	}
	for (const char *p = id; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			return NULL;
		}
	}
	return id;
}

/* Adds "(<kind> '<id>')" to err when the broken element has an id at all. */
static void add_record_context(struct json_error *err, const struct record_kind *kind,
	const struct json_node *elem)
{
	const char *id = element_id(elem);
	if (!id) {
		return;
	}
	char *clean = log_sanitize(id);
	size_t len = strlen(err->text);
	snprintf(err->text + len, sizeof(err->text) - len, " (%s '%.64s')", kind->name, clean);
	free(clean);
}

/* The page's own members: where it says the next page starts. */
static bool parse_next(const struct json_node *root, struct json_node *data, struct page *page,
	struct json_error *err)
{
	bool has_next;
	const char *next = NULL;
	if (!json_req_array(root, "data", data, err)
		|| !json_opt_bool(root, "hasNext", false, &has_next, err)
		|| !json_opt_string(root, "next", &next, err)) {
		return false;
	}
	if (has_next && (!next || !next[0])) {
		struct json_node node;
		json_get(root, "next", &node, err);
		return json_fail(err, &node, "missing while hasNext is true");
	}
	page->next = has_next ? xstrdup(next) : NULL;
	return true;
}

/*
 * Reads elem into the next record of the page, or quarantines it. False, with err filled,
 * when the page fails on it.
 */
static bool take_record(const struct record_kind *kind, bool quarantine,
	const struct json_node *elem, struct page *page, size_t capacity, struct json_error *err)
{
	void *rec = page->records + page->n * kind->size;
	bool ok = kind->parse(elem, rec, err);
	page->n++; // a partly filled record still needs freeing
	if (ok) {
		return true;
	}
	const char *id = quarantine ? readable_id(elem) : NULL;
	if (!id) {
		add_record_context(err, kind, elem);
		return false;
	}
	page->n--;
	kind->finish(rec);
	memset(rec, 0, kind->size);
	if (page->n_bad == 0) {
		page->bad = xcalloc(capacity, sizeof(*page->bad));
	}
	page->bad[page->n_bad++] = (struct unreadable){xstrdup(id), xstrdup(err->text)};
	return true;
}

/*
 * Reads a page one element at a time, building only the members the kind reads. 1: read;
 * -1: failed, err filled; 0: the page is not plainly valid, and is to be parsed whole, which
 * reports what a split would not.
 */
static int parse_split(const char *body, size_t len, const struct record_kind *kind,
	bool quarantine, struct page *page, struct json_error *err)
{
	struct json_split split;
	if (!json_split(body, len, "data", kind->members, &split)) {
		return 0;
	}
	err->offset = 0; // as json_parse leaves it for a document it read
	struct json_node root, data;
	json_root(&root, split.rest);
	// After a failure the elements are still parsed, for a JSON error only, which the
	// whole document's parse would have reported first.
	int result = parse_next(&root, &data, page, err) ? 1 : -1;
	page->records = split.n ? xcalloc(split.n, kind->size) : NULL;
	for (size_t i = 0; i < split.n; i++) {
		struct json_object *obj = json_split_element(&split, i);
		if (!obj) {
			result = 0;
			break;
		}
		// Named as in the whole document: "data[i]".
		struct json_node elem = {.obj = obj, .parent = &data, .key = NULL, .index = i};
		if (result > 0 && !take_record(kind, quarantine, &elem, page, split.n, err)) {
			result = -1;
		}
		json_free(obj);
	}
	json_split_finish(&split);
	if (result <= 0) {
		lever_page_finish(page, kind);
	}
	return result;
}

bool lever_page_parse(const char *body, size_t len, const struct record_kind *kind,
	bool quarantine, struct page *page, struct json_error *err)
{
	memset(page, 0, sizeof(*page));
	if (kind->owns_data && kind->members) {
		int split = parse_split(body, len, kind, quarantine, page, err);
		if (split != 0) {
			return split > 0;
		}
	}
	page->root = json_parse(body, len, err);
	if (!page->root) {
		return false;
	}
	struct json_node root, data;
	json_root(&root, page->root);
	if (!parse_next(&root, &data, page, err)) {
		goto fail;
	}
	size_t n = json_array_len(&data);
	page->records = n ? xcalloc(n, kind->size) : NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_node elem;
		json_array_at(&data, i, &elem);
		if (!take_record(kind, quarantine, &elem, page, n, err)) {
			goto fail;
		}
	}
	if (kind->owns_data) {
		// Concurrent listings would otherwise each hold a whole document
		// while their records wait to be delivered.
		json_free(page->root);
		page->root = NULL;
	}
	return true;
fail:
	lever_page_finish(page, kind);
	return false;
}

enum lever_status lever_parse_opportunities(const char *body, size_t len,
	bool (*cb)(void *ud, const struct opportunity *o), void *ud, char **next,
	struct json_error *err)
{
	*next = NULL;
	struct page page;
	if (!lever_page_parse(body, len, &lever_opportunity_kind, false, &page, err)) {
		return LEVER_ERR_DATA;
	}
	enum lever_status status = LEVER_OK;
	struct opportunity *records = (struct opportunity *)(void *)page.records;
	for (size_t i = 0; i < page.n; i++) {
		if (!cb(ud, &records[i])) {
			status = LEVER_ERR_CANCELLED;
			break;
		}
	}
	if (status == LEVER_OK) {
		*next = xstrdup(page.next);
	}
	lever_page_finish(&page, &lever_opportunity_kind);
	return status;
}

bool lever_parse_list_page(enum lever_listing listing, const char *body, size_t len,
	bool quarantine, struct lever_page_summary *out, struct json_error *err)
{
	static const struct record_kind *const kinds[] = {
		[LEVER_LISTING_OPPORTUNITIES] = &lever_opportunity_kind,
		[LEVER_LISTING_DELETED] = &lever_deleted_kind,
		[LEVER_LISTING_STAGES] = &lever_stage_kind,
		[LEVER_LISTING_POSTINGS] = &lever_posting_kind,
		[LEVER_LISTING_WEBHOOKS] = &lever_webhook_kind,
	};
	memset(out, 0, sizeof(*out));
	const struct record_kind *kind = kinds[listing];
	struct page page;
	if (!lever_page_parse(body, len, kind, quarantine, &page, err)) {
		return false;
	}
	out->records = page.n;
	out->unreadable = page.n_bad;
	out->next = page.next;
	page.next = NULL;
	lever_page_finish(&page, kind);
	return true;
}

bool lever_parse_opportunity_answer(const char *body, size_t len, const char *id,
	struct opportunity *o, bool *malformed, struct json_error *err)
{
	memset(o, 0, sizeof(*o));
	struct json_object *root = json_parse(body, len, err);
	*malformed = root == NULL;
	if (!root) {
		return false;
	}
	struct json_node node, data;
	json_root(&node, root);
	bool read = json_req_object(&node, "data", &data, err) &&
		    lever_parse_opportunity(&data, o, err);
	if (read && strcmp(o->id, id) != 0) {
		char *clean = log_sanitize(o->id); // Lever's text, bound for a log line
		read = json_fail(err, &data, "is opportunity '%.64s', not the one asked for", clean);
		free(clean);
	}
	json_free(root);
	return read;
}
