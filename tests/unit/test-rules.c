/* Unit tests for src/rules.c: offline checks, resolution, matching, descriptions. */

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "rules.h"
#include "tap.h"
#include "xalloc.h"

#define MAX_JOBS 4
#define MAX_LINKS 4
#define MAX_RULES 4
#define MAX_ERRS 4

/* A rule as a test writes it; line numbers are what config.c would record. */
struct rule_spec {
	const char *name;
	int line;
	const char *jobs[MAX_JOBS];
	const char *sequence;
	struct {
		const char *refty;
		const char *lever;
		int line;
	} stages[MAX_LINKS];
	const char *language;
};

static struct config *make_config(const struct rule_spec *specs)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup("/etc/refty-lever.conf");
	size_t n = 0;
	while (n < MAX_RULES && specs[n].name) {
		n++;
	}
	cfg->rules = xcalloc(n ? n : 1, sizeof(*cfg->rules));
	cfg->n_rules = n;
	for (size_t i = 0; i < n; i++) {
		const struct rule_spec *s = &specs[i];
		struct config_rule *r = &cfg->rules[i];
		r->name = xstrdup(s->name);
		r->line = s->line;
		r->jobs_line = s->line + 1;
		r->sequence_line = s->line + 2;
		r->language_line = s->line + 3;
		r->jobs = xcalloc(MAX_JOBS, sizeof(*r->jobs));
		while (r->n_jobs < MAX_JOBS && s->jobs[r->n_jobs]) {
			r->jobs[r->n_jobs] = xstrdup(s->jobs[r->n_jobs]);
			r->n_jobs++;
		}
		r->sequence = xstrdup(s->sequence);
		r->language = xstrdup(s->language);
		r->stages = xcalloc(MAX_LINKS, sizeof(*r->stages));
		while (r->n_stages < MAX_LINKS && s->stages[r->n_stages].refty) {
			struct config_stage_link *l = &r->stages[r->n_stages];
			l->refty = xstrdup(s->stages[r->n_stages].refty);
			l->lever = xstrdup(s->stages[r->n_stages].lever);
			l->line = s->stages[r->n_stages].line;
			r->n_stages++;
		}
	}
	return cfg;
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
	free(cfg->path);
	free(cfg);
}

#define P_PLATFORM "7e6d5c4b-3a29-4187-9654-3210fedcba98"

static void make_catalog(struct catalog *cat)
{
	catalog_init(cat);
	catalog_add_lever_stage(cat, "applicant-new", "New applicant");
	catalog_add_lever_stage(cat, "st-phone", "Phone screen");
	catalog_add_lever_stage(cat, "st-onsite", "On-site");
	catalog_add_lever_stage(cat, "st-refs", "References");
	catalog_add_lever_stage(cat, "offer", "Offer");
	catalog_add_lever_stage(cat, "st-dup1", "Duplicate");
	catalog_add_lever_stage(cat, "st-dup2", "Duplicate");
	catalog_add_posting(cat, "p-backend", "Senior Backend Engineer");
	catalog_add_posting(cat, P_PLATFORM, "Platform Engineer");
	catalog_add_posting(cat, "p-sales", "Account Executive");
	catalog_add_posting(cat, "p-dupA", "Designer");
	catalog_add_posting(cat, "p-dupB", "Designer");
	struct refty_sequence *seq = catalog_add_sequence(cat, "seq-eng", "Engineering references");
	refty_sequence_add_stage(seq, "rs-self", "Self-assessment", "self_assessment", 1);
	refty_sequence_add_stage(seq, "rs-ref", "Reference check", "reference_check", 2);
	seq = catalog_add_sequence(cat, "seq-sales", "Sales references");
	refty_sequence_add_stage(seq, "rs-sales-ref", "Reference check", "reference_check", 1);
	seq = catalog_add_sequence(cat, "seq-twin1", "Twin");
	refty_sequence_add_stage(seq, "rs-twin1", "Twin check", "reference_check", 1);
	catalog_add_sequence(cat, "seq-twin2", "Twin");
	seq = catalog_add_sequence(cat, "seq-samenames", "Same names");
	refty_sequence_add_stage(seq, "rs-same1", "Check", "reference_check", 1);
	refty_sequence_add_stage(seq, "rs-same2", "Check", "reference_check", 2);
}

