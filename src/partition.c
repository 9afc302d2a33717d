#define LOG_MODULE "partition"
#include "partition.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

/* A record already delivered by an ancestor window's first page. */
struct seen {
	char *id;
	int64_t at; /* the time partitioned by */
};

struct window {
	struct partition_interval range;
	bool open; /* also every record after range.end: the last window of an open range */
	struct seen *skip; /* delivered already: not again */
	size_t n_skip;
	double est; /* records it is thought to hold; < 0: nothing known yet */
};

struct partition {
	const struct partition_options *opts;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct window *queue;
	size_t n_queue, cap_queue;
	int busy;   /* workers listing a window now */
	int promised; /* parts of splits decided but not queued yet */
	size_t page; /* records per full page */
	atomic_bool abort; /* read by listing threads without the lock */
	/* What every window not split is thought to hold, the listed ones exactly: sizes the parts. */
	double est_sum;
	enum lever_status status;
	struct partition_stats stats;
};

static void window_finish(struct window *w)
{
	for (size_t i = 0; i < w->n_skip; i++) {
		free(w->skip[i].id);
	}
	free(w->skip);
	memset(w, 0, sizeof(*w));
}

/* Called with p->lock held; takes ownership of w. */
static void push(struct partition *p, struct window *w)
{
	if (p->n_queue == p->cap_queue) {
		p->cap_queue = p->cap_queue ? p->cap_queue * 2 : 32;
		p->queue = xrealloc(p->queue, p->cap_queue * sizeof(*p->queue));
	}
	// Taken oldest first (worker_main).
	p->queue[p->n_queue++] = *w;
	memset(w, 0, sizeof(*w));
	p->stats.queued++;
	if (p->opts->windows_known) {
		atomic_fetch_add(p->opts->windows_known, 1);
	}
	pthread_cond_signal(&p->cond);
}

size_t partition_gaps(int64_t start, int64_t end, const struct partition_interval *done,
	size_t n_done, struct partition_interval **out)
{
	struct partition_interval *d = xcalloc(n_done, sizeof(*d));
	if (n_done) {
		memcpy(d, done, n_done * sizeof(*d));
	}
	// Insertion sort: checkpoints are few.
	for (size_t i = 1; i < n_done; i++) {
		struct partition_interval x = d[i];
		size_t j = i;
		while (j > 0 && d[j - 1].start > x.start) {
			d[j] = d[j - 1];
			j--;
		}
		d[j] = x;
	}
	struct partition_interval *gaps = xcalloc(n_done + 1, sizeof(*gaps));
	size_t n = 0;
	int64_t cur = start;
	for (size_t i = 0; i < n_done && cur <= end; i++) {
		if (d[i].end < cur) {
			continue;
		}
		if (d[i].start > cur) {
			gaps[n++] = (struct partition_interval){cur, d[i].start - 1 < end ? d[i].start - 1 : end};
		}
		cur = d[i].end + 1;
	}
	if (cur <= end) {
		gaps[n++] = (struct partition_interval){cur, end};
	}
	free(d);
	*out = gaps;
	return n;
}

/* Windows narrower than this are listed whole: splitting them gains nothing. */
#define MIN_SPLIT_MS 2000
#define MAX_PARTS 16

int64_t partition_time(enum partition_field field, const struct opportunity *o)
{
	return field == PARTITION_UPDATED ? o->updated_at : o->created_at;
}

/* Whether a window's listing may return a record with time t: a time not sent may be any,
 * and a start of 0 is no lower filter at all. */
static bool window_holds(const struct partition_interval *range, bool open, int64_t t)
{
	if (t == OPP_TIME_NONE) {
		return true;
	}
	return (range->start == 0 || t >= range->start) && (open || t <= range->end);
}

static int compare_times(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return (a > b) - (a < b);
}

/* The parts of w that end at each of bounds (ascending; those outside w are ignored), the
 * next starting just after; the last ends at w's end. Returns how many, into out. */
