#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lever.h"
#include "opportunity.h"
#include "tap.h"
#include "xalloc.h"

/* Collected copies of the records a parse delivered. */
struct collected {
	struct opportunity opps[64];
	size_t n;
	size_t stop_after; /* 0: never cancel */
};

static char **copy_strv(char *const *v, size_t n)
{
	char **out = n ? xcalloc(n, sizeof(*out)) : NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = xstrdup(v[i]);
	}
	return out;
}

static bool collect(void *ud, const struct opportunity *o)
{
	struct collected *c = ud;
	if (c->stop_after && c->n == c->stop_after) {
		return false;
	}
	if (c->n == sizeof(c->opps) / sizeof(c->opps[0])) {
		return true;
	}
	struct opportunity *d = &c->opps[c->n++];
	*d = *o;
	d->id = xstrdup(o->id);
	d->name = xstrdup(o->name);
	d->emails = copy_strv(o->emails, o->n_emails);
	d->phones = copy_strv(o->phones, o->n_phones);
	d->stage_id = xstrdup(o->stage_id);
	d->changes = o->n_changes ? xcalloc(o->n_changes, sizeof(*d->changes)) : NULL;
	for (size_t i = 0; i < o->n_changes; i++) {
		d->changes[i].stage_id = xstrdup(o->changes[i].stage_id);
		d->changes[i].at_ms = o->changes[i].at_ms;
	}
	d->posting_id = xstrdup(o->posting_id);
	d->profile_url = xstrdup(o->profile_url);
	return true;
}

static void collected_finish(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++) {
		opportunity_finish(&c->opps[i]);
	}
	c->n = 0;
}

static enum lever_status parse(const char *body, struct collected *c, char **next,
	struct json_error *err)
{
	memset(c, 0, sizeof(*c));
	return lever_parse_opportunities(body, strlen(body), collect, c, next, err);
}

/* The example of the API reference: every field, expanded applications. */
static const char *full_page =
	"{\"data\": [{"
	"\"id\": \"5b1f0c2e-7d1a-4c33-9e0b-2f6a8c1d4e77\", \"name\": \"Ada Example\","
	"\"headline\": \"Acme Corp, Example University\","
	"\"contact\": \"c0ffee00-1111-4222-8333-944445555666\","
	"\"emails\": [\"ada@example.org\", \"ada@work.example\"],"
	"\"phones\": [{\"type\": \"mobile\", \"value\": \"+44 20 7946 0000\"}],"
	"\"location\": \"London\", \"links\": [\"https://www.linkedin.com/in/ada-example\"],"
	"\"confidentiality\": \"non-confidential\","
	"\"stage\": \"3f0d7a52-1c5e-4b8a-a0f1-6b2d9e4c7a10\","
	"\"stageChanges\": ["
	"{\"toStageId\": \"applicant-new\", \"toStageIndex\": 0, \"userId\": null,"
	" \"updatedAt\": 1767225600000},"
	"{\"toStageId\": \"3f0d7a52-1c5e-4b8a-a0f1-6b2d9e4c7a10\", \"toStageIndex\": 5,"
	" \"userId\": \"9a8b7c6d-0000-4000-8000-123456789abc\", \"updatedAt\": 1767830400000}],"
	"\"archived\": null, \"tags\": [\"Backend\"], \"sources\": [\"Job site\"],"
	"\"origin\": \"applied\", \"sourcedBy\": null,"
	"\"owner\": \"9a8b7c6d-0000-4000-8000-123456789abc\","
	"\"followers\": [\"9a8b7c6d-0000-4000-8000-123456789abc\"],"
	"\"applications\": [{\"id\": \"aa11bb22-cc33-4d44-8e55-ff6677889900\","
	" \"opportunityId\": \"5b1f0c2e-7d1a-4c33-9e0b-2f6a8c1d4e77\", \"type\": \"posting\","
	" \"posting\": \"7e6d5c4b-3a29-4187-9654-3210fedcba98\","
	" \"postingOwner\": \"9a8b7c6d-0000-4000-8000-123456789abc\","
	" \"postingHiringManager\": \"1234abcd-5678-4ef0-9abc-def012345678\","
	" \"createdAt\": 1767225600000, \"archived\": null}],"
	"\"createdAt\": 1767225600000, \"updatedAt\": 1767830401234,"
	"\"lastInteractionAt\": 1767830401000, \"lastAdvancedAt\": 1767830400000,"
	"\"snoozedUntil\": null,"
	"\"urls\": {\"list\": \"https://hire.lever.co/candidates\","
	" \"show\": \"https://hire.lever.co/candidates/5b1f0c2e-7d1a-4c33-9e0b-2f6a8c1d4e77\"},"
	"\"dataProtection\": null, \"isAnonymized\": false, \"someFutureField\": {\"x\": [1]}"
	"}], \"hasNext\": true, \"next\": \"0.1767830455000.8c2e1d0f-4a3b-4c2d-9e1f-001122334455\"}";