/* The rule from the configuration manual, at line 31. */
#define ENGINEERING                                                                                \
	{                                                                                          \
		.name = "engineering", .line = 31,                                                 \
		.jobs = {"Senior Backend Engineer", P_PLATFORM}, .sequence = "Engineering references", \
		.stages = {{"Self-assessment", "Phone screen", 36}, {"Reference check", "References", 37}}, \
		.language = "en",                                                                  \
	}

struct want_error {
	int line;
	const char *key;
	const char *text; /* a part of the message */
};

struct check_case {
	const char *what;
	struct rule_spec rules[MAX_RULES + 1];
	struct want_error errors[MAX_ERRS + 1]; /* in the order found; key NULL ends */
};

static void expect_errors(const char *what, const struct rules_errors *errs,
	const struct want_error *want)
{
	size_t n = 0;
	while (n < MAX_ERRS && want[n].key) {
		n++;
	}
	char label[256];
	snprintf(label, sizeof(label), "%s: %zu error(s)", what, n);
	if (!tap_ok(errs->n == n, __FILE__, __LINE__, label)) {
		for (size_t i = 0; i < errs->n; i++) {
			printf("#   %d: %s: %s\n", errs->items[i].line, errs->items[i].key,
				errs->items[i].message);
		}
	}
	for (size_t i = 0; i < n && i < errs->n; i++) {
		const struct rules_error *e = &errs->items[i];
		snprintf(label, sizeof(label), "%s: error %zu line", what, i + 1);
		is_int(e->line, want[i].line, label);
		snprintf(label, sizeof(label), "%s: error %zu key", what, i + 1);
		is_str(e->key, want[i].key, label);
		snprintf(label, sizeof(label), "%s: error %zu says '%s'", what, i + 1, want[i].text);
		if (!tap_ok(strstr(e->message, want[i].text) != NULL, __FILE__, __LINE__, label)) {
			printf("#   message: %s\n", e->message);
		}
	}
}

