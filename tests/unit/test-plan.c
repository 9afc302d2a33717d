/* Unit tests for src/plan.c: from a diff and a rule to the actions and their keys. */

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diff.h"
#include "opportunity.h"
#include "plan.h"
#include "rules.h"
#include "tap.h"
#include "xalloc.h"

#define NONE OPP_TIME_NONE
#define MAX_CHANGES 8
#define MAX_ACTIONS 6

/* Times: T0 is 2026-01-01T00:00:00Z; T(n) is n minutes later. */
#define T0 1767225600000
#define MIN 60000
#define T(n) (T0 + (n) * MIN)
#define OPP "5b1f0c2e-7d1a-4c33-9e0b-2f6a8c1d4e77"

/* ------------------------------------------------------------------------ */
/* Fixture: the manual's engineering rule, and optionally a catch-all.       */

static void add_rule(struct config *cfg, const char *name, int line, const char *job1,
	const char *job2, const char *sequence, const char *refty1, const char *lever1,
	const char *refty2, const char *lever2, const char *language)
{
	struct config_rule *r = &cfg->rules[cfg->n_rules++];
	r->name = xstrdup(name);
	r->line = line;
	r->jobs_line = line + 1;
	r->jobs = xcalloc(2, sizeof(*r->jobs));
	r->jobs[r->n_jobs++] = xstrdup(job1);
	if (job2) {
		r->jobs[r->n_jobs++] = xstrdup(job2);
	}
	r->sequence = xstrdup(sequence);
	r->sequence_line = line + 2;
	r->stages = xcalloc(2, sizeof(*r->stages));
	const char *refty[2] = {refty1, refty2};
	const char *lever[2] = {lever1, lever2};
	for (size_t i = 0; i < 2 && refty[i]; i++) {
		r->stages[i].refty = xstrdup(refty[i]);
		r->stages[i].lever = xstrdup(lever[i]);
		r->stages[i].line = line + 4 + (int)i;
		r->n_stages++;
	}
	r->language = xstrdup(language);
	r->language_line = line + 7;
}

static void free_config(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		struct config_rule *r = &cfg->rules[i];
		free(r->name);
		for (size_t j = 0; j < r->n_jobs; j++) {
			free(r->jobs[j]);
		}
		free(r->jobs);
		free(r->sequence);
		free(r->language);
		for (size_t j = 0; j < r->n_stages; j++) {
			free(r->stages[j].refty);
			free(r->stages[j].lever);
		}
		free(r->stages);
	}
	free(cfg->rules);
}

static struct rule_set *make_rules(bool with_wildcard)
{
	struct catalog cat;
	catalog_init(&cat);
	catalog_add_lever_stage(&cat, "applicant-new", "New applicant");
	catalog_add_lever_stage(&cat, "st-phone", "Phone screen");
	catalog_add_lever_stage(&cat, "st-onsite", "On-site");
	catalog_add_lever_stage(&cat, "st-refs", "References");
	catalog_add_posting(&cat, "p-backend", "Senior Backend Engineer");
	catalog_add_posting(&cat, "p-platform", "Platform Engineer");
	catalog_add_posting(&cat, "p-sales", "Account Executive");
	struct refty_sequence *seq = catalog_add_sequence(&cat, "seq-eng", "Engineering references");
	refty_sequence_add_stage(seq, "rs-self", "Self-assessment", "self_assessment", 1);
	refty_sequence_add_stage(seq, "rs-ref", "Reference check", "reference_check", 2);
	seq = catalog_add_sequence(&cat, "seq-sales", "Sales references");
	refty_sequence_add_stage(seq, "rs-sales-ref", "Reference check", "reference_check", 1);