static size_t parts_at(const struct partition_interval *w, const int64_t *bounds, size_t nb,
	struct partition_interval *out)
{
	size_t n = 0;
	int64_t cur = w->start;
	for (size_t i = 0; i < nb; i++) {
		if (bounds[i] < cur || bounds[i] >= w->end) {
			continue;
		}
		out[n++] = (struct partition_interval){cur, bounds[i]};
		cur = bounds[i] + 1;
	}
	out[n++] = (struct partition_interval){cur, w->end};
	return n;
}

size_t partition_split(const struct partition_interval *w, int64_t *sample, size_t n_sample,
	size_t want, struct partition_interval *out)
{
	if (want > MAX_PARTS) {
		want = MAX_PARTS;
	}
	if (want < 2 || w->end <= w->start) {
		out[0] = *w;
		return 1;
	}
	// A part ends at each boundary and the next starts just after it. Half
	// the boundaries divide the window evenly; the other half sit at the
	// quantiles of the creation times seen so far. Neither says where the
	// window's records are (nothing in Lever's listing order does), but
	// together they balance the parts when the sample is representative and
	// still shrink the window geometrically when it is not.
	int64_t bounds[MAX_PARTS];
	size_t nb = 0;
	size_t even = (want + 1) / 2;
	size_t quant = want + 1 - even;
	int64_t width = w->end - w->start;
	for (size_t i = 1; i < even; i++) {
		bounds[nb++] = w->start + (int64_t)((double)width * (double)i / (double)even);
	}
	if (n_sample > 0 && quant > 1) {
		qsort(sample, n_sample, sizeof(*sample), compare_times);
		for (size_t j = 1; j < quant; j++) {
			int64_t t = sample[j * n_sample / quant];
			bounds[nb++] = t > INT64_MIN ? t - 1 : t;
		}
	}
	qsort(bounds, nb, sizeof(*bounds), compare_times);
	return parts_at(w, bounds, nb, out);
}

size_t partition_split_even(const struct partition_interval *w, size_t k,
	struct partition_interval *out)
{
	if (k > MAX_PARTS) {
		k = MAX_PARTS;
	}
	if (k < 2 || w->end <= w->start) {
		out[0] = *w;
		return 1;
	}
	int64_t bounds[MAX_PARTS];
	double width = (double)w->end - (double)w->start;
	for (size_t i = 1; i < k; i++) {
		bounds[i - 1] = w->start + (int64_t)(width * (double)i / (double)k);
	}
	return parts_at(w, bounds, k - 1, out);
}

/* The first planned window reaches this far back from the end; each older one twice as far. */
#define PLAN_FIRST_AGE_MS INT64_C(86400000)

size_t partition_plan(const struct partition_interval *range, int64_t end,
	struct partition_interval *out)
{
	int64_t bounds[PARTITION_PLAN_MAX];
	size_t nb = PARTITION_PLAN_MAX - 1;
	int64_t age = PLAN_FIRST_AGE_MS;
	// Filled from the newest bound down, so that they ascend from bounds[nb].
	for (size_t i = 0; i + 1 < PARTITION_PLAN_MAX && age < end; i++, age *= 2) {
		int64_t t = end - age;
		if (t > range->start && t < range->end) {
			bounds[--nb] = t;
		}
	}
	return parts_at(range, bounds + nb, PARTITION_PLAN_MAX - 1 - nb, out);
}

double partition_estimate(const struct partition_interval *w, const int64_t *sample,
	size_t n_sample, size_t page)
{
	if (n_sample == 0 || w->end < w->start) {
		return (double)page;
	}
	int64_t lo = sample[0], hi = sample[0];
	for (size_t i = 1; i < n_sample; i++) {
		lo = sample[i] < lo ? sample[i] : lo;
		hi = sample[i] > hi ? sample[i] : hi;
	}
	double width = (double)w->end - (double)w->start + 1;
	double span = (double)hi - (double)lo + 1;
	return (double)page * width / span;
}

