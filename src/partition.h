#ifndef REFTY_LEVER_PARTITION_H
#define REFTY_LEVER_PARTITION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lever.h"

/* Lists opportunities in parallel time windows (of creation or of update time), so that a
 * long listing runs at Lever's rate limit rather than at one page per round trip. Workers
 * share the Lever client (and so its rate limiter). Correctness rests only on what Lever
 * promises: time filters are inclusive ranges, and one chain of pages returns each matching
 * record once. Nothing is inferred from the order of a listing, which Lever does not
 * document. A creation-time listing starts in windows of doubling age; a window that
 * delivered a full page is split into parts that cover all of it, sized from how much of
 * the window that page spanned (partition.c plan_split); the parts skip what it already
 * delivered.
 *
 * A creation time never changes, so creation windows hand each record over once. An update
 * time moves forward when a record changes during the listing: the record may then be
 * handed over twice (from its old window and its new one) or by neither, and the caller's
 * cursor rule must cover that (sync.c sets its cursor to when the poll began, so the next
 * poll lists every record updated since). */

/** The time a listing is partitioned by. */
enum partition_field {
	PARTITION_CREATED, /* createdAt: created_at_start/_end */
	PARTITION_UPDATED, /* updatedAt: updated_at_start/_end */
};

struct partition_interval {
	int64_t start; /* createdAt, ms, inclusive */
	int64_t end;
};

struct partition_options {
	struct lever_client *lever;
	/** Filters applied to every window (created_at_* are set per window). */
	const struct lever_opportunity_query *base;
	enum partition_field field; /* PARTITION_CREATED unless set */
	int64_t start, end; /* the whole range, inclusive; start 0: from the earliest */
	/** The last window also takes every record after end (no upper filter): the range
	 * [start, end] only tells where to split. */
	bool open_end;
	int workers;        /* parallel listings */
	int page_size;      /* 0: LEVER_PAGE_SIZE, as the Lever client pages */
	/** Windows already listed by an earlier, interrupted run: skipped. */
	const struct partition_interval *done;
	size_t n_done;
	/** Called for every opportunity, from any worker thread; false aborts. */
	bool (*cb)(void *ud, const struct opportunity *o);
	/** Optional: records that cannot be read (see lever_opportunity_sink); false aborts. */
	bool (*unreadable)(void *ud, const struct lever_unreadable *u);
	/**
	 * Called (from a worker thread) when a window has been listed completely, after
	 * every record of it went through cb; false aborts.
	 */
	bool (*window_done)(void *ud, const struct partition_interval *w);
	/**
	 * Optional, called from worker threads: whether the consumer of the records has more
	 * work waiting than a faster listing could add to (Refty calls queued): windows are
	 * then paged on rather than split, a split costing a request per part and gaining no time.
	 */
	bool (*behind)(void *ud);
	void *ud;
	/** Optional: counts every window known so far (listed, listing or waiting), for progress. */
	_Atomic uint64_t *windows_known;
};

struct partition_stats {
	uint64_t windows;  /* windows listed, split ones included */
	uint64_t splits;
	uint64_t resplits; /* of them, windows split again while paging (partition.c resplit) */
	uint64_t finished; /* windows listed completely */
	uint64_t queued;   /* windows waiting or being listed now */
};

struct partition;

/** Lists everything; returns LEVER_OK or the first failure (logged). */
enum lever_status partition_list(const struct partition_options *opts,
	struct partition_stats *stats);

/**
 * The parts of [start, end] not covered by done (sorted, merged), as a new
 * array in *out. Exposed for tests.
 */
size_t partition_gaps(int64_t start, int64_t end, const struct partition_interval *done,
	size_t n_done, struct partition_interval **out);

/**
 * Splits w into at most want (2..16) contiguous parts that cover it exactly:
 * half the boundaries even, half at the quantiles of sample (creation times
 * already seen in w, in any order, sorted here in place; may be empty). Writes the parts to out
 * (room for 16); returns how many, 1 when w cannot be split. Exposed for tests.
 */
size_t partition_split(const struct partition_interval *w, int64_t *sample, size_t n_sample,
	size_t want, struct partition_interval *out);

/** Splits w into k (2..16) parts of equal width covering it exactly; returns how many
 * (1 when w cannot be split). Exposed for tests. */
size_t partition_split_even(const struct partition_interval *w, size_t k,
	struct partition_interval *out);

#define PARTITION_PLAN_MAX 12

/**
 * The windows a creation-time listing of range starts with, oldest first: bounded at
 * end less one day, two days, four days and so on (at most PARTITION_PLAN_MAX windows,
 * written to out), covering range exactly. Exposed for tests.
 */
size_t partition_plan(const struct partition_interval *range, int64_t end,
	struct partition_interval *out);

/**
 * How many records a window holds if the density of a full first page's times (sample,
 * those inside w) holds across w: page x width / span. A guess, never relied on for
 * correctness. Exposed for tests.
 */
double partition_estimate(const struct partition_interval *w, const int64_t *sample,
	size_t n_sample, size_t page);

/** The time of o that field partitions by (OPP_TIME_NONE when Lever sent none). */
int64_t partition_time(enum partition_field field, const struct opportunity *o);

#endif
