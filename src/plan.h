#ifndef REFTY_LEVER_PLAN_H
#define REFTY_LEVER_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

/* Turns what changed in an opportunity into the actions refty-lever intends
 * to take in Refty, each with the key that makes it happen once. Pure logic:
 * no I/O. */

struct diff;
struct opportunity;
struct resolved_rule;
struct rule_set;
struct enrolment;

struct plan_action {
	enum action_kind kind; /* create, update, send or skip; never quarantine */
	char *opportunity_id;
	char *rule_name;
	char *sequence_id;
	char *refty_stage_id;   /* sends, and skips standing for a send; else NULL */
	char *refty_stage_name;
	char *lever_stage_id;
	int64_t entry_at_ms;    /* the stage entry a send is for; else OPP_TIME_NONE */
	char *key;              /* journal and Idempotency-Key */
	/* Why, in words, for operators; for ACTION_SKIP exactly "archived",
	 * "anonymized" or "confidential". */
	char *reason;
};

/** A growable list of actions, in the order they must be performed. */
struct plan {
	struct plan_action *actions;
	size_t n;
	size_t cap;
};

void plan_init(struct plan *plan);
void plan_finish(struct plan *plan);
/** Appends a deep copy of a (its strings may be NULL) and returns the copy. */
struct plan_action *plan_add(struct plan *plan, const struct plan_action *a);
void plan_action_finish(struct plan_action *a);

struct plan_context {
	bool seeding;              /* sync on an empty snapshot: nothing fires */
	bool backfill;             /* enrol every covered, active opportunity */
	bool trigger_current;      /* backfill: send the step of the stage it sits in */
	bool include_confidential; /* lever.confidential */
	const struct rule_set *rules; /* for posting titles in reasons; may be NULL */
	/* Backfill --rule: only this rule's candidates are backfilled (NULL: all).
	 * What a sync would do for the others is still planned. */
	const char *only_rule;
	/* Backfill on a snapshot that sync already keeps: the start of the poll
	 * that seeded it. Stage entries after it, of opportunities the snapshot
	 * never saw, are ones a sync would have acted on, so they fire; older
	 * ones are history. 0 or less: the snapshot was empty. */
	int64_t watched_since_ms;
};

/**
 * Appends to out what to do about opp, given d (diff_compute of the snapshot's
 * row and opp), rule (rules_match(ctx->rules, opp->posting_id); NULL: not
 * covered) and enrolled (NULL, or an enrolment in another sequence: not
 * enrolled in the rule's sequence).
 *
 * Nothing is planned while seeding (outside backfill) or when no rule covers
 * the job. Otherwise, in this order: ACTION_CREATE_CANDIDATE for a candidate new
 * on a covered job (in backfill: any active one) or needed before a send;
 * ACTION_UPDATE_CONTACT when enrolled and Lever's name, first email or first
 * phone differ from the enrolment; ACTION_SEND_STEP for each new entry into a
 * linked stage (in backfill, entries the snapshot never saw fire only with
 * trigger_current, and then only the current stage's). When the opportunity
 * is archived, anonymized, or confidential without include_confidential, all
 * that is replaced by a single ACTION_SKIP saying which.
 *
 * Keys depend only on the inputs, so running the same input again plans the
 * same keys. Returns how many actions were appended.
 */
size_t plan_opportunity(const struct plan_context *ctx, const struct resolved_rule *rule,
	const struct opportunity *opp, const struct diff *d, const struct enrolment *enrolled,
	struct plan *out);

/**
 * Why nothing may be sent for a candidate in this condition: "archived", "anonymized" or
 * "confidential" (include_confidential: lever.confidential), or NULL. The one skip rule,
 * for the plan and for explaining it.
 */
const char *plan_blocked_reason(bool archived, bool anonymized, bool confidential,
	bool include_confidential);

#endif
