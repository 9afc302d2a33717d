#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "opportunity.h"
#include "xalloc.h"

/* Posting ids are identities: NULL (no application) differs from any id. */
static bool same_id(const char *a, const char *b)
{
	if (!a || !b) {
		return a == b;
	}
	return strcmp(a, b) == 0;
}

void diff_init(struct diff *d)
{
	memset(d, 0, sizeof(*d));
	d->new_seen_until_ms = OPP_TIME_NONE;
	d->current_entry_ms = OPP_TIME_NONE;
	d->updated_at = OPP_TIME_NONE;
}

void diff_finish(struct diff *d)
{
	free(d->old_posting_id);
	free(d->new_posting_id);
	for (size_t i = 0; i < d->n_entries; i++) {
		free(d->entries[i].stage_id);
	}
	free(d->entries);
	for (size_t i = 0; i < d->n_untrusted; i++) {
		free(d->untrusted[i].stage_id);
	}
	free(d->untrusted);
	diff_init(d);
}

struct diff_trust diff_trust_for_poll(int64_t poll_start_ms)
{
	return (struct diff_trust){DIFF_TRUST_NOT_BEFORE_MS, poll_start_ms + DIFF_TRUST_AHEAD_MS};
}

/* Whether at may be believed; a time that may not is noted in d once. */
static bool trusted(const struct diff_trust *trust, struct diff *d, const char *field,
	const char *stage_id, int64_t at_ms)
{
	if (!trust || at_ms == OPP_TIME_NONE ||
		(at_ms >= trust->not_before_ms && at_ms <= trust->not_after_ms)) {
		return true;
	}
	for (size_t i = 0; i < d->n_untrusted; i++) {
		const struct diff_untrusted *u = &d->untrusted[i];
		if (u->at_ms == at_ms && strcmp(u->field, field) == 0 &&
			same_id(u->stage_id, stage_id)) {
			return false;
		}
	}
	d->untrusted = xrealloc(d->untrusted, (d->n_untrusted + 1) * sizeof(*d->untrusted));
	d->untrusted[d->n_untrusted++] =
		(struct diff_untrusted){field, stage_id ? xstrdup(stage_id) : NULL, at_ms};
	return false;
}