static void test_full(void)
{
	struct collected c;
	char *next;
	struct json_error err;
	is_int(parse(full_page, &c, &next, &err), LEVER_OK, "full example parses");
	is_int(c.n, 1, "one record");
	struct opportunity *o = &c.opps[0];
	is_str(o->id, "5b1f0c2e-7d1a-4c33-9e0b-2f6a8c1d4e77", "id");
	is_str(o->name, "Ada Example", "name");
	is_int(o->n_emails, 2, "emails");
	is_str(o->emails[1], "ada@work.example", "second email");
	is_int(o->n_phones, 1, "phones");
	is_str(o->phones[0], "+44 20 7946 0000", "phone value");
	is_str(o->stage_id, "3f0d7a52-1c5e-4b8a-a0f1-6b2d9e4c7a10", "stage");
	ok(o->has_changes, "has stageChanges");
	is_int(o->n_changes, 2, "two stage changes");
	is_str(o->changes[0].stage_id, "applicant-new", "built-in stage id kept as is");
	is_int(o->changes[1].at_ms, 1767830400000, "change time");
	is_str(o->posting_id, "7e6d5c4b-3a29-4187-9654-3210fedcba98", "posting from application");
	ok(!o->archived && !o->confidential && !o->anonymized, "flags");
	is_int(o->created_at, 1767225600000, "createdAt");
	is_int(o->updated_at, 1767830401234, "updatedAt");
	is_int(o->last_advanced_at, 1767830400000, "lastAdvancedAt");
	is_str(o->profile_url,
		"https://hire.lever.co/candidates/5b1f0c2e-7d1a-4c33-9e0b-2f6a8c1d4e77", "urls.show");
	is_str(next, "0.1767830455000.8c2e1d0f-4a3b-4c2d-9e1f-001122334455", "next token");
	free(next);
	collected_finish(&c);
}

