/* Unit tests for src/diff.c: what changed in one opportunity since the snapshot saw it. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "opportunity.h"
#include "tap.h"
#include "xalloc.h"

#define NONE OPP_TIME_NONE
#define MAX_CHANGES 8

/* Times: 2026-01-01T00:00:00Z plus a few minutes. */
#define T0 1767225600000
#define MIN 60000
#define T(n) (T0 + (n) * MIN)

/* What a poll started at T(60) believes: up to a day later, nothing before 2000. */
static struct diff_trust trust;

struct change_spec {
	const char *stage;
	int64_t at;
};

struct opp_spec {
	const char *posting;
	const char *stage;
	bool no_changes; /* Lever sent no stageChanges */
	struct change_spec changes[MAX_CHANGES]; /* stage NULL ends */
	bool archived, confidential, anonymized;
	const char *name, *email, *phone;
	int64_t created, last_advanced, updated;
	int64_t applied; /* the application's createdAt; 0: none sent */
};

struct state_spec {
	bool present;
	const char *posting;
	const char *stage;
	int64_t seen;
	bool archived, confidential, anonymized;
	const char *name, *email, *phone;
};

static void make_opp(const struct opp_spec *s, struct opportunity *o)
{
	memset(o, 0, sizeof(*o));
	o->id = xstrdup("opp-1");
	o->name = xstrdup(s->name ? s->name : "Ada Example");
	if (s->email) {
		o->emails = xcalloc(2, sizeof(*o->emails));
		o->emails[0] = xstrdup(s->email);
		o->emails[1] = xstrdup("second@example.org");
		o->n_emails = 2;
	}
	if (s->phone) {
		o->phones = xcalloc(1, sizeof(*o->phones));
		o->phones[0] = xstrdup(s->phone);
		o->n_phones = 1;
	}
	o->stage_id = xstrdup(s->stage);
	o->has_changes = !s->no_changes;
	o->changes = xcalloc(MAX_CHANGES, sizeof(*o->changes));
	while (o->has_changes && o->n_changes < MAX_CHANGES && s->changes[o->n_changes].stage) {
		o->changes[o->n_changes].stage_id = xstrdup(s->changes[o->n_changes].stage);
		o->changes[o->n_changes].at_ms = s->changes[o->n_changes].at;
		o->n_changes++;
	}
	o->posting_id = xstrdup(s->posting);
	o->archived = s->archived;
	o->confidential = s->confidential;
	o->anonymized = s->anonymized;
	o->created_at = s->created ? s->created : T(0);
	o->last_advanced_at = s->last_advanced ? s->last_advanced : NONE;
	o->updated_at = s->updated ? s->updated : NONE;
	o->applied_at = s->applied ? s->applied : NONE;
}

static void make_state(const struct state_spec *s, struct opportunity_state *st)
{
	memset(st, 0, sizeof(*st));
	st->id = xstrdup("opp-1");
	st->posting_id = xstrdup(s->posting);
	st->stage_id = xstrdup(s->stage);
	st->seen_until_ms = s->seen;
	st->archived = s->archived;
	st->confidential = s->confidential;
	st->anonymized = s->anonymized;
	st->contact.name = xstrdup(s->name ? s->name : "Ada Example");
	st->contact.email = xstrdup(s->email);
	st->contact.phone = xstrdup(s->phone);
}

struct diff_case {
	const char *what;
	struct state_spec prev;
	struct opp_spec cur;
	struct change_spec entries[MAX_CHANGES]; /* the new entries expected, in order */
	int64_t seen_until;
	/* Expected flags, as a string of letters so a table row stays short:
	 * n new, p posting changed, a archived now, z anonymized now,
	 * c confidential, k contact changed, s stage changed. */
	const char *flags;
};