	struct config cfg = {0};
	cfg.rules = xcalloc(2, sizeof(*cfg.rules));
	if (with_wildcard) {
		// First in the file, yet the explicit rule wins for its jobs.
		add_rule(&cfg, "catch-all", 10, "*", NULL, "Sales references", "Reference check",
			"On-site", NULL, NULL, "fr");
	}
	add_rule(&cfg, "engineering", 31, "Senior Backend Engineer", "p-platform",
		"Engineering references", "Self-assessment", "Phone screen", "Reference check",
		"References", "en");
	struct rules_errors errs;
	rules_errors_init(&errs);
	struct rule_set *set = rules_resolve(&cfg, &cat, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		printf("# fixture: %d: %s: %s\n", errs.items[i].line, errs.items[i].key,
			errs.items[i].message);
	}
	rules_errors_finish(&errs);
	free_config(&cfg);
	catalog_finish(&cat);
	return set;
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                     */

struct change_spec {
	const char *stage;
	int64_t at;
};

struct opp_spec {
	const char *posting;
	const char *stage;
	bool no_changes;
	struct change_spec changes[MAX_CHANGES];
	bool archived, confidential, anonymized;
	const char *name, *email, *phone;
	int64_t created, last_advanced, updated;
};

struct state_spec {
	bool present;
	const char *posting;
	const char *stage;
	int64_t seen;
};

struct enrol_spec {
	bool present;
	const char *sequence;
	const char *name, *email, *phone;
};

struct want {
	enum action_kind kind;
	const char *key;
	const char *reason; /* a part of it; exact for skips */
};

/* Context flags as letters: S seeding, B backfill, T trigger current,
 * C include confidential, W wildcard rule present, O only rule 'catch-all',
 * L watched since T(10). */
struct plan_case {
	const char *what;
	const char *ctx;
	struct state_spec prev;
	struct opp_spec cur;
	struct enrol_spec enrolled;
	struct want actions[MAX_ACTIONS]; /* key NULL ends */
};

#define ENROLLED {true, "seq-eng", "Ada Example", "ada@example.org", NULL}
#define K_CREATE "lever:" OPP ":seq-eng:candidate"
#define K_REF(t) "lever:" OPP ":rs-ref:" #t
#define K_SELF(t) "lever:" OPP ":rs-self:" #t

/* Entry times as written in keys: T(3) and so on. */
#define MS_T3 "1767225780000"
#define MS_T4 "1767225840000"
#define MS_T5 "1767225900000"
#define MS_T6 "1767225960000"
#define MS_T7 "1767226020000"
#define MS_T12 "1767226320000"

static const struct plan_case cases[] = {
	/* Seeding and coverage. */
	{
		.what = "seeding fires nothing, even in a trigger stage",
		.ctx = "S",
		.cur = {.posting = "p-backend", .stage = "st-refs", .changes = {{"st-refs", T(3)}}},
	},
	{
		.what = "not covered: nothing, not even a skip",
		.cur = {.posting = "p-sales", .stage = "st-refs", .changes = {{"st-refs", T(3)}},
			.archived = true},
	},
	{
		.what = "no application: nothing, even with a wildcard rule",
		.ctx = "W",
		.cur = {.stage = "st-onsite", .changes = {{"st-onsite", T(3)}}},
	},
	/* Enrolment. */
	{
		.what = "a new candidate on a covered job is enrolled",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE,
			"new candidate on 'Senior Backend Engineer'"}},
	},
	{
		.what = "created directly in a trigger stage: enrolled and sent",
		.cur = {.posting = "p-backend", .stage = "st-refs", .changes = {{"st-refs", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "new candidate on"},
			{ACTION_SEND_STEP, K_REF(1767225780000), "entered 'References' at "
							       "2026-01-01T00:03:00Z"}},
	},
	{
		.what = "already enrolled (a journal entry without a snapshot row): no second create",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}, .email = "ada@example.org"},
		.enrolled = ENROLLED,
	},
	{
		.what = "moved onto a covered job",
		.prev = {true, "p-sales", "st-phone", T(2)},
		.cur = {.posting = "p-platform", .stage = "st-phone", .changes = {{"st-phone", T(2)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "moved onto 'Platform Engineer'"}},
	},
	{
		.what = "moved off a covered job",
		.prev = {true, "p-backend", "st-phone", T(2)},
		.cur = {.posting = "p-sales", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", T(3)}}},
	},
	{
		.what = "an application appears on a covered job",
		.prev = {true, NULL, "lead-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "lead-new", .changes = {{"lead-new", T(2)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "moved onto"}},
	},
	{
		.what = "seen before, not enrolled, nothing happens: nothing",
		.prev = {true, "p-backend", "st-phone", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-phone", .changes = {{"st-phone", T(2)}},
			.email = "new@example.org"},
	},
	/* Triggers. */
	{
		.what = "A -> References -> C between polls sends once",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}, {"st-onsite", T(4)}},
			.email = "ada@example.org"},
		.enrolled = ENROLLED,
		.actions = {{ACTION_SEND_STEP, K_REF(1767225780000), "entered 'References'"}},
	},
	{
		.what = "a trigger for a candidate not yet in Refty creates it first",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}, {"st-onsite", T(4)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE,
				    "not yet in Refty, needed to send 'Reference check'"},
			{ACTION_SEND_STEP, K_REF(1767225780000), "entered 'References'"}},
	},
	{
		.what = "back and into the trigger stage again sends again, with a new key",
		.prev = {true, "p-backend", "st-onsite", T(4)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}, {"st-onsite", T(4)},
				{"st-refs", T(6)}},
			.email = "ada@example.org"},
		.enrolled = ENROLLED,
		.actions = {{ACTION_SEND_STEP, K_REF(1767225960000), "entered 'References' at "
								  "2026-01-01T00:06:00Z"}},
	},
	{
		.what = "each linked entry between polls, in order",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"applicant-new", T(2)}, {"st-phone", T(3)}, {"st-refs", T(5)},
				{"st-onsite", T(7)}},
			.email = "ada@example.org"},
		.enrolled = ENROLLED,
		.actions = {{ACTION_SEND_STEP, K_SELF(1767225780000), "entered 'Phone screen'"},
			{ACTION_SEND_STEP, K_REF(1767225900000), "entered 'References'"}},
	},
	{
		.what = "an unlinked stage sends nothing",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"applicant-new", T(2)}, {"st-onsite", T(4)}},
			.email = "ada@example.org"},
		.enrolled = ENROLLED,
	},
	{
		.what = "legacy record without stageChanges: a move into References sends",
		.prev = {true, "p-backend", "st-phone", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs", .no_changes = true,
			.last_advanced = T(5), .email = "ada@example.org"},
		.enrolled = ENROLLED,
		.actions = {{ACTION_SEND_STEP, K_REF(1767225900000), "entered 'References'"}},
	},
	{
		.what = "legacy record, same stage, newer last_advanced_at: nothing",
		.prev = {true, "p-backend", "st-refs", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs", .no_changes = true,
			.last_advanced = T(5), .email = "ada@example.org"},
		.enrolled = ENROLLED,
	},
	{
		.what = "a newer last_advanced_at beside stageChanges is not an entry",
		.prev = {true, "p-backend", "st-refs", T(3)},
		.cur = {.posting = "p-backend", .stage = "st-refs", .last_advanced = T(9),
			.changes = {{"st-refs", T(3)}}, .email = "ada@example.org"},
		.enrolled = ENROLLED,
	},
	/* Skips. */
	{
		.what = "archived: one skip instead of the create",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}, .archived = true},
		.actions = {{ACTION_SKIP, "skip:archived:" K_CREATE, "archived"}},
	},
	{
		.what = "archived: one skip standing for the send",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}}, .archived = true},
		.actions = {{ACTION_SKIP, "skip:archived:" K_REF(1767225780000), "archived"}},
	},
	{
		.what = "archived with nothing to do: nothing",
		.prev = {true, "p-backend", "st-onsite", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite", .changes = {{"st-onsite", T(2)}},
			.archived = true},
	},
	{
		.what = "anonymized: skipped",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}}, .anonymized = true},
		.enrolled = ENROLLED,
		.actions = {{ACTION_SKIP, "skip:anonymized:" K_REF(1767225780000), "anonymized"}},
	},
	{
		.what = "confidential: skipped",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}, .confidential = true},
		.actions = {{ACTION_SKIP, "skip:confidential:" K_CREATE, "confidential"}},
	},
	{
		.what = "confidential with lever.confidential: enrolled",
		.ctx = "C",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}, .confidential = true},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "new candidate"}},
	},
	/* Contact changes. */
	{
		.what = "an email added: the update comes before the send",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}},
			.email = "ada@example.org", .updated = T(4)},
		.enrolled = {true, "seq-eng", "Ada Example", NULL, NULL},
		.actions = {{ACTION_UPDATE_CONTACT, "lever:" OPP ":seq-eng:contact:" MS_T4,
				    "contact details changed in Lever (email)"},
			{ACTION_SEND_STEP, K_REF(1767225780000), "entered 'References'"}},
	},
	{
		.what = "name and phone changed",
		.prev = {true, "p-backend", "st-onsite", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite", .changes = {{"st-onsite", T(2)}},
			.name = "Ada Lovelace", .email = "ada@example.org", .phone = "+44 20",
			.updated = T(12)},
		.enrolled = ENROLLED,
		.actions = {{ACTION_UPDATE_CONTACT, "lever:" OPP ":seq-eng:contact:" MS_T12,
			"(name, phone)"}},
	},
	{
		.what = "no updated_at: the key hashes the new values",
		.prev = {true, "p-backend", "st-onsite", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite", .changes = {{"st-onsite", T(2)}},
			.email = "ada@lovelace.org"},
		.enrolled = ENROLLED,
		.actions = {{ACTION_UPDATE_CONTACT, "lever:" OPP ":seq-eng:contact:h", "(email)"}},
	},
	{
		.what = "empty and missing values are the same contact",
		.prev = {true, "p-backend", "st-onsite", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite", .changes = {{"st-onsite", T(2)}},
			.name = "", .updated = T(5)},
		.enrolled = {true, "seq-eng", NULL, "", NULL},
	},
	{
		.what = "enrolled in another sequence counts as not enrolled",
		.prev = {true, "p-backend", "applicant-new", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}},
			.email = "other@example.org"},
		.enrolled = {true, "seq-sales", "Ada Example", "ada@example.org", NULL},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "not yet in Refty"},
			{ACTION_SEND_STEP, K_REF(1767225780000), "entered"}},
	},
	/* Rule precedence. */
	{
		.what = "wildcard present: the explicit rule still wins",
		.ctx = "W",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "'Senior Backend Engineer'"}},
	},
	{
		.what = "wildcard: a job no rule names",
		.ctx = "W",
		.cur = {.posting = "p-sales", .stage = "st-onsite", .changes = {{"st-onsite", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, "lever:" OPP ":seq-sales:candidate",
				    "new candidate on 'Account Executive'"},
			{ACTION_SEND_STEP, "lever:" OPP ":rs-sales-ref:" "1767225780000",
				"entered 'On-site'"}},
	},
	{
		.what = "wildcard: a posting the catalog does not know is named by its id",
		.ctx = "W",
		.cur = {.posting = "p-brand-new", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, "lever:" OPP ":seq-sales:candidate",
			"new candidate on 'p-brand-new'"}},
	},
	/* Backfill. */
	{
		.what = "backfill enrols a covered candidate the snapshot never saw",
		.ctx = "B",
		.cur = {.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}, {"st-onsite", T(4)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE,
			"backfill of candidate on 'Senior Backend Engineer'"}},
	},
	{
		.what = "backfill on an empty state: seeding does not stop it",
		.ctx = "SB",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(2)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"}},
	},
	{
		.what = "backfill: a candidate in a trigger stage is not sent anything",
		.ctx = "B",
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(2)}, {"st-refs", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"}},
	},
	{
		.what = "backfill --trigger-current: the current stage's latest entry",
		.ctx = "BT",
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", T(3)}, {"st-onsite", T(4)},
				{"st-refs", T(5)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"},
			{ACTION_SEND_STEP, K_REF(1767225900000),
				"in 'References' since 2026-01-01T00:05:00Z (trigger current)"}},
	},
	{
		.what = "backfill --trigger-current, legacy record: last_advanced_at",
		.ctx = "BT",
		.cur = {.posting = "p-backend", .stage = "st-refs", .no_changes = true,
			.last_advanced = T(7)},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"},
			{ACTION_SEND_STEP, K_REF(1767226020000), "trigger current"}},
	},
	{
		.what = "backfill --trigger-current in an unlinked stage: enrol only",
		.ctx = "BT",
		.cur = {.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"st-refs", T(3)}, {"st-onsite", T(4)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"}},
	},
	{
		.what = "backfill --trigger-current, already enrolled: the send only",
		.ctx = "BT",
		.prev = {true, "p-backend", "st-refs", T(3)},
		.cur = {.posting = "p-backend", .stage = "st-refs", .changes = {{"st-refs", T(3)}},
			.email = "ada@example.org"},
		.enrolled = ENROLLED,
		.actions = {{ACTION_SEND_STEP, K_REF(1767225780000), "trigger current"}},
	},
	{
		.what = "backfill: an enrolled candidate gets nothing new",
		.ctx = "B",
		.prev = {true, "p-backend", "st-refs", T(3)},
		.cur = {.posting = "p-backend", .stage = "st-refs", .changes = {{"st-refs", T(3)}},
			.email = "ada@example.org"},
		.enrolled = ENROLLED,
	},
	{
		.what = "backfill: archived candidates are left alone",
		.ctx = "BT",
		.cur = {.posting = "p-backend", .stage = "st-refs", .changes = {{"st-refs", T(3)}},
			.archived = true},
	},
	{
		.what = "backfill: confidential candidates are skipped",
		.ctx = "B",
		.cur = {.posting = "p-backend", .stage = "applicant-new",
			.changes = {{"applicant-new", T(3)}}, .confidential = true},
		.actions = {{ACTION_SKIP, "skip:confidential:" K_CREATE, "confidential"}},
	},
	{
		.what = "backfill: a snapshot row's new entry fires as a sync would",
		.ctx = "B",
		.prev = {true, "p-backend", "st-phone", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"},
			{ACTION_SEND_STEP, K_REF(1767225780000), "entered 'References'"}},
	},
	{
		.what = "backfill --rule of another rule: no enrolment",
		.ctx = "BO",
		.prev = {true, "p-backend", "st-onsite", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-onsite", .changes = {{"st-onsite", T(2)}}},
	},
	{
		.what = "backfill --rule of another rule: what a sync would do still happens",
		.ctx = "BO",
		.prev = {true, "p-backend", "st-phone", T(2)},
		.cur = {.posting = "p-backend", .stage = "st-refs",
			.changes = {{"st-phone", T(2)}, {"st-refs", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "not yet in Refty"},
			{ACTION_SEND_STEP, K_REF(1767225780000), "entered"}},
	},
	{
		.what = "backfill on a watched snapshot: a candidate created since is new",
		.ctx = "BL",
		.cur = {.posting = "p-backend", .stage = "st-refs", .created = T(11),
			.changes = {{"applicant-new", T(11)}, {"st-refs", T(12)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "new candidate"},
			{ACTION_SEND_STEP, K_REF(1767226320000), "entered 'References'"}},
	},
	{
		.what = "backfill on a watched snapshot: older history stays history",
		.ctx = "BL",
		.cur = {.posting = "p-backend", .stage = "st-refs", .created = T(1),
			.changes = {{"applicant-new", T(1)}, {"st-refs", T(3)}}},
		.actions = {{ACTION_CREATE_CANDIDATE, K_CREATE, "backfill"}},
	},
};

static void make_opp(const struct opp_spec *s, struct opportunity *o)
{
	memset(o, 0, sizeof(*o));
	o->id = xstrdup(OPP);
	o->name = xstrdup(s->name ? s->name : "Ada Example");
	if (s->email) {
		o->emails = xcalloc(1, sizeof(*o->emails));
		o->emails[0] = xstrdup(s->email);
		o->n_emails = 1;
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
}

static void make_state(const struct state_spec *s, const struct opportunity *cur,
	struct opportunity_state *st)
{
	memset(st, 0, sizeof(*st));
	st->id = xstrdup(OPP);
	st->posting_id = xstrdup(s->posting);
	st->stage_id = xstrdup(s->stage);
	st->seen_until_ms = s->seen;
	contact_of(cur, &st->contact);
}

static bool str_same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool has(const char *flags, char c)
{
	return flags && strchr(flags, c);
}

/* Plans one case the way the sync engine does: diff, match, plan. */
static void plan_case(const struct plan_case *c, const struct rule_set *rules, struct plan *out)
{
	struct opportunity cur;
	make_opp(&c->cur, &cur);
	struct opportunity_state prev;
	if (c->prev.present) {
		make_state(&c->prev, &cur, &prev);
	}
	struct diff d;
	diff_init(&d);
	diff_compute(c->prev.present ? &prev : NULL, &cur, NULL, &d);
	struct plan_context ctx = {
		.seeding = has(c->ctx, 'S'),
		.backfill = has(c->ctx, 'B'),
		.trigger_current = has(c->ctx, 'T'),
		.include_confidential = has(c->ctx, 'C'),
		.rules = rules,
		.only_rule = has(c->ctx, 'O') ? "catch-all" : NULL,
		.watched_since_ms = has(c->ctx, 'L') ? T(10) : 0,
	};
	struct enrolment enrolled = {
		.sequence_id = xstrdup(c->enrolled.sequence),
		.contact = {xstrdup(c->enrolled.name), xstrdup(c->enrolled.email),
			xstrdup(c->enrolled.phone)},
	};
	const struct resolved_rule *rule = rules_match(rules, cur.posting_id);
	size_t before = out->n;
	size_t n = plan_opportunity(&ctx, rule, &cur, &d, c->enrolled.present ? &enrolled : NULL,
		out);
	char label[256];
	snprintf(label, sizeof(label), "%s: returns the number added", c->what);
	is_int(n, out->n - before, label);
	enrolment_finish(&enrolled);
	diff_finish(&d);
	if (c->prev.present) {
		opportunity_state_finish(&prev);
	}
	opportunity_finish(&cur);
}

static void check_case(const struct plan_case *c, const struct rule_set *rules)
{
	struct plan plan;
	plan_init(&plan);
	plan_case(c, rules, &plan);

	size_t n = 0;
	while (n < MAX_ACTIONS && c->actions[n].key) {
		n++;
	}
	char label[320];
	snprintf(label, sizeof(label), "%s: %zu action(s)", c->what, n);
	if (!tap_ok(plan.n == n, __FILE__, __LINE__, label)) {
		for (size_t i = 0; i < plan.n; i++) {
			printf("#   %s %s (%s)\n", action_kind_name(plan.actions[i].kind),
				plan.actions[i].key, plan.actions[i].reason);
		}
	}
	for (size_t i = 0; i < n && i < plan.n; i++) {
		const struct plan_action *a = &plan.actions[i];
		const struct want *w = &c->actions[i];
		snprintf(label, sizeof(label), "%s: action %zu is %s", c->what, i + 1,
			action_kind_name(w->kind));
		is_str(action_kind_name(a->kind), action_kind_name(w->kind), label);
		snprintf(label, sizeof(label), "%s: action %zu key", c->what, i + 1);
		bool prefix = w->key[strlen(w->key) - 1] == 'h'; // hashed keys: check the prefix
		if (prefix) {
			ok(strncmp(a->key, w->key, strlen(w->key)) == 0 &&
				   strlen(a->key) == strlen(w->key) + 16,
				label);
		} else {
			is_str(a->key, w->key, label);
		}
		snprintf(label, sizeof(label), "%s: action %zu reason has '%s'", c->what, i + 1,
			w->reason);
		if (a->kind == ACTION_SKIP) {
			is_str(a->reason, w->reason, label);
		} else if (!tap_ok(a->reason && strstr(a->reason, w->reason), __FILE__, __LINE__,
				   label)) {
			printf("#   reason: %s\n", a->reason);
		}
		snprintf(label, sizeof(label), "%s: action %zu names the opportunity and rule", c->what,
			i + 1);
		const struct resolved_rule *rule = rules_match(rules, c->cur.posting);
		ok(str_same(a->opportunity_id, OPP) && rule && str_same(a->rule_name, rule->name) &&
			   str_same(a->sequence_id, rule->sequence_id),
			label);
		if (a->kind == ACTION_SEND_STEP) {
			snprintf(label, sizeof(label), "%s: action %zu carries the stage", c->what,
				i + 1);
			const struct resolved_link *l = rules_link_for_stage(rule, a->lever_stage_id);
			ok(l && str_same(a->refty_stage_id, l->refty_stage_id) &&
				   str_same(a->refty_stage_name, l->refty_stage_name) &&
				   a->entry_at_ms != NONE,
				label);
		}
	}
	plan_finish(&plan);
}

/* A rerun of the same input plans the same keys: the journal makes it a no-op. */
static void test_rerun(const struct rule_set *narrow, const struct rule_set *wide)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct plan_case *c = &cases[i];
		const struct rule_set *rules = has(c->ctx, 'W') ? wide : narrow;
		struct plan first, second;
		plan_init(&first);
		plan_init(&second);
		plan_case(c, rules, &first);
		plan_case(c, rules, &second);
		bool same = first.n == second.n;
		for (size_t k = 0; same && k < first.n; k++) {
			same = strcmp(first.actions[k].key, second.actions[k].key) == 0 &&
			       first.actions[k].kind == second.actions[k].kind;
		}
		char label[320];
		snprintf(label, sizeof(label), "rerun: %s: identical keys", c->what);
		ok(same, label);
		plan_finish(&first);
		plan_finish(&second);
	}
}

/* One opportunity over successive polls, the snapshot row carried forward as
 * the sync engine stores it. */
static void test_polls(const struct rule_set *rules)
{
	static const struct opp_spec polls[] = {
		{.posting = "p-backend", .stage = "applicant-new", .changes = {{"applicant-new", T(1)}},
			.email = "ada@example.org"},
		{.posting = "p-backend", .stage = "st-phone",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}},
			.email = "ada@example.org"},
		{.posting = "p-backend", .stage = "st-phone",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}},
			.email = "ada@example.org"},
		{.posting = "p-backend", .stage = "st-onsite",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}, {"st-refs", T(3)},
				{"st-onsite", T(4)}},
			.email = "ada@example.org"},
		{.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}, {"st-refs", T(3)},
				{"st-onsite", T(4)}, {"st-refs", T(6)}},
			.email = "ada@example.org"},
		{.posting = "p-backend", .stage = "st-refs",
			.changes = {{"applicant-new", T(1)}, {"st-phone", T(2)}, {"st-refs", T(3)},
				{"st-onsite", T(4)}, {"st-refs", T(6)}},
			.email = "ada@example.org"},
	};
	static const char *const want[][3] = {
		{NULL},
		{K_CREATE, K_SELF(1767225720000), NULL},
		{NULL},
		{K_REF(1767225780000), NULL},
		{K_REF(1767225960000), NULL},
		{NULL},
	};
	struct opportunity_state state;
	bool have_state = false;
	bool enrolled = false;
	struct plan all;
	plan_init(&all);
	for (size_t p = 0; p < sizeof(polls) / sizeof(polls[0]); p++) {
		struct opportunity cur;
		make_opp(&polls[p], &cur);
		struct diff d;
		diff_init(&d);
		diff_compute(have_state ? &state : NULL, &cur, NULL, &d);
		struct plan_context ctx = {.seeding = p == 0, .rules = rules};
		struct enrolment e = {
			.sequence_id = (char[]){"seq-eng"},
			.contact = {(char[]){"Ada Example"}, (char[]){"ada@example.org"}, NULL},
		};
		struct plan plan;
		plan_init(&plan);
		plan_opportunity(&ctx, rules_match(rules, cur.posting_id), &cur, &d,
			enrolled ? &e : NULL, &plan);
		size_t n = 0;
		while (want[p][n]) {
			n++;
		}
		char label[128];
		snprintf(label, sizeof(label), "polls: poll %zu plans %zu action(s)", p, n);
		is_int(plan.n, n, label);
		for (size_t i = 0; i < n && i < plan.n; i++) {
			snprintf(label, sizeof(label), "polls: poll %zu action %zu key", p, i + 1);
			is_str(plan.actions[i].key, want[p][i], label);
			enrolled = enrolled || plan.actions[i].kind == ACTION_CREATE_CANDIDATE;
			plan_add(&all, &plan.actions[i]);
		}
		plan_finish(&plan);
		if (have_state) {
			opportunity_state_finish(&state);
		}
		diff_next_state(&cur, &d, &state);
		have_state = true;
		diff_finish(&d);
		opportunity_finish(&cur);
	}
	bool distinct = true;
	for (size_t i = 0; i < all.n; i++) {
		for (size_t j = 0; j < i; j++) {
			distinct = distinct && strcmp(all.actions[i].key, all.actions[j].key) != 0;
		}
	}
	ok(distinct && all.n == 4, "polls: every action over the polls has its own key");
	plan_finish(&all);
	opportunity_state_finish(&state);
}

