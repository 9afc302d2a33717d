#define LOG_MODULE "status"
#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

static bool count_quarantine(void *ud, const struct action *a)
{
	struct status_quarantine *q = ud;
	if (q->n < (int64_t)STATUS_QUARANTINE_NAMED) {
		q->ids[q->n] = log_sanitize(a->opportunity_id);
	}
	q->n++;
	return true;
}

static void quarantine_finish(struct status_quarantine *q)
{
	for (size_t i = 0; i < STATUS_QUARANTINE_NAMED; i++) {
		free(q->ids[i]);
	}
}

static bool first_id(void *ud, const struct action *a)
{
	*(int64_t *)ud = a->id;
	return false;
}

static bool keep_failed(void *ud, const struct action *a)
{
	struct status_report *r = ud;
	if (a->kind == ACTION_UNREADABLE) {
		return true; // quarantine, reported on its own
	}
	action_copy(&r->failed[r->n_failed++], a);
	return r->n_failed < STATUS_FAILED_NAMED;
}

struct runs {
	struct status_report *r;
	size_t max;
};

static bool keep_run(void *ud, const struct run_record *run)
{
	struct runs *k = ud;
	if (k->r->n_runs < k->max) {
		run_record_copy(&k->r->runs[k->r->n_runs++], run);
	}
	return true;
}

/* The journal's side: counts, quarantine and the oldest pending action. */
static bool read_actions(struct snapshot *snap, struct status_report *r)
{
	if (!snapshot_actions_of_kind(snap, ACTION_UNREADABLE, ACTION_FAILED, count_quarantine,
		    &r->unreadable) ||
		!snapshot_actions_of_kind(snap, ACTION_UNTRUSTED, ACTION_SKIPPED, count_quarantine,
			&r->untrusted) ||
		!snapshot_action_counts(snap, r->counts)) {
		return false;
	}
	int64_t oldest_id = 0;
	if (!snapshot_actions_in_state(snap, ACTION_PENDING, first_id, &oldest_id)) {
		return false;
	}
	int found = oldest_id > 0 ? snapshot_action_get(snap, oldest_id, &r->oldest) : 0;
	if (found < 0) {
		return false;
	}
	r->have_oldest = found == 1;
	if (!snapshot_actions_in_state(snap, ACTION_FAILED, keep_failed, r)) {
		return false;
	}
	// Quarantine is not Refty work: it is reported on its own, not as failed or skipped actions.
	r->counts[ACTION_FAILED] -= r->unreadable.n;
	r->counts[ACTION_SKIPPED] -= r->untrusted.n;
	return true;
}

bool status_read(struct snapshot *snap, const char *state_path, size_t n_runs,
	struct status_report *out)
{
	memset(out, 0, sizeof(*out));
	// A read-only open creates nothing, so the path still shows what was there.
	out->presence = snapshot_presence(state_path);
	out->cursor_ms = snapshot_cursor(snap);
	out->seeded_at = out->cursor_ms < 0 ? -1 : snapshot_seeded_at(snap);
	out->size = out->seeded_at < 0 ? -1 : snapshot_opp_count(snap);
	int have_last = out->size < 0 ? -1 : snapshot_last_healthy(snap, "sync", &out->last);
	out->have_last = have_last == 1;
	if (have_last < 0 || !read_actions(snap, out)) {
		status_report_finish(out);
		return false;
	}
	struct runs k = {out, n_runs < STATUS_RUNS_MAX ? n_runs : STATUS_RUNS_MAX};
	out->runs_failed = !snapshot_runs_recent(snap, (int)k.max, keep_run, &k);
	out->now = timeutil_now_ms();
	return true;
}

void status_report_finish(struct status_report *r)
{
	quarantine_finish(&r->unreadable);
	quarantine_finish(&r->untrusted);
	run_record_finish(&r->last);
	if (r->have_oldest) {
		action_finish(&r->oldest);
	}
	for (size_t i = 0; i < r->n_failed; i++) {
		action_finish(&r->failed[i]);
	}
	for (size_t i = 0; i < r->n_runs; i++) {
		run_record_finish(&r->runs[i]);
	}
	memset(r, 0, sizeof(*r));
}

bool status_stale(const struct status_report *r, int64_t max_age_ms)
{
	return max_age_ms > 0 && (!r->have_last || r->now - r->last.started_at > max_age_ms);
}

char *status_format_age(int64_t ms, char *buf, size_t size)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;
	if (s < 60) {
		snprintf(buf, size, "%" PRId64 " s", s);
	} else if (s < 3600) {
		snprintf(buf, size, "%" PRId64 " min", s / 60);
	} else if (s < 86400) {
		snprintf(buf, size, "%" PRId64 " h", s / 3600);
	} else {
		snprintf(buf, size, "%" PRId64 " d", s / 86400);
	}
	return buf;
}
