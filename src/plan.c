#include "plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "diff.h"
#include "opportunity.h"
#include "rules.h"
#include "timeutil.h"
#include "xalloc.h"

#define LOG_MODULE "plan"
#include "log.h"

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

void plan_init(struct plan *plan)
{
	memset(plan, 0, sizeof(*plan));
}

void plan_action_finish(struct plan_action *a)
{
	free(a->opportunity_id);
	free(a->rule_name);
	free(a->sequence_id);
	free(a->refty_stage_id);
	free(a->refty_stage_name);
	free(a->lever_stage_id);
	free(a->key);
	free(a->reason);
	memset(a, 0, sizeof(*a));
	a->entry_at_ms = OPP_TIME_NONE;
}

void plan_finish(struct plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		plan_action_finish(&plan->actions[i]);
	}
	free(plan->actions);
	plan_init(plan);
}

struct plan_action *plan_add(struct plan *plan, const struct plan_action *a)
{
	if (plan->n == plan->cap) {
		plan->cap = plan->cap ? plan->cap * 2 : 8;
		plan->actions = xrealloc(plan->actions, plan->cap * sizeof(*plan->actions));
	}
	struct plan_action *dst = &plan->actions[plan->n++];
	dst->kind = a->kind;
	dst->opportunity_id = xstrdup(a->opportunity_id);
	dst->rule_name = xstrdup(a->rule_name);
	dst->sequence_id = xstrdup(a->sequence_id);
	dst->refty_stage_id = xstrdup(a->refty_stage_id);
	dst->refty_stage_name = xstrdup(a->refty_stage_name);
	dst->lever_stage_id = xstrdup(a->lever_stage_id);
	dst->entry_at_ms = a->entry_at_ms;
	dst->key = xstrdup(a->key);
	dst->reason = xstrdup(a->reason);
	return dst;
}

/* Remote names end up on terminals and in the journal. */
static char *quoted(const char *s)
{
	char *clean = log_sanitize(s ? s : "");
	char *q = xasprintf("'%s'", clean);
	free(clean);
	return q;
}

static char *job_words(const struct plan_context *ctx, const struct opportunity *opp)
{
	const char *title = rules_posting_title(ctx->rules, opp->posting_id);
	return quoted(title && *title ? title : opp->posting_id);
}

/* FNV-1a over the values with separators: stable across runs and builds. */
static uint64_t contact_hash(const struct opportunity *opp)
{
	const char *parts[3] = {opp->name, opportunity_email(opp), opportunity_phone(opp)};
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t i = 0; i < 3; i++) {
		for (const char *p = parts[i] ? parts[i] : ""; *p; p++) {
			h ^= (unsigned char)*p;
			h *= 0x100000001b3u;
		}
		h ^= 0xff; // a byte no UTF-8 text holds separates the fields
		h *= 0x100000001b3u;
	}
	return h;
}

/* The actions being built for one opportunity, before the skip decision. */
struct draft {
	struct plan_action create;
	bool has_create;
	struct plan_action update;
	bool has_update;
	struct plan_action *sends;
	size_t n_sends;
};

static void draft_finish(struct draft *dr)
{
	if (dr->has_create) {
		plan_action_finish(&dr->create);
	}
	if (dr->has_update) {
		plan_action_finish(&dr->update);
	}
	for (size_t i = 0; i < dr->n_sends; i++) {
		plan_action_finish(&dr->sends[i]);
	}
	free(dr->sends);
}

static void base_action(struct plan_action *a, enum action_kind kind, const struct resolved_rule *rule,
	const struct opportunity *opp)
{
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->opportunity_id = xstrdup(opp->id);
	a->rule_name = xstrdup(rule->name);
	a->sequence_id = xstrdup(rule->sequence_id);
	a->entry_at_ms = OPP_TIME_NONE;
}

static void draft_create(struct draft *dr, const struct resolved_rule *rule,
	const struct opportunity *opp, char *reason)
{
	base_action(&dr->create, ACTION_CREATE_CANDIDATE, rule, opp);
	dr->create.key = journal_key_candidate(opp->id, rule->sequence_id);
	dr->create.reason = reason;
	dr->has_create = true;
}

static void draft_send(struct draft *dr, const struct resolved_rule *rule,
	const struct opportunity *opp, const struct resolved_link *link, int64_t at_ms,
	bool current)
{
	char *key = journal_key_step(opp->id, link->refty_stage_id, at_ms);
	for (size_t i = 0; i < dr->n_sends; i++) {
		if (strcmp(dr->sends[i].key, key) == 0) {
			free(key);
			return;
		}
	}
	dr->sends = xrealloc(dr->sends, (dr->n_sends + 1) * sizeof(*dr->sends));
	struct plan_action *a = &dr->sends[dr->n_sends++];
	base_action(a, ACTION_SEND_STEP, rule, opp);
	a->refty_stage_id = xstrdup(link->refty_stage_id);
	a->refty_stage_name = xstrdup(link->refty_stage_name);
	a->lever_stage_id = xstrdup(link->lever_stage_id);
	a->entry_at_ms = at_ms;
	a->key = key;
	char when[48];
	timeutil_format(at_ms, when, sizeof(when));
	char *stage = quoted(link->lever_stage_name);
	if (current) {
		a->reason = xasprintf("in %s since %s (trigger current)", stage, when);
	} else {
		a->reason = xasprintf("entered %s at %s", stage, when);
	}
	free(stage);
}