static void test_plan_struct(void)
{
	struct plan plan;
	plan_init(&plan);
	char opp[] = "o";
	char key[] = "k";
	struct plan_action a = {.kind = ACTION_SEND_STEP, .opportunity_id = opp, .key = key,
		.entry_at_ms = 5};
	for (int i = 0; i < 20; i++) {
		plan_add(&plan, &a);
	}
	is_int(plan.n, 20, "plan: grows");
	ok(plan.actions[19].key != a.key && strcmp(plan.actions[19].key, "k") == 0,
		"plan: add copies strings");
	ok(plan.actions[0].rule_name == NULL, "plan: NULL strings stay NULL");
	is_int(plan.actions[3].entry_at_ms, 5, "plan: copies the entry time");
	plan_finish(&plan);
	is_int(plan.n, 0, "plan: finish empties it");
	plan_finish(&plan);

	is_str(action_kind_name(ACTION_CREATE_CANDIDATE), "create_candidate", "kind name: create");
	is_str(action_kind_name(ACTION_UPDATE_CONTACT), "update_contact", "kind name: update");
	is_str(action_kind_name(ACTION_SEND_STEP), "send_step", "kind name: send");
	is_str(action_kind_name(ACTION_SKIP), "skip", "kind name: skip");
}

int main(void)
{
	struct rule_set *narrow = make_rules(false);
	struct rule_set *wide = make_rules(true);
	if (!ok(narrow && wide, "fixture rules resolve")) {
		rule_set_destroy(narrow);
		rule_set_destroy(wide);
		return tap_done();
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_case(&cases[i], has(cases[i].ctx, 'W') ? wide : narrow);
	}
	test_rerun(narrow, wide);
	test_polls(narrow);
	test_plan_struct();
	rule_set_destroy(narrow);
	rule_set_destroy(wide);
	return tap_done();
}
