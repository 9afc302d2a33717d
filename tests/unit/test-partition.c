/* The pure parts of partitioned listing: the windows left to list after a
 * resumed backfill's checkpoints, and how a window is split. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "partition.h"
#include "tap.h"

static void test_gaps(void)
{
	struct partition_interval *g = NULL;
	size_t n = partition_gaps(0, 100, NULL, 0, &g);
	ok(n == 1 && g[0].start == 0 && g[0].end == 100, "nothing done: the whole range");
	free(g);

	// Unsorted, overlapping checkpoints, one reaching past the end.
	struct partition_interval done[] = {{50, 59}, {10, 19}, {15, 29}, {90, 200}};
	n = partition_gaps(0, 100, done, 4, &g);
	is_int(n, 3, "three gaps remain");
	if (n == 3) {
		ok(g[0].start == 0 && g[0].end == 9, "before the first checkpoint");
		ok(g[1].start == 30 && g[1].end == 49, "between checkpoints, overlaps merged");
		ok(g[2].start == 60 && g[2].end == 89, "up to the last checkpoint");
	}
	free(g);

	struct partition_interval all[] = {{0, 100}};
	n = partition_gaps(0, 100, all, 1, &g);
	is_int(n, 0, "everything done: nothing left");
	free(g);
}

static bool covers(const struct partition_interval *w, const struct partition_interval *out,
	size_t n)
{
	if (n == 0 || out[0].start != w->start || out[n - 1].end != w->end) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (out[i].start > out[i].end || (i > 0 && out[i].start != out[i - 1].end + 1)) {
			return false;
		}
	}
	return true;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_split(void)
{
	struct partition_interval w = {0, 1000000};
	struct partition_interval out[16];
	size_t n = partition_split(&w, NULL, 0, 4, out);
	ok(n == 2 && covers(&w, out, n), "no sample: even parts that cover the window");

	// A page that looks ordered says nothing about the rest of the window:
	// the parts still cover all of it, before and after what was seen.
	int64_t newest[100];
	for (int i = 0; i < 100; i++) {
		newest[i] = 999900 - i;
	}
	n = partition_split(&w, newest, 100, 8, out);
	ok(n >= 4 && n <= 8 && covers(&w, out, n), "a descending page: parts cover the window");
	bool early = false;
	for (size_t i = 0; i < n; i++) {
		early = early || (out[i].end < 600000);
	}
	ok(early, "the part before what was seen is split too");

	n = partition_split(&w, newest, 100, 1, out);
	ok(n == 1 && out[0].start == 0 && out[0].end == 1000000, "want 1: not split");

	struct partition_interval one = {5, 5};
	n = partition_split(&one, NULL, 0, 16, out);
	ok(n == 1 && covers(&one, out, n), "a one-millisecond window cannot be split");

	bool all_cover = true, all_within = true;
	for (int round = 0; round < 2000; round++) {
		int64_t a = (int64_t)(next_random() % 2000000000000ULL);
		int64_t b = a + (int64_t)(next_random() % 100000000ULL);
		struct partition_interval x = {a, b};
		size_t want = 1 + next_random() % 20;
		size_t k = next_random() % 120;
		int64_t sample[120];
		for (size_t i = 0; i < k; i++) {
			// Inside the window, at its edges, and outside it.
			sample[i] = a - 10 + (int64_t)(next_random() % (uint64_t)(b - a + 21));
		}
		n = partition_split(&x, sample, k, want, out);
		all_cover = all_cover && covers(&x, out, n);
		all_within = all_within && n >= 1 && n <= (want < 2 ? 1 : want > 16 ? 16 : want);
	}
	ok(all_cover, "random windows and samples: the parts always cover the window exactly");
	ok(all_within, "random windows and samples: never more parts than asked for");
}

#define DAY INT64_C(86400000)

static void test_plan(void)
{
	// A seeding from the beginning of time to now: windows of doubling age.
	int64_t now = INT64_C(1796000000000);
	struct partition_interval all = {0, now};
	struct partition_interval out[PARTITION_PLAN_MAX];
	size_t n = partition_plan(&all, now, out);
	ok(n == PARTITION_PLAN_MAX && covers(&all, out, n), "from 0: twelve windows covering it");
	ok(out[n - 1].start == now - DAY + 1 && out[n - 2].start == now - 2 * DAY + 1,
		"the newest window is the last day, the one before it the day before");
	ok(out[0].end == now - 1024 * DAY, "the oldest holds everything before 1,024 days");

	// A backfill resumed after checkpoints plans each gap alone: bounds inside it only.
	struct partition_interval gap = {now - 10 * DAY, now - 3 * DAY};
	n = partition_plan(&gap, now, out);
	ok(n == 3 && covers(&gap, out, n) && out[0].end == now - 8 * DAY &&
			out[1].end == now - 4 * DAY,
		"a gap of a week, three days back: split at eight and four days");

	struct partition_interval young = {now - DAY / 2, now};
	n = partition_plan(&young, now, out);
	ok(n == 1 && covers(&young, out, n), "younger than a day: one window");

	bool all_cover = true;
	for (int round = 0; round < 2000; round++) {
		int64_t a = (int64_t)(next_random() % 2000000000000ULL);
		int64_t b = a + (int64_t)(next_random() % 100000000000ULL);
		int64_t end = b + (int64_t)(next_random() % 100000000000ULL);
		struct partition_interval x = {a, b};
		n = partition_plan(&x, end, out);
		all_cover = all_cover && n >= 1 && n <= PARTITION_PLAN_MAX && covers(&x, out, n);
	}
	ok(all_cover, "random ranges and ends: the plan always covers the range exactly");
}

static void test_estimate(void)
{
	struct partition_interval w = {0, 999999};
	int64_t top[100], spread[100];
	for (int i = 0; i < 100; i++) {
		top[i] = 999999 - i * 1000; // the newest tenth of the window
		spread[i] = i * 10000;
	}
	double est = partition_estimate(&w, top, 100, 100);
	ok(est > 900 && est < 1100, "a page spanning a tenth of the window: about ten pages");
	est = partition_estimate(&w, spread, 100, 100);
	ok(est > 99 && est < 102, "a page spanning all of it: one page, nothing more known");
	ok(partition_estimate(&w, NULL, 0, 100) == 100, "no times: one page");

	struct partition_interval out[16];
	size_t n = partition_split_even(&w, 4, out);
	ok(n == 4 && covers(&w, out, n) && out[1].start == 250000, "four even parts");
	n = partition_split_even(&w, 40, out);
	ok(n == 16 && covers(&w, out, n), "at most sixteen parts");
	struct partition_interval tiny = {7, 9};
	n = partition_split_even(&tiny, 8, out);
	ok(n >= 1 && n <= 3 && covers(&tiny, out, n), "a window narrower than its parts: what fits");
}

int main(void)
{
	test_gaps();
	test_split();
	test_plan();
	test_estimate();
	return tap_done();
}
