/*
 * Lever's answers: every listing page parser, with and without the quarantine of unreadable
 * records, lever_parse_opportunities, and the answer to GET /opportunities/:id.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "lever-records.h"
#include "lever.h"
#include "log.h"
#include "opportunity.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	return 0;
}

/* What the validation promises of a record that reached a callback. */
static void check_opportunity(const struct opportunity *o)
{
	FUZZ_CHECK(o->id && o->id[0]);
	FUZZ_CHECK(o->name && o->stage_id);
	FUZZ_CHECK(json_utf8_valid(o->id, strlen(o->id)));
	FUZZ_CHECK(json_utf8_valid(o->name, strlen(o->name)));
	for (size_t i = 0; i < o->n_emails; i++) {
		FUZZ_CHECK(o->emails[i] && json_utf8_valid(o->emails[i], strlen(o->emails[i])));
	}
	for (size_t i = 0; i < o->n_phones; i++) {
		FUZZ_CHECK(o->phones[i]);
	}
	for (size_t i = 0; i < o->n_changes; i++) {
		FUZZ_CHECK(o->changes[i].stage_id);
	}
	FUZZ_CHECK(o->has_changes || o->n_changes == 0);
	(void)opportunity_email(o);
	(void)opportunity_phone(o);
}

struct count {
	size_t n;
};

static bool on_opportunity(void *ud, const struct opportunity *o)
{
	check_opportunity(o);
	((struct count *)ud)->n++;
	return true;
}

static bool same_token(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * A page that reads without quarantine reads the same with it; one that does not either
 * fails with it too or quarantines at least one record.
 */
static void listing(enum lever_listing which, const char *body, size_t len)
{
	struct lever_page_summary plain, lenient;
	struct json_error err;
	bool ok_plain = lever_parse_list_page(which, body, len, false, &plain, &err);
	if (!ok_plain) {
		FUZZ_CHECK(err.text[0]);
	}
	bool ok_lenient = lever_parse_list_page(which, body, len, true, &lenient, &err);
	if (ok_plain) {
		FUZZ_CHECK(ok_lenient);
		FUZZ_CHECK(lenient.records == plain.records && lenient.unreadable == 0);
		FUZZ_CHECK(same_token(plain.next, lenient.next));
	} else {
		FUZZ_CHECK(!ok_lenient || lenient.unreadable > 0);
	}
	FUZZ_CHECK(!plain.next || plain.next[0]);
	if (which == LEVER_LISTING_OPPORTUNITIES) {
		struct count count = {0};
		char *next = NULL;
		enum lever_status st =
			lever_parse_opportunities(body, len, on_opportunity, &count, &next, &err);
		FUZZ_CHECK((st == LEVER_OK) == ok_plain);
		FUZZ_CHECK(st != LEVER_OK || (count.n == plain.records && same_token(next, plain.next)));
		free(next);
	}
	free(plain.next);
	free(lenient.next);
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_opportunity(const struct opportunity *a, const struct opportunity *b)
{
	bool same = same_text(a->id, b->id) && same_text(a->name, b->name) &&
		    a->n_emails == b->n_emails && a->n_phones == b->n_phones &&
		    same_text(a->stage_id, b->stage_id) && a->n_changes == b->n_changes &&
		    a->has_changes == b->has_changes && same_text(a->posting_id, b->posting_id) &&
		    a->applied_at == b->applied_at &&
		    a->archived == b->archived && a->confidential == b->confidential &&
		    a->anonymized == b->anonymized && a->created_at == b->created_at &&
		    a->updated_at == b->updated_at && a->last_advanced_at == b->last_advanced_at &&
		    same_text(a->profile_url, b->profile_url);
	for (size_t i = 0; same && i < a->n_emails; i++) {
		same = same_text(a->emails[i], b->emails[i]);
	}
	for (size_t i = 0; same && i < a->n_phones; i++) {
		same = same_text(a->phones[i], b->phones[i]);
	}
	for (size_t i = 0; same && i < a->n_changes; i++) {
		same = same_text(a->changes[i].stage_id, b->changes[i].stage_id) &&
		       a->changes[i].at_ms == b->changes[i].at_ms;
	}
	return same;
}

/*
 * A page read element by element, with only the members a record reads, reads as the whole
 * document does: the same records, the same quarantined ones, the same error.
 */
static void split_as_whole(const struct record_kind *kind, const char *body, size_t len,
	bool quarantine)
{
	struct record_kind whole = *kind;
	whole.members = NULL;
	struct page a, b;
	struct json_error ea, eb;
	bool ok_a = lever_page_parse(body, len, kind, quarantine, &a, &ea);
	bool ok_b = lever_page_parse(body, len, &whole, quarantine, &b, &eb);
	FUZZ_CHECK(ok_a == ok_b);
	if (!ok_a) {
		FUZZ_CHECK(strcmp(ea.text, eb.text) == 0 && ea.offset == eb.offset);
		return;
	}
	FUZZ_CHECK(a.n == b.n && a.n_bad == b.n_bad && same_text(a.next, b.next));
	for (size_t i = 0; i < a.n; i++) {
		const void *ra = a.records + i * kind->size;
		const void *rb = b.records + i * kind->size;
		if (kind == &lever_opportunity_kind) {
			FUZZ_CHECK(same_opportunity(ra, rb));
		} else {
			const struct deleted_opportunity *da = ra, *db = rb;
			FUZZ_CHECK(same_text(da->id, db->id) && da->deleted_at == db->deleted_at);
		}
	}
	for (size_t i = 0; i < a.n_bad; i++) {
		FUZZ_CHECK(same_text(a.bad[i].id, b.bad[i].id) &&
			   same_text(a.bad[i].reason, b.bad[i].reason));
	}
	lever_page_finish(&a, kind);
	lever_page_finish(&b, &whole);
}

/*
 * The answer to GET /opportunities/:id, read first for an id no record has and then for the
 * id the record turned out to carry, so that both the mismatch and the match are reached.
 */
static void answer(const char *body, size_t len)
{
	struct opportunity o;
	struct json_error err;
	bool malformed;
	if (lever_parse_opportunity_answer(body, len, "\x01", &o, &malformed, &err)) {
		FUZZ_CHECK(strcmp(o.id, "\x01") == 0);
	} else {
		FUZZ_CHECK(err.text[0]);
	}
	char *seen = o.id ? strdup(o.id) : NULL;
	opportunity_finish(&o);
	if (!seen) {
		return;
	}
	FUZZ_CHECK(!malformed);
	if (lever_parse_opportunity_answer(body, len, seen, &o, &malformed, &err)) {
		FUZZ_CHECK(strcmp(o.id, seen) == 0);
		check_opportunity(&o);
	}
	opportunity_finish(&o);
	free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	listing(LEVER_LISTING_OPPORTUNITIES, body, size);
	listing(LEVER_LISTING_DELETED, body, size);
	listing(LEVER_LISTING_STAGES, body, size);
	listing(LEVER_LISTING_POSTINGS, body, size);
	listing(LEVER_LISTING_WEBHOOKS, body, size);
	split_as_whole(&lever_opportunity_kind, body, size, false);
	split_as_whole(&lever_opportunity_kind, body, size, true);
	split_as_whole(&lever_deleted_kind, body, size, false);

	answer(body, size);
	return 0;
}