static int64_t max_time(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static bool usable(const struct stage_entry *e)
{
	return e->at_ms != OPP_TIME_NONE && e->stage_id;
}

static bool has_usable_changes(const struct opportunity *cur)
{
	for (size_t i = 0; cur->has_changes && i < cur->n_changes; i++) {
		if (usable(&cur->changes[i])) {
			return true;
		}
	}
	return false;
}

/*
 * The time that stands for the latest entry when there is no usable history:
 * last_advanced_at, else created_at; OPP_TIME_NONE when that one is not
 * believed (another field's time would be a guess).
 */
static int64_t fallback_entry_ms(const struct opportunity *cur, const struct diff_trust *trust,
	struct diff *d)
{
	bool advanced = cur->last_advanced_at != OPP_TIME_NONE;
	const char *field = advanced ? "lastAdvancedAt" : "createdAt";
	int64_t at = advanced ? cur->last_advanced_at : cur->created_at;
	return trusted(trust, d, field, cur->stage_id, at) ? at : OPP_TIME_NONE;
}

static void add_entry(struct diff *d, size_t *cap, const char *stage_id, int64_t at_ms)
{
	// The same (stage, time) twice is one entry: it would make the same key.
	for (size_t i = 0; i < d->n_entries; i++) {
		if (d->entries[i].at_ms == at_ms && strcmp(d->entries[i].stage_id, stage_id) == 0) {
			return;
		}
	}
	if (d->n_entries == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		d->entries = xrealloc(d->entries, *cap * sizeof(*d->entries));
	}
	d->entries[d->n_entries].stage_id = xstrdup(stage_id);
	d->entries[d->n_entries].at_ms = at_ms;
	d->n_entries++;
}

/* Lever lists stageChanges oldest first, but nothing promises it; a stable
 * insertion sort keeps Lever's order for equal times. Lists are short. */
static void sort_entries(struct diff *d)
{
	for (size_t i = 1; i < d->n_entries; i++) {
		struct diff_entry e = d->entries[i];
		size_t j = i;
		while (j > 0 && d->entries[j - 1].at_ms > e.at_ms) {
			d->entries[j] = d->entries[j - 1];
			j--;
		}
		d->entries[j] = e;
	}
}

static void compute_entries(const struct opportunity_state *prev, const struct opportunity *cur,
	const struct diff_trust *trust, struct diff *d)
{
	int64_t seen = prev ? prev->seen_until_ms : OPP_TIME_NONE;
	int64_t newest = seen;
	size_t cap = 0;
	bool current_unknown = false; /* the entry into the current stage is not believed */
	if (has_usable_changes(cur)) {
		for (size_t i = 0; i < cur->n_changes; i++) {
			const struct stage_entry *e = &cur->changes[i];
			if (!usable(e)) {
				continue;
			}
			if (!trusted(trust, d, "stageChanges", e->stage_id, e->at_ms)) {
				current_unknown = current_unknown || same_id(e->stage_id, cur->stage_id);
				continue;
			}
			newest = max_time(newest, e->at_ms);
			if (!prev || e->at_ms > seen) {
				add_entry(d, &cap, e->stage_id, e->at_ms);
			}
			if (same_id(e->stage_id, cur->stage_id)) {
				d->current_entry_ms = max_time(d->current_entry_ms, e->at_ms);
			}
		}
		sort_entries(d);
		if (d->current_entry_ms == OPP_TIME_NONE && !current_unknown) {
			// History that never shows the current stage is inconsistent; the
			// fallback is still the best statement of when it got there.
			d->current_entry_ms = fallback_entry_ms(cur, trust, d);
		}
	} else {
		// No history (older records, or an empty list): the current stage
		// since last_advanced_at is all there is.
		int64_t at = fallback_entry_ms(cur, trust, d);
		d->current_entry_ms = at;
		if (at != OPP_TIME_NONE) {
			newest = max_time(newest, at);
			if (!prev || (at > seen && !same_id(prev->stage_id, cur->stage_id))) {
				add_entry(d, &cap, cur->stage_id, at);
			}
		}
	}
	d->new_seen_until_ms = newest;
}

void diff_compute(const struct opportunity_state *prev, const struct opportunity *cur,
	const struct diff_trust *trust, struct diff *out)
{
	diff_finish(out);
	out->is_new = prev == NULL;
	out->new_posting_id = xstrdup(cur->posting_id);
	out->confidential = cur->confidential;
	if (prev) {
		out->old_posting_id = xstrdup(prev->posting_id);
		out->posting_changed = !same_id(prev->posting_id, cur->posting_id);
		out->archived_now = cur->archived && !prev->archived;
		out->anonymized_now = cur->anonymized && !prev->anonymized;
		out->contact_changed = contact_changes(&prev->contact, cur) != 0;
		out->stage_changed = !same_id(prev->stage_id, cur->stage_id);
	} else {
		out->archived_now = cur->archived;
		out->anonymized_now = cur->anonymized;
	}
	if (trusted(trust, out, "updatedAt", NULL, cur->updated_at)) {
		out->updated_at = cur->updated_at;
	}
	compute_entries(prev, cur, trust, out);
}

void diff_next_state(const struct opportunity *cur, const struct diff *d,
	struct opportunity_state *out)
{
	memset(out, 0, sizeof(*out));
	out->id = xstrdup(cur->id);
	out->posting_id = xstrdup(cur->posting_id);
	out->stage_id = xstrdup(cur->stage_id);
	out->seen_until_ms = d->new_seen_until_ms;
	out->archived = cur->archived;
	out->confidential = cur->confidential;
	out->anonymized = cur->anonymized;
	contact_of(cur, &out->contact);
	out->updated_at = d->updated_at;
}

void diff_state_at(const struct opportunity *cur, int64_t at_ms, const struct diff_trust *trust,
	bool elsewhere, struct opportunity_state *out)
{
	memset(out, 0, sizeof(*out));
	out->id = xstrdup(cur->id);
	int64_t applied = cur->applied_at != OPP_TIME_NONE ? cur->applied_at : cur->created_at;
	if (!elsewhere && applied != OPP_TIME_NONE && applied <= at_ms) {
		out->posting_id = xstrdup(cur->posting_id);
	}
	out->seen_until_ms = OPP_TIME_NONE;
	const char *stage = NULL;
	int64_t stage_at = OPP_TIME_NONE;
	if (has_usable_changes(cur)) {
		for (size_t i = 0; i < cur->n_changes; i++) {
			const struct stage_entry *e = &cur->changes[i];
			if (!usable(e) || e->at_ms > at_ms) {
				continue;
			}
			// Lever's order breaks ties, as sort_entries keeps it.
			if (e->at_ms >= stage_at) {
				stage = e->stage_id;
				stage_at = e->at_ms;
			}
			bool believed = !trust ||
					(e->at_ms >= trust->not_before_ms && e->at_ms <= trust->not_after_ms);
			if (believed) {
				out->seen_until_ms = max_time(out->seen_until_ms, e->at_ms);
			}
		}
	} else {
		int64_t at = cur->last_advanced_at != OPP_TIME_NONE ? cur->last_advanced_at
								    : cur->created_at;
		bool believed = !trust || (at >= trust->not_before_ms && at <= trust->not_after_ms);
		if (at != OPP_TIME_NONE && at <= at_ms) {
			stage = cur->stage_id;
			out->seen_until_ms = believed ? at : OPP_TIME_NONE;
		}
	}
	out->stage_id = xstrdup(stage);
	out->archived = cur->archived;
	out->confidential = cur->confidential;
	out->anonymized = cur->anonymized;
	contact_of(cur, &out->contact);
	out->updated_at = OPP_TIME_NONE;
}