struct listing {
	struct partition *p;
	struct window *w;
	struct seen *first; /* records delivered before a split, kept for the parts */
	size_t n_first, cap_first;
	unsigned idle_pages; /* pages in a row that ended with workers idle (resplit) */
	bool may_resplit; /* its records are kept for a split while paging (resplit) */
	size_t listed;    /* records the listing returned, skipped ones included */
	size_t delivered;
	bool split;
	struct partition_interval parts[MAX_PARTS]; /* what the window is split into */
	size_t n_parts;
};

/* The times of the records delivered so far that lie inside the window (a new array, *n of
 * them): only those say where its records are. An update time may be missing, or have moved
 * past the window while it was listed. */
static int64_t *window_sample(const struct listing *l, size_t *n)
{
	const struct partition_interval *r = &l->w->range;
	int64_t *sample = xcalloc(l->n_first ? l->n_first : 1, sizeof(*sample));
	*n = 0;
	for (size_t i = 0; i < l->n_first; i++) {
		int64_t at = l->first[i].at;
		if (at != OPP_TIME_NONE && at >= r->start && at <= r->end) {
			sample[(*n)++] = at;
		}
	}
	return sample;
}

/* What w is thought to hold is now est: the listing's running total follows (p->lock held). */
static void set_guess(struct partition *p, struct window *w, double est)
{
	p->est_sum += est - (w->est > 0 ? w->est : 0);
	w->est = est;
}

/* Whether the consumer has more waiting than listing faster could help with (taken without
 * p->lock: the callback takes the consumer's own). */
static bool consumer_behind(const struct partition *p)
{
	return p->opts->behind && p->opts->behind(p->opts->ud);
}

/* A window still paging is split again, at a page boundary, only this early in its chain:
 * its parts list again what it delivered. */
#define RESPLIT_MAX_PAGES 50
/* ... and once workers have sat idle for this many of its pages in a row: the last windows
 * of a listing end within a few pages of each other, and splitting them costs more. */
#define RESPLIT_IDLE_PAGES 3
/* ... and only where its first page guessed no more than this many pages (plan_split). */
#define RESPLIT_GUESS_PAGES 3

/* A window is split into parts of about this many pages, or of a TARGET_WINDOWS-th of what
 * the whole listing is thought to hold where that is more. */
#define PART_MIN_PAGES 4
#define TARGET_WINDOWS 30
/* Parts of a window whose page looks like a sample of it (split while workers would idle). */
#define SAMPLE_PARTS 2

/*
 * Decides how to split a window once a full page of it was delivered, into parts covering
 * all of it (called with p->lock held). Lever promises no order, so the records delivered
 * so far cannot say where the rest lies; they are used only to guess how many there are,
 * which sizes the parts and never decides what is listed:
 *   - a page spanning a small part of the window suggests many records: the window is
 *     split evenly in time into parts of about the planned size, however many windows
 *     already wait. Recorded chains run by an undocumented key first, so a first page is
 *     one slice of the window's records and the guess is low by that slice's share: it
 *     errs towards fewer, longer windows, as the guesses of all windows do alike;
 *   - a page spanning most of the window looks like a sample of all of it: it says
 *     nothing of the count, and the window is split in two at the page's median, only
 *     while workers would otherwise sit idle.
 * Neither is done while the consumer is behind (partition_options.behind): listing faster
 * would not finish sooner, and every part ends on a page of its own.
 * Returns false when the window is paged on instead.
 */
static bool plan_split(struct listing *l, size_t want, bool behind)
{
	struct partition *p = l->p;
	struct window *w = l->w;
	size_t page = p->page;
	size_t n_sample;
	int64_t *sample = window_sample(l, &n_sample);
	// The window's end may lie in the future (the horizon of an open window): not counted.
	struct partition_interval known = w->range;
	if (known.end > p->opts->end) {
		known.end = p->opts->end;
	}
	double est = partition_estimate(&known, sample, n_sample, page);
	set_guess(p, w, est);
	double per = (double)page * PART_MIN_PAGES;
	double share = p->est_sum / TARGET_WINDOWS;
	per = share > per ? share : per;
	double k = ceil(est / per);
	// A window not split only because the consumer was behind may be split once it caught up.
	l->may_resplit = est <= (double)page * RESPLIT_GUESS_PAGES || (behind && k >= 2);
	if (behind) {
		l->n_parts = 1;
	} else if (k >= 2) {
		l->n_parts = partition_split_even(&w->range, k > MAX_PARTS ? MAX_PARTS : (size_t)k, l->parts);
	} else if (est * 2 <= (double)page * 3 && want >= 2) {
		// Few: in recorded orders most such windows hold little more than the page.
		l->n_parts = partition_split(&w->range, sample, n_sample,
			want > SAMPLE_PARTS ? SAMPLE_PARTS : want, l->parts);
	} else {
		l->n_parts = 1;
	}
	free(sample);
	return l->n_parts > 1;
}

