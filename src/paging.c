#define LOG_MODULE "sync"
#include "engine.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "xalloc.h"

/*
 * A sync's listing of opportunities, in parallel windows where it is long (partition.c), over
 * the one rate limiter of the Lever client.
 *
 * Seeding lists every opportunity: creation-time windows over all of time, the last one open
 * above (a record created after the poll began, or with a creation time not believed, is
 * still listed, as the one chain of a serial seeding lists it). A creation time never
 * changes, so each record lies in exactly one window, whatever happens to it meanwhile.
 *
 * An incremental poll lists [cursor - overlap, ...) by update time. Most polls find one page
 * or none: they stay one request, because a window is split only once a full page of it has
 * been delivered (more may follow), and only then into parts that the planned windows keep
 * the workers busy with. Update-time windows are not fixed as creation-time ones are: a
 * record updated while the poll runs moves to a later update time, so it may be listed from
 * its old window and again from its new one, or by neither (its old window listed after it
 * moved, its new one before). Neither loses anything:
 *   - a record not updated during the poll keeps one update time, inside the range or not
 *     changed since the last poll; it is in one window, whose chain lists it once;
 *   - a record updated during the poll has an update time after the poll began (Lever's
 *     clock and ours differ by less than the overlap), and the cursor is set to when the poll
 *     began, only once every window was listed whole (sync.c finish_poll): the next poll
 *     starts overlap seconds before that and lists it in its state then;
 *   - listed twice, the older state must not come last: two windows' pages are handed over in
 *     whichever order their threads get them, so a record's state older than one already
 *     handed over in this poll (its update time says) is dropped here.
 */

/* The newest update time handed over per opportunity in this poll. */
struct handed {
	char *id;
	int64_t updated_at;
};

struct updates {
	struct engine *e;
	pthread_mutex_t lock; /* taken before db */
	struct handed *slots; /* open addressing; id NULL: free */
	size_t n, cap;
};

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ULL; // FNV-1a
	for (; *s; s++) {
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	}
	return h;
}

static struct handed *slot_for(struct handed *slots, size_t cap, const char *id)
{
	size_t i = (size_t)hash_id(id) & (cap - 1);
	while (slots[i].id && strcmp(slots[i].id, id) != 0) {
		i = (i + 1) & (cap - 1);
	}
	return &slots[i];
}

static void updates_grow(struct updates *u)
{
	size_t cap = u->cap ? u->cap * 2 : 1024;
	struct handed *slots = xcalloc(cap, sizeof(*slots));
	for (size_t i = 0; i < u->cap; i++) {
		if (u->slots[i].id) {
			*slot_for(slots, cap, u->slots[i].id) = u->slots[i];
		}
	}
	free(u->slots);
	u->slots = slots;
	u->cap = cap;
}

static void updates_finish(struct updates *u)
{
	for (size_t i = 0; i < u->cap; i++) {
		free(u->slots[i].id);
	}
	free(u->slots);
	pthread_mutex_destroy(&u->lock);
}

/* A record from an update-time window: handed to intake unless a newer state of it was. */
static bool on_updated(void *ud, const struct opportunity *o)
{
	struct updates *u = ud;
	pthread_mutex_lock(&u->lock);
	if (2 * (u->n + 1) > u->cap) {
		updates_grow(u);
	}
	struct handed *h = slot_for(u->slots, u->cap, o->id);
	bool ok = true;
	if (!h->id) {
		*h = (struct handed){xstrdup(o->id), o->updated_at};
		u->n++;
		ok = intake_on_opportunity(u->e, o);
	} else if (o->updated_at == OPP_TIME_NONE || h->updated_at == OPP_TIME_NONE ||
		   o->updated_at >= h->updated_at) {
		h->updated_at = o->updated_at;
		ok = intake_on_opportunity(u->e, o);
	}
	pthread_mutex_unlock(&u->lock);
	return ok;
}

static bool on_unreadable(void *ud, const struct lever_unreadable *un)
{
	struct updates *u = ud;
	return intake_on_unreadable(u->e, un);
}

/* Later times are the next poll's: its window starts at this one's start, less the overlap. */
#define HORIZON_MS (60 * 1000)

static enum lever_status list_partitioned(struct engine *e, struct partition_options *po)
{
	po->lever = e->app->lever;
	po->workers = e->app->cfg->lever.max_in_flight;
	struct partition_stats ps;
	enum lever_status ls = partition_list(po, &ps);
	log_debug("listed %" PRIu64 " %s-time windows (%" PRIu64 " splits, %" PRIu64
		  " while paging)",
		ps.windows, po->field == PARTITION_UPDATED ? "update" : "creation", ps.splits,
		ps.resplits);
	return ls;
}

/* Seeding: every opportunity q selects, in creation-time windows. */
static enum lever_status list_seeding(struct engine *e, const struct lever_opportunity_query *q)
{
	struct partition_options po = {
		.base = q,
		.field = PARTITION_CREATED,
		.start = q->created_at_start,
		.end = q->created_at_end ? q->created_at_end : e->poll_start + HORIZON_MS,
		.open_end = q->created_at_end == 0,
		.cb = intake_on_opportunity,
		.unreadable = intake_on_unreadable,
		.ud = e,
	};
	return list_partitioned(e, &po);
}

/* An incremental poll: what q selects from its updated_at_start on, in update-time windows. */
static enum lever_status list_updates(struct engine *e, const struct lever_opportunity_query *q)
{
	struct updates u = {.e = e};
	pthread_mutex_init(&u.lock, NULL);
	int64_t horizon = e->poll_start + HORIZON_MS;
	struct partition_options po = {
		.base = q,
		.field = PARTITION_UPDATED,
		.start = q->updated_at_start,
		.end = q->updated_at_end ? q->updated_at_end
					 : (horizon > q->updated_at_start ? horizon : q->updated_at_start),
		.open_end = q->updated_at_end == 0,
		.cb = on_updated,
		.unreadable = on_unreadable,
		.ud = &u,
	};
	enum lever_status ls = list_partitioned(e, &po);
	updates_finish(&u);
	return ls;
}

enum lever_status listing_opportunities(struct engine *e, const struct lever_opportunity_query *q)
{
	if (e->ctx.seeding) {
		return list_seeding(e, q);
	}
	if (q->updated_at_start > 0) {
		return list_updates(e, q);
	}
	// A state with a cursor of 0 lists everything as one chain, as it always has.
	struct lever_opportunity_sink sink = {intake_on_opportunity, intake_on_unreadable, e};
	return lever_list_opportunities(e->app->lever, q, &sink);
}