/* Shapes seen in real Lever responses and in Lever's own documentation examples. */
static void test_shapes(void)
{
	const char *page =
		"{\"data\": ["
		// 0: bare minimum: no name, no stageChanges, no updatedAt, no applications
		"{\"id\": \"o0\", \"stage\": \"lead-new\", \"createdAt\": 1},"
		// 1: empty name and arrays, phone without type, null updatedAt
		"{\"id\": \"o1\", \"name\": \"\", \"emails\": [], \"phones\": [{\"value\": \"(123) "
		"456-7891\"}], \"stage\": \"offer\", \"stageChanges\": [], \"applications\": [],"
		" \"createdAt\": 2, \"updatedAt\": null, \"lastAdvancedAt\": null},"
		// 2: legacy top-level archivedAt / archiveReason
		"{\"id\": \"o2\", \"stage\": \"s\", \"createdAt\": 3, \"archivedAt\": 1407460069499,"
		" \"archiveReason\": \"r\", \"lastAdvancedAt\": 17},"
		// 3: archived object, confidential, anonymized, expanded stage and posting
		"{\"id\": \"o3\", \"stage\": {\"id\": \"applicant-new\", \"text\": \"New applicant\"},"
		" \"createdAt\": 4, \"archived\": {\"reason\": \"r\", \"archivedAt\": 5},"
		" \"confidentiality\": \"confidential\", \"isAnonymized\": true,"
		" \"applications\": [{\"id\": \"a\", \"posting\": {\"id\": \"p3\", \"text\": \"T\"}}]},"
		// 4: null archived, legacy archivedAt null, application without a posting
		"{\"id\": \"o4\", \"stage\": \"s\", \"createdAt\": 5, \"archived\": null,"
		" \"archivedAt\": null, \"applications\": [{\"id\": \"a\", \"type\": \"user\","
		" \"posting\": null}], \"urls\": {}, \"phones\": [{\"type\": null, \"value\": \"1\"}]}"
		"], \"hasNext\": false, \"next\": \"ignored-on-the-last-page\"}";
	struct collected c;
	char unchanged[] = "unchanged";
	char *next = unchanged;
	struct json_error err;
	is_int(parse(page, &c, &next, &err), LEVER_OK, "every documented shape is accepted");
	ok(next == NULL, "no next token on the last page");
	is_int(c.n, 5, "five records");

	struct opportunity *o = &c.opps[0];
	is_str(o->name, "", "missing name reads as empty");
	ok(!o->has_changes && o->n_changes == 0, "no stageChanges field");
	is_int(o->updated_at, OPP_TIME_NONE, "missing updatedAt");
	is_int(o->last_advanced_at, OPP_TIME_NONE, "missing lastAdvancedAt");
	ok(o->posting_id == NULL, "no applications, no posting");
	ok(o->profile_url == NULL, "no urls");
	is_str(o->stage_id, "lead-new", "built-in stage");

	o = &c.opps[1];
	is_str(o->name, "", "empty name");
	is_int(o->n_emails, 0, "empty emails");
	is_int(o->n_phones, 1, "phone without type");
	is_str(o->phones[0], "(123) 456-7891", "its value");
	ok(o->has_changes && o->n_changes == 0, "empty stageChanges is still present");
	ok(o->posting_id == NULL, "empty applications");
	is_int(o->updated_at, OPP_TIME_NONE, "null updatedAt");

	o = &c.opps[2];
	ok(o->archived, "legacy archivedAt means archived");
	is_int(o->last_advanced_at, 17, "lastAdvancedAt stands in for stageChanges");

	o = &c.opps[3];
	ok(o->archived, "archived object");
	ok(o->confidential, "confidential");
	ok(o->anonymized, "anonymized");
	is_str(o->stage_id, "applicant-new", "expanded stage object");
	is_str(o->posting_id, "p3", "expanded posting object");

	o = &c.opps[4];
	ok(!o->archived, "null archived and null archivedAt");
	ok(o->posting_id == NULL, "application with a null posting");
	ok(o->profile_url == NULL, "urls without show");
	collected_finish(&c);

	is_int(parse("{\"data\": []}", &c, &next, &err), LEVER_OK, "empty page, no paging keys");
	ok(next == NULL && c.n == 0, "nothing delivered, last page");
}

/* Builds a page of n valid records followed by one with the given fields. */
static char *page_with(size_t n_valid, const char *bad_record)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"data\": [");
	for (size_t i = 0; i < n_valid; i++) {
		strbuf_printf(&sb, "{\"id\": \"opp-%zu\", \"stage\": \"s\", \"createdAt\": 1,"
				   " \"stageChanges\": [{\"toStageId\": \"s\", \"updatedAt\": 1}]},",
			i);
	}
	strbuf_puts(&sb, bad_record);
	strbuf_puts(&sb, "], \"hasNext\": false}");
	return strbuf_steal(&sb);
}

