#ifndef REFTY_LEVER_LISTING_H
#define REFTY_LEVER_LISTING_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Which jobs a listing asks Lever for: every job, or only the postings the rules cover, in
 * batches of at most LISTING_BATCH ids (repeated posting_id parameters) so that URLs stay
 * short. Each batch is a listing of its own, paged to its end like any other. Pure logic.
 */

struct lever_opportunity_query;
struct resolved_rule;
struct rule_set;

#define LISTING_BATCH 50

struct posting_filter {
	bool all;         /* no posting_id filter: every job */
	const char **ids; /* sorted, borrowed from the rules; NULL when all */
	size_t n;
};

/**
 * The postings of only (backfill --rule), or else of every rule; every job when one of them
 * is "*". full_listing (tests only: the listing as it was before filtering, to compare with)
 * asks for every job unless only names its postings.
 */
void posting_filter_init(struct posting_filter *f, const struct rule_set *rules,
	const struct resolved_rule *only, bool full_listing);
void posting_filter_finish(struct posting_filter *f);
/** How many listings f takes: 1 for every job, else one per batch (0 when nothing is covered). */
size_t posting_filter_batches(const struct posting_filter *f);
/** Whether f asks for posting_id (every job: any, NULL included). */
bool posting_filter_has(const struct posting_filter *f, const char *posting_id);
/** Sets q's posting_id filter to batch i of f (none when f is every job). */
void posting_filter_apply(const struct posting_filter *f, size_t i, struct lever_opportunity_query *q);

/*
 * What a seeding listed, kept in the state (meta "seed_listing") so that later runs know
 * which opportunities it never saw: "<any|active> <*|id,id,...>".
 */
/** The meta value for a seeding that listed f; active_only: archived ones were not listed.
 * Caller frees. */
char *posting_filter_seed_text(const struct posting_filter *f, bool active_only);

struct seed_listing {
	bool filtered;    /* the seeding asked for some jobs only */
	bool active_only; /* and only for active opportunities */
	char **ids;       /* the jobs it asked for, sorted */
	size_t n;
};

/** Reads a seed_listing value (NULL: a state seeded before it was kept: every job). */
void seed_listing_parse(const char *text, struct seed_listing *out);
void seed_listing_finish(struct seed_listing *s);
/** Whether the seeding asked for posting_id (and so saw whatever was on it then). */
bool seed_listing_has(const struct seed_listing *s, const char *posting_id);

#endif
