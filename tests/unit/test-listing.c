/* Unit tests for src/listing.c and rules_covered_postings: which jobs a listing asks for. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lever.h"
#include "listing.h"
#include "rules.h"
#include "tap.h"
#include "xalloc.h"

static char eng_a[] = "p-a", eng_c[] = "p-c", design_b[] = "p-b", design_c[] = "p-c";
static char *eng_ids[] = {eng_a, eng_c};
static char *design_ids[] = {design_b, design_c};
static char engineering[] = "engineering", design[] = "design", big_name[] = "big";

static struct rule_set two_rules(bool wildcard)
{
	static struct resolved_rule rules[2];
	memset(rules, 0, sizeof(rules));
	rules[0].name = engineering;
	rules[0].posting_ids = eng_ids;
	rules[0].n_postings = 2;
	rules[1].name = design;
	rules[1].posting_ids = design_ids;
	rules[1].n_postings = wildcard ? 0 : 2;
	rules[1].wildcard = wildcard;
	return (struct rule_set){.rules = rules, .n_rules = 2};
}

static void test_covered(void)
{
	struct rule_set set = two_rules(false);
	const char **ids = NULL;
	size_t n = 0;
	ok(rules_covered_postings(&set, &ids, &n), "covered: named jobs only");
	is_int(n, 3, "covered: each posting once");
	ok(n == 3 && strcmp(ids[0], "p-a") == 0 && strcmp(ids[1], "p-b") == 0 &&
			strcmp(ids[2], "p-c") == 0,
		"covered: sorted");
	free(ids);
	set = two_rules(true);
	ok(!rules_covered_postings(&set, &ids, &n) && ids == NULL, "covered: '*' covers every job");
	ok(!rules_covered_postings(NULL, &ids, &n), "covered: no rules");
}

static void test_filter(void)
{
	struct rule_set set = two_rules(false);
	struct posting_filter f;
	posting_filter_init(&f, &set, NULL, false);
	ok(!f.all, "filter: named jobs are asked for");
	is_int(posting_filter_batches(&f), 1, "filter: three ids are one listing");
	struct lever_opportunity_query q = {0};
	posting_filter_apply(&f, 0, &q);
	is_int(q.n_posting_ids, 3, "filter: the batch has them all");
	ok(posting_filter_has(&f, "p-b") && !posting_filter_has(&f, "p-x") &&
			!posting_filter_has(&f, NULL),
		"filter: asks for the covered postings only");
	char *text = posting_filter_seed_text(&f, true);
	is_str(text, "active p-a,p-b,p-c", "seed text: what a seeding backfill asked for");
	struct seed_listing sl;
	seed_listing_parse(text, &sl);
	ok(sl.filtered && sl.active_only && sl.n == 3, "seed text: read back");
	ok(seed_listing_has(&sl, "p-c") && !seed_listing_has(&sl, "p-d"), "seed text: its jobs");
	seed_listing_finish(&sl);
	free(text);
	posting_filter_finish(&f);

	posting_filter_init(&f, &set, &set.rules[1], false);
	ok(!f.all && f.n == 2, "filter: --rule asks for that rule's postings");
	posting_filter_finish(&f);
	posting_filter_init(&f, &set, NULL, true);
	ok(f.all, "filter: the full listing, for tests");
	is_int(posting_filter_batches(&f), 1, "filter: every job is one listing");
	text = posting_filter_seed_text(&f, false);
	is_str(text, "any *", "seed text: every job");
	seed_listing_parse(text, &sl);
	ok(!sl.filtered, "seed text: every job read back");
	free(text);
	seed_listing_parse(NULL, &sl);
	ok(!sl.filtered, "seed text: a state from before it was kept listed every job");
	posting_filter_finish(&f);

	// 120 postings: three listings of 50, 50 and 20.
	static char *many[120];
	static char names[120][8];
	for (int i = 0; i < 120; i++) {
		snprintf(names[i], sizeof(names[i]), "p%03d", i);
		many[i] = names[i];
	}
	struct resolved_rule big = {.name = big_name, .posting_ids = many, .n_postings = 120};
	struct rule_set bigset = {.rules = &big, .n_rules = 1};
	posting_filter_init(&f, &bigset, NULL, false);
	is_int(posting_filter_batches(&f), 3, "batches: 120 ids are three listings");
	posting_filter_apply(&f, 1, &q);
	ok(q.n_posting_ids == LISTING_BATCH && strcmp(q.posting_ids[0], "p050") == 0,
		"batches: the second starts at the 51st");
	posting_filter_apply(&f, 2, &q);
	is_int(q.n_posting_ids, 20, "batches: the last has the rest");
	posting_filter_finish(&f);
}

int main(void)
{
	test_covered();
	test_filter();
	return tap_done();
}