static const struct diff_case cases[] = {
	{
		.what = "a new opportunity: its whole history",
		.cur = {.posting = "p1", .stage = "st-phone",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}}},
		.entries = {{"applicant-new", T(1)}, {"st-phone", T(2)}},
		.seen_until = T(2),
		.flags = "n",
	},
	{
		.what = "nothing new since the last poll",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-phone",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}}},
		.seen_until = T(2),
		.flags = "",
	},
	{
		.what = "A -> References -> C between two polls",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-onsite",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}, {"st-refs", T(3)},
				{"st-onsite", T(4)}}},
		.entries = {{"st-refs", T(3)}, {"st-onsite", T(4)}},
		.seen_until = T(4),
		.flags = "s",
	},
	{
		.what = "back and into References again: a re-entry",
		.prev = {true, "p1", "st-onsite", T(4)},
		.cur = {.posting = "p1", .stage = "st-refs",
			.changes = {{"applicant-new", T(1)}, {"st-refs", T(3)}, {"st-onsite", T(4)},
				{"st-phone", T(5)}, {"st-refs", T(6)}}},
		.entries = {{"st-phone", T(5)}, {"st-refs", T(6)}},
		.seen_until = T(6),
		.flags = "s",
	},
	{
		.what = "a round trip back to the same stage between polls",
		.prev = {true, "p1", "st-refs", T(3)},
		.cur = {.posting = "p1", .stage = "st-refs",
			.changes = {{"st-refs", T(3)}, {"st-onsite", T(4)}, {"st-refs", T(5)}}},
		.entries = {{"st-onsite", T(4)}, {"st-refs", T(5)}},
		.seen_until = T(5),
		.flags = "",
	},
	{
		.what = "history out of order is sorted",
		.cur = {.posting = "p1", .stage = "st-refs",
			.changes = {{"st-refs", T(3)}, {"applicant-new", T(1)}, {"st-phone", T(2)}}},
		.entries = {{"applicant-new", T(1)}, {"st-phone", T(2)}, {"st-refs", T(3)}},
		.seen_until = T(3),
		.flags = "n",
	},
	{
		.what = "elements without a time are ignored",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-bad", NONE}, {"st-refs", T(3)}}},
		.entries = {{"st-refs", T(3)}},
		.seen_until = T(3),
		.flags = "s",
	},
	{
		.what = "the same element twice is one entry",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-refs",
			.changes = {{"st-refs", T(3)}, {"st-refs", T(3)}}},
		.entries = {{"st-refs", T(3)}},
		.seen_until = T(3),
		.flags = "s",
	},
	{
		.what = "a newer last_advanced_at alone is not an entry",
		.prev = {true, "p1", "st-refs", T(3)},
		.cur = {.posting = "p1", .stage = "st-refs", .last_advanced = T(9),
			.changes = {{"st-phone", T(2)}, {"st-refs", T(3)}}},
		.seen_until = T(3),
		.flags = "",
	},
	{
		.what = "legacy, new: the current stage since last_advanced_at",
		.cur = {.posting = "p1", .stage = "st-refs", .no_changes = true, .created = T(1),
			.last_advanced = T(4)},
		.entries = {{"st-refs", T(4)}},
		.seen_until = T(4),
		.flags = "n",
	},
	{
		.what = "legacy, new, never advanced: created_at",
		.cur = {.posting = "p1", .stage = "applicant-new", .no_changes = true, .created = T(1)},
		.entries = {{"applicant-new", T(1)}},
		.seen_until = T(1),
		.flags = "n",
	},
	{
		.what = "legacy: moved to another stage later",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-refs", .no_changes = true, .last_advanced = T(5)},
		.entries = {{"st-refs", T(5)}},
		.seen_until = T(5),
		.flags = "s",
	},
	{
		.what = "legacy: same stage, newer time",
		.prev = {true, "p1", "st-refs", T(2)},
		.cur = {.posting = "p1", .stage = "st-refs", .no_changes = true, .last_advanced = T(5)},
		.seen_until = T(5),
		.flags = "",
	},
	{
		.what = "legacy: another stage, not newer",
		.prev = {true, "p1", "st-phone", T(5)},
		.cur = {.posting = "p1", .stage = "st-refs", .no_changes = true, .last_advanced = T(4)},
		.seen_until = T(5),
		.flags = "s",
	},
	{
		.what = "an empty stageChanges list falls back like a legacy record",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-refs", .last_advanced = T(5)},
		.entries = {{"st-refs", T(5)}},
		.seen_until = T(5),
		.flags = "s",
	},
	{
		.what = "a snapshot row that handled nothing yet",
		.prev = {true, "p1", "st-phone", NONE},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}}},
		.entries = {{"st-phone", T(2)}},
		.seen_until = T(2),
		.flags = "",
	},
	{
		.what = "moved onto another job",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p2", .stage = "st-phone", .changes = {{"st-phone", T(2)}}},
		.seen_until = T(2),
		.flags = "p",
	},
	{
		.what = "an application appears",
		.prev = {true, NULL, "lead-new", T(2)},
		.cur = {.posting = "p2", .stage = "lead-new", .changes = {{"lead-new", T(2)}}},
		.seen_until = T(2),
		.flags = "p",
	},
	{
		.what = "the application goes",
		.prev = {true, "p1", "lead-new", T(2)},
		.cur = {.stage = "lead-new", .changes = {{"lead-new", T(2)}}},
		.seen_until = T(2),
		.flags = "p",
	},
	{
		.what = "archived, anonymized and confidential now",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.archived = true, .anonymized = true, .confidential = true},
		.seen_until = T(2),
		.flags = "azc",
	},
	{
		.what = "archived before is not archived now",
		.prev = {true, "p1", "st-phone", T(2), .archived = true, .anonymized = true},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.archived = true, .anonymized = true},
		.seen_until = T(2),
		.flags = "",
	},
	{
		.what = "new and archived",
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.archived = true},
		.entries = {{"st-phone", T(2)}},
		.seen_until = T(2),
		.flags = "na",
	},
	{
		.what = "an email appears",
		.prev = {true, "p1", "st-phone", T(2)},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.email = "ada@example.org"},
		.seen_until = T(2),
		.flags = "k",
	},
	{
		.what = "a phone changes",
		.prev = {true, "p1", "st-phone", T(2), .phone = "+1 555"},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.phone = "+1 556"},
		.seen_until = T(2),
		.flags = "k",
	},
	{
		.what = "a name changes",
		.prev = {true, "p1", "st-phone", T(2), .name = "Ada"},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.name = "Ada Lovelace"},
		.seen_until = T(2),
		.flags = "k",
	},
	{
		.what = "an empty name is no name",
		.prev = {true, "p1", "st-phone", T(2), .name = "", .email = "", .phone = NULL},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.name = ""},
		.seen_until = T(2),
		.flags = "",
	},
	{
		.what = "only the first email counts",
		.prev = {true, "p1", "st-phone", T(2), .email = "ada@example.org"},
		.cur = {.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.email = "ada@example.org"},
		.seen_until = T(2),
		.flags = "",
	},
};