static const struct check_case offline_cases[] = {
	{
		.what = "valid rules",
		.rules = {ENGINEERING,
			{.name = "sales", .line = 40, .jobs = {"Account Executive"},
				.sequence = "Sales references",
				.stages = {{"Reference check", "On-site", 45}}, .language = "fr"},
			{.name = "rest", .line = 50, .jobs = {"*"}, .sequence = "Sales references",
				.language = "en"}},
	},
	{
		.what = "one job linked to two sequences",
		.rules = {ENGINEERING,
			{.name = "backend", .line = 40, .jobs = {"Designer", "Senior Backend Engineer"},
				.sequence = "Sales references", .language = "en"}},
		.errors = {{41, "rules[1].jobs", "job 'Senior Backend Engineer' is linked to sequence "
						  "'Sales references' here and to sequence 'Engineering "
						  "references' by rule 'engineering' (line 31)"}},
	},
	{
		.what = "job strings are compared exactly",
		.rules = {ENGINEERING,
			{.name = "backend", .line = 40, .jobs = {"senior backend engineer"},
				.sequence = "Sales references", .language = "en"}},
	},
	{
		.what = "two wildcard rules with different sequences",
		.rules = {{.name = "all", .line = 10, .jobs = {"*"}, .sequence = "Engineering references",
				  .language = "en"},
			{.name = "everything", .line = 20, .jobs = {"*"}, .sequence = "Sales references",
				.language = "en"}},
		.errors = {{21, "rules[1].jobs", "every job ('*') is linked to sequence"}},
	},
	{
		.what = "one job in two rules with the same sequence",
		.rules = {ENGINEERING,
			{.name = "again", .line = 40, .jobs = {P_PLATFORM},
				.sequence = "Engineering references", .language = "de"}},
		.errors = {{41, "rules[1].jobs", "already covered by rule 'engineering' (line 31)"}},
	},
	{
		.what = "a job repeated within one rule",
		.rules = {{.name = "twice", .line = 10, .jobs = {"Designer", "Designer"},
			.sequence = "Twin", .language = "en"}},
	},
	{
		.what = "duplicate rule names",
		.rules = {ENGINEERING,
			{.name = "engineering", .line = 40, .jobs = {"Account Executive"},
				.sequence = "Sales references", .language = "en"}},
		.errors = {{40, "rules[1].name", "rule name 'engineering' is already used by the rule at "
						 "line 31"}},
	},
	{
		.what = "a Lever stage linked to two Refty stages",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "Engineering references",
			.stages = {{"Self-assessment", "Phone screen", 14},
				{"Reference check", "References", 15},
				{"Reference check2", "Phone screen", 16}},
			.language = "en"}},
		.errors = {{16, "rules[0].stages[2]", "Lever stage 'Phone screen' sends Refty stage "
						      "'Reference check2' here and 'Self-assessment' "
						      "at line 14"}},
	},
	{
		.what = "a Refty stage linked twice",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "Engineering references",
			.stages = {{"Reference check", "Phone screen", 14},
				{"Reference check", "References", 15}},
			.language = "en"}},
		.errors = {{15, "rules[0].stages[1]", "Refty stage 'Reference check' is linked twice "
						      "(also at line 14)"}},
	},
	{
		.what = "several problems, each with its line",
		.rules = {ENGINEERING,
			{.name = "engineering", .line = 40, .jobs = {"Senior Backend Engineer"},
				.sequence = "Sales references",
				.stages = {{"Reference check", "On-site", 44},
					{"Reference check", "Offer", 45}},
				.language = "en"}},
		.errors = {{40, "rules[1].name", "already used"},
			{41, "rules[1].jobs", "linked to sequence 'Sales references' here"},
			{45, "rules[1].stages[1]", "linked twice"}},
	},
};

static void test_offline(void)
{
	for (size_t i = 0; i < sizeof(offline_cases) / sizeof(offline_cases[0]); i++) {
		const struct check_case *c = &offline_cases[i];
		struct config *cfg = make_config(c->rules);
		struct rules_errors errs;
		rules_errors_init(&errs);
		bool good = rules_check_offline(cfg, &errs);
		char label[256];
		snprintf(label, sizeof(label), "%s: result", c->what);
		is_int(good, c->errors[0].key == NULL, label);
		expect_errors(c->what, &errs, c->errors);
		rules_errors_finish(&errs);
		free_config(cfg);
	}
}