static int compare_seen(const void *pa, const void *pb)
{
	return strcmp(((const struct seen *)pa)->id, ((const struct seen *)pb)->id);
}

static int compare_id_seen(const void *key, const void *elem)
{
	return strcmp(key, ((const struct seen *)elem)->id);
}

/* Whether w's ancestors delivered id already (w->skip is sorted by id). */
static bool skipped(const struct window *w, const char *id)
{
	return w->n_skip > 0 && bsearch(id, w->skip, w->n_skip, sizeof(*w->skip), compare_id_seen);
}

/* A callback refused a record: every listing stops. Returns false for the caller to pass on. */
static bool cancel(struct partition *p)
{
	pthread_mutex_lock(&p->lock);
	p->abort = true;
	if (p->status == LEVER_OK) {
		p->status = LEVER_ERR_CANCELLED;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return false;
}

/*
 * Splits a window that is still paging when most workers sit idle and nothing waits: at the end
 * of a listing a long window would otherwise page alone, a round trip a page. Its parts
 * skip everything it delivered, and list it again (a page of requests per page delivered),
 * so it is done only for a window whose first page said little of its size (it spanned a
 * third of the window or more: in a listing order that samples, a long window looks so), or
 * that was not split at its first page only because the consumer was behind then.
 * The delivered records' times place the parts. Returns whether the window was split.
 */
static bool resplit(struct listing *l)
{
	struct partition *p = l->p;
	struct window *w = l->w;
	if (l->n_first != l->delivered || w->range.end - w->range.start < MIN_SPLIT_MS) {
		return false; // not all kept: the parts could not skip the rest
	}
	if (!l->may_resplit) {
		return false;
	}
	bool behind = consumer_behind(p);
	pthread_mutex_lock(&p->lock);
	int running = p->busy + p->promised;
	int want = p->opts->workers - running + 1;
	bool split = false;
	bool idle = p->n_queue == 0 && 4 * running <= p->opts->workers && want >= 2 && !behind;
	l->idle_pages = idle ? l->idle_pages + 1 : 0;
	if (idle && l->idle_pages >= RESPLIT_IDLE_PAGES) {
		size_t n_sample;
		int64_t *sample = window_sample(l, &n_sample);
		l->n_parts = partition_split(&w->range, sample, n_sample, (size_t)want, l->parts);
		free(sample);
		split = l->n_parts > 1;
		if (split) {
			p->promised += (int)l->n_parts;
			p->stats.resplits++;
			// What the parts will list: the delivered records and the rest, a share each.
			set_guess(p, w, w->est > (double)l->delivered ? w->est : (double)l->delivered);
		}
	}
	pthread_mutex_unlock(&p->lock);
	l->split = split;
	return split;
}

static bool on_record(void *ud, const struct opportunity *o)
{
	struct listing *l = ud;
	struct partition *p = l->p;
	if (p->abort) {
		return false;
	}
	l->listed++;
	if (skipped(l->w, o->id)) {
		return true;
	}
	if (!p->opts->cb(p->opts->ud, o)) {
		return cancel(p);
	}
	size_t page = p->page;
	// Past the first page, records are kept only for a window that may be split again.
	if (l->delivered < page || (l->may_resplit && l->delivered < page * RESPLIT_MAX_PAGES)) {
		if (l->n_first == l->cap_first) {
			l->cap_first = l->cap_first ? 2 * l->cap_first : page;
			l->first = xrealloc(l->first, l->cap_first * sizeof(*l->first));
		}
		l->first[l->n_first++] =
			(struct seen){xstrdup(o->id), partition_time(p->opts->field, o)};
	}
	l->delivered++;
	if (l->delivered > page && l->listed % page == 0 && resplit(l)) {
		return false;
	}
	if (l->delivered == page && l->w->range.end - l->w->range.start >= MIN_SPLIT_MS) {
		// A full page delivered: more may follow. Split while workers would
		// otherwise sit idle; else keep paging this window to its end.
		// The parts are counted as soon as they are decided: windows whose first pages
		// come back together would otherwise each split as if the others had not.
		bool behind = consumer_behind(p);
		pthread_mutex_lock(&p->lock);
		int windows = (int)p->n_queue + p->busy + p->promised;
		int want = 2 * p->opts->workers - windows + 1;
		l->split = plan_split(l, want >= 2 ? (size_t)want : 0, behind);
		if (l->split) {
			p->promised += (int)l->n_parts;
		}
		pthread_mutex_unlock(&p->lock);
		if (l->split) {
			return false;
		}
	}
	return true;
}

static bool on_unreadable(void *ud, const struct lever_unreadable *u)
{
	struct listing *l = ud;
	struct partition *p = l->p;
	if (p->abort) {
		return false;
	}
	// Quarantined records are not kept for a split: handing one over twice is
	// harmless (the journal records it once), and its creation time is unknown.
	if (!p->opts->unreadable(p->opts->ud, u)) {
		return cancel(p);
	}
	return true;
}

/* Queues the parts of a split window, each skipping what was delivered. */
static void split_window(struct partition *p, struct listing *l)
{
	pthread_mutex_lock(&p->lock);
	p->promised -= (int)l->n_parts;
	p->stats.splits++;
	if (p->opts->windows_known) {
		// The split window is replaced by its parts.
		atomic_fetch_sub(p->opts->windows_known, 1);
	}
	for (size_t i = 0; i < l->n_parts; i++) {
		const struct partition_interval *part = &l->parts[i];
		struct window child = {
			.range = *part,
			.open = l->w->open && i + 1 == l->n_parts,
			.est = l->w->est / (double)l->n_parts,
		};
		size_t cap = l->n_first + l->w->n_skip;
		child.skip = xcalloc(cap, sizeof(*child.skip));
		const struct seen *sources[2] = {l->first, l->w->skip};
		size_t counts[2] = {l->n_first, l->w->n_skip};
		for (size_t src = 0; src < 2; src++) {
			for (size_t j = 0; j < counts[src]; j++) {
				const struct seen *x = &sources[src][j];
				if (window_holds(part, child.open, x->at)) {
					child.skip[child.n_skip++] = (struct seen){xstrdup(x->id), x->at};
				}
			}
		}
		if (child.n_skip > 1) {
			qsort(child.skip, child.n_skip, sizeof(*child.skip), compare_seen);
		}
		push(p, &child);
	}
	pthread_mutex_unlock(&p->lock);
}

static void list_window(struct partition *p, struct window *w)
{
	struct listing l = {.p = p, .w = w};
	struct lever_opportunity_query q = *p->opts->base;
	int64_t end = w->open ? 0 : w->range.end; // 0: no upper filter
	if (p->opts->field == PARTITION_UPDATED) {
		q.updated_at_start = w->range.start;
		q.updated_at_end = end;
	} else {
		q.created_at_start = w->range.start;
		q.created_at_end = end;
	}
	struct lever_opportunity_sink sink = {
		.record = on_record,
		.unreadable = p->opts->unreadable ? on_unreadable : NULL,
		.ud = &l,
	};
	enum lever_status st = lever_list_opportunities(p->opts->lever, &q, &sink);
	if (l.split && st == LEVER_ERR_CANCELLED) {
		split_window(p, &l);
	} else if (st == LEVER_OK) {
		if (p->opts->window_done && !p->opts->window_done(p->opts->ud, &w->range)) {
			st = LEVER_ERR_CANCELLED;
		}
		pthread_mutex_lock(&p->lock);
		p->stats.finished++;
		// Listed whole: what it holds is known now.
		set_guess(p, w, (double)l.listed);
		pthread_mutex_unlock(&p->lock);
	}
	if (st != LEVER_OK && !(l.split && st == LEVER_ERR_CANCELLED)) {
		pthread_mutex_lock(&p->lock);
		if (l.split) {
			p->promised -= (int)l.n_parts; // decided, never queued
		}
		if (p->status == LEVER_OK || p->status == LEVER_ERR_CANCELLED) {
			p->status = st;
		}
		p->abort = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	for (size_t i = 0; i < l.n_first; i++) {
		free(l.first[i].id);
	}
	free(l.first);
}

static void *worker_main(void *arg)
{
	struct partition *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->n_queue == 0 && p->busy > 0 && !p->abort) {
			pthread_cond_wait(&p->cond, &p->lock);
		}
		if (p->abort || p->n_queue == 0) {
			break;
		}
		// The largest first (windows nothing is known of yet before all): started
		// last, a long window would page alone at the end. The queue holds a few
		// dozen windows at most.
		size_t pick = 0;
		for (size_t i = 1; i < p->n_queue; i++) {
			double a = p->queue[i].est, b = p->queue[pick].est;
			if ((a < 0 && b >= 0) || (a >= 0 && b >= 0 && a > b)) {
				pick = i;
			}
		}
		struct window w = p->queue[pick];
		p->n_queue--;
		memmove(p->queue + pick, p->queue + pick + 1, (p->n_queue - pick) * sizeof(*p->queue));
		p->busy++;
		p->stats.windows++;
		pthread_mutex_unlock(&p->lock);
		list_window(p, &w);
		window_finish(&w);
		pthread_mutex_lock(&p->lock);
		p->busy--;
		p->stats.queued--;
		// Wake the others: there may be new parts, or nothing left at all.
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

enum lever_status partition_list(const struct partition_options *opts,
	struct partition_stats *stats)
{
	struct partition p = {
		.opts = opts,
		.page = opts->page_size > 0 ? (size_t)opts->page_size : LEVER_PAGE_SIZE,
		.status = LEVER_OK,
	};
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	struct partition_interval *gaps = NULL;
	size_t n = partition_gaps(opts->start, opts->end, opts->done, opts->n_done, &gaps);
	// A creation-time listing starts in windows of doubling age, all at once: a first page
	// would otherwise be waited for before anything could be split, and an account's
	// records are mostly young. An update-time poll is one window: it usually fits a page.
	for (size_t i = n; i-- > 0;) {
		struct partition_interval planned[PARTITION_PLAN_MAX];
		size_t np = 1;
		planned[0] = gaps[i];
		if (opts->field == PARTITION_CREATED) {
			np = partition_plan(&gaps[i], opts->end, planned);
		}
		for (size_t j = np; j-- > 0;) {
			struct window w = {
				.range = planned[j],
				.open = opts->open_end && planned[j].end == opts->end,
				.est = -1,
			};
			push(&p, &w);
		}
	}
	free(gaps);
	int n_workers = opts->workers > 0 ? opts->workers : 1;
	pthread_t *threads = xcalloc((size_t)n_workers, sizeof(*threads));
	int started = 0;
	for (int i = 0; i < n_workers; i++) {
		if (pthread_create(&threads[i], NULL, worker_main, &p) != 0) {
			log_warn("cannot start more than %d listing threads", started);
			break;
		}
		started++;
	}
	if (started == 0) {
		worker_main(&p);
	}
	for (int i = 0; i < started; i++) {
		pthread_join(threads[i], NULL);
	}
	free(threads);
	for (size_t i = 0; i < p.n_queue; i++) {
		window_finish(&p.queue[i]);
	}
	free(p.queue);
	if (stats) {
		*stats = p.stats;
	}
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return p.status;
}