static void check_case(const struct diff_case *c)
{
	struct opportunity cur;
	make_opp(&c->cur, &cur);
	struct opportunity_state prev;
	if (c->prev.present) {
		make_state(&c->prev, &prev);
	}
	struct diff d;
	diff_init(&d);
	diff_compute(c->prev.present ? &prev : NULL, &cur, &trust, &d);

	char label[256];
	size_t n = 0;
	while (n < MAX_CHANGES && c->entries[n].stage) {
		n++;
	}
	snprintf(label, sizeof(label), "%s: %zu new entries", c->what, n);
	if (!tap_ok(d.n_entries == n, __FILE__, __LINE__, label)) {
		for (size_t i = 0; i < d.n_entries; i++) {
			printf("#   %s at %lld\n", d.entries[i].stage_id,
				(long long)d.entries[i].at_ms);
		}
	}
	for (size_t i = 0; i < n && i < d.n_entries; i++) {
		snprintf(label, sizeof(label), "%s: entry %zu stage", c->what, i + 1);
		is_str(d.entries[i].stage_id, c->entries[i].stage, label);
		snprintf(label, sizeof(label), "%s: entry %zu time", c->what, i + 1);
		is_int(d.entries[i].at_ms, c->entries[i].at, label);
	}
	snprintf(label, sizeof(label), "%s: seen until", c->what);
	is_int(d.new_seen_until_ms, c->seen_until, label);

	char flags[16];
	size_t k = 0;
	if (d.is_new) {
		flags[k++] = 'n';
	}
	if (d.posting_changed) {
		flags[k++] = 'p';
	}
	if (d.archived_now) {
		flags[k++] = 'a';
	}
	if (d.anonymized_now) {
		flags[k++] = 'z';
	}
	if (d.confidential) {
		flags[k++] = 'c';
	}
	if (d.contact_changed) {
		flags[k++] = 'k';
	}
	if (d.stage_changed) {
		flags[k++] = 's';
	}
	flags[k] = '\0';
	snprintf(label, sizeof(label), "%s: flags", c->what);
	is_str(flags, c->flags, label);
	snprintf(label, sizeof(label), "%s: new posting id", c->what);
	is_str(d.new_posting_id, c->cur.posting, label);
	snprintf(label, sizeof(label), "%s: old posting id", c->what);
	is_str(d.old_posting_id, c->prev.present ? c->prev.posting : NULL, label);

	diff_finish(&d);
	opportunity_finish(&cur);
	if (c->prev.present) {
		opportunity_state_finish(&prev);
	}
}