static const struct check_case resolve_cases[] = {
	{
		.what = "resolve: valid rules",
		.rules = {ENGINEERING,
			{.name = "rest", .line = 50, .jobs = {"*"}, .sequence = "seq-sales",
				.stages = {{"rs-sales-ref", "st-onsite", 54}}, .language = "fr"}},
	},
	{
		.what = "resolve: unknown posting",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Senior Backend Enginer"},
			.sequence = "Engineering references", .language = "en"}},
		.errors = {{11, "rules[0].jobs", "no posting has the id or title 'Senior Backend "
						 "Enginer' (run 'refty-lever lever postings' to list them; "
						 "a confidential posting is listed only with "
						 "lever.confidential = true)"}},
	},
	{
		.what = "resolve: names that differ only in case or spacing are suggested",
		.rules = {{.name = "eng", .line = 10, .jobs = {"senior  backend engineer "},
			.sequence = "engineering References", .language = "en",
			.stages = {{"self-assessment", "phone Screen", 13}}}},
		.errors = {{12, "rules[0].sequence", "no Refty sequence has the id or name "
						  "'engineering References': did you mean 'Engineering "
						  "references'? (run 'refty-lever refty sequences' to list them)"},
			{11, "rules[0].jobs", "no posting has the id or title 'senior  backend "
					      "engineer ': did you mean 'Senior Backend Engineer'? (run "
					      "'refty-lever lever postings' to list them; a confidential "
					      "posting is listed only with lever.confidential = true)"},
			{13, "rules[0].stages[0]", "no Lever stage has the id or name 'phone Screen': "
						   "did you mean 'Phone screen'? (run 'refty-lever lever "
						   "stages' to list them)"}},
	},
	{
		.what = "resolve: a Refty stage differing only in case is suggested",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Senior Backend Engineer"},
			.sequence = "Engineering references", .language = "en",
			.stages = {{"reference CHECK", "References", 13}}}},
		.errors = {{13, "rules[0].stages[0]", "sequence 'Engineering references' has no stage "
						   "with the id or name 'reference CHECK': did you mean "
						   "'Reference check'? (run 'refty-lever refty sequences' to "
						   "list them)"}},
	},
	{
		.what = "resolve: a title two postings share",
		.rules = {{.name = "design", .line = 10, .jobs = {"Designer"},
			.sequence = "Engineering references", .language = "en"}},
		.errors = {{11, "rules[0].jobs", "title 'Designer' matches 2 postings ('p-dupA', "
						 "'p-dupB'): name the job by its posting id"}},
	},
	{
		.what = "resolve: posting id of a shared title",
		.rules = {{.name = "design", .line = 10, .jobs = {"p-dupB"},
			.sequence = "Engineering references", .language = "en"}},
	},
	{
		.what = "resolve: unknown sequence",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "Engineering refs",
			.stages = {{"Reference check", "References", 14}}, .language = "en"}},
		.errors = {{12, "rules[0].sequence", "no Refty sequence has the id or name 'Engineering "
						     "refs' (run 'refty-lever refty sequences' to list "
						     "them)"}},
	},
	{
		.what = "resolve: a sequence name two sequences share",
		.rules = {{.name = "twin", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "Twin", .language = "en"}},
		.errors = {{12, "rules[0].sequence", "matches 2 Refty sequences ('seq-twin1', "
						     "'seq-twin2')"}},
	},
	{
		.what = "resolve: unknown Refty stage",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng", .stages = {{"Reference chek", "References", 14}},
			.language = "en"}},
		.errors = {{14, "rules[0].stages[0]", "sequence 'Engineering references' has no stage "
						      "with the id or name 'Reference chek' (run "
						      "'refty-lever refty sequences'"}},
	},
	{
		.what = "resolve: a Refty stage of another sequence",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng", .stages = {{"rs-sales-ref", "References", 14}},
			.language = "en"}},
		.errors = {{14, "rules[0].stages[0]", "has no stage with the id or name 'rs-sales-ref'"}},
	},
	{
		.what = "resolve: a Refty stage name two stages share",
		.rules = {{.name = "same", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "Same names", .stages = {{"Check", "References", 14}},
			.language = "en"}},
		.errors = {{14, "rules[0].stages[0]", "matches 2 stages of sequence 'Same names'"}},
	},
	{
		.what = "resolve: unknown Lever stage",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng", .stages = {{"Reference check", "Refs", 14}},
			.language = "en"}},
		.errors = {{14, "rules[0].stages[0]", "no Lever stage has the id or name 'Refs' (run "
						      "'refty-lever lever stages' to list them)"}},
	},
	{
		.what = "resolve: a Lever stage name two stages share",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng", .stages = {{"Reference check", "Duplicate", 14}},
			.language = "en"}},
		.errors = {{14, "rules[0].stages[0]", "matches 2 Lever stages ('st-dup1', 'st-dup2')"}},
	},
	{
		.what = "resolve: a title and an id naming one posting in two rules",
		.rules = {ENGINEERING,
			{.name = "platform", .line = 40, .jobs = {"Platform Engineer"},
				.sequence = "Sales references", .language = "en"}},
		.errors = {{41, "rules[1].jobs", "job 'Platform Engineer' is posting 'Platform "
						 "Engineer' (" P_PLATFORM "), which rule 'engineering' "
						 "(line 31) links to sequence 'Engineering references'"}},
	},
	{
		.what = "resolve: a title and an id naming one posting, same sequence",
		.rules = {ENGINEERING,
			{.name = "platform", .line = 40, .jobs = {"Platform Engineer"},
				.sequence = "seq-eng", .language = "en"}},
		.errors = {{41, "rules[1].jobs", "which rule 'engineering' (line 31) already covers"}},
	},
	{
		.what = "resolve: a title and an id of one posting in one rule",
		.rules = {{.name = "platform", .line = 10, .jobs = {"Platform Engineer", P_PLATFORM},
			.sequence = "seq-eng", .language = "en"}},
	},
	{
		.what = "resolve: one Refty stage by name and by id",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng",
			.stages = {{"Reference check", "References", 14}, {"rs-ref", "Phone screen", 15}},
			.language = "en"}},
		.errors = {{15, "rules[0].stages[1]", "'rs-ref' is Refty stage 'Reference check' "
						      "(rs-ref), already linked at line 14"}},
	},
	{
		.what = "resolve: one Lever stage by name and by id, to two Refty stages",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng",
			.stages = {{"Reference check", "References", 14}, {"rs-self", "st-refs", 15}},
			.language = "en"}},
		.errors = {{15, "rules[0].stages[1]", "'st-refs' is Lever stage 'References' (st-refs), "
						      "which already sends 'Reference check' at line 14"}},
	},
	{
		.what = "resolve: a stage linked twice by the same name is reported once",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Platform Engineer"},
			.sequence = "seq-eng",
			.stages = {{"Reference check", "References", 14},
				{"Reference check", "Phone screen", 15}},
			.language = "en"}},
		.errors = {{15, "rules[0].stages[1]", "Refty stage 'Reference check' is linked twice"}},
	},
	{
		.what = "resolve: offline problems are reported too",
		.rules = {ENGINEERING,
			{.name = "engineering", .line = 40, .jobs = {"Account Executive"},
				.sequence = "Sales references", .language = "en"}},
		.errors = {{40, "rules[1].name", "already used"}},
	},
	{
		.what = "resolve: every problem at once",
		.rules = {{.name = "eng", .line = 10, .jobs = {"Nope", "Designer", "*"},
			.sequence = "Nothing", .stages = {{"X", "Y", 14}}, .language = "en"}},
		.errors = {{12, "rules[0].sequence", "'Nothing'"},
			{11, "rules[0].jobs", "'Nope'"},
			{11, "rules[0].jobs", "'Designer'"},
			{14, "rules[0].stages[0]", "no Lever stage has the id or name 'Y'"}},
	},
};