static void test_malformed_records(void)
{
	static const struct {
		size_t n_valid;
		const char *record;
		const char *message;
	} cases[] = {
		{37,
			"{\"id\": \"opp-37\", \"stage\": \"s\", \"createdAt\": 1, \"stageChanges\": ["
			"{\"toStageId\": \"a\", \"updatedAt\": 1}, {\"toStageId\": \"b\", \"updatedAt\": 2},"
			"{\"toStageId\": \"c\", \"updatedAt\": \"2026-01-01\"}]}",
			"data[37].stageChanges[2].updatedAt: expected an integer, got string"
			" (opportunity 'opp-37')"},
		{0, "\"opp\"", "data[0]: expected an object, got string"},
		{2, "null", "data[2]: expected an object, got null"},
		{1, "{\"stage\": \"s\", \"createdAt\": 1}", "data[1].id: missing"},
		{0, "{\"id\": 7, \"stage\": \"s\", \"createdAt\": 1}",
			"data[0].id: expected a string, got integer"},
		{0, "{\"id\": \"\", \"stage\": \"s\", \"createdAt\": 1}", "data[0].id: must not be empty"},
		{0, "{\"id\": \"x\", \"createdAt\": 1}", "data[0].stage: missing (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": null, \"createdAt\": 1}",
			"data[0].stage: must not be null (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": {\"text\": \"t\"}, \"createdAt\": 1}",
			"data[0].stage.id: missing (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\"}", "data[0].createdAt: missing (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1.5}",
			"data[0].createdAt: expected an integer, got a non-integer number"
			" (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"updatedAt\": \"1\"}",
			"data[0].updatedAt: expected an integer, got string (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"emails\": [\"a\", 2]}",
			"data[0].emails[1]: expected a string, got integer (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"emails\": \"a@b\"}",
			"data[0].emails: expected an array, got string (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"phones\": [\"123\"]}",
			"data[0].phones[0]: expected an object, got string (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"phones\": [{\"type\": \"m\"}]}",
			"data[0].phones[0].value: missing (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"stageChanges\": {}}",
			"data[0].stageChanges: expected an array, got object (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"stageChanges\": [[]]}",
			"data[0].stageChanges[0]: expected an object, got array (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"stageChanges\":"
		    " [{\"updatedAt\": 1}]}",
			"data[0].stageChanges[0].toStageId: missing (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"archived\": true}",
			"data[0].archived: expected an object, got boolean (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"applications\": [\"a1\"]}",
			"data[0].applications[0]: expected an object, got string (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"applications\":"
		    " [{\"posting\": 5}]}",
			"data[0].applications[0].posting: expected a string, got integer"
			" (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"isAnonymized\": \"no\"}",
			"data[0].isAnonymized: expected a boolean, got string (opportunity 'x')"},
		{0, "{\"id\": \"x\", \"stage\": \"s\", \"createdAt\": 1, \"urls\": {\"show\": 1}}",
			"data[0].urls.show: expected a string, got integer (opportunity 'x')"},
		{0, "{\"id\": \"x\\u0007y\", \"stage\": \"s\"}",
			"data[0].createdAt: missing (opportunity 'x?y')"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = page_with(cases[i].n_valid, cases[i].record);
		struct collected c;
		char unchanged[] = "unchanged";
		char *next = unchanged;
		struct json_error err;
		is_int(parse(body, &c, &next, &err), LEVER_ERR_DATA, cases[i].message);
		is_str(err.text, cases[i].message, "exact path");
		is_int(c.n, 0, "nothing of a bad page is delivered");
		ok(next == NULL, "no next token after an error");
		collected_finish(&c);
		free(body);
	}
}

static void test_malformed_pages(void)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{"{\"data\": {}}", "data: expected an array, got object"},
		{"{\"data\": null}", "data: must not be null"},
		{"{\"hasNext\": false}", "data: missing"},
		{"[]", "(root): expected an object, got array"},
		{"{\"data\": [], \"hasNext\": \"yes\"}", "hasNext: expected a boolean, got string"},
		{"{\"data\": [], \"hasNext\": true}", "next: missing while hasNext is true"},
		{"{\"data\": [], \"hasNext\": true, \"next\": \"\"}", "next: missing while hasNext is true"},
		{"{\"data\": [], \"hasNext\": true, \"next\": 5}", "next: expected a string, got integer"},
		{"{\"data\": [", "invalid JSON at byte 10: unexpected end of input"},
		{"<html>", "invalid JSON at byte 0: unexpected character"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collected c;
		char *next;
		struct json_error err;
		is_int(parse(cases[i].body, &c, &next, &err), LEVER_ERR_DATA, cases[i].message);
		is_str(err.text, cases[i].message, "exact message");
		collected_finish(&c);
	}
}

static void test_cancel(void)
{
	char *body = page_with(5, "{\"id\": \"last\", \"stage\": \"s\", \"createdAt\": 1}");
	struct collected c;
	memset(&c, 0, sizeof(c));
	c.stop_after = 3;
	char unchanged[] = "unchanged";
	char *next = unchanged;
	struct json_error err;
	is_int(lever_parse_opportunities(body, strlen(body), collect, &c, &next, &err),
		LEVER_ERR_CANCELLED, "a callback returning false cancels");
	is_int(c.n, 3, "no record after the cancel");
	ok(next == NULL, "no next token after a cancel");
	collected_finish(&c);
	free(body);
}

int main(void)
{
	test_full();
	test_shapes();
	test_malformed_records();
	test_malformed_pages();
	test_cancel();
	return tap_done();
}