static void test_next_state(void)
{
	const struct opp_spec spec = {.posting = "p1", .stage = "st-refs",
		.changes = {{"st-phone", T(2)}, {"st-refs", T(3)}}, .confidential = true,
		.email = "ada@example.org", .phone = "+44 20", .updated = T(7)};
	struct opportunity cur;
	make_opp(&spec, &cur);
	const struct state_spec prev_spec = {true, "p0", "st-phone", T(2)};
	struct opportunity_state prev;
	make_state(&prev_spec, &prev);
	struct diff d;
	diff_init(&d);
	diff_compute(&prev, &cur, &trust, &d);
	struct opportunity_state next;
	diff_next_state(&cur, &d, &next);
	is_str(next.id, "opp-1", "next state: id");
	is_str(next.posting_id, "p1", "next state: posting");
	is_str(next.stage_id, "st-refs", "next state: stage");
	is_int(next.seen_until_ms, T(3), "next state: seen until the newest entry");
	ok(next.confidential && !next.archived && !next.anonymized, "next state: flags");
	is_str(next.contact.name, "Ada Example", "next state: name");
	is_str(next.contact.email, "ada@example.org", "next state: first email");
	is_str(next.contact.phone, "+44 20", "next state: first phone");
	is_int(next.updated_at, T(7), "next state: updated_at");
	ok(next.stage_id != cur.stage_id, "next state: strings are copies");

	// A rerun on the next state finds nothing new.
	struct diff again;
	diff_init(&again);
	diff_compute(&next, &cur, &trust, &again);
	is_int(again.n_entries, 0, "next state: a rerun finds no new entry");
	ok(!again.contact_changed && !again.posting_changed && !again.stage_changed,
		"next state: a rerun finds no change");
	diff_finish(&again);

	// A diff can be reused: compute frees what it held.
	diff_compute(NULL, &cur, &trust, &d);
	is_int(d.n_entries, 2, "reuse: a second compute replaces the first");
	diff_finish(&d);
	diff_finish(&d);
	ok(d.entries == NULL && d.n_entries == 0, "reuse: finish twice is harmless");

	opportunity_state_finish(&next);
	opportunity_state_finish(&prev);
	opportunity_finish(&cur);

	// Nothing known at all: the snapshot keeps what it had.
	const struct opp_spec bare = {.posting = "p1", .stage = "st-refs", .no_changes = true,
		.created = NONE};
	make_opp(&bare, &cur);
	cur.created_at = NONE;
	diff_init(&d);
	diff_compute(NULL, &cur, &trust, &d);
	is_int(d.n_entries, 0, "no times at all: no entry");
	is_int(d.new_seen_until_ms, NONE, "no times at all: nothing seen");
	diff_finish(&d);
	opportunity_finish(&cur);
}

struct current_case {
	const char *what;
	struct opp_spec cur;
	int64_t want;
};

static const struct current_case current_cases[] = {
	{"current entry: the latest into the current stage",
		{.stage = "st-refs", .last_advanced = T(9),
			.changes = {{"st-refs", T(3)}, {"st-onsite", T(4)}, {"st-refs", T(6)}}},
		T(6)},
	{"current entry: legacy uses last_advanced_at",
		{.stage = "st-refs", .no_changes = true, .created = T(1), .last_advanced = T(5)}, T(5)},
	{"current entry: legacy, never advanced, uses created_at",
		{.stage = "st-refs", .no_changes = true, .created = T(1)}, T(1)},
	{"current entry: history without the current stage falls back",
		{.stage = "st-refs", .last_advanced = T(8), .changes = {{"st-phone", T(2)}}}, T(8)},
};

