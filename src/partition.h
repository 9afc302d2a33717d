#ifndef REFTY_LEVER_PARTITION_H
#define REFTY_LEVER_PARTITION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lever.h"

/* Lists opportunities in parallel creation-time windows, so that a long
 * listing runs at Lever's rate limit rather than at one page per round trip.
 * Workers share the Lever client (and so its rate limiter). A window whose
 * first page is full is split while there are fewer windows waiting than
 * workers, so the work spreads out however the data is distributed; the
 * records of that first page are not delivered again by its parts. */

struct partition_interval {
	int64_t start; /* createdAt, ms, inclusive */
	int64_t end;
};

struct partition_options {
	struct lever_client *lever;
	/** Filters applied to every window (created_at_* are set per window). */
	const struct lever_opportunity_query *base;
	int64_t start, end; /* the whole range, inclusive */
	int workers;        /* parallel listings */
	int page_size;      /* 0: 100, as the Lever client pages */
	/** Windows already listed by an earlier, interrupted run: skipped. */
	const struct partition_interval *done;
	size_t n_done;
	/** Called for every opportunity, from any worker thread; false aborts. */
	bool (*cb)(void *ud, const struct opportunity *o);
	/**
	 * Called (from a worker thread) when a window has been listed completely, after
	 * every record of it went through cb; false aborts.
	 */
	bool (*window_done)(void *ud, const struct partition_interval *w);
	void *ud;
	/** Optional: counts every window known so far (listed, listing or waiting), for progress. */
	_Atomic uint64_t *windows_known;
};

struct partition_stats {
	uint64_t windows;  /* windows listed, split ones included */
	uint64_t splits;
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
 * Splits w around the creation times [pmin, pmax] seen on its first page:
 * the part before, the seen span, and the part after, the outer parts halved
 * when wide enough. Writes at most 5 intervals to out; returns how many.
 * Exposed for tests.
 */
size_t partition_split(const struct partition_interval *w, int64_t pmin, int64_t pmax,
	struct partition_interval out[5]);

#endif