static void test_resolve_cases(void)
{
	struct catalog cat;
	make_catalog(&cat);
	for (size_t i = 0; i < sizeof(resolve_cases) / sizeof(resolve_cases[0]); i++) {
		const struct check_case *c = &resolve_cases[i];
		struct config *cfg = make_config(c->rules);
		struct rules_errors errs;
		rules_errors_init(&errs);
		struct rule_set *set = rules_resolve(cfg, &cat, &errs);
		char label[256];
		snprintf(label, sizeof(label), "%s: %s", c->what,
			c->errors[0].key ? "no rule set" : "a rule set");
		ok((set != NULL) == (c->errors[0].key == NULL), label);
		expect_errors(c->what, &errs, c->errors);
		rule_set_destroy(set);
		rules_errors_finish(&errs);
		free_config(cfg);
	}
	catalog_finish(&cat);
}

static struct rule_set *resolve_ok(const struct rule_spec *specs, const struct catalog *cat)
{
	struct config *cfg = make_config(specs);
	struct rules_errors errs;
	rules_errors_init(&errs);
	struct rule_set *set = rules_resolve(cfg, cat, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		printf("# unexpected: %d: %s: %s\n", errs.items[i].line, errs.items[i].key,
			errs.items[i].message);
	}
	rules_errors_finish(&errs);
	free_config(cfg);
	return set;
}