static void test_current_entry(void)
{
	for (size_t i = 0; i < sizeof(current_cases) / sizeof(current_cases[0]); i++) {
		struct opportunity cur;
		make_opp(&current_cases[i].cur, &cur);
		struct diff d;
		diff_init(&d);
		diff_compute(NULL, &cur, &trust, &d);
		is_int(d.current_entry_ms, current_cases[i].want, current_cases[i].what);
		diff_finish(&d);
		opportunity_finish(&cur);
	}
}

#define YEAR_2100 INT64_C(4102444800000)
#define YEAR_1999 INT64_C(915148800000)

struct untrusted_case {
	const char *what;
	struct state_spec prev;
	struct opp_spec cur;
	size_t entries;       /* new entries believed */
	int64_t seen_until;   /* what the snapshot handles afterwards */
	size_t untrusted;     /* times not believed */
	int64_t current;      /* current_entry_ms */
	int64_t updated;      /* updated_at */
};

static const struct untrusted_case untrusted_cases[] = {
	{"a far-future entry neither fires nor moves what is handled",
		{true, "p1", "st-phone", T(2)},
		{.posting = "p1", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", INT64_MAX}}},
		0, T(2), 1, NONE, NONE},
	{"an entry in 2100 is not believed, a real one after it is",
		{true, "p1", "st-phone", T(2)},
		{.posting = "p1", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-onsite", YEAR_2100}, {"st-refs", T(30)}}},
		1, T(30), 1, T(30), NONE},
	{"an entry before 2000 is not believed",
		{true, "p1", "st-phone", T(2)},
		{.posting = "p1", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", YEAR_1999}}},
		0, T(2), 1, NONE, NONE},
	{"just under a day ahead is clock skew, believed",
		{true, "p1", "st-phone", T(2)},
		{.posting = "p1", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", T(60) + 86400000 - 1}}},
		1, T(60) + 86400000 - 1, 0, T(60) + 86400000 - 1, NONE},
	{"a future updatedAt is dropped, the rest is read",
		{true, "p1", "st-phone", T(2)},
		{.posting = "p1", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.updated = INT64_MAX},
		0, T(2), 1, T(2), NONE},
	{"legacy record: a future lastAdvancedAt is no entry, and not replaced by createdAt",
		{true, "p1", "st-phone", T(2)},
		{.posting = "p1", .stage = "st-refs", .no_changes = true, .created = T(1),
			.last_advanced = YEAR_2100, .updated = T(40)},
		0, T(2), 1, NONE, T(40)},
};

static void test_untrusted(void)
{
	for (size_t i = 0; i < sizeof(untrusted_cases) / sizeof(untrusted_cases[0]); i++) {
		const struct untrusted_case *c = &untrusted_cases[i];
		struct opportunity cur;
		make_opp(&c->cur, &cur);
		struct opportunity_state prev;
		make_state(&c->prev, &prev);
		struct diff d;
		diff_init(&d);
		diff_compute(&prev, &cur, &trust, &d);
		char what[200];
		snprintf(what, sizeof(what), "%s: entries", c->what);
		is_int(d.n_entries, c->entries, what);
		snprintf(what, sizeof(what), "%s: handled up to", c->what);
		is_int(d.new_seen_until_ms, c->seen_until, what);
		snprintf(what, sizeof(what), "%s: times not believed", c->what);
		is_int(d.n_untrusted, c->untrusted, what);
		snprintf(what, sizeof(what), "%s: current entry", c->what);
		is_int(d.current_entry_ms, c->current, what);
		snprintf(what, sizeof(what), "%s: updatedAt", c->what);
		is_int(d.updated_at, c->updated, what);
		diff_finish(&d);
		opportunity_state_finish(&prev);
		opportunity_finish(&cur);
	}

	// The same untrusted time in two places of one record is one flag.
	struct opp_spec twice = {.posting = "p1", .stage = "st-refs",
		.changes = {{"st-refs", YEAR_2100}, {"st-refs", YEAR_2100}}};
	struct opportunity cur;
	make_opp(&twice, &cur);
	struct diff d;
	diff_init(&d);
	diff_compute(NULL, &cur, &trust, &d);
	is_int(d.n_untrusted, 1, "a repeated untrusted time is flagged once");
	ok(d.n_untrusted == 1 && strcmp(d.untrusted[0].field, "stageChanges") == 0 &&
			d.untrusted[0].stage_id && strcmp(d.untrusted[0].stage_id, "st-refs") == 0,
		"the flag names the field and the stage");
	diff_finish(&d);
	diff_compute(NULL, &cur, NULL, &d);
	is_int(d.n_untrusted, 0, "without bounds every time is believed");
	diff_finish(&d);
	opportunity_finish(&cur);
}

/* diff_state_at: the row a seeding at T(30) would have written, told from the record now. */
struct state_at_case {
	const char *what;
	struct opp_spec cur;
	bool elsewhere;
	const char *posting; /* expected; NULL: another job or none */
	const char *stage;   /* expected; NULL: not known */
	int64_t seen;
};

static const struct state_at_case state_at_cases[] = {
	{"on the job since before, a stage entry since: the stage and entries then",
		{.posting = "p1", .stage = "st-refs", .applied = T(1),
			.changes = {{"st-new", T(1)}, {"st-phone", T(10)}, {"st-refs", T(40)}}},
		false, "p1", "st-phone", T(10)},
	{"moved onto the job since: another job then",
		{.posting = "p1", .stage = "st-phone", .applied = T(35),
			.changes = {{"st-new", T(1)}, {"st-phone", T(10)}}},
		false, NULL, "st-phone", T(10)},
	{"a job the seeding asked for: it was not on it then",
		{.posting = "p1", .stage = "st-phone", .applied = T(1),
			.changes = {{"st-new", T(1)}, {"st-phone", T(10)}}},
		true, NULL, "st-phone", T(10)},
	{"no application time: since the opportunity's creation",
		{.posting = "p1", .stage = "st-new", .created = T(2), .changes = {{"st-new", T(2)}}},
		false, "p1", "st-new", T(2)},
	{"an entry before 2000 is not handled, though it is the stage then",
		{.posting = "p1", .stage = "st-phone", .applied = T(1),
			.changes = {{"st-old", 1000}, {"st-phone", T(50)}}},
		false, "p1", "st-old", NONE},
	{"no stageChanges, advanced before: the current stage then",
		{.posting = "p1", .stage = "st-refs", .no_changes = true, .last_advanced = T(20),
			.applied = T(1)},
		false, "p1", "st-refs", T(20)},
	{"no stageChanges, advanced since: the stage then is not known",
		{.posting = "p1", .stage = "st-refs", .no_changes = true, .last_advanced = T(40),
			.applied = T(1)},
		false, "p1", NULL, NONE},
};

static bool same_str(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

static void test_state_at(void)
{
	struct diff_trust then = diff_trust_for_poll(T(30));
	for (size_t i = 0; i < sizeof(state_at_cases) / sizeof(state_at_cases[0]); i++) {
		const struct state_at_case *c = &state_at_cases[i];
		struct opportunity cur;
		make_opp(&c->cur, &cur);
		struct opportunity_state st;
		diff_state_at(&cur, T(30), &then, c->elsewhere, &st);
		char what[240];
		snprintf(what, sizeof(what), "state at: %s: job", c->what);
		ok(same_str(st.posting_id, c->posting), what);
		snprintf(what, sizeof(what), "state at: %s: stage", c->what);
		ok(same_str(st.stage_id, c->stage), what);
		snprintf(what, sizeof(what), "state at: %s: handled up to", c->what);
		is_int(st.seen_until_ms, c->seen, what);
		// Diffed against it, only what came after fires.
		struct diff d;
		diff_init(&d);
		diff_compute(&st, &cur, &trust, &d);
		size_t later = 0;
		for (size_t k = 0; k < cur.n_changes; k++) {
			later += cur.has_changes && cur.changes[k].at_ms > T(30);
		}
		if (cur.has_changes) {
			snprintf(what, sizeof(what), "state at: %s: entries since fire", c->what);
			is_int(d.n_entries, later, what);
		}
		snprintf(what, sizeof(what), "state at: %s: a move onto the job", c->what);
		ok(d.posting_changed == (c->posting == NULL), what);
		diff_finish(&d);
		opportunity_state_finish(&st);
		opportunity_finish(&cur);
	}
}

int main(void)
{
	trust = diff_trust_for_poll(T(60));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_case(&cases[i]);
	}
	test_next_state();
	test_current_entry();
	test_untrusted();
	test_state_at();
	return tap_done();
}
