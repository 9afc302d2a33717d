#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "ratelimit.h"
#include "tap.h"

/* A clock that only moves when told to, or when the bucket sleeps on it. */
struct fake_clock {
	uint64_t now;
	uint64_t slept;
	int sleeps;
};

static uint64_t fake_now(void *ud)
{
	return ((struct fake_clock *)ud)->now;
}

static void fake_sleep(void *ud, uint64_t ns)
{
	struct fake_clock *fc = ud;
	fc->now += ns;
	fc->slept += ns;
	fc->sleeps++;
}

static struct ratelimit *fake_bucket(struct fake_clock *fc, double rate, int burst)
{
	struct ratelimit_clock clock = {.now_ns = fake_now, .sleep_ns = fake_sleep, .ud = fc};
	fc->now = 1000000000000u; // far from zero, like a real monotonic clock
	fc->slept = 0;
	fc->sleeps = 0;
	return ratelimit_create_with_clock(rate, burst, &clock);
}

#define MS 1000000u

static void test_burst_then_rate(void)
{
	struct fake_clock fc;
	struct ratelimit *rl = fake_bucket(&fc, 10, 3);
	is_int(ratelimit_reserve(rl), 0, "1st token of the burst");
	is_int(ratelimit_reserve(rl), 0, "2nd token of the burst");
	is_int(ratelimit_reserve(rl), 0, "3rd token of the burst");
	is_int(ratelimit_reserve(rl), 100 * MS, "4th waits one interval");
	is_int(ratelimit_reserve(rl), 200 * MS, "5th queues behind the 4th");
	fc.now += 200 * MS;
	is_int(ratelimit_reserve(rl), 100 * MS, "debt paid off as time passes");
	fc.now += 10000 * MS;
	for (int i = 0; i < 3; i++) {
		is_int(ratelimit_reserve(rl), 0, "refilled burst after a long pause");
	}
	ok(ratelimit_reserve(rl) > 0, "refill is capped at the burst");
	ratelimit_destroy(rl);
}

static void test_acquire_sleeps(void)
{
	struct fake_clock fc;
	struct ratelimit *rl = fake_bucket(&fc, 10, 10);
	uint64_t start = fc.now;
	for (int i = 0; i < 30; i++) {
		ratelimit_acquire(rl);
	}
	is_int(fc.sleeps, 20, "sleeps only once the burst is spent");
	is_int(fc.now - start, 2000 * MS, "30 tokens at 10/s with burst 10 take 2 s");
	ratelimit_destroy(rl);
}

/* Requests in any one-second window never exceed burst + rate: what a server-side bucket of
 * that size and rate would accept without a 429. */
static void test_window_bound(void)
{
	struct fake_clock fc;
	struct ratelimit *rl = fake_bucket(&fc, 10, 10);
	uint64_t times[200];
	for (int i = 0; i < 200; i++) {
		ratelimit_acquire(rl);
		times[i] = fc.now;
		fc.now += (uint64_t)(i % 7) * 13 * MS; // irregular work between requests
	}
	int worst = 0;
	for (int i = 0; i < 200; i++) {
		int n = 0;
		for (int j = i; j < 200 && times[j] < times[i] + 1000 * MS; j++) {
			n++;
		}
		if (n > worst) {
			worst = n;
		}
	}
	ok(worst <= 20, "at most burst + rate requests in any second");
	printf("# busiest second: %d requests\n", worst);
	ratelimit_destroy(rl);
}

static void test_unlimited(void)
{
	struct fake_clock fc;
	struct ratelimit *rl = fake_bucket(&fc, 0, 1);
	for (int i = 0; i < 1000; i++) {
		ratelimit_acquire(rl);
	}
	is_int(fc.sleeps, 0, "rate 0 never waits");
	ratelimit_destroy(rl);
	rl = fake_bucket(&fc, -1, 0);
	is_int(ratelimit_reserve(rl), 0, "negative rate never waits");
	ratelimit_destroy(rl);
	ratelimit_acquire(NULL);
	is_int(ratelimit_reserve(NULL), 0, "NULL bucket never waits");
	ratelimit_destroy(NULL);
}

static void test_burst_floor(void)
{
	struct fake_clock fc;
	struct ratelimit *rl = fake_bucket(&fc, 5, 0);
	is_int(ratelimit_reserve(rl), 0, "burst 0 still lets one through");
	is_int(ratelimit_reserve(rl), 200 * MS, "then paces at the rate");
	ratelimit_destroy(rl);
}

static void *hammer(void *arg)
{
	struct ratelimit *rl = arg;
	for (int i = 0; i < 100; i++) {
		ratelimit_acquire(rl);
	}
	return NULL;
}

/* Real clock, a rate high enough to finish at once: this is about the mutex, not timing. */
static void test_threads(void)
{
	struct ratelimit *rl = ratelimit_create(1e7, 5);
	pthread_t threads[4];
	for (int i = 0; i < 4; i++) {
		pthread_create(&threads[i], NULL, hammer, rl);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
	}
	ok(true, "four threads shared one bucket");
	ratelimit_destroy(rl);
}

int main(void)
{
	test_burst_then_rate();
	test_acquire_sleeps();
	test_window_bound();
	test_unlimited();
	test_burst_floor();
	test_threads();
	return tap_done();
}