static void test_resolved_contents(void)
{
	struct catalog cat;
	make_catalog(&cat);
	const struct rule_spec specs[] = {ENGINEERING,
		{.name = "rest", .line = 50, .jobs = {"*"}, .sequence = "seq-sales",
			.stages = {{"rs-sales-ref", "st-onsite", 54}}, .language = "fr"},
		{0}};
	struct rule_set *set = resolve_ok(specs, &cat);
	if (!ok(set != NULL, "resolved: rules resolve")) {
		catalog_finish(&cat);
		return;
	}
	is_int(set->n_rules, 2, "resolved: two rules");
	const struct resolved_rule *eng = &set->rules[0];
	is_str(eng->name, "engineering", "resolved: name");
	is_str(eng->sequence_id, "seq-eng", "resolved: sequence id from its name");
	is_str(eng->sequence_name, "Engineering references", "resolved: sequence name");
	is_str(eng->language, "en", "resolved: language as written");
	is_int(eng->line, 31, "resolved: config line");
	ok(!eng->wildcard, "resolved: explicit jobs are not a wildcard");
	is_int(eng->n_postings, 2, "resolved: two postings");
	is_str(eng->posting_ids[0], P_PLATFORM, "resolved: posting ids sorted (1)");
	is_str(eng->posting_ids[1], "p-backend", "resolved: title resolved to its posting id");
	is_int(eng->n_links, 2, "resolved: two links");
	is_str(eng->links[0].lever_stage_id, "st-phone", "resolved: Lever stage id from its text");
	is_str(eng->links[0].lever_stage_name, "Phone screen", "resolved: Lever stage name");
	is_str(eng->links[0].refty_stage_id, "rs-self", "resolved: Refty stage id from its name");
	is_str(eng->links[0].type, "self_assessment", "resolved: Refty stage type");
	is_str(eng->links[1].refty_stage_name, "Reference check", "resolved: Refty stage name");
	is_int(eng->links[1].line, 37, "resolved: link line");
	const struct resolved_rule *rest = &set->rules[1];
	ok(rest->wildcard, "resolved: '*' is a wildcard");
	is_int(rest->n_postings, 0, "resolved: a wildcard lists no posting");
	is_str(rest->sequence_name, "Sales references", "resolved: sequence by id has its name");
	is_str(rest->links[0].lever_stage_name, "On-site", "resolved: Lever stage by id has its name");
	rule_set_destroy(set);
	catalog_finish(&cat);
}

struct match_case {
	const char *what;
	const char *posting;
	const char *rule; /* NULL: not covered */
};

static void run_matches(const struct rule_set *set, const struct match_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct resolved_rule *r = rules_match(set, cases[i].posting);
		is_str(r ? r->name : NULL, cases[i].rule, cases[i].what);
	}
}

