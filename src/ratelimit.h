#ifndef REFTY_LEVER_RATELIMIT_H
#define REFTY_LEVER_RATELIMIT_H

#include <stdint.h>

/*
 * A client-side token bucket, so that we pace ourselves below the server's limit instead of
 * learning it from 429s. One bucket may be shared by several HTTP clients and threads: it
 * is thread-safe.
 */

struct ratelimit;

/** Where the bucket reads time and how it waits; replaceable so tests need no real clock. */
struct ratelimit_clock {
	/** Monotonic time in nanoseconds. */
	uint64_t (*now_ns)(void *ud);
	/** Blocks for ns nanoseconds. */
	void (*sleep_ns)(void *ud, uint64_t ns);
	void *ud;
};

/**
 * Creates a bucket refilled at per_second tokens per second holding at most burst tokens
 * (at least 1); it starts full. per_second <= 0 means unlimited.
 */
struct ratelimit *ratelimit_create(double per_second, int burst);
/** Same, with the given clock (copied) instead of CLOCK_MONOTONIC and nanosleep. */
struct ratelimit *ratelimit_create_with_clock(double per_second, int burst,
	const struct ratelimit_clock *clock);
void ratelimit_destroy(struct ratelimit *rl);

/**
 * Takes one token, blocking until one is available. Waiters are served in the order they
 * arrive. Accepts NULL (no limit). With the real clock the wait ends early when a stop is
 * requested (signals.h); the caller, who checks for that anyway, then sends nothing.
 */
void ratelimit_acquire(struct ratelimit *rl);

/**
 * Takes one token without blocking and returns how long the caller must wait before using
 * it, in nanoseconds (0 when it may go at once). For callers that wait in their own event
 * loop. Accepts NULL.
 */
uint64_t ratelimit_reserve(struct ratelimit *rl);

#endif