static void draft_update(struct draft *dr, const struct resolved_rule *rule,
	const struct opportunity *opp, const struct diff *d, const struct enrolment *enrolled)
{
	unsigned changed = contact_changes(&enrolled->contact, opp);
	if (!changed) {
		return;
	}
	bool name = changed & CONTACT_NAME, email = changed & CONTACT_EMAIL,
	     phone = changed & CONTACT_PHONE;
	base_action(&dr->update, ACTION_UPDATE_CONTACT, rule, opp);
	// updated_at moves with every contact change, so a change back to an old
	// value still gets a new key; records without a believable one fall back
	// to the values.
	if (d->updated_at != OPP_TIME_NONE) {
		dr->update.key = journal_key_contact(opp->id, rule->sequence_id, d->updated_at);
	} else {
		dr->update.key = journal_key_contact_hash(opp->id, rule->sequence_id, contact_hash(opp));
	}
	dr->update.reason = xasprintf("contact details changed in Lever (%s%s%s%s%s)",
		name ? "name" : "", name && (email || phone) ? ", " : "", email ? "email" : "",
		email && phone ? ", " : "", phone ? "phone" : "");
	dr->has_update = true;
}

const char *plan_blocked_reason(bool archived, bool anonymized, bool confidential,
	bool include_confidential)
{
	if (archived) {
		return "archived";
	}
	if (anonymized) {
		return "anonymized";
	}
	if (confidential && !include_confidential) {
		return "confidential";
	}
	return NULL;
}

static const char *blocked_reason(const struct plan_context *ctx, const struct opportunity *opp)
{
	return plan_blocked_reason(opp->archived, opp->anonymized, opp->confidential,
		ctx->include_confidential);
}

/* An entry a sync would act on, as opposed to history a backfill only reads. */
static bool live_entry(const struct plan_context *ctx, const struct diff *d, int64_t at_ms)
{
	if (!ctx->backfill || !d->is_new) {
		return true;
	}
	return ctx->watched_since_ms > 0 && at_ms > ctx->watched_since_ms;
}

static void draft_sends(struct draft *dr, const struct plan_context *ctx,
	const struct resolved_rule *rule, const struct opportunity *opp, const struct diff *d,
	bool backfilled)
{
	for (size_t i = 0; i < d->n_entries; i++) {
		const struct diff_entry *e = &d->entries[i];
		const struct resolved_link *link = rules_link_for_stage(rule, e->stage_id);
		if (link && live_entry(ctx, d, e->at_ms)) {
			draft_send(dr, rule, opp, link, e->at_ms, false);
		}
	}
	if (backfilled && ctx->trigger_current) {
		const struct resolved_link *link = rules_link_for_stage(rule, opp->stage_id);
		int64_t at = d->current_entry_ms;
		if (link && at != OPP_TIME_NONE) {
			draft_send(dr, rule, opp, link, at, true);
		}
	}
}

static size_t emit(struct plan *out, const struct draft *dr, const char *blocked)
{
	if (blocked) {
		// One record of what was not done: the first send if any, since
		// stage entries are the events operators look for.
		const struct plan_action *what = dr->n_sends ? &dr->sends[0]
						 : dr->has_create ? &dr->create
								  : &dr->update;
		struct plan_action *skip = plan_add(out, what);
		skip->kind = ACTION_SKIP;
		free(skip->key);
		skip->key = journal_key_skip(blocked, what->key);
		free(skip->reason);
		skip->reason = xstrdup(blocked);
		return 1;
	}
	size_t n = 0;
	if (dr->has_create) {
		plan_add(out, &dr->create);
		n++;
	}
	if (dr->has_update) {
		plan_add(out, &dr->update);
		n++;
	}
	for (size_t i = 0; i < dr->n_sends; i++) {
		plan_add(out, &dr->sends[i]);
		n++;
	}
	return n;
}

size_t plan_opportunity(const struct plan_context *ctx, const struct resolved_rule *rule,
	const struct opportunity *opp, const struct diff *d, const struct enrolment *enrolled,
	struct plan *out)
{
	if (!rule || !opp->posting_id || (ctx->seeding && !ctx->backfill)) {
		return 0;
	}
	bool is_enrolled =
		enrolled && (!enrolled->sequence_id || str_eq(enrolled->sequence_id, rule->sequence_id));
	// Backfill enrols what sits on a covered job; archived candidates are done
	// with, so they are neither enrolled nor recorded as skipped.
	bool backfilled = ctx->backfill && !opp->archived &&
			  (!ctx->only_rule || str_eq(ctx->only_rule, rule->name));

	struct draft dr = {0};
	const char *why = NULL;
	if (!is_enrolled && d->is_new && live_entry(ctx, d, opp->created_at)) {
		why = "new candidate on";
	} else if (!is_enrolled && d->posting_changed) {
		why = "moved onto";
	} else if (!is_enrolled && backfilled) {
		why = "backfill of candidate on";
	}
	if (why) {
		char *job = job_words(ctx, opp);
		draft_create(&dr, rule, opp, xasprintf("%s %s", why, job));
		free(job);
	}
	draft_sends(&dr, ctx, rule, opp, d, backfilled);
	if (dr.n_sends && !is_enrolled && !dr.has_create) {
		char *stage = quoted(dr.sends[0].refty_stage_name);
		draft_create(&dr, rule, opp, xasprintf("not yet in Refty, needed to send %s", stage));
		free(stage);
	}
	if (is_enrolled) {
		draft_update(&dr, rule, opp, d, enrolled);
	}

	size_t n = 0;
	if (dr.has_create || dr.has_update || dr.n_sends) {
		n = emit(out, &dr, blocked_reason(ctx, opp));
	}
	draft_finish(&dr);
	return n;
}