static void test_match(void)
{
	struct catalog cat;
	make_catalog(&cat);
	// The wildcard comes first in the file: an explicit rule still wins.
	const struct rule_spec with_wildcard[] = {
		{.name = "rest", .line = 10, .jobs = {"*"}, .sequence = "seq-sales",
			.stages = {{"rs-sales-ref", "st-onsite", 14}}, .language = "fr"},
		ENGINEERING,
		{0}};
	struct rule_set *set = resolve_ok(with_wildcard, &cat);
	ok(set != NULL, "match: wildcard set resolves");
	static const struct match_case wild[] = {
		{"match: explicit by title beats the wildcard", "p-backend", "engineering"},
		{"match: explicit by id beats the wildcard", P_PLATFORM, "engineering"},
		{"match: the wildcard covers the rest", "p-sales", "rest"},
		{"match: the wildcard covers postings it never heard of", "p-new", "rest"},
		{"match: no application never matches", NULL, NULL},
	};
	run_matches(set, wild, sizeof(wild) / sizeof(wild[0]));
	const struct resolved_rule *eng = rules_match(set, "p-backend");
	const struct resolved_link *l = rules_link_for_stage(eng, "st-refs");
	is_str(l ? l->refty_stage_id : NULL, "rs-ref", "link: References sends the reference check");
	l = rules_link_for_stage(eng, "st-phone");
	is_str(l ? l->refty_stage_id : NULL, "rs-self", "link: Phone screen sends the self-assessment");
	ok(rules_link_for_stage(eng, "st-onsite") == NULL, "link: an unlinked stage sends nothing");
	ok(rules_link_for_stage(eng, NULL) == NULL, "link: no stage sends nothing");
	ok(rules_link_for_stage(NULL, "st-refs") == NULL, "link: no rule sends nothing");
	is_str(rules_find(set, "rest") ? rules_find(set, "rest")->sequence_id : NULL, "seq-sales",
		"find: a rule by name");
	ok(rules_find(set, "nope") == NULL, "find: an unknown name");
	is_str(rules_posting_title(set, "p-sales"), "Account Executive", "title: a known posting");
	ok(rules_posting_title(set, "p-new") == NULL, "title: an unknown posting");
	ok(rules_posting_title(set, NULL) == NULL, "title: no posting");
	rule_set_destroy(set);

	const struct rule_spec explicit_only[] = {ENGINEERING, {0}};
	set = resolve_ok(explicit_only, &cat);
	static const struct match_case plain[] = {
		{"match: a listed posting", "p-backend", "engineering"},
		{"match: an unlisted posting is not covered", "p-sales", NULL},
		{"match: no application", NULL, NULL},
	};
	run_matches(set, plain, sizeof(plain) / sizeof(plain[0]));
	rule_set_destroy(set);
	ok(rules_match(NULL, "p-backend") == NULL, "match: no rule set");
	catalog_finish(&cat);
}

static void test_languages(void)
{
	struct catalog cat;
	make_catalog(&cat);
	const struct rule_spec specs[] = {ENGINEERING,
		{.name = "rest", .line = 50, .jobs = {"*"}, .sequence = "seq-sales", .language = "xx"},
		{0}};
	struct config *cfg = make_config(specs);
	const char *langs[] = {"en", "fr", "de"};
	struct rules_errors errs;
	rules_errors_init(&errs);
	ok(!rules_check_languages(cfg, langs, 3, &errs), "languages: an unsupported one fails");
	struct want_error want[] = {{53, "rules[1].language",
					    "Refty does not support language 'xx' (supported: en, fr, de)"},
		{0}};
	expect_errors("languages", &errs, want);
	rules_errors_finish(&errs);
	rules_errors_init(&errs);
	const char *more[] = {"de", "xx", "en"};
	ok(rules_check_languages(cfg, more, 3, &errs), "languages: all supported");
	is_int(errs.n, 0, "languages: no error when all are supported");
	rules_errors_finish(&errs);
	free_config(cfg);
	catalog_finish(&cat);
}

