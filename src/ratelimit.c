#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "signals.h"
#include "timeutil.h"
#include "xalloc.h"

struct ratelimit {
	pthread_mutex_t lock;
	double rate;     /* tokens added per second; 0: unlimited */
	double capacity; /* burst */
	/* May go negative: each waiter reserves its token up front and sleeps off the debt, which
	 * serves waiters in arrival order without a condition variable. */
	double tokens;
	uint64_t last_ns;
	struct ratelimit_clock clock;
};

static uint64_t monotonic_now_ns(void *ud)
{
	return timeutil_monotonic_ns();
}

/* Ends early on a stop request (signals.h): the waiter then sends nothing, so the token it
 * reserved is not owed to the server. */
static void monotonic_sleep_ns(void *ud, uint64_t ns)
{
	signals_sleep((double)ns / 1e9, SIGNALS_STOP);
}

struct ratelimit *ratelimit_create_with_clock(double per_second, int burst,
	const struct ratelimit_clock *clock)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->clock = *clock;
	rl->rate = per_second > 0 && isfinite(per_second) ? per_second : 0;
	rl->capacity = burst < 1 ? 1 : burst;
	rl->tokens = rl->capacity;
	rl->last_ns = rl->clock.now_ns(rl->clock.ud);
	return rl;
}

struct ratelimit *ratelimit_create(double per_second, int burst)
{
	struct ratelimit_clock clock = {
		.now_ns = monotonic_now_ns,
		.sleep_ns = monotonic_sleep_ns,
	};
	return ratelimit_create_with_clock(per_second, burst, &clock);
}

void ratelimit_destroy(struct ratelimit *rl)
{
	if (!rl) {
		return;
	}
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

uint64_t ratelimit_reserve(struct ratelimit *rl)
{
	if (!rl || rl->rate == 0) {
		return 0;
	}
	pthread_mutex_lock(&rl->lock);
	uint64_t now = rl->clock.now_ns(rl->clock.ud);
	if (now > rl->last_ns) {
		rl->tokens += (double)(now - rl->last_ns) * rl->rate / 1e9;
		if (rl->tokens > rl->capacity) {
			rl->tokens = rl->capacity;
		}
		rl->last_ns = now;
	}
	rl->tokens -= 1;
	uint64_t wait = 0;
	if (rl->tokens < 0) {
		wait = (uint64_t)ceil(-rl->tokens * 1e9 / rl->rate);
	}
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

void ratelimit_acquire(struct ratelimit *rl)
{
	uint64_t wait = ratelimit_reserve(rl);
	if (wait > 0) {
		rl->clock.sleep_ns(rl->clock.ud, wait);
	}
}
