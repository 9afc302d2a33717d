/* The pure parts of partitioned listing: the windows left to list after a
 * resumed backfill's checkpoints, and how a window is split. */
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

static void test_split(void)
{
	struct partition_interval w = {0, 1000000};
	struct partition_interval out[5];
	size_t n = partition_split(&w, 400000, 500000, out);
	is_int(n, 5, "before and after halved, the seen span kept whole");
	ok(out[0].start == 0 && out[n - 1].end == 1000000, "the parts cover the window");
	bool contiguous = true;
	for (size_t i = 1; i < n; i++) {
		contiguous = contiguous && out[i].start == out[i - 1].end + 1;
	}
	ok(contiguous, "the parts neither overlap nor leave holes");

	n = partition_split(&w, 0, 1000000, out);
	is_int(n, 1, "a page spanning the whole window leaves nothing to split");

	struct partition_interval narrow = {0, 10};
	n = partition_split(&narrow, 4, 5, out);
	ok(n == 3 && out[0].end == 3 && out[2].start == 6, "narrow outer parts are not halved");
}

int main(void)
{
	test_gaps();
	test_split();
	return tap_done();
}