static void test_describe(void)
{
	const struct rule_spec specs[] = {ENGINEERING,
		{.name = "rest", .line = 50, .jobs = {"*"}, .sequence = "seq-sales", .language = "fr"},
		{0}};
	struct config *cfg = make_config(specs);
	struct strbuf out;
	strbuf_init(&out);
	rules_describe(cfg, &out);
	is_str(out.data,
		"rule 'engineering' (line 31): jobs 'Senior Backend Engineer', '" P_PLATFORM "' -> "
		"sequence 'Engineering references', language en; 'Phone screen' sends "
		"'Self-assessment'; 'References' sends 'Reference check'\n"
		"rule 'rest' (line 50): every job -> sequence 'seq-sales', language fr; no stage "
		"sends anything (candidates are only enrolled)\n",
		"describe: rules as written");
	strbuf_finish(&out);

	struct catalog cat;
	make_catalog(&cat);
	struct rule_set *set = resolve_ok(specs, &cat);
	strbuf_init(&out);
	rules_describe_resolved(set, &out);
	is_str(out.data,
		"rule 'engineering' (line 31): jobs 'Platform Engineer' (" P_PLATFORM "), 'Senior "
		"Backend Engineer' (p-backend) -> sequence 'Engineering references' (seq-eng), "
		"language en; 'Phone screen' (st-phone) sends self-assessment 'Self-assessment' "
		"(rs-self); 'References' (st-refs) sends reference check 'Reference check' (rs-ref)\n"
		"rule 'rest' (line 50): every job -> sequence 'Sales references' (seq-sales), "
		"language fr; no stage sends anything (candidates are only enrolled)\n",
		"describe: resolved rules with names and ids");
	strbuf_finish(&out);
	rule_set_destroy(set);
	catalog_finish(&cat);
	free_config(cfg);

	// Remote names are printed without their control characters.
	catalog_init(&cat);
	catalog_add_posting(&cat, "p1", "Evil\x1b[31m title");
	catalog_add_lever_stage(&cat, "s1", "S");
	struct refty_sequence *seq = catalog_add_sequence(&cat, "q1", "Q");
	refty_sequence_add_stage(seq, "r1", "R", "reference_check", 1);
	const struct rule_spec evil[] = {{.name = "e", .line = 3, .jobs = {"p1"}, .sequence = "q1",
						 .stages = {{"r1", "s1", 5}}, .language = "en"},
		{0}};
	set = resolve_ok(evil, &cat);
	strbuf_init(&out);
	rules_describe_resolved(set, &out);
	ok(out.data && !strchr(out.data, '\x1b'), "describe: control characters are not printed");
	strbuf_finish(&out);
	rule_set_destroy(set);
	catalog_finish(&cat);
}

static void test_errors_format(void)
{
	struct rules_errors errs;
	rules_errors_init(&errs);
	rules_errors_add(&errs, 20, "rules[1].jobs", "second %s", "one");
	rules_errors_add(&errs, 3, "rules[0].name", "first");
	rules_errors_add(&errs, 20, "rules[1].sequence", "third");
	struct strbuf out;
	strbuf_init(&out);
	rules_errors_format(&errs, "/etc/refty-lever.conf", &out);
	is_str(out.data,
		"/etc/refty-lever.conf:3: rules[0].name: first\n"
		"/etc/refty-lever.conf:20: rules[1].jobs: second one\n"
		"/etc/refty-lever.conf:20: rules[1].sequence: third\n",
		"errors: printed as file:line: key: message, by line, stable");
	strbuf_finish(&out);
	rules_errors_finish(&errs);
	is_int(errs.n, 0, "errors: finish empties the list");
}

static void test_catalog(void)
{
	struct catalog cat;
	catalog_init(&cat);
	char id[32];
	char name[32];
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "p%03d", i);
		snprintf(name, sizeof(name), "Job %d", i);
		catalog_add_posting(&cat, id, name);
	}
	is_int(cat.n_postings, 100, "catalog: grows past its first allocation");
	is_str(cat.postings[99].name, "Job 99", "catalog: keeps what was added");
	catalog_finish(&cat);
	is_int(cat.n_postings, 0, "catalog: finish empties it");

	// Filled by hand with an exact-size array, then extended with the helper.
	catalog_init(&cat);
	cat.lever_stages = xcalloc(1, sizeof(*cat.lever_stages));
	cat.lever_stages[0].id = xstrdup("a");
	cat.lever_stages[0].name = xstrdup("A");
	cat.n_lever_stages = 1;
	for (int i = 0; i < 20; i++) {
		catalog_add_lever_stage(&cat, "b", "B");
	}
	is_int(cat.n_lever_stages, 21, "catalog: a hand-filled array can be extended");
	catalog_add_lever_stage(&cat, NULL, NULL);
	is_str(cat.lever_stages[21].id, "", "catalog: NULL strings are stored as empty");
	catalog_finish(&cat);
}

int main(void)
{
	test_offline();
	test_resolve_cases();
	test_resolved_contents();
	test_match();
	test_languages();
	test_describe();
	test_errors_format();
	test_catalog();
	return tap_done();
}
